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

import sys

import numpy as np

from . import _native


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
    returns it as a NumPy array; ``__exit__`` ends writing. The array turns
    read-only, and if nothing else points into the mapping (no view of it
    was kept, no other reference to the array), its pages turn read-only
    too and the lock is released at once: publish may proceed, while the
    array stays readable until it is gone. Otherwise the mapping, and the
    lock that keeps publish waiting, go with the last NumPy array over it:
    views kept past the block keep the output open (delete them, or let
    the function that made them return)."""

    def __init__(self, handle: OutputHandle):
        self._handle = handle
        self._array: np.ndarray | None = None
        self._flat: np.ndarray | None = None
        self._mem = None

    def __enter__(self) -> np.ndarray:
        h = self._handle
        self._mem = _native.output_open(h.token)
        self._flat = np.frombuffer(self._mem, dtype=h.dtype)
        self._array = _adopt(self._flat.reshape(h.shape), h, self._flat)
        return self._array

    def __exit__(self, *exc) -> None:
        if self._array is None:
            return
        out, flat, mem = self._array, self._flat, self._mem
        self._array = self._flat = self._mem = None
        out.flags.writeable = False
        # Every view's base is flat (NumPy collapses the chain). flat is
        # held here and by out alone, and out here and by the with
        # statement's target alone (plus getrefcount's argument): then no
        # writable view of the memory is left, and writing can end now.
        if sys.getrefcount(flat) <= 3 and sys.getrefcount(out) <= 3:
            mem.finish()


class _Source:
    """Where an OutputArray's memory lies: the handle of the whole array and
    the address range of its mapping in this process."""

    __slots__ = ("handle", "start", "end")

    def __init__(self, handle: OutputHandle, start: int, end: int):
        self.handle, self.start, self.end = handle, start, end


def _extent(a: np.ndarray) -> tuple[int, int]:
    """The addresses [lo, hi) of the bytes array a reaches."""
    lo = hi = a.__array_interface__["data"][0]
    for n, s in zip(a.shape, a.strides):
        if s < 0:
            lo += (n - 1) * s
        else:
            hi += (n - 1) * s
    return lo, hi + a.itemsize


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
        self._shm_src = getattr(obj, "_shm_src", None)

    def __reduce_ex__(self, protocol):
        src: _Source | None = getattr(self, "_shm_src", None)
        if src is not None and self.size > 0:
            lo, hi = _extent(self)
            if src.start <= lo and hi <= src.end:
                offset = self.__array_interface__["data"][0] - src.start
                return _rebuild, (src.handle, offset, self.shape, self.strides, self.dtype)
        return np.asarray(self).__reduce_ex__(protocol)

    def __reduce__(self):
        return self.__reduce_ex__(2)


def _adopt(a: np.ndarray, handle: OutputHandle, whole: np.ndarray) -> OutputArray:
    """a as an OutputArray whose region is the memory of whole (the full
    array of handle, mapped in this process)."""
    start = whole.__array_interface__["data"][0]
    out = a.view(OutputArray)
    out._shm_src = _Source(handle, start, start + whole.nbytes)
    return out


def _rebuild(handle: OutputHandle, offset: int, shape, strides, dtype) -> OutputArray:
    """Unpickles an OutputArray: opens the handle (ClosedError once the
    segment is published) and views the same region of it."""
    mem = _native.output_open(handle.token)
    whole = np.frombuffer(mem, dtype=np.uint8)
    # ndarray checks that shape, strides and offset stay inside the buffer.
    view = np.ndarray(shape, dtype=dtype, buffer=mem, offset=offset, strides=strides)
    return _adopt(view, handle, whole)
