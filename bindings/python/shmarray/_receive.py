"""``shmarray.Receiver``: the file of a published segment, arriving from
elsewhere in pieces, published once it is complete and valid.

A segment file is self-describing and checksummed, so a copy of it can cross
a network as plain bytes (read from :attr:`Segment.path` with ``os.pread``)
and be checked on arrival by its own checksums. This is how
:mod:`shmarray.dask` puts one copy on each host; any other transport can use
it the same way.
"""

from __future__ import annotations

import ctypes
import os
import threading

import numpy as np

from . import _lib
from ._convert import encode, writing_dir
from ._errors import ClosedError
from ._segment import Segment, attach


class Receiver(_lib.Discardable):
    """The copy of segment ``name``'s file, ``size`` bytes, arriving into ``dir``
    (else ``$SHMARRAY_DIR``, else /dev/shm), with file ``mode`` (0o600; 0o640
    and 0o660 share with the group).

    :meth:`write` pieces at any offsets, in any order (a piece written twice is
    harmless); :meth:`publish` then checks that every byte arrived
    (:class:`~shmarray.TruncatedError` otherwise), that the file passes the full
    validation (header and metadata checksum, every directory record, offsets,
    null counts, UTF-8 and the data checksums:
    :class:`~shmarray.ChecksumMismatchError` and the other invalid-segment
    errors) and only then gives it its name, atomically and never replacing a
    file (:class:`~shmarray.ExistsError`). Until then nothing is visible, and
    a receiver that is discarded, or whose process dies, leaves nothing behind.
    The whole size is reserved at once, so a directory too small fails here
    with :class:`~shmarray.NoSpaceError`.

    Used as a context manager, the receiver is discarded at the end of the
    block unless it was published. Its methods may be called from several
    threads. It runs Go code in libshmarray.so: in a child forked from a
    process that already did, it raises :class:`~shmarray.ForkedError`.

    >>> import numpy as np, os, shmarray, tempfile
    >>> src, dst = tempfile.mkdtemp(), tempfile.mkdtemp()
    >>> seg = shmarray.create("doc-receive", {"x": np.arange(3)}, dir=src)
    >>> fd = os.open(seg.path, os.O_RDONLY)
    >>> with shmarray.Receiver("doc-receive", seg.size, dir=dst) as r:
    ...     half = seg.size // 2
    ...     r.write(half, os.pread(fd, seg.size - half, half))  # pieces in any order
    ...     r.write(0, os.pread(fd, half, 0))
    ...     copy = r.publish()
    >>> copy["x"].tolist()
    [0, 1, 2]
    >>> os.close(fd); seg.close(); copy.close()
    >>> shmarray.unlink("doc-receive", dir=src); shmarray.unlink("doc-receive", dir=dst)
    """

    def __init__(self, name: str, size: int, *, dir: str | os.PathLike | None = None, mode: int = 0o600):
        self._lib = _lib.lib()
        self.name, self.dir, self.size = name, writing_dir(dir), int(size)
        err = _lib.err_buffer()
        handle = ctypes.c_void_p()
        _lib.check(self._lib.shmarray_receive(encode(name, "segment name"), encode(self.dir, "dir"), self.size, mode,
                                              ctypes.byref(handle), err, len(err)), err)
        self._handle: ctypes.c_void_p | None = handle
        # Held across every call into the library: publish frees the handle.
        self._lock = threading.Lock()

    def _live_handle(self) -> ctypes.c_void_p:
        if self._handle is None:
            raise ClosedError(f"shmarray: closed: the receiver of segment {self.name!r} was already published "
                              "or discarded")
        return self._handle

    def write(self, offset: int, data) -> None:
        """Write ``data`` (bytes, bytearray, memoryview, a NumPy array: any
        contiguous buffer) at byte ``offset`` of the file. The bytes are copied
        before this returns. :class:`~shmarray.InvalidArgumentError` if they
        reach outside the file."""
        buf = np.frombuffer(data, dtype=np.uint8) if memoryview(data).nbytes else None
        ptr = None if buf is None else buf.ctypes.data
        n = 0 if buf is None else buf.size
        err = _lib.err_buffer()
        with self._lock:
            _lib.check(self._lib.shmarray_receiver_write(self._live_handle(), int(offset), ptr, n, err, len(err)),
                       err)

    def publish(self) -> Segment:
        """Check the whole file (reading it once) and publish it under its
        name; return it attached. The receiver is closed afterwards whatever
        the outcome, and on error nothing is left behind."""
        with self._lock:
            handle = self._live_handle()
            self._handle = None
            err = _lib.err_buffer()
            _lib.check(self._lib.shmarray_receiver_publish(handle, err, len(err)), err)
        return attach(self.name, dir=self.dir)

    def discard(self) -> None:
        """Abandon the file: nothing is published. Idempotent."""
        with self._lock:
            handle, self._handle = self._handle, None
            if handle is not None:
                self._lib.shmarray_receiver_discard(handle)

    def __repr__(self) -> str:
        state = "open" if self._handle is not None else "closed"
        return f"<shmarray.Receiver {self.name!r}, {self.size} bytes ({state})>"
