"""``shmarray.create``: convert Python columns to raw buffers and hand them to
libshmarray (Go) to write, seal and publish a segment.

Every conversion here happens in the calling process, once; the library
copies each buffer into shared memory in one pass.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import signal
import sys
import threading
from collections.abc import Mapping

import numpy as np

from . import _lib
from ._errors import InvalidArgumentError
from ._segment import Segment, attach, unlink

# Type codes of spec §6 that the writer produces from NumPy and Python data.
_T_BOOL, _T_UTF8, _T_LARGE_UTF8, _T_BINARY, _T_LARGE_BINARY = 1, 13, 14, 15, 16
_T_FIXED_SIZE_BINARY, _T_DATE32, _T_TIMESTAMP, _T_DURATION = 17, 18, 20, 21
_NUMERIC_CODES = {
    "i1": 2, "u1": 3, "i2": 4, "u2": 5, "i4": 6, "u4": 7, "i8": 8, "u8": 9,
    "f2": 10, "f4": 11, "f8": 12,
}
_UNITS = {"s": 0, "ms": 1, "us": 2, "ns": 3}
_INT32_MAX = 2**31 - 1


def create(name: str, columns, *, dir: str | None = None, mode: int = 0o600,
           metadata: Mapping[str, str] | None = None, unlink_on_exit: bool = False,
           index=()) -> Segment:
    """Create, fill and publish segment ``name``; return it attached.

    ``columns`` is a mapping of array name to one of:

    * a NumPy array of any bool, integer, float, ``datetime64``/``timedelta64``
      (s, ms, us, ns; ``datetime64[D]`` as date32) or ``S`` (fixed-size bytes)
      dtype, of any shape (N-D arrays keep their shape; non-contiguous input is
      copied first). ``NaT`` values are stored as nulls;
    * a ``numpy.ma.MaskedArray``: masked slots are nulls (per row for N-D);
    * a list of ``str`` / ``bytes`` / ``None`` (a utf8 or binary array);
    * a ``pyarrow.Array`` or ``ChunkedArray``;

    or ``columns`` is a ``pyarrow.Table`` (field metadata is kept).

    Nothing is visible under ``name`` until the segment is complete, and an
    existing segment is never replaced (:class:`~shmarray.ExistsError`).
    ``mode`` is 0o600 by default; 0o640 and 0o660 share with the group.
    ``index`` names columns to give a hash index (spec §7.8): then any process
    finds the row of a key with :meth:`Segment.lookup`, :meth:`Segment.contains`
    or :meth:`Segment.index`, straight from the shared pages. An indexed column
    is 1-D of an integer, str or bytes type; its non-null values must be unique
    (:class:`~shmarray.InvalidArgumentError` names a repeated one and two of its
    rows); nulls are not indexed. With an index the segment is format 1.1.
    With ``unlink_on_exit`` the segment is removed when this process exits
    (normally, by an exception, or by SIGTERM); otherwise it persists until
    :func:`shmarray.unlink`.

    The columns are copied while the call runs, with the GIL released: other
    threads must not change them meanwhile (the data checksum is taken from
    the bytes as they are copied).

    This call runs Go code in libshmarray.so: in a child forked from a process
    that already called it, it raises :class:`~shmarray.ForkedError`.

    >>> import numpy as np, shmarray, tempfile
    >>> d = tempfile.mkdtemp()
    >>> seg = shmarray.create("doc-create", {"x": np.arange(3)}, dir=d)
    >>> seg["x"].tolist()
    [0, 1, 2]
    >>> seg.close(); shmarray.unlink("doc-create", dir=d)
    """
    lib = _lib.lib()
    items = _items(columns)
    if isinstance(index, str):
        index = [index]
    index = [str(c) for c in index]
    missing = [c for c in index if c not in {col for col, _, _ in items}]
    if missing:
        raise InvalidArgumentError(f"shmarray: invalid argument: index names {missing!r}, which "
                                   "are not columns of the segment")
    opts = _lib.CreateOptions(mode=mode, flags=_lib.CREATE_EPHEMERAL if unlink_on_exit else 0)
    err = _lib.err_buffer()
    handle = ctypes.c_void_p()
    _lib.check(lib.shmarray_create(_encode(name, "segment name"), _encode_dir(dir), ctypes.byref(opts),
                                   ctypes.byref(handle), err, len(err)), err)
    try:
        for col, value, field in items:
            _add(lib, handle, col, value, field)
        for col in index:
            _lib.check(lib.shmarray_builder_add_index(handle, _encode(col, "array name"), err, len(err)), err)
        if metadata:
            keys, values = _string_array(metadata.keys()), _string_array(metadata.values())
            _lib.check(lib.shmarray_builder_set_metadata(handle, keys, values, len(metadata), err, len(err)), err)
    except BaseException:
        lib.shmarray_builder_discard(handle)
        raise
    _lib.check(lib.shmarray_builder_publish(handle, err, len(err)), err)
    if unlink_on_exit:
        _remove_at_exit(name, dir)
    return attach(name, dir=dir)


def _items(columns):
    """(name, value, pyarrow field or None) for each column."""
    pa = sys.modules.get("pyarrow")
    if pa is not None and isinstance(columns, pa.Table):
        return [(f.name, columns.column(i), f) for i, f in enumerate(columns.schema)]
    if not isinstance(columns, Mapping):
        raise InvalidArgumentError(
            f"shmarray: invalid argument: columns must be a mapping of name to array, or a "
            f"pyarrow.Table, not {type(columns).__name__}")
    return [(str(k), v, None) for k, v in columns.items()]


def _encode(s: str, what: str) -> bytes:
    if not isinstance(s, str):
        raise InvalidArgumentError(f"shmarray: invalid argument: {what} must be a str, not {type(s).__name__}")
    if "\x00" in s:
        raise InvalidArgumentError(f"shmarray: invalid argument: {what} {s!r} contains a NUL character")
    return s.encode("utf-8", "surrogatepass")


def _encode_dir(d) -> bytes | None:
    return None if d is None else _encode(os.fspath(d), "dir")


def _string_array(values) -> ctypes.Array:
    encoded = [_encode(str(v), "metadata") for v in values]
    return (ctypes.c_char_p * max(len(encoded), 1))(*encoded)


def _add(lib, handle, col: str, value, field) -> None:
    pa = sys.modules.get("pyarrow")
    if pa is not None and isinstance(value, (pa.Array, pa.ChunkedArray)):
        _add_arrow(lib, handle, col, value, field, pa)
        return
    spec, keep = _to_spec(col, value)
    err = _lib.err_buffer()
    _lib.check(lib.shmarray_builder_add(handle, _encode(col, "array name"), ctypes.byref(spec), err, len(err)), err)
    del keep  # the buffers the spec pointed into lived until the library copied them


def _add_arrow(lib, handle, col, value, field, pa) -> None:
    """Hand a pyarrow array over through the Arrow C Data Interface."""
    if isinstance(value, pa.ChunkedArray):
        value = value.combine_chunks() if value.num_chunks != 1 else value.chunk(0)
    if field is None:
        field = pa.field(col, value.type)
    schema = ctypes.create_string_buffer(_lib.ARROW_SCHEMA_SIZE)
    array = ctypes.create_string_buffer(_lib.ARROW_ARRAY_SIZE)
    field._export_to_c(ctypes.addressof(schema))
    try:
        value._export_to_c(ctypes.addressof(array))
    except BaseException:
        _release_schema(schema)
        raise
    err = _lib.err_buffer()
    # The library takes ownership of both structures and releases them.
    _lib.check(lib.shmarray_builder_add_arrow(handle, _encode(col, "array name"), ctypes.addressof(array),
                                              ctypes.addressof(schema), err, len(err)), err)


def _release_schema(struct_buf) -> None:
    """Call the release callback of an exported ArrowSchema."""
    release_offset = 56  # format, name, metadata, flags, n_children, children, dictionary, release
    fn = ctypes.c_void_p.from_buffer(struct_buf, release_offset).value
    if fn:
        ctypes.CFUNCTYPE(None, ctypes.c_void_p)(fn)(ctypes.addressof(struct_buf))


def _to_spec(col: str, value):
    """An ArraySpec for a NumPy array, masked array or list, and the objects
    that must stay alive while the library reads through its pointers."""
    mask = None
    if isinstance(value, np.ma.MaskedArray):
        mask = np.ma.getmaskarray(value)
        value = np.ma.getdata(value)
    elif isinstance(value, (list, tuple)):
        if all(v is None or isinstance(v, (str, bytes)) for v in value):
            return _strings_spec(col, value)
        value = np.asarray(value)
    elif not isinstance(value, np.ndarray):
        raise InvalidArgumentError(
            f"shmarray: invalid argument: column {col!r}: {type(value).__name__} is not supported; "
            "give a NumPy array, a numpy.ma.MaskedArray, a list of str/bytes/None, or a pyarrow Array")
    if value.dtype.kind == "U" and value.ndim == 1:
        return _unicode_spec(col, value, mask)
    if value.dtype.kind in "OU":
        flat = value.ravel().tolist()
        if value.ndim != 1 or not all(v is None or isinstance(v, (str, bytes)) for v in flat):
            raise InvalidArgumentError(
                f"shmarray: invalid argument: column {col!r}: an object or unicode array must be 1-D "
                "and hold only str, bytes or None")
        if mask is not None:
            flat = [None if m else v for v, m in zip(flat, mask.tolist())]
        return _strings_spec(col, flat)
    if value.ndim == 0:
        raise InvalidArgumentError(f"shmarray: invalid argument: column {col!r}: a 0-d array has no rows; "
                                   "wrap it as np.atleast_1d(x)")
    spec = _lib.ArraySpec()
    keep = [value]
    kind, dt = value.dtype.kind, value.dtype
    if kind in "iuf" and dt.str[1:] in _NUMERIC_CODES:
        spec.type = _NUMERIC_CODES[dt.str[1:]]
        value = np.ascontiguousarray(value, dtype=dt.newbyteorder("<"))
    elif kind == "b":
        if value.ndim != 1:
            raise InvalidArgumentError(f"shmarray: invalid argument: column {col!r}: bool arrays must be "
                                       "1-D (Arrow packs them into bits); use uint8 for N-D booleans")
        spec.type = _T_BOOL
        value = np.packbits(value, bitorder="little")
    elif kind in "Mm":
        value, mask = _temporal(col, value, mask, spec)
    elif kind == "S":
        if dt.itemsize == 0 or value.ndim != 1:
            raise InvalidArgumentError(f"shmarray: invalid argument: column {col!r}: fixed-size bytes "
                                       "must be 1-D with a width of at least 1")
        spec.type, spec.byte_width = _T_FIXED_SIZE_BINARY, dt.itemsize
        value = np.ascontiguousarray(value)
    else:
        raise InvalidArgumentError(
            f"shmarray: invalid argument: column {col!r}: dtype {dt} is not supported (use bool, "
            "int8..int64, uint8..uint64, float16/32/64, datetime64, timedelta64 or S<n>)")
    length = value.shape[0] if kind != "b" else len(keep[0])
    spec.length = length
    shape = keep[0].shape
    if len(shape) > 8:
        raise InvalidArgumentError(f"shmarray: invalid argument: column {col!r} has {len(shape)} "
                                   "dimensions; at most 8 are supported")
    if len(shape) >= 2:
        shape_arr = (ctypes.c_int64 * len(shape))(*shape)
        spec.ndim, spec.shape = len(shape), ctypes.cast(shape_arr, ctypes.POINTER(ctypes.c_int64))
        keep.append(shape_arr)
    spec.data = value.ctypes.data if value.size else None
    keep.append(value)
    if mask is not None and mask.any():
        valid = ~mask.reshape(mask.shape[0], -1).any(axis=1) if mask.ndim > 1 else ~mask
        bitmap = np.packbits(valid, bitorder="little")
        spec.validity = bitmap.ctypes.data
        keep.append(bitmap)
    return spec, keep


def _temporal(col, value, mask, spec):
    """Map datetime64/timedelta64 to date32, timestamp or duration; NaT → null."""
    unit, step = np.datetime_data(value.dtype)
    if step != 1 or not (unit in _UNITS or (unit == "D" and value.dtype.kind == "M")):
        raise InvalidArgumentError(
            f"shmarray: invalid argument: column {col!r}: unit {value.dtype} is not supported; convert "
            "with .astype('datetime64[ns]') (or s, ms, us; datetime64[D] for dates)")
    nat = np.isnat(value)
    if nat.any():
        mask = nat if mask is None else (mask | nat)
    ints = value.view(np.int64)
    if unit == "D":
        spec.type = _T_DATE32
        if ints.size and ((ints[~nat] < -2**31).any() or (ints[~nat] > _INT32_MAX).any()):
            raise InvalidArgumentError(f"shmarray: invalid argument: column {col!r}: a date is out of "
                                       "the date32 range")
        ints = np.where(nat, 0, ints).astype("<i4")
    else:
        spec.type = _T_TIMESTAMP if value.dtype.kind == "M" else _T_DURATION
        spec.time_unit = _UNITS[unit]
        ints = np.ascontiguousarray(np.where(nat, 0, ints) if nat.any() else ints, dtype="<i8")
    return ints, mask


def _unicode_spec(col, value, mask):
    """utf8 from a NumPy unicode array, vectorized (no Python object per
    value): NumPy stores UTF-32 code points padded with NULs to a fixed
    width; each value ends at its last non-NUL code point, as in NumPy."""
    n, width = len(value), value.dtype.itemsize // 4
    codes = np.ascontiguousarray(value).view(np.uint32).reshape(n, width)
    lengths = np.zeros(n, dtype=np.int64)
    for k in range(width):  # one pass per column: each value's last non-NUL
        np.copyto(lengths, k + 1, where=codes[:, k] != 0)
    if mask is not None:
        lengths[mask] = 0
    full = n == 0 or lengths.min() == width  # no value is shorter: keep every code point
    inside = None if full else np.arange(width) < lengths[:, None]
    if codes.size == 0 or codes.max() < 0x80:  # ASCII: one byte per code point
        ascii_bytes = codes.astype(np.uint8)
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return _var_length_spec(_T_UTF8, _T_LARGE_UTF8, offsets,
                                ascii_bytes.reshape(-1) if full else ascii_bytes[inside],
                                None if mask is None or not mask.any() else ~mask)
    if full:
        inside = np.ones((n, width), dtype=bool)
    cps = codes[inside]  # every code point of every value, in order
    if ((cps >= 0xD800) & (cps <= 0xDFFF)).any() or (cps > 0x10FFFF).any():
        raise InvalidArgumentError(f"shmarray: invalid argument: column {col!r} holds a surrogate or an "
                                   "out-of-range code point, which UTF-8 cannot encode")
    nbytes = 1 + (cps >= 0x80) + (cps >= 0x800) + (cps >= 0x10000)
    data = _utf8_encode(cps, nbytes)
    row_bytes = np.zeros((n, width), dtype=np.int64)
    row_bytes[inside] = nbytes
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(row_bytes.sum(axis=1), out=offsets[1:])
    return _var_length_spec(_T_UTF8, _T_LARGE_UTF8, offsets, data,
                            None if mask is None or not mask.any() else ~mask)


def _utf8_encode(cps, nbytes):
    """UTF-8 bytes of code points cps (uint32), each taking nbytes (1-4)."""
    out = np.empty(int(nbytes.sum()), dtype=np.uint8)
    start = np.cumsum(nbytes) - nbytes
    for size, lead in ((1, 0x00), (2, 0xC0), (3, 0xE0), (4, 0xF0)):
        sel = nbytes == size
        if not sel.any():
            continue
        c, at = cps[sel].astype(np.uint32), start[sel]
        out[at] = lead | (c >> (6 * (size - 1)))
        for k in range(1, size):
            out[at + k] = 0x80 | ((c >> (6 * (size - 1 - k))) & 0x3F)
    return out


def _var_length_spec(small_type, large_type, offsets, data, valid):
    """An ArraySpec from int64 offsets, the data bytes and an optional bool
    validity array; int32 offsets unless the data exceeds 2 GiB."""
    large = offsets[-1] > _INT32_MAX
    spec = _lib.ArraySpec()
    spec.type = large_type if large else small_type
    offsets = offsets if large else offsets.astype("<i4")
    spec.length = len(offsets) - 1
    spec.offsets = offsets.ctypes.data
    spec.data = data.ctypes.data if data.size else None
    keep = [offsets, data]
    if valid is not None:
        bitmap = np.packbits(valid, bitorder="little")
        spec.validity = bitmap.ctypes.data
        keep.append(bitmap)
    return spec, keep


def _strings_spec(col, values):
    """utf8 (all str) or binary (all bytes) from a list; None is null."""
    kinds = {type(v) for v in values if v is not None}
    if kinds - {str} and kinds - {bytes}:
        raise InvalidArgumentError(f"shmarray: invalid argument: column {col!r} mixes str and bytes; "
                                   "use one kind per column")
    is_bytes = kinds == {bytes}
    encoded = [b"" if v is None else (v if is_bytes else v.encode("utf-8")) for v in values]
    lengths = np.fromiter((len(e) for e in encoded), dtype=np.int64, count=len(encoded))
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    data = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    valid = None
    if any(v is None for v in values):
        valid = np.fromiter((v is not None for v in values), dtype=bool, count=len(values))
    if is_bytes:
        return _var_length_spec(_T_BINARY, _T_LARGE_BINARY, offsets, data, valid)
    return _var_length_spec(_T_UTF8, _T_LARGE_UTF8, offsets, data, valid)


_exit_lock = threading.Lock()
_to_remove: list[tuple[str, str | None, int]] = []
_hooks_installed = False


def _remove_at_exit(name: str, dir) -> None:
    """Unlink name when this process exits: atexit covers normal exit and
    uncaught exceptions; a SIGTERM handler (installed only where SIGTERM still
    has its default action) turns SIGTERM into a normal exit."""
    global _hooks_installed
    with _exit_lock:
        _to_remove.append((name, dir, os.getpid()))
        if _hooks_installed:
            return
        _hooks_installed = True
    atexit.register(_remove_all)
    if threading.current_thread() is threading.main_thread() and \
            signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _on_sigterm)


def _remove_all() -> None:
    pid = os.getpid()
    for name, dir, owner in _to_remove:
        if owner == pid:  # a forked child inherits the list; only the creator unlinks
            try:
                unlink(name, dir=dir)
            except Exception:
                pass


def _on_sigterm(signum, frame):
    raise SystemExit(128 + signum)
