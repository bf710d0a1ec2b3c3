"""Permissions and names on every path of the Python binding: create (Go
writer), attach, unlink, list and gc (pure Python). Spec §2.1, §10.2, §15.

Segments are created 0600 by default, group access is opt-in (0640, 0660),
nothing is ever world-accessible; names with '/', '..', NUL, a leading '.',
or over 200 bytes are INVALID_ARGUMENT before anything touches the disk;
symbolic links are never followed, on create as on attach.
"""

import os
import stat

import numpy as np
import pytest

import shmarray

BAD_NAMES = ["a/b", "../escape", "..", ".", "", "a\x00b", "n" * 201, ".hidden", "a..b", "ü", "a b",
             "/etc/passwd", "x/"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_names_are_refused_everywhere(shm_dir, name):
    with pytest.raises(shmarray.InvalidArgumentError):
        shmarray.create(name, {"x": np.arange(3)}, dir=shm_dir)
    with pytest.raises(shmarray.InvalidArgumentError):
        shmarray.attach(name, dir=shm_dir)
    with pytest.raises(shmarray.InvalidArgumentError):
        shmarray.unlink(name, dir=shm_dir)
    assert os.listdir(shm_dir) == [], "nothing was created"
    assert not os.path.exists(os.path.join(os.path.dirname(shm_dir), "escape"))


def test_longest_name_works(shm_dir):
    name = "n" * 200
    shmarray.create(name, {"x": np.arange(3)}, dir=shm_dir).close()
    with shmarray.attach(name, dir=shm_dir) as seg:
        assert seg["x"].tolist() == [0, 1, 2]
    shmarray.unlink(name, dir=shm_dir)


@pytest.mark.parametrize("mode,ok", [(0o600, True), (0o640, True), (0o660, True), (0o644, False),
                                     (0o666, False), (0o604, False), (0o602, False), (0o700, False),
                                     (0o400, False), (0o4600, False)])
def test_modes(shm_dir, seg_name, mode, ok):
    old = os.umask(0o077)  # the mode is set exactly, whatever the umask
    try:
        if not ok:
            with pytest.raises(shmarray.InvalidArgumentError, match="mode"):
                shmarray.create(seg_name, {"x": np.arange(3)}, dir=shm_dir, mode=mode)
            assert os.listdir(shm_dir) == []
            return
        shmarray.create(seg_name, {"x": np.arange(3)}, dir=shm_dir, mode=mode).close()
    finally:
        os.umask(old)
    st = os.stat(os.path.join(shm_dir, seg_name))
    assert stat.S_IMODE(st.st_mode) == mode
    assert not st.st_mode & (stat.S_IROTH | stat.S_IWOTH | stat.S_IXOTH), "never world-accessible"


def test_default_mode_is_0600(shm_dir, seg_name):
    old = os.umask(0)
    try:
        shmarray.create(seg_name, {"x": np.arange(3)}, dir=shm_dir).close()
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(os.path.join(shm_dir, seg_name)).st_mode) == 0o600


def test_symlinks_are_not_followed(shm_dir, seg_name, tmp_path):
    target = tmp_path / "target"
    os.symlink(target, os.path.join(shm_dir, seg_name))  # dangling: create must not make target
    with pytest.raises(shmarray.ExistsError):
        shmarray.create(seg_name, {"x": np.arange(3)}, dir=shm_dir)
    assert not target.exists(), "create did not follow the link"
    with pytest.raises(shmarray.NotASegmentError, match="symbolic link|not a regular file"):
        shmarray.attach(seg_name, dir=shm_dir)
    target.write_bytes(b"precious")
    with pytest.raises(shmarray.NotASegmentError):
        shmarray.unlink(seg_name, dir=shm_dir)
    assert target.read_bytes() == b"precious" and os.path.islink(os.path.join(shm_dir, seg_name))
    assert [i.name for i in shmarray.list_segments(shm_dir)] == []


def test_symlinked_directory_component_is_fine(shm_dir, seg_name, tmp_path):
    """O_NOFOLLOW concerns the segment's own name; a directory given through a
    link is the caller's choice."""
    link = tmp_path / "dirlink"
    os.symlink(shm_dir, link)
    shmarray.create(seg_name, {"x": np.arange(3)}, dir=link).close()
    with shmarray.attach(seg_name, dir=link) as seg:
        assert seg["x"].tolist() == [0, 1, 2]
