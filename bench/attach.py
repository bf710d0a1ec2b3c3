"""Attach latency, from Python and from C, by segment size and by number of
arrays (Go's numbers come from arena's BenchmarkAttach and
BenchmarkAttachArrays, run by bench/gobench.py with the same sizes).

One set of segments is created, then timed in rounds: in each round every
segment gets one batch of attach+close calls (a batch lasts about
BATCH_MS), so noise from the machine hits every size alike. The reported
figure is the median over rounds of the time per attach+close.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import numpy as np

from common import BUILD, GiB, MiB, Config, free_bytes, lib_path, log, median, size_text

BASE_SIZES = [1 * MiB, 16 * MiB, 256 * MiB, 1 * GiB, 4 * GiB]
ARRAY_COUNTS = [1, 10, 100, 1000, 10000]
BATCH_MS = 50


def sizes_for(cfg: Config) -> tuple[list[int], str | None]:
    """Segment sizes up to 4 GiB × scale that fit in cfg.dir together, and a
    note if the largest had to be scaled down for lack of space."""
    top = max(cfg.bytes(4 * GiB, align=MiB), 1 * MiB)
    sizes = [s for s in BASE_SIZES if s < top] + [top]
    note = None
    free = free_bytes(cfg.dir)
    # room for these segments plus Go's copy of the largest (gobench runs separately, but be safe)
    while sizes and sum(sizes) + 256 * MiB > free:
        dropped = sizes.pop()
        note = (f"{cfg.dir} has {size_text(free)} free: the {size_text(dropped)} segment was left out "
                f"(largest measured: {size_text(sizes[-1]) if sizes else 'none'})")
    return sizes, note


def _time_python(names: list[str], d: str, rounds: int) -> dict[str, list[float]]:
    import shmarray

    def batch(name, k):
        t = time.perf_counter_ns()
        for _ in range(k):
            shmarray.attach(name, dir=d).close()
        return (time.perf_counter_ns() - t) / k

    ops = {}
    for name in names:
        per = batch(name, 5)  # warm up, then size the batch
        ops[name] = max(int(BATCH_MS * 1e6 / max(per, 1)), 1)
    out = {name: [] for name in names}
    for _ in range(rounds):
        for name in names:
            out[name].append(batch(name, ops[name]))
    return out


def _time_c(names: list[str], d: str, rounds: int) -> dict[str, list[float]]:
    exe = BUILD / "attach_bench"
    env = {**os.environ, "LD_LIBRARY_PATH": str(lib_path().parent)}  # before the RUNPATH build/
    proc = subprocess.run([str(exe), d, str(rounds), str(BATCH_MS)] + names,
                          capture_output=True, text=True, timeout=600, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"attach_bench failed: {proc.stderr}")
    out = {}
    for line in proc.stdout.splitlines():
        r = json.loads(line)
        out[r["name"]] = r["ns_per_op"]
    return out


def run(cfg: Config) -> dict:
    import shmarray

    sizes, note = sizes_for(cfg)
    rounds = max(cfg.reps, 5)
    pid = os.getpid()
    made = []
    try:
        by_size = {}
        for s in sizes:
            name = f"bench-attach-{pid}-{s}"
            t = time.perf_counter()
            shmarray.create(name, {"x": np.zeros(s - 4096, dtype=np.uint8)}, dir=cfg.dir).close()
            made.append(name)
            by_size[name] = s
            log(f"attach: created {size_text(s)} segment in {time.perf_counter() - t:.2f} s")
        by_count = {}
        for n in ARRAY_COUNTS:
            name = f"bench-arrays-{pid}-{n}"
            cols = {f"a{i}": np.arange(8, dtype=np.int64) for i in range(n)}
            shmarray.create(name, cols, dir=cfg.dir).close()
            made.append(name)
            by_count[name] = n
        names = list(by_size) + list(by_count)
        py = _time_python(names, cfg.dir, rounds)
        c = _time_c(names, cfg.dir, rounds)
    finally:
        for name in made:
            try:
                shmarray.unlink(name, dir=cfg.dir)
            except Exception as e:  # noqa: BLE001
                log(f"attach: unlink {name}: {e}")
    out = {"sizes": sizes, "array_counts": ARRAY_COUNTS, "note": note, "rounds": rounds,
           "by_size": [], "by_count": []}
    for name, s in by_size.items():
        out["by_size"].append({"bytes": s, "python_ns": median(py[name]), "c_ns": median(c[name]),
                               "python_runs": py[name], "c_runs": c[name]})
        log(f"attach {size_text(s):>8}: python {median(py[name]) / 1e3:8.1f} µs   c {median(c[name]) / 1e3:8.1f} µs")
    for name, n in by_count.items():
        out["by_count"].append({"arrays": n, "python_ns": median(py[name]), "c_ns": median(c[name]),
                                "python_runs": py[name], "c_runs": c[name]})
        log(f"attach {n:>6} arrays: python {median(py[name]) / 1e3:8.1f} µs   c {median(c[name]) / 1e3:8.1f} µs")
    return out
