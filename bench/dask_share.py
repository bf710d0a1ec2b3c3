"""`make bench-dask`: one 1 GiB float64 array made available to 4 Dask
workers, three ways, on two cluster layouts; docs/benchmarks-dask.md.

Ways:

* ``shmarray.dask`` — ``shmarray.create`` a segment from the array, then
  ``shmarray.dask.share(client, seg)``; tasks get ``shared.segment()``;
* ``scatter`` — ``client.scatter(array, broadcast=True)``; tasks get the future;
* each of those two ``direct``: the client sends its data to the workers
  itself (``direct=True``) instead of through the scheduler (the default
  of a Client);
* ``task argument`` — ``client.submit(f, array)`` once per worker: the array
  travels in each task.

Layouts (4 worker processes, 1 thread each, no memory limit):

* one host: a ``LocalCluster`` whose workers share the client's segment
  directory (nothing to copy for shmarray);
* two hosts: a ``dask scheduler`` and two groups of 2 ``dask worker``
  processes on 127.0.0.1 and 127.0.0.2, each group with its own
  SHMARRAY_DIR, and the client's segment in a third directory, as for a
  client off the cluster: shmarray makes one copy per host, every byte over
  TCP as on a real network (but at loopback speed).

Each way runs in a fresh cluster and a fresh client process, once per
repetition (interleaved, a different way first each time). One task per worker gets the data, notes
the time (ready), sums all of it (touching every page) and keeps it (read);
"ready"/"read" are the times from the start (the client holding the NumPy
array) until the last worker got there. Total PSS is summed over the 4
workers while they all hold the data (from /proc/PID/smaps_rollup; pages
shared by workers are counted once), and separately for the client process
(which, with a LocalCluster, also runs the scheduler) and the scheduler.

    make bench-dask [BENCH_SCALE=0.25] [BENCH_REPS=2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bindings" / "python"))
sys.path.insert(0, str(ROOT / "bindings" / "python" / "tests"))

import distributed  # noqa: E402

import shmarray  # noqa: E402
import shmarray.dask  # noqa: E402

import dask_helpers as H  # noqa: E402  (the clusters of the tests)

MiB, GiB = 1 << 20, 1 << 30
WAYS = ["shmarray.dask", "shmarray.dask, direct", "scatter", "scatter, direct", "task argument"]
LAYOUTS = ["one host", "two hosts"]
# With a LocalCluster shmarray sends nothing, so direct or not is the same.
LAYOUT_WAYS = {"one host": [w for w in WAYS if w != "shmarray.dask, direct"], "two hosts": WAYS}


# -- what the tasks run (importable on workers: tests/ is on their path) ------

def _use(data):
    """Get at the data, note the time, read all of it, keep it."""
    seg = None
    if isinstance(data, shmarray.dask.Shared):
        seg = data.segment(timeout=600)
        data = seg["x"]
    ready = time.time()
    total = float(data.sum())
    H._held.append((seg, data))
    return os.getpid(), ready, time.time(), total


# -- clusters ----------------------------------------------------------------

class OneHost:
    """A LocalCluster: 4 workers with the client's segment directory."""

    def __init__(self, root: str):
        self.dir = os.path.join(root, "shm")
        os.mkdir(self.dir)
        os.environ["SHMARRAY_DIR"] = self.dir  # the spawned workers inherit it
        self.cluster = distributed.LocalCluster(processes=True, n_workers=4, threads_per_worker=1,
                                                dashboard_address=None, memory_limit=0)
        self.client = distributed.Client(self.cluster, timeout=60)
        self.client.wait_for_workers(4, timeout=120)
        self.client_dir, self.scheduler_pid = self.dir, None

    def close(self):
        self.client.close(timeout=30)
        self.cluster.close(timeout=60)


class TwoHosts:
    """A scheduler and two loopback hosts of 2 workers; the client's segment
    directory is neither's."""

    def __init__(self, root: str):
        self.scheduler = H.Scheduler(root)
        self.hosts = [H.Host(self.scheduler, "127.0.0.1", 2, os.path.join(root, "a"), root),
                      H.Host(self.scheduler, "127.0.0.2", 2, os.path.join(root, "b"), root)]
        self.client = distributed.Client(self.scheduler.address, timeout=60)
        self.client.wait_for_workers(4, timeout=120)
        self.client_dir = os.path.join(root, "client")
        os.mkdir(self.client_dir)
        self.scheduler_pid = self.scheduler.proc.pid

    def close(self):
        self.client.close(timeout=30)
        for h in self.hosts:
            h.stop()
        self.scheduler.stop()


# -- one trial ---------------------------------------------------------------

def trial(layout: str, way: str, n_bytes: int) -> dict:
    root = tempfile.mkdtemp(dir="/dev/shm", prefix="shmarray-bench-dask-")
    cluster = (OneHost if layout == "one host" else TwoHosts)(root)
    client = cluster.client
    try:
        workers = sorted(client.scheduler_info()["workers"])
        pids = client.run(H.warm_up)
        client.gather([client.submit(H.warm_up, workers=[w], pure=False) for w in workers])
        before = {w: H.pss_bytes(pids[w]) for w in workers}
        array = np.arange(n_bytes // 8, dtype=np.float64)
        want = float(array.sum())
        out = {"layout": layout, "way": way, "bytes": n_bytes, "pss_before": sum(before.values())}
        shared = None
        t0 = time.time()
        direct = True if way.endswith(", direct") else None
        if way.startswith("shmarray.dask"):
            seg = shmarray.create(f"bench-{os.getpid()}", {"x": array}, dir=cluster.client_dir)
            out["create_s"] = time.time() - t0
            shared = shmarray.dask.share(client, seg, direct=direct)
            out["share_s"] = time.time() - t0 - out["create_s"]
            futs = [client.submit(_use, shared, workers=[w], pure=False) for w in workers]
        elif way.startswith("scatter"):
            fut = client.scatter(array, broadcast=True, direct=direct)
            out["scatter_s"] = time.time() - t0
            futs = [client.submit(_use, fut, workers=[w], pure=False) for w in workers]
        else:
            futs = [client.submit(_use, array, workers=[w], pure=False) for w in workers]
        results = client.gather(futs)
        if any(r[3] != want for r in results):
            raise AssertionError(f"{way}: a worker summed {[r[3] for r in results]}, expected {want}")
        out["ready_s"] = max(r[1] for r in results) - t0
        out["read_s"] = max(r[2] for r in results) - t0
        out["pss_workers"] = sum(H.pss_bytes(pids[w]) for w in workers)
        out["pss_client"] = H.pss_bytes(os.getpid())
        if cluster.scheduler_pid:
            out["pss_scheduler"] = H.pss_bytes(cluster.scheduler_pid)
        if shared is not None:
            out["copies"] = sum(1 for r in shared.status().values() if r["state"] == "received")
            client.run(H.drop_held)
            shared.release()
            seg.close()
            shmarray.unlink(seg.name, dir=cluster.client_dir)
        return out
    finally:
        cluster.close()
        os.environ.pop("SHMARRAY_DIR", None)
        shutil.rmtree(root, ignore_errors=True)


# -- report ------------------------------------------------------------------

def _t(s):
    return "–" if s is None else f"{s:.2f} s" if s >= 1 else f"{s * 1e3:.0f} ms"


def _m(n):
    return "–" if n is None else f"{n / MiB:,.0f} MiB"


def _x(r):
    return "–" if r is None else f"{r:.1f}×" if r >= 10 else f"{r:.2f}×"


def _median(rows, key):
    xs = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(xs) if xs else None


def markdown(res: dict) -> str:
    m = res["meta"]
    lines = [
        "# shmarray.dask benchmark",
        "",
        "One float64 array made available to 4 Dask workers: `shmarray.dask.share` against "
        "`client.scatter(..., broadcast=True)` and against passing the array as a task argument. "
        "Generated by `make bench-dask` (bench/dask_share.py); do not edit by hand.",
        "",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['mem_gib']:.1f} GiB RAM; Linux {m['kernel']}",
        f"- Software: Python {m['python']}, NumPy {m['numpy']}, dask/distributed {m['distributed']}; "
        f"shmarray commit {m['commit']}",
        f"- Run: {m['date']}, {_m(res['bytes'])} of data, {res['reps']} repetition(s) per way and layout "
        f"(medians), took {m['runtime_s']:.0f} s; load average (1 min) at start {m['load_start']:.1f}",
        "",
        "Times run from the client holding the NumPy array until the last of the 4 workers has the data "
        "in hand (ready) and has summed all of it (read); for shmarray they include `shmarray.create` "
        "(the segment) and `share`. Total PSS is over the 4 workers while each holds the data (pages the "
        "workers share are counted once); medians over the runs. ×: the ratio to shmarray.dask in the same "
        "layout (above 1: slower, or more memory); the runs vary with the load of the machine, which "
        "other work shares. *direct*: the client sends its data to the workers itself "
        "(`direct=True`) rather than through the scheduler, a Client's default.",
        "",
    ]
    for layout in LAYOUTS:
        rows = [r for r in res["trials"] if r["layout"] == layout]
        if not rows:
            continue
        base = {k: _median([r for r in rows if r["way"] == "shmarray.dask"], k)
                for k in ("ready_s", "read_s", "pss_workers", "pss_before")}
        lines += [f"## {layout.capitalize()}", ""]
        if layout == "one host":
            lines += ["A `LocalCluster(processes=True, n_workers=4, threads_per_worker=1)` whose workers share "
                      "the client's segment directory: shmarray copies nothing.", ""]
        else:
            lines += ["A `dask scheduler` and 2 × 2 `dask worker` processes on 127.0.0.1 and 127.0.0.2, each "
                      "pair with its own SHMARRAY_DIR; the client's segment is in a third directory, as for a "
                      "client off the cluster. shmarray sends each chunk once, from the client to the first "
                      "host's receiver, and Dask carries it on to the second host's: the file crosses the "
                      "network once per host, over loopback TCP here.", ""]
        lines += ["| way | ready | × | read | × | total PSS of the workers | × | above their baseline | × "
                  "| ready, each run | other processes |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |"]
        for way in LAYOUT_WAYS[layout]:
            wr = [r for r in rows if r["way"] == way]
            if not wr:
                continue
            ready, read, pss, pss0 = (_median(wr, k) for k in ("ready_s", "read_s", "pss_workers", "pss_before"))
            grown = None if pss is None or pss0 is None else pss - pss0
            base_grown = None if base["pss_workers"] is None else base["pss_workers"] - base["pss_before"]

            def rel(v, b):
                return "1" if way == "shmarray.dask" else "–" if not b or v is None else _x(v / b)
            extra = [f"client {_m(_median(wr, 'pss_client'))}"]
            if _median(wr, "pss_scheduler") is not None:
                extra.append(f"scheduler {_m(_median(wr, 'pss_scheduler'))}")
            if way.startswith("shmarray.dask"):
                copies = int(_median(wr, "copies") or 0)
                extra.insert(0, f"create {_t(_median(wr, 'create_s'))}, share {_t(_median(wr, 'share_s'))}, "
                                f"{copies} cop{'y' if copies == 1 else 'ies'} made")
            elif way.startswith("scatter"):
                extra.insert(0, f"scatter {_t(_median(wr, 'scatter_s'))}")
            runs = ", ".join(_t(r["ready_s"]) for r in wr)
            lines.append(f"| {way} | {_t(ready)} | {rel(ready, base['ready_s'])} | {_t(read)} | "
                         f"{rel(read, base['read_s'])} | {_m(pss)} | {rel(pss, base['pss_workers'])} | {_m(grown)} | "
                         f"{rel(grown, base_grown)} | {runs} | {'; '.join(extra)} |")
        lines.append("")
    lines += [
        "## How to run",
        "",
        "```",
        "make bench-dask                  # 1 GiB, 1 repetition (docs/benchmarks-dask.md: BENCH_REPS=3)",
        "make bench-dask BENCH_SCALE=0.25 BENCH_REPS=3",
        "```",
        "",
        "Each way runs in a fresh cluster and a fresh client process, so that no way inherits another's memory; "
        "the repetitions are "
        "interleaved, a different way first each time. The workers import numpy and shmarray.dask before the "
        "baseline PSS is taken.",
        "",
    ]
    return "\n".join(lines)


def run_trial(layout: str, way: str, n_bytes: int) -> dict:
    """One trial in a fresh client process, so that none inherits the memory
    (or the freed pages) of another."""
    out = subprocess.run([sys.executable, __file__, "--trial", layout, way, str(n_bytes)], capture_output=True,
                         text=True, timeout=1200)
    if out.returncode != 0:
        raise RuntimeError(f"trial {layout}/{way} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def meta(started: float, load_start: float) -> dict:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty=(modified)"],
                                capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = "?"
    return {"cpu": cpu, "cores": os.cpu_count(), "mem_gib": os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / GiB,
            "kernel": platform.release(), "python": platform.python_version(), "numpy": np.__version__,
            "distributed": distributed.__version__, "commit": commit,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
            "runtime_s": time.time() - started, "load_start": load_start}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=float(os.environ.get("BENCH_SCALE") or 1.0),
                    help="data size × scale (1: 1 GiB)")
    ap.add_argument("--reps", type=int, default=int(os.environ.get("BENCH_REPS") or 1))
    ap.add_argument("--layouts", default=",".join(LAYOUTS))
    ap.add_argument("--out", default=str(ROOT / "docs"))
    ap.add_argument("--trial", nargs=3, metavar=("LAYOUT", "WAY", "BYTES"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.trial:  # one trial, in this fresh process: print its result
        print(json.dumps(trial(args.trial[0], args.trial[1], int(args.trial[2]))))
        return
    started, load_start = time.time(), os.getloadavg()[0]
    n_bytes = max(int(GiB * args.scale) // 8 * 8, 8 * MiB)
    trials = []
    for rep in range(args.reps):
        for layout in args.layouts.split(","):
            ways = LAYOUT_WAYS[layout]
            ways = ways[rep % len(ways):] + ways[:rep % len(ways)]
            for way in ways:
                print(f"[{rep + 1}/{args.reps}] {layout}: {way} ...", file=sys.stderr, flush=True)
                r = run_trial(layout, way, n_bytes)
                print(f"    ready {_t(r['ready_s'])}, read {_t(r['read_s'])}, workers' PSS {_m(r['pss_workers'])}",
                      file=sys.stderr, flush=True)
                trials.append(r)
    res = {"bytes": n_bytes, "reps": args.reps, "trials": trials, "meta": meta(started, load_start)}
    out = Path(args.out)
    out.mkdir(exist_ok=True)
    (out / "benchmarks-dask.json").write_text(json.dumps(res, indent=1) + "\n")
    text = markdown(res)
    (out / "benchmarks-dask.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
