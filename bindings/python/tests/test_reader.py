"""Tests of the read path (the C core through shmarray._native): attach,
views, Arrow export, listing, unlinking.

The segments come from the Go reference writer (tests/gen, built once per
session), so these tests depend neither on the Python writer nor on
hand-made files; the same program checks files with the Go reference reader,
so every corrupted file is also a comparison with Go of the error code and
of the message text (spec §13: the same text in every language).

Run from the repository root:
    PYTHONPATH=bindings/python python -m pytest bindings/python/tests/test_reader.py
"""

from __future__ import annotations

import doctest
import gc
import math
import multiprocessing
import os
import pickle
import random
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

import shmarray
from conftest import go_program  # noqa: E402
from shmarray import _native, _segment
import pools


# ---------------------------------------------------------------------------
# Fixtures: the Go generator and its segments


@pytest.fixture(scope="session")
def gen(tmp_path_factory) -> Path:
    """The Go program of tests/gen, built once."""
    return Path(go_program(tmp_path_factory, "./bindings/python/tests/gen", "gen"))


@pytest.fixture(scope="session")
def segdir(gen, tmp_path_factory) -> str:
    """A directory holding the segments documented in tests/gen/main.go."""
    d = tmp_path_factory.mktemp("segments")
    subprocess.run([str(gen), "write", str(d)], check=True)
    return str(d)


def go_verdicts(gen: Path, paths: list) -> list[tuple[str, str]]:
    """The Go reference reader's verdict (attach, then full validation) per
    file: (code name, message)."""
    out = subprocess.run([str(gen), "check"], input="\n".join(map(str, paths)) + "\n",
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert len(out) == len(paths)
    return [tuple(line.split("\t", 1)) for line in out]


def go_codes(gen: Path, paths: list) -> list[str]:
    return [code for code, _ in go_verdicts(gen, paths)]


def py_verdict(name: str, d) -> tuple[str, str]:
    """This reader's verdict: attach, then full validation; the message without
    the prefix naming the segment, which Go's format.Decode does not know."""
    try:
        with shmarray.attach(name, dir=d) as seg:
            seg.validate()
    except shmarray.ShmarrayError as e:
        msg = str(e)
        for prefix in (f'segment "{name}" ({os.path.join(d, name)}): ', f'segment "{name}": '):
            msg = msg.replace(prefix, "", 1)
        return e.code_name, msg
    return "OK", ""


def py_code(name: str, d) -> str:
    return py_verdict(name, d)[0]


def raw(segdir: str, name: str) -> bytearray:
    return bytearray(Path(segdir, name).read_bytes())


# ---------------------------------------------------------------------------
# Editing segment bytes

H_MAJOR, H_HEADER_SIZE, H_FILE_SIZE, H_FLAGS, H_ARRAY_COUNT = 8, 12, 16, 24, 28
H_META_OFFSET, H_META_LENGTH, H_DIR_OFFSET, H_RECORD_SIZE, H_KV_COUNT = 32, 40, 48, 56, 60
H_KV_OFFSET, H_STRTAB_OFFSET, H_STRTAB_LENGTH, H_SEG_KV_FIRST, H_SEG_KV_COUNT = 64, 72, 80, 88, 92
H_CREATOR_PID, H_CREATOR_START, H_CHECKSUM = 104, 112, 120
R_NAME_OFF, R_NAME_LEN, R_TYPE, R_NDIM, R_UNIT, R_FLAGS, R_BYTE_WIDTH = 0, 4, 8, 9, 10, 11, 12
R_TZ_OFF, R_TZ_LEN, R_LENGTH, R_NULL_COUNT, R_V_OFF, R_V_LEN = 16, 20, 24, 32, 40, 48
R_O_OFF, R_O_LEN, R_D_OFF, R_D_LEN, R_KV_FIRST, R_KV_COUNT, R_SHAPE = 56, 64, 72, 80, 88, 92, 104
FIELD_FMT = {H_MAJOR: "H", H_HEADER_SIZE: "I", H_FILE_SIZE: "Q", H_FLAGS: "I", H_ARRAY_COUNT: "I",
             H_META_OFFSET: "Q", H_META_LENGTH: "Q", H_DIR_OFFSET: "Q", H_RECORD_SIZE: "I",
             H_KV_COUNT: "I", H_KV_OFFSET: "Q", H_STRTAB_OFFSET: "Q", H_STRTAB_LENGTH: "Q",
             H_SEG_KV_FIRST: "I", H_SEG_KV_COUNT: "I", H_CREATOR_PID: "I", H_CREATOR_START: "Q"}


class Raw:
    """A segment's bytes with field accessors, so a test can break one thing."""

    def __init__(self, b: bytearray):
        self.b = b

    def get(self, off: int, fmt: str) -> int:
        return struct.unpack_from("<" + fmt, self.b, off)[0]

    def put(self, off: int, fmt: str, v: int) -> None:
        struct.pack_into("<" + fmt, self.b, off, v)

    def h(self, off: int, v: int | None = None) -> int:
        if v is not None:
            self.put(off, FIELD_FMT[off], v)
        return self.get(off, FIELD_FMT[off])

    def rec(self, i: int) -> int:
        return self.get(H_DIR_OFFSET, "Q") + i * self.get(H_RECORD_SIZE, "I")

    def r(self, i: int, field: int, fmt: str, v: int | None = None) -> int:
        if v is not None:
            self.put(self.rec(i) + field, fmt, v)
        return self.get(self.rec(i) + field, fmt)

    def kv(self, j: int) -> int:
        return self.get(H_KV_OFFSET, "Q") + 16 * j

    def strtab(self) -> int:
        return self.get(H_STRTAB_OFFSET, "Q")

    def reseal(self) -> None:
        """Recompute the header checksum (spec §9.2), where the header allows it."""
        b = self.b
        if len(b) < 128:
            return
        hs, mo, ml = self.get(12, "I"), self.get(32, "Q"), self.get(40, "Q")
        if hs < 128 or hs > len(b) or mo + ml > len(b):
            return
        head = bytearray(b[:hs])
        head[120:124] = b"\0\0\0\0"
        self.put(H_CHECKSUM, "I", zlib.crc32(bytes(b[mo:mo + ml]), zlib.crc32(bytes(head))))


def write(d, name: str, data) -> str:
    p = os.path.join(d, name)
    with open(p, "wb") as f:
        f.write(bytes(data))
    return p


# ---------------------------------------------------------------------------
# Structural validation: one corrupted copy of "basic" per check (spec §11.2)
#
# "basic": x int64 [1 2 3] (metadata k, unit: kv records 0-1), f float64,
# s utf8 ["a" null "ç"] with validity; segment metadata kv records 2-3.
# Each case breaks one thing and, unless reseal is False, recomputes the
# checksum so that the intended check is the first to fail.


def _trunc(n):
    def f(r):
        r.b = r.b[:n] if n >= 0 else r.b[:len(r.b) + n]
    return f


def _name_byte(i: int, value: int):
    def f(r):
        r.b[r.strtab() + r.r(i, R_NAME_OFF, "I")] = value
    return f


def _dup_name(r):
    r.r(1, R_NAME_OFF, "I", r.r(0, R_NAME_OFF, "I"))
    r.r(1, R_NAME_LEN, "I", r.r(0, R_NAME_LEN, "I"))


def _dup_name_bad_type(r):
    _dup_name(r)
    r.r(1, R_TYPE, "B", 99)


def _dup_key(r):
    for f in (0, 4):
        r.put(r.kv(1) + f, "I", r.get(r.kv(0) + f, "I"))


def _set(*edits):
    """A mutation from (kind, index, field, fmt, value) edits; kind 'h' or 'r'."""
    def f(r):
        for e in edits:
            if e[0] == "h":
                r.h(e[1], e[2])
            else:
                r.r(e[1], e[2], e[3], e[4])
    return f


def _misaligned_meta(r):
    r.h(H_META_OFFSET, r.h(H_META_OFFSET) + 8)


def _meta_past_file(r):
    r.h(H_META_LENGTH, r.h(H_META_LENGTH) + 1)


def _dir_outside(r):
    r.h(H_DIR_OFFSET, r.h(H_META_OFFSET) + r.h(H_META_LENGTH) - 100)


def _strtab_outside(r):
    r.h(H_STRTAB_LENGTH, r.h(H_STRTAB_LENGTH) + 1)


def _kv_outside(r):
    r.h(H_KV_OFFSET, r.h(H_META_OFFSET) + r.h(H_META_LENGTH))


def _data_misaligned(r):
    r.r(0, R_D_OFF, "Q", r.r(0, R_D_OFF, "Q") + 8)


def _data_outside(r):
    r.r(0, R_D_OFF, "Q", r.h(H_META_OFFSET))


def _validity_misaligned(r):
    r.r(2, R_V_OFF, "Q", r.r(2, R_V_OFF, "Q") + 1)


def _offsets_outside(r):
    r.r(2, R_O_LEN, "Q", 1 << 40)


def _empty_buffer_offset_ignored(r):
    r.r(0, R_V_OFF, "Q", 12345)  # validity_length is 0: the offset means nothing


def _tz_bad_utf8(r):
    # Make x a timestamp[s] whose time zone is the name "f" turned to 0xff.
    r.r(0, R_TYPE, "B", 20)
    r.r(0, R_TZ_OFF, "I", r.r(1, R_NAME_OFF, "I"))
    r.r(0, R_TZ_LEN, "I", 1)
    r.b[r.strtab() + r.r(1, R_NAME_OFF, "I")] = 0xFF


def _tz_ok(r):
    r.r(0, R_TYPE, "B", 20)
    r.r(0, R_TZ_OFF, "I", r.r(0, R_NAME_OFF, "I"))  # time zone "x": any UTF-8 is accepted
    r.r(0, R_TZ_LEN, "I", 1)
    # The time zone shares the name's byte, which the total of referenced strings
    # (spec §5.3) allows only with bytes to spare: the segment metadata's are freed.
    r.h(H_SEG_KV_COUNT, 0)


def _strings_total(r) -> int:
    """Sum of the lengths of the strings "basic" refers to (spec §5.3)."""
    total = sum(r.r(i, R_NAME_LEN, "I") + r.r(i, R_TZ_LEN, "I") for i in range(r.h(H_ARRAY_COUNT)))
    return total + sum(r.get(r.kv(j) + 4, "I") + r.get(r.kv(j) + 12, "I")
                       for j in range(r.h(H_KV_COUNT)))


def _names_whole_strtab(r):
    # Every name is the whole string table (ASCII, no NUL): each reference is in
    # range, but the second one takes the total past the table.
    r.r(0, R_KV_COUNT, "I", 0)  # x's metadata would push the total over first
    for i in range(r.h(H_ARRAY_COUNT)):
        r.r(i, R_NAME_OFF, "I", 0)
        r.r(i, R_NAME_LEN, "I", r.h(H_STRTAB_LENGTH))


def _value_over_total(r):
    # Segment record 2 ("owner": "tests") takes the value of record 3
    # ("purpose": "corruption"): 5 bytes more than the table holds.
    assert _strings_total(r) == r.h(H_STRTAB_LENGTH)
    r.b[r.kv(2) + 8:r.kv(2) + 16] = r.b[r.kv(3) + 8:r.kv(3) + 16]


def _value_at_total(r):
    # x's record 0 ("k": "v") takes the value of record 1 ("unit": "m"): the same
    # length, so the total is still exactly strtab_length, which is allowed.
    r.b[r.kv(0) + 8:r.kv(0) + 16] = r.b[r.kv(1) + 8:r.kv(1) + 16]


def _nd_overflow(r):
    # 2^62 × 4 exceeds 2^63 - 1: BAD_SIZE, even though the last factor makes the product 0
    r.r(0, R_NDIM, "B", 4)
    r.r(0, R_SHAPE + 8, "q", 1 << 62)
    r.r(0, R_SHAPE + 16, "q", 4)
    r.r(0, R_SHAPE + 24, "q", 0)


def _seg_kv_outside(r):
    r.h(H_SEG_KV_FIRST, r.h(H_KV_COUNT))


def _array_kv_outside(r):
    r.r(0, R_KV_FIRST, "I", r.h(H_KV_COUNT) - 1)


def _array_kv_first_ignored(r):
    r.r(1, R_KV_FIRST, "I", 1 << 31)  # kv_count is 0: kv_first is ignored


def _key_empty(r):
    r.put(r.kv(0) + 4, "I", 0)


def _value_nul(r):
    r.b[r.strtab() + r.get(r.kv(0) + 8, "I")] = 0


def _kv_shared(r):
    # A key/value record belongs to one owner at most (spec §5.2): f takes x's range.
    r.r(1, R_KV_FIRST, "I", r.r(0, R_KV_FIRST, "I"))
    r.r(1, R_KV_COUNT, "I", r.r(0, R_KV_COUNT, "I"))


def _kv_shared_partly(r):
    r.r(1, R_KV_FIRST, "I", r.r(0, R_KV_FIRST, "I") + r.r(0, R_KV_COUNT, "I") - 1)
    r.r(1, R_KV_COUNT, "I", 1)  # x's last record only


def _kv_shared_with_segment(r):
    r.h(H_SEG_KV_FIRST, r.r(0, R_KV_FIRST, "I"))


def _kv_segment_taken_by_array(r):
    # Arrays are visited before the segment: f claims the segment's range first.
    r.r(1, R_KV_FIRST, "I", r.h(H_SEG_KV_FIRST))
    r.r(1, R_KV_COUNT, "I", r.h(H_SEG_KV_COUNT))


def _kv_claim_before_checks(r):
    # f's range holds x's record and a bad one: the claim is checked first.
    _kv_shared(r)
    r.r(1, R_KV_COUNT, "I", r.r(0, R_KV_COUNT, "I") + 1)
    r.put(r.kv(r.r(1, R_KV_FIRST, "I") + r.r(1, R_KV_COUNT, "I") - 1) + 4, "I", 0)


STRUCTURAL = [
    # id, mutation, reseal, expected code
    ("ok", lambda r: None, True, "OK"),
    ("short-7", _trunc(7), False, "NOT_A_SEGMENT"),
    ("bad-magic", lambda r: r.b.__setitem__(slice(0, 8), b"SHMARRAX"), True, "NOT_A_SEGMENT"),
    ("short-11", _trunc(11), False, "TRUNCATED"),
    ("major-plus-1", _set(("h", H_MAJOR, 2)), True, "UNSUPPORTED_VERSION"),
    ("major-0", _set(("h", H_MAJOR, 0)), True, "UNSUPPORTED_VERSION"),
    ("major-before-truncation", lambda r: (r.h(H_MAJOR, 2), _trunc(20)(r)), False,
     "UNSUPPORTED_VERSION"),
    ("truncated-header", _trunc(100), False, "TRUNCATED"),
    ("header-size-64", _set(("h", H_HEADER_SIZE, 64)), True, "BAD_SIZE"),
    ("header-size-past-file", _set(("h", H_HEADER_SIZE, 1 << 20)), True, "TRUNCATED"),
    ("truncated-file", _trunc(-1), False, "TRUNCATED"),
    ("file-size-larger", _set(("h", H_FILE_SIZE, 1 << 63)), True, "TRUNCATED"),
    ("not-sealed", _set(("h", H_FLAGS, 0)), True, "NOT_SEALED"),
    ("not-sealed-before-checksum", _set(("h", H_FLAGS, 2)), False, "NOT_SEALED"),
    ("reserved-flags-ignored", _set(("h", H_FLAGS, 0xFFFFFFFD)), True, "OK"),
    ("meta-misaligned", _misaligned_meta, True, "MISALIGNED"),
    ("meta-past-file", _meta_past_file, True, "OUT_OF_BOUNDS"),
    ("meta-before-header", _set(("h", H_META_OFFSET, 64)), True, "OUT_OF_BOUNDS"),
    ("checksum-header", lambda r: r.b.__setitem__(108, 1), False, "CHECKSUM_MISMATCH"),
    ("checksum-meta", lambda r: r.b.__setitem__(len(r.b) - 1, r.b[-1] ^ 1), False,
     "CHECKSUM_MISMATCH"),
    ("checksum-field", lambda r: r.h(H_CREATOR_PID, 7), False, "CHECKSUM_MISMATCH"),
    ("checksum-before-records", _set(("r", 0, R_TYPE, "B", 0)), False, "CHECKSUM_MISMATCH"),
    ("record-size-100", _set(("h", H_RECORD_SIZE, 100)), True, "BAD_SIZE"),
    ("array-count-over-limit", _set(("h", H_ARRAY_COUNT, (1 << 20) + 1)), True, "BAD_SIZE"),
    ("kv-count-over-limit", _set(("h", H_KV_COUNT, (1 << 20) + 1)), True, "BAD_SIZE"),
    ("directory-out-of-bounds", _dir_outside, True, "OUT_OF_BOUNDS"),
    ("directory-too-many-records", _set(("h", H_ARRAY_COUNT, 100)), True, "OUT_OF_BOUNDS"),
    ("kv-table-out-of-bounds", _kv_outside, True, "OUT_OF_BOUNDS"),
    ("strtab-out-of-bounds", _strtab_outside, True, "OUT_OF_BOUNDS"),
    ("name-out-of-bounds", _set(("r", 0, R_NAME_OFF, "I", 1000)), True, "OUT_OF_BOUNDS"),
    ("name-empty", _set(("r", 0, R_NAME_LEN, "I", 0)), True, "BAD_SIZE"),
    ("name-invalid-utf8", _name_byte(0, 0xFF), True, "BAD_UTF8"),
    ("name-nul", _name_byte(1, 0), True, "BAD_UTF8"),
    ("type-0", _set(("r", 0, R_TYPE, "B", 0)), True, "BAD_TYPE"),
    ("type-22", _set(("r", 1, R_TYPE, "B", 22)), True, "BAD_TYPE"),
    ("type-255", _set(("r", 2, R_TYPE, "B", 255)), True, "BAD_TYPE"),
    ("unit-on-int64", _set(("r", 0, R_UNIT, "B", 1)), True, "BAD_TYPE"),
    ("unit-4-on-duration", _set(("r", 0, R_TYPE, "B", 21), ("r", 0, R_UNIT, "B", 4)), True,
     "BAD_TYPE"),
    ("byte-width-on-int64", _set(("r", 0, R_BYTE_WIDTH, "I", 8)), True, "BAD_TYPE"),
    ("fsb-width-0", _set(("r", 0, R_TYPE, "B", 17)), True, "BAD_TYPE"),
    ("fsb-width-too-large", _set(("r", 0, R_TYPE, "B", 17), ("r", 0, R_BYTE_WIDTH, "I", 1 << 31)),
     True, "BAD_TYPE"),
    ("tz-on-int64", _set(("r", 0, R_TZ_LEN, "I", 1)), True, "BAD_TYPE"),
    ("tz-out-of-bounds", _set(("r", 0, R_TYPE, "B", 20), ("r", 0, R_TZ_OFF, "I", 999),
                              ("r", 0, R_TZ_LEN, "I", 1)), True, "OUT_OF_BOUNDS"),
    ("tz-bad-utf8", _tz_bad_utf8, True, "BAD_UTF8"),
    ("tz-ok", _tz_ok, True, "OK"),
    ("strings-total-names", _names_whole_strtab, True, "BAD_SIZE"),
    ("strings-total-value", _value_over_total, True, "BAD_SIZE"),
    ("strings-total-at-limit", _value_at_total, True, "OK"),
    ("ndim-0", _set(("r", 0, R_NDIM, "B", 0)), True, "BAD_SHAPE"),
    ("ndim-9", _set(("r", 0, R_NDIM, "B", 9)), True, "BAD_SHAPE"),
    ("ndim-2-on-utf8", _set(("r", 2, R_NDIM, "B", 2)), True, "BAD_SHAPE"),
    ("length-negative", _set(("r", 0, R_LENGTH, "q", -1)), True, "BAD_SIZE"),
    ("length-over-limit", _set(("r", 0, R_LENGTH, "q", (1 << 62) + 1)), True, "BAD_SIZE"),
    ("null-count-above-length", _set(("r", 2, R_NULL_COUNT, "q", 4)), True, "BAD_SIZE"),
    ("null-count-negative", _set(("r", 2, R_NULL_COUNT, "q", -1)), True, "BAD_SIZE"),
    ("shape0-not-length", _set(("r", 0, R_SHAPE, "q", 2)), True, "BAD_SHAPE"),
    ("unused-shape-nonzero", _set(("r", 0, R_SHAPE + 56, "q", 1)), True, "BAD_SHAPE"),
    ("negative-dim", _set(("r", 0, R_NDIM, "B", 2), ("r", 0, R_SHAPE + 8, "q", -1)), True,
     "BAD_SHAPE"),
    ("data-misaligned", _data_misaligned, True, "MISALIGNED"),
    ("validity-misaligned", _validity_misaligned, True, "MISALIGNED"),
    ("data-out-of-bounds", _data_outside, True, "OUT_OF_BOUNDS"),
    ("offsets-out-of-bounds", _offsets_outside, True, "OUT_OF_BOUNDS"),
    ("empty-buffer-offset-ignored", _empty_buffer_offset_ignored, True, "OK"),
    ("nulls-without-bitmap", _set(("r", 0, R_NULL_COUNT, "q", 1)), True, "BAD_SIZE"),
    ("bitmap-too-short", _set(("r", 2, R_LENGTH, "q", 9), ("r", 2, R_SHAPE, "q", 9)), True,
     "BAD_SIZE"),
    ("data-too-short", _set(("r", 0, R_D_LEN, "Q", 16)), True, "BAD_SIZE"),
    ("nd-data-too-short", _set(("r", 0, R_NDIM, "B", 2), ("r", 0, R_SHAPE + 8, "q", 2)), True,
     "BAD_SIZE"),
    ("nd-size-overflow", _nd_overflow, True, "BAD_SIZE"),
    ("offsets-too-short", _set(("r", 2, R_O_LEN, "Q", 12)), True, "BAD_SIZE"),
    ("offsets-on-int64", _set(("r", 0, R_O_OFF, "Q", 192), ("r", 0, R_O_LEN, "Q", 8)), True,
     "BAD_SIZE"),
    ("array-kv-out-of-bounds", _array_kv_outside, True, "OUT_OF_BOUNDS"),
    ("array-kv-first-ignored", _array_kv_first_ignored, True, "OK"),
    ("key-empty", _key_empty, True, "BAD_SIZE"),
    ("value-nul", _value_nul, True, "BAD_UTF8"),
    ("duplicate-key", _dup_key, True, "DUPLICATE_NAME"),
    ("duplicate-name", _dup_name, True, "DUPLICATE_NAME"),
    ("duplicate-name-checked-last", _dup_name_bad_type, True, "BAD_TYPE"),
    ("segment-kv-out-of-bounds", _seg_kv_outside, True, "OUT_OF_BOUNDS"),
    ("kv-record-shared-by-arrays", _kv_shared, True, "OUT_OF_BOUNDS"),
    ("kv-record-shared-partly", _kv_shared_partly, True, "OUT_OF_BOUNDS"),
    ("kv-record-shared-with-segment", _kv_shared_with_segment, True, "OUT_OF_BOUNDS"),
    ("kv-segment-range-taken-by-array", _kv_segment_taken_by_array, True, "OUT_OF_BOUNDS"),
    ("kv-claim-checked-before-records", _kv_claim_before_checks, True, "OUT_OF_BOUNDS"),
    ("segment-kv-first-ignored", _set(("h", H_SEG_KV_COUNT, 0), ("h", H_SEG_KV_FIRST, 77)), True,
     "OK"),
]


def _data_byte(i: int, at: int, value: int):
    def f(r):
        r.b[r.r(i, R_D_OFF, "Q") + at] = value
    return f


def _offset(i: int, k: int, value: int):
    def f(r):
        r.put(r.r(i, R_O_OFF, "Q") + 4 * k, "i", value)
    return f


FULL = [
    # Full validation (spec §11.3); all of these attach.
    ("null-count-mismatch", _set(("r", 2, R_NULL_COUNT, "q", 0)), True, "BAD_SIZE"),
    ("offsets0-not-zero", _offset(2, 0, 1), True, "BAD_OFFSETS"),
    ("offsets-decreasing", _offset(2, 2, 0), True, "BAD_OFFSETS"),
    ("offsets-past-data", _offset(2, 3, 4), True, "BAD_OFFSETS"),
    ("offsets-negative", _offset(2, 3, -1), True, "BAD_OFFSETS"),
    ("utf8-invalid", _data_byte(2, 2, 0x41), True, "BAD_UTF8"),
    # "aç" is valid, but cutting it at offset 2 splits "ç" (c3 a7) over two values.
    ("utf8-split-character", _offset(2, 2, 2), True, "BAD_UTF8"),
    ("data-crc", _data_byte(0, 0, 9), True, "CHECKSUM_MISMATCH"),
    ("data-crc-flag-clear", lambda r: (_data_byte(0, 0, 9)(r), r.r(0, R_FLAGS, "B", 0)), True,
     "OK"),
]


@pytest.fixture(scope="session")
def corrupted(gen, segdir, tmp_path_factory):
    """Every case of STRUCTURAL and FULL written to a file, with Go's verdict."""
    d = tmp_path_factory.mktemp("corrupted")
    base = raw(segdir, "basic")
    paths, ids = [], []
    for cid, mutate, reseal, _ in STRUCTURAL + FULL:
        r = Raw(bytearray(base))
        mutate(r)
        if reseal:
            r.reseal()
        paths.append(write(d, cid, r.b))
        ids.append(cid)
    return str(d), dict(zip(ids, go_codes(gen, paths)))


@pytest.mark.parametrize("cid,expected", [(c[0], c[3]) for c in STRUCTURAL],
                         ids=[c[0] for c in STRUCTURAL])
def test_structural_error_codes(corrupted, cid, expected):
    d, go = corrupted
    if expected == "OK":
        shmarray.attach(cid, dir=d).close()
    else:
        with pytest.raises(shmarray.InvalidSegmentError) as e:
            shmarray.attach(cid, dir=d)
        assert e.value.code_name == expected, str(e.value)
        assert cid in str(e.value) and d in str(e.value)  # names the segment and its path
    assert go[cid] == expected, "the Go reference reader disagrees"


@pytest.mark.parametrize("cid,expected", [(c[0], c[3]) for c in FULL], ids=[c[0] for c in FULL])
def test_full_validation_error_codes(corrupted, cid, expected):
    d, go = corrupted
    seg = shmarray.attach(cid, dir=d)  # attach never reads the data area
    if expected == "OK":
        seg.validate()
    else:
        with pytest.raises(shmarray.InvalidSegmentError) as e:
            seg.validate()
        assert e.value.code_name == expected, str(e.value)
    assert go[cid] == expected, "the Go reference reader disagrees"


def test_error_classes_and_messages(corrupted):
    d, _ = corrupted
    with pytest.raises(shmarray.UnsupportedVersionError, match="upgrade shmarray"):
        shmarray.attach("major-plus-1", dir=d)
    with pytest.raises(shmarray.DuplicateNameError, match='both called "x"'):
        shmarray.attach("duplicate-name", dir=d)
    with pytest.raises(shmarray.BadTypeError, match=r'array 1: "x": unknown type code 99'):
        shmarray.attach("duplicate-name-checked-last", dir=d)
    with pytest.raises(shmarray.BadOffsetsError, match=r'"s": offsets\[3\] is -1'):
        shmarray.attach("offsets-negative", dir=d).validate()
    # The total of referenced strings (spec §5.3) is reported where it is passed.
    with pytest.raises(shmarray.BadSizeError,
                       match=r"array 1: name takes the referenced strings to \d+ bytes, more than"):
        shmarray.attach("strings-total-names", dir=d)
    with pytest.raises(shmarray.BadSizeError,
                       match=r"segment metadata: metadata value takes the referenced strings"):
        shmarray.attach("strings-total-value", dir=d)
    with shmarray.attach("strings-total-at-limit", dir=d) as seg:
        assert seg.info("x").metadata == {"k": "m", "unit": "m"}  # two references, one byte
    assert issubclass(shmarray.ChecksumMismatchError, shmarray.InvalidSegmentError)


# ---------------------------------------------------------------------------
# Differential test: random corruptions, same code as Go for every file

_INTERESTING = [0, 1, 2, 3, 7, 8, 9, 17, 20, 21, 22, 63, 64, 65, 127, 128, 129, 191, 192, 193,
                255, 256, 1023, 1024, 1025, 4096, 4097, 1 << 20, (1 << 20) + 1, (1 << 31) - 1,
                1 << 31, (1 << 32) - 1, 1 << 62, (1 << 62) + 1, (1 << 63) - 1, 1 << 63,
                (1 << 64) - 1, (1 << 64) - 8]
_HEADER_FIELDS = [(8, "H"), (12, "I"), (16, "Q"), (24, "I"), (28, "I"), (32, "Q"), (40, "Q"),
                  (48, "Q"), (56, "I"), (60, "I"), (64, "Q"), (72, "Q"), (80, "Q"), (88, "I"),
                  (92, "I")]
_RECORD_FIELDS = ([(0, "I"), (4, "I"), (8, "B"), (9, "B"), (10, "B"), (11, "B"), (12, "I"),
                   (16, "I"), (20, "I"), (24, "Q"), (32, "Q"), (40, "Q"), (48, "Q"), (56, "Q"),
                   (64, "Q"), (72, "Q"), (80, "Q"), (88, "I"), (92, "I")]
                  + [(104 + 8 * k, "Q") for k in range(8)])
_WIDTH = {"B": 8, "H": 16, "I": 32, "Q": 64}


def _value(rng: random.Random, old: int, fmt: str) -> int:
    bits = _WIDTH[fmt]
    pick = rng.random()
    if pick < 0.5:
        v = rng.choice(_INTERESTING)
    elif pick < 0.85:
        v = old + rng.choice([-64, -8, -1, 1, 8, 64, 1 << 32])
    else:
        v = rng.getrandbits(bits)
    return v % (1 << bits)


def _mutate(rng: random.Random, b: bytearray) -> bytearray:
    r = Raw(b)
    n_arrays = r.h(H_ARRAY_COUNT)
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        kind = rng.random()
        if kind < 0.2:
            off, fmt = rng.choice(_HEADER_FIELDS)
        elif kind < 0.75 and n_arrays:
            f_off, fmt = rng.choice(_RECORD_FIELDS)
            off = r.rec(rng.randrange(n_arrays)) + f_off
        elif kind < 0.8 and r.h(H_KV_COUNT) and r.kv(0) < len(r.b):
            off, fmt = r.kv(rng.randrange(r.h(H_KV_COUNT))) + 4 * rng.randrange(4), "I"
        elif kind < 0.9:
            # a word of the data area: offsets, bitmaps, string bytes, values
            lo, hi = 128, min(r.h(H_META_OFFSET), len(r.b))
            if hi - lo < 8:
                continue
            fmt = rng.choice(["i", "q", "B"])
            off = rng.randrange(lo, hi - 8)
            v = rng.choice([0, 1, -1, 2, 0x80, 0xC3, 0xFF, 1 << 31 if fmt == "q" else 100])
            if fmt == "B":
                v %= 256
            r.put(off, fmt, v)
            continue
        elif kind < 0.92:
            # copy a string reference: duplicate array names or metadata keys
            if n_arrays > 1 and rng.random() < 0.6:
                i, j = rng.sample(range(n_arrays), 2)
                if max(r.rec(i), r.rec(j)) + 8 <= len(r.b):  # the directory may have moved
                    for f in (R_NAME_OFF, R_NAME_LEN):
                        r.r(i, f, "I", r.r(j, f, "I"))
            elif r.h(H_KV_COUNT) > 1 and r.kv(r.h(H_KV_COUNT)) <= len(r.b):
                i, j = rng.sample(range(r.h(H_KV_COUNT)), 2)
                r.b[r.kv(i):r.kv(i) + 8] = r.b[r.kv(j):r.kv(j) + 8]
            continue
        elif kind < 0.93:
            r.b[rng.randrange(8)] ^= 1 << rng.randrange(8)  # the magic
            continue
        elif kind < 0.96:
            st = r.strtab()
            if st + 1 >= len(r.b):
                continue
            r.b[rng.randrange(st, len(r.b))] = rng.choice([0, 0xFF, 0xC3, 0x80, ord("x")])
            continue
        else:
            r.b = r.b[:rng.randrange(len(r.b))]
            return r.b
        if off + struct.calcsize(fmt) <= len(r.b):
            r.put(off, fmt, _value(rng, r.get(off, fmt), fmt))
    if rng.random() < 0.9:
        r.reseal()
    return r.b


def test_random_corruptions_match_go(gen, segdir, tmp_path):
    rng = random.Random(20261121)
    bases = {n: raw(segdir, n) for n in
             ["basic", "types", "tensors", "strings", "emptycols", "nocrc", "example"]}
    paths, names = [], []
    for i in range(2500):
        base = rng.choice(list(bases))
        name = f"m{i:05d}-{base}"
        paths.append(write(tmp_path, name, _mutate(rng, bytearray(bases[base]))))
        names.append(name)
    verdicts = go_verdicts(gen, paths)
    go = [code for code, _ in verdicts]
    py = [py_verdict(n, tmp_path) for n in names]
    diffs = [(n, g, p) for n, g, p in zip(names, verdicts, py) if g != p]
    assert not diffs, f"{len(diffs)} files where Python and Go differ in code or message, e.g. {diffs[:5]}"
    # every invalid-segment code (6..18) and OK is reached (the seed is fixed)
    every = {c.code_name for c in shmarray.ERRORS_BY_CODE.values()
             if issubclass(c, shmarray.InvalidSegmentError)} | {"OK"}
    assert set(go) == every, f"not reached: {sorted(every - set(go))}"


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_no_descriptor_or_mapping_leaks(corrupted, segdir):
    d, _ = corrupted
    gc.collect()
    before = _open_fds()
    for _ in range(3):
        for cid, *_ in STRUCTURAL + FULL:
            py_code(cid, d)  # attach (failing or not), validate, close
        for name in ("types", "strings", "tensors", "many"):
            with shmarray.attach(name, dir=segdir) as seg:
                for col in seg.columns[:60]:
                    seg[col]
        shmarray.list_segments(segdir)
    gc.collect()
    assert _open_fds() == before
    assert not any(_mapped(os.path.join(d, c[0])) for c in STRUCTURAL + FULL)
    assert not _mapped(os.path.join(segdir, "types"))


# ---------------------------------------------------------------------------
# Every type, with and without nulls

_NULLS = np.array([False, True, False, True, False])

TYPES = {
    # name: (spec type, NumPy dtype of the view, values, unit, timezone)
    "bool": ("bool", "bool", [True, False, True, True, False], None, None),
    "int8": ("int8", "i1", [-128, -1, 0, 1, 127], None, None),
    "uint8": ("uint8", "u1", [0, 1, 2, 254, 255], None, None),
    "int16": ("int16", "<i2", [-32768, -1, 0, 1, 32767], None, None),
    "uint16": ("uint16", "<u2", [0, 1, 2, 65534, 65535], None, None),
    "int32": ("int32", "<i4", [-2**31, -1, 0, 1, 2**31 - 1], None, None),
    "uint32": ("uint32", "<u4", [0, 1, 2, 2**32 - 2, 2**32 - 1], None, None),
    "int64": ("int64", "<i8", [-2**63, -1, 0, 1, 2**63 - 1], None, None),
    "uint64": ("uint64", "<u8", [0, 1, 2, 2**64 - 2, 2**64 - 1], None, None),
    "float16": ("float16", "<f2", [-2.5, -1, 0, 0.5, 65504], None, None),
    "float32": ("float32", "<f4", [-1.5, 0, 0.25, 1024, math.inf], None, None),
    "float64": ("float64", "<f8", [-1.5, 0, 0.1, 1e300, -math.inf], None, None),
    "utf8": ("utf8", None, ["", "a", "héllo", "日本語", "🎉"], None, None),
    "large_utf8": ("large_utf8", None, ["x", "", "ß", "longer value", "z"], None, None),
    "binary": ("binary", None, [b"", b"\x00", b"\xff\xfe", b"abc", b"\x00a\x00"], None, None),
    "large_binary": ("large_binary", None, [b"abc", b"", b"\x00", b"\xff\xfe", b"\x00a\x00"],
                     None, None),
    "fixed_size_binary": ("fixed_size_binary", "S3",
                          [b"abc", b"\x00\x01\x02", b"xyz", b"\xff\xff\xff", b"a\x00\x00"],
                          None, None),
    "date32": ("date32", "M8[D]", [-1, 0, 1, 18000, 19000], None, None),
    "date64": ("date64", "M8[ms]",
               [-86400000, 0, 86400000, 1555200000000, 1641600000000], None, None),
    "timestamp_s": ("timestamp", "M8[s]", [-1, 0, 1, 1700000000, 4102444800], "s", None),
    "timestamp_ms": ("timestamp", "M8[ms]", [-1, 0, 1, 1700000000000, 4102444800000], "ms",
                     "UTC"),
    "timestamp_us": ("timestamp", "M8[us]", [-1, 0, 1, 1700000000000000, 4102444800000000],
                     "us", "Europe/Paris"),
    "timestamp_ns": ("timestamp", "M8[ns]",
                     [-1, 0, 1, 1700000000000000000, 4102444800000000000], "ns", "+07:30"),
    "duration_s": ("duration", "m8[s]", [-5, 0, 5, 1000, 123456789], "s", None),
    "duration_ms": ("duration", "m8[ms]", [-5, 0, 5, 1000, 123456789], "ms", None),
    "duration_us": ("duration", "m8[us]", [-5, 0, 5, 1000, 123456789], "us", None),
    "duration_ns": ("duration", "m8[ns]", [-5, 0, 5, 1000, 123456789], "ns", None),
}


def _expected_numpy(dtype: str, values: list) -> np.ndarray:
    if dtype[0] in "Mm":
        return np.array(values, dtype="<i8").astype(dtype)
    return np.array(values, dtype=dtype)


@pytest.fixture(scope="module")
def types_seg(segdir):
    with shmarray.attach("types", dir=segdir) as seg:
        yield seg


@pytest.mark.parametrize("nulls", [False, True], ids=["plain", "nulls"])
@pytest.mark.parametrize("col", list(TYPES))
def test_every_type_reads_back(types_seg, col, nulls):
    spec_type, dtype, values, unit, tz = TYPES[col]
    name = col + "_nulls" if nulls else col
    v = types_seg[name]
    info = types_seg.info(name)
    assert (info.name, info.type, info.length, info.shape) == (name, spec_type, 5, (5,))
    assert info.null_count == (2 if nulls else 0)
    assert (info.unit, info.timezone) == (unit, tz)
    assert info.byte_width == (3 if spec_type == "fixed_size_binary" else 0)
    if dtype is None:  # variable-length: StringColumn
        assert info.dtype is None
        assert isinstance(v, shmarray.StringColumn)
        expected = [None if nulls and m else x for x, m in zip(values, _NULLS)]
        assert v.to_pylist() == expected == list(v) == [v[i] for i in range(5)]
        assert v.null_count == info.null_count
        return
    expected = _expected_numpy(dtype, values)
    assert info.dtype == np.dtype(dtype)
    if nulls:
        assert isinstance(v, np.ma.MaskedArray)
        assert v.mask.tolist() == _NULLS.tolist()
        data = v.data
        np.testing.assert_array_equal(data[~_NULLS], expected[~_NULLS])
    else:
        assert type(v) is np.ndarray
        data = v
        np.testing.assert_array_equal(data, expected)
    assert data.dtype == np.dtype(dtype)
    assert not data.flags.writeable
    with pytest.raises(ValueError):
        data[0] = data[1]
    # zero-copy unless the spec says a copy is needed (bits unpacked, days widened)
    copied = spec_type in ("bool", "date32")
    assert _reaches_mmap(data) is not copied


def _arrow_expected(pa, col, nulls):
    spec_type, dtype, values, unit, tz = TYPES[col]
    typ = {"utf8": pa.string(), "large_utf8": pa.large_string(), "binary": pa.binary(),
           "large_binary": pa.large_binary(), "fixed_size_binary": pa.binary(3),
           "bool": pa.bool_(), "float16": pa.float16(), "date32": pa.date32(),
           "date64": pa.date64()}.get(spec_type)
    if spec_type == "timestamp":
        typ = pa.timestamp(unit, tz=tz)
    elif spec_type == "duration":
        typ = pa.duration(unit)
    elif typ is None:
        typ = pa.from_numpy_dtype(np.dtype(dtype))
    mask = _NULLS if nulls else None
    if dtype is None:
        return pa.array([None if nulls and m else x for x, m in zip(values, _NULLS)], typ)
    if spec_type in ("date32", "date64", "timestamp", "duration"):
        arr = pa.array(np.array(values, dtype="<i8"), pa.int64(), mask=mask)
        return arr.cast(pa.int32()).cast(typ) if spec_type == "date32" else arr.cast(typ)
    return pa.array(_expected_numpy(dtype, values), typ, mask=mask)


def test_every_type_to_arrow(types_seg):
    pa = pytest.importorskip("pyarrow")
    t = types_seg.to_arrow()
    t.validate(full=True)
    assert t.num_rows == 5 and t.column_names == types_seg.columns
    for col in TYPES:
        for nulls in (False, True):
            name = col + "_nulls" if nulls else col
            got = t.column(name).chunk(0)
            want = _arrow_expected(pa, col, nulls)
            assert got.type == want.type, name
            assert got.equals(want), f"{name}: {got} != {want}"
            assert got.null_count == (2 if nulls else 0)
            assert types_seg.column_to_arrow(name).equals(want)


# ---------------------------------------------------------------------------
# N-D arrays


def test_tensors(segdir):
    with shmarray.attach("tensors", dir=segdir) as seg:
        t = seg["t_int32"]
        assert t.shape == (4, 3) and t.dtype == np.int32
        np.testing.assert_array_equal(t, np.arange(12, dtype=np.int32).reshape(4, 3))
        assert seg.info("t_int32").shape == (4, 3) and seg.info("t_int32").ndim == 2
        np.testing.assert_array_equal(seg["t_float64"], np.arange(24).reshape(4, 2, 3) / 2)
        np.testing.assert_array_equal(seg["t_uint8"], np.arange(16, dtype=np.uint8).reshape(4, 1, 2, 2))
        assert t.flags.c_contiguous and not t.flags.writeable and _reaches_mmap(t)
        m = seg["t_int16_nulls"]
        assert isinstance(m, np.ma.MaskedArray) and m.shape == (4, 3)
        assert m.mask.tolist() == [[False] * 3, [True] * 3, [False] * 3, [True] * 3]
        assert m.sum() == 1 + 2 + 3 + 7 + 8 + 9
        assert m.compressed().tolist() == [1, 2, 3, 7, 8, 9]
        assert np.shares_memory(m.data, seg["t_int16_nulls"].data)
        assert seg.num_rows == 4


def test_tensors_to_arrow(segdir):
    pa = pytest.importorskip("pyarrow")
    with shmarray.attach("tensors", dir=segdir) as seg:
        t = seg.to_arrow()
    t.validate(full=True)
    col = t.column("t_float64").chunk(0)
    assert isinstance(col.type, pa.FixedShapeTensorType)
    assert col.type.shape == [2, 3] and col.type.value_type == pa.float64()
    np.testing.assert_array_equal(col.to_numpy_ndarray(), np.arange(24).reshape(4, 2, 3) / 2)
    nulls = t.column("t_int16_nulls").chunk(0)
    assert nulls.null_count == 2
    assert nulls.storage.to_pylist() == [[1, 2, 3], None, [7, 8, 9], None]
    assert t.column("row").chunk(0).to_pylist() == [0, 1, 2, 3]


def test_zero_size_rows(segdir):
    with shmarray.attach("zerodim", dir=segdir) as seg:
        z = seg["t_float32"]
        assert z.shape == (4, 0) and z.dtype == np.float32
        if _has_pyarrow():
            assert seg.to_arrow().column(0).chunk(0).storage.to_pylist() == [[], [], [], []]


# ---------------------------------------------------------------------------
# Strings


def test_strings(segdir):
    with shmarray.attach("strings", dir=segdir) as seg:
        u = seg["u"]
        assert u.to_pylist() == ["", "a", "héllo wörld", "日本語テキスト", "🎉🎊", "nul\x00inside"]
        assert (u.name, u.type, len(u), u.null_count) == ("u", "utf8", 6, 0)
        assert u[-1] == "nul\x00inside" and u[-6] == ""
        with pytest.raises(IndexError):
            u[6]
        with pytest.raises(IndexError):
            u[-7]
        with pytest.raises(TypeError):
            u["a"]
        assert u[1:4] == ["a", "héllo wörld", "日本語テキスト"]
        assert u[::-2] == ["nul\x00inside", "日本語テキスト", "a"]
        assert u[np.int64(2)] == "héllo wörld"
        assert "a" in u and "b" not in u
        # empty strings and nulls are different things
        n = seg["u_nulls"]
        assert n.to_pylist() == ["", None, "x", None, "", "é"]
        assert n[0] == "" and n[1] is None and n.null_count == 2
        arr = n.to_numpy()
        assert arr.dtype == object and arr.tolist() == ["", None, "x", None, "", "é"]
        assert seg["lu"].to_pylist() == ["ü", None, "", "long", None, "end"]
        assert seg["lu"].offsets.dtype == np.dtype("<i8") and seg["u"].offsets.dtype == np.dtype("<i4")
        for col in ("b", "lb"):
            assert seg[col].to_pylist() == [b"\x00", None, b"", b"\xff\xfe", None, b"abc"]
        assert "null_count=2" in repr(n) and "'x'" in repr(n)
        # zero-copy: the views are the mapped buffers themselves
        assert np.shares_memory(u.data, seg["u"].data) and _reaches_mmap(u.offsets)
        assert bytes(u.data[0:1]) == b"a"
        with pytest.raises(TypeError):
            shmarray.StringColumn()


def test_strings_to_arrow(segdir):
    pa = pytest.importorskip("pyarrow")
    with shmarray.attach("strings", dir=segdir) as seg:
        t = seg.to_arrow()
        t.validate(full=True)
        assert t.column("u").to_pylist() == seg["u"].to_pylist()
        assert t.column("u_nulls").to_pylist() == ["", None, "x", None, "", "é"]
        assert t.schema.field("lb").type == pa.large_binary()
        col = seg["u"]
        a = seg.column_to_arrow("u")
        assert a.buffers()[1].address == _address(col.offsets)
        assert a.buffers()[2].address == _address(col.data)


def test_empty_arrays(segdir):
    with shmarray.attach("emptycols", dir=segdir) as seg:
        assert seg["i"].shape == (0,) and seg["i"].dtype == np.int64
        s = seg["s"]
        assert len(s) == 0 and s.to_pylist() == [] and list(s) == [] and s[:] == []
        seg.validate()
        if _has_pyarrow():
            t = seg.to_arrow()
            t.validate(full=True)
            assert t.num_rows == 0


def test_reading_unvalidated_bad_offsets_is_checked(corrupted):
    d, _ = corrupted
    with shmarray.attach("offsets-past-data", dir=d) as seg:
        s = seg["s"]
        assert s[0] == "a"
        with pytest.raises(shmarray.BadOffsetsError):
            s[2]
        with pytest.raises(shmarray.BadOffsetsError):
            s.to_pylist()
        if _has_pyarrow():
            # Arrow trusts offsets: exports do not check them (spec §11.3, the
            # one default of every binding), check_offsets=True validates first.
            assert seg.to_arrow().num_rows == 3
            with pytest.raises(shmarray.BadOffsetsError):
                seg.to_arrow(check_offsets=True)
            with pytest.raises(shmarray.BadOffsetsError):
                seg.column_to_arrow("s", check_offsets=True)
            assert len(seg.column_to_arrow("x", check_offsets=True)) == 3
    with shmarray.attach("utf8-invalid", dir=d) as seg:
        with pytest.raises(shmarray.BadUtf8Error):
            seg["s"][2]


# ---------------------------------------------------------------------------
# Zero copy


def _address(arr: np.ndarray) -> int:
    return arr.__array_interface__["data"][0]


def _reaches_mmap(arr) -> bool:
    """Whether arr is a view of a segment's mapping: its bases lead to the
    object that exports the mapping (shmarray._native.Mapping)."""
    obj = arr
    while obj is not None:
        if isinstance(obj, shmarray._native.Mapping):
            return True
        obj = obj.obj if isinstance(obj, memoryview) else getattr(obj, "base", None)
    return False


def _has_pyarrow() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def test_views_share_the_mapping(segdir):
    with shmarray.attach("basic", dir=segdir) as seg:
        a, b = seg["x"], seg["x"]
        assert a is not b and np.shares_memory(a, b)
        assert _reaches_mmap(a)
        assert a.tolist() == [1, 2, 3] and seg["f"].tolist() == [0.5, 1.5, 2.5]
        other = shmarray.attach("basic", dir=segdir)  # another mapping of the same file
        assert not np.shares_memory(a, other["x"])
        other.close()
        if _has_pyarrow():
            col = seg.column_to_arrow("x")
            assert col.buffers()[1].address == _address(a)
            assert seg.to_arrow().column("x").chunk(0).buffers()[1].address == _address(a)
            assert not col.buffers()[1].is_mutable


# ---------------------------------------------------------------------------
# The Segment object


def test_segment_mapping(segdir):
    seg = shmarray.attach("basic", dir=segdir)
    assert seg.name == "basic" and seg.dir == segdir and seg.path == os.path.join(segdir, "basic")
    assert seg.columns == ["x", "f", "s"] and list(seg) == seg.columns and len(seg) == 3
    assert "x" in seg and "nope" not in seg and 3 not in seg
    assert seg.metadata == {"owner": "tests", "purpose": "corruption"}
    seg.metadata["owner"] = "changed"  # a copy
    assert seg.metadata["owner"] == "tests"
    assert seg.info("x").metadata == {"k": "v", "unit": "m"} and seg.info("f").metadata == {}
    assert seg.num_rows == 3 and not seg.ephemeral and seg.size == os.path.getsize(seg.path)
    assert seg.created is not None and seg.creator_pid > 0
    for name, shown in [("nope", '"nope"'), ('é"\udcff', '"é\\"\\xff"')]:  # as Go's format.Quote shows them
        with pytest.raises(shmarray.NotFoundError) as e:
            seg[name]
        assert str(e.value) == f'shmarray: not found: segment "{seg.name}" has no array called {shown}'
    with pytest.raises(KeyError):
        seg["nope"]
    with pytest.raises(shmarray.NotFoundError):
        seg.info("nope")
    assert seg.get("nope") is None and seg.get("x").tolist() == [1, 2, 3]
    assert dict(seg.items()).keys() == {"x", "f", "s"}
    assert seg == seg and seg != shmarray.attach("basic", dir=segdir)
    assert "basic" in repr(seg) and "3 arrays" in repr(seg) and "3 rows" in repr(seg)
    seg.validate()
    seg.close()
    assert "closed" in repr(seg)


def test_ragged_segment(segdir):
    with shmarray.attach("ragged", dir=segdir) as seg:
        assert seg.num_rows is None
        assert "rows" not in repr(seg)
        if _has_pyarrow():
            with pytest.raises(shmarray.InvalidArgumentError, match='"a" has 3 rows, "b" has 4.*column_to_arrow'):
                seg.to_arrow()
            assert seg.column_to_arrow("b").to_pylist() == [1, 2, 3, 4]


def test_empty_segment_and_no_crc(segdir):
    with shmarray.attach("empty", dir=segdir) as seg:
        assert len(seg) == 0 and seg.columns == [] and seg.num_rows == 0
        assert seg.metadata == {"empty": "yes"}
        if _has_pyarrow():
            t = seg.to_arrow()
            assert t.num_columns == 0 and t.schema.metadata == {b"empty": b"yes"}
    with shmarray.attach("nocrc", dir=segdir) as seg:
        seg.validate()
        assert seg["s"].to_pylist() == ["a", "b"]


def test_many_arrays(segdir):
    with shmarray.attach("many", dir=segdir) as seg:
        assert len(seg) == 1000 and seg.columns[42] == "c0042"
        assert seg["c0042"].tolist() == list(range(420, 430))
        assert seg.num_rows == 10


def test_to_arrow_metadata(segdir):
    pytest.importorskip("pyarrow")
    with shmarray.attach("basic", dir=segdir) as seg:
        t = seg.to_arrow()
    t.validate(full=True)
    assert t.schema.metadata == {b"owner": b"tests", b"purpose": b"corruption"}
    assert t.schema.field("x").metadata == {b"k": b"v", b"unit": b"m"}
    assert t.schema.field("f").metadata is None
    assert t.column("s").to_pylist() == ["a", None, "ç"]
    assert t.column("x").to_pylist() == [1, 2, 3]  # still readable: views keep the mapping


def test_pickle_reattaches(segdir):
    seg = shmarray.attach("basic", dir=segdir)
    data = pickle.dumps(seg)
    assert len(data) < 200
    again = pickle.loads(data)
    assert again is not seg and again.columns == seg.columns and again.dir == segdir
    assert again["x"].tolist() == [1, 2, 3]
    seg.close()
    assert pickle.loads(pickle.dumps(seg))["f"].tolist() == [0.5, 1.5, 2.5]  # even once closed


def _worker_sum(seg) -> float:
    return float(seg["f"].sum()) + float(seg["x"].sum())


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded")
def test_segment_in_forked_workers(segdir):
    with shmarray.attach("basic", dir=segdir) as seg:
        with pools.pool(multiprocessing.get_context("fork"), 2) as pool:
            assert pool.map(_worker_sum, [seg] * 4) == [10.5] * 4


def _mapped(path: str) -> bool:
    with open("/proc/self/maps") as f:
        return any(line.rstrip().endswith(path) for line in f)


def test_close_without_views_unmaps(segdir):
    seg = shmarray.attach("basic", dir=segdir)
    assert _mapped(seg.path)
    seg["s"].to_pylist()  # temporary views, gone again
    seg.close()
    assert seg.closed and not _mapped(seg.path)
    seg.close()  # idempotent
    with pytest.raises(shmarray.ClosedError):
        seg["x"]
    with pytest.raises(shmarray.ClosedError):
        seg.validate()
    assert seg.columns == ["x", "f", "s"] and seg.info("x").length == 3  # the directory stays
    assert len(seg) == 3 and "x" in seg and bool(seg) and seg.size > 0
    assert seg.name == "basic" and "closed" in repr(seg)


def test_close_with_live_views_keeps_them_valid(segdir):
    seg = shmarray.attach("basic", dir=segdir)
    x, s = seg["x"], seg["s"]
    table = seg.to_arrow() if _has_pyarrow() else None
    seg.close()  # cannot unmap: views are alive; must not crash
    assert seg.closed and _mapped(seg.path)
    assert x.tolist() == [1, 2, 3] and s.to_pylist() == ["a", None, "ç"]
    if table is not None:
        assert table.column("x").to_pylist() == [1, 2, 3]
    del x, s, table
    gc.collect()
    assert not _mapped(seg.path)  # the last view took the mapping with it


def test_context_manager(segdir):
    with shmarray.attach("basic", dir=segdir) as seg:
        assert not seg.closed
    assert seg.closed


def test_segment_constructor_is_attach(segdir):
    seg = shmarray.Segment("basic", dir=segdir)
    assert seg.columns == ["x", "f", "s"]
    seg.close()


# ---------------------------------------------------------------------------
# Names, directories, opening


@pytest.mark.parametrize("name", ["a/b", "..", ".", "", "a\x00b", "n" * 201, ".hidden", "a..b",
                                  "ü", "a b", b"bytes", None])
def test_invalid_names(segdir, name):
    for call in (lambda: shmarray.attach(name, dir=segdir),
                 lambda: shmarray.unlink(name, dir=segdir)):
        with pytest.raises(shmarray.InvalidArgumentError):
            call()


def test_longest_name_is_valid(tmp_path):
    with pytest.raises(shmarray.NotFoundError):
        shmarray.attach("n" * 200, dir=tmp_path)


def test_attach_missing(segdir, tmp_path):
    with pytest.raises(shmarray.NotFoundError) as e:
        shmarray.attach("missing", dir=segdir)
    assert '"missing"' in str(e.value) and os.path.join(segdir, "missing") in str(e.value)
    assert "list_segments" in str(e.value)
    with pytest.raises(shmarray.NotFoundError):
        shmarray.attach("x", dir=tmp_path / "no-such-dir")
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(shmarray.NotFoundError):  # ENOTDIR
        shmarray.attach("x", dir=tmp_path / "file")


def test_directory_resolution(segdir, monkeypatch, tmp_path):
    monkeypatch.setenv("SHMARRAY_DIR", segdir)
    with shmarray.attach("basic") as seg:
        assert seg.dir == segdir
    assert shmarray.attach("basic", dir="").dir == segdir  # "" means "not given"
    with pytest.raises(shmarray.NotFoundError):
        shmarray.attach("basic", dir=tmp_path)  # the argument wins over the environment
    monkeypatch.setenv("SHMARRAY_DIR", "")
    assert _native.resolve_dir(None) == "/dev/shm"
    monkeypatch.delenv("SHMARRAY_DIR")
    assert _native.resolve_dir(None) == "/dev/shm"
    assert _native.resolve_dir(str(tmp_path)) == str(tmp_path)


def test_not_segments(segdir, tmp_path):
    write(tmp_path, "short", b"SHMARR")
    write(tmp_path, "zero", b"")
    write(tmp_path, "text", b"hello world, not a segment at all")
    os.symlink(os.path.join(segdir, "basic"), tmp_path / "link")
    os.mkfifo(tmp_path / "fifo")
    os.mkdir(tmp_path / "adir")
    for name in ("short", "zero", "text", "link", "fifo", "adir"):
        with pytest.raises(shmarray.NotASegmentError) as e:
            shmarray.attach(name, dir=tmp_path)  # never blocks on the FIFO
        assert name in str(e.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_permission_denied(segdir, tmp_path):
    p = write(tmp_path, "locked", raw(segdir, "basic"))
    os.chmod(p, 0)
    with pytest.raises(shmarray.PermissionDeniedError):
        shmarray.attach("locked", dir=tmp_path)


def test_segment_in_a_copied_file(segdir, tmp_path):
    write(tmp_path, "copy", raw(segdir, "types"))
    with shmarray.attach("copy", dir=tmp_path) as seg:
        assert seg["int64"].tolist()[-1] == 2**63 - 1


# ---------------------------------------------------------------------------
# Listing and unlinking


def test_list_segments(segdir, tmp_path):
    basic = raw(segdir, "basic")
    for name in ("b-seg", "a-seg"):
        write(tmp_path, name, basic)
    write(tmp_path, ".hidden", basic)          # reserved name: ignored
    write(tmp_path, "bad name", basic)         # invalid name: ignored
    write(tmp_path, "notaseg", b"plain file")  # no magic: ignored
    write(tmp_path, "tiny", b"SHM")            # no magic: ignored
    os.symlink(tmp_path / "a-seg", tmp_path / "link")  # links: ignored
    os.mkdir(tmp_path / "dir")
    os.mkfifo(tmp_path / "fifo")
    unsealed = Raw(bytearray(basic))
    unsealed.h(H_FLAGS, 0)
    write(tmp_path, "unsealed", unsealed.b)
    write(tmp_path, "truncated", basic[:-5])
    write(tmp_path, "short-header", basic[:50])
    newer = Raw(bytearray(basic))
    newer.h(H_MAJOR, 2)
    write(tmp_path, "newer", newer.b)
    infos = shmarray.list_segments(tmp_path)
    assert [i.name for i in infos] == ["a-seg", "b-seg", "newer", "short-header", "truncated",
                                       "unsealed"]
    by = {i.name: i for i in infos}
    a = by["a-seg"]
    assert a.path == str(tmp_path / "a-seg") and a.size == len(basic) and a.arrays == 3
    assert a.error is None and not a.ephemeral and not a.orphan
    assert a.created.year >= 2024 and a.creator_pid > 0
    assert not a.creator_alive  # the generator has exited
    assert isinstance(by["unsealed"].error, shmarray.NotSealedError)
    assert isinstance(by["truncated"].error, shmarray.TruncatedError)
    assert isinstance(by["short-header"].error, shmarray.TruncatedError)
    assert isinstance(by["newer"].error, shmarray.UnsupportedVersionError)
    with pytest.raises(shmarray.NotFoundError):
        shmarray.list_segments(tmp_path / "missing")


def test_list_orphans_and_live_creators(segdir, tmp_path):
    infos = {i.name: i for i in shmarray.list_segments(segdir)}
    assert infos["ephemeral"].ephemeral and infos["ephemeral"].orphan
    assert not infos["basic"].orphan  # not ephemeral: never an orphan
    with open(f"/proc/{os.getpid()}/stat") as f:  # field 22, after the command in parentheses
        start = int(f.read().rsplit(")", 1)[1].split()[19])
    assert start > 0
    for name, pid, st, expected in [("mine", os.getpid(), start, True),
                                    ("mine-no-start", os.getpid(), 0, True),
                                    ("recycled-pid", os.getpid(), start + 1, False),
                                    ("no-pid", 0, 0, False)]:
        r = Raw(raw(segdir, "ephemeral"))
        r.h(H_CREATOR_PID, pid)
        r.h(H_CREATOR_START, st)
        r.reseal()
        write(tmp_path, name, r.b)
    infos = {i.name: i for i in shmarray.list_segments(tmp_path)}
    assert infos["mine"].creator_alive and not infos["mine"].orphan
    assert infos["mine-no-start"].creator_alive
    assert not infos["recycled-pid"].creator_alive and infos["recycled-pid"].orphan
    assert not infos["no-pid"].creator_alive


def test_unlink(segdir, tmp_path):
    write(tmp_path, "victim", raw(segdir, "basic"))
    seg = shmarray.attach("victim", dir=tmp_path)
    x = seg["x"]
    shmarray.unlink("victim", dir=tmp_path)
    assert not (tmp_path / "victim").exists()
    assert x.tolist() == [1, 2, 3] and seg["f"].tolist() == [0.5, 1.5, 2.5]  # still readable
    with pytest.raises(shmarray.NotFoundError):
        shmarray.unlink("victim", dir=tmp_path)
    with pytest.raises(shmarray.NotFoundError):
        shmarray.attach("victim", dir=tmp_path)
    seg.close()


def test_unlink_refuses_non_segments(segdir, tmp_path):
    write(tmp_path, "precious", b"not a segment, do not delete")
    write(tmp_path, "tiny", b"SHM")
    os.symlink(os.path.join(segdir, "basic"), tmp_path / "link")
    os.mkfifo(tmp_path / "fifo")
    for name in ("precious", "tiny", "link", "fifo"):
        with pytest.raises(shmarray.NotASegmentError, match="not removed|symbolic link"):
            shmarray.unlink(name, dir=tmp_path)
        assert os.path.lexists(tmp_path / name)
    assert os.path.exists(os.path.join(segdir, "basic"))
    unsealed = Raw(raw(segdir, "basic"))
    unsealed.h(H_FLAGS, 0)
    write(tmp_path, "unsealed", unsealed.b)
    shmarray.unlink("unsealed", dir=tmp_path)  # it has the magic: a (broken) segment
    assert not (tmp_path / "unsealed").exists()


# ---------------------------------------------------------------------------
# Fork safety and documentation


def test_import_loads_no_go(segdir):
    code = (
        "import shmarray, sys\n"
        f"seg = shmarray.attach('example', dir={segdir!r})\n"
        "seg['price'].sum(); seg['ticker'].to_pylist(); seg.validate()\n"
        "shmarray.list_segments(seg.dir)\n"
        "maps = open('/proc/self/maps').read()\n"
        "assert 'libshmarray' not in maps, 'libshmarray was loaded'\n"
        "assert 'pyarrow' not in sys.modules, 'pyarrow was imported'\n"
    )
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(shmarray.__file__)))
    subprocess.run([sys.executable, "-c", code], env=env, check=True)


@pytest.mark.parametrize("module", [_segment, shmarray._strings, shmarray._listing, shmarray._column],
                         ids=lambda m: m.__name__)
def test_doctests(segdir, monkeypatch, module):
    monkeypatch.setenv("SHMARRAY_DIR", segdir)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in doctest.DocTestFinder().find(module):
        if "arrow" not in test.name or _has_pyarrow():
            runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0 and result.attempted > 0


def test_spec_worked_example(tmp_path):
    """The segment of spec §16, built from the spec's tables alone."""
    head = bytearray(128)
    struct.pack_into("<8sHHIQIIQQQIIQQQIIqI4xQ", head, 0, b"SHMARRAY", 1, 0, 128, 385, 1, 1, 192,
                     193, 192, 192, 0, 384, 384, 1, 0, 0, 0, 0, 0)
    rec = bytearray(192)
    struct.pack_into("<IIBBBBIIIqqQQQQQQ", rec, 0, 0, 1, 8, 1, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0,
                     128, 24)
    struct.pack_into("<q", rec, 104, 3)
    data = struct.pack("<3q", 1, 2, 3) + bytes(40)
    crc = zlib.crc32(bytes(rec) + b"x", zlib.crc32(bytes(head)))
    assert crc == 0x8FA1045F  # the value the spec gives
    struct.pack_into("<I", head, 120, crc)
    write(tmp_path, "worked", bytes(head) + data + bytes(rec) + b"x")
    with shmarray.attach("worked", dir=tmp_path) as seg:
        assert seg.columns == ["x"] and seg["x"].tolist() == [1, 2, 3] and seg.size == 385
        seg.validate()


def test_arrow_methods_without_pyarrow(segdir, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow now fails
    with shmarray.attach("basic", dir=segdir) as seg:
        with pytest.raises(ImportError, match="pip install pyarrow"):
            seg.to_arrow()
        with pytest.raises(ImportError, match="needs pyarrow"):
            seg.column_to_arrow("x")
        assert seg["x"].tolist() == [1, 2, 3]  # NumPy views need nothing more
