"""The segment format, decoded in pure Python (stdlib + NumPy): spec/format-v1.md.

This module is the Python twin of the Go package ``format`` (decode.go,
validate.go). It never calls native code other than NumPy and the standard
library, so it works in any process, including a child forked from a parent
that had loaded the Go runtime (DESIGN.md, decision 4).

* :func:`decode` is the structural validation of spec §11.2: the header, the
  CRC-32 of header and metadata area, and every directory and key/value
  record, in the spec's order with the spec's error codes. It reads the first
  128 bytes and the metadata area only (never a data page), so its cost is
  O(arrays + metadata), whatever the data size.
* :func:`validate_array` is the full validation of spec §11.3 for one array:
  null count against the bitmap, offsets, UTF-8 of string values, data CRC.
  It reads the array's data pages.

Every field is decoded once from a private copy (the 128 header bytes and the
metadata area are copied out of the mapping before any check), so a file
changed by its owner while it is being decoded cannot make a value differ
between its check and its use (spec §15, "double fetch").

Python integers do not overflow; the spec's limits (2^62 slots, 2^63 - 1 bytes
or elements) are applied explicitly wherever Go uses overflow-checked
arithmetic, so both readers reject the same files with the same codes.
"""

from __future__ import annotations

import codecs
import struct
import zlib
from typing import NamedTuple

import numpy as np

from ._errors import (BadOffsetsError, BadShapeError, BadSizeError, BadTypeError, BadUtf8Error,
                      ChecksumMismatchError, DuplicateNameError, MisalignedError, NotASegmentError,
                      NotSealedError, OutOfBoundsError, TruncatedError, UnsupportedVersionError)

# Layout constants of format v1.0 (spec §3-5, §14).
MAGIC = b"SHMARRAY"
MAJOR = 1
HEADER_SIZE = 128
RECORD_SIZE = 192
KV_RECORD_SIZE = 16
ALIGNMENT = 64
MAX_NDIM = 8
MAX_ARRAYS = 1 << 20
MAX_KV = 1 << 20
MAX_NAME_LEN = 1024
MAX_KEY_LEN = 4096
MAX_VALUE_LEN = 1 << 20
MAX_TZ_LEN = 256
MAX_LENGTH = 1 << 62
MAX_SIZE = (1 << 63) - 1  # elements per row, elements per array, bytes per array
CHECKSUM_OFFSET = 120

FLAG_SEALED = 1 << 0
FLAG_EPHEMERAL = 1 << 1
RECORD_FLAG_DATA_CRC = 1 << 0

# Header fields after the 8-byte magic; "4x" are the reserved fields.
_HEADER = struct.Struct("<HHIQIIQQQIIQQQIIqI4xQI4x")
assert 8 + _HEADER.size == HEADER_SIZE
# The 192 bytes of a directory record: bytes 168-186 are the index fields
# of format 1.1 (spec §5.1), reserved in files of minor 0.
_RECORD = struct.Struct("<IIBBBBIIIqqQQQQQQIII4x8qQQBBB5x")
assert _RECORD.size == 192
# Hash indexes (spec §7.8): kind 1, indexable type codes, limit of index_log2.
INDEX_HASH = 1
INDEXABLE = frozenset(range(2, 10)) | frozenset(range(13, 18))
MAX_INDEX_LOG2 = 59
_KV = struct.Struct("<IIII")


class TypeInfo(NamedTuple):
    """One row of the type table of spec §6."""
    code: int
    name: str
    width: int         # bytes per element of the data buffer; 0: bit-packed, variable or fsb
    offset_width: int  # 4 or 8 for the variable-length types, else 0
    numeric: bool      # integers and floats: may be N-D
    timed: bool        # timestamp and duration carry a time unit
    numpy: str | None  # little-endian NumPy dtype of seg[col], unit-less for timed types


_TYPE_ROWS = [
    TypeInfo(1, "bool", 0, 0, False, False, "bool"),
    TypeInfo(2, "int8", 1, 0, True, False, "i1"),
    TypeInfo(3, "uint8", 1, 0, True, False, "u1"),
    TypeInfo(4, "int16", 2, 0, True, False, "<i2"),
    TypeInfo(5, "uint16", 2, 0, True, False, "<u2"),
    TypeInfo(6, "int32", 4, 0, True, False, "<i4"),
    TypeInfo(7, "uint32", 4, 0, True, False, "<u4"),
    TypeInfo(8, "int64", 8, 0, True, False, "<i8"),
    TypeInfo(9, "uint64", 8, 0, True, False, "<u8"),
    TypeInfo(10, "float16", 2, 0, True, False, "<f2"),
    TypeInfo(11, "float32", 4, 0, True, False, "<f4"),
    TypeInfo(12, "float64", 8, 0, True, False, "<f8"),
    TypeInfo(13, "utf8", 0, 4, False, False, None),
    TypeInfo(14, "large_utf8", 0, 8, False, False, None),
    TypeInfo(15, "binary", 0, 4, False, False, None),
    TypeInfo(16, "large_binary", 0, 8, False, False, None),
    TypeInfo(17, "fixed_size_binary", 0, 0, False, False, "S"),
    TypeInfo(18, "date32", 4, 0, False, False, "<M8[D]"),
    TypeInfo(19, "date64", 8, 0, False, False, "<M8[ms]"),
    TypeInfo(20, "timestamp", 8, 0, False, True, "<M8"),
    TypeInfo(21, "duration", 8, 0, False, True, "<m8"),
]
TYPES: list[TypeInfo | None] = [None] * 22
for _t in _TYPE_ROWS:
    TYPES[_t.code] = _t
TYPES_BY_NAME = {t.name: t for t in _TYPE_ROWS}

BOOL, UTF8, LARGE_UTF8, BINARY, LARGE_BINARY = 1, 13, 14, 15, 16
FIXED_SIZE_BINARY, DATE32, DATE64, TIMESTAMP, DURATION = 17, 18, 19, 20, 21
UNITS = ("s", "ms", "us", "ns")


class Header(NamedTuple):
    """The decoded 128-byte header (spec §4), magic excluded."""
    major: int
    minor: int
    header_size: int
    file_size: int
    flags: int
    array_count: int
    meta_offset: int
    meta_length: int
    directory_offset: int
    record_size: int
    kv_count: int
    kv_offset: int
    strtab_offset: int
    strtab_length: int
    seg_kv_first: int
    seg_kv_count: int
    created_ns: int
    creator_pid: int
    creator_start: int
    checksum: int

    @property
    def sealed(self) -> bool:
        return bool(self.flags & FLAG_SEALED)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & FLAG_EPHEMERAL)


class ArrayDesc:
    """One checked directory record: an array's type, shape and buffers.

    Buffers are ``(offset, length)`` pairs of absolute file offsets; a
    zero-length buffer is absent. After :func:`decode` every non-empty buffer
    is known to lie inside the data area and to be long enough for the
    array's length (offsets and string data excepted: see validate_array).
    """

    __slots__ = ("name", "type", "unit", "timezone", "byte_width", "length", "null_count",
                 "shape", "validity", "offsets", "data", "metadata", "has_data_crc", "data_crc",
                 "index")

    name: str
    type: int
    unit: int
    timezone: str | None
    byte_width: int
    length: int
    null_count: int
    shape: tuple
    validity: tuple
    offsets: tuple
    data: tuple
    metadata: dict
    has_data_crc: bool
    data_crc: int
    index: "IndexDesc | None"  # the hash index (format 1.1), or None

    @property
    def info(self) -> TypeInfo:
        return TYPES[self.type]

    @property
    def type_name(self) -> str:
        return TYPES[self.type].name

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def row_elems(self) -> int:
        """Elements per slot: the product of shape[1:] (1 for a plain array)."""
        n = 1
        for d in self.shape[1:]:
            n *= d
        return n

    @property
    def elem_width(self) -> int:
        """Bytes per element of the data buffer (0 for bool and variable-length types)."""
        return self.byte_width if self.type == FIXED_SIZE_BINARY else TYPES[self.type].width

    def __repr__(self) -> str:
        return (f"ArrayDesc({self.name!r}, {self.type_name}, shape={self.shape}, "
                f"null_count={self.null_count}, validity={self.validity}, "
                f"offsets={self.offsets}, data={self.data})")


class IndexDesc(NamedTuple):
    """Where an array's hash index is (spec §7.8): 2^log2 slots of slot_width bytes
    at file offset ``offset``, in a buffer of ``length`` bytes (checked at decode)."""
    slot_width: int
    log2: int
    offset: int
    length: int

    @property
    def slots(self) -> int:
        return 1 << self.log2


class DecodedSegment(NamedTuple):
    """The result of :func:`decode`: header, arrays in directory order, metadata."""
    header: Header
    arrays: list
    by_name: dict
    metadata: dict


def _within(off: int, n: int, lo: int, hi: int) -> bool:
    """Whether the range (off, n) lies inside [lo, hi) in the sense of spec §1.2."""
    return lo <= off <= hi and n <= hi - off


def read_header(buf) -> Header:
    """Decode the header at the start of ``buf`` (a bytes-like object: the file).

    Checks only what it must to decode the fields, in the order of spec
    §11.2 steps 1-3: the magic (NOT_A_SEGMENT), the version fields being
    present (TRUNCATED), the major version (UNSUPPORTED_VERSION), a whole
    128-byte header (TRUNCATED). Enough for listing; :func:`decode` does the rest.

    >>> read_header(b"NOTASEGMENT")
    Traceback (most recent call last):
      ...
    shmarray.NotASegmentError: the file does not start with the magic b'SHMARRAY'
    """
    return _read_header(buf)[0]


def _read_header(buf) -> tuple[Header, bytes]:
    """read_header, also returning the private copy of the header bytes it decoded."""
    n = len(buf)
    raw = bytes(buf[0:min(n, HEADER_SIZE)])  # the one read of these bytes
    if n < len(MAGIC) or raw[0:8] != MAGIC:
        raise NotASegmentError(f"the file does not start with the magic {MAGIC!r}")
    if n < 12:
        raise TruncatedError(f"file is {n} bytes, shorter than the {HEADER_SIZE}-byte header")
    major, minor = struct.unpack_from("<HH", raw, 8)
    if major != MAJOR:
        raise UnsupportedVersionError(
            f"segment has format version {major}.{minor}, this reader supports {MAJOR}.x "
            "(upgrade shmarray to read it)")
    if n < HEADER_SIZE:
        raise TruncatedError(f"file is {n} bytes, shorter than the {HEADER_SIZE}-byte header")
    return Header._make(_HEADER.unpack_from(raw, 8)), raw


def header_checksum(header_bytes: bytes, extra_header, meta) -> int:
    """CRC-32 of spec §9.2: header bytes [0, 128) with [120, 124) as zero, then
    the header bytes [128, header_size) (``extra_header``), then the metadata area."""
    c = zlib.crc32(header_bytes[:CHECKSUM_OFFSET])
    c = zlib.crc32(b"\0\0\0\0", c)
    c = zlib.crc32(header_bytes[CHECKSUM_OFFSET + 4:HEADER_SIZE], c)
    if extra_header is not None:
        c = zlib.crc32(extra_header, c)
    return zlib.crc32(meta, c)


def decode(buf) -> DecodedSegment:
    """Structural validation of spec §11.2 over ``buf``, the whole file.

    ``buf`` is any bytes-like object whose length is the file's length (an
    ``mmap``, ``bytes``...). Returns the decoded segment; raises the
    exception of the first failing check, in the spec's order. Never reads a
    byte of the data area.

    >>> decode(b"SHMARRAY" + bytes([2, 0, 0, 0]))
    Traceback (most recent call last):
      ...
    shmarray.UnsupportedVersionError: segment has format version 2.0, this reader supports 1.x (upgrade shmarray to read it)
    """
    size = len(buf)
    h, raw = _read_header(buf)  # raw: the private copy the fields were decoded from
    if h.header_size < HEADER_SIZE:
        raise BadSizeError(f"header_size is {h.header_size}, at least {HEADER_SIZE} expected")
    if size < h.header_size:
        raise TruncatedError(
            f"file is {size} bytes, shorter than its {h.header_size}-byte header")
    if size < h.file_size:
        raise TruncatedError(f"file is {size} bytes but its header says {h.file_size}")
    if not h.flags & FLAG_SEALED:
        raise NotSealedError("the writer did not finish this segment")
    mo, ml = h.meta_offset, h.meta_length
    if mo % ALIGNMENT:
        raise MisalignedError(f"metadata area offset {mo} is not a multiple of {ALIGNMENT}")
    if not _within(mo, ml, h.header_size, h.file_size):
        raise OutOfBoundsError(
            f"metadata area [{mo}, +{ml}) is outside [{h.header_size}, {h.file_size})")
    meta = bytes(buf[mo:mo + ml])  # private copy, checksummed and decoded from here on
    if h.header_size > HEADER_SIZE:
        with memoryview(buf) as mv:
            crc = header_checksum(raw, mv[HEADER_SIZE:h.header_size], meta)
    else:
        crc = header_checksum(raw, None, meta)
    if crc != h.checksum:
        raise ChecksumMismatchError(
            f"header and metadata CRC-32 is {crc:08x}, the header says {h.checksum:08x}")
    return _Decoder(h, meta).decode()


class _Decoder:
    """Decodes the tables of a metadata area already checksummed (steps 8-10)."""

    __slots__ = ("h", "meta", "st_base", "st_len", "st_used", "kv_base", "claimed")

    def __init__(self, h: Header, meta: bytes):
        self.h = h
        self.meta = meta
        self.claimed: bytearray | None = None  # per kv record: 1 once in some owner's range
        self.st_used = 0  # total length of the string references checked so far (spec §5.3)

    def decode(self) -> DecodedSegment:
        h = self.h
        mo = h.meta_offset
        me = mo + h.meta_length
        if h.record_size < RECORD_SIZE:
            raise BadSizeError(f"record_size is {h.record_size}, at least {RECORD_SIZE} expected")
        if h.array_count > MAX_ARRAYS:
            raise BadSizeError(f"array_count {h.array_count} exceeds the limit {MAX_ARRAYS}")
        if h.kv_count > MAX_KV:
            raise BadSizeError(f"kv_count {h.kv_count} exceeds the limit {MAX_KV}")
        dir_len = h.array_count * h.record_size
        if not _within(h.directory_offset, dir_len, mo, me):
            raise OutOfBoundsError(
                f"directory [{h.directory_offset}, +{dir_len}) is outside the metadata area")
        kv_len = h.kv_count * KV_RECORD_SIZE
        if not _within(h.kv_offset, kv_len, mo, me):
            raise OutOfBoundsError(
                f"key/value table [{h.kv_offset}, +{kv_len}) is outside the metadata area")
        if not _within(h.strtab_offset, h.strtab_length, mo, me):
            raise OutOfBoundsError(
                f"string table [{h.strtab_offset}, +{h.strtab_length}) is outside the metadata area")
        self.st_base = h.strtab_offset - mo
        self.st_len = h.strtab_length
        self.kv_base = h.kv_offset - mo

        arrays: list[ArrayDesc] = []
        by_name: dict[str, int] = {}
        base = h.directory_offset - mo
        rs = h.record_size
        unpack = _RECORD.unpack_from
        meta = self.meta
        for i in range(h.array_count):
            try:
                a = self._array(unpack(meta, base + i * rs))
            except _INVALID as e:
                raise type(e)(f"array {i}: {e}") from None
            j = by_name.get(a.name)
            if j is not None:
                raise DuplicateNameError(f"arrays {j} and {i} are both called {a.name!r}")
            by_name[a.name] = i
            arrays.append(a)
        try:
            md = self._kv_range(h.seg_kv_first, h.seg_kv_count)
        except _INVALID as e:
            raise type(e)(f"segment metadata: {e}") from None
        return DecodedSegment(h, arrays, by_name, md)

    def _text(self, what: str, off: int, n: int, lo: int, hi: int) -> str:
        """A string of the string table: in range, lo..hi bytes, UTF-8 without NUL.

        References may overlap, but their lengths, summed in the order of spec
        §11.2, must not exceed the table (spec §5.3): the first one past it is
        BAD_SIZE, right after its range check. So the bytes attach decodes are
        bounded by the string table, whatever a hostile file claims.
        """
        if not (off <= self.st_len and n <= self.st_len - off):
            raise OutOfBoundsError(
                f"{what} [{off}, +{n}) is outside the {self.st_len}-byte string table")
        self.st_used += n
        if self.st_used > self.st_len:
            raise BadSizeError(
                f"{what} takes the referenced strings to {self.st_used} bytes, "
                f"more than the {self.st_len}-byte string table")
        if n < lo or n > hi:
            raise BadSizeError(f"{what} is {n} bytes, expected {lo} to {hi}")
        start = self.st_base + off
        raw = self.meta[start:start + n]
        if b"\0" in raw:
            raise BadUtf8Error(f"{what} is not UTF-8 text without NUL")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BadUtf8Error(f"{what} is not UTF-8 text without NUL") from None

    def _array(self, r: tuple) -> ArrayDesc:
        """Steps 9.1-9.6 for one raw record; the caller does 9.7 (duplicates)."""
        (name_off, name_len, typ, ndim, unit, flags, byte_width, tz_off, tz_len,
         length, null_count, v_off, v_len, o_off, o_len, d_off, d_len,
         kv_first, kv_count, data_crc) = r[:20]
        shape = r[20:28]
        ix_off, ix_len, ix_kind, ix_width, ix_log2 = r[28:]
        # 9.1 name
        name = self._text("name", name_off, name_len, 1, MAX_NAME_LEN)
        try:
            # 9.2 type (the first test is the common case: nothing to check)
            t = TYPES[typ] if typ < 22 else None
            if t is None:
                raise BadTypeError(f"unknown type code {typ}")
            tz = None
            if unit or byte_width or tz_len or typ == FIXED_SIZE_BINARY:
                tz = self._type_params(t, unit, byte_width, tz_off, tz_len)
            # 9.3 shape, length, null count
            if ndim == 0 or ndim > MAX_NDIM:
                raise BadShapeError(f"ndim {ndim} is not in [1, {MAX_NDIM}]")
            if ndim > 1 and not t.numeric:
                raise BadShapeError(f"type {t.name} cannot have {ndim} dimensions; "
                                    "only integer and float arrays are N-D")
            if length < 0 or length > MAX_LENGTH:
                raise BadSizeError(f"length {length} is not in [0, 2^62]")
            if null_count < 0 or null_count > length:
                raise BadSizeError(f"null_count {null_count} is not in [0, length {length}]")
            if shape[0] != length:
                raise BadShapeError(f"shape[0] is {shape[0]} but length is {length}")
            if any(shape[ndim:]):
                k = next(k for k in range(ndim, MAX_NDIM) if shape[k])
                raise BadShapeError(
                    f"shape[{k}] is {shape[k]} past ndim {ndim}; unused entries must be zero")
            if ndim > 1:
                for k in range(1, ndim):
                    if shape[k] < 0:
                        raise BadShapeError(f"shape[{k}] is {shape[k]}")
            # 9.4 buffer placement: aligned, then inside the data area [lo, hi)
            lo = self.h.header_size
            hi = self.h.meta_offset
            if v_len:
                _place("validity", v_off, v_len, lo, hi)
            if o_len:
                _place("offsets", o_off, o_len, lo, hi)
            if d_len:
                _place("data", d_off, d_len, lo, hi)
            # 9.5 sizes
            if null_count > 0 and v_len == 0:
                raise BadSizeError(f"null_count is {null_count} but there is no validity bitmap")
            bm = (length + 7) >> 3
            if v_len != 0 and v_len < bm:
                raise BadSizeError(f"validity bitmap is {v_len} bytes, {length} slots need {bm}")
            ow = t.offset_width
            if typ == BOOL:
                need = bm
            elif ow:
                need = 0
            else:
                row = 1
                for k in range(1, ndim):
                    row *= shape[k]
                    if row > MAX_SIZE:
                        raise BadSizeError(f"length {length} × shape × width overflows")
                elems = length * row
                need = elems * (byte_width if typ == FIXED_SIZE_BINARY else t.width)
                if elems > MAX_SIZE or need > MAX_SIZE:
                    raise BadSizeError(f"length {length} × shape × width overflows")
            if d_len < need:
                raise BadSizeError(f"data buffer is {d_len} bytes, {length} slots need {need}")
            if ow:
                need_off = (length + 1) * ow
                if o_len < need_off and not (length == 0 and o_len == 0):
                    raise BadSizeError(
                        f"offsets buffer is {o_len} bytes, {length} slots need {need_off}")
            elif o_len != 0:
                raise BadSizeError(
                    f"type {t.name} has no offsets but the offsets buffer is {o_len} bytes")
            # 9.5a index: only from minor 1 on, and only a kind we know (spec §5.1)
            index = None
            if ix_kind == INDEX_HASH and self.h.minor >= 1:
                index = _check_index(t, ndim, length, null_count, ix_off, ix_len, ix_width,
                                     ix_log2, lo, hi)
            # 9.6 array metadata
            md = {}
            if kv_count:
                try:
                    md = self._kv_range(kv_first, kv_count)
                except _INVALID as e:
                    raise type(e)(f"metadata: {e}") from None
        except _INVALID as e:
            raise type(e)(f"{name!r}: {e}") from None
        a = _new_desc(ArrayDesc)
        a.name = name
        a.type = typ
        a.unit = unit
        a.timezone = tz
        a.byte_width = byte_width
        a.length = length
        a.null_count = null_count
        a.shape = tuple(shape[:ndim])
        a.validity = (v_off, v_len)
        a.offsets = (o_off, o_len)
        a.data = (d_off, d_len)
        a.metadata = md
        a.has_data_crc = bool(flags & RECORD_FLAG_DATA_CRC)
        a.data_crc = data_crc
        a.index = index
        return a

    def _type_params(self, t: TypeInfo, unit: int, byte_width: int, tz_off: int,
                     tz_len: int) -> str | None:
        """Step 9.2 after the type code: time unit, byte width, time zone."""
        if t.timed:
            if unit > 3:
                raise BadTypeError(f"time unit {unit} is not one of 0 (s), 1 (ms), 2 (us), 3 (ns)")
        elif unit != 0:
            raise BadTypeError(f"type {t.name} has time unit {unit}, expected 0")
        if t.code == FIXED_SIZE_BINARY:
            if byte_width == 0 or byte_width > 0x7FFFFFFF:
                raise BadTypeError(
                    f"fixed_size_binary byte width {byte_width} is not in [1, 2^31)")
        elif byte_width != 0:
            raise BadTypeError(f"type {t.name} has byte width {byte_width}, expected 0")
        if tz_len == 0:
            return None
        if t.code != TIMESTAMP:
            raise BadTypeError(f"type {t.name} carries a time zone; only timestamp may")
        return self._text("time zone", tz_off, tz_len, 1, MAX_TZ_LEN)

    def _kv_range(self, first: int, count: int) -> dict:
        """Records [first, first + count) of the key/value table (spec §11.2.1)."""
        if count == 0:
            return {}
        if first + count > self.h.kv_count:
            raise OutOfBoundsError(
                f"key/value records [{first}, +{count}) exceed kv_count {self.h.kv_count}")
        # A record belongs to one owner at most (spec §5.2): arrays 0, 1, ..., then
        # the segment claim their whole range before its records are checked.
        claimed = self.claimed
        if claimed is None:
            claimed = self.claimed = bytearray(self.h.kv_count)
        j = claimed.find(1, first, first + count)
        if j >= 0:
            raise OutOfBoundsError(
                f"key/value record {j} already belongs to another array or the segment")
        claimed[first:first + count] = b"\1" * count
        out: dict[str, str] = {}
        unpack = _KV.unpack_from
        for j in range(first, first + count):
            k_off, k_len, v_off, v_len = unpack(self.meta, self.kv_base + j * KV_RECORD_SIZE)
            k = self._text("metadata key", k_off, k_len, 1, MAX_KEY_LEN)
            v = self._text("metadata value", v_off, v_len, 0, MAX_VALUE_LEN)
            if k in out:
                raise DuplicateNameError(f"metadata key {k!r} appears twice")
            out[k] = v
        return out


def _place(what: str, off: int, n: int, lo: int, hi: int) -> None:
    """Step 9.4 for one non-empty buffer: aligned (MISALIGNED), inside [lo, hi) (OUT_OF_BOUNDS)."""
    if off % ALIGNMENT:
        raise MisalignedError(f"{what} buffer offset {off} is not a multiple of {ALIGNMENT}")
    if not (lo <= off <= hi and n <= hi - off):
        raise OutOfBoundsError(
            f"{what} buffer [{off}, +{n}) is outside the data area [{lo}, {hi})")


def _check_index(t: TypeInfo, ndim: int, length: int, null_count: int, off: int, n: int,
                 width: int, log2: int, lo: int, hi: int) -> IndexDesc:
    """Step 9.5a for a record with index_kind 1 in a file of minor >= 1."""
    if t.code not in INDEXABLE or ndim != 1:
        raise BadTypeError(f"a {t.name} array of {ndim} dimensions cannot have a hash index")
    if n:
        if off % ALIGNMENT:
            raise MisalignedError(f"index buffer offset {off} is not a multiple of {ALIGNMENT}")
        if not (lo <= off <= hi and n <= hi - off):
            raise OutOfBoundsError(
                f"index buffer [{off}, +{n}) is outside the data area [{lo}, {hi})")
    keys = length - null_count
    if width not in (4, 8):
        raise BadSizeError(f"index slot width is {width}, must be 4 or 8")
    if log2 > MAX_INDEX_LOG2:
        raise BadSizeError(f"index_log2 is {log2}, at most {MAX_INDEX_LOG2}")
    if width == 4 and length > 0xFFFFFFFF:
        raise BadSizeError(f"index slots of 4 bytes cannot name the rows of a {length}-row array")
    if (1 << log2) < 2 * keys:
        raise BadSizeError(f"index of 2^{log2} slots is more than half full with {keys} keys")
    if n < (1 << log2) * width:
        raise BadSizeError(f"index buffer is {n} bytes, 2^{log2} slots of {width} bytes need "
                           f"{(1 << log2) * width}")
    return IndexDesc(width, log2, off, n)


_new_desc = object.__new__

_INVALID = (BadOffsetsError, BadShapeError, BadSizeError, BadTypeError, BadUtf8Error,
            ChecksumMismatchError, DuplicateNameError, MisalignedError, OutOfBoundsError)

# ---------------------------------------------------------------------------
# Full validation (spec §11.3)

_CHUNK = 1 << 22  # elements per step: bounds the temporary memory of each check
_HAS_BITWISE_COUNT = hasattr(np, "bitwise_count")  # NumPy >= 2.0
_POP8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def _popcount(chunk: np.ndarray) -> int:
    if _HAS_BITWISE_COUNT:
        return int(np.bitwise_count(chunk).sum(dtype=np.int64))
    return int(_POP8[chunk.view(np.uint8)].sum(dtype=np.int64))


def count_valid(buf, offset: int, n: int) -> int:
    """Number of 1 bits among the first ``n`` bits (LSB first) of the bitmap at ``offset``."""
    full, rem = divmod(n, 8)
    if full + (1 if rem else 0) == 0:
        return 0
    bm = np.frombuffer(buf, np.uint8, count=full + (1 if rem else 0), offset=offset)
    total = 0
    words = full // 8
    if words:
        w = bm[:words * 8].view("<u8")
        for s in range(0, words, _CHUNK):
            total += _popcount(w[s:s + _CHUNK])
    for s in range(words * 8, full, _CHUNK):
        total += _popcount(bm[s:min(s + _CHUNK, full)])
    if rem:
        total += bin(int(bm[full]) & ((1 << rem) - 1)).count("1")
    return total


def offsets_view(buf, a: ArrayDesc) -> np.ndarray | None:
    """The ``length + 1`` offsets of a variable-length array as a NumPy view,
    or None when the array is empty and stores no offsets."""
    if a.length == 0 and a.offsets[1] == 0:
        return None
    dt = "<i4" if TYPES[a.type].offset_width == 4 else "<i8"
    return np.frombuffer(buf, dt, count=a.length + 1, offset=a.offsets[0])


def check_offsets(buf, a: ArrayDesc) -> int:
    """Full-validation step 2 for one variable-length array: offsets[0] == 0,
    every entry in [0, data_length] and non-decreasing (BAD_OFFSETS). Entries
    are signed (int32 sign-extended). Returns offsets[length] (0 if none)."""
    offs = offsets_view(buf, a)
    if offs is None:
        return 0
    first = int(offs[0])
    if first != 0:
        raise BadOffsetsError(f"array {a.name!r}: offsets[0] is {first}, must be 0")
    dl = a.data[1]
    limit = min(dl, int(np.iinfo(offs.dtype).max))  # comparisons stay in the dtype's range
    n = a.length
    for s in range(1, n + 1, _CHUNK):
        e = min(s + _CHUNK, n + 1)
        cur = offs[s:e]
        prev = offs[s - 1:e - 1]
        bad = (cur < 0) | (cur > limit) | (cur < prev)
        if bad.any():
            i = s + int(np.argmax(bad))
            v, p = int(offs[i]), int(offs[i - 1])
            if v < 0 or v > dl:
                raise BadOffsetsError(
                    f"array {a.name!r}: offsets[{i}] is {v}, beyond the {dl}-byte data buffer")
            raise BadOffsetsError(
                f"array {a.name!r}: offsets[{i}] = {v} is less than offsets[{i - 1}] = {p}")
    return int(offs[n])


def _is_ascii(data: np.ndarray) -> bool:
    for s in range(0, len(data), _CHUNK):
        if int(data[s:s + _CHUNK].max()) >= 0x80:
            return False
    return True


def check_utf8(buf, a: ArrayDesc, last: int) -> None:
    """Full-validation step 3 for a utf8/large_utf8 array whose offsets passed
    :func:`check_offsets`: each value, on its own, is valid UTF-8 (BAD_UTF8).

    Fast paths: all-ASCII data passes at once; otherwise the whole data is
    decoded incrementally and every value boundary checked to fall on a
    character start (a valid stream cut only at character starts gives valid
    pieces). Only when that fails are values decoded one by one, to name the
    first bad one."""
    if last == 0:
        return
    data = np.frombuffer(buf, np.uint8, count=last, offset=a.data[0])
    if _is_ascii(data):
        return
    ok = True
    dec = codecs.getincrementaldecoder("utf-8")("strict")
    try:
        for s in range(0, last, _CHUNK):
            dec.decode(data[s:s + _CHUNK].tobytes())
        dec.decode(b"", True)
    except UnicodeDecodeError:
        ok = False
    offs = offsets_view(buf, a)
    n = a.length
    if ok:
        for s in range(1, n, _CHUNK):
            inner = offs[s:min(s + _CHUNK, n)]
            inner = inner[inner < last]
            if inner.size and ((data[inner] & 0xC0) == 0x80).any():
                ok = False
                break
    if ok:
        return
    with memoryview(data) as mv:
        for s in range(0, n, _CHUNK):
            bounds = offs[s:min(s + _CHUNK, n) + 1].tolist()
            for k in range(len(bounds) - 1):
                try:
                    str(mv[bounds[k]:bounds[k + 1]], "utf-8")
                except UnicodeDecodeError:
                    raise BadUtf8Error(
                        f"array {a.name!r}: value {s + k} is not valid UTF-8") from None
    raise BadUtf8Error(f"array {a.name!r}: a value is not valid UTF-8")  # not reached


def data_crc(buf, a: ArrayDesc) -> int:
    """CRC-32 of spec §9.3 over the validity, offsets and data bytes of ``a``."""
    c = 0
    with memoryview(buf) as mv:
        for off, n in (a.validity, a.offsets, a.data):
            if n:
                c = zlib.crc32(mv[off:off + n], c)
    return c


def validate_array(buf, a: ArrayDesc) -> None:
    """Full validation (spec §11.3) of one array decoded from ``buf``, in order:
    null count against the bitmap (BAD_SIZE), offsets (BAD_OFFSETS), UTF-8 of
    utf8/large_utf8 values (BAD_UTF8), data CRC when recorded (CHECKSUM_MISMATCH),
    the hash index if any (step 5, see :func:`._index.validate_index`).
    Reads every byte of the array's buffers."""
    size = len(buf)
    for off, n in (a.validity, a.offsets, a.data):
        if n and not _within(off, n, 0, size):
            raise OutOfBoundsError(
                f"array {a.name!r}: buffer [{off}, +{n}) is outside the {size}-byte file")
    if a.validity[1]:
        nulls = a.length - count_valid(buf, a.validity[0], a.length)
        if nulls != a.null_count:
            raise BadSizeError(f"array {a.name!r}: null_count is {a.null_count} "
                               f"but the bitmap has {nulls} nulls")
    if TYPES[a.type].offset_width:
        last = check_offsets(buf, a)
        if a.type in (UTF8, LARGE_UTF8):
            check_utf8(buf, a, last)
    if a.has_data_crc:
        c = data_crc(buf, a)
        if c != a.data_crc:
            raise ChecksumMismatchError(
                f"array {a.name!r}: data CRC-32 is {c:08x}, the record says {a.data_crc:08x}")
    if a.index is not None:
        from . import _index  # step 5 (format 1.1): NumPy only, like the rest of this module
        _index.validate_index(buf, a)


def validate(buf, seg: DecodedSegment) -> None:
    """Full validation of every array of ``seg`` (decoded from ``buf``), in directory order."""
    for a in seg.arrays:
        validate_array(buf, a)
