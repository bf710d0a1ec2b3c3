"""The shmarray (Python) writer runner of the conformance suite.

    python writer.py numpy DIR CASE.json...
    python writer.py arrow DIR CASE.json...

Writes each case as segment <case> in DIR with ``shmarray.create`` (which
goes through libshmarray's C ABI), building the columns from the case's JSON
the way a Python user would.

``numpy`` mode, without per-array metadata: ``columns`` is a dict of NumPy
arrays for the integer, float (bit patterns kept with integer views), bool,
fixed_size_binary (``S<w>``), date32 (``datetime64[D]``), timestamp and
duration (``datetime64``/``timedelta64``) types, of any shape, as
``numpy.ma.MaskedArray`` when there are nulls (masked per row for N-D);
utf8 as a NumPy unicode (``U``) array (create's vectorized UTF-8 encoder)
unless a value ends with NUL, which NumPy strips, then as a list of
``str``/``None``; binary as a list of ``bytes``/``None``; pyarrow arrays where
NumPy cannot say it: large_utf8, large_binary, date64, a binary array with no
non-null value (a list of None reads as utf8), timestamps with a time zone,
and timestamp/duration values equal to -2^63 (NumPy's NaT, which create
stores as null).

``arrow`` mode: a dict of pyarrow arrays (N-D as arrow.fixed_shape_tensor),
handed over through the Arrow C Data Interface (shmarray_builder_add_arrow).
Each array is a slice at offset 3 of a longer one (three null slots
first), so that the writer's normalization of sliced input (bitmaps
shifted by a non-multiple of 8, offsets rebased) is exercised.

In both modes a case with per-array metadata (which only pyarrow fields
carry) is a ``pyarrow.Table`` of pyarrow arrays whose fields carry the
metadata; a Table needs arrays of one length.

Segment metadata goes through ``metadata=``. Prints one line per case:
"ok CASE", "error CASE CODE message" or "n/a CASE reason" (a case this API
cannot express; none of the current vectors is one).
"""

from __future__ import annotations

import base64
import json
import sys

import numpy as np
import pyarrow as pa

import shmarray

_NUMPY = {"int8": "<i1", "uint8": "<u1", "int16": "<i2", "uint16": "<u2", "int32": "<i4",
          "uint32": "<u4", "int64": "<i8", "uint64": "<u8", "float16": "<f2", "float32": "<f4",
          "float64": "<f8"}
_BITS = {"float16": "<u2", "float32": "<u4", "float64": "<u8"}
_ARROW = {"int8": pa.int8(), "uint8": pa.uint8(), "int16": pa.int16(), "uint16": pa.uint16(),
          "int32": pa.int32(), "uint32": pa.uint32(), "int64": pa.int64(), "uint64": pa.uint64(),
          "float16": pa.float16(), "float32": pa.float32(), "float64": pa.float64(),
          "bool": pa.bool_(), "utf8": pa.string(), "large_utf8": pa.large_string(),
          "binary": pa.binary(), "large_binary": pa.large_binary(), "date32": pa.date32(),
          "date64": pa.date64()}
_INT64_MIN = -(1 << 63)


class NotExpressible(Exception):
    pass


def _flatten(v, depth: int) -> list:
    if depth == 0:
        return [v]
    out = []
    for e in v:
        out += _flatten(e, depth - 1)
    return out


def _row_elems(a: dict) -> int:
    n = 1
    for d in a["shape"][1:]:
        n *= d
    return n


def _scalar(t: str, v):
    """A JSON element as a Python value: int (integers, temporal, float bits),
    bool, str, bytes."""
    if t in ("utf8", "large_utf8") or t == "bool":
        return v
    if t in ("binary", "large_binary", "fixed_size_binary"):
        return base64.b64decode(v)
    if t in _BITS:
        return int(v, 16)
    return int(v)


def _numeric(a: dict):
    """A NumPy array of the array's shape (nulls filled with 0) and its row-null mask."""
    t, shape, values = a["type"], a["shape"], a["values"]
    e = _row_elems(a)
    nulls = [v is None for v in values]
    flat = []
    for v in values:
        flat += [0] * e if v is None else [_scalar(t, x) for x in _flatten(v, len(shape) - 1)]
    if t in _BITS:
        data = np.array(flat, dtype=_BITS[t]).view(_NUMPY[t])
    else:
        data = np.array(flat, dtype=_NUMPY[t])
    return data.reshape(shape), np.array(nulls, dtype=bool)


def _masked(data: np.ndarray, nulls: np.ndarray):
    if not nulls.any():
        return data
    if data.ndim > 1 and data.size == 0:
        raise NotExpressible("null rows of zero elements cannot be masked in NumPy")
    mask = np.broadcast_to(nulls.reshape((len(nulls),) + (1,) * (data.ndim - 1)), data.shape)
    return np.ma.MaskedArray(data, mask=mask.copy())


def _arrow_type(a: dict):
    t = a["type"]
    if t == "fixed_size_binary":
        return pa.binary(a["byte_width"])
    if t == "timestamp":
        return pa.timestamp(a["unit"], tz=a.get("timezone") or None)
    if t == "duration":
        return pa.duration(a["unit"])
    return _ARROW[t]


def _to_pyarrow(a: dict):
    """The array as a pyarrow array (N-D: an arrow.fixed_shape_tensor array)."""
    t, shape = a["type"], a["shape"]
    if len(shape) > 1:
        if _row_elems(a) == 0:
            raise NotExpressible("rows of 0 elements: a fixed-size list of size 0 cannot pass the Arrow C Data "
                                 "import (arrow-go refuses it; create says INVALID_ARGUMENT); the numpy writer covers it")
        data, nulls = _numeric(a)
        child = pa.array(data.reshape(-1))
        storage = pa.FixedSizeListArray.from_arrays(child, _row_elems(a),
                                                    mask=pa.array(nulls) if nulls.any() else None)
        return pa.ExtensionArray.from_storage(pa.fixed_shape_tensor(child.type, shape[1:]), storage)
    if t in _NUMPY:
        data, nulls = _numeric(a)
        return pa.array(data, mask=nulls if nulls.any() else None)
    values = [None if v is None else _scalar(t, v) for v in a["values"]]
    return pa.array(values, type=_arrow_type(a))


def _numpy_or_list(a: dict):
    """The column as a NumPy user would hand it over (see the module docstring)."""
    t, values = a["type"], a["values"]
    valid = [v for v in values if v is not None]
    if t in _NUMPY:
        return _masked(*_numeric(a))
    if t == "bool":
        data = np.array([bool(v) if v is not None else False for v in values], dtype=bool)
        return _masked(data, np.array([v is None for v in values], dtype=bool))
    if t == "utf8":
        if values and all(v is None or not v.endswith("\x00") for v in values):
            data = np.array(["" if v is None else v for v in values], dtype=str)
            return _masked(data, np.array([v is None for v in values], dtype=bool))
        return list(values)
    if t == "binary" and valid:
        return [None if v is None else base64.b64decode(v) for v in values]
    if t == "fixed_size_binary":
        w = a["byte_width"]
        raw = b"".join(bytes(w) if v is None else base64.b64decode(v) for v in values)
        data = np.frombuffer(raw, dtype=f"S{w}") if raw else np.zeros(0, dtype=f"S{w}")
        return _masked(data, np.array([v is None for v in values], dtype=bool))
    if t == "date32":
        data = np.array([0 if v is None else int(v) for v in values], dtype="<i8").astype("M8[D]")
        return _masked(data, np.array([v is None for v in values], dtype=bool))
    if t in ("timestamp", "duration") and not a.get("timezone") and \
            all(int(v) != _INT64_MIN for v in valid):
        kind = "M8" if t == "timestamp" else "m8"
        data = np.array([0 if v is None else int(v) for v in values], dtype="<i8").view(f"{kind}[{a['unit']}]")
        return _masked(data, np.array([v is None for v in values], dtype=bool))
    return _to_pyarrow(a)


_NESTED = ("list", "large_list", "dictionary")


def _tree_pyarrow(arrays: list, i: int, pad: int = 0):
    """Record i of a case with its children (format 1.3) as one pyarrow
    array: a list over its values, a dictionary over its values; pad null
    slots first (for a slice at offset pad)."""
    a = arrays[i]
    t = a["type"]
    if t not in _NESTED:
        longer = dict(a, values=[None] * pad + a["values"], shape=[a["shape"][0] + pad])
        return _to_pyarrow(longer)
    child = _tree_pyarrow(arrays, a["child"])
    values = [None] * pad + a["values"]
    mask = pa.array([v is None for v in values]) if any(v is None for v in values) else None
    if t == "dictionary":
        indices = pa.array([0 if v is None else int(v) for v in values], type=_ARROW[a["index_type"]], mask=mask)
        return pa.DictionaryArray.from_arrays(indices, child)
    offsets = [0]
    for v in values:
        offsets.append(offsets[-1] + (0 if v is None else int(v)))
    field = pa.field(arrays[a["child"]]["name"] or "item", child.type)
    if t == "list":
        return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), child, type=pa.list_(field), mask=mask)
    return pa.LargeListArray.from_arrays(pa.array(offsets, pa.int64()), child, type=pa.large_list(field), mask=mask)


def _numpy_rows(arrays: list, i: int):
    """A list column as a NumPy user hands it over: a list of rows (NumPy
    arrays, or lists where the values have nulls or are strings), None for
    a null row; other nested columns as pyarrow arrays."""
    a = arrays[i]
    c = arrays[a["child"]]
    if a["type"] != "list" or c["type"] in _NESTED or c["name"]:
        return _tree_pyarrow(arrays, i)
    vals = _numpy_or_list(c)
    rows, at = [], 0
    for v in a["values"]:
        if v is None:
            rows.append(None)
            continue
        k = int(v)
        if isinstance(vals, np.ndarray):  # masked rows keep their nulls
            rows.append(vals[at:at + k])
        elif isinstance(vals, list):
            rows.append(vals[at:at + k])
        else:
            return _tree_pyarrow(arrays, i)
        at += k
    if not rows or all(r is None for r in rows) or all(r is not None and len(r) == 0 for r in rows):
        return _tree_pyarrow(arrays, i)  # nothing to infer the value type from
    return rows


def columns_of(case: dict, mode: str):
    arrays = case["arrays"]
    if any(a["type"] in _NESTED for a in arrays):
        if any(a["metadata"] for a in arrays):
            raise NotExpressible("per-array metadata with lists or dictionaries")
        out = {}
        for i, a in enumerate(arrays):
            if a.get("is_child"):
                continue  # written with its parent
            if a["type"] in _NESTED:
                out[a["name"]] = _numpy_rows(arrays, i) if mode == "numpy" else _tree_pyarrow(arrays, i, 3).slice(3)
            else:
                out[a["name"]] = _numpy_or_list(a) if mode == "numpy" else _sliced_pyarrow(a)
        return out
    if any(a["metadata"] for a in arrays):
        if len({a["shape"][0] for a in arrays}) > 1:
            raise NotExpressible("per-array metadata needs a pyarrow.Table, whose columns share one length")
        cols = [_to_pyarrow(a) for a in arrays]
        fields = [pa.field(a["name"], c.type, metadata=dict(a["metadata"]) or None) for a, c in zip(arrays, cols)]
        return pa.Table.from_arrays(cols, schema=pa.schema(fields))
    convert = _numpy_or_list if mode == "numpy" else _sliced_pyarrow
    return {a["name"]: convert(a) for a in arrays}


def _sliced_pyarrow(a: dict):
    """_to_pyarrow of the array as a slice at offset 3 of a longer array."""
    if len(a["shape"]) > 1 and _row_elems(a) == 0:
        return _to_pyarrow(a)  # raises NotExpressible
    longer = dict(a, values=[None] * 3 + a["values"], shape=[a["shape"][0] + 3] + a["shape"][1:])
    return _to_pyarrow(longer).slice(3)


def main() -> int:
    if len(sys.argv) < 3 or sys.argv[1] not in ("numpy", "arrow"):
        print("usage: writer.py numpy|arrow DIR CASE.json...", file=sys.stderr)
        return 2
    mode, dir_ = sys.argv[1], sys.argv[2]
    for path in sys.argv[3:]:
        with open(path, encoding="utf-8") as f:
            case = json.load(f)
        name = case["case"]
        try:
            cols = columns_of(case, mode)
            seg = shmarray.create(name, cols, dir=dir_, metadata=dict(case["metadata"]) or None)
            seg.close()
            print(f"ok {name}")
        except NotExpressible as e:
            print(f"n/a {name} {e}")
        except shmarray.ShmarrayError as e:
            print(f"error {name} {e.code_name} {str(e).splitlines()[0] if str(e) else ''}")
        except Exception as e:
            print(f"error {name} EXCEPTION {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
