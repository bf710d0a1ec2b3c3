"""shmarray: typed arrays in named shared memory, read in place by any process.

Reading (attach, views, pickling a segment, listing, unlinking) is pure Python
and NumPy over ``mmap``: ``import shmarray`` loads nothing native, and every
read works in workers started by fork, forkserver or spawn. Creating a
segment, or receiving a copy of one (:class:`Receiver`), calls into
``libshmarray.so`` (Go), loaded on first use. :mod:`shmarray.dask` shares a
segment across a Dask cluster, one copy per host.
"""

from ._errors import *  # noqa: F401,F403  (one exception class per spec code)
from ._errors import ShmarrayError, InvalidSegmentError  # noqa: F401
from ._segment import Segment, StringColumn, ArrayInfo, attach, unlink, list_segments, SegmentInfo  # noqa: F401
from ._create import create  # noqa: F401
from ._builder import Builder  # noqa: F401
from ._receive import Receiver  # noqa: F401
from ._gc import gc  # noqa: F401
from ._index import Index  # noqa: F401

__version__ = "0.1.0"
