"""shmarray: typed arrays in named shared memory, read in place by any process.

Reading (attach, views, index lookups, validation, Arrow export, listing,
unlinking, gc) runs in the plain-C reader core, compiled into
``shmarray._native`` (no Go): ``import shmarray`` loads that small
extension and nothing else native, and every read works in workers started
by fork, forkserver or spawn. Creating a segment, or receiving a copy of
one (:class:`Receiver`), calls into ``libshmarray.so`` (Go), loaded on
first use. :mod:`shmarray.dask` shares a segment across a Dask cluster, one
copy per host.
"""

from ._errors import *  # noqa: F401,F403  (one exception class per spec code)
from ._errors import ShmarrayError, InvalidSegmentError  # noqa: F401
from ._segment import Segment, ArrayInfo, attach  # noqa: F401
from ._lists import DictionaryColumn, ListColumn  # noqa: F401
from ._strings import StringColumn  # noqa: F401
from ._listing import SegmentInfo, list_segments, unlink, gc  # noqa: F401
from ._index import Index  # noqa: F401
from ._create import create  # noqa: F401
from ._builder import Builder  # noqa: F401
from ._output import OutputHandle, OutputArray  # noqa: F401
from ._receive import Receiver  # noqa: F401

from ._native import version as __version__  # noqa: E402 (the file VERSION, compiled in)
