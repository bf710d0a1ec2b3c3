"""Shared outputs: 1, 2 and 4 workers fill one 1 GiB float64 result.

Three ways, side by side, each worker writing rows [lo, hi) of the result
(value 0.5 * row, computed 1M rows at a time) and the parent then reading
the whole result once (its sum, checked):

- **shmarray**: ``Builder.empty`` + ``Builder.output`` handles; workers
  ``with h.open() as out: out[lo:hi] = ...``; the parent publishes
  (checksums, seals) and reads the published segment.
- **pickled**: each worker builds its slice as a NumPy array and returns it
  (pickled through the pool's pipe); the parent concatenates.
- **shared_memory**: ``multiprocessing.shared_memory.SharedMemory`` made by
  the parent, attached by name in each worker, NumPy over its buffer.

Workers come from a pool started (spawn) and warmed up before the clock
starts, so the time is the data's: filling, moving, publishing, reading.
Total PSS is the peak, sampled every 10 ms, of the parent plus the workers:
every physical page counted once. Each figure is the median of BENCH_REPS
runs (default 3), the three ways interleaved.

    PYTHONPATH=bindings/python:bench .venv/bin/python bench/outputs_bench.py [--scale 0.1] [--out docs/benchmarks-outputs.md]

Run by bench/run.py as a hook (BENCH_SCALE, BENCH_REPS, SHMARRAY_DIR, BENCH_JSON).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import threading
import time
import uuid

import numpy as np

from common import GiB, pss, size_text, time_text

WAYS = ["shmarray", "pickled", "shared_memory"]
PHASES: dict[int, list[tuple[float, float, float, float]]] = {}  # shmarray: empty, fill, publish, read

NOTES = """What the ways do besides filling:

- **shmarray** reserves the whole result when `Builder.empty` hands it out (`fallocate`, which
  zeroes every page once, in the parent, so that a full `/dev/shm` is an error there instead of
  a `SIGBUS` in a worker), and at publish waits for the writers (a lock, one scan of
  `/proc/*/maps`), checksums the final bytes (one read pass) and seals. The result is a
  published, checksummed segment any process attaches by name. The up-front reservation is most
  of the time it spends beyond `shared_memory`.
- **pickled** copies every slice three times (the worker's array, the pipe, the parent's
  concatenation): its PSS peaks near three times the result.
- **shared_memory** truncates the file to size and lets the workers' page faults allocate it,
  in parallel; nothing is reserved or checked, and the block must be tracked and unlinked by
  hand.
"""


def _warm() -> None:
    import shmarray  # noqa: F401  (imported before the clock starts, in every way)
    from multiprocessing import shared_memory  # noqa: F401


CHUNK = 1 << 20  # rows computed at a time: the workers' temporaries stay small


def _fill(out: np.ndarray, lo: int, hi: int, base: int) -> None:
    """out[i - base] = 0.5 * i for i in [lo, hi), a chunk at a time."""
    for c in range(lo, hi, CHUNK):
        e = min(c + CHUNK, hi)
        np.multiply(np.arange(c, e, dtype=np.float64), 0.5, out=out[c - base:e - base])


def _fill_shmarray(h, lo: int, hi: int) -> None:
    with h.open() as out:
        _fill(out, lo, hi, 0)


def _fill_pickled(lo: int, hi: int) -> np.ndarray:
    part = np.empty(hi - lo, dtype=np.float64)
    _fill(part, lo, hi, lo)
    return part


def _fill_shm(name: str, rows: int, lo: int, hi: int) -> None:
    from multiprocessing import shared_memory
    shm = shared_memory.SharedMemory(name=name, track=False) if _has_track() else shared_memory.SharedMemory(name=name)
    try:
        x = np.ndarray((rows,), dtype=np.float64, buffer=shm.buf)
        _fill(x, lo, hi, 0)
        del x
    finally:
        shm.close()


def _has_track() -> bool:
    import inspect
    from multiprocessing import shared_memory
    return "track" in inspect.signature(shared_memory.SharedMemory).parameters


class Sampler:
    """Peak of the summed PSS of pids, sampled every 10 ms in a thread."""

    def __init__(self, pids):
        self.pids, self.peak, self._stop = list(pids), 0, threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _sample(self) -> None:
        total = 0
        for p in self.pids:
            try:
                total += pss(p)
            except OSError:
                pass
        self.peak = max(self.peak, total)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(0.01)

    def stop(self) -> int:
        self._sample()
        self._stop.set()
        self._t.join()
        return self.peak


def _slices(rows: int, k: int):
    return [(i * rows // k, (i + 1) * rows // k) for i in range(k)]


def run_once(way: str, pool, pids, rows: int, k: int, dir: str) -> tuple[float, int]:
    expect = 0.5 * rows * (rows - 1) / 2
    sampler = Sampler([os.getpid(), *pids])
    t = time.perf_counter()
    if way == "shmarray":
        import shmarray
        name = f"bench-out-{uuid.uuid4().hex[:8]}"
        b = shmarray.Builder(name, dir=dir)
        x = b.empty("x", rows, "float64")
        del x  # the workers write through their handles
        h = b.output("x")
        t1 = time.perf_counter()
        pool.starmap(_fill_shmarray, [(h, lo, hi) for lo, hi in _slices(rows, k)])
        t2 = time.perf_counter()
        seg = b.publish(timeout=600)
        t3 = time.perf_counter()
        total = float(seg["x"].sum())
        elapsed = time.perf_counter() - t
        PHASES.setdefault(k, []).append((t1 - t, t2 - t1, t3 - t2, t + elapsed - t3))
        peak = sampler.stop()
        seg.close()
        shmarray.unlink(name, dir=dir)
    elif way == "pickled":
        parts = pool.starmap(_fill_pickled, _slices(rows, k))
        result = np.concatenate(parts)
        del parts
        total = float(result.sum())
        elapsed = time.perf_counter() - t
        peak = sampler.stop()
        del result
    else:
        from multiprocessing import shared_memory
        shm = shared_memory.SharedMemory(create=True, size=rows * 8)
        try:
            pool.starmap(_fill_shm, [(shm.name, rows, lo, hi) for lo, hi in _slices(rows, k)])
            x = np.ndarray((rows,), dtype=np.float64, buffer=shm.buf)
            total = float(x.sum())
            del x
            elapsed = time.perf_counter() - t
            peak = sampler.stop()
        finally:
            shm.close()
            shm.unlink()
    if abs(total - expect) > 1e-6 * expect:
        raise AssertionError(f"{way} with {k} workers: sum {total}, expected {expect}")
    return elapsed, peak


def main() -> int:
    env = os.environ.get
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=float(env("BENCH_SCALE") or 1),
                    help="multiply the result's size (default 1: 1 GiB)")
    ap.add_argument("--reps", type=int, default=int(env("BENCH_REPS") or 3))
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--dir", default=env("SHMARRAY_DIR") or "/dev/shm")
    ap.add_argument("--out", default="", help="also write the table, as Markdown, to this file")
    args = ap.parse_args()
    rows = max(int(GiB * args.scale) // 8, 1 << 17)
    ctx = mp.get_context("spawn")
    results: dict[tuple[str, int], list[tuple[float, int]]] = {}
    for k in (int(w) for w in args.workers.split(",")):
        with ctx.Pool(k, initializer=_warm) as pool:
            pool.map(abs, range(4 * k), chunksize=1)  # every worker up
            pids = [p.pid for p in pool._pool]  # the pool's own processes (a pool never replaces them here)
            for rep in range(max(args.reps, 1)):
                order = WAYS[rep % 3:] + WAYS[:rep % 3]  # interleaved: noise hits every way alike
                for way in order:
                    results.setdefault((way, k), []).append(run_once(way, pool, pids, rows, k, args.dir))
                    print(f"{way:14s} {k} workers rep {rep}: {time_text(results[(way, k)][-1][0])}, "
                          f"PSS {size_text(results[(way, k)][-1][1])}", flush=True)
    size = size_text(rows * 8)
    lines = [f"Result: {size} of float64, filled by each worker's slice; pool started (spawn) and warmed up "
             f"beforehand; median of {args.reps} runs. PSS: peak total of the parent and the workers.", "",
             "| workers | way | time | total PSS | time vs shmarray |",
             "|---:|---|---:|---:|---:|"]
    targets = []
    for k in sorted({k for _, k in results}):
        base = statistics.median(t for t, _ in results[("shmarray", k)])
        for way in WAYS:
            rs = results[(way, k)]
            t, p = statistics.median(r[0] for r in rs), statistics.median(r[1] for r in rs)
            lines.append(f"| {k} | {way} | {time_text(t)} | {size_text(p)} | {t / base:.2f}× |")
        pk = statistics.median(r[1] for r in results[("pickled", k)])
        sk = statistics.median(r[1] for r in results[("shmarray", k)])
        targets.append({"target": f"{k} workers: shmarray's total PSS below the pickled way's",
                        "measured": f"{size_text(sk)} vs {size_text(pk)}", "met": sk < pk})
    lines += ["", "shmarray's time by phase (median): `empty` (reserve and zero the result), the workers' "
              "fill, `publish` (wait, checksum, seal), the parent's read:", "",
              "| workers | empty | fill | publish | read |", "|---:|---:|---:|---:|---:|"]
    for k, ph in sorted(PHASES.items()):
        lines.append(f"| {k} | " + " | ".join(time_text(statistics.median(p[i] for p in ph)) for i in range(4)) + " |")
    md = "\n".join(lines) + "\n"
    print(md)
    if args.out:
        load = os.getloadavg()
        with open(args.out, "w") as f:
            f.write("# Shared outputs: workers fill one result\n\n"
                    "`bench/outputs_bench.py` (run by `make bench`, alone by `make bench-outputs`; "
                    "`BENCH_SCALE`, `BENCH_REPS`).\n\n" + md + "\n" + NOTES +
                    f"\nMachine: {os.cpu_count()} CPUs; load average {load[0]:.1f} "
                    "when the run ended (other jobs shared the machine: times are noisy).\n")
    if env("BENCH_JSON"):
        with open(env("BENCH_JSON"), "w") as f:
            json.dump({"title": f"Shared outputs: 1, 2, 4 workers fill {size}", "markdown": md,
                       "targets": targets}, f)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
