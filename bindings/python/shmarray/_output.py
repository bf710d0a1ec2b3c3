"""Shared outputs (spec §10.6): workers in other processes fill arrays of an
unpublished segment in place.

:meth:`Builder.output` hands out an :class:`OutputHandle`: small, picklable,
it names the builder's file (under a hidden name that attach never opens),
the file's identity, and the array's bytes in it. In any worker, started by
fork, forkserver or spawn, ``with h.open() as out: out[lo:hi] = ...`` maps
the array writable, through the plain-C core (no Go), and holds a shared
lock that keeps :meth:`Builder.publish` waiting until the worker is done.

Arrays from :meth:`Builder.empty`, and views of them, are
:class:`OutputArray`: pickled, they travel as their output handle and the
region they cover, so that a worker's writes land in the segment instead of
a silent copy.
"""

from __future__ import annotations

import numpy as np

from . import _native
from ._errors import InvalidArgumentError


class OutputHandle:
    """Array ``array`` of the unpublished segment ``segment``, for a writer
    in any process: ``with h.open() as out: out[lo:hi] = values``.

    It opens only until the segment is published (then
    :class:`~shmarray.ClosedError`); while a worker has it open, publish
    waits. ``token`` is the same handle as one line of text, for Go
    (``arena.ParseOutputToken``) and C (``shmarray_output_open``) workers.
    """

    __slots__ = ("token", "segment", "array", "shape", "dtype")

    def __init__(self, token: str, segment: str, array: str, shape, dtype):
        self.token, self.segment, self.array = token, segment, array
        self.shape, self.dtype = tuple(int(d) for d in shape), np.dtype(dtype)

    def __reduce__(self):
        return OutputHandle, (self.token, self.segment, self.array, self.shape, self.dtype.str)

    def __repr__(self) -> str:
        return f"OutputHandle(segment={self.segment!r}, array={self.array!r}, shape={self.shape}, dtype={self.dtype})"

    def open(self) -> "OpenOutput":
        """A context manager whose value is the array, mapped writable."""
        return OpenOutput(self)


class OpenOutput:
    """An :class:`OutputHandle` opened: ``__enter__`` maps the array and
    returns it as a NumPy array; ``__exit__`` turns that array read-only.
    The mapping, and the lock that keeps publish waiting, go with the last
    NumPy array over it (never earlier: no view ever points at unmapped or
    read-only memory that it could still write). In a worker function that
    is when the function returns; in a process that goes on (the builder's
    own, or a long-lived worker), ``del out`` and any view of it kept past
    the block, or publish waits for this process (and names it)."""

    def __init__(self, handle: OutputHandle):
        self._handle = handle
        self._array: np.ndarray | None = None

    def __enter__(self) -> np.ndarray:
        h = self._handle
        self._array = _open_array(h)
        return self._array

    def __exit__(self, *exc) -> None:
        if self._array is not None:
            self._array.flags.writeable = False
            self._array = None


def _open_array(h: OutputHandle) -> "OutputArray":
    """The array of h, opened writable. If it cannot be viewed as h says
    (a shape or dtype that does not fit the bytes), the output is closed
    again before the error propagates: nothing keeps it (and its lock)."""
    mem = _native.output_open(h.token)
    try:
        flat = np.frombuffer(mem, dtype=h.dtype)
        return _adopt(flat.reshape(h.shape), h, mem)
    except BaseException:
        flat = mem = None  # noqa: F841 (the traceback would keep them, and the lock)
        raise


class _Source:
    """Where an OutputArray's memory lies: the handle of the whole array, the
    object that exports the mapping (a ``_native.Output``, or the builder's
    ctypes array), and the address range of the whole array in it. Only an
    array whose chain of bases ends at that very owner is a view of it."""

    __slots__ = ("handle", "owner", "start", "end")

    def __init__(self, handle: OutputHandle, owner, start: int, end: int):
        self.handle, self.owner, self.start, self.end = handle, owner, start, end


def _owner(a: np.ndarray):
    """The object at the end of a's chain of bases: the exporter of the
    memory of a view, None for an array that owns its data (a result NumPy
    computed into new memory)."""
    b = a
    while isinstance(b, np.ndarray):
        b = b.base
    if isinstance(b, memoryview):
        b = b.obj
    return b


def _extent(shape, strides, itemsize: int) -> tuple[int, int]:
    """The byte offsets [lo, hi) that an array of shape and strides reaches,
    relative to its first element (lo <= 0 with negative strides)."""
    lo = hi = 0
    for n, s in zip(shape, strides):
        if n == 0:
            return 0, 0
        if s < 0:
            lo += (n - 1) * s
        else:
            hi += (n - 1) * s
    return lo, hi + itemsize


class OutputArray(np.ndarray):
    """A NumPy array over an array of an unpublished segment: what
    :meth:`Builder.empty` returns, and what an output opened from a pickle
    is. Views of it are OutputArrays too.

    Pickling one (``multiprocessing`` does, for every start method) sends
    its output handle and the region it covers, not its values: unpickled,
    it is the same memory, so a worker's writes land in the segment. A
    result that NumPy computed into new memory (``x + 1``) pickles as an
    ordinary array. The unpickled array holds the output open until it is
    gone (publish waits for it)."""

    def __array_finalize__(self, obj) -> None:
        # Only a real view of the segment's memory keeps the source: an
        # OutputArray that NumPy computed into new memory has another owner.
        src = getattr(obj, "_shm_src", None)
        self._shm_src = src if src is not None and _owner(self) is src.owner else None

    def __reduce_ex__(self, protocol):
        src: _Source | None = getattr(self, "_shm_src", None)
        if src is not None and self.size > 0 and _owner(self) is src.owner:
            data = self.__array_interface__["data"][0]
            lo, hi = _extent(self.shape, self.strides, self.itemsize)
            if src.start <= data + lo and data + hi <= src.end:
                return _rebuild, (src.handle, data - src.start, self.shape, self.strides, self.dtype)
        return np.asarray(self).__reduce_ex__(protocol)

    def __reduce__(self):
        return self.__reduce_ex__(2)


def _adopt(a: np.ndarray, handle: OutputHandle, owner) -> OutputArray:
    """a, a view of the whole array of handle whose memory owner exports
    (mapped in this process), as an OutputArray."""
    whole = np.frombuffer(owner, dtype=np.uint8)
    start = whole.__array_interface__["data"][0]
    out = a.view(OutputArray)
    out._shm_src = _Source(handle, owner, start, start + whole.nbytes)
    return out


def _rebuild(handle: OutputHandle, offset: int, shape, strides, dtype) -> OutputArray:
    """Unpickles an OutputArray: opens the handle (ClosedError once the
    segment is published) and views the same region of it. The region comes
    from a pickle: it must lie inside the array (NumPy alone accepts a
    negative offset) and hold no Python objects."""
    dt = np.dtype(dtype)
    shape, strides = tuple(int(n) for n in shape), tuple(int(s) for s in strides)
    if dt.hasobject or len(shape) != len(strides) or any(n < 0 for n in shape) or int(offset) < 0:
        raise InvalidArgumentError(f"shmarray: invalid argument: a pickled view of output {handle.array!r} "
                                   f"of segment {handle.segment!r} is malformed (dtype {dt}, shape {shape}, "
                                   f"strides {strides}, offset {offset}); pickle the array Builder.empty made, "
                                   "or a view of it")
    mem = _native.output_open(handle.token)
    size = len(memoryview(mem))
    lo, hi = _extent(shape, strides, dt.itemsize)
    if not (0 <= offset + lo and offset + hi <= size and offset <= size):
        mem = None
        raise InvalidArgumentError(f"shmarray: invalid argument: a pickled view of output {handle.array!r} "
                                   f"of segment {handle.segment!r} reaches bytes [{offset + lo}, {offset + hi}) "
                                   f"outside the array's {size} bytes (a view of another array?)")
    view = np.ndarray(shape, dtype=dt, buffer=mem, offset=offset, strides=strides)
    return _adopt(view, handle, mem)
