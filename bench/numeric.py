"""Numeric workload: one big float64 array read by N Python workers.

Each trial has two phases, timed separately:

1. start: the parent starts N workers, which import what their approach
   needs (NumPy; shmarray, pyarrow or shared_memory) and report ready;
2. hand-off: from the parent holding a private NumPy array until every
   worker holds the data as a NumPy array. The parent publishes the data its
   way (create a segment, write a file, copy into shared memory, or nothing),
   then sends each worker a handle through a pipe: a name or a path, or for
   ``pickle`` the array itself, pickled.

For fork inheritance the data crosses at fork: its hand-off is its start.
Setup, end to end, is start + hand-off. Then every worker sums all of the
data once (mapped approaches pay their page faults here) and, while all are
alive, the PSS of the parent and of every worker is read from /proc; the
parent has dropped its private copy by then. With one worker, the worker
then times sums over its array against sums over a private copy,
alternated: the scan ratio.

Approaches (the parent is a fresh interpreter per trial, see common.run_trial):

  shmarray       shmarray.create; workers shmarray.attach(name)["x"]
  pickle         the array sent to each worker through a pipe (pickled)
  fork           fork workers, which inherit the parent's pages
  shared_memory  multiprocessing.shared_memory + NumPy over its buffer
  arrow_ipc      an Arrow IPC file in the segment directory, read with
                 pyarrow.memory_map (zero-copy)
  numpy_memmap   a raw file in the segment directory, numpy.memmap
  baseline_*     workers given nothing: the processes alone
  shmarray_huge  shmarray with the segment on a tmpfs mounted with huge=
                 (only with --huge-dir / BENCH_HUGE_DIR): the same pages as
                 transparent huge pages

Every approach but fork (and baseline_fork) starts workers with the
configured start method (spawn unless BENCH_START says otherwise).
"""

from __future__ import annotations

import gc
import multiprocessing as mp
import os
import subprocess
import sys
import time

import numpy as np

from common import Config, Mailbox, available_memory, log, median, pss, rotate, run_trial, trial_main

APPROACHES = ["shmarray", "pickle", "fork", "shared_memory", "arrow_ipc", "numpy_memmap",
              "baseline_spawn", "baseline_fork"]
LABELS = {
    "shmarray": "shmarray",
    "pickle": "pickle to workers",
    "fork": "fork inheritance",
    "shared_memory": "multiprocessing.shared_memory",
    "arrow_ipc": "Arrow IPC file + memory_map",
    "numpy_memmap": "numpy.memmap",
    "baseline_spawn": "no data (processes only)",
    "baseline_fork": "no data, fork (processes only)",
    "shmarray_huge": "shmarray, segment on a huge-page tmpfs",
}
FORKED = {"fork", "baseline_fork"}
PATTERN = np.arange(1000, dtype=np.float64) * 0.25  # multiples of 0.25: sums are exact in any order
SCAN_ROUNDS = (5, 25)  # at least, at most: sums of view and private copy, alternated
SCAN_SECONDS = 1.0


def make_data(nbytes: int) -> tuple[np.ndarray, float]:
    """A private float64 array of nbytes and its exact sum."""
    n = nbytes // 8
    data = np.empty(n, dtype=np.float64)
    full = n // len(PATTERN)
    data[:full * len(PATTERN)].reshape(full, len(PATTERN))[:] = PATTERN
    rest = n - full * len(PATTERN)
    data[full * len(PATTERN):] = PATTERN[:rest]
    return data, float(full * PATTERN.sum() + PATTERN[:rest].sum())


# ---------------------------------------------------------------------------
# Worker side


def open_data(approach: str, handle):
    """The worker's array and whatever must stay alive with it."""
    if approach in ("pickle", "fork"):
        return handle, None
    if approach in ("shmarray", "shmarray_huge"):
        import shmarray
        name, d = handle
        seg = shmarray.attach(name, dir=d)
        return seg["x"], seg
    if approach == "shared_memory":
        from multiprocessing import shared_memory
        name, n = handle
        kw = {"track": False} if sys.version_info >= (3, 13) else {}
        shm = shared_memory.SharedMemory(name=name, **kw)
        return np.ndarray((n,), dtype=np.float64, buffer=shm.buf), shm
    if approach == "arrow_ipc":
        import pyarrow as pa
        import pyarrow.ipc  # noqa: F401
        source = pa.memory_map(handle)
        table = pa.ipc.open_file(source).read_all()
        return table.column(0).chunk(0).to_numpy(zero_copy_only=True), (source, table)
    if approach == "numpy_memmap":
        path, n = handle
        return np.memmap(path, dtype=np.float64, mode="r", shape=(n,)), None
    return None, None  # baselines


def huge_share(arr: np.ndarray) -> float | None:
    """Share of the resident pages under arr that are huge pages
    (AnonHugePages, ShmemPmdMapped, FilePmdMapped in /proc/self/smaps, over
    every mapping the array's bytes overlap): fewer TLB misses, faster scans."""
    lo_arr = arr.__array_interface__["data"][0]
    hi_arr = lo_arr + arr.nbytes
    rss = huge = 0
    inside = False
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split(None, 1)[0]
            if "-" in head and not head.endswith(":"):
                lo, hi = (int(x, 16) for x in head.split("-"))
                inside = lo < hi_arr and lo_arr < hi
                continue
            if inside:
                key, value = line.split(":", 1)
                if key == "Rss":
                    rss += int(value.split()[0])
                elif key in ("AnonHugePages", "ShmemPmdMapped", "FilePmdMapped"):
                    huge += int(value.split()[0])
    return huge / rss if rss else None


def prepare(approach: str) -> None:
    """What a worker imports before it is ready: the modules its approach needs."""
    if approach in ("shmarray", "shmarray_huge"):
        import shmarray  # noqa: F401
    elif approach == "shared_memory":
        from multiprocessing import shared_memory  # noqa: F401
    elif approach == "arrow_ipc":
        import pyarrow.ipc  # noqa: F401


def worker(approach: str, conn, results, release, scan_ratio: bool) -> None:
    """conn is the pipe the handle arrives on, or for fork the data itself."""
    pid = os.getpid()
    prepare(approach)
    results.put(("ready", pid))
    t = time.perf_counter()
    handle = conn if approach in FORKED else conn.recv()
    arr, keep = open_data(approach, handle)
    del handle
    results.put(("hold", pid, time.perf_counter() - t))
    first, total = None, None
    if arr is not None:
        t = time.perf_counter()
        total = float(arr.sum())
        first = time.perf_counter() - t
    results.put(("scanned", pid, first, total))
    release.wait()
    if scan_ratio and arr is not None:
        private = np.array(arr)  # after the PSS reading: it does not count there
        private.sum()
        view_t, private_t = [], []
        stop = time.perf_counter() + SCAN_SECONDS
        while len(view_t) < SCAN_ROUNDS[0] or (time.perf_counter() < stop and len(view_t) < SCAN_ROUNDS[1]):
            for a, out in ((arr, view_t), (private, private_t)):
                t = time.perf_counter()
                a.sum()
                out.append(time.perf_counter() - t)
        results.put(("ratio", pid, view_t, private_t, huge_share(arr), huge_share(private)))
        del private
    del arr
    if approach == "shared_memory":
        keep.close()
    del keep


# ---------------------------------------------------------------------------
# Parent side (one trial)


def trial(cfg: Config, a: dict) -> dict:
    # The same modules in every parent, so its own memory does not differ by approach.
    import pyarrow as pa
    import pyarrow.ipc  # noqa: F401
    from multiprocessing import shared_memory
    import shmarray

    approach, n, nbytes = a["approach"], a["workers"], a["bytes"]
    ctx = mp.get_context("fork" if approach in FORKED else cfg.start_method)
    results, release = ctx.Queue(), ctx.Event()
    name = f"bench-numeric-{os.getpid()}"
    data, expected = (None, None) if approach.startswith("baseline") else make_data(nbytes)
    rows = 0 if data is None else len(data)
    cleanup = []

    forked = approach in FORKED
    pipes = [None if forked else ctx.Pipe() for _ in range(n)]
    procs = [ctx.Process(target=worker, args=(approach, data if forked else pipes[i][1], results, release,
                                              a["scan_ratio"]))
             for i in range(n)]
    box = Mailbox(results, procs)
    try:
        # Phase 1: start the workers (for fork, this is the hand-off too).
        t0 = time.perf_counter()
        for p in procs:
            p.start()
        box.wait("ready", n)
        start = time.perf_counter() - t0
        # Phase 2: hand the data over.
        t0 = time.perf_counter()
        if approach in ("shmarray", "shmarray_huge"):
            d = cfg.huge_dir if approach == "shmarray_huge" else cfg.dir
            seg = shmarray.create(name, {"x": data}, dir=d, unlink_on_exit=True)
            cleanup.append(seg.close)
            cleanup.append(lambda: shmarray.unlink(name, dir=d))
            handle = (name, d)
        elif approach == "pickle":
            handle = data
        elif approach == "shared_memory":
            shm = shared_memory.SharedMemory(name=name, create=True, size=nbytes)
            np.ndarray((rows,), dtype=np.float64, buffer=shm.buf)[:] = data
            cleanup.append(shm.unlink)
            cleanup.append(shm.close)
            handle = (shm.name, rows)
        elif approach == "arrow_ipc":
            path = os.path.join(cfg.dir, name + ".arrow")
            table = pa.table({"x": data})
            with pa.OSFile(path, "wb") as f, pa.ipc.new_file(f, table.schema) as w:
                w.write_table(table)
            del table
            cleanup.append(lambda: os.unlink(path))
            handle = path
        elif approach == "numpy_memmap":
            path = os.path.join(cfg.dir, name + ".f8")
            data.tofile(path)
            cleanup.append(lambda: os.unlink(path))
            handle = (path, rows)
        else:
            handle = None
        publish = time.perf_counter() - t0
        if not forked:
            for parent_end, _ in pipes:
                parent_end.send(handle)
        del handle
        holds = box.wait("hold", n)
        handoff = start if forked else time.perf_counter() - t0
        scans = box.wait("scanned", n)
        scanned = time.perf_counter() - t0
        if expected is not None and any(s[3] != expected for s in scans):
            raise RuntimeError(f"numeric: {approach}: workers summed {[s[3] for s in scans]}, expected {expected}")
        del data  # every worker holds the data: the parent's private copy is no longer needed
        gc.collect()
        parent_pss = pss(os.getpid())
        worker_pss = [pss(p.pid) for p in procs]
        release.set()
        ratios = box.wait("ratio", n) if a["scan_ratio"] and expected is not None else []
        for p in procs:
            p.join(timeout=120)
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
        for f in reversed(cleanup):
            try:
                f()
            except Exception as e:  # noqa: BLE001 (report, keep cleaning)
                log(f"numeric: cleanup of {approach}: {e}")
    setup = start if forked else start + handoff
    out = {"approach": approach, "workers": n, "bytes": nbytes, "start_s": start, "publish_s": publish,
           "handoff_s": handoff, "hold_s": setup, "scanned_s": start + scanned, "worker_open_s": [h[2] for h in holds],
           "first_scan_s": [s[2] for s in scans], "parent_pss": parent_pss, "worker_pss": worker_pss,
           "total_pss": parent_pss + sum(worker_pss)}
    if ratios:
        view_t = median([t for r in ratios for t in r[2]])
        private_t = median([t for r in ratios for t in r[3]])
        # the ratio of each adjacent pair of sums, then their median: machine noise that lasts
        # longer than a pair cancels out
        pairs = median([p / v for r in ratios for v, p in zip(r[2], r[3])])
        out.update(scan_view_s=view_t, scan_private_s=private_t, scan_ratio=pairs,
                   huge_view=ratios[0][4], huge_private=ratios[0][5])
    return out


# ---------------------------------------------------------------------------
# Driver


def run(cfg: Config) -> dict:
    nbytes = cfg.bytes(1 * 1024**3)
    trials, skipped, failed = [], [], []
    deadline = time.monotonic() + cfg.numeric_budget
    last = {}  # (approach, workers) -> seconds the last such trial took
    approaches = APPROACHES + (["shmarray_huge"] if cfg.huge_dir else [])
    for rep in range(cfg.reps):
        for i, n in enumerate(cfg.workers):
            for approach in rotate(approaches, rep + i):
                # pickling holds the array in the parent, its pickle, and one copy per worker
                need = (n + 3) * nbytes if approach == "pickle" else 3 * nbytes
                why = None
                if available_memory() < need:
                    why = f"needs ~{need >> 20} MiB of RAM, {available_memory() >> 20} MiB available"
                elif rep > 0 and time.monotonic() + last.get((approach, n), 0) > deadline:
                    why = (f"repetition {rep + 1} would end past the {cfg.numeric_budget:.0f} s budget "
                           f"(the last such trial took {last[(approach, n)]:.0f} s)")
                if why:
                    skipped.append({"approach": approach, "workers": n, "rep": rep, "why": why})
                    log(f"numeric: skipped {approach} N={n} rep {rep + 1}: {why}")
                    continue
                t = time.monotonic()
                try:
                    r = run_trial(cfg, "numeric", {"approach": approach, "workers": n, "bytes": nbytes,
                                                   "scan_ratio": n == min(cfg.workers)})
                except (RuntimeError, subprocess.TimeoutExpired) as e:
                    failed.append({"approach": approach, "workers": n, "rep": rep, "error": str(e)[-1500:]})
                    log(f"numeric: {approach} N={n} failed, going on: {str(e)[-600:]}")
                    continue
                finally:
                    last[(approach, n)] = time.monotonic() - t
                r["rep"] = rep
                trials.append(r)
                log(f"numeric rep {rep + 1}/{cfg.reps} N={n} {approach:14} start {r['start_s']:6.2f} s  "
                    f"hand-off {r['handoff_s']:7.3f} s  scanned {r['scanned_s']:6.2f} s  "
                    f"PSS {r['total_pss'] / 2**20:7.0f} MiB")
    return {"bytes": nbytes, "workers": list(cfg.workers), "start_method": cfg.start_method,
            "trials": trials, "skipped": skipped, "failed": failed, "summary": summarize(trials, cfg)}


def summarize(trials: list, cfg: Config) -> dict:
    """Medians per (approach, workers) and ratios against shmarray."""
    rows = {}
    keys = ["start_s", "handoff_s", "hold_s", "scanned_s", "publish_s", "total_pss", "parent_pss",
            "scan_ratio", "scan_view_s", "scan_private_s", "huge_view", "huge_private"]
    for approach in APPROACHES + ["shmarray_huge"]:
        for n in cfg.workers:
            ts = [t for t in trials if t["approach"] == approach and t["workers"] == n]
            if not ts:
                continue
            r = {"approach": approach, "workers": n, "runs": len(ts)}
            r.update({k: median([t.get(k) for t in ts]) for k in keys})
            r["worker_pss"] = median([median(t["worker_pss"]) for t in ts])
            rows[f"{approach}/{n}"] = r
    for r in rows.values():
        base = rows.get(f"{'baseline_fork' if r['approach'] in FORKED else 'baseline_spawn'}/{r['workers']}")
        ref = rows.get(f"shmarray/{r['workers']}")
        if base:
            r["pss_over_baseline"] = r["total_pss"] - base["total_pss"]
        if ref:
            for k in ("handoff_s", "hold_s", "scanned_s", "total_pss"):
                r[f"{k}_vs_shmarray"] = r[k] / ref[k] if ref[k] else None
    return rows


if __name__ == "__main__":
    trial_main(trial)
