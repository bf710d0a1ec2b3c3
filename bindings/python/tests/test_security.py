"""Security of the Python binding (issue 19; spec §2.2, §10.5, §11.1, §15).

Everything here is done by the C core through shmarray._native; these tests
hold the Python entry points to it:

- the directory-swap race: while ``unlink`` and ``gc`` run, a process swaps
  the segment directory for a symbolic link to another directory holding a
  file of the same name and bytes (renameat2 RENAME_EXCHANGE in a loop, as
  internal/sectest's rig); the file outside is never removed;
- a directory given as a symbolic link: ``unlink`` and ``gc`` refuse it,
  ``attach`` and ``list_segments`` follow it;
- the opt-in owner check, ``Segment.owner_uid`` and ``Segment.mode``, and
  pickles that carry an absolute directory and the owner check;
- truncation during attach: a process truncates and rewrites a segment in a
  loop while another attaches it in a loop; every attach is OK or an
  InvalidSegmentError, never a SIGBUS;
- as root: gc reports each file it cannot remove (bind mounts) and goes on;
  and two unprivileged users (uids from 61000 without accounts): the swap
  made by another user, gc in a shared sticky directory, and the owner
  check across users. Skipped, with the reason, when not root.
"""

from __future__ import annotations

import ast
import ctypes
import grp
import os
import pickle
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap

import numpy as np
import pytest

import shmarray

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="making a file gc cannot remove (a bind mount) needs root; "
                                "run the tests as root to include it")

ENV = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))

SWAPPER = textwrap.dedent(r"""
    import ctypes, os, sys, threading
    libc = ctypes.CDLL(None, use_errno=True)
    a, b = (os.fsencode(p) for p in sys.argv[1:3])
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    print("swapping", flush=True)
    n = 0
    while not stop.is_set():
        if libc.renameat2(-100, a, -100, b, 2) == 0:  # AT_FDCWD, RENAME_EXCHANGE
            n += 1
    print(n, flush=True)
""")


def _as(uid):
    """Popen arguments that run a process as uid (its own gid, no groups)."""
    return {"user": uid, "group": uid, "extra_groups": []} if uid else {}


def _spawned_pid() -> int:
    """The pid of a process that has exited."""
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def _orphan_bytes(d: str) -> bytes:
    """The bytes of an ephemeral segment whose creator exited without unlinking."""
    code = textwrap.dedent(f"""
        import os, numpy as np, shmarray
        shmarray.create("model", {{"x": np.arange(3)}}, dir={d!r}, unlink_on_exit=True).close()
        os._exit(0)  # no exit handler: the segment stays, an orphan
    """)
    subprocess.run([sys.executable, "-c", code], env=ENV, check=True)
    path = os.path.join(d, "model")
    raw = open(path, "rb").read()
    os.unlink(path)
    return raw


def _segment_bytes(d: str) -> bytes:
    shmarray.create("model", {"x": np.arange(3)}, dir=d).close()
    path = os.path.join(d, "model")
    raw = open(path, "rb").read()
    os.unlink(path)
    return raw


class SwapRig:
    """base/segs flips between the real segment directory and a link to
    base/outside, which holds `name` with the same bytes as the file the
    tool is meant to remove. The swapping runs in a process of uid (with
    interpreter python) when uid is given."""

    def __init__(self, name: str, content: bytes, uid: int = 0, python: str = sys.executable):
        self.base = tempfile.mkdtemp(prefix="shmarray-sec-")
        os.chmod(self.base, 0o755)
        self.segs, self.outside = os.path.join(self.base, "segs"), os.path.join(self.base, "outside")
        swap = os.path.join(self.base, "swap")
        os.mkdir(self.segs, 0o755)
        os.mkdir(self.outside, 0o700)
        os.symlink(self.outside, swap)
        with open(os.path.join(self.outside, name), "wb") as f:
            f.write(content)
        self.name, self.content = name, content
        self.real = os.open(self.segs, os.O_RDONLY | os.O_DIRECTORY)
        if uid:  # the other user owns the parent and the directory it swaps
            for p in (self.base, self.segs, swap):
                os.lchown(p, uid, uid)
        self.proc = subprocess.Popen([python, "-c", SWAPPER, self.segs, swap], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, cwd="/", **_as(uid))
        assert self.proc.stdout.readline().strip() == "swapping"
        self.swap = swap

    def refill(self) -> bool:
        try:
            os.stat(self.name, dir_fd=self.real, follow_symlinks=False)
            return False
        except FileNotFoundError:
            fd = os.open(self.name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600, dir_fd=self.real)
            os.write(fd, self.content)
            os.close(fd)
            return True

    def canary(self) -> bool:
        try:
            return open(os.path.join(self.outside, self.name), "rb").read() == self.content
        except FileNotFoundError:
            return False

    def race(self, op, rounds: int = 200) -> None:
        """op at least `rounds` times, and on until it removed the real file a
        few times; the file outside must survive every round."""
        self.refill()
        removed = i = 0
        try:
            try:
                while (i < rounds or removed < 3) and i < 20 * rounds:
                    try:
                        op(self.segs)
                    except shmarray.ShmarrayError:
                        pass  # expected while segs is a link
                    removed += self.refill()
                    assert self.canary(), f"round {i}: the file outside the segment directory was removed"
                    i += 1
            finally:
                out, _ = self.proc.communicate("", timeout=60)
                os.close(self.real)
            assert self.canary()
            assert removed > 0, "the tool never removed the file it was meant to: the race was not run"
            swaps = int(out.strip())
            assert swaps > 0, "the directory was never swapped"
            print(f"{i} rounds, {removed} removals from the real directory, {swaps} swaps")
        finally:
            shutil.rmtree(self.base)


def _ops():
    return {"unlink": lambda d: shmarray.unlink("canary", dir=d), "gc": lambda d: shmarray.gc(d)}


def _swap_races(tmp_path, uid=0, python=sys.executable, rounds=200):
    scratch = str(tmp_path)
    ops = _ops()
    SwapRig("canary", _segment_bytes(scratch), uid, python).race(ops["unlink"], rounds)
    SwapRig("canary", _orphan_bytes(scratch), uid, python).race(ops["gc"], rounds)
    SwapRig(f".shmarray-tmp-{_spawned_pid()}-0123abcd", bytes(4096), uid, python).race(ops["gc"], rounds)


def test_directory_swap_race(tmp_path):
    _swap_races(tmp_path)


def test_a_directory_given_as_a_link(tmp_path):
    shm_dir = str(tmp_path / "segs")
    os.mkdir(shm_dir)
    shmarray.create("kept", {"x": np.arange(3)}, dir=shm_dir).close()
    via = str(tmp_path / "via")
    os.symlink(shm_dir, via)
    with pytest.raises(shmarray.InvalidArgumentError, match="pass the directory itself"):
        shmarray.unlink("kept", dir=via)
    with pytest.raises(shmarray.InvalidArgumentError, match="is a symbolic link") as e:
        shmarray.gc(via)
    assert e.value.removed == [] and e.value.errors == [e.value]
    assert [s.name for s in shmarray.list_segments(via)] == ["kept"]
    with shmarray.attach("kept", dir=via) as seg:
        assert seg.dir == via
    assert os.listdir(shm_dir) == ["kept"]


# -- the owner check ------------------------------------------------------------


def test_owner_check(shm_dir, seg_name):
    me = os.geteuid()
    shmarray.create(seg_name, {"x": np.arange(3)}, dir=shm_dir).close()
    with shmarray.attach(seg_name, dir=shm_dir, owner=me) as seg:
        assert (seg.owner_uid, seg.mode) == (me, 0o600)
    assert seg.owner_uid == me, "known after close"
    stranger = me + 12345
    with pytest.raises(shmarray.PermissionDeniedError) as e:
        shmarray.attach(seg_name, dir=shm_dir, owner=[stranger])
    assert (f"is owned by uid {me}, who is not among the trusted owners [{stranger}]; not attached"
            in str(e.value)) and "the owner argument of shmarray.attach()" in str(e.value)
    shmarray.attach(seg_name, dir=shm_dir, owner=(stranger, me)).close()
    shmarray.attach(seg_name, dir=shm_dir, owner=[]).close()  # an empty list checks nothing
    for bad in ("me", -1, 1 << 32, [me, "x"], 1.5):
        with pytest.raises(shmarray.InvalidArgumentError):
            shmarray.attach(seg_name, dir=shm_dir, owner=bad)


def test_pickles_carry_an_absolute_directory_and_the_owner_check(tmp_path, monkeypatch, seg_name):
    (tmp_path / "segs").mkdir()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path)
    shmarray.create(seg_name, {"x": np.arange(3)}, dir="segs").close()
    seg = shmarray.attach(seg_name, dir="./segs/../segs", owner=os.geteuid())
    assert seg.dir == str(tmp_path / "segs") and seg.path == str(tmp_path / "segs" / seg_name)
    raw = pickle.dumps(seg)
    monkeypatch.chdir(tmp_path / "elsewhere")
    again = pickle.loads(raw)
    assert again.dir == seg.dir and again["x"].tolist() == [0, 1, 2]
    assert again.__reduce__()[1] == (seg_name, seg.dir, (os.geteuid(),), seg.id, seg.version)
    if ROOT:  # the owner check survives the pickle (checked at first use: unpickling never attaches)
        os.chown(seg.path, 61999, 61999)
        unpickled = pickle.loads(raw)
        with pytest.raises(shmarray.PermissionDeniedError):
            unpickled.columns
    seg.close()
    again.close()
    assert [i.path for i in shmarray.list_segments("../segs")] == [seg.path], "listed paths are absolute"


# -- truncation during attach ------------------------------------------------------


TRUNCATER = textwrap.dedent(r"""
    import os, sys, threading
    path = sys.argv[1]
    whole = open(path, "rb").read()
    fd = os.open(path, os.O_RDWR)
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    print("truncating", flush=True)
    i = 0
    while not stop.is_set():
        os.ftruncate(fd, (0, 64, 130, len(whole) - 1)[i % 4])
        os.pwrite(fd, whole, 0)
        i += 1
    os.pwrite(fd, whole, 0)
""")

ATTACHER = textwrap.dedent(r"""
    import collections, sys, time, shmarray
    counts = collections.Counter()
    end = time.monotonic() + 0.3
    while time.monotonic() < end:
        try:
            shmarray.attach(sys.argv[1], dir=sys.argv[2]).close()
            counts["OK"] += 1
        except shmarray.InvalidSegmentError as e:
            counts[e.code_name] += 1
        except Exception as e:
            counts["bad"] += 1
            print(repr(e), file=sys.stderr)
    print(dict(counts), flush=True)
""")


def test_truncation_during_attach(shm_dir, seg_name):
    shmarray.create(seg_name, {"x": np.arange(4096), "s": ["word"] * 100}, dir=shm_dir).close()
    owner = subprocess.Popen([sys.executable, "-c", TRUNCATER, os.path.join(shm_dir, seg_name)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout.readline().strip() == "truncating"
        reader = subprocess.run([sys.executable, "-c", ATTACHER, seg_name, shm_dir], env=ENV,
                                capture_output=True, text=True, timeout=120)
    finally:
        owner.communicate("", timeout=60)
    assert reader.returncode == 0, f"the attaching process died (signal {-reader.returncode}): {reader.stderr}"
    counts = ast.literal_eval(reader.stdout)  # a dict printed by the attacher
    print("attaches while the owner truncated:", counts)
    assert counts.get("bad", 0) == 0 and sum(counts.values()) > 0, (counts, reader.stderr)


# -- root only --------------------------------------------------------------------


def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]
    libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
    return libc


@needs_root
def test_gc_reports_every_file_it_cannot_remove(tmp_path):
    d = str(tmp_path)
    for name in ("a-stuck", "b-free", "c-stuck"):
        with open(os.path.join(d, name), "wb") as f:
            f.write(_orphan_bytes(d))
    libc = _libc()
    stuck = [os.fsencode(os.path.join(d, n)) for n in ("a-stuck", "c-stuck")]
    mounted = []
    try:
        for p in stuck:
            if libc.mount(p, p, None, 4096, None) != 0:  # MS_BIND
                pytest.skip(f"bind mount: {os.strerror(ctypes.get_errno())}")
            mounted.append(p)
        with pytest.raises(shmarray.IOFailureError) as e:
            shmarray.gc(d)
    finally:
        for p in mounted:
            libc.umount2(p, 2)  # MNT_DETACH
    err = e.value
    assert [i.name for i in err.removed] == ["b-free"], "gc went on past the failures"
    assert len(err.errors) == 2 and err in err.errors
    assert sorted(str(x).split('"')[1] for x in err.errors) == ["a-stuck", "c-stuck"]
    for x in err.errors:
        assert isinstance(x, shmarray.IOFailureError) and "remove orphaned segment" in str(x)
    assert sorted(os.listdir(d)) == ["a-stuck", "c-stuck"]


def _free_ids():
    ids = []
    for i in range(61000, 62000):
        try:
            pwd.getpwuid(i)
            continue
        except KeyError:
            pass
        try:
            grp.getgrgid(i)
            continue
        except KeyError:
            pass
        ids.append(i)
        if len(ids) == 2:
            return ids
    pytest.skip("no two free uids from 61000")


def _python_for(uid: int) -> str | None:
    """An interpreter of this Python version that uid may run and that
    imports shmarray (and NumPy) from this checkout, or None."""
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    for cand in dict.fromkeys([sys.executable, os.path.realpath(sys.executable), shutil.which(version),
                               f"/usr/bin/{version}", f"/usr/local/bin/{version}"]):
        if not cand:
            continue
        try:
            p = subprocess.run([cand, "-c", "import shmarray"], env=ENV, cwd="/", capture_output=True,
                               **_as(uid))
        except OSError:
            continue
        if p.returncode == 0:
            return cand
    return None


@pytest.fixture
def users():
    """Two unprivileged uids without accounts, and an interpreter they may
    run with shmarray importable."""
    if not ROOT:
        pytest.skip("the two-user tests run processes as two unprivileged users, which needs root; "
                    "run the tests as root to include them")
    a, b = _free_ids()
    python = _python_for(a)
    if not python:
        pytest.skip(f"uid {a} can run no Python {sys.version_info[0]}.{sys.version_info[1]} that imports "
                    "shmarray from this checkout; put the checkout and its environment where others may "
                    "read them")
    return a, b, python


def test_two_users_directory_swap(users, tmp_path):
    _swap_races(tmp_path, uid=users[0], python=users[2], rounds=100)


GC_AS = textwrap.dedent(r"""
    import sys, shmarray
    try:
        print("OK", ",".join(i.name for i in shmarray.gc(sys.argv[1])))
    except shmarray.ShmarrayError as e:
        print(e.code_name, e)
""")


@pytest.fixture
def shared_dir():
    """A fresh directory everyone may write to, with the sticky bit (like
    /dev/shm), inside a parent everyone may enter."""
    parent = tempfile.mkdtemp(prefix="shmarray-sec-")
    os.chmod(parent, 0o755)
    d = os.path.join(parent, "d")
    os.mkdir(d)
    os.chmod(d, 0o1777)
    yield d
    shutil.rmtree(parent)


def test_two_users_gc_in_a_sticky_directory(users, shared_dir, tmp_path):
    """A's gc removes A's own leftover and skips B's files without failing;
    root's removes B's orphan and B's temporary file that carries the magic,
    never one that does not."""
    a, b, python = users
    d = shared_dir
    dead = _spawned_pid()
    files = {"b-orphan": (_orphan_bytes(str(tmp_path)), b),
             f".shmarray-tmp-{dead}-01": (b"SHMARRAY" + bytes(120), b),
             f".shmarray-tmp-{dead}-00": (bytes(128), b),
             f".shmarray-tmp-{dead}-aa": (bytes(128), a)}
    for name, (content, uid) in files.items():
        path = os.path.join(d, name)
        with open(path, "wb") as f:
            f.write(content)
        os.lchown(path, uid, uid)
    p = subprocess.run([python, "-c", GC_AS, d], env=ENV, cwd="/", capture_output=True, text=True, **_as(a))
    assert p.stdout.split() == ["OK", f".shmarray-tmp-{dead}-aa"], (p.stdout, p.stderr)
    gone = shmarray.gc(d)  # root's
    assert [i.name for i in gone] == ["b-orphan", f".shmarray-tmp-{dead}-01"]
    assert os.listdir(d) == [f".shmarray-tmp-{dead}-00"], "root leaves B's file without the magic"


def test_two_users_owner_check(users, shm_dir, seg_name):
    a = users[0]
    shmarray.create(seg_name, {"x": np.arange(3)}, dir=shm_dir).close()
    path = os.path.join(shm_dir, seg_name)
    os.chown(path, a, a)
    os.chmod(path, 0o640)
    with pytest.raises(shmarray.PermissionDeniedError, match=f"is owned by uid {a}"):
        shmarray.attach(seg_name, dir=shm_dir, owner=os.geteuid())
    with shmarray.attach(seg_name, dir=shm_dir, owner=[os.geteuid(), a]) as seg:
        assert (seg.owner_uid, seg.mode) == (a, 0o640)
        assert stat.S_IMODE(os.stat(path).st_mode) == seg.mode
