"""A published file truncated behind the reader's back (spec §15).

Attaching it afterwards is a clean TruncatedError. A process that mapped it
before and then touches a lost page through a NumPy view or full validation
gets SIGBUS and dies: Python cannot turn that into an exception. These tests
pin down that documented behaviour (the mitigation is to attach only
segments whose owner is trusted)."""

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import shmarray


def test_attach_after_truncation(shm_dir, seg_name):
    shmarray.create(seg_name, {"x": np.arange(100_000)}, dir=shm_dir).close()
    path = os.path.join(shm_dir, seg_name)
    os.truncate(path, os.path.getsize(path) - 1)
    with pytest.raises(shmarray.TruncatedError):
        shmarray.attach(seg_name, dir=shm_dir)
    [info] = shmarray.list_segments(shm_dir)
    assert isinstance(info.error, shmarray.TruncatedError)


@pytest.mark.parametrize("read", ["view", "validate"])
def test_reading_a_page_lost_to_truncation_is_sigbus(shm_dir, seg_name, read):
    shmarray.create(seg_name, {"x": np.arange(1 << 20)}, dir=shm_dir).close()  # 8 MiB
    script = textwrap.dedent(f"""
        import sys, shmarray
        seg = shmarray.attach({seg_name!r}, dir={shm_dir!r})
        x = seg["x"]
        print("attached", flush=True)
        sys.stdin.readline()  # the parent truncates the file meanwhile
        if {read!r} == "view":
            x.sum()
        else:
            seg.validate()
        print("survived", flush=True)
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, text=True)
    assert proc.stdout.readline().strip() == "attached"
    os.truncate(os.path.join(shm_dir, seg_name), 4096)
    out, _ = proc.communicate("go\n", timeout=60)
    assert proc.returncode == -signal.SIGBUS, (proc.returncode, out)
    assert "survived" not in out
