"""Segment lifecycle and ``shmarray.gc``: a segment created with
``unlink_on_exit`` dies with its creator when the creator can act (see
test_create.py for normal exit, exception and SIGTERM); when it cannot
(SIGKILL) the segment is an orphan, ``list_segments`` marks it, and ``gc``
removes it and nothing else. Attaching and closing never unlink."""

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import shmarray


gc = shmarray.gc


def _creator(shm_dir, name, unlink_on_exit):
    """A process that creates `name` and waits to be killed."""
    script = textwrap.dedent(f"""
        import sys
        import numpy as np, shmarray
        shmarray.create({name!r}, {{"x": np.arange(10)}}, dir={shm_dir!r}, unlink_on_exit={unlink_on_exit!r})
        print("created", flush=True)
        sys.stdin.readline()
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            env=env, text=True)
    assert proc.stdout.readline().strip() == "created"
    return proc


def _killed_creator(shm_dir, name, unlink_on_exit=True):
    """Create `name` in a process killed with SIGKILL (no chance to clean up); its pid."""
    proc = _creator(shm_dir, name, unlink_on_exit)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    return proc.pid


def _names(shm_dir):
    return sorted(os.listdir(shm_dir))


def test_sigkilled_creator_leaves_an_orphan_that_gc_removes(shm_dir):
    pid = _killed_creator(shm_dir, "orphan")
    _killed_creator(shm_dir, "persistent", unlink_on_exit=False)
    live = _creator(shm_dir, "live", True)
    try:
        shmarray.create("mine", {"x": np.arange(3)}, dir=shm_dir, unlink_on_exit=True).close()
        infos = {i.name: i for i in shmarray.list_segments(shm_dir)}
        assert infos["orphan"].orphan and infos["orphan"].creator_pid == pid
        assert not infos["orphan"].creator_alive
        assert not infos["persistent"].orphan, "a segment without unlink_on_exit is never an orphan"
        assert not infos["live"].orphan and infos["live"].creator_alive
        assert not infos["mine"].orphan

        for _ in range(3):  # attaching and closing never unlink
            with shmarray.attach("orphan", dir=shm_dir) as seg:
                assert seg["x"].tolist() == list(range(10))
        assert "orphan" in _names(shm_dir)

        would = gc(shm_dir, dry_run=True)
        assert [i.name for i in would] == ["orphan"]
        assert "orphan" in _names(shm_dir), "a dry run removes nothing"
        gone = gc(shm_dir)
        assert [i.name for i in gone] == ["orphan"] and gone[0].creator_pid == pid
        assert _names(shm_dir) == ["live", "mine", "persistent"]
        assert gc(shm_dir) == []
    finally:
        live.communicate("go\n", timeout=60)
    assert "live" not in _names(shm_dir), "unlink_on_exit ran when the live creator exited"


def test_gc_removes_temporary_files_of_dead_writers_only(shm_dir):
    """Only proven leftovers go: a regular file with one link, yours, holding
    zeros, the magic or nothing at its start, whose writer pid is gone.
    Anything else under such a name stays, and is no error."""
    dead = _killed_creator(shm_dir, "victim", unlink_on_exit=False)
    stale = lambda suffix: f".shmarray-tmp-{dead}-{suffix}"  # noqa: E731
    gone_names = {stale("00"): bytes(4096), stale("01"): b"SHMARRAY" + bytes(120), stale("02"): b""}
    huge = f".shmarray-tmp-{2**32 - 1}-00"  # beyond pid_t: no process (kill would read -1, every one)
    gone_names[huge] = bytes(4096)
    gone_names[stale("\udcff")] = bytes(64)  # a name that is not UTF-8 (byte 0xff), as os.listdir gives it
    keep = {stale("aa"): b"text that a writer never leaves", f".shmarray-tmp-{os.getpid()}-4567ef01": b"",
            "notes": b"x", ".shmarray-tmp-junk": b"", ".shmarray-tmp-0-00": b""}
    for name, content in {**gone_names, **keep}.items():
        with open(os.path.join(shm_dir, name), "wb") as f:
            f.write(content)
    os.symlink(os.path.join(shm_dir, "notes"), os.path.join(shm_dir, stale("link")))
    os.link(os.path.join(shm_dir, "notes"), os.path.join(shm_dir, stale("hard")))
    os.mkfifo(os.path.join(shm_dir, stale("fifo")))
    assert [i.name for i in shmarray.list_segments(shm_dir)] == ["victim"], "hidden files are never listed"
    assert sorted(i.name for i in gc(shm_dir, dry_run=True)) == sorted(gone_names)
    gone = gc(shm_dir)
    assert [i.name for i in gone] == sorted(gone_names)
    for g in gone:
        assert isinstance(g.error, shmarray.NotSealedError) and g.creator_pid == (2**32 - 1 if g.name == huge else dead)
        assert g.path == os.path.join(shm_dir, g.name)
    assert set(_names(shm_dir)) == {*keep, "victim", stale("link"), stale("hard"), stale("fifo")}


def _gc_in_child(shm_dir, q):
    q.put([i.name for i in gc(shm_dir, dry_run=True)])


def test_gc_in_a_forked_worker(shm_dir):
    """gc is pure Python: it works in a child forked after this process
    loaded libshmarray's Go runtime (create above did)."""
    _killed_creator(shm_dir, "orphan")
    shmarray.create("loaded-go", {"x": np.arange(3)}, dir=shm_dir).close()
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_gc_in_child, args=(shm_dir, q))
    p.start()
    p.join(60)
    assert p.exitcode == 0
    assert q.get(timeout=10) == ["orphan"]


def test_gc_missing_directory(tmp_path):
    with pytest.raises(shmarray.NotFoundError):
        gc(tmp_path / "missing")


def test_a_creator_that_cannot_be_judged_is_never_an_orphan(shm_dir):
    """Creator pid 0, or a start time before this pid namespace's pid 1
    started (a creator of another namespace): creator_unknown, never an
    orphan, never removed (spec §10.5). Listing and gc read the header's
    fields without its checksum, so patching them is enough."""
    _killed_creator(shm_dir, "orphan")
    raw = bytearray(open(os.path.join(shm_dir, "orphan"), "rb").read())
    no_pid = bytearray(raw)
    no_pid[104:108] = bytes(4)
    old = bytearray(raw)
    old[112:120] = (1).to_bytes(8, "little")
    for name, b in (("pid0", no_pid), ("before-init", old)):
        with open(os.path.join(shm_dir, name), "wb") as f:
            f.write(b)
    with open("/proc/1/stat") as f:
        init_start = int(f.read().rsplit(")", 1)[1].split()[19])
    infos = {i.name: i for i in shmarray.list_segments(shm_dir)}
    assert infos["orphan"].orphan and not infos["orphan"].creator_unknown
    unknown = ["pid0"] + (["before-init"] if init_start > 1 else [])
    for name in unknown:
        assert infos[name].creator_unknown and not infos[name].creator_alive and not infos[name].orphan, name
    assert [i.name for i in gc(shm_dir)] == ["orphan"]
    assert set(unknown) <= set(_names(shm_dir))
