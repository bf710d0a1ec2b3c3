"""A segment larger than the free space of its directory: NoSpaceError
naming the sizes and the fix, nothing left behind, the space given back
(spec §10.2 step 2). Uses a small tmpfs mounted for the test (needs root)."""

import os
import shutil
import subprocess

import numpy as np
import pytest

import shmarray


@pytest.fixture
def small_tmpfs(tmp_path):
    """An 8 MiB tmpfs, private to the test."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    d = tmp_path / "small"
    d.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", str(d)], check=True)
    try:
        yield str(d)
    finally:
        subprocess.run(["umount", "-l", str(d)], check=False)


def _used(d):
    st = os.statvfs(d)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


def test_no_space(small_tmpfs, seg_name):
    before = _used(small_tmpfs)
    big = np.zeros(16 << 20, dtype=np.uint8)  # 16 MiB into 8
    with pytest.raises(shmarray.NoSpaceError) as e:
        shmarray.create(seg_name, {"small": np.arange(1000), "big": big}, dir=small_tmpfs)
    msg = str(e.value)
    assert seg_name in msg and small_tmpfs in msg
    assert "free, needs" in msg and "MiB" in msg, msg  # the sizes, in words
    assert "SHMARRAY_DIR" in msg, "the message names the fix"
    assert os.listdir(small_tmpfs) == [], "no partial file"
    assert _used(small_tmpfs) == before, "the space is given back"
    # What fits still works afterwards.
    shmarray.create(seg_name, {"x": np.zeros(1 << 20, dtype=np.uint8)}, dir=small_tmpfs).close()
    assert os.listdir(small_tmpfs) == [seg_name]
    shmarray.unlink(seg_name, dir=small_tmpfs)
    assert _used(small_tmpfs) == before
