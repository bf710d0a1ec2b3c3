"""Fork safety and sharing: the read path works in workers started by fork,
forkserver and spawn after the parent used the Go-backed writer; a Go-backed
call in a forked child fails at once with ForkedError; nothing native is
loaded by import; a worker reading a 256 MiB column adds almost no private
memory. Every multiprocessing wait has a timeout, so a hang fails the test."""

import multiprocessing as mp
import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import shmarray
import pools

TIMEOUT = 120


def _sum_worker(seg):
    # seg arrives pickled (by name) and re-attaches here.
    return float(seg["x"].sum()), seg["s"][1], os.getpid()


def _create_in_child(name, dir):
    try:
        shmarray.create(name, {"x": np.zeros(1)}, dir=dir)
    except shmarray.ShmarrayError as e:
        return type(e).__name__, str(e)
    return "no error", ""


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("fork"))
    seg = shmarray.create("forksafe", {"x": np.arange(1000, dtype=np.float64), "s": ["a", "bb", None] * 10},
                          dir=d)
    assert shmarray._lib.loaded(), "the parent has loaded the Go runtime"
    yield seg
    seg.close()


@pytest.mark.parametrize("method", ["fork", "forkserver", "spawn"])
def test_workers_attach_by_name(shared, method):
    ctx = mp.get_context(method)
    if method == "forkserver":
        ctx.set_forkserver_preload(["shmarray"])
    with pools.pool(ctx, 2) as pool:
        out = pool.map_async(_sum_worker, [shared] * 4).get(timeout=TIMEOUT)
    assert {o[0] for o in out} == {float(np.arange(1000).sum())}
    assert {o[1] for o in out} == {"bb"}
    assert os.getpid() not in {o[2] for o in out}


def test_segment_pickles_to_its_name(shared):
    blob = pickle.dumps(shared)
    assert len(blob) < 200, len(blob)
    again = pickle.loads(blob)
    assert again.path == shared.path and again.columns == shared.columns
    again.close()


def test_go_call_in_forked_child_fails_fast(shared):
    ctx = mp.get_context("fork")
    with pools.pool(ctx, 1) as pool:
        kind, msg = pool.apply_async(_create_in_child, ("from-child", os.path.dirname(shared.path))).get(
            timeout=TIMEOUT)
    assert kind == "ForkedError"
    assert "fork" in msg and "spawn" in msg, "the message names the fix"


def test_import_loads_no_go():
    code = textwrap.dedent("""
        import shmarray, sys
        maps = open("/proc/self/maps").read()
        assert "libshmarray" not in maps, "import loaded libshmarray"
        assert not shmarray._lib.loaded()
        print("ok")
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=TIMEOUT)
    assert out.stdout.strip() == "ok", out.stderr


def _memory_kib():
    fields = {}
    for line in open("/proc/self/smaps_rollup"):
        parts = line.split()
        if len(parts) >= 2 and parts[0].endswith(":"):
            fields[parts[0][:-1]] = int(parts[1])
    return fields


def _uss_worker(name, dir):
    before = _memory_kib()
    seg = shmarray.attach(name, dir=dir)
    total = float(seg["x"].sum())
    after = _memory_kib()
    seg.close()
    uss = lambda f: f["Private_Clean"] + f["Private_Dirty"]  # noqa: E731
    return total, (uss(after) - uss(before)) * 1024, (after["Anonymous"] - before["Anonymous"]) * 1024


def test_worker_adds_little_private_memory(tmp_path):
    d = "/dev/shm" if os.path.isdir("/dev/shm") else str(tmp_path)
    name = f"uss-{os.getpid()}"
    n = (256 << 20) // 8
    seg = shmarray.create(name, {"x": np.ones(n)}, dir=d)
    try:
        # The parent reads the column too, as a second worker would: a page
        # mapped by one process only counts as private to it even when it is
        # a shared file page, so USS means something only with two readers.
        assert float(seg["x"].sum()) == n
        with pools.pool(mp.get_context("spawn"), 1) as pool:
            total, uss, anon = pool.apply_async(_uss_worker, (name, d)).get(timeout=TIMEOUT)
        assert total == n
        print(f"worker summing a 256 MiB column added {uss / 2**20:.2f} MiB USS, {anon / 2**20:.2f} MiB anonymous")
        assert uss < 8 << 20
        assert anon < 8 << 20, "no private copy of the data"
    finally:
        seg.close()
        shmarray.unlink(name, dir=d)


def test_the_fork_warning_comes_only_after_create(tmp_path):
    """Python 3.12+ warns at os.fork() in a multi-threaded process. Reading
    starts no thread, so a reader never sees the warning; create (and
    Builder) load libshmarray.so, whose Go runtime starts threads: from then
    on every fork of that process warns on 3.12+ (README, "Workers and
    fork"). Earlier Pythons never warn."""
    shmarray.create("warn", {"x": np.arange(3)}, dir=str(tmp_path)).close()
    code = textwrap.dedent(f"""
        import os, sys, warnings
        import numpy as np, shmarray

        def fork_warns():
            with warnings.catch_warnings(record=True) as w:
                warnings.simplefilter("always")
                pid = os.fork()
                if pid == 0:
                    os._exit(0)
                os.waitpid(pid, 0)
            return any("multi-threaded" in str(x.message) for x in w)

        seg = shmarray.attach("warn", dir={str(tmp_path)!r})
        seg["x"].sum(); seg.validate(); shmarray.list_segments({str(tmp_path)!r})
        before = fork_warns()
        shmarray.create("warn2", {{"x": np.arange(3)}}, dir={str(tmp_path)!r}).close()
        after = fork_warns()
        print(before, after)
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=TIMEOUT)
    assert out.returncode == 0, out.stderr
    before, after = out.stdout.split()
    assert before == "False", "reading alone made fork() warn"
    assert after == str(sys.version_info >= (3, 12)), f"after create, on Python {sys.version_info[:2]}"
