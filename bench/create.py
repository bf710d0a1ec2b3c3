"""Create throughput from Python: shmarray.create against copying the same
bytes with NumPy, for a float64 array and a utf8 (Arrow) array.

Per repetition, in turn: create (reserve, copy in, checksum, publish, attach;
the unlink afterwards is not timed), a copy into a buffer already touched
(the machine's memcpy bandwidth), a copy into a new array (which pays the
page faults of fresh memory; NumPy asks for transparent huge pages), and,
as a floor for any writer, posix_fallocate of as many bytes in the segment
directory (the kernel allocating and zeroing the pages, nothing copied).
With --huge-dir, also create into that directory (a tmpfs with huge pages). Go's figures come from
arena's BenchmarkCreate (bench/gobench.py).
"""

from __future__ import annotations

import os
import time

import numpy as np

from common import MiB, Config, log, median, rotate


def strings_array(nbytes: int):
    """A pyarrow utf8 array of ASCII strings of 8 to 24 bytes whose offsets
    and data total about nbytes; returns (array, [offsets, data] as uint8)."""
    import pyarrow as pa
    n = int(nbytes / (16 + 4))
    lengths = 8 + np.arange(n, dtype=np.int32) % 17
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    data = (97 + np.arange(offsets[-1], dtype=np.int64) % 26).astype(np.uint8)
    arr = pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))
    return arr, [offsets.view(np.uint8), data]


def run(cfg: Config) -> dict:
    import shmarray

    nbytes = cfg.bytes(512 * MiB, align=64)
    numeric = (np.arange(nbytes // 8) % 1000) * 0.25
    strs, str_parts = strings_array(nbytes)
    cases = {"numeric": ({"x": numeric}, [numeric.view(np.uint8)]),
             "strings": ({"s": strs}, str_parts)}
    name = f"bench-create-{os.getpid()}"
    hows = ["shmarray", "memcpy", "memcpy-fresh", "tmpfs-fallocate"] + (["shmarray-huge"] if cfg.huge_dir else [])
    times = {(case, how): [] for case in cases for how in hows}
    for case, (cols, parts) in cases.items():
        total = sum(p.nbytes for p in parts)
        warm = [np.empty_like(p) for p in parts]
        for w, p in zip(warm, parts):
            np.copyto(w, p)  # touch every page of the destination once
        for rep in range(max(cfg.reps, 3)):
            for how in rotate(hows, rep):
                t = time.perf_counter()
                if how in ("shmarray", "shmarray-huge"):
                    d = cfg.huge_dir if how == "shmarray-huge" else cfg.dir
                    seg = shmarray.create(name, cols, dir=d)
                    dt = time.perf_counter() - t
                    seg.close()
                    shmarray.unlink(name, dir=d)
                elif how == "memcpy":
                    for w, p in zip(warm, parts):
                        np.copyto(w, p)
                    dt = time.perf_counter() - t
                elif how == "memcpy-fresh":
                    fresh = [p.copy() for p in parts]
                    dt = time.perf_counter() - t
                    del fresh
                else:  # what the kernel alone takes to hand out that many zeroed pages of the directory
                    path = os.path.join(cfg.dir, name + ".fallocate")
                    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
                    try:
                        os.posix_fallocate(fd, 0, total)
                        dt = time.perf_counter() - t
                    finally:
                        os.close(fd)
                        os.unlink(path)
                times[(case, how)].append(total / dt)
        del warm
    out = {"bytes": nbytes, "results": []}
    for (case, how), rates in times.items():
        out["results"].append({"case": case, "how": how, "bytes_per_s": median(rates), "runs": rates})
        log(f"create {case:8} {how:13} {median(rates) / 1e9:6.2f} GB/s")
    return out
