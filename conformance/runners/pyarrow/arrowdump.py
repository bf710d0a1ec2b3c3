"""The canonical dump (conformance/README.md) of pyarrow arrays.

Used by the pyarrow runners (reader.py) and by the shmarray runner's Arrow
mode. Type names, units, time zones and shapes come from the Arrow types
alone, so a dump made here checks what an Arrow consumer sees.
"""

from __future__ import annotations

import pyarrow as pa

_INT_TYPES = {
    pa.int8(): "int8", pa.uint8(): "uint8", pa.int16(): "int16", pa.uint16(): "uint16",
    pa.int32(): "int32", pa.uint32(): "uint32", pa.int64(): "int64", pa.uint64(): "uint64",
}
_FLOAT_TYPES = {pa.float16(): ("float16", pa.uint16(), 4), pa.float32(): ("float32", pa.uint32(), 8),
                pa.float64(): ("float64", pa.uint64(), 16)}


def text(s: str) -> str:
    out = ["s:"]
    for c in s.encode("utf-8"):
        out.append(chr(c) if 0x21 <= c <= 0x7E and c != 0x25 else "%%%02X" % c)
    return "".join(out)


def binary(b: bytes) -> str:
    return "b:" + b.hex()


def type_token(t: pa.DataType) -> str:
    """type=... [unit=...] [tz=...] [width=...] of an element type."""
    if t in _INT_TYPES:
        return "type=" + _INT_TYPES[t]
    if t in _FLOAT_TYPES:
        return "type=" + _FLOAT_TYPES[t][0]
    if pa.types.is_boolean(t):
        return "type=bool"
    if pa.types.is_string(t):
        return "type=utf8"
    if pa.types.is_large_string(t):
        return "type=large_utf8"
    if pa.types.is_binary(t):
        return "type=binary"
    if pa.types.is_large_binary(t):
        return "type=large_binary"
    if pa.types.is_fixed_size_binary(t):
        return f"type=fixed_size_binary width={t.byte_width}"
    if pa.types.is_date32(t):
        return "type=date32"
    if pa.types.is_date64(t):
        return "type=date64"
    if pa.types.is_timestamp(t):
        return f"type=timestamp unit={t.unit} tz={text(t.tz or '')}"
    if pa.types.is_duration(t):
        return f"type=duration unit={t.unit}"
    raise ValueError(f"no format type for Arrow type {t}")


def scalar_tokens(arr: pa.Array) -> list:
    """One token per element of a flat array; None for a null element."""
    t = arr.type
    if t in _INT_TYPES:
        return [None if v is None else str(v) for v in arr.to_pylist()]
    if t in _FLOAT_TYPES:
        _, bits, digits = _FLOAT_TYPES[t]
        return [None if v is None else "0x%0*x" % (digits, v) for v in arr.view(bits).to_pylist()]
    if pa.types.is_boolean(t):
        return [None if v is None else ("true" if v else "false") for v in arr.to_pylist()]
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return [None if v is None else text(v) for v in arr.to_pylist()]
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return [None if v is None else binary(v) for v in arr.to_pylist()]
    if pa.types.is_date32(t):
        return [None if v is None else str(v) for v in arr.view(pa.int32()).to_pylist()]
    if pa.types.is_date64(t) or pa.types.is_timestamp(t) or pa.types.is_duration(t):
        return [None if v is None else str(v) for v in arr.view(pa.int64()).to_pylist()]
    raise ValueError(f"no format type for Arrow type {t}")


def array_lines(index: int, name: str, arr: pa.Array, metadata: list) -> list:
    """The dump lines of one array. ``arr`` is a flat array, a
    fixed_size_list array (a 2-D array), or an arrow.fixed_shape_tensor
    extension array; ``metadata`` is a list of (key, value) str pairs."""
    t = arr.type
    n = len(arr)
    if isinstance(t, pa.FixedShapeTensorType):
        shape = [n] + list(t.shape)
        storage = arr.storage
    elif pa.types.is_fixed_size_list(t):
        shape = [n, t.list_size]
        storage = arr
    else:
        shape, storage = [n], None
    if storage is not None:
        child = storage.values
        elem = type_token(child.type)
        row = 1
        for d in shape[1:]:
            row *= d
        toks = scalar_tokens(child)
        if any(v is None for v in toks):
            raise ValueError(f"array {name!r}: a null element inside an N-D array")
        valid = storage.is_valid().to_pylist()
        values = [("[" + ",".join(toks[i * row:(i + 1) * row]) + "]") if valid[i] else None
                  for i in range(n)]
    else:
        elem = type_token(t)
        values = scalar_tokens(arr)
    out = [f"array {index} {text(name)} {elem} shape={','.join(map(str, shape))} "
           f"nulls={arr.null_count} metadata={len(metadata)}"]
    out += [f"metadata {text(k)} {text(v)}" for k, v in metadata]
    out += [f"v {i} {'null' if v is None else v}" for i, v in enumerate(values)]
    return out


_INDEX_NAMES = {t: n for t, n in _INT_TYPES.items()}


def tree_lines(index: int, name: str, arr: pa.Array, metadata: list, parent=None) -> tuple:
    """The dump lines of an array and, for a list or dictionary (format
    1.3), of its children right after it (conformance/README.md); returns
    (lines, next index). A list's child named "item" is Arrow's unnamed
    child; a dictionary's values have no name."""
    t = arr.type
    n = len(arr)
    up = "" if parent is None else f" parent={parent}"
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_dictionary(t):
        # A dictionary slot whose value is null is still a valid slot: the
        # validity of the indices, not pyarrow's logical nulls.
        valid = (arr.indices if pa.types.is_dictionary(t) else arr).is_valid().to_pylist()
        if pa.types.is_dictionary(t):
            head = f"type=dictionary index={_INDEX_NAMES[t.index_type]} child={index + 1}"
            toks = scalar_tokens(arr.indices)
            child, cname, cmd = arr.dictionary, "", []
        else:
            head = f"type={'list' if pa.types.is_list(t) else 'large_list'} child={index + 1}"
            offs = arr.offsets.to_pylist()
            toks = [f"{offs[i]}:{offs[i + 1]}" for i in range(n)]
            f = t.value_field
            child, cname, cmd = arr.values, ("" if f.name == "item" else f.name), field_metadata(f.metadata)
        out = [f"array {index} {text(name)} {head}{up} shape={n} nulls={arr.null_count} metadata={len(metadata)}"]
        out += [f"metadata {text(k)} {text(v)}" for k, v in metadata]
        out += [f"v {i} {toks[i] if valid[i] else 'null'}" for i in range(n)]
        more, nxt = tree_lines(index + 1, cname, child, cmd, parent=index)
        return out + more, nxt
    lines = array_lines(index, name, arr, metadata)
    if up:
        head, _, rest = lines[0].partition(" shape=")
        typ, sp, extra = head.partition(" unit=") if " unit=" in head else head.partition(" width=")
        lines[0] = typ + up + sp + extra + " shape=" + rest
    return lines, index + 1


def field_metadata(md) -> list:
    """(key, value) str pairs of a pyarrow metadata mapping (bytes keys), in order."""
    if not md:
        return []
    return [(k.decode("utf-8"), v.decode("utf-8")) for k, v in md.items()]
