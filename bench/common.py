"""Helpers shared by the benchmark modules: memory measurement, statistics,
sizes, the configuration every workload reads, and running one trial in a
fresh interpreter.

Kept light on purpose: spawned workers import the module that defines their
target, and whatever that imports counts in their memory. Only the standard
library and NumPy are imported here.
"""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
BUILD = ROOT / "build"
KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30


# ---------------------------------------------------------------------------
# Configuration


@dataclasses.dataclass
class Config:
    """What a run measures, from bench/run.py's options and the environment.

    ``scale`` multiplies every data size (1 = the sizes of the issue: 1 GiB of
    float64, 16M ints, segments up to 4 GiB). ``reps`` is the number of
    interleaved repetitions whose median is reported. ``numeric_budget``
    bounds the numeric workload: its first repetition always runs whole; a
    later trial that would end past the budget (judged by the same trial's
    last duration) is skipped and reported as such — pickling 1 GiB to 8
    workers is what usually goes first.
    """
    scale: float = 1.0
    reps: int = 3
    workers: tuple = (1, 2, 4, 8)
    start_method: str = "spawn"
    dir: str = "/dev/shm"
    python: str = sys.executable
    numeric_budget: float = 300.0  # seconds: repetitions after the first stop here
    huge_dir: str = ""  # optional: a tmpfs mounted with huge=, for shmarray_huge

    def bytes(self, base: int, align: int = 8, minimum: int = 1 * MiB) -> int:
        """base × scale, rounded down to align, at least minimum."""
        n = max(int(base * self.scale), minimum)
        return n - n % align

    def count(self, base: int, minimum: int = 1000) -> int:
        return max(int(base * self.scale), minimum)

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "Config":
        d = dict(d)
        d["workers"] = tuple(d["workers"])
        return cls(**d)


def lib_path() -> Path:
    """The libshmarray.so this run uses: $SHMARRAY_LIB (bench/run.py points it
    at a private copy, see there), else build/libshmarray.so."""
    return Path(os.environ.get("SHMARRAY_LIB") or BUILD / "libshmarray.so")


# ---------------------------------------------------------------------------
# Memory


def pss(pid: int) -> int:
    """Proportional set size of a process in bytes: every page it maps and
    has touched, shared pages divided among the processes that map them.
    Summed over processes it counts each physical page once."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * KiB
    return 0


def free_bytes(path: str) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def available_memory() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * KiB
    return 0


# ---------------------------------------------------------------------------
# Statistics and formatting


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def size_text(n: float) -> str:
    """1 MiB, 4 GiB, 366 MiB, 512 KiB: binary units, no decimals when exact."""
    for unit, name in ((GiB, "GiB"), (MiB, "MiB"), (KiB, "KiB")):
        if n >= unit:
            v = n / unit
            return f"{v:.0f} {name}" if abs(v - round(v)) < 0.05 or v >= 100 else f"{v:.1f} {name}"
    return f"{n:.0f} B"


def time_text(s: float | None) -> str:
    """Seconds in the unit that reads best: 12.3 s, 450 ms, 21.3 µs, 850 ns."""
    if s is None:
        return "–"
    if s >= 10:
        return f"{s:.1f} s"
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3g} ms"
    if s >= 1e-6:
        return f"{s * 1e6:.3g} µs"
    return f"{s * 1e9:.3g} ns"


def ratio_text(r: float | None) -> str:
    if r is None:
        return "–"
    if r >= 100:
        return f"{r:,.0f}×"
    if r >= 10:
        return f"{r:.1f}×"
    return f"{r:.2f}×"


def rotate(items: list, k: int) -> list:
    """items rotated by k: each repetition starts with a different competitor,
    so none always runs first (cold caches) or last (after the others)."""
    if not items:
        return items
    k %= len(items)
    return items[k:] + items[:k]


class Timer:
    def __enter__(self):
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0


# ---------------------------------------------------------------------------
# Trials in fresh interpreters


def run_trial(cfg: Config, module: str, args: dict, timeout: float = 600) -> dict:
    """Run ``python bench/<module>.py --trial JSON`` and return the JSON object
    it prints last. Each trial gets a fresh parent process, so that memory
    freed by an earlier trial, a Go runtime loaded by ``shmarray.create`` or
    fork-unsafe state never leaks into the next one."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "bindings" / "python"), str(BENCH)] +
                                        [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    payload = json.dumps({"config": cfg.to_json(), **args})
    proc = subprocess.run([cfg.python, str(BENCH / f"{module}.py"), "--trial", payload],
                          capture_output=True, text=True, env=env, timeout=timeout)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"bench/{module}.py trial {args} failed (exit {proc.returncode}):\n"
                           f"{proc.stderr[-3000:]}")
    return json.loads(lines[-1])


def trial_main(run) -> None:
    """Entry point of a trial script: ``--trial JSON`` → print run(config, args) as JSON."""
    if len(sys.argv) != 3 or sys.argv[1] != "--trial":
        raise SystemExit(f"usage: {sys.argv[0]} --trial JSON (run by bench/run.py)")
    args = json.loads(sys.argv[2])
    cfg = Config.from_json(args.pop("config"))
    out = run(cfg, args)
    print(json.dumps(out), flush=True)


class Mailbox:
    """Messages (tuples whose first item is their kind) from worker
    processes, by kind: one worker may report "scanned" before another has
    reported "hold". A worker that dies makes wait() fail at once."""

    def __init__(self, results, procs):
        self.results, self.procs, self.by_kind = results, procs, {}

    def wait(self, kind: str, n: int, timeout: float = 900) -> list:
        deadline = time.monotonic() + timeout
        while len(self.by_kind.get(kind, [])) < n:
            try:
                msg = self.results.get(timeout=0.5)
            except queue.Empty:
                dead = [p.exitcode for p in self.procs if p.exitcode not in (None, 0)]
                if dead or time.monotonic() > deadline:
                    for p in self.procs:
                        p.kill()
                    raise RuntimeError(f"a worker failed waiting for {kind!r} (exit codes {dead})")
                continue
            self.by_kind.setdefault(msg[0], []).append(msg)
        return self.by_kind[kind]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
