"""Dask clusters on this one machine for the shmarray.dask tests and
benchmark: a `dask scheduler` process and groups of `dask worker` processes,
each group a "host" on its own loopback address with its own SHMARRAY_DIR,
plus the functions their tasks run (importable by workers: this directory
is on their PYTHONPATH).

Every process started here runs in a session of its own and is ended by its
process group id; every wait has a deadline.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON_DIR = os.path.dirname(HERE)  # bindings/python
DASK = os.path.join(os.path.dirname(sys.executable), "dask")


def _env(shm_dir: str) -> dict:
    env = dict(os.environ, SHMARRAY_DIR=shm_dir, PYTHONPATH=os.pathsep.join([PYTHON_DIR, HERE]),
               PYTHONUNBUFFERED="1")
    env.pop("SHMARRAY_LIB", None)
    return env


class _Processes:
    """A process started in a session of its own, with its output in a log."""

    def __init__(self, args: list[str], env: dict, log: str):
        self.log = log
        self._out = open(log, "wb")
        self.proc = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, stdout=self._out,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM to the whole group, SIGKILL after ``timeout``."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the nannies' children too
        except ProcessLookupError:
            pass
        self.proc.wait(5)
        self._out.close()

    def tail(self, n: int = 40) -> str:
        with open(self.log, "rb") as f:
            return b"\n".join(f.read().splitlines()[-n:]).decode("utf-8", "replace")


class Scheduler(_Processes):
    def __init__(self, workdir: str):
        self.file = os.path.join(workdir, "scheduler.json")
        super().__init__([DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                          "--scheduler-file", self.file, "--idle-timeout", "600"],
                         _env("/nonexistent"), os.path.join(workdir, "scheduler.log"))
        deadline = time.monotonic() + 60
        while not os.path.exists(self.file):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("dask scheduler did not start:\n" + self.tail())
            time.sleep(0.1)
        with open(self.file) as f:
            self.address = json.load(f)["address"]


class Host(_Processes):
    """``n`` worker processes (with nannies) on loopback address ``ip``,
    sharing the segment directory ``shm_dir``: one "host"."""

    def __init__(self, scheduler: Scheduler, ip: str, n: int, shm_dir: str, workdir: str):
        self.ip, self.n, self.dir = ip, n, shm_dir
        os.makedirs(shm_dir, exist_ok=True)
        local = os.path.join(workdir, f"dask-{ip}")
        super().__init__([DASK, "worker", "--scheduler-file", scheduler.file, "--host", ip, "--nworkers", str(n),
                          "--nthreads", "1", "--no-dashboard", "--memory-limit", "0", "--death-timeout", "60",
                          "--local-directory", local], _env(shm_dir), os.path.join(workdir, f"workers-{ip}.log"))

    def addresses(self, client) -> list[str]:
        return sorted(a for a in client.scheduler_info()["workers"] if a.startswith(f"tcp://{self.ip}:"))


def wait_for(predicate, timeout: float, what: str, poll: float = 0.1):
    """Poll ``predicate`` until it returns something true; AssertionError
    naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        got = predicate()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(poll)


def segment_files(d: str) -> list[str]:
    """Every name in directory ``d``, hidden ones included."""
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def receiving_fds(pid: int, d: str) -> list[str]:
    """The unnamed files (O_TMPFILE) process ``pid`` has open in ``d``: a copy
    being received."""
    out = []
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return out
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith(os.path.join(d, "#")) or target.startswith(os.path.join(d, ".shmarray-tmp-")):
            out.append(target)
    return out


def pss_bytes(pid: int) -> int:
    """Proportional set size of process ``pid`` (/proc/PID/smaps_rollup)."""
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no Pss line for pid {pid}")


# -- task functions (run inside workers) -------------------------------------

_held: list = []  # views kept alive so that the pages stay mapped while PSS is measured


def read_all(shared, hold: bool = False):
    """Sum every numeric array of the host's copy (touches every page) and
    count the non-null strings; returns the worker's pid, the sums and the
    file's path."""
    seg = shared.segment(timeout=60)
    sums = {}
    for name in seg.columns:
        col = seg[name]
        sums[name] = float(col.sum()) if hasattr(col, "sum") else sum(v is not None for v in col.to_pylist())
    if hold:
        _held.append({name: seg[name] for name in seg.columns})
    return os.getpid(), sums, seg.path


def drop_held() -> None:
    _held.clear()


def warm_up() -> int:
    """Import what read_all imports, so that the baseline PSS includes it."""
    import numpy  # noqa: F401
    import shmarray.dask  # noqa: F401
    return os.getpid()
