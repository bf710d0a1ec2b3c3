"""Leaks under load, Python reader: 32 processes × 1,000 attach / read every
column / close cycles of one segment. Each process reports its open
descriptors and its mappings of the segment (from /proc/self) after a
warm-up cycle and after the 1,000: they match, and no mapping is left;
while all of them still run, the segment's file system uses the space it
used before they started (a private tmpfs when the test runs as root)."""

import os
import shutil
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import shmarray

PROCS, CYCLES = 32, 1000

WORKER = textwrap.dedent("""
    import gc, os, sys
    import numpy as np, shmarray
    name, d, cycles = sys.argv[1], sys.argv[2], int(sys.argv[3])
    path = os.path.join(d, name)

    def counts():
        fds = 0
        for fd in os.listdir("/proc/self/fd"):
            try:
                os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                continue  # the descriptor listdir itself held, closed since
            fds += 1
        with open("/proc/self/maps") as f:
            maps = sum(1 for line in f
                       if line.rstrip("\\n").endswith((" " + path, " " + path + " (deleted)")))
        return fds, maps

    def cycle():
        with shmarray.attach(name, dir=d) as seg:
            for col in seg.columns:
                v = seg[col]
                if isinstance(v, shmarray.StringColumn):
                    v.to_pylist()
                else:
                    np.asarray(v).sum()

    cycle()
    gc.collect()
    f0, m0 = counts()
    for _ in range(cycles):
        cycle()
    gc.collect()
    f1, m1 = counts()
    print(f0, f1, m0, m1, flush=True)
    sys.stdin.read()  # stay alive until the parent has measured the directory
""")


@pytest.fixture
def seg_dir(tmp_path):
    """A private tmpfs as root (nothing else writes there), else tmp_path."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        yield str(tmp_path)
        return
    d = tmp_path / "tmpfs"
    d.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m,mode=0700", "tmpfs", str(d)], check=True)
    try:
        yield str(d)
    finally:
        subprocess.run(["umount", "-l", str(d)], check=False)


def _used(d):
    st = os.statvfs(d)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


def test_no_leaks_under_load(seg_dir, seg_name):
    n = 100
    shmarray.create(seg_name, {
        "i": np.arange(n),
        "f": np.ma.MaskedArray(np.arange(n, dtype=np.float64), mask=np.arange(n) % 7 == 0),
        "t": np.arange(3 * n, dtype=np.float32).reshape(n, 3),
        "s": [f"v{i}" if i % 5 else None for i in range(n)],
        "b": np.arange(n) % 2 == 0,
    }, dir=seg_dir).close()
    before = _used(seg_dir)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    start = time.monotonic()
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, seg_name, seg_dir, str(CYCLES)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True)
             for _ in range(PROCS)]
    try:
        for i, p in enumerate(procs):
            line = p.stdout.readline()
            f0, f1, m0, m1 = map(int, line.split())
            assert f0 == f1, f"process {i}: {f0} descriptors before, {f1} after {CYCLES} cycles"
            assert m0 == 0 and m1 == 0, f"process {i}: mappings of the segment left: {m0}, {m1}"
        elapsed = time.monotonic() - start
        if seg_dir.endswith("tmpfs"):
            assert _used(seg_dir) == before, "space used while the readers run"
    finally:
        for p in procs:
            p.communicate("", timeout=60)
    assert all(p.returncode == 0 for p in procs)
    assert os.listdir(seg_dir) == [seg_name], "attaching and closing never unlink"
    print(f"\n{PROCS} processes × {CYCLES} attach/read/close cycles in {elapsed:.1f}s: "
          "descriptors, mappings and space back to baseline")
