"""Python columns (NumPy, masked, lists, pyarrow) converted to the raw
buffers of spec §7 and handed to libshmarray (Go), which copies them into a
segment being built.

Every conversion here happens in the calling process, once; the library
copies each buffer into shared memory in one pass.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Mapping

import numpy as np

from . import _lib, _native
from ._errors import InvalidArgumentError
from ._utf8 import utf32_to_utf8

# Type codes of spec §6 that the writer produces from NumPy and Python data.
T_BOOL, T_UTF8, T_LARGE_UTF8, T_BINARY, T_LARGE_BINARY = 1, 13, 14, 15, 16
T_FIXED_SIZE_BINARY, T_DATE32, T_TIMESTAMP, T_DURATION = 17, 18, 20, 21
T_LIST, T_LARGE_LIST = 22, 23  # format 1.3
NUMERIC_CODES = {
    "i1": 2, "u1": 3, "i2": 4, "u2": 5, "i4": 6, "u4": 7, "i8": 8, "u8": 9,
    "f2": 10, "f4": 11, "f8": 12,
}
UNITS = {"s": 0, "ms": 1, "us": 2, "ns": 3}
_INT32_MAX = 2**31 - 1


def items(columns):
    """(name, value, pyarrow field or None) for each column."""
    pa = sys.modules.get("pyarrow")
    if pa is not None and isinstance(columns, pa.Table):
        return [(f.name, columns.column(i), f) for i, f in enumerate(columns.schema)]
    if not isinstance(columns, Mapping):
        raise InvalidArgumentError(
            f"shmarray: invalid argument: columns must be a mapping of name to array, or a "
            f"pyarrow.Table, not {type(columns).__name__}")
    return [(str(k), v, None) for k, v in columns.items()]


def encode(s: str, what: str) -> bytes:
    if not isinstance(s, str):
        raise InvalidArgumentError(f"shmarray: invalid argument: {what} must be a str, not {type(s).__name__}")
    if "\x00" in s:
        raise InvalidArgumentError(f"shmarray: invalid argument: {what} {s!r} contains a NUL character")
    return s.encode("utf-8", "surrogatepass")


def writing_dir(d) -> str:
    """The absolute segment directory of a writer (``d``, else
    ``$SHMARRAY_DIR``, else /dev/shm), resolved once, when the writer starts,
    by the C core (spec §2.2): it reads the environment as ``os.environ``
    changes it, unlike the Go runtime of libshmarray.so, which keeps the
    environment the process started with. Absolute, so that publishing and
    removal at exit find the same directory whatever the working directory
    or the environment has become by then."""
    return os.path.abspath(_native.resolve_dir(None if d is None else os.fspath(d)))


def add_value(lib, handle, col: str, value, field) -> None:
    pa = sys.modules.get("pyarrow")
    nested = _nested(col, value)
    if nested is not None:  # format 1.3: a list or dictionary column
        _add_nested(lib, handle, col, *nested)
        return
    if pa is not None and isinstance(value, (pa.Array, pa.ChunkedArray)):
        _add_arrow(lib, handle, col, value, field, pa)
        return
    spec, keep = _to_spec(col, value)
    err = _lib.err_buffer()
    _lib.check(lib.shmarray_builder_add(handle, encode(col, "array name"), ctypes.byref(spec), err, len(err)), err)
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
    _lib.check(lib.shmarray_builder_add_arrow(handle, encode(col, "array name"), ctypes.addressof(array),
                                              ctypes.addressof(schema), err, len(err)), err)


def _nested(col: str, value):
    """("dictionary", Categorical) for a pandas Categorical or a Series of
    category dtype; ("list", rows) for a list whose items are lists, tuples
    or NumPy arrays (None is a null row), or a 1-D object array of such,
    unless they are Python lists of one length (a 2-D array, as NumPy
    makes it); None for anything else (format 1.3, spec §6.1)."""
    if type(value).__name__ == "Categorical":
        return "dictionary", value
    if str(getattr(value, "dtype", "")) == "category" and hasattr(value, "array"):
        return "dictionary", value.array  # a pandas Series: its Categorical
    if isinstance(value, (list, tuple)) or (isinstance(value, np.ndarray) and value.dtype.kind == "O"
                                             and value.ndim == 1):
        items = list(value)
        if items and any(isinstance(v, (list, tuple, np.ndarray)) for v in items) and all(
                v is None or isinstance(v, (list, tuple, np.ndarray)) for v in items):
            # Python lists of one length stay what NumPy makes of them, a
            # 2-D array; rows of different lengths, None rows or NumPy rows
            # make a list column.
            if all(isinstance(v, (list, tuple)) for v in items) and _rectangular(items):
                return None
            return "list", items
    return None


def _rectangular(rows: list) -> bool:
    """Whether NumPy makes an N-D array of numbers of rows."""
    try:
        return np.asarray(rows).dtype.kind in "biuf"  # numbers: a 2-D array; text rows stay lists
    except (ValueError, OverflowError):
        return False


def _add_nested(lib, handle, col: str, kind: str, value) -> None:
    """A list or dictionary column through shmarray_builder_add_list /
    _add_dictionary: the column's spec and its values' spec (any 1-D value
    create takes). Lists of lists go through pyarrow."""
    if kind == "dictionary":
        codes = np.asarray(value.codes)
        parent, keep = _to_spec(col, np.ma.MaskedArray(codes, mask=codes < 0) if (codes < 0).any() else codes)
        values, keep2 = _to_spec(col, np.asarray(value.categories))
        fn = lib.shmarray_builder_add_dictionary
    else:
        rows = value
        if any(isinstance(r, np.ndarray) and r.ndim != 1 for r in rows if r is not None):
            raise InvalidArgumentError(f"shmarray: invalid argument: column {col!r}: each row of a list "
                                       "column must be 1-D")
        given = [r for r in rows if r is not None]
        if any(isinstance(x, (list, tuple, np.ndarray)) for r in given if not isinstance(r, np.ndarray)
               for x in r):
            _add_deeper(lib, handle, col, rows)
            return
        values, keep2 = _to_spec(col, _flat_values(col, given))
        lengths = np.fromiter((0 if r is None else len(r) for r in rows), dtype=np.int64, count=len(rows))
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        large = offsets[-1] > np.iinfo(np.int32).max
        offsets = offsets if large else offsets.astype(np.int32)
        parent = _lib.ArraySpec()
        parent.type, parent.length, parent.offsets = (T_LARGE_LIST if large else T_LIST), len(rows), offsets.ctypes.data
        keep = [offsets]
        if len(given) < len(rows):
            bitmap = np.packbits(np.fromiter((r is not None for r in rows), dtype=bool, count=len(rows)),
                                 bitorder="little")
            parent.validity = bitmap.ctypes.data
            keep.append(bitmap)
        fn = lib.shmarray_builder_add_list
    err = _lib.err_buffer()
    _lib.check(fn(handle, encode(col, "array name"), ctypes.byref(parent), ctypes.byref(values), err, len(err)), err)
    del keep, keep2  # the buffers the specs pointed into lived until the library copied them


def _flat_values(col: str, given: list):
    """The values of every row, one after the other, as create takes a column:
    NumPy rows concatenated (masked rows keep their nulls), else a list (str,
    bytes), or numbers with None as masked nulls."""
    if given and all(isinstance(r, np.ndarray) for r in given):
        masked = any(isinstance(r, np.ma.MaskedArray) for r in given)
        return (np.ma.concatenate if masked else np.concatenate)(given)
    flat = [x for r in given for x in r]
    if all(x is None or isinstance(x, (str, bytes)) for x in flat):
        return flat
    if any(x is None for x in flat):
        nulls = np.array([x is None for x in flat])
        data = np.asarray([0 if x is None else x for x in flat])
        return np.ma.MaskedArray(data, mask=nulls)
    return np.asarray(flat)


def _add_deeper(lib, handle, col: str, rows) -> None:
    """Rows of rows (list<list<T>>): built by pyarrow, handed over through
    the Arrow C Data Interface."""
    try:
        import pyarrow as pa
    except ImportError:
        raise InvalidArgumentError(f"shmarray: invalid argument: column {col!r}: lists of lists need "
                                   "pyarrow (pip install pyarrow); one level of lists does not") from None
    _add_arrow(lib, handle, col, pa.array(rows), None, pa)


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
        try:
            arr = np.asarray(value)
        except (ValueError, OverflowError):  # rows of unequal length, or an int NumPy cannot hold
            arr = None
        # Numbers (bools and ints promote, as in NumPy) need no look at each
        # value; anything else is checked value by value, to name the problem.
        if arr is None or arr.dtype.kind not in "biufcmM":
            _check_items(col, value, "a list")
        if arr is None:  # only lists of lists pass the check: NumPy found them ragged
            raise InvalidArgumentError(
                f"shmarray: invalid argument: column {col!r} is a list of lists NumPy cannot make an array of; "
                "give each row as a list or a NumPy array of one type (rows of different lengths make a list "
                "column), None for a null row")
        value = arr
    elif not isinstance(value, np.ndarray):
        raise InvalidArgumentError(
            f"shmarray: invalid argument: column {col!r}: {type(value).__name__} is not supported; "
            "give a NumPy array, a numpy.ma.MaskedArray, a list of str/bytes/None, or a pyarrow Array")
    if value.dtype.kind == "U" and value.ndim == 1:
        return _unicode_spec(col, value, mask)
    if value.dtype.kind in "OU":
        flat = value.ravel().tolist()
        strings = value.ndim == 1 and all(v is None or isinstance(v, (str, bytes)) for v in flat)
        if not strings and value.ndim == 1 and value.dtype.kind == "O":
            _check_items(col, flat, "an object array", mask)  # raises for what a column cannot hold
            # Numbers, bools or NumPy scalars of one kind: the array NumPy makes of them.
            value = np.array(flat if mask is None else [0 if m else v for v, m in zip(flat, mask.tolist())])
        elif not strings:
            raise InvalidArgumentError(
                f"shmarray: invalid argument: column {col!r}: an object or unicode array must be 1-D "
                "and hold only str, bytes or None")
        else:
            if mask is not None:
                flat = [None if m else v for v, m in zip(flat, mask.tolist())]
            return _strings_spec(col, flat)
        if value.dtype.kind == "O":
            raise InvalidArgumentError(
                f"shmarray: invalid argument: column {col!r}: its objects make no NumPy array of one type")
    if value.ndim == 0:
        raise InvalidArgumentError(f"shmarray: invalid argument: column {col!r}: a 0-d array has no rows; "
                                   "wrap it as np.atleast_1d(x)")
    spec = _lib.ArraySpec()
    keep = [value]
    kind, dt = value.dtype.kind, value.dtype
    if kind in "iuf" and dt.str[1:] in NUMERIC_CODES:
        spec.type = NUMERIC_CODES[dt.str[1:]]
        value = np.ascontiguousarray(value, dtype=dt.newbyteorder("<"))
    elif kind == "b":
        if value.ndim != 1:
            raise InvalidArgumentError(f"shmarray: invalid argument: column {col!r}: bool arrays must be "
                                       "1-D (Arrow packs them into bits); use uint8 for N-D booleans")
        spec.type = T_BOOL
        value = np.packbits(value, bitorder="little")
    elif kind in "Mm":
        value, mask = _temporal(col, value, mask, spec)
    elif kind == "S":
        if dt.itemsize == 0 or value.ndim != 1:
            raise InvalidArgumentError(f"shmarray: invalid argument: column {col!r}: fixed-size bytes "
                                       "must be 1-D with a width of at least 1")
        spec.type, spec.byte_width = T_FIXED_SIZE_BINARY, dt.itemsize
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


def _kind(v) -> str:
    """The kind of one Python value, for the checks of _check_items."""
    if v is None:
        return "None"
    if isinstance(v, (bool, np.bool_)):
        return "bool"
    if isinstance(v, (int, np.integer)):
        return "int"
    if isinstance(v, (float, np.floating)):
        return "float"
    if isinstance(v, str):
        return "str"
    if isinstance(v, bytes):
        return "bytes"
    if isinstance(v, (list, tuple, np.ndarray)):
        return "list"
    return type(v).__name__


# Kinds a column may hold together: numbers promote, as in NumPy (a list of
# bools and ints, whose array is numeric, is never checked value by value);
# nothing else is converted (["a", 1] is refused, never stored as strings).
_COMPATIBLE = [{"int", "float"}, {"str", "None"}, {"bytes", "None"}]


def first_kinds(values, masked=None) -> dict[str, int]:
    """The row where each kind of value (_kind) first appears, skipping
    masked rows; "int>64" for an integer beyond 64 bits (and none after it)."""
    first: dict[str, int] = {}
    for i, v in enumerate(values):
        if masked is not None and masked[i]:
            continue
        k = _kind(v)
        first.setdefault(k, i)
        if k == "int" and not -2**63 <= v < 2**64:
            first["int>64"] = i
            break
    return first


def found(first: dict[str, int]) -> str:
    """'str at row 0, int at row 1' from first_kinds."""
    return ", ".join(f"{k} at row {i}" for k, i in sorted(first.items(), key=lambda x: x[1]))


def _check_items(col, values, what: str, mask=None) -> None:
    """Refuse, naming the column, the row and the fix, the Python values a
    column cannot hold: mixed types, None among numbers, integers beyond 64
    bits, nested values (lists of unequal length, dicts) and other objects.
    Lists of equal length stay allowed: they are an N-D array."""
    masked = mask.tolist() if mask is not None and mask.ndim == 1 else None
    first = first_kinds(values, masked)
    big = first.get("int>64")
    if big is not None:
        raise InvalidArgumentError(
            f"shmarray: invalid argument: column {col!r} has the integer {values[big]} at row {big}, beyond 64 "
            "bits (int64 and uint64 are the widest integers a segment holds); store it as a str, as a float "
            "(losing precision), or split it into two 64-bit columns")
    kinds = set(first)
    if kinds == {"list"} and what == "a list":
        return  # equal lengths make an N-D array; NumPy's error for ragged ones is replaced below
    if "list" in kinds or "dict" in kinds:
        k = "list" if "list" in kinds else "dict"
        fix = ("make every row a list or NumPy array (None for a null row) for a list column" if k == "list" else
               "store each key as its own column (struct types are not stored)")
        raise InvalidArgumentError(
            f"shmarray: invalid argument: column {col!r} has a {k} at row {first[k]} among other values; {fix}")
    if "None" in kinds and kinds & {"int", "float", "bool"}:
        num = next(k for k in ("int", "float", "bool") if k in kinds)
        raise InvalidArgumentError(
            f"shmarray: invalid argument: column {col!r} has None at row {first['None']} in {what} of "
            f"{num}; NumPy has no None among numbers: give a numpy.ma.masked_array (masked slots are "
            "nulls) or a pyarrow array (pa.array(values)), which keep the nulls")
    plain = {"int", "float", "bool", "str", "bytes", "None"}
    if kinds <= plain and (len(kinds) <= 1 or any(kinds <= ok for ok in _COMPATIBLE)):
        return
    if len(kinds) == 1 and isinstance(values[first[next(iter(kinds))]], np.generic):
        return  # NumPy scalars of one kind (datetime64...): NumPy makes the array
    if len(kinds) > 1:
        raise InvalidArgumentError(
            f"shmarray: invalid argument: column {col!r} mixes types ({found(first)}); a column holds one type and "
            "nothing is converted silently: convert the values first (e.g. [str(v) for v in values]) or "
            "store them as separate columns")
    k = next(iter(kinds))
    raise InvalidArgumentError(
        f"shmarray: invalid argument: column {col!r} holds {k} values (row {first[k]}), which a segment "
        "cannot store from a list; give a NumPy array of a supported dtype (datetime64 for dates and "
        "times) or a pyarrow array")


def _temporal(col, value, mask, spec):
    """Map datetime64/timedelta64 to date32, timestamp or duration; NaT → null."""
    unit, step = np.datetime_data(value.dtype)
    if step != 1 or not (unit in UNITS or (unit == "D" and value.dtype.kind == "M")):
        raise InvalidArgumentError(
            f"shmarray: invalid argument: column {col!r}: unit {value.dtype} is not supported; convert "
            "with .astype('datetime64[ns]') (or s, ms, us; datetime64[D] for dates)")
    nat = np.isnat(value)
    if nat.any():
        mask = nat if mask is None else (mask | nat)
    ints = value.view(np.int64)
    if unit == "D":
        spec.type = T_DATE32
        if ints.size and ((ints[~nat] < -2**31).any() or (ints[~nat] > _INT32_MAX).any()):
            raise InvalidArgumentError(f"shmarray: invalid argument: column {col!r}: a date is out of "
                                       "the date32 range")
        ints = np.where(nat, 0, ints).astype("<i4")
    else:
        spec.type = T_TIMESTAMP if value.dtype.kind == "M" else T_DURATION
        spec.time_unit = UNITS[unit]
        ints = np.ascontiguousarray(np.where(nat, 0, ints) if nat.any() else ints, dtype="<i8")
    return ints, mask


def _unicode_spec(col, value, mask):
    """utf8 from a NumPy unicode array; masked items are nulls."""
    codes = np.ascontiguousarray(value).view(np.uint32).reshape(len(value), value.dtype.itemsize // 4)
    try:
        offsets, data = utf32_to_utf8(codes, skip=mask)
    except ValueError as e:
        raise InvalidArgumentError(f"shmarray: invalid argument: column {col!r} holds {e}") from None
    return _var_length_spec(T_UTF8, T_LARGE_UTF8, offsets, data,
                            None if mask is None or not mask.any() else ~mask)


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
        return _var_length_spec(T_BINARY, T_LARGE_BINARY, offsets, data, valid)
    return _var_length_spec(T_UTF8, T_LARGE_UTF8, offsets, data, valid)
