"""Objects workload: 16M Python ints in a list, inherited by fork workers.

Fork shares the parent's pages copy-on-write, but reading a Python object
writes its reference count, so every worker that walks the list copies every
page the ints live on. The same values as a shmarray int64 array are read
through a NumPy view of shared pages and stay one copy.

Approaches (all workers started by fork; fresh parent per trial):

  list_fork      list(range(...)) of distinct ints (no small-int cache), summed with sum()
  numpy_fork     the same values as a private NumPy int64 array, inherited
  shmarray       shmarray.create of the int64 array; forked workers attach and sum
  baseline_fork  workers given nothing

Measured: the parent's PSS once it holds the data (before forking), the time
until every worker has read every value once, and the total PSS of parent
and workers while all are alive.
"""

from __future__ import annotations

import gc
import multiprocessing as mp
import os
import subprocess
import time

import numpy as np

from common import Config, Mailbox, log, median, pss, rotate, run_trial, trial_main

APPROACHES = ["list_fork", "numpy_fork", "shmarray", "baseline_fork"]
LABELS = {
    "list_fork": "list of ints, fork",
    "numpy_fork": "NumPy int64, fork",
    "shmarray": "shmarray int64",
    "baseline_fork": "no data (processes only)",
}
# Beyond CPython's cache of small ints (-5..256), so every value is its own
# 28-byte object; small enough that the int64 sum cannot overflow.
BASE = 1 << 10

_DATA = None  # what fork workers inherit


def worker(approach: str, handle, results, release) -> None:
    pid = os.getpid()
    t = time.perf_counter()
    total = None
    if approach == "list_fork":
        total = sum(_DATA)
    elif approach == "numpy_fork":
        total = int(_DATA.sum())
    elif approach == "shmarray":
        import shmarray
        name, d = handle
        seg = shmarray.attach(name, dir=d)
        total = int(seg["x"].sum())
    results.put(("scanned", pid, time.perf_counter() - t, total))
    release.wait()


def trial(cfg: Config, a: dict) -> dict:
    global _DATA
    import shmarray

    approach, n, count = a["approach"], a["workers"], a["count"]
    expected = count * BASE + count * (count - 1) // 2
    name = f"bench-objects-{os.getpid()}"
    cleanup = []
    t0 = time.perf_counter()
    if approach == "list_fork":
        _DATA = list(range(BASE, BASE + count))
    elif approach in ("numpy_fork", "shmarray"):
        _DATA = np.arange(BASE, BASE + count, dtype=np.int64)
    build = time.perf_counter() - t0
    handle = None
    if approach == "shmarray":
        seg = shmarray.create(name, {"x": _DATA}, dir=cfg.dir, unlink_on_exit=True)
        seg.close()
        cleanup.append(lambda: shmarray.unlink(name, dir=cfg.dir))
        _DATA = None  # the parent keeps only the segment
        handle = (name, cfg.dir)
    gc.collect()
    parent_before = pss(os.getpid())

    ctx = mp.get_context("fork")
    results, release = ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=worker, args=(approach, handle, results, release)) for _ in range(n)]
    try:
        t0 = time.perf_counter()
        for p in procs:
            p.start()
        scans = Mailbox(results, procs).wait("scanned", n)
        scanned = time.perf_counter() - t0
        if approach != "baseline_fork" and any(s[3] != expected for s in scans):
            raise RuntimeError(f"objects: {approach}: workers summed {[s[3] for s in scans]}, expected {expected}")
        parent_pss = pss(os.getpid())
        worker_pss = [pss(p.pid) for p in procs]
        release.set()
        for p in procs:
            p.join(timeout=120)
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
        for f in cleanup:
            try:
                f()
            except Exception as e:  # noqa: BLE001
                log(f"objects: cleanup of {approach}: {e}")
    return {"approach": approach, "workers": n, "count": count, "build_s": build,
            "parent_pss_before": parent_before, "scanned_s": scanned,
            "worker_scan_s": [s[2] for s in scans], "parent_pss": parent_pss,
            "worker_pss": worker_pss, "total_pss": parent_pss + sum(worker_pss)}


def run(cfg: Config) -> dict:
    count = cfg.count(16_000_000)
    n = 4 if 4 in cfg.workers else max(cfg.workers)
    trials, failed = [], []
    for rep in range(cfg.reps):
        for approach in rotate(APPROACHES, rep):
            try:
                r = run_trial(cfg, "objects", {"approach": approach, "workers": n, "count": count})
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                failed.append({"approach": approach, "rep": rep, "error": str(e)[-1500:]})
                log(f"objects: {approach} failed, going on: {str(e)[-600:]}")
                continue
            r["rep"] = rep
            trials.append(r)
            log(f"objects rep {rep + 1}/{cfg.reps} N={n} {approach:13} parent {r['parent_pss_before'] / 2**20:7.1f} MiB"
                f"  scanned {r['scanned_s']:6.2f} s  total PSS {r['total_pss'] / 2**20:8.1f} MiB")
    summary = {}
    for approach in APPROACHES:
        ts = [t for t in trials if t["approach"] == approach]
        if not ts:
            continue
        summary[approach] = {
            "approach": approach, "runs": len(ts),
            "parent_pss_before": median([t["parent_pss_before"] for t in ts]),
            "scanned_s": median([t["scanned_s"] for t in ts]),
            "worker_scan_s": median([median(t["worker_scan_s"]) for t in ts]),
            "total_pss": median([t["total_pss"] for t in ts]),
        }
    base = summary.get("baseline_fork")
    for r in summary.values():
        r["pss_over_baseline"] = r["total_pss"] - base["total_pss"] if base else None
    ref = summary.get("shmarray", {}).get("pss_over_baseline")
    for r in summary.values():
        r["pss_vs_shmarray"] = r["pss_over_baseline"] / max(ref, 1) if ref and r["pss_over_baseline"] else None
    return {"count": count, "workers": n, "value_bytes": 8 * count, "trials": trials, "failed": failed,
            "summary": summary}


if __name__ == "__main__":
    trial_main(trial)
