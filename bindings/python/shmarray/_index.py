"""Hash index lookups (spec §7.8, format 1.1): :class:`Index`, behind
``seg.index``, ``seg.lookup`` and ``seg.contains``.

A segment may carry, for an array of unique keys (integers, strings, bytes),
a hash table built when the segment was created. Every process that attaches
the segment looks keys up in it straight from the shared pages: nothing is
built or copied per worker.

Every lookup runs in the C reader core (capi/sa_index.c) through
:mod:`shmarray._native`: one key (``key in idx``, ``idx[key]``,
``idx.get(key)``) as one C call with no Python frame in between, and batches
with the core's interleaved prober. What this module does is turn the many
forms a batch of keys can take (lists, NumPy, pyarrow, StringColumn) into
one of the core's key layouts, without a Python object per key where the
input has none. No Go is loaded: lookups work in forked workers.
"""

from __future__ import annotations

import collections.abc
import operator
import sys

import numpy as np

from . import _native
from ._desc import view
from ._errors import InvalidArgumentError
from ._strings import StringColumn

__all__ = ["Index"]

_M64 = (1 << 64) - 1
# Key layouts of shmarray_keys (bindings/c/shmarray.h).
_K_STRINGS32, _K_STRINGS64, _K_FIXED, _K_UTF32, _K_INT64, _K_UINT64 = 1, 2, 3, 4, 5, 6
_K_SEQ = 0  # not a layout of the core: a Python list, see _keys_from_seq


def _address(a: np.ndarray | None) -> int | None:
    """The data address of a C-contiguous array (the caller keeps it alive)."""
    return None if a is None else a.__array_interface__["data"][0]


class _Keys:
    """A batch of query keys in one of the layouts of ``shmarray_keys``.

    kind is one of the ``_K_*`` codes. SEQ: ``data``, a list of str, bytes
    and None (byte-keyed indexes). Byte strings: ``offsets`` (int32
    or int64, count + 1 entries) and ``data`` (uint8); FIXED: ``data`` holding
    ``count`` keys of ``width`` bytes; UTF32: ``data``, a C-contiguous
    (count, width) uint32 array; INT64/UINT64: ``data``, the values. ``valid``
    is None or a bool array (False: a null key, never found).
    """

    __slots__ = ("kind", "count", "offsets", "data", "width", "valid", "keep")

    def __init__(self, kind, count, data, *, offsets=None, width=0, valid=None, keep=()):
        self.kind, self.count, self.data, self.offsets = kind, count, data, offsets
        self.width, self.valid, self.keep = width, valid, keep


def _bad_keys(what: str) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"shmarray: invalid argument: {what}; give a list of str/bytes/int (None for no key), "
        "a NumPy array or a pyarrow array")


def _keys_from_seq(values: list | tuple) -> _Keys:
    """A list or tuple of str/bytes/None, handed to the core as it is
    (``Index._lookup_seq``): no join, no encoded copy."""
    return _Keys(_K_SEQ, len(values), values)


def _strings_keys(lengths: np.ndarray, data: bytes, valid) -> _Keys:
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    buf = np.frombuffer(data, dtype=np.uint8) if data else np.zeros(1, dtype=np.uint8)
    return _Keys(_K_STRINGS64, len(lengths), buf, offsets=offsets, valid=valid, keep=(data,))


def _keys_from_ints(values, signed_keys: bool) -> _Keys:
    """Integers of any size; None is a null key. A key outside the range of
    the index's integer type is simply not found."""
    if isinstance(values, np.ndarray):
        arr = values
        if arr.ndim != 1 or arr.dtype.kind not in "iubO":
            raise _bad_keys(f"keys of dtype {arr.dtype} (ndim {arr.ndim}) for an integer index")
    elif len(values) == 0:
        return _Keys(_K_INT64, 0, np.zeros(1, dtype=np.int64))
    else:
        try:
            arr = np.asarray(values)
        except (OverflowError, ValueError, TypeError):
            arr = None
    if arr is not None and arr.ndim == 1 and arr.dtype.kind in "iub":
        if arr.dtype.kind == "u":
            return _Keys(_K_UINT64, len(arr), np.ascontiguousarray(arr, dtype=np.uint64))
        return _Keys(_K_INT64, len(arr), np.ascontiguousarray(arr, dtype=np.int64))
    # Anything else (NumPy chose object or float for ints beyond int64, or
    # there are None or non-integers): one by one. Keys the index's type
    # cannot hold become null keys (not found).
    values = values.tolist() if isinstance(values, np.ndarray) else list(values)
    n = len(values)
    pattern = np.zeros(n, dtype=np.uint64)
    valid = np.ones(n, dtype=bool)
    for i, v in enumerate(values):
        if v is None:
            valid[i] = False
            continue
        try:
            v = operator.index(v)
        except TypeError:
            raise _bad_keys(f"key {i} is a {type(v).__name__}, and this index holds integers") from None
        if (v < 0 and not signed_keys) or v < -(1 << 63) or v >= (1 << 64) or \
                (signed_keys and v >= (1 << 63)):
            valid[i] = False
            continue
        pattern[i] = v & _M64
    kind = _K_INT64 if signed_keys else _K_UINT64
    data = pattern.view(np.int64) if signed_keys else pattern
    return _Keys(kind, n, data, valid=None if valid.all() else valid)


def _keys_from_numpy_text(arr: np.ndarray, fixed_width: int) -> _Keys:
    """NumPy 'U' (UTF-32, zero-copy) or 'S' arrays. An 'S' item drops its
    trailing NUL bytes, as NumPy does, unless the index is fixed-size binary of
    the same width, whose keys are compared byte for byte."""
    n = len(arr)
    if arr.dtype.kind == "U":
        width = arr.dtype.itemsize // 4
        if width == 0:
            return _strings_keys(np.zeros(n, dtype=np.int64), b"", None)
        if arr.dtype.byteorder == ">":  # code points in native order for the C reader
            arr = arr.astype(arr.dtype.newbyteorder("="))
        codes = np.ascontiguousarray(arr).view(np.uint32).reshape(n, width)
        return _Keys(_K_UTF32, n, codes, width=width)
    w = arr.dtype.itemsize
    raw = np.ascontiguousarray(arr).view(np.uint8).reshape(n, w)
    if w == fixed_width:
        return _Keys(_K_FIXED, n, raw, width=w)
    nonzero = raw != 0
    lengths = np.where(nonzero.any(axis=1), w - np.argmax(nonzero[:, ::-1], axis=1), 0) if w else \
        np.zeros(n, dtype=np.int64)
    data = raw[np.arange(w) < lengths[:, None]]
    return _strings_keys(lengths.astype(np.int64), data.tobytes(), None)


def _keys_from_arrow(arr, pa, int_index: bool, signed: bool) -> list[_Keys]:
    """One _Keys per chunk of a pyarrow Array or ChunkedArray, zero-copy for
    string, binary and fixed-size binary arrays."""
    chunks = arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]
    out = []
    for c in chunks:
        t = c.type
        if pa.types.is_dictionary(t):
            c = c.dictionary_decode()
            t = c.type
        if hasattr(pa.types, "is_string_view") and (pa.types.is_string_view(t) or pa.types.is_binary_view(t)):
            c = c.cast(pa.large_string() if pa.types.is_string_view(t) else pa.large_binary())
            t = c.type
        n, off = len(c), c.offset
        bufs = c.buffers()
        valid = None
        if c.null_count:
            valid = c.is_valid().to_numpy(zero_copy_only=False)
        if pa.types.is_integer(t):
            if not int_index:
                raise _bad_keys(f"keys of Arrow type {t} for an index of strings or bytes")
            # (not t.to_pandas_dtype(): some pyarrow versions import pandas for it)
            dtype = np.dtype(f"{'i' if pa.types.is_signed_integer(t) else 'u'}{t.bit_width // 8}")
            values = np.frombuffer(bufs[1], dtype=dtype)[off:off + n]
            k = _keys_from_ints(values, signed)
            k.valid = valid
            out.append(k)
            continue
        if int_index:
            raise _bad_keys(f"keys of Arrow type {t} for an integer index")
        if pa.types.is_string(t) or pa.types.is_binary(t) or pa.types.is_large_string(t) or \
                pa.types.is_large_binary(t):
            large = pa.types.is_large_string(t) or pa.types.is_large_binary(t)
            offsets = np.frombuffer(bufs[1], dtype=np.int64 if large else np.int32)[off:off + n + 1]
            data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None and bufs[2].size else \
                np.zeros(1, dtype=np.uint8)
            if n == 0:
                offsets = np.zeros(1, dtype=np.int64)
            kind = _K_STRINGS64 if large or n == 0 else _K_STRINGS32
            out.append(_Keys(kind, n, data, offsets=offsets, valid=valid, keep=(c,)))
        elif pa.types.is_fixed_size_binary(t):
            w = t.byte_width
            data = np.frombuffer(bufs[1], dtype=np.uint8)[off * w:(off + n) * w] if n else \
                np.zeros(max(w, 1), dtype=np.uint8)
            out.append(_Keys(_K_FIXED, n, data, width=w, valid=valid, keep=(c,)))
        else:
            raise _bad_keys(f"keys of Arrow type {t}")
    return out


def _normalize(keys, int_index: bool, fixed_width: int, signed: bool = True) -> list[_Keys]:
    """keys as one _Keys per chunk. signed: an integer index of a signed type
    (decides how keys beyond the int64 range are handed over)."""
    if isinstance(keys, (str, bytes)):
        raise _bad_keys("a single str or bytes was given as the keys; wrap it in a list, or "
                        "use seg.index(name)[key] for one key")
    pa = sys.modules.get("pyarrow")
    if pa is not None and isinstance(keys, (pa.Array, pa.ChunkedArray)):
        return _keys_from_arrow(keys, pa, int_index, signed)
    if isinstance(keys, StringColumn):
        if int_index:
            raise _bad_keys("a StringColumn of keys for an integer index")
        offs = keys.offsets if keys.offsets is not None else np.zeros(len(keys) + 1, dtype=np.int32)
        valid = None
        if keys.validity is not None:
            valid = np.unpackbits(keys.validity, count=len(keys), bitorder="little").view(bool)
        data = keys.data if len(keys.data) else np.zeros(1, dtype=np.uint8)
        kind = _K_STRINGS32 if offs.dtype.itemsize == 4 else _K_STRINGS64
        return [_Keys(kind, len(keys), data, offsets=np.ascontiguousarray(offs), valid=valid,
                      keep=(keys,))]
    if isinstance(keys, np.ma.MaskedArray):
        valid = ~np.ma.getmaskarray(keys)
        ks = _normalize(np.ma.getdata(keys), int_index, fixed_width, signed)[0]
        ks.valid = valid if ks.valid is None else (ks.valid & valid)
        return [ks]
    if isinstance(keys, np.ndarray):
        if keys.ndim != 1:
            raise _bad_keys(f"a {keys.ndim}-D array of keys")
        kind = keys.dtype.kind
        if int_index:
            if kind == "O":
                return [_keys_from_ints(keys.tolist(), signed)]
            return [_keys_from_ints(keys, signed)]
        if kind in "US":
            return [_keys_from_numpy_text(keys, fixed_width)]
        if kind == "O":
            return [_keys_from_seq(keys.tolist())]
        raise _bad_keys(f"keys of dtype {keys.dtype} for an index of strings or bytes")
    if not isinstance(keys, collections.abc.Sequence):
        keys = list(keys)
    if int_index:
        return [_keys_from_ints(keys, signed)]
    return [_keys_from_seq(keys if isinstance(keys, (list, tuple)) else list(keys))]


# ---------------------------------------------------------------------------
# The index of one array


class Index(_native.Index, collections.abc.Mapping):
    """The hash index of one array: a read-only Mapping of key to row.

    Returned by ``seg.index(name)``. ``key in idx``, ``idx[key]`` (the row, or
    KeyError), ``idx.get(key, default)``; ``len(idx)`` is the number of keys
    (the non-null values of the array) and iteration yields them in row
    order. :meth:`lookup` and :meth:`contains` take many keys at once and are
    faster per key still. Keys are str or bytes (compared by their UTF-8 /
    raw bytes) for a string, binary or fixed-size binary array, int for an
    integer array; a key of the other kind is simply not in the index.

    Reads the segment's pages in place and keeps the mapping alive, like any
    view; it keeps working after the segment is closed, and in forked
    workers. The table is untrusted data: a lookup stops after the table's
    size and checks every row and offset it reads (OUT_OF_BOUNDS,
    BAD_OFFSETS for a corrupt table).

    >>> import shmarray, tempfile
    >>> d = tempfile.mkdtemp()
    >>> seg = shmarray.create("doc-index", {"login": ["ada", "grace", None]}, dir=d, index=["login"])
    >>> idx = seg.index("login")
    >>> "grace" in idx, idx["grace"], idx.get("bob", -1), len(idx), list(idx)
    (True, 1, -1, 2, ['ada', 'grace'])
    >>> seg.close(); shmarray.unlink("doc-index", dir=d)
    """

    __slots__ = ("_seg_name", "_d", "_mem", "__weakref__")

    @classmethod
    def _new(cls, handle, d) -> "Index":
        self = handle.index(d.index, cls)
        self._seg_name, self._d, self._mem = handle.name, d, handle.memory()
        return self

    @property
    def name(self) -> str:
        """The name of the indexed array."""
        return self._d.name

    def __repr__(self) -> str:
        return (f"<shmarray.Index of {self.name!r} ({_native.type_names[self._d.type]}) in segment "
                f"{self._seg_name!r}: {len(self)} keys, {self.slots} slots>")

    __eq__ = object.__eq__
    __ne__ = object.__ne__
    __hash__ = object.__hash__

    def __iter__(self):
        d, mem = self._d, self._mem
        valid = None
        if d.null_count:
            bm = view(mem, np.uint8, (d.length + 7) >> 3, d.validity)
            valid = np.unpackbits(bm, count=d.length, bitorder="little").view(bool)
        if self._int_keys:
            values = view(mem, d.dtype, d.length, d.data)
            for s in range(0, d.length, 1 << 16):
                chunk = values[s:s + (1 << 16)]
                if valid is not None:
                    chunk = chunk[valid[s:s + (1 << 16)]]
                yield from chunk.tolist()
        elif d.byte_width:
            w = d.byte_width
            raw = view(mem, np.uint8, d.length * w, d.data)
            for r in range(d.length):
                if valid is None or valid[r]:
                    yield raw[r * w:(r + 1) * w].tobytes()
        else:
            for v in self._values(StringColumn):
                if v is not None:
                    yield v

    # -- many keys ------------------------------------------------------------

    def lookup(self, keys) -> np.ndarray:
        """The row of each key (int64), -1 where it is not a key.

        ``keys``: a list or tuple of str/bytes/int (None: never found), a
        NumPy array (``U``, ``S``, object or integer dtype, or a masked
        array), a pyarrow Array or ChunkedArray, or a
        :class:`~shmarray.StringColumn`. Strings, NumPy and Arrow arrays are
        handed to the C core as they lie in memory, without a Python object
        per key where the input has none.
        """
        parts = _normalize(keys, self._int_keys, self._d.byte_width, self._signed)
        outs = [self._run(k) for k in parts]
        if len(outs) == 1:
            return outs[0]
        return np.concatenate(outs) if outs else np.zeros(0, dtype=np.int64)

    def contains(self, keys) -> np.ndarray:
        """Whether each key is in the index (bool array); see :meth:`lookup`."""
        return self.lookup(keys) >= 0

    def _run(self, k: "_Keys") -> np.ndarray:
        """One batch in one of the core's key layouts."""
        rows = np.empty(k.count, dtype=np.int64)
        if k.count == 0:
            return rows
        if k.kind == _K_SEQ:
            self._lookup_seq(k.data, _address(rows))
            if k.valid is not None:
                rows[~k.valid] = -1
            return rows
        data = np.ascontiguousarray(k.data)
        offsets = None if k.offsets is None else np.ascontiguousarray(k.offsets)
        bitmap = None if k.valid is None else np.packbits(k.valid, bitorder="little")
        self._lookup(k.kind, k.count, _address(data), data.nbytes, _address(offsets), _address(bitmap), 0,
                     k.width, _address(rows))
        return rows
