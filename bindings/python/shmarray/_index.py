"""Hash index lookups (spec §7.8, format 1.1): ``seg.lookup``, ``seg.contains``,
``seg.index``, and the full validation of an index.

A segment may carry, for an array of unique keys (integers, strings, bytes),
a hash table built when the segment was created. Every process that attaches
the segment looks keys up in it straight from the shared pages: nothing is
built or copied per worker.

Two engines give the same answers:

* batches go to the plain-C ``shmarray_lookup_view`` of ``libshmarray.so``
  through ctypes when the library can be found: it never enters the Go
  runtime, so it works in forked workers, even when the parent had created
  segments (DESIGN.md, decision 4). The library is loaded at the first batch
  lookup, never by ``import shmarray`` and never by reading without lookups;
* otherwise (or with ``SHMARRAY_LOOKUP=numpy``), a vectorized NumPy engine:
  keys hashed all at once, column by column of their bytes, then probing
  rounds over all pending keys together.

Single keys (``key in idx``, ``idx[key]``) are probed in pure Python, and full
validation (:func:`validate_index`) uses the NumPy engine only: neither loads
native code.
"""

from __future__ import annotations

import collections.abc
import ctypes
import operator
import struct
import sys
import weakref

import numpy as np

from . import _format as F
from . import _lib
from ._utf8 import utf32_to_utf8
from ._errors import (BadOffsetsError, BadSizeError, ChecksumMismatchError, DuplicateNameError,
                      InvalidArgumentError, OutOfBoundsError, error_for)

__all__ = ["Index", "lookup", "contains", "index_of", "validate_index", "hash_bytes",
           "hash_int"]

_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x00000100000001B3
_M64 = (1 << 64) - 1
_U64_FNV_OFFSET = np.uint64(_FNV_OFFSET)
_U64_FNV_PRIME = np.uint64(_FNV_PRIME)
_U64_C1 = np.uint64(0xFF51AFD7ED558CCD)
_U64_C2 = np.uint64(0xC4CEB9FE1A85EC53)
_U64_33 = np.uint64(33)

_INT_CODES = range(2, 10)
_SIGNED = {2: 8, 4: 16, 6: 32, 8: 64}  # type code -> bits
_UNSIGNED = {3: 8, 5: 16, 7: 32, 9: 64}
_INT_STRUCT = {2: "<b", 3: "<B", 4: "<h", 5: "<H", 6: "<i", 7: "<I", 8: "<q", 9: "<Q"}
_INT_DTYPE = {2: "<i1", 3: "<u1", 4: "<i2", 5: "<u2", 6: "<i4", 7: "<u4", 8: "<i8", 9: "<u8"}
_CHUNK = 1 << 20  # keys per step of validation: bounds its temporary memory


# ---------------------------------------------------------------------------
# Hash (spec §7.8.2): FNV-1a over the key bytes, then MurmurHash3's fmix64


def _mix(h: int) -> int:
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & _M64
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & _M64
    return h ^ (h >> 33)


def hash_bytes(key: bytes) -> int:
    """The hash of spec §7.8.2 of key bytes.

    >>> hex(hash_bytes(b"a"))
    '0x82a2a958a9bece5b'
    """
    h = _FNV_OFFSET
    for c in key:
        h = ((h ^ c) * _FNV_PRIME) & _M64
    return _mix(h)


def hash_int(value: int) -> int:
    """The hash of an integer key: of its 8 little-endian two's-complement bytes.

    >>> hex(hash_int(-1))
    '0x6a92c0228678c02e'
    """
    return hash_bytes((value & _M64).to_bytes(8, "little"))


def _mix_array(h: np.ndarray) -> np.ndarray:
    h ^= h >> _U64_33
    h *= _U64_C1
    h ^= h >> _U64_33
    h *= _U64_C2
    h ^= h >> _U64_33
    return h


def _hash_u64_array(v: np.ndarray) -> np.ndarray:
    """Hashes of integer keys given as their 64-bit patterns (uint64)."""
    h = np.full(len(v), _U64_FNV_OFFSET, dtype=np.uint64)
    for shift in range(0, 64, 8):
        h ^= (v >> np.uint64(shift)) & np.uint64(0xFF)
        h *= _U64_FNV_PRIME
    return _mix_array(h)


def _by_length(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An order of the items by decreasing length, and for each byte
    position j the number of items longer than j (a prefix of that order)."""
    n = len(lengths)
    if n == 0:
        return np.zeros(0, np.intp), np.zeros(0, np.intp)
    top = int(lengths.max())
    if top == int(lengths.min()):
        return np.arange(n), np.full(top, n, dtype=np.intp)
    # Shorter first by key top - length: a radix sort when it fits 16 bits.
    key = (top - lengths).astype(np.uint16) if top < 65536 else top - lengths
    order = np.argsort(key, kind="stable")
    counts = np.bincount(lengths, minlength=top + 1)  # how many have each length
    longer = n - np.cumsum(counts)[:top]  # items with length > j
    return order, longer


def _hash_strings(starts: np.ndarray, lengths: np.ndarray, data: np.ndarray) -> np.ndarray:
    """Hashes of the byte strings data[starts[i], starts[i] + lengths[i]),
    computed position by position over all strings at once."""
    n = len(starts)
    order, longer = _by_length(lengths)
    s = starts[order]
    h = np.full(n, _U64_FNV_OFFSET, dtype=np.uint64)
    for j, c in enumerate(longer.tolist()):
        hc = h[:c]
        hc ^= data[s[:c] + j]
        hc *= _U64_FNV_PRIME
    out = np.empty(n, dtype=np.uint64)
    out[order] = _mix_array(h)
    return out


def _bytes_equal(a: np.ndarray, astart: np.ndarray, b: np.ndarray, bstart: np.ndarray,
                 lengths: np.ndarray) -> np.ndarray:
    """Whether a[astart[i] : +lengths[i]] == b[bstart[i] : +lengths[i]] for each i."""
    order, longer = _by_length(lengths)
    sa, sb = astart[order], bstart[order]
    differ = np.zeros(len(order), dtype=bool)
    for j, c in enumerate(longer.tolist()):
        differ[:c] |= a[sa[:c] + j] != b[sb[:c] + j]
    out = np.empty(len(order), dtype=bool)
    out[order] = ~differ
    return out


# ---------------------------------------------------------------------------
# Keys: what callers hand over, normalized


class _Keys:
    """A batch of query keys in one of the layouts of ``shmarray_keys``.

    kind is one of the ``_lib.KEYS_*`` codes. Byte strings: ``offsets`` (int32
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


def _keys_from_strings(values: list) -> _Keys:
    """A list of str/bytes/None. The common case, a list of str, is encoded in
    one join: for ASCII text the byte lengths are the character lengths."""
    n = len(values)
    if n and isinstance(values[0], bytes):  # a list of bytes: one join too
        try:
            data = b"".join(values)
        except TypeError:
            pass
        else:
            return _strings_keys(np.fromiter(map(len, values), dtype=np.int64, count=n), data, None)
    try:
        joined = "".join(values)
    except TypeError:
        joined = None
    if joined is not None:
        data = joined.encode("utf-8", "surrogatepass")
        if len(data) == len(joined):
            lengths = np.fromiter(map(len, values), dtype=np.int64, count=n)
            return _strings_keys(lengths, data, None)
        values = [v.encode("utf-8", "surrogatepass") for v in values]
        return _strings_keys(np.fromiter(map(len, values), dtype=np.int64, count=n), b"".join(values), None)
    encoded, valid = [], np.ones(n, dtype=bool)
    for i, v in enumerate(values):
        if isinstance(v, str):
            encoded.append(v.encode("utf-8", "surrogatepass"))
        elif isinstance(v, (bytes, bytearray, memoryview)):
            encoded.append(bytes(v))
        elif v is None:
            encoded.append(b"")
            valid[i] = False
        else:
            raise _bad_keys(f"key {i} is a {type(v).__name__}, and this index holds strings or bytes")
    lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=n)
    return _strings_keys(lengths, b"".join(encoded), None if valid.all() else valid)


def _strings_keys(lengths: np.ndarray, data: bytes, valid) -> _Keys:
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    buf = np.frombuffer(data, dtype=np.uint8) if data else np.zeros(1, dtype=np.uint8)
    return _Keys(_lib.KEYS_STRINGS64, len(lengths), buf, offsets=offsets, valid=valid, keep=(data,))


def _keys_from_ints(values, signed_keys: bool) -> _Keys:
    """Integers of any size; None is a null key. A key outside the range of
    the index's integer type is simply not found."""
    if isinstance(values, np.ndarray):
        arr = values
        if arr.ndim != 1 or arr.dtype.kind not in "iubO":
            raise _bad_keys(f"keys of dtype {arr.dtype} (ndim {arr.ndim}) for an integer index")
    elif len(values) == 0:
        return _Keys(_lib.KEYS_INT64, 0, np.zeros(1, dtype=np.int64))
    else:
        try:
            arr = np.asarray(values)
        except (OverflowError, ValueError, TypeError):
            arr = None
    if arr is not None and arr.ndim == 1 and arr.dtype.kind in "iub":
        if arr.dtype.kind == "u":
            return _Keys(_lib.KEYS_UINT64, len(arr), np.ascontiguousarray(arr, dtype=np.uint64))
        return _Keys(_lib.KEYS_INT64, len(arr), np.ascontiguousarray(arr, dtype=np.int64))
    # Anything else (NumPy chose object or float for ints beyond int64, or
    # there are None or non-integers) is checked one by one below.
    # Python ints beyond int64, or None: one by one. Keys the index's type
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
    kind = _lib.KEYS_INT64 if signed_keys else _lib.KEYS_UINT64
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
        return _Keys(_lib.KEYS_UTF32, n, codes, width=width)
    w = arr.dtype.itemsize
    raw = np.ascontiguousarray(arr).view(np.uint8).reshape(n, w)
    if w == fixed_width:
        return _Keys(_lib.KEYS_FIXED, n, raw, width=w)
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
            values = np.frombuffer(bufs[1], dtype=t.to_pandas_dtype())[off:off + n]
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
            kind = _lib.KEYS_STRINGS64 if large or n == 0 else _lib.KEYS_STRINGS32
            out.append(_Keys(kind, n, data, offsets=offsets, valid=valid, keep=(c,)))
        elif pa.types.is_fixed_size_binary(t):
            w = t.byte_width
            data = np.frombuffer(bufs[1], dtype=np.uint8)[off * w:(off + n) * w] if n else \
                np.zeros(max(w, 1), dtype=np.uint8)
            out.append(_Keys(_lib.KEYS_FIXED, n, data, width=w, valid=valid, keep=(c,)))
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
    from ._segment import StringColumn
    if isinstance(keys, StringColumn):
        if int_index:
            raise _bad_keys("a StringColumn of keys for an integer index")
        offs = keys.offsets if keys.offsets is not None else np.zeros(len(keys) + 1, dtype=np.int32)
        valid = None
        if keys.validity is not None:
            valid = np.unpackbits(keys.validity, count=len(keys), bitorder="little").view(bool)
        data = keys.data if len(keys.data) else np.zeros(1, dtype=np.uint8)
        kind = _lib.KEYS_STRINGS32 if offs.dtype.itemsize == 4 else _lib.KEYS_STRINGS64
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
            return [_keys_from_strings(keys.tolist())]
        raise _bad_keys(f"keys of dtype {keys.dtype} for an index of strings or bytes")
    if not isinstance(keys, collections.abc.Sequence):
        keys = list(keys)
    if int_index:
        return [_keys_from_ints(keys, signed)]
    return [_keys_from_strings(keys if isinstance(keys, list) else list(keys))]


# ---------------------------------------------------------------------------
# The index of one array


class Index(collections.abc.Mapping):
    """The hash index of one array: a read-only Mapping of key to row.

    Returned by ``seg.index(name)``. ``key in idx``, ``idx[key]`` (the row, or
    KeyError), ``idx.get(key, default)``; ``len(idx)`` is the number of keys
    (the non-null values of the array) and iteration yields them in row
    order. :meth:`lookup` and :meth:`contains` take many keys at once and are
    much faster per key. Keys are str or bytes (compared by their UTF-8 /
    raw bytes) for a string, binary or fixed-size binary array, int for an
    integer array; a key of the other kind is simply not in the index.

    Reads the segment's pages in place: an Index keeps the mapping alive,
    like any view, and works in forked workers.

    >>> import shmarray, tempfile
    >>> d = tempfile.mkdtemp()
    >>> seg = shmarray.create("doc-index", {"login": ["ada", "grace", None]}, dir=d, index=["login"])
    >>> idx = seg.index("login")
    >>> "grace" in idx, idx["grace"], idx.get("bob", -1), len(idx), list(idx)
    (True, 1, -1, 2, ['ada', 'grace'])
    >>> seg.close(); shmarray.unlink("doc-index", dir=d)
    """

    __slots__ = ("_seg_name", "_a", "_base", "_mv", "_ints", "_signed_bits", "_unsigned_bits",
                 "_view", "_table", "_fixed", "__weakref__")

    def __init__(self, seg_name: str, mm, a: F.ArrayDesc):
        self._seg_name = seg_name
        self._a = a
        self._base = np.frombuffer(mm, dtype=np.uint8)  # keeps the mapping alive
        self._mv = memoryview(self._base)
        self._ints = a.type in _INT_CODES
        self._signed_bits = _SIGNED.get(a.type, 0)
        self._unsigned_bits = _UNSIGNED.get(a.type, 0)
        self._fixed = a.byte_width if a.type == F.FIXED_SIZE_BINARY else 0
        ix = a.index
        self._table = np.frombuffer(self._base, dtype="<u4" if ix.slot_width == 4 else "<u8",
                                    count=ix.slots, offset=ix.offset)
        self._view = None

    # -- description --------------------------------------------------------

    @property
    def name(self) -> str:
        """The name of the indexed array."""
        return self._a.name

    @property
    def slots(self) -> int:
        """Number of slots of the hash table."""
        return self._a.index.slots

    def __len__(self) -> int:
        return self._a.length - self._a.null_count

    def __repr__(self) -> str:
        return (f"<shmarray.Index of {self._a.name!r} ({self._a.type_name}) in segment "
                f"{self._seg_name!r}: {len(self)} keys, {self.slots} slots>")

    __eq__ = object.__eq__
    __ne__ = object.__ne__
    __hash__ = object.__hash__

    # -- one key: pure Python -------------------------------------------------

    def _pattern(self, key) -> int | None:
        """The 64-bit key of an integer, or None if the type cannot hold it."""
        try:
            v = operator.index(key)
        except TypeError:
            return None
        if self._signed_bits:
            half = 1 << (self._signed_bits - 1)
            return v & _M64 if -half <= v < half else None
        return v if 0 <= v < (1 << self._unsigned_bits) else None

    def _key_bytes(self, key) -> bytes | None:
        if isinstance(key, str):
            return key.encode("utf-8", "surrogatepass")
        if isinstance(key, (bytes, bytearray, memoryview)):
            return bytes(key)
        return None

    def _row(self, key) -> int:
        """The row of one key, or -1: spec §7.8.4, with every value read
        from the file checked before use."""
        a = self._a
        mv = self._mv
        if self._ints:
            q = self._pattern(key)
            if q is None:
                return -1
            h = hash_int(q)
            fmt = _INT_STRUCT[a.type]
            width = struct.calcsize(fmt)
            base = a.data[0]
            signed = bool(self._signed_bits)
        else:
            q = self._key_bytes(key)
            if q is None or (self._fixed and len(q) != self._fixed):
                return -1
            h = hash_bytes(q)
            ow = F.TYPES[a.type].offset_width
            ofmt = "<i" if ow == 4 else "<q"
            data_off, data_len = a.data
        table, mask, length = self._table, self.slots - 1, a.length
        s = h & mask
        for _ in range(mask + 1):
            v = int(table[s])
            if v == 0:
                return -1
            r = v - 1
            if r >= length:
                raise OutOfBoundsError(f"segment {self._seg_name!r}: array {a.name!r}: index slot "
                                       f"{s} names row {r} of {length}")
            if self._ints:
                k = struct.unpack_from(fmt, mv, base + width * r)[0]
                if (k & _M64 if signed else k) == q:
                    return r
            elif self._fixed:
                start = data_off + self._fixed * r
                if mv[start:start + self._fixed] == q:
                    return r
            else:
                start, end = struct.unpack_from(ofmt + ofmt[1], mv, a.offsets[0] + ow * r)
                if not 0 <= start <= end <= data_len:
                    raise BadOffsetsError(
                        f"segment {self._seg_name!r}: array {a.name!r}: slot {r} has offsets "
                        f"[{start}, {end}), outside the {data_len}-byte data buffer")
                if end - start == len(q) and mv[data_off + start:data_off + end] == q:
                    return r
            s = (s + 1) & mask
        return -1

    def __getitem__(self, key) -> int:
        r = self._row(key)
        if r < 0:
            raise KeyError(key)
        return r

    def __contains__(self, key) -> bool:
        return self._row(key) >= 0

    def get(self, key, default=None):
        """The row of ``key``, or ``default`` if it is not a key."""
        r = self._row(key)
        return default if r < 0 else r

    def __iter__(self):
        a = self._a
        mm = self._base
        if self._ints:
            values = np.frombuffer(mm, dtype=_INT_DTYPE[a.type], count=a.length,
                                   offset=a.data[0] if a.length else 0)
            valid = self._valid_mask()
            for s in range(0, a.length, 1 << 16):
                chunk = values[s:s + (1 << 16)]
                if valid is not None:
                    chunk = chunk[valid[s:s + (1 << 16)]]
                yield from chunk.tolist()
        elif self._fixed:
            values = np.frombuffer(mm, dtype=np.uint8, count=a.length * self._fixed,
                                   offset=a.data[0] if a.length else 0)
            valid = self._valid_mask()
            for r in range(a.length):
                if valid is None or valid[r]:
                    yield values[r * self._fixed:(r + 1) * self._fixed].tobytes()
        else:
            from ._segment import StringColumn
            for v in StringColumn._new(mm, a):
                if v is not None:
                    yield v

    def _valid_mask(self) -> np.ndarray | None:
        a = self._a
        if not a.null_count:
            return None
        bm = np.frombuffer(self._base, np.uint8, count=(a.length + 7) >> 3, offset=a.validity[0])
        return np.unpackbits(bm, count=a.length, bitorder="little").view(bool)

    # -- many keys ------------------------------------------------------------

    def lookup(self, keys) -> np.ndarray:
        """The row of each key (int64), -1 where it is not a key.

        ``keys``: a list of str/bytes/int (None: never found), a NumPy array
        (``U``, ``S``, object or integer dtype, or a masked array), a pyarrow
        Array or ChunkedArray, or a :class:`~shmarray.StringColumn`. Strings,
        NumPy and Arrow arrays are hashed in bulk without a Python object per
        key where the input has none.
        """
        parts = _normalize(keys, self._ints, self._fixed, bool(self._signed_bits))
        lib = _lib.reader()
        outs = [self._lookup_c(lib, k) if lib is not None else self._lookup_np(k) for k in parts]
        if len(outs) == 1:
            return outs[0]
        return np.concatenate(outs) if outs else np.zeros(0, dtype=np.int64)

    def contains(self, keys) -> np.ndarray:
        """Whether each key is in the index (bool array); see :meth:`lookup`."""
        return self.lookup(keys) >= 0

    def _c_view(self) -> _lib.IndexView:
        if self._view is None:
            a = self._a
            base = self._base.ctypes.data
            v = _lib.IndexView()
            v.type, v.byte_width, v.length = a.type, a.byte_width, a.length
            if a.offsets[1]:
                v.offsets, v.offsets_length = base + a.offsets[0], a.offsets[1]
            if a.data[1]:
                v.data, v.data_length = base + a.data[0], a.data[1]
            v.table = base + a.index.offset
            v.slot_width, v.log2 = a.index.slot_width, a.index.log2
            self._view = v
        return self._view

    def _lookup_c(self, lib, k: _Keys) -> np.ndarray:
        """One batch through the plain-C shmarray_lookup_view (no Go)."""
        rows = np.empty(k.count, dtype=np.int64)
        if k.count == 0:
            return rows
        keys = _lib.Keys()
        keys.kind, keys.count, keys.width = k.kind, k.count, k.width
        data = k.data
        keys.data = data.ctypes.data
        offsets = None
        if k.offsets is not None:
            offsets = np.ascontiguousarray(k.offsets)
            keys.offsets = offsets.ctypes.data
        bitmap = None
        if k.valid is not None:
            bitmap = np.packbits(k.valid, bitorder="little")
            keys.validity = bitmap.ctypes.data
        err = _lib.err_buffer()
        code = lib.shmarray_lookup_view(ctypes.byref(self._c_view()), ctypes.byref(keys),
                                        rows.ctypes.data, err, len(err))
        if code:
            msg = err.value.decode("utf-8", "replace")
            raise error_for(code, f"segment {self._seg_name!r}: {msg}")
        del data, offsets, bitmap
        return rows

    # -- the NumPy engine -------------------------------------------------------

    def _array_keys(self):
        """This array's buffers as NumPy views: (offsets or None, data)."""
        a, mm = self._a, self._base
        data = np.frombuffer(mm, np.uint8, count=a.data[1], offset=a.data[0]) if a.data[1] else \
            np.zeros(1, dtype=np.uint8)
        offs = F.offsets_view(mm, a) if F.TYPES[a.type].offset_width else None
        return offs, data

    def _lookup_np(self, k: _Keys) -> np.ndarray:
        """One batch with NumPy only: hash every key, then probe in rounds."""
        n = k.count
        rows = np.full(n, -1, dtype=np.int64)
        todo = np.arange(n) if k.valid is None else np.flatnonzero(k.valid)
        if self._ints:
            v = k.data
            if k.kind == _lib.KEYS_UINT64:
                u = v.astype(np.uint64, copy=False)
                neg = np.zeros(n, dtype=bool)
            else:
                u = v.astype(np.int64, copy=False).view(np.uint64)
                neg = v < 0
            if self._signed_bits:
                half = np.uint64(1 << (self._signed_bits - 1))
                ok = np.where(neg, (u >= (np.uint64(_M64) - half + np.uint64(1))) | (half == np.uint64(1 << 63)),
                              u < half)
            else:
                top = np.uint64(_M64 if self._unsigned_bits == 64 else (1 << self._unsigned_bits) - 1)
                ok = ~neg & (u <= top)
            todo = todo[ok[todo]]
            q = u[todo]
            self._probe_ints(q, _hash_u64_array(q), todo, rows)
            return rows
        qoffs, qdata = self._query_bytes(k)
        qstart = qoffs[:-1]
        qlen = qoffs[1:] - qstart
        if self._fixed:
            todo = todo[qlen[todo] == self._fixed]
        h = _hash_strings(qstart[todo], qlen[todo], qdata)
        self._probe_bytes(qstart, qlen, qdata, h, todo, rows)
        return rows

    @staticmethod
    def _query_bytes(k: _Keys) -> tuple[np.ndarray, np.ndarray]:
        """Any byte-string layout as (int64 offsets, uint8 data)."""
        if k.kind in (_lib.KEYS_STRINGS32, _lib.KEYS_STRINGS64):
            return k.offsets.astype(np.int64), k.data
        if k.kind == _lib.KEYS_FIXED:
            return np.arange(k.count + 1, dtype=np.int64) * k.width, k.data.reshape(-1)
        offsets, data = utf32_to_utf8(k.data, replace_invalid=True)
        return offsets, data if data.size else np.zeros(1, dtype=np.uint8)

    def _probe_rounds(self, h: np.ndarray, todo: np.ndarray, rows: np.ndarray, equal) -> None:
        """Spec §7.8.4 for many keys at once: each round reads one slot per
        pending key; ``equal(keys, candidate rows)`` compares."""
        table, mask, length = self._table, self.slots - 1, self._a.length
        s = (h & np.uint64(mask)).astype(np.int64)
        idx = todo
        for _ in range(mask + 1):
            if idx.size == 0:
                return
            v = table[s]
            live = v != 0
            idx, s, v = idx[live], s[live], v[live]
            if idx.size == 0:
                return
            if (v > length).any():
                j = int(np.argmax(v > length))
                raise OutOfBoundsError(f"segment {self._seg_name!r}: array {self._a.name!r}: index "
                                       f"slot {int(s[j])} names row {int(v[j]) - 1} of {length}")
            r = v.astype(np.int64) - 1
            eq = equal(idx, r)
            rows[idx[eq]] = r[eq]
            miss = ~eq
            idx, s = idx[miss], (s[miss] + 1) & mask

    def _probe_ints(self, q: np.ndarray, h: np.ndarray, todo: np.ndarray, rows: np.ndarray) -> None:
        a = self._a
        values = np.frombuffer(self._base, dtype=_INT_DTYPE[a.type], count=a.length,
                               offset=a.data[0] if a.length else 0)
        qpos = np.full(len(rows), -1, dtype=np.int64)
        qpos[todo] = np.arange(len(todo))

        def equal(idx, r):
            got = values[r]
            got = got.astype(np.int64).view(np.uint64) if self._signed_bits else got.astype(np.uint64)
            return got == q[qpos[idx]]

        self._probe_rounds(h, todo, rows, equal)

    def _probe_bytes(self, qstart, qlen, qdata, h, todo, rows) -> None:
        a = self._a
        offs, data = self._array_keys()
        data_len = a.data[1]
        fixed = self._fixed

        def equal(idx, r):
            if fixed:
                ks = r * fixed
                kl = np.full(len(r), fixed, dtype=np.int64)
            else:
                ks = offs[r].astype(np.int64)
                ke = offs[r + 1].astype(np.int64)
                bad = (ks < 0) | (ks > ke) | (ke > data_len)
                if bad.any():
                    j = int(np.argmax(bad))
                    raise BadOffsetsError(
                        f"segment {self._seg_name!r}: array {a.name!r}: slot {int(r[j])} has offsets "
                        f"[{int(ks[j])}, {int(ke[j])}), outside the {data_len}-byte data buffer")
                kl = ke - ks
            ql = qlen[idx]
            eq = kl == ql
            sel = np.flatnonzero(eq & (ql > 0))
            if sel.size:
                eq[sel] = _bytes_equal(data, ks[sel], qdata, qstart[idx[sel]], ql[sel])
            return eq

        self._probe_rounds(h, todo, rows, equal)


# ---------------------------------------------------------------------------
# Entry points used by Segment


_cache: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def index_of(seg, name: str) -> Index:
    """The Index of array ``name`` of ``seg`` (cached per segment).

    Errors: NotFoundError (no such array), InvalidArgumentError (it has no
    index), ClosedError."""
    a = seg._array(name)
    mm = seg._mapping()
    per_seg = _cache.get(seg)
    if per_seg is None:
        per_seg = _cache[seg] = {}
    ix = per_seg.get(name)
    if ix is None:
        if a.index is None:
            raise InvalidArgumentError(
                f"shmarray: invalid argument: array {name!r} of segment {seg.name!r} has no hash "
                f"index; create the segment with index=[{name!r}]")
        ix = per_seg[name] = Index(seg.name, mm, a)
    return ix


def forget(seg) -> None:
    """Drop the cached indexes of a segment being closed (they hold views of
    its mapping; an Index the caller still holds keeps working)."""
    _cache.pop(seg, None)


def lookup(seg, name: str, keys) -> np.ndarray:
    return index_of(seg, name).lookup(keys)


def contains(seg, name: str, keys) -> np.ndarray:
    return index_of(seg, name).contains(keys)


def validate_index(buf, a: F.ArrayDesc) -> None:
    """Full validation step 5 (spec §11.3) of the hash index of ``a``, whose
    other checks passed: no slot names a row past the length
    (OUT_OF_BOUNDS), as many entries as non-null keys (BAD_SIZE), and the
    lookup of each non-null row's key returns that row (another row: the keys
    repeat, DUPLICATE_NAME; none: CHECKSUM_MISMATCH). NumPy only."""
    ix = a.index
    size = len(buf)
    if not (ix.offset <= size and ix.length <= size - ix.offset):
        raise OutOfBoundsError(
            f"array {a.name!r}: index buffer [{ix.offset}, +{ix.length}) is outside the {size}-byte file")
    idx = Index("", buf, a)
    table = idx._table
    n = a.length - a.null_count
    used = 0
    for s in range(0, len(table), _CHUNK):
        t = table[s:s + _CHUNK]
        over = t > a.length
        if over.any():
            j = s + int(np.argmax(over))
            raise OutOfBoundsError(f"array {a.name!r}: index slot {j} names row {int(table[j]) - 1}, "
                                   f"past the array's {a.length} rows")
        used += int(np.count_nonzero(t))
    if used != n:
        raise BadSizeError(f"array {a.name!r}: the index has {used} entries for {n} non-null keys")
    valid = idx._valid_mask()
    offs, data = idx._array_keys()
    for s in range(0, a.length, _CHUNK):
        e = min(s + _CHUNK, a.length)
        rows = np.arange(s, e)
        if valid is not None:
            rows = rows[valid[s:e]]
        if rows.size == 0:
            continue
        got = np.full(len(rows), -1, dtype=np.int64)
        todo = np.arange(len(rows))
        if idx._ints:
            values = np.frombuffer(buf, dtype=_INT_DTYPE[a.type], count=a.length, offset=a.data[0])
            v = values[rows]
            q = v.astype(np.int64).view(np.uint64) if idx._signed_bits else v.astype(np.uint64)
            idx._probe_ints(q, _hash_u64_array(q), todo, got)
        else:
            if idx._fixed:
                qstart = rows.astype(np.int64) * idx._fixed
                qlen = np.full(len(rows), idx._fixed, dtype=np.int64)
            else:
                qstart = offs[rows].astype(np.int64)
                qlen = offs[rows + 1].astype(np.int64) - qstart
            idx._probe_bytes(qstart, qlen, data, _hash_strings(qstart, qlen, data), todo, got)
        wrong = got != rows
        if wrong.any():
            j = int(np.argmax(wrong))
            r, g = int(rows[j]), int(got[j])
            key = _key_text(idx, r)
            if g < 0:
                raise ChecksumMismatchError(
                    f"array {a.name!r}: the index does not find the key {key} of row {r}")
            raise DuplicateNameError(f"array {a.name!r}: key {key} appears at rows {min(r, g)} and "
                                     f"{max(r, g)} (indexed keys must be unique)")


def _key_text(idx: Index, r: int) -> str:
    a = idx._a
    if idx._ints:
        return str(struct.unpack_from(_INT_STRUCT[a.type], idx._mv, a.data[0] + F.TYPES[a.type].width * r)[0])
    if idx._fixed:
        b = bytes(idx._mv[a.data[0] + idx._fixed * r:a.data[0] + idx._fixed * (r + 1)])
    else:
        offs, data = idx._array_keys()
        b = data[int(offs[r]):int(offs[r + 1])].tobytes()
    try:
        text = repr(b.decode("utf-8")) if a.type in (F.UTF8, F.LARGE_UTF8) else repr(b)
    except UnicodeDecodeError:
        text = repr(b)
    return text if len(text) <= 70 else text[:66] + "..."
