"""`make demo`: one shmarray segment, Python, Go and C workers reading it at
once, and what the same data costs when pickled to each worker instead.

Run from a source checkout after `make build venv` (the Makefile does both):
    PYTHONPATH=bindings/python .venv/bin/python demo/demo.py [--rows N] [--workers N]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import pickle
import queue
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import shmarray

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
SYMBOLS = np.array(["ACME", "INIT", "ZETA", "QUUX", "BOLT"])


def pss(pid: int) -> int:
    """Proportional set size of a process, in bytes (shared pages are split
    between the processes that map them)."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024
    return 0


def make_columns(rows: int) -> dict:
    i = np.arange(rows, dtype=np.int64)
    return {
        "price": (i % 1000) * 0.25,  # multiples of 0.25: sums are exact in any order
        "qty": i % 7,
        "symbol": SYMBOLS[i % len(SYMBOLS)],  # a NumPy unicode array, stored as utf8
    }


def compute(price, qty, symbol_offsets, symbol_data) -> dict:
    """The work every worker does, on whatever memory it was given."""
    acme = 0
    step = 1 << 20
    target = np.frombuffer(b"ACME", dtype=np.uint8)
    for lo in range(0, len(symbol_offsets) - 1, step):  # in chunks: no big temporaries
        starts = symbol_offsets[lo:lo + step + 1]
        lengths = np.diff(starts)
        cand = starts[:-1][lengths == 4]
        window = symbol_data[cand[:, None] + np.arange(4)]
        acme += int((window == target).all(axis=1).sum())
    return {"rows": len(price), "price_sum": float(price.sum()), "qty_sum": int(qty.sum()),
            "acme_count": acme}


def shm_worker(name: str, dir: str | None, results, release, one_at_a_time, started, attached) -> None:
    """A Python worker on the shared segment (started by fork)."""
    started.wait(timeout=60)  # every worker exists: no forking going on
    with one_at_a_time:  # on 2 cores, time the attach, not the scheduler
        t0 = time.perf_counter()
        seg = shmarray.attach(name, dir=dir)
        attach_us = (time.perf_counter() - t0) * 1e6
    attached.wait(timeout=60)
    sym = seg["symbol"]
    out = compute(seg["price"], seg["qty"], sym.offsets, sym.data)
    results.put({"worker": "python", "pid": os.getpid(), "attach_us": attach_us, **out})
    release.wait()
    seg.close()


def pickled_worker(price, qty, symbol, results, release) -> None:
    """A Python worker given its own copy of the columns (started by spawn:
    multiprocessing pickles the arguments to it)."""
    lengths = np.char.str_len(symbol)
    offsets = np.zeros(len(symbol) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    out = compute(price, qty, offsets, symbol.view(np.uint8))
    results.put({"worker": "pickled", "pid": os.getpid(), **out})
    release.wait()


def collect(results, procs, timeout: float = 600) -> list[dict]:
    """One result per worker; fail fast if a worker dies instead of waiting."""
    out, deadline = [], time.monotonic() + timeout
    while len(out) < len(procs):
        try:
            out.append(results.get(timeout=0.5))
        except queue.Empty:
            dead = [p for p in procs if p.exitcode not in (None, 0)]
            if dead or time.monotonic() > deadline:
                for p in procs:
                    p.kill()
                raise SystemExit(f"demo: a worker failed (exit codes {[p.exitcode for p in procs]})")
    return out


def start_native(cmd: list[str]) -> tuple[subprocess.Popen, dict]:
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line:
        proc.wait()
        raise SystemExit(f"demo: {cmd[0]} failed (exit {proc.returncode})")
    return proc, json.loads(line)


def mib(n: float) -> str:
    return f"{n / 2**20:8.1f} MiB"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=16_000_000)
    ap.add_argument("--workers", type=int, default=4, help="Python workers (plus one Go and one C)")
    ap.add_argument("--dir", default=None, help="segment directory (default $SHMARRAY_DIR, else /dev/shm)")
    args = ap.parse_args()
    name = f"shmarray-demo-{os.getpid()}"
    cols = make_columns(args.rows)

    t0 = time.perf_counter()
    seg = shmarray.create(name, cols, dir=args.dir, unlink_on_exit=True)
    size = os.path.getsize(seg.path)
    print(f"created segment {name!r}: {args.rows:,} rows of price float64, qty int64, symbol utf8, "
          f"{size / 2**20:.0f} MiB in {time.perf_counter() - t0:.2f} s")
    print(f"a Segment pickles to {len(pickle.dumps(seg))} bytes: that is all a worker is sent\n")
    # Forked workers would otherwise share the parent's copy of the columns and
    # count part of it in their PSS: measure the segment alone.
    del cols

    # --- Python (fork), Go and C workers on the one segment, all alive at once.
    ctx = mp.get_context("fork")
    results, release, lock = ctx.Queue(), ctx.Event(), ctx.Lock()
    started, attached = ctx.Barrier(args.workers), ctx.Barrier(args.workers)
    procs = [ctx.Process(target=shm_worker, args=(name, args.dir, results, release, lock, started, attached))
             for _ in range(args.workers)]
    for p in procs:
        p.start()
    rows = collect(results, procs)
    dir_args = [args.dir] if args.dir else []
    natives = [start_native([str(BUILD / "demo"), "worker", "-hold", "-dir", args.dir or "", name]),
               start_native([str(BUILD / "demo-worker-c"), name] + dir_args)]
    rows += [r for _, r in natives]
    shared = {r["pid"]: pss(r["pid"]) for r in rows}
    release.set()
    for p in procs:
        p.join()
    for proc, _ in natives:
        proc.stdin.close()
        proc.wait()

    print(f"{'worker':8} {'pid':>7} {'attach':>10} {'price_sum':>16} {'qty_sum':>12} {'ACME':>9} {'PSS':>12}")
    for r in rows:
        print(f"{r['worker']:8} {r['pid']:>7} {r['attach_us']:>8.1f}µs {r['price_sum']:>16.2f} "
              f"{r['qty_sum']:>12} {r['acme_count']:>9} {mib(shared[r['pid']])}")
    keys = ("rows", "price_sum", "qty_sum", "acme_count")
    if any(tuple(r[k] for k in keys) != tuple(rows[0][k] for k in keys) for r in rows):
        raise SystemExit("demo: workers disagree!")
    print(f"all {len(rows)} workers (Python, Go, C) computed the same answer from the same pages.\n")

    # --- The usual alternative: pickle the columns to each (spawned) worker.
    cols = make_columns(args.rows)
    ctx = mp.get_context("spawn")
    results, release = ctx.Queue(), ctx.Event()
    t0 = time.perf_counter()
    symbols = cols["symbol"].astype("S4")  # the compact NumPy form: 4 bytes a row
    procs = [ctx.Process(target=pickled_worker, args=(cols["price"], cols["qty"], symbols, results, release))
             for _ in range(args.workers)]
    for p in procs:
        p.start()
    pickled = collect(results, procs)
    setup = time.perf_counter() - t0
    copies = {r["pid"]: pss(r["pid"]) for r in pickled}
    release.set()
    for p in procs:
        p.join()
    if any(r["acme_count"] != rows[0]["acme_count"] for r in pickled):
        raise SystemExit("demo: pickled workers disagree!")

    py_shared = sum(shared[r["pid"]] for r in rows if r["worker"] == "python")
    print(f"memory of {args.workers} Python workers while all were alive (PSS, measured):")
    print(f"  attached to the shared segment:    {mib(py_shared)} in total")
    print(f"  each sent a pickled copy (spawn):  {mib(sum(copies.values()))} in total "
          f"({sum(copies.values()) / py_shared:.1f}x), {setup:.1f} s to start")
    print(f"  all {len(rows)} shared workers (Python, Go, C): {mib(sum(shared.values()))} in total, "
          f"for {size / 2**20:.0f} MiB of data")
    seg.close()
    shmarray.unlink(name, dir=args.dir)
    print(f"removed segment {name!r}")


if __name__ == "__main__":
    sys.exit(main())
