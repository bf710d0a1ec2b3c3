"""shmarray.dask on this one machine: a LocalCluster (one copy, read by every
worker, PSS about data + baseline) and "hosts" on loopback addresses, each a
group of `dask worker` processes with its own SHMARRAY_DIR (two copies with
the same bytes; a restarted worker attaches again; a late host gets its
copy; a transfer cut off leaves nothing visible).

Every test has a deadline (pytest-timeout) and every wait inside one too; the
clusters' processes are ended and their directories removed at teardown.
"""

import os
import pickle
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid

import distributed
import numpy as np
import pytest

import shmarray
import shmarray.dask
from shmarray.dask import _host

import dask_helpers as H

pytestmark = pytest.mark.timeout(180)

MiB = 1 << 20


def unique(prefix="d"):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def columns(n_bytes):
    """Arrays of about ``n_bytes`` in all, with a string column, and the sums read_all must find."""
    n = n_bytes // 16
    cols = {"x": np.arange(n, dtype=np.float64), "y": np.arange(n, dtype=np.int64) % 7}
    sums = {k: float(v.sum()) for k, v in cols.items()}
    cols["s"] = ["alpha", None, "gamma"] * 100
    sums["s"] = 200  # non-null strings
    return cols, sums


def check_sums(got, want):
    assert got == want


@pytest.fixture
def shm_root():
    """A private directory on /dev/shm, removed with everything in it."""
    d = tempfile.mkdtemp(dir="/dev/shm" if os.path.isdir("/dev/shm") else None, prefix="shmarray-dask-test-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


# ---------------------------------------------------------------------------
# Host identity


def test_host_identity_is_the_directory(shm_root):
    a, b = os.path.join(shm_root, "a"), os.path.join(shm_root, "b")
    os.mkdir(a)
    os.mkdir(b)
    os.symlink(a, os.path.join(shm_root, "link"))
    ia = shmarray.dask.host_identity(a)
    assert ia.boot_id and ia.dir == os.path.realpath(a)
    assert shmarray.dask.host_identity(os.path.join(shm_root, "link")).key == ia.key
    assert shmarray.dask.host_identity(b).key != ia.key, "two directories are two hosts"
    assert str(ia).endswith(":" + ia.dir)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting needs root")
def test_host_identity_holds_across_mounts(shm_root):
    """A directory bind-mounted elsewhere (one /dev/shm seen by two
    containers) is one host; two tmpfs mounts with the same layout (two
    containers, each with its own /dev/shm) are two, whatever their paths."""
    a, bind, t1, t2 = (os.path.join(shm_root, n) for n in ("a", "bind", "t1", "t2"))
    for d in (a, bind, t1, t2):
        os.mkdir(d)
    mounted = []
    try:
        for args, where in ((["--bind", a], bind), (["-t", "tmpfs", "tmpfs"], t1), (["-t", "tmpfs", "tmpfs"], t2)):
            subprocess.run(["mount", *args, where], check=True, timeout=30)
            mounted.append(where)
        assert shmarray.dask.host_identity(bind).key == shmarray.dask.host_identity(a).key
        k1, k2 = shmarray.dask.host_identity(t1), shmarray.dask.host_identity(t2)
        assert k1.ino == k2.ino and k1.key != k2.key, "same inode number, different file systems"
        with open(os.path.join(a, "f"), "w"):
            pass
        assert _host.local_file("f", bind).file_id == _host.local_file("f", a).file_id
    finally:
        for where in reversed(mounted):
            subprocess.run(["umount", where], timeout=30)


def test_dir_lock_elects_one(shm_root):
    first, second = _host.DirLock(shm_root), _host.DirLock(shm_root)
    assert first.try_acquire()
    assert not second.try_acquire(), "one holder per directory, even within a process"
    first.release()
    assert second.try_acquire()
    second.release()


def test_attach_outside_a_worker_is_plain_attach(shm_root):
    name = unique()
    shmarray.create(name, {"x": np.arange(3)}, dir=shm_root).close()
    os.environ["SHMARRAY_DIR"], old = shm_root, os.environ.get("SHMARRAY_DIR")
    try:
        with shmarray.dask.attach(name) as seg:
            assert seg["x"].tolist() == [0, 1, 2]
    finally:
        if old is None:
            del os.environ["SHMARRAY_DIR"]
        else:
            os.environ["SHMARRAY_DIR"] = old


# ---------------------------------------------------------------------------
# One machine, one directory: a LocalCluster


def test_local_cluster_one_copy_read_by_every_worker(shm_root, monkeypatch):
    """Four worker processes on this host: nothing is copied (the client's
    directory is theirs), every worker reads every page, and the total PSS
    grows by about the data once, not once per worker."""
    monkeypatch.setenv("SHMARRAY_DIR", shm_root)
    name, size = unique(), 96 * MiB
    cols, sums = columns(size)
    with distributed.LocalCluster(processes=True, n_workers=4, threads_per_worker=1, dashboard_address=None,
                                  memory_limit=0) as cluster, distributed.Client(cluster, timeout=60) as client:
        client.wait_for_workers(4, timeout=60)
        workers = sorted(client.scheduler_info()["workers"])
        pids = client.run(H.warm_up)
        client.gather([client.submit(H.warm_up, workers=[w], pure=False) for w in workers])
        before = {w: H.pss_bytes(pids[w]) for w in workers}
        shmarray.create(name, cols).close()
        del cols
        with shmarray.dask.share(client, name) as shared:
            assert len(pickle.dumps(shared)) < 400
            results = client.gather([client.submit(H.read_all, shared, True, workers=[w], pure=False)
                                     for w in workers])
            after = {w: H.pss_bytes(pids[w]) for w in workers}
            status = shared.status()
            client.run(H.drop_held)
        assert sorted(pids[w] for w in workers) == sorted(pid for pid, _, _ in results), "one task per worker"
        for _, got, path in results:
            check_sums(got, sums)
            assert path == os.path.join(shm_root, name), "every worker read the one file"
        assert {r["state"] for r in status.values()} == {"attached"}, status
        assert sum(r["bytes_received"] for r in status.values()) == 0
        assert H.segment_files(shm_root) == [name], "no copy was made, and release kept the original"
    grown = sum(after.values()) - sum(before.values())
    print(f"\nPSS of 4 workers: {sum(before.values()) / MiB:.0f} MiB before, {sum(after.values()) / MiB:.0f} MiB "
          f"after reading {size / MiB:.0f} MiB each: +{grown / MiB:.0f} MiB")
    assert 0.6 * size < grown < 1.6 * size, (
        f"total PSS grew by {grown / MiB:.0f} MiB for {size / MiB:.0f} MiB of data read by 4 workers: one shared "
        f"copy gives about 1x, a copy per worker 4x")
    shmarray.unlink(name, dir=shm_root)


# ---------------------------------------------------------------------------
# Several "hosts" on loopback


class Loopback:
    def __init__(self, root, work):
        self.root, self.work = root, work
        self.client_dir = os.path.join(root, "client")
        os.mkdir(self.client_dir)
        self.scheduler = H.Scheduler(work)
        self.hosts = []
        self.client = None
        self.created = []

    def start(self):
        self.hosts = [H.Host(self.scheduler, "127.0.0.1", 2, os.path.join(self.root, "a"), self.work),
                      H.Host(self.scheduler, "127.0.0.2", 2, os.path.join(self.root, "b"), self.work)]
        self.client = distributed.Client(self.scheduler.address, timeout=60)
        self.wait_workers(4)

    def wait_workers(self, n, timeout=90):
        try:
            self.client.wait_for_workers(n, timeout=timeout)
        except TimeoutError:
            raise AssertionError(f"{n} workers did not come up: " + "\n".join(h.tail() for h in self.hosts))
        H.wait_for(lambda: len(self.client.scheduler_info()["workers"]) == n, timeout, f"{n} workers")

    def stop(self):
        if self.client is not None:
            self.client.close(timeout=10)
        for h in self.hosts:
            h.stop()
        self.scheduler.stop()

    def create(self, size):
        """A segment of about ``size`` bytes in the client's directory (removed
        by the ``lb`` fixture) and the sums read_all must find in it."""
        name = unique()
        cols, sums = columns(size)
        seg = shmarray.create(name, cols, dir=self.client_dir)
        self.created.append(seg)
        return seg, sums

    def remove_created(self):
        for seg in self.created:
            seg.close()
            shmarray.unlink(seg.name, dir=self.client_dir)
        self.created.clear()

    def source_bytes(self, seg):
        with open(seg.path, "rb") as f:
            return f.read()


@pytest.fixture(scope="module")
def loopback(tmp_path_factory):
    root = tempfile.mkdtemp(dir="/dev/shm" if os.path.isdir("/dev/shm") else None, prefix="shmarray-dask-test-")
    lb = Loopback(root, str(tmp_path_factory.mktemp("dask")))
    try:
        lb.start()
        yield lb
    finally:
        lb.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def lb(loopback):
    """The loopback cluster, with the segments a test creates removed after it."""
    yield loopback
    loopback.remove_created()


def by_host(status, lb):
    out = {h.dir: [] for h in lb.hosts}
    for addr, rep in status.items():
        for h in lb.hosts:
            if addr.startswith(f"tcp://{h.ip}:"):
                out[h.dir].append(rep)
    return out


def test_two_hosts_two_copies(lb):
    seg, sums = lb.create(20 * MiB)
    src = lb.source_bytes(seg)
    with shmarray.dask.share(lb.client, seg, chunk_size=4 * MiB) as shared:
        for h in lb.hosts:
            assert H.segment_files(h.dir) == [seg.name], "one copy per host, nothing else"
            with open(os.path.join(h.dir, seg.name), "rb") as f:
                assert f.read() == src, "the copy has the source's bytes"
        for d, reps in by_host(shared.status(), lb).items():
            states = sorted(r["state"] for r in reps)
            assert states == ["attached", "received"], f"{d}: one worker received, the other attached: {reps}"
            assert [r["bytes_received"] for r in reps if r["state"] == "received"] == [seg.size]
        workers = sorted(lb.client.scheduler_info()["workers"])
        results = lb.client.gather([lb.client.submit(H.read_all, shared, workers=[w], pure=False) for w in workers])
        for w, (_, got, path) in zip(workers, results):
            check_sums(got, sums)
            host = next(h for h in lb.hosts if w.startswith(f"tcp://{h.ip}:"))
            assert path == os.path.join(host.dir, seg.name), "each worker reads its own host's copy"
        with pytest.raises(shmarray.NotFoundError, match="not shared"):
            lb.client.submit(shmarray.dask.attach, "no-such-share", pure=False).result(timeout=60)
        again = shmarray.dask.share(lb.client, seg.name, dir=lb.client_dir)  # sharing again: the same share
        assert again.fingerprint == shared.fingerprint
    for h in lb.hosts:
        assert H.segment_files(h.dir) == [], "release unlinked every copy"
    assert os.path.exists(seg.path), "and kept the original"


def test_conflicts_are_refused(lb):
    seg, _ = lb.create(1 * MiB)
    b = lb.hosts[1]
    with open(os.path.join(b.dir, seg.name), "wb") as f:
        f.write(b"not this segment")
    with pytest.raises(shmarray.ExistsError, match="another file"):
        shmarray.dask.share(lb.client, seg)
    os.unlink(os.path.join(b.dir, seg.name))
    assert all(H.segment_files(h.dir) == [] for h in lb.hosts)
    with shmarray.dask.share(lb.client, seg):
        # another version under the same name, while the first is shared
        other_dir = os.path.join(lb.root, "other")
        os.mkdir(other_dir)
        shmarray.create(seg.name, {"z": np.arange(5)}, dir=other_dir).close()
        with pytest.raises(shmarray.ExistsError, match="another version"):
            shmarray.dask.share(lb.client, seg.name, dir=other_dir)
    shutil.rmtree(other_dir)


def test_restarted_worker_attaches_without_transfer(lb):
    seg, sums = lb.create(8 * MiB)
    b = lb.hosts[1]
    with shmarray.dask.share(lb.client, seg) as shared:
        path = os.path.join(b.dir, seg.name)
        st = os.stat(path)
        receiver = next(r for r in by_host(shared.status(), lb)[b.dir] if r["state"] == "received")
        old = set(b.addresses(lb.client))
        os.kill(receiver["pid"], signal.SIGKILL)  # the nanny starts a new worker process
        H.wait_for(lambda: len(set(b.addresses(lb.client)) - old) == 1 and len(b.addresses(lb.client)) == 2,
                   90, "the killed worker to be restarted")
        [new] = set(b.addresses(lb.client)) - old
        H.wait_for(lambda: shared.status()[new]["state"] != "pending", 60, "the new worker's plugin")
        rep = shared.status()[new]
        assert rep["state"] == "attached" and rep["bytes_received"] == 0, rep
        st2 = os.stat(path)
        assert (st2.st_ino, st2.st_mtime_ns) == (st.st_ino, st.st_mtime_ns), "the same file, not a new copy"
        pid, got, p = lb.client.submit(H.read_all, shared, workers=[new], pure=False).result(timeout=60)
        check_sums(got, sums)
        assert p == path and pid != receiver["pid"]


def test_late_host_gets_its_copy(lb):
    seg, sums = lb.create(12 * MiB)
    src = lb.source_bytes(seg)
    late = None
    try:
        with shmarray.dask.share(lb.client, seg, chunk_size=1 * MiB) as shared:
            late = H.Host(lb.scheduler, "127.0.0.3", 1, os.path.join(lb.root, "c"), lb.work)
            [addr] = H.wait_for(lambda: late.addresses(lb.client), 90, "the late host's worker")
            H.wait_for(lambda: shared.status().get(addr, {}).get("state") in ("received", "failed"), 90,
                       "the late host's copy")
            rep = shared.status()[addr]
            assert rep["state"] == "received" and rep["bytes_received"] == seg.size, rep
            assert H.segment_files(late.dir) == [seg.name]
            with open(os.path.join(late.dir, seg.name), "rb") as f:
                assert f.read() == src
            _, got, p = lb.client.submit(H.read_all, shared, workers=[addr], pure=False).result(timeout=60)
            check_sums(got, sums)
            assert p == os.path.join(late.dir, seg.name)
        assert H.segment_files(late.dir) == [], "release reaches the late host too"
    finally:
        if late is not None:
            late.stop()


class Cutter(threading.Thread):
    """Kills the first of ``pids`` seen receiving a copy into its host's
    directory (an unnamed file open there), noting what the directory showed
    at that moment."""

    def __init__(self, pids_dirs):
        super().__init__(daemon=True)
        self.pids_dirs, self.killed, self.visible, self.stop = pids_dirs, None, None, threading.Event()

    def run(self):
        while not self.stop.is_set():
            for pid, d in self.pids_dirs:
                if H.receiving_fds(pid, d):
                    self.visible = H.segment_files(d)
                    os.kill(pid, signal.SIGKILL)
                    self.killed = (pid, d)
                    return
            time.sleep(0.002)


def test_cut_off_transfer_leaves_nothing(lb):
    """The worker the client scatters the chunks to (the first host's
    receiver) is killed midway: share fails loudly, and no host shows
    anything (the second host's receiver drops its copy too). Then the second
    host's receiver is killed midway: nothing shows there meanwhile, another
    worker of that host pulls a copy through the plugin, and the share
    completes."""
    seg, sums = lb.create(32 * MiB)
    src = lb.source_bytes(seg)
    pids = lb.client.run(os.getpid)

    def pids_dirs(hosts):
        return [(pid, h.dir) for a, pid in pids.items() for h in hosts if a.startswith(f"tcp://{h.ip}:")]

    cutter = Cutter(pids_dirs(lb.hosts[:1]))  # the receivers are taken in address order: 127.0.0.1 first
    cutter.start()
    try:
        with pytest.raises(shmarray.dask.TransferError, match="left the cluster"):
            shmarray.dask.share(lb.client, seg, chunk_size=256 << 10, window=1, timeout=60)
    finally:
        cutter.stop.set()
        cutter.join(10)
    assert cutter.killed is not None, "the transfer was not caught midway"
    assert seg.name not in cutter.visible, "nothing visible while the copy was arriving"
    for h in lb.hosts:
        assert H.segment_files(h.dir) == [], f"{h.dir}: nothing left after the cut"
        for a in h.addresses(lb.client):
            if a in pids:
                assert not H.receiving_fds(pids[a], h.dir), f"{a} still holds a partial copy"
    lb.wait_workers(4)

    pids = lb.client.run(os.getpid)
    b = lb.hosts[1]
    cutter = Cutter(pids_dirs([b]))
    cutter.start()
    try:
        with shmarray.dask.share(lb.client, seg, chunk_size=256 << 10, window=1, timeout=90) as shared:
            assert cutter.killed is not None, "the pull was not caught midway"
            assert seg.name not in cutter.visible
            with open(os.path.join(b.dir, seg.name), "rb") as f:
                assert f.read() == src, "the worker that took over brought a complete copy"
            assert H.segment_files(b.dir) == [seg.name]
            pulled = [r for r in by_host(shared.status(), lb)[b.dir] if r["state"] == "received"]
            assert [r["bytes_received"] for r in pulled] == [seg.size], f"one worker pulled the copy: {pulled}"
            survivors = [a for a in b.addresses(lb.client) if pids.get(a) != cutter.killed[0]]
            _, got, _ = lb.client.submit(H.read_all, shared, workers=survivors[:1], pure=False).result(timeout=60)
            check_sums(got, sums)
    finally:
        cutter.stop.set()
        cutter.join(10)
    lb.wait_workers(4)


def test_doctests(run_doctests):
    run_doctests(_host)
