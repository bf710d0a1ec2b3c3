"""``StringColumn``: a variable-length array read in place through the C
core (``_native.StringColumn``), with NumPy views of its buffers."""

from __future__ import annotations

import collections.abc

import numpy as np

from . import _native
from ._desc import OFFSETS, Desc, Described, view

__all__ = ["StringColumn"]


class StringColumn(Described, _native.StringColumn, collections.abc.Sequence):
    """A utf8, large_utf8, binary or large_binary array, read in place.

    Holds zero-copy NumPy views of the offsets (:attr:`offsets`, int32 or
    int64, ``length + 1`` entries, or None for an empty array that stores
    none) and data (:attr:`data`, uint8) buffers, and of the validity bitmap
    (:attr:`validity`, or None). ``col[i]`` returns ``str`` (utf8 types),
    ``bytes`` (binary types) or None for a null slot, copying that one value;
    negative indices count from the end; a slice returns a list.

    Values are read with the per-slot check of spec §11.4 (0 <= start <= end
    <= data length, :class:`BadOffsetsError`); invalid UTF-8 raises
    :class:`BadUtf8Error`. An empty string and a null are different:
    ``""`` versus ``None``. A StringColumn keeps working after its Segment
    is closed.

    >>> import shmarray
    >>> seg = shmarray.attach("example")
    >>> col = seg["ticker"]
    >>> len(col), col[0], col[-1], col[:2], col.null_count
    (3, 'ACME', None, ['ACME', 'INIT'], 1)
    >>> col.to_numpy()
    array(['ACME', 'INIT', None], dtype=object)
    """

    __slots__ = ("_mem", "_d", "__weakref__")

    @classmethod
    def _new(cls, handle, mem, d: Desc) -> "StringColumn":
        self = handle.strings(d.index, cls)
        self._mem, self._d = mem, d
        return self

    @property
    def offsets(self) -> np.ndarray | None:
        """Zero-copy view of the offsets buffer (``length + 1`` entries) or None."""
        d = self._d
        if not d.offsets[1]:
            return None
        return view(self._mem, OFFSETS[d.type], d.length + 1, d.offsets)

    @property
    def data(self) -> np.ndarray:
        """Zero-copy uint8 view of the whole data buffer."""
        return view(self._mem, np.uint8, self._d.data[1], self._d.data)

    @property
    def validity(self) -> np.ndarray | None:
        """Zero-copy uint8 view of the validity bitmap (LSB first), or None without nulls."""
        d = self._d
        return view(self._mem, np.uint8, (d.length + 7) >> 3, d.validity) if d.null_count else None

    def __iter__(self):
        step, n = 1 << 16, len(self)
        for s in range(0, n, step):
            yield from self._range(s, min(s + step, n))

    def to_numpy(self) -> np.ndarray:
        """Every value as a NumPy object array of str/bytes/None (a copy)."""
        out = np.empty(len(self), dtype=object)
        out[:] = self.to_pylist()
        return out

    def __repr__(self) -> str:
        n = len(self)
        preview = self._range(0, min(n, 5))
        more = ", ..." if n > 5 else ""
        items = ", ".join(repr(v) for v in preview)
        return (f"<shmarray.StringColumn {self.name!r} {self.type} length={n} "
                f"null_count={self.null_count}: [{items}{more}]>")
