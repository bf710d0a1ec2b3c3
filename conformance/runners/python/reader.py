"""The shmarray (Python) reader runner of the conformance suite.

    python reader.py numpy DIR NAME...   # shmarray.attach, validate, seg[name] (NumPy views)
    python reader.py arrow DIR NAME...   # shmarray.attach, validate, Segment.to_arrow

Needs bindings/python on PYTHONPATH. ``numpy`` reads every array the way a
NumPy user does: ``Segment.info`` for the description, ``seg[name]`` for the
values (NumPy arrays, masked arrays for nulls, StringColumn for the
variable-length types), from which the values are taken bit for bit
(floats and temporal types through integer views, fixed_size_binary through
its raw bytes since NumPy drops trailing NULs). ``arrow`` reads through
shmarray's own pyarrow export (``to_arrow``, or ``column_to_arrow`` when the
arrays' lengths differ) and dumps pyarrow's values.

Output: the canonical dump of conformance/README.md, per segment
"case NAME" ... "end"; a failure is "error CODE STAGE message".
"""

from __future__ import annotations

import os
import sys

import numpy as np

import shmarray

_HERE = os.path.dirname(os.path.abspath(__file__))


def text(s: str) -> str:
    out = ["s:"]
    for c in s.encode("utf-8"):
        out.append(chr(c) if 0x21 <= c <= 0x7E and c != 0x25 else "%%%02X" % c)
    return "".join(out)


def binary(b: bytes) -> str:
    return "b:" + b.hex()


def _header(i: int, info) -> str:
    tok = f"array {i} {text(info.name)} type={info.type}"
    if info.type in ("timestamp", "duration"):
        tok += f" unit={info.unit}"
    if info.type == "timestamp":
        tok += f" tz={text(info.timezone or '')}"
    if info.type == "fixed_size_binary":
        tok += f" width={info.byte_width}"
    return (tok + f" shape={','.join(map(str, info.shape))} nulls={info.null_count} "
            f"metadata={len(info.metadata)}")


_BITS = {"float16": np.uint16, "float32": np.uint32, "float64": np.uint64}
_DIGITS = {"float16": 4, "float32": 8, "float64": 16}


def _element_tokens(info, data: np.ndarray) -> list:
    """Tokens of every element of a NumPy array's data, in C order."""
    t = info.type
    flat = np.ascontiguousarray(data).reshape(-1)
    if t in _BITS:
        return ["0x%0*x" % (_DIGITS[t], v) for v in flat.view(_BITS[t]).tolist()]
    if t == "bool":
        return ["true" if v else "false" for v in flat.tolist()]
    if t == "fixed_size_binary":
        raw = flat.view(np.uint8).reshape(len(flat), info.byte_width)
        return [binary(bytes(r)) for r in raw]
    if t in ("date32", "date64", "timestamp", "duration"):
        return [str(v) for v in flat.view(np.int64).tolist()]
    return [str(v) for v in flat.tolist()]


def identity_line(seg) -> str:
    """The dump's identity line: seg.id (32 lowercase hex digits) and seg.version."""
    return f"identity {seg.id} {seg.version}"


def numpy_lines(seg) -> list:
    lines = [f"segment arrays={len(seg)} metadata={len(seg.metadata)}", identity_line(seg)]
    lines += [f"metadata {text(k)} {text(v)}" for k, v in seg.metadata.items()]
    for i, name in enumerate(seg.columns):
        info = seg.info(name)
        lines.append(_header(i, info))
        lines += [f"metadata {text(k)} {text(v)}" for k, v in info.metadata.items()]
        value = seg[name]
        n = info.length
        if isinstance(value, shmarray.StringColumn):
            items = value.to_pylist()
            toks = [None if v is None else (text(v) if isinstance(v, str) else binary(v)) for v in items]
        else:
            mask = np.ma.getmaskarray(value) if isinstance(value, np.ma.MaskedArray) else None
            elems = _element_tokens(info, np.ma.getdata(value))
            row = 1
            for d in info.shape[1:]:
                row *= d
            if mask is not None and row == 0 and info.null_count:
                raise ValueError(f"array {name!r}: null rows of zero elements are not visible in the mask")
            null = mask.reshape(n, -1)[:, 0].tolist() if mask is not None else [False] * n
            if len(info.shape) > 1:
                toks = [None if null[r] else "[" + ",".join(elems[r * row:(r + 1) * row]) + "]"
                        for r in range(n)]
            else:
                toks = [None if null[r] else elems[r] for r in range(n)]
        if len(toks) != n:
            raise ValueError(f"array {name!r}: {len(toks)} values for length {n}")
        lines += [f"v {r} {'null' if v is None else v}" for r, v in enumerate(toks)]
    return lines


def arrow_lines(seg) -> list:
    sys.path.insert(0, os.path.join(_HERE, "..", "pyarrow"))
    import arrowdump

    if seg.num_rows is not None and len(seg):
        table = seg.to_arrow()
        seg_md = arrowdump.field_metadata(table.schema.metadata)
        cols = [(f.name, table.column(i).combine_chunks() if table.column(i).num_chunks != 1
                 else table.column(i).chunk(0), arrowdump.field_metadata(f.metadata))
                for i, f in enumerate(table.schema)]
    else:
        seg_md = list(seg.metadata.items())
        cols = [(n, seg.column_to_arrow(n), list(seg.info(n).metadata.items())) for n in seg.columns]
    lines = [f"segment arrays={len(cols)} metadata={len(seg_md)}", identity_line(seg)]
    lines += [f"metadata {text(k)} {text(v)}" for k, v in seg_md]
    for i, (name, arr, md) in enumerate(cols):
        arr.validate(full=True)
        lines += arrowdump.array_lines(i, name, arr, md)
    return lines


def main() -> int:
    if len(sys.argv) < 3 or sys.argv[1] not in ("numpy", "arrow"):
        print("usage: reader.py numpy|arrow DIR NAME...", file=sys.stderr)
        return 2
    mode, dir_ = sys.argv[1], sys.argv[2]
    for name in sys.argv[3:]:
        print(f"case {name}")
        stage = "attach"
        try:
            with shmarray.attach(name, dir=dir_) as seg:
                stage = "validate"
                seg.validate()
                stage = "dump"
                lines = numpy_lines(seg) if mode == "numpy" else arrow_lines(seg)
            print("\n".join(lines))
        except shmarray.ShmarrayError as e:
            print(f"error {e.code_name} {stage} {str(e).splitlines()[0] if str(e) else ''}")
        except Exception as e:  # a crash of this reader is a red cell, not a stop
            print(f"error EXCEPTION {stage} {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        print("end", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
