"""Attach latency of the Python reader, shmarray._native (a benchmark, not a test).

Writes segments of 3 and 1,000 int64 arrays, and one large 3-array segment,
with a minimal spec-only writer (struct + NumPy, no Go), then times
``attach`` + ``close``. Attach reads the header and the metadata area only,
so its time depends on the number of arrays, not on their size.

    PYTHONPATH=bindings/python python bindings/python/tests/bench_attach.py [DIR]

DIR defaults to $SHMARRAY_DIR, else /dev/shm; the segments are removed at the end.
"""

from __future__ import annotations

import os
import struct
import sys
import timeit
import zlib

import numpy as np

import shmarray


def write_segment(path: str, arrays: dict) -> None:
    """A minimal format-v1 writer for 1-D int64 arrays without nulls (spec §3-§9)."""
    data, records, strtab = [], [], b""
    pos = 128
    for name, values in arrays.items():
        raw = np.ascontiguousarray(values, dtype="<i8").tobytes()
        pad = (-len(raw)) % 64
        rec = bytearray(192)
        struct.pack_into("<IIBBBBIII", rec, 0, len(strtab), len(name.encode()), 8, 1, 0, 0, 0, 0, 0)
        struct.pack_into("<qq", rec, 24, len(values), 0)
        struct.pack_into("<QQ", rec, 72, pos if raw else 0, len(raw))
        struct.pack_into("<q", rec, 104, len(values))
        strtab += name.encode()
        records.append(bytes(rec))
        data.append(raw + b"\0" * pad)
        pos += len(raw) + pad
    meta_off = pos
    directory = b"".join(records)
    meta = directory + strtab
    st_off = meta_off + len(directory)
    head = bytearray(128)
    struct.pack_into("<8sHHIQIIQQQIIQQQII", head, 0, b"SHMARRAY", 1, 0, 128, meta_off + len(meta),
                     1, len(arrays), meta_off, len(meta), meta_off, 192, 0, st_off, st_off,
                     len(strtab), 0, 0)
    struct.pack_into("<I", head, 120, zlib.crc32(meta, zlib.crc32(bytes(head))))
    with open(path, "wb") as f:
        f.write(head)
        for chunk in data:
            f.write(chunk)
        f.write(meta)


def bench(d: str, name: str, arrays: dict) -> None:
    write_segment(os.path.join(d, name), arrays)
    try:
        def once():
            shmarray.attach(name, dir=d).close()
        once()
        n = max(10, int(0.2 / max(1e-6, timeit.timeit(once, number=3) / 3)))
        t = min(timeit.repeat(once, number=n, repeat=5)) / n
        size = os.path.getsize(os.path.join(d, name))
        print(f"{name:>12}: {len(arrays):5d} arrays, {size / 2**20:9.1f} MiB: "
              f"attach + close {t * 1e6:8.1f} us")
    finally:
        os.unlink(os.path.join(d, name))


def main() -> None:
    d = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("SHMARRAY_DIR") or "/dev/shm"
    bench(d, "bench-3", {f"c{i}": np.arange(1000) for i in range(3)})
    bench(d, "bench-1000", {f"c{i:04d}": np.arange(10) for i in range(1000)})
    bench(d, "bench-3-big", {f"c{i}": np.arange(8 << 20) for i in range(3)})


if __name__ == "__main__":
    main()
