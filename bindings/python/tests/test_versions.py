"""Versions (issue 14, format 1.2): identity, replace and replace_if, pinned
pickles, is_current/refresh, unlink-on-exit and gc together with versions,
and the concurrency scenarios: readers attaching while 100 replaces happen,
16 racing replacers, replace_if racers, a replacer killed by SIGKILL, and a
Pool whose segment goes away under queued tasks.

Every multiprocessing wait has a timeout and every test that starts
processes a pytest timeout, so a hang fails the test instead of stalling
the run. Writers run in spawned processes: the Go runtime of libshmarray
does not survive fork."""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import shmarray

from conftest import REPO
import pools

TIMEOUT = 120
ROWS = 4096


def _columns(k: int) -> dict:
    """Version content: a and b hold k and -k everywhere, so that a read
    mixing two versions (a partial read) is seen."""
    return {"a": np.full(ROWS, k, dtype=np.int64), "b": np.full(ROWS, -k, dtype=np.int64)}


def _consistent(seg) -> int | None:
    """k if seg holds one whole version's content, else None."""
    a, b = seg["a"], seg["b"]
    k = int(a[0])
    if a.shape != (ROWS,) or not (a == k).all() or not (b == -k).all():
        return None
    return k


# ---------------------------------------------------------------------------
# identity, replace, replace_if


def test_identity_and_replace(shm_dir, seg_name):
    v1 = shmarray.create(seg_name, _columns(1), dir=shm_dir)
    assert re.fullmatch(r"[0-9a-f]{32}", v1.id) and v1.id != "0" * 32
    assert v1.version == 1 and v1.is_current() and v1.refresh() is v1
    with pytest.raises(shmarray.ExistsError):
        shmarray.create(seg_name, _columns(9), dir=shm_dir)
    v2 = shmarray.create(seg_name, _columns(2), dir=shm_dir, replace=True)
    assert v2.version == 2 and v2.id != v1.id
    assert not v1.is_current() and v2.is_current()
    assert _consistent(v1) == 1 and _consistent(v2) == 2  # v1 keeps its version
    latest = v1.refresh()
    assert latest is not v1 and latest.version == 2 and latest.id == v2.id
    with shmarray.attach(seg_name, dir=shm_dir) as by_name:
        assert (by_name.id, by_name.version) == (v2.id, 2)
    [info] = shmarray.list_segments(shm_dir)
    assert (info.id, info.version) == (v2.id, 2)
    # The Builder replaces the same way.
    with shmarray.Builder(seg_name, dir=shm_dir, replace=True) as b:
        b.add("a", _columns(3)["a"])
        b.add("b", _columns(3)["b"])
        v3 = b.publish()
    assert v3.version == 3 and _consistent(v3) == 3
    for s in (v1, v2, latest):
        s.close()
    with pytest.raises(shmarray.ClosedError):  # its inode may name another file by now
        v1.is_current()
    shmarray.unlink(seg_name, dir=shm_dir)
    assert not v3.is_current()
    with pytest.raises(shmarray.NotFoundError):
        v3.refresh()
    v3.close()


def test_replace_if(shm_dir, seg_name):
    v1 = shmarray.create(seg_name, _columns(1), dir=shm_dir)
    v2 = shmarray.create(seg_name, _columns(2), dir=shm_dir, replace_if=v1.id)
    assert v2.version == 2
    with pytest.raises(shmarray.StaleSegmentError) as e:
        shmarray.create(seg_name, _columns(3), dir=shm_dir, replace_if=v1.id)
    assert str(e.value) == (f'shmarray: stale version: segment "{seg_name}": replace_if names id {v1.id}, '
                            f"the name holds version 2 (id {v2.id}) now")
    assert e.value.code == 23 and e.value.code_name == "STALE"
    assert not isinstance(e.value, shmarray.InvalidSegmentError)
    v3 = shmarray.create(seg_name, _columns(3), dir=shm_dir, replace_if=bytes.fromhex(v2.id))
    assert v3.version == 3
    for bad in ("xyz", "0" * 31, b"short"):
        with pytest.raises(shmarray.InvalidArgumentError):
            shmarray.create(seg_name, _columns(4), dir=shm_dir, replace_if=bad)
    shmarray.unlink(seg_name, dir=shm_dir)
    with pytest.raises(shmarray.StaleSegmentError, match="no segment has that name now"):
        shmarray.create(seg_name, _columns(4), dir=shm_dir, replace_if=v3.id)
    assert shmarray.list_segments(shm_dir) == []
    for s in (v1, v2, v3):
        s.close()


def test_legacy_file_has_no_identity(shm_dir):
    """A 1.0/1.1 file (a conformance vector) reads with id all zeros and version 0."""
    vectors = sorted((REPO / "conformance" / "vectors" / "v1" / "valid").glob("*.shm"))
    legacy = [v for v in vectors if int.from_bytes(v.read_bytes()[10:12], "little") < 2]
    assert legacy, "no 1.0/1.1 vector left in conformance/vectors"
    shutil.copy(legacy[0], os.path.join(shm_dir, "legacy"))
    with shmarray.attach("legacy", dir=shm_dir) as seg:
        assert (seg.id, seg.version) == ("0" * 32, 0)
        assert seg.is_current()
        again = pickle.loads(pickle.dumps(seg))
        assert again.version == 0 and len(again) == len(seg)
    [info] = shmarray.list_segments(shm_dir)
    assert (info.id, info.version) == ("0" * 32, 0)


# ---------------------------------------------------------------------------
# pickles pin their version


def test_pickles_pin_their_version(shm_dir, seg_name):
    v1 = shmarray.create(seg_name, _columns(1), dir=shm_dir)
    data = pickle.dumps(v1)
    assert len(data) < 300
    same = pickle.loads(data)
    assert "attached on first use" in repr(same)
    assert (same.id, same.version) == (v1.id, 1)  # known without attaching
    assert _consistent(same) == 1
    v2 = shmarray.create(seg_name, _columns(2), dir=shm_dir, replace=True)
    stale = pickle.loads(data)  # never raises, never attaches
    assert pickle.loads(pickle.dumps(stale)).version == 1  # a pending pickle re-pickles its pin
    with pytest.raises(shmarray.StaleSegmentError) as e:
        stale["a"]
    assert str(e.value) == (f'shmarray: stale version: segment "{seg_name}": wanted version 1 (id {v1.id}), '
                            f"the name holds version 2 (id {v2.id}) now (attach by name to follow the latest)")
    with pytest.raises(shmarray.StaleSegmentError):  # every use, not only the first
        len(stale)
    assert not stale.is_current()
    assert stale.refresh().version == 2  # refresh follows the latest
    assert _consistent(same) == 1  # attached before the replace: keeps version 1
    assert _consistent(pickle.loads(pickle.dumps(v2))) == 2
    # A name string follows the latest.
    with shmarray.attach(seg_name, dir=shm_dir) as latest:
        assert latest.version == 2
    shmarray.unlink(seg_name, dir=shm_dir)
    with pytest.raises(shmarray.StaleSegmentError, match="no segment has that name now"):
        pickle.loads(pickle.dumps(v2)).columns
    closed = pickle.loads(data)
    closed.close()  # closing an unpickled Segment before use never attaches
    assert closed.closed
    with pytest.raises(shmarray.ClosedError):
        closed["a"]
    for s in (v1, v2, same):
        s.close()


def test_pickle_of_an_older_shmarray_follows_the_name(shm_dir, seg_name):
    """A pickle made before versions named no version: it attaches by name,
    at first use (unpickling still never attaches)."""
    from shmarray._segment import _reattach

    class OldSegment:  # what Segment.__reduce__ gave before versions
        def __reduce__(self):
            return (_reattach, (seg_name, shm_dir, None))
    old = pickle.dumps(OldSegment())
    seg = pickle.loads(old)  # nothing under the name yet: no error until used
    with pytest.raises(shmarray.NotFoundError):
        seg.columns
    shmarray.create(seg_name, _columns(5), dir=shm_dir).close()
    assert "the latest version" in repr(pickle.loads(old))
    with pickle.loads(old) as seg:
        assert _consistent(seg) == 5 and seg.version == 1
    shmarray.unlink(seg_name, dir=shm_dir)


def _sum_a(seg) -> int:
    return int(seg["a"].sum())


def _block_until(flag: str) -> str:
    deadline = time.monotonic() + TIMEOUT
    while not os.path.exists(flag):
        if time.monotonic() > deadline:
            raise TimeoutError(flag)
        time.sleep(0.01)
    return "released"


@pytest.mark.timeout(TIMEOUT)
@pytest.mark.parametrize("method", ["fork", "spawn"])
@pytest.mark.parametrize("change", ["unlink", "replace"])
def test_pool_with_queued_tasks_finishes(shm_dir, seg_name, tmp_path, method, change):
    """The issue's hang: tasks holding a pickled Segment queued in a Pool,
    the segment unlinked or replaced before the workers unpickle them. Every
    task finishes, with StaleSegmentError as its result."""
    seg = shmarray.create(seg_name, _columns(1), dir=shm_dir)
    flag = str(tmp_path / "go")
    ctx = mp.get_context(method)
    with pools.pool(ctx, 1) as pool:
        blocker = pool.apply_async(_block_until, (flag,))
        queued = [pool.apply_async(_sum_a, (seg,)) for _ in range(6)]
        time.sleep(0.2)  # the tasks are pickled and in the pipe
        if change == "unlink":
            shmarray.unlink(seg_name, dir=shm_dir)
        else:
            shmarray.create(seg_name, _columns(2), dir=shm_dir, replace=True).close()
        Path(flag).touch()
        assert blocker.get(timeout=TIMEOUT) == "released"
        errors = []
        for r in queued:
            with pytest.raises(shmarray.StaleSegmentError) as e:
                r.get(timeout=TIMEOUT)
            errors.append(str(e.value))
        # A task pickled now, after the change, reads what the name holds.
        if change == "replace":
            assert pool.apply_async(_sum_a, (shmarray.attach(seg_name, dir=shm_dir),)).get(
                timeout=TIMEOUT) == 2 * ROWS
    assert all("wanted version 1" in m for m in errors), errors[0]
    seg.close()


# ---------------------------------------------------------------------------
# the refresh scenario: readers attach in a loop while 100 replaces happen


def _reader(name: str, d: str, stop: str, out) -> None:
    attaches = not_found = partial = backwards = 0
    last = 0
    while not os.path.exists(stop):
        try:
            seg = shmarray.attach(name, dir=d)
        except shmarray.NotFoundError:
            not_found += 1
            continue
        with seg:
            attaches += 1
            k = _consistent(seg)
            if k is None or int(seg.metadata["k"]) != k:
                partial += 1
            if seg.version < last:
                backwards += 1
            last = seg.version
    out.put((attaches, not_found, partial, backwards, last))


@pytest.mark.timeout(TIMEOUT * 2)
def test_refresh_scenario_readers_never_miss(shm_dir, seg_name, tmp_path):
    replaces, readers = 100, 4
    first = shmarray.create(seg_name, _columns(0), dir=shm_dir, metadata={"k": "0"})
    stop = str(tmp_path / "stop")
    ctx = mp.get_context("spawn")  # readers load only the C reader core
    out = ctx.Queue()
    procs = [ctx.Process(target=_reader, args=(seg_name, shm_dir, stop, out)) for _ in range(readers)]
    for p in procs:
        p.start()
    time.sleep(1.0)  # spawned readers are importing: let them start attaching
    versions = []
    for k in range(1, replaces + 1):
        seg = shmarray.create(seg_name, _columns(k), dir=shm_dir, metadata={"k": str(k)}, replace=True)
        versions.append(seg.version)
        seg.close()
    Path(stop).touch()
    results = [out.get(timeout=TIMEOUT) for _ in procs]
    for p in procs:
        p.join(TIMEOUT)
    attaches = sum(r[0] for r in results)
    not_found = sum(r[1] for r in results)
    partial = sum(r[2] for r in results)
    backwards = sum(r[3] for r in results)
    print(f"\nrefresh scenario: {replaces} replaces, {readers} readers, {attaches} attaches, "
          f"{not_found} NOT_FOUND, {partial} partial reads, {backwards} version went backwards")
    assert versions == list(range(2, replaces + 2))
    assert attaches > 0 and not_found == 0 and partial == 0 and backwards == 0
    with shmarray.attach(seg_name, dir=shm_dir) as last:
        assert last.version == replaces + 1 and _consistent(last) == replaces
    assert _consistent(first) == 0  # the first version's reader still reads it
    first.close()
    shmarray.unlink(seg_name, dir=shm_dir)


# ---------------------------------------------------------------------------
# racing replacers


def _replacer(name: str, d: str, rounds: int, barrier, out) -> None:
    barrier.wait(TIMEOUT)
    published = []
    for _ in range(rounds):
        with shmarray.create(name, _columns(os.getpid()), dir=d, replace=True) as seg:
            published.append((seg.version, seg.id, _consistent(seg) == os.getpid()))
    out.put(published)


@pytest.mark.timeout(TIMEOUT * 2)
def test_16_racing_replacers(shm_dir, seg_name):
    racers, rounds = 16, 4
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(racers), ctx.Queue()
    procs = [ctx.Process(target=_replacer, args=(seg_name, shm_dir, rounds, barrier, out)) for _ in range(racers)]
    for p in procs:
        p.start()
    results = [out.get(timeout=TIMEOUT) for _ in procs]
    for p in procs:
        p.join(TIMEOUT)
        assert p.exitcode == 0
    published = [v for r in results for v in r]
    versions = sorted(v for v, _, _ in published)
    print(f"\nracing replacers: {racers} processes x {rounds} replaces: {len(published)} published, "
          f"versions {versions[0]}..{versions[-1]}, {len({i for _, i, _ in published})} distinct ids")
    assert len(published) == racers * rounds
    assert versions == list(range(1, racers * rounds + 1))  # none lost, none twice
    assert all(own for _, _, own in published)  # each got back the version it published
    for r in results:  # each racer's own versions strictly increase
        assert [v for v, _, _ in r] == sorted({v for v, _, _ in r})
    assert len({i for _, i, _ in published}) == racers * rounds
    with shmarray.attach(seg_name, dir=shm_dir) as seg:
        assert seg.version == racers * rounds
    shmarray.unlink(seg_name, dir=shm_dir)


def _conditional_racer(name: str, d: str, rounds: int, barrier, out) -> None:
    wins = []
    for r in range(rounds):
        barrier.wait(TIMEOUT)  # the round's base version is published
        with shmarray.attach(name, dir=d) as seg:
            base = seg.id
        barrier.wait(TIMEOUT)  # everyone read the same base
        try:
            shmarray.create(name, _columns(r), dir=d, replace_if=base).close()
            wins.append(r)
        except shmarray.StaleSegmentError as e:
            assert "replace_if names id " + base in str(e)
        barrier.wait(TIMEOUT)  # the round is over
    out.put(wins)


@pytest.mark.timeout(TIMEOUT * 2)
def test_replace_if_one_winner_per_round(shm_dir, seg_name):
    racers, rounds = 8, 5
    shmarray.create(seg_name, _columns(0), dir=shm_dir).close()
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(racers), ctx.Queue()
    procs = [ctx.Process(target=_conditional_racer, args=(seg_name, shm_dir, rounds, barrier, out))
             for _ in range(racers)]
    for p in procs:
        p.start()
    wins = [w for _ in procs for w in out.get(timeout=TIMEOUT)]
    for p in procs:
        p.join(TIMEOUT)
        assert p.exitcode == 0
    per_round = [wins.count(r) for r in range(rounds)]
    print(f"\nreplace_if racers: {racers} processes, {rounds} rounds, winners per round {per_round}")
    assert per_round == [1] * rounds
    with shmarray.attach(seg_name, dir=shm_dir) as seg:
        assert seg.version == rounds + 1
    shmarray.unlink(seg_name, dir=shm_dir)


# ---------------------------------------------------------------------------
# SIGKILL of a replacing process


_KILLED_REPLACER = textwrap.dedent("""
    import sys, numpy as np, shmarray
    name, d = sys.argv[1], sys.argv[2]
    k = 1
    while True:
        k += 1
        n = 1 << 20
        shmarray.create(name, {"a": np.full(n, k), "b": np.full(n, -k)}, dir=d, replace=True).close()
""")


@pytest.mark.timeout(TIMEOUT * 2)
def test_sigkill_mid_replace_leaves_a_whole_version(shm_dir, seg_name):
    n = 1 << 20
    shmarray.create(seg_name, {"a": np.full(n, 1), "b": np.full(n, -1)}, dir=shm_dir).close()
    env = dict(os.environ, PYTHONPATH=str(REPO / "bindings" / "python"))
    rng = np.random.default_rng(14)
    last_version = 1
    kills = 8
    for _ in range(kills):
        p = subprocess.Popen([sys.executable, "-c", _KILLED_REPLACER, seg_name, shm_dir], env=env)
        time.sleep(0.8 + float(rng.random()))  # import, then die somewhere in a replace
        p.send_signal(signal.SIGKILL)
        p.wait(TIMEOUT)
        with shmarray.attach(seg_name, dir=shm_dir) as seg:
            a, b = seg["a"], seg["b"]
            k = int(a[0])
            assert (a == k).all() and (b == -k).all(), "a torn version"
            assert seg.version >= last_version
            last_version = seg.version
    # What a killed writer may leave is a hidden temporary file, never a
    # second name; gc removes it (its writer is gone).
    names = os.listdir(shm_dir)
    assert [x for x in names if not x.startswith(".")] == [seg_name], names
    shmarray.gc(shm_dir)
    assert os.listdir(shm_dir) == [seg_name]
    with shmarray.attach(seg_name, dir=shm_dir) as seg:
        assert seg.version == last_version
    print(f"\nSIGKILL: {kills} replacers killed, the name went from version 1 to {last_version}, "
          "always a whole version")
    shmarray.unlink(seg_name, dir=shm_dir)


# ---------------------------------------------------------------------------
# unlink-on-exit and gc with versions


_EPHEMERAL_CREATOR = textwrap.dedent("""
    import sys, numpy as np, shmarray
    name, d, replace = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
    seg = shmarray.create(name, {"a": np.arange(3)}, dir=d, unlink_on_exit=True, replace=replace)
    print(seg.id, seg.version, flush=True)
    sys.stdin.readline()  # until the test says exit
""")


def _ephemeral_creator(name: str, d: str, replace: bool = False) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO / "bindings" / "python"))
    return subprocess.Popen([sys.executable, "-c", _EPHEMERAL_CREATOR, name, d, "1" if replace else "0"],
                            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


@pytest.mark.timeout(TIMEOUT)
def test_unlink_on_exit_removes_only_its_own_version(shm_dir, seg_name):
    # The creator's version is replaced meanwhile: the newer version stays.
    p = _ephemeral_creator(seg_name, shm_dir)
    id1, v1 = p.stdout.readline().split()
    assert v1 == "1"
    v2 = shmarray.create(seg_name, _columns(2), dir=shm_dir, replace=True)
    p.communicate("exit\n", timeout=TIMEOUT)
    assert p.returncode == 0
    with shmarray.attach(seg_name, dir=shm_dir) as seg:
        assert seg.id == v2.id  # not removed by the exiting creator of version 1
    # The creator replaced it with its own version: that one goes at exit.
    p = _ephemeral_creator(seg_name, shm_dir, replace=True)
    id3, v3 = p.stdout.readline().split()
    assert v3 == "3"
    p.communicate("exit\n", timeout=TIMEOUT)
    assert p.returncode == 0
    assert shmarray.list_segments(shm_dir) == []
    assert _consistent(v2) == 2  # its reader keeps reading
    v2.close()


@pytest.mark.timeout(TIMEOUT)
def test_gc_with_versions(shm_dir, seg_name):
    # An orphan: the ephemeral version of a creator killed before it could unlink.
    p = _ephemeral_creator(seg_name, shm_dir)
    id1, _ = p.stdout.readline().split()
    p.kill()
    p.wait(TIMEOUT)
    [info] = shmarray.list_segments(shm_dir)
    assert (info.id, info.version, info.orphan) == (id1, 1, True)
    # Replaced by a version nobody asked to unlink: no longer an orphan.
    v2 = shmarray.create(seg_name, _columns(2), dir=shm_dir, replace=True)
    assert shmarray.gc(shm_dir) == []
    [info] = shmarray.list_segments(shm_dir)
    assert (info.id, info.version, info.orphan) == (v2.id, 2, False)
    # Replaced by an ephemeral version whose creator dies: gc removes the name.
    p = _ephemeral_creator(seg_name, shm_dir, replace=True)
    id3, v3 = p.stdout.readline().split()
    assert v3 == "3"
    p.kill()
    p.wait(TIMEOUT)
    removed = shmarray.gc(shm_dir)
    assert [(r.name, r.id, r.version) for r in removed] == [(seg_name, id3, 3)]
    assert shmarray.list_segments(shm_dir) == []
    assert _consistent(v2) == 2  # readers of older versions are not affected
    v2.close()



_IS_CURRENT_LOOP = textwrap.dedent("""
    import os, sys, shmarray
    seg = shmarray.attach(sys.argv[1], dir=sys.argv[2])
    seg.is_current()
    os.write(1, b"begin\\n")
    for _ in range(100):
        assert seg.is_current()
    os.write(1, b"end\\n")
""")


@pytest.mark.timeout(TIMEOUT)
def test_is_current_costs_one_stat(shm_dir, seg_name, tmp_path):
    """100 calls of is_current() on an unchanged segment make 100 system
    calls, each one fstatat of the name (strace of a reading process)."""
    strace = shutil.which("strace")
    if not strace:
        pytest.skip("strace is not installed")
    shmarray.create(seg_name, _columns(1), dir=shm_dir).close()
    log = tmp_path / "strace.txt"
    env = dict(os.environ, PYTHONPATH=str(REPO / "bindings" / "python"))
    subprocess.run([strace, "-o", str(log), sys.executable, "-c", _IS_CURRENT_LOOP, seg_name, shm_dir],
                   env=env, check=True, capture_output=True, timeout=TIMEOUT)
    lines = log.read_text().splitlines()
    begin = next(i for i, x in enumerate(lines) if x.startswith("write(1, \"begin"))
    end = next(i for i, x in enumerate(lines) if x.startswith("write(1, \"end"))
    calls = [x.split("(", 1)[0] for x in lines[begin + 1:end]]
    # (fstatat is newfstatat on x86-64 and arm64; glibc may use statx elsewhere)
    assert len(calls) == 100 and set(calls) <= {"newfstatat", "fstatat64", "statx"}, sorted(set(calls))
    shmarray.unlink(seg_name, dir=shm_dir)


@pytest.mark.parametrize("bad", ["00 11 22 33 44 55 66 77 88 99 aa", "A" * 32, "0" * 31, "g" * 32, b"x" * 15, 7])
def test_replace_if_takes_only_an_id(shm_dir, seg_name, bad):
    """replace_if is 32 lowercase hex digits or 16 bytes, nothing that
    bytes.fromhex would also take (spaces, upper case): C reads 16 bytes."""
    shmarray.create(seg_name, _columns(1), dir=shm_dir).close()
    with pytest.raises(shmarray.InvalidArgumentError, match="segment id"):
        shmarray.create(seg_name, _columns(2), dir=shm_dir, replace_if=bad)
    with shmarray.attach(seg_name, dir=shm_dir) as seg:
        assert seg.version == 1


def test_an_unpickled_segment_closed_before_use(shm_dir, seg_name):
    """Closed before its first use, an unpickled Segment never attaches but
    still knows its name, directory and pin, and pickles them again."""
    with shmarray.create(seg_name, _columns(1), dir=shm_dir) as v1:
        data, path, ident = pickle.dumps(v1), v1.path, (v1.id, v1.version)
    u = pickle.loads(data)
    u.close()
    assert u.closed and (u.name, u.path, u.id, u.version) == (seg_name, path) + ident
    assert "closed before its first use" in repr(u)
    again = pickle.loads(pickle.dumps(u))
    assert not again.closed and again.version == 1 and len(again) == 2
    again.close()
    for use in (lambda: u["a"], lambda: len(u), u.is_current):
        with pytest.raises(shmarray.ClosedError):
            use()


def test_publish_without_a_descriptor_attaches_the_version_by_name(shm_dir, seg_name):
    """When libshmarray could keep no descriptor of the published file (out
    of descriptors: fd -1), publish attaches that version by name, pinned."""
    b = shmarray.Builder(seg_name, dir=shm_dir)
    real = b._lib

    class NoDescriptor:  # the library, but publish hands out no descriptor
        def __getattr__(self, name):
            return getattr(real, name)

        def shmarray_builder_publish_with(self, handle, out, fd, err, n):
            rc = real.shmarray_builder_publish_with(handle, out, fd, err, n)
            os.close(fd._obj.value)
            fd._obj.value = -1
            return rc

    b._lib = NoDescriptor()
    b.add("a", _columns(5)["a"])
    b.add("b", _columns(5)["b"])
    with b.publish() as seg:
        assert seg.version == 1 and _consistent(seg) == 5
