"""Lists and dictionaries (format 1.3, spec §6.1) as Python objects.

A list or large_list column is a :class:`ListColumn`: ``col[i]`` is a
zero-copy view of the child's slots ``[offsets[i], offsets[i+1])`` (a NumPy
view, or a list of items when the child is a string, list or dictionary
column). A dictionary column is a :class:`DictionaryColumn`: its
``indices`` (a NumPy view) into its ``dictionary`` (the values), and
``to_pandas()`` a ``pandas.Categorical``. Every slot read here is checked by
the C core (``_native.Handle.list_slot`` / ``dictionary_slot``: offsets
within the child, indices within the dictionary), which is where the rule
lives; nothing here re-implements it. Both objects read through their
Segment: they work while it is open.
"""

from __future__ import annotations

import collections.abc

import numpy as np

from ._desc import Desc, null_mask, view

_LIST_OFFSETS = {22: "<i4", 23: "<i8"}


class ListColumn(collections.abc.Sequence):
    """A list<T> or large_list<T> column, zero-copy.

    >>> import shmarray, tempfile
    >>> d = tempfile.mkdtemp()
    >>> seg = shmarray.create("doc-lists", {"xs": [np.array([1, 2]), np.array([], dtype=np.int64), None]}, dir=d)
    >>> col = seg["xs"]
    >>> len(col), col[0].tolist(), col[1].tolist(), col[2], col.offsets.tolist()
    (3, [1, 2], [], None, [0, 2, 2, 2])
    >>> seg.close(); shmarray.unlink("doc-lists", dir=d)
    """

    __slots__ = ("_seg", "_d", "_values")

    def __init__(self, seg, d: Desc):
        self._seg, self._d, self._values = seg, d, None

    @property
    def name(self) -> str:
        return self._d.name

    @property
    def type(self) -> str:
        return "list" if self._d.type == 22 else "large_list"

    @property
    def null_count(self) -> int:
        return self._d.null_count

    @property
    def offsets(self) -> np.ndarray:
        """The offsets (int32 or int64, length + 1 entries), a read-only view.
        Not checked: use ``col[i]`` or validate the segment first."""
        d = self._d
        if d.offsets[1] == 0:
            return np.zeros(1, dtype=_LIST_OFFSETS[d.type])
        return view(self._seg._h.memory(), _LIST_OFFSETS[d.type], d.length + 1, d.offsets)

    @property
    def values(self):
        """The child column (every row's values one after the other): a NumPy
        array (masked when it has nulls), a StringColumn, a ListColumn or a
        DictionaryColumn."""
        if self._values is None:
            self._values = self._seg._value(self._seg._desc_at(self._d.child))
        return self._values

    @property
    def child_info(self):
        """The ArrayInfo of the child record (its name is "" when unnamed)."""
        return self._seg._info_of(self._seg._desc_at(self._d.child))

    def is_null(self, i: int) -> bool:
        return self._seg._is_null(self._d, i)

    def __len__(self) -> int:
        return self._d.length

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        i = _slot(i, len(self))
        if self.is_null(i):
            return None
        start, end = self._seg._h.list_slot(self._d.index, i)
        vals = self.values
        if isinstance(vals, np.ndarray):
            return vals[start:end]
        return [vals[k] for k in range(start, end)]

    def to_pylist(self) -> list:
        """Every row as a Python list (None for a null row). The record is
        fully validated once first by the C core (its offsets within the
        child, spec §11.3), then the rows are cut from the values in one
        pass."""
        self._seg._h.validate(self._d.index)
        offs = self.offsets.tolist()
        vals = self.values
        flat = vals.tolist() if isinstance(vals, np.ndarray) else vals.to_pylist()
        if isinstance(vals, np.ndarray) and vals.dtype.kind in "SMm":
            flat = [_py(v) for v in vals]  # bytes, datetimes: as NumPy's scalars say
        d = self._d
        valid = [True] * d.length
        if d.null_count:
            valid = (~null_mask(self._seg._h.memory(), d)).tolist()
        return [flat[offs[r]:offs[r + 1]] if valid[r] else None for r in range(d.length)]

    def __repr__(self) -> str:
        return f"ListColumn({self.name!r}, {self.type}, length={len(self)}, nulls={self.null_count})"


class DictionaryColumn(collections.abc.Sequence):
    """A dictionary<index, value> column, zero-copy: ``indices`` into
    ``dictionary``; ``col[i]`` is the value of slot i (None when null).

    >>> import shmarray, tempfile, pyarrow as pa
    >>> d = tempfile.mkdtemp()
    >>> arr = pa.array(["b", "a", None, "b"]).dictionary_encode()
    >>> seg = shmarray.create("doc-dict", {"sym": arr}, dir=d)
    >>> col = seg["sym"]
    >>> col.to_pylist(), list(col.dictionary)
    (['b', 'a', None, 'b'], ['b', 'a'])
    >>> seg.close(); shmarray.unlink("doc-dict", dir=d)
    """

    __slots__ = ("_seg", "_d", "_dict")

    def __init__(self, seg, d: Desc):
        self._seg, self._d, self._dict = seg, d, None

    @property
    def name(self) -> str:
        return self._d.name

    @property
    def type(self) -> str:
        return "dictionary"

    @property
    def null_count(self) -> int:
        return self._d.null_count

    @property
    def indices(self) -> np.ndarray:
        """The indices, a read-only NumPy view (masked where the slot is null).
        Not checked: use ``col[i]`` or validate the segment first."""
        d = self._d
        ix = Desc(*d[:1], d.dict_index, *d[2:])  # the same record read as its index type
        return self._seg._value(ix)

    @property
    def child_info(self):
        """The ArrayInfo of the dictionary's record."""
        return self._seg._info_of(self._seg._desc_at(self._d.child))

    @property
    def dictionary(self):
        """The values: a NumPy array or a StringColumn."""
        if self._dict is None:
            self._dict = self._seg._value(self._seg._desc_at(self._d.child))
        return self._dict

    def __len__(self) -> int:
        return self._d.length

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        k = self._seg._h.dictionary_slot(self._d.index, _slot(i, len(self)))
        return None if k < 0 else self.dictionary[k]

    def codes(self) -> np.ndarray:
        """The index of every slot as int64, -1 where the slot is null. The
        record is fully validated once first by the C core (every index
        inside the dictionary, spec §11.3: OutOfBoundsError otherwise)."""
        self._seg._h.validate(self._d.index)
        ix = self.indices
        codes = np.ma.getdata(ix).astype(np.int64)
        if isinstance(ix, np.ma.MaskedArray):
            codes[np.ma.getmaskarray(ix)] = -1
        return codes

    def to_pylist(self) -> list:
        values = self.dictionary
        flat = values.tolist() if isinstance(values, np.ndarray) else values.to_pylist()
        return [None if k < 0 else flat[k] for k in self.codes().tolist()]

    def to_pandas(self):
        """A ``pandas.Categorical`` (codes and categories, copied): slots whose
        value is null in the dictionary become missing too."""
        import pandas as pd

        values = self.dictionary
        cats = list(values) if not isinstance(values, np.ndarray) else values
        codes = self.codes()
        if isinstance(values, np.ma.MaskedArray) or any(v is None for v in (cats if isinstance(cats, list) else [])):
            nulls = np.array([_py(v) is None for v in values], dtype=bool) if not isinstance(values, np.ma.MaskedArray) \
                else np.ma.getmaskarray(values)
            codes = np.where((codes >= 0) & nulls[np.clip(codes, 0, None)], -1, codes)
            keep = ~nulls
            remap = np.cumsum(keep) - 1
            codes = np.where(codes >= 0, remap[np.clip(codes, 0, None)], -1)
            cats = [v for v, k in zip(list(values), keep) if k]
        return pd.Categorical.from_codes(codes, categories=cats)

    def __repr__(self) -> str:
        return f"DictionaryColumn({self.name!r}, length={len(self)}, nulls={self.null_count})"


def _slot(i, n: int) -> int:
    i = int(i)
    if i < 0:
        i += n
    if not 0 <= i < n:
        raise IndexError(f"slot {i} out of range for length {n}")
    return i


def _py(v):
    if isinstance(v, np.generic):
        return v.item()
    if v is np.ma.masked:
        return None
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v
