"""One array as the C core describes it (``_native.Handle.describe``), and
NumPy views over the mapping: shared by Segment, StringColumn and Index."""

from __future__ import annotations

import datetime
from typing import NamedTuple

import numpy as np

from . import _native

# Type codes of spec §6 used here (the type table itself is the core's).
BOOL, UTF8, LARGE_UTF8, FIXED_SIZE_BINARY, DATE32, TIMESTAMP, DURATION = 1, 13, 14, 17, 18, 20, 21
LIST, LARGE_LIST, DICTIONARY = 22, 23, 24  # format 1.3 (spec §6.1)
UNITS = ("s", "ms", "us", "ns")
# NumPy dtype of the data buffer of each fixed-width type (little-endian).
NUMPY = {2: "i1", 3: "u1", 4: "<i2", 5: "<u2", 6: "<i4", 7: "<u4", 8: "<i8", 9: "<u8", 10: "<f2",
          11: "<f4", 12: "<f8", 19: "<M8[ms]", 20: "<M8", 21: "<m8"}
OFFSETS = {13: "<i4", 14: "<i8", 15: "<i4", 16: "<i8"}


class Desc(NamedTuple):
    """One directory record as the core decoded and checked it
    (``_native.Handle.describe``), and its position."""
    name: str
    type: int
    unit: int
    byte_width: int
    shape: tuple
    timezone: str | None
    length: int
    null_count: int
    validity: tuple  # (offset, length) in the file
    offsets: tuple
    data: tuple
    indexed: bool
    row_elems: int
    dict_index: int  # format 1.3: a dictionary's index type code
    child: int  # a list's or dictionary's child record, -1 for none
    is_child: bool
    index: int

    @property
    def dtype(self) -> np.dtype | None:
        """NumPy dtype of ``seg[name]``; None for variable-length types."""
        t = self.type
        if t in OFFSETS or t in (LIST, LARGE_LIST, DICTIONARY):
            return None
        if t == FIXED_SIZE_BINARY:
            return np.dtype(f"S{self.byte_width}")
        if t == BOOL:
            return np.dtype(np.bool_)
        if t == DATE32:
            return np.dtype("M8[D]")
        if t in (TIMESTAMP, DURATION):
            return np.dtype(f"{NUMPY[t]}[{UNITS[self.unit]}]")
        return np.dtype(NUMPY[t])


class Described:
    """``name``, ``type`` and ``null_count`` of an array object from its
    Desc (``self._d``): shared by StringColumn and Column."""

    __slots__ = ()

    @property
    def name(self) -> str:
        """The array's name."""
        return self._d.name

    @property
    def type(self) -> str:
        """The spec's type name (``"int64"``, ``"utf8"``...)."""
        return _native.type_names[self._d.type]

    @property
    def null_count(self) -> int:
        """Number of null slots (from the directory)."""
        return self._d.null_count


def view(mem, dtype, count: int, buf: tuple) -> np.ndarray:
    """A read-only NumPy view of count items at the start of one buffer."""
    return np.frombuffer(mem, dtype, count=count, offset=buf[0] if count else 0)


def null_mask(mem, d: Desc) -> np.ndarray:
    """True for the null slots of an array (one bool per row)."""
    bm = view(mem, np.uint8, (d.length + 7) >> 3, d.validity)
    return np.unpackbits(bm, count=d.length, bitorder="little") == 0


def readonly(arr: np.ndarray) -> np.ndarray:
    arr.flags.writeable = False
    return arr


def created(ns: int) -> datetime.datetime | None:
    try:
        s, rem = divmod(ns, 10**9)
        return (datetime.datetime.fromtimestamp(s, tz=datetime.timezone.utc)
                + datetime.timedelta(microseconds=rem // 1000))
    except (OverflowError, OSError, ValueError):
        return None
