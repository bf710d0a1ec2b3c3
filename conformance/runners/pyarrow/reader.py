"""pyarrow as an independent reader of shmarray segments (conformance suite).

    python reader.py mmap DIR NAME...    # this file's own reader + pyarrow
    python reader.py cdata DIR NAME...   # the C ABI's Arrow C Data Interface export

``mmap``: the segment is mapped with the standard library and its header and
directory decoded here with ``struct`` from the spec alone, without importing
shmarray. Each array is built with ``pyarrow.Array.from_buffers`` over
zero-copy ``pyarrow.py_buffer`` views of the mapping (N-D arrays as
``arrow.fixed_shape_tensor`` over a ``fixed_size_list``), checked with
``validate(full=True)`` and dumped from pyarrow's values. It does only the
checks it needs to build the arrays: it is given valid vectors only, and it
proves that a segment's buffers are a correct Arrow layout in the eyes of an
independent Arrow implementation.

``cdata``: each array is exported by libshmarray's plain-C reader
(``shmarray_attach``, ``shmarray_export_array``) and imported with pyarrow's
``_import_from_c``, then validated and dumped the same way; segment metadata
comes from ``shmarray_metadata``. This checks capi/sa_arrow.c.

Output: the canonical dump of conformance/README.md, per segment
"case NAME" ... "end"; a failure is "error CODE STAGE message".
"""

from __future__ import annotations

import ctypes
import mmap
import os
import struct
import sys

import pyarrow as pa

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import arrowdump  # noqa: E402

# ---------------------------------------------------------------------------
# mmap mode: a reader written from spec/format-v1.md with struct

_HEADER = struct.Struct("<8sHHIQIIQQQIIQQQII")  # magic .. seg_kv_count (bytes 0-95)
_RECORD = struct.Struct("<IIBBBBIIIqqQQQQQQII")   # bytes 0-95 of a directory record
_SHAPE = struct.Struct("<8q")                      # bytes 104-167
_KV = struct.Struct("<IIII")

_ELEMENT = {
    1: pa.bool_(), 2: pa.int8(), 3: pa.uint8(), 4: pa.int16(), 5: pa.uint16(), 6: pa.int32(),
    7: pa.uint32(), 8: pa.int64(), 9: pa.uint64(), 10: pa.float16(), 11: pa.float32(),
    12: pa.float64(), 13: pa.string(), 14: pa.large_string(), 15: pa.binary(),
    16: pa.large_binary(), 18: pa.date32(), 19: pa.date64(),
}
_UNITS = ("s", "ms", "us", "ns")


class _Fail(Exception):
    def __init__(self, code: str, stage: str, msg: str):
        super().__init__(msg)
        self.code, self.stage = code, stage


def _arrow_type(code: int, unit: int, width: int, tz: str):
    if code == 17:
        return pa.binary(width)
    if code == 20:
        return pa.timestamp(_UNITS[unit], tz=tz or None)
    if code == 21:
        return pa.duration(_UNITS[unit])
    return _ELEMENT[code]


def read_mmap(path: str) -> list:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        size = os.fstat(fd).st_size
        if size < 8:
            raise _Fail("NOT_A_SEGMENT", "attach", "shorter than the magic")
        mm = mmap.mmap(fd, size, prot=mmap.PROT_READ)
    finally:
        os.close(fd)
    mv = memoryview(mm)
    if len(mm) < 128 or bytes(mm[0:8]) != b"SHMARRAY" or struct.unpack_from("<H", mm, 8)[0] != 1:
        raise _Fail("NOT_A_SEGMENT", "attach", "not a version 1 segment")
    (_, _major, _minor, _hsize, _fsize, _flags, array_count, _mo, _ml, dir_off, rec_size, _kvc,
     kv_off, st_off, _st_len, seg_first, seg_count) = _HEADER.unpack_from(mm, 0)

    def string(off: int, n: int) -> str:
        return bytes(mm[st_off + off:st_off + off + n]).decode("utf-8")

    def kv_range(first: int, count: int) -> list:
        out = []
        for j in range(first, first + count):
            ko, kl, vo, vl = _KV.unpack_from(mm, kv_off + 16 * j)
            out.append((string(ko, kl), string(vo, vl)))
        return out

    def buf(off: int, n: int):
        return pa.py_buffer(mv[off:off + n]) if n else None

    seg_md = kv_range(seg_first, seg_count)
    # The identity (spec §4): header bytes 128-151, only in a file of minor >= 2.
    seg_id, version = bytes(16), 0
    if _minor >= 2 and _hsize >= 192:
        seg_id, version = bytes(mm[128:144]), struct.unpack_from("<Q", mm, 144)[0]
    lines = [f"segment arrays={array_count} metadata={len(seg_md)}", f"identity {seg_id.hex()} {version}"]
    lines += [f"metadata {arrowdump.text(k)} {arrowdump.text(v)}" for k, v in seg_md]
    for i in range(array_count):
        rec = dir_off + i * rec_size
        (name_off, name_len, code, ndim, unit, _rflags, width, tz_off, tz_len, length, nulls,
         v_off, v_len, o_off, o_len, d_off, d_len, kv_first, kv_count) = _RECORD.unpack_from(mm, rec)
        shape = _SHAPE.unpack_from(mm, rec + 104)[:ndim]
        name = string(name_off, name_len)
        elem = _arrow_type(code, unit, width, string(tz_off, tz_len) if tz_len else "")
        validity = buf(v_off, v_len)
        data = buf(d_off, d_len) or pa.py_buffer(b"")
        if ndim > 1:
            row = 1
            for d in shape[1:]:
                row *= d
            child = pa.Array.from_buffers(elem, length * row, [None, data], null_count=0)
            storage = pa.Array.from_buffers(pa.list_(elem, row), length, [validity],
                                            null_count=nulls, children=[child])
            arr = pa.ExtensionArray.from_storage(pa.fixed_shape_tensor(elem, list(shape[1:])), storage)
        elif code in (13, 14, 15, 16):
            ow = 8 if code in (14, 16) else 4
            offsets = buf(o_off, o_len) or pa.py_buffer(bytes(ow))  # empty array: one zero entry
            arr = pa.Array.from_buffers(elem, length, [validity, offsets, data], null_count=nulls)
        else:
            arr = pa.Array.from_buffers(elem, length, [validity, data], null_count=nulls)
        try:
            arr.validate(full=True)
        except pa.ArrowInvalid as e:
            raise _Fail("ARROW_INVALID", "validate", f"array {name!r}: {e}") from None
        lines += arrowdump.array_lines(i, name, arr, kv_range(kv_first, kv_count))
    return lines


# ---------------------------------------------------------------------------
# cdata mode: libshmarray's Arrow C Data Interface export

_lib = None


def _load():
    global _lib
    if _lib is None:
        here = os.path.dirname(os.path.abspath(__file__))
        path = os.environ.get("SHMARRAY_LIB") or os.path.join(here, "..", "..", "..", "build", "libshmarray.so")
        lib = ctypes.CDLL(path)
        vp, sz = ctypes.c_void_p, ctypes.c_size_t
        lib.shmarray_attach.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(vp), ctypes.c_char_p, sz]
        lib.shmarray_attach.restype = ctypes.c_int
        lib.shmarray_close.argtypes, lib.shmarray_close.restype = [vp], None
        lib.shmarray_array_count.argtypes, lib.shmarray_array_count.restype = [vp], sz
        lib.shmarray_export_array.argtypes = [vp, sz, vp, vp, ctypes.c_char_p, sz]
        lib.shmarray_export_array.restype = ctypes.c_int
        lib.shmarray_metadata_count.argtypes, lib.shmarray_metadata_count.restype = [vp, sz], sz
        lib.shmarray_metadata.argtypes = [vp, sz, sz, ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_char_p)]
        lib.shmarray_metadata.restype = ctypes.c_int
        lib.shmarray_error_name.argtypes, lib.shmarray_error_name.restype = [ctypes.c_int], ctypes.c_char_p
        lib.shmarray_identity.argtypes = [vp, ctypes.c_char_p, ctypes.POINTER(ctypes.c_uint64)]
        lib.shmarray_identity.restype = ctypes.c_int
        _lib = lib
    return _lib


def read_cdata(dir_: str, name: str) -> list:
    lib = _load()
    err = ctypes.create_string_buffer(512)
    seg = ctypes.c_void_p()
    rc = lib.shmarray_attach(name.encode(), dir_.encode(), ctypes.byref(seg), err, len(err))
    if rc:
        raise _Fail(lib.shmarray_error_name(rc).decode(), "attach", err.value.decode("utf-8", "replace"))
    try:
        seg_all = ctypes.c_size_t(-1).value  # SHMARRAY_SEGMENT_METADATA
        nmeta = lib.shmarray_metadata_count(seg, seg_all)
        seg_md = []
        for j in range(nmeta):
            k, v = ctypes.c_char_p(), ctypes.c_char_p()
            lib.shmarray_metadata(seg, seg_all, j, ctypes.byref(k), ctypes.byref(v))
            seg_md.append((k.value.decode("utf-8"), v.value.decode("utf-8")))
        count = lib.shmarray_array_count(seg)
        seg_id, version = ctypes.create_string_buffer(16), ctypes.c_uint64()
        rc = lib.shmarray_identity(seg, seg_id, ctypes.byref(version))
        if rc:
            raise _Fail(lib.shmarray_error_name(rc).decode(), "identity", "shmarray_identity failed")
        lines = [f"segment arrays={count} metadata={len(seg_md)}", f"identity {seg_id.raw.hex()} {version.value}"]
        lines += [f"metadata {arrowdump.text(k)} {arrowdump.text(v)}" for k, v in seg_md]
        for i in range(count):
            schema = ctypes.create_string_buffer(72)  # struct ArrowSchema
            array = ctypes.create_string_buffer(80)   # struct ArrowArray
            rc = lib.shmarray_export_array(seg, i, ctypes.addressof(array), ctypes.addressof(schema), err, len(err))
            if rc:
                raise _Fail(lib.shmarray_error_name(rc).decode(), "export", err.value.decode("utf-8", "replace"))
            field = pa.Field._import_from_c(ctypes.addressof(schema))
            arr = pa.Array._import_from_c(ctypes.addressof(array), field.type)
            try:
                arr.validate(full=True)
            except pa.ArrowInvalid as e:
                raise _Fail("ARROW_INVALID", "validate", f"array {field.name!r}: {e}") from None
            lines += arrowdump.array_lines(i, field.name, arr, arrowdump.field_metadata(field.metadata))
        return lines
    finally:
        lib.shmarray_close(seg)  # exported arrays keep the mapping alive on their own


def main() -> int:
    if len(sys.argv) < 3 or sys.argv[1] not in ("mmap", "cdata"):
        print("usage: reader.py mmap|cdata DIR NAME...", file=sys.stderr)
        return 2
    mode, dir_ = sys.argv[1], sys.argv[2]
    for name in sys.argv[3:]:
        print(f"case {name}")
        try:
            lines = read_mmap(os.path.join(dir_, name)) if mode == "mmap" else read_cdata(dir_, name)
            print("\n".join(lines))
        except _Fail as e:
            print(f"error {e.code} {e.stage} {e}")
        except Exception as e:  # a crash of this reader is a red cell, not a stop
            print(f"error EXCEPTION {mode} {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        print("end", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
