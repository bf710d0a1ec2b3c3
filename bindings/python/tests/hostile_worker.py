"""Reads segments that may be hostile, for test_hostile.py; run as a script.

    python hostile_worker.py DIR < names

For each segment name on stdin (one a line) it prints ``BEGIN name``, then
reads the segment every way the Python binding offers -- attach, every
column as NumPy or StringColumn values, every column and the whole table as
pyarrow (when installed), full validation, then pyarrow's own full check of
what a validated segment exports -- and, through ctypes, the plain-C reader
of libshmarray.so (attach, describe, view, validate, export and release),
and prints one JSON line: {"name", "py": code name or "OK", "c": the same
for the C reader, "other": the type and message of any exception that is
not a ShmarrayError}. Output is flushed per line, so a parent that sees the
process die knows which segment it was reading.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys

import numpy as np

import shmarray
from shmarray import _lib
from shmarray._errors import CODE_NAMES

try:
    import pyarrow as pa
except ImportError:  # the Arrow reads are skipped
    pa = None


def read_python(name: str, d: str) -> str:
    """Everything the binding can read; the first ShmarrayError's code, or OK."""
    try:
        with shmarray.attach(name, dir=d) as seg:
            repr(seg), seg.metadata, seg.num_rows, seg.size, seg.created, seg.ephemeral
            for col in seg.columns:
                seg.info(col)
                v = seg[col]
                if isinstance(v, (shmarray.StringColumn, shmarray.ListColumn, shmarray.DictionaryColumn)):
                    v.to_pylist()  # lists and dictionaries: every slot through the C core's checks
                    repr(v)
                    if len(v):
                        v[-1]
                elif isinstance(v, np.ma.MaskedArray):
                    np.ma.getdata(v).tobytes(), np.ma.getmaskarray(v).sum()
                else:
                    v.tobytes()
            if pa is not None:
                for col in seg.columns:
                    seg.column_to_arrow(col)
                try:
                    seg.to_arrow()
                except shmarray.InvalidArgumentError:
                    pass  # arrays of different lengths are not a table
            seg.validate()
            if pa is not None:
                # What a validated segment exports, Arrow must accept in full;
                # except that Arrow wants date64 values to be whole days, which
                # the format does not require (spec §6), so those are skipped.
                for col in seg.columns:
                    if seg.info(col).type != "date64":
                        seg.column_to_arrow(col).validate(full=True)
    except shmarray.ShmarrayError as e:
        return e.code_name
    return "OK"


class _Info(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("name_length", ctypes.c_size_t), ("type", ctypes.c_uint32),
                ("time_unit", ctypes.c_uint32), ("byte_width", ctypes.c_uint32), ("ndim", ctypes.c_uint32),
                ("timezone", ctypes.c_char_p), ("length", ctypes.c_int64), ("null_count", ctypes.c_int64),
                ("shape", ctypes.c_int64 * 8), ("metadata_count", ctypes.c_size_t)]


class _View(ctypes.Structure):
    _fields_ = [("validity", ctypes.c_void_p), ("validity_length", ctypes.c_size_t),
                ("offsets", ctypes.c_void_p), ("offsets_length", ctypes.c_size_t),
                ("data", ctypes.c_void_p), ("data_length", ctypes.c_size_t)]


_RELEASE = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
_lib_c = None


def _c_lib():
    global _lib_c
    if _lib_c is None:
        lib = _lib.lib()  # the same library the writer uses; its reading half is plain C
        vp, err = ctypes.c_void_p, [ctypes.c_char_p, ctypes.c_size_t]
        lib.shmarray_attach.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(vp)] + err
        lib.shmarray_array_count.argtypes, lib.shmarray_array_count.restype = [vp], ctypes.c_size_t
        lib.shmarray_describe.argtypes = [vp, ctypes.c_size_t, ctypes.POINTER(_Info)]
        lib.shmarray_array_view.argtypes = [vp, ctypes.c_size_t, ctypes.POINTER(_View)]
        lib.shmarray_validate.argtypes = [vp] + err
        lib.shmarray_export_array.argtypes = [vp, ctypes.c_size_t, vp, vp] + err
        lib.shmarray_close.argtypes, lib.shmarray_close.restype = [vp], None
        _lib_c = lib
    return _lib_c


def _release(struct_buf, offset: int) -> None:
    fn = ctypes.c_void_p.from_buffer(struct_buf, offset).value
    if fn:
        _RELEASE(fn)(ctypes.addressof(struct_buf))


def read_c(name: str, d: str) -> str:
    """The C reader: attach, describe and view every array, full validation,
    export every array (then release it); the first failing code, or OK."""
    lib = _c_lib()
    names = CODE_NAMES
    seg = ctypes.c_void_p()
    err = ctypes.create_string_buffer(512)
    rc = lib.shmarray_attach(name.encode(), d.encode(), ctypes.byref(seg), err, len(err))
    if rc:
        return names.get(rc, str(rc))
    try:
        for i in range(lib.shmarray_array_count(seg)):
            info, view = _Info(), _View()
            if lib.shmarray_describe(seg, i, ctypes.byref(info)) or \
                    lib.shmarray_array_view(seg, i, ctypes.byref(view)):
                return "INTERNAL"
        rc = lib.shmarray_validate(seg, err, len(err))
        for i in range(lib.shmarray_array_count(seg)):
            arr = ctypes.create_string_buffer(_lib.ARROW_ARRAY_SIZE)
            schema = ctypes.create_string_buffer(_lib.ARROW_SCHEMA_SIZE)
            if lib.shmarray_export_array(seg, i, ctypes.addressof(arr), ctypes.addressof(schema),
                                         err, len(err)) == 0:
                _release(arr, 64)
                _release(schema, 56)
        return names.get(rc, str(rc)) if rc else "OK"
    finally:
        lib.shmarray_close(seg)


def main() -> None:
    d = sys.argv[1]
    for line in sys.stdin:
        name = line.strip()
        if not name:
            continue
        print("BEGIN " + name, flush=True)
        out = {"name": name}
        for key, read in (("py", read_python), ("c", read_c)):
            try:
                out[key] = read(name, d)
            except Exception as e:  # anything but a ShmarrayError is a finding
                out[key] = "OTHER"
                out["other"] = f"{key}: {type(e).__name__}: {e}"[:500]
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    os.environ.setdefault("SHMARRAY_DIR", "/dev/shm")
    main()
