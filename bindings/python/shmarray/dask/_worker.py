"""The worker side of :mod:`shmarray.dask`: what runs inside Dask workers.

Two ways a copy reaches a host, both ending in a :class:`shmarray.Receiver`
(verified in full, published atomically, never replacing):

* pushed, when the segment is shared: the client runs :func:`push_write`
  tasks on one worker of each host that lacks the segment
  (:func:`push_begin` ... :func:`push_publish`), fed with chunks read by
  :func:`read_chunk` tasks on a worker that holds it, or scattered from the
  client;
* pulled, by the :class:`SharePlugin`, on a host that still lacks it (its
  receiver failed, or it joined later): the one worker of the host that
  wins the directory lock runs :func:`read_chunk` tasks on workers that
  hold the segment and writes what they return.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import os
import threading
import time
import uuid

import numpy as np
from distributed import Client, WorkerPlugin

import shmarray

from ._host import HEADER_BYTES, OPEN_FLAGS, DirLock, fingerprint, host_identity, local_file, segment_dir

_POLL = 0.1  # seconds between looks at a directory lock held by another process


class TransferError(shmarray.IOFailureError):
    """A copy could not be brought to a host: a worker left during the
    transfer, no worker holds the segment, the bytes changed, or time ran out.
    Nothing was published on that host."""


TransferError.__module__ = "shmarray.dask"


@dataclasses.dataclass(frozen=True)
class Spec:
    """What every worker is told about one shared segment (pickled into the
    plugin and into every :class:`~shmarray.dask.Shared`)."""

    name: str
    size: int
    fingerprint: str  # of the header: one published version (_host.fingerprint)
    source: str  # file id of the original, which release never unlinks
    chunk_size: int
    window: int  # chunks in flight per copy
    timeout: float  # seconds for one host to get its copy

    @property
    def plugin_name(self) -> str:
        return f"{plugin_prefix(self.name)}{self.fingerprint}"


def plugin_prefix(name: str) -> str:
    """Plugins of every version of segment ``name`` start with this."""
    return f"shmarray:{name}:"


def read_chunk_from(fd: int, fp: str, offset: int, size: int, what: str) -> np.ndarray:
    """``size`` bytes at ``offset`` of the segment file open as ``fd``, after
    checking that it is version ``fp`` (``what`` names it in errors). A
    NumPy array of bytes: Dask sends and receives those without copying."""
    if fingerprint(os.pread(fd, HEADER_BYTES, 0)) != fp:
        raise TransferError(f"shmarray.dask: {what} is not the version being shared (its header differs): it "
                            "was unlinked and published again during the transfer")
    data = np.empty(size, dtype=np.uint8)
    got = 0
    while got < size:
        n = os.preadv(fd, [data[got:]], offset + got)
        if n == 0:
            raise TransferError(f"shmarray.dask: {what} has {offset + got} bytes, expected at least "
                                f"{offset + size}: it was truncated")
        got += n
    return data


def read_chunk(name: str, fp: str, offset: int, size: int) -> np.ndarray:
    """A task run on a worker that holds segment ``name``: a chunk of its file."""
    path = os.path.join(segment_dir(), name)
    fd = os.open(path, OPEN_FLAGS)
    try:
        return read_chunk_from(fd, fp, offset, size, path)
    finally:
        os.close(fd)


class _Copy:
    """One copy arriving on this worker into directory ``dir``, whose lock
    the caller holds and hands over: released when the copy is published or
    dropped. If the directory already holds the segment, there is nothing to
    receive and every write is ignored."""

    def __init__(self, spec: Spec, dir: str, lock: DirLock):
        self.spec, self.dir, self._lock = spec, dir, lock
        self.received, self.touched = 0, time.monotonic()
        self.receiver: shmarray.Receiver | None = None
        try:
            if not _present(spec, dir):
                try:
                    self.receiver = shmarray.Receiver(spec.name, spec.size, dir=dir)
                except shmarray.ExistsError:
                    if not _present(spec, dir):
                        raise
        except BaseException:
            lock.release()
            raise

    def write(self, offset: int, data) -> None:
        self.touched = time.monotonic()
        if self.receiver is None:
            return
        if offset == 0 and fingerprint(memoryview(data)[:HEADER_BYTES]) != self.spec.fingerprint:
            raise TransferError(f"shmarray.dask: segment {self.spec.name!r}: the bytes that arrived are not "
                                "those of the version being shared (its header differs)")
        self.receiver.write(offset, data)
        self.received += len(data)

    def publish(self) -> None:
        """Verify and publish; a copy published by someone else meanwhile is
        as good (EXISTS with the same header)."""
        try:
            if self.receiver is not None:
                try:
                    self.receiver.publish().close()
                except shmarray.ExistsError:
                    if not _present(self.spec, self.dir):
                        raise
        finally:
            self._lock.release()

    def discard(self) -> None:
        if self.receiver is not None:
            self.receiver.discard()
        self._lock.release()


def _locked(spec: Spec, dir: str, deadline: float) -> DirLock:
    """The lock of ``dir``, waited for until ``deadline`` (blocking: tasks only)."""
    lock = DirLock(dir)
    while not lock.try_acquire():
        if time.monotonic() > deadline:
            lock.release()
            raise TransferError(f"shmarray.dask: segment {spec.name!r}: another process of this host ({dir}) "
                                f"kept receiving it for {spec.timeout:.0f} s")
        time.sleep(_POLL)
    return lock


def _present(spec: Spec, dir: str) -> bool:
    """Whether ``dir`` holds this version; ExistsError if it holds another
    file under the name (which is never replaced)."""
    here = local_file(spec.name, dir)
    if here is None:
        return False
    if here.fingerprint != spec.fingerprint:
        raise shmarray.ExistsError(
            f"shmarray.dask: segment {spec.name!r}: {os.path.join(dir, spec.name)} on this host is another file "
            "(another version, or not a segment); it is never replaced: unlink it there, or share under another "
            "name")
    return True


# -- pushed copies: tasks the client runs on the receiving worker of a host --

_pushed: dict[str, _Copy] = {}
_pushed_lock = threading.Lock()
# (name, fingerprint) -> bytes of the copies this process received by push,
# for the plugin's report.
_pushed_here: dict[tuple[str, str], int] = {}
_sweeper: threading.Thread | None = None


def _sweep() -> None:
    """Drop pushed copies whose client stopped sending (it died, or lost the
    connection): their reserved space goes back and nothing is published."""
    while True:
        time.sleep(1.0)
        now = time.monotonic()
        with _pushed_lock:
            stale = [t for t, c in _pushed.items() if now - c.touched > c.spec.timeout]
            copies = [_pushed.pop(t) for t in stale]
        for c in copies:
            c.discard()


def push_begin(tid: str, spec: Spec) -> None:
    """Task: start receiving the copy ``tid`` on this worker."""
    global _sweeper
    d = segment_dir()
    copy = _Copy(spec, d, _locked(spec, d, time.monotonic() + spec.timeout))
    with _pushed_lock:
        _pushed[tid] = copy
        if _sweeper is None:
            _sweeper = threading.Thread(target=_sweep, name="shmarray-dask-sweep", daemon=True)
            _sweeper.start()


def _pushed_copy(tid: str) -> _Copy:
    with _pushed_lock:
        copy = _pushed.get(tid)
    if copy is None:
        raise TransferError(f"shmarray.dask: transfer {tid} is unknown on this worker (it restarted, or the "
                            "transfer was dropped after a pause)")
    return copy


def push_write(tid: str, offset: int, data) -> int:
    """Task: write one chunk of copy ``tid``."""
    _pushed_copy(tid).write(offset, data)
    return len(data)


def push_publish(tid: str) -> None:
    """Task: verify copy ``tid`` and publish it."""
    copy = _pushed_copy(tid)
    with _pushed_lock:
        _pushed.pop(tid, None)
    copy.publish()
    _pushed_here[(copy.spec.name, copy.spec.fingerprint)] = copy.received


def push_abort(tid: str) -> None:
    """Task: drop copy ``tid``; nothing is published."""
    with _pushed_lock:
        copy = _pushed.pop(tid, None)
    if copy is not None:
        copy.discard()


# -- the worker plugin: every worker, now and later -------------------------

def probe(name: str, fp: str) -> dict:
    """Run on each worker (``Client.run``): whether its host holds version
    ``fp`` of segment ``name``, or another file under that name."""
    d = segment_dir()
    here, ident = local_file(name, d), host_identity(d)
    return {"host": str(ident), "host_key": ident.key, "pid": os.getpid(),
            "has": here is not None and here.fingerprint == fp,
            "other": here is not None and here.fingerprint != fp}


class SharePlugin(WorkerPlugin):
    """Makes segment ``spec`` available on the host of every worker it is set
    up on: attaches the copy its host has, or receives one (one worker per
    host, elected by the directory lock) from workers that hold it.

    Setup returns at once and the work goes on in the background, so that a
    worker joining the cluster is not held up; :meth:`wait` (tasks) and
    :func:`wait_ready` (``Client.run``) wait for the outcome, given in
    :attr:`report`."""

    def __init__(self, spec: Spec):
        self.spec = spec

    async def setup(self, worker):
        self._worker, self._released = worker, False
        self._done = threading.Event()
        self.segment: shmarray.Segment | None = None
        self.report = {"worker": worker.address, "pid": os.getpid(), "state": "pending", "bytes_received": 0,
                       "seconds": 0.0, "error": None}
        self._task = asyncio.ensure_future(self._ensure())

    async def teardown(self, worker):
        self._released = True
        task = getattr(self, "_task", None)
        if task is not None and not task.done():
            task.cancel()
            # A chunk write or the publication may be running in a thread:
            # wait for it, so that nothing is published after teardown.
            await asyncio.wait({task}, timeout=max(30.0, self.spec.timeout / 10))
        seg, self.segment = self.segment, None
        if seg is not None:
            seg.close()

    def wait(self, timeout: float | None) -> dict:
        """From a task thread: wait until this host has the segment (or it
        failed) and return :attr:`report`."""
        if not self._done.wait(timeout):
            raise TransferError(f"shmarray.dask: segment {self.spec.name!r} did not reach this host "
                                f"({self.report.get('host')}) within {timeout} s")
        return self.report

    async def _ensure(self) -> None:
        spec, started = self.spec, time.monotonic()
        d = segment_dir()
        lock = None
        try:
            ident = host_identity(d)
            self.report.update(host=str(ident), host_key=ident.key)
            deadline = started + spec.timeout
            while True:
                if await asyncio.to_thread(_present, spec, d):
                    break
                if lock is None:
                    lock = DirLock(d)
                if lock.try_acquire():
                    lock, held = None, lock  # handed over to the copy, which releases it
                    if await self._pull(d, held, deadline):
                        self.report["state"] = "received"
                    break
                if time.monotonic() > deadline:
                    raise TransferError(f"shmarray.dask: segment {spec.name!r}: another process of this host "
                                        f"({d}) kept receiving it for {spec.timeout:.0f} s")
                await asyncio.sleep(_POLL)
            self.segment = shmarray.attach(spec.name, dir=d)
            pushed = _pushed_here.get((spec.name, spec.fingerprint))
            if pushed:  # the client pushed the host's copy to this very process
                self.report.update(state="received", bytes_received=pushed)
            elif self.report["state"] == "pending":
                self.report["state"] = "attached"
        except asyncio.CancelledError:
            self.report.update(state="released")
            raise
        except Exception as e:
            self.report.update(state="failed", error=f"{type(e).__name__}: {e}")
        finally:
            if lock is not None:
                lock.release()
            self.report["seconds"] = time.monotonic() - started
            self._done.set()

    async def _pull(self, d: str, lock: DirLock, deadline: float) -> bool:
        """Receive the copy of this host from workers that hold it, chunk by
        chunk, ``spec.window`` chunks in flight, spread over the holders.
        ``lock`` is the directory's, held; released when done. False if the
        copy turned out to be there already."""
        spec, me = self.spec, self._worker.address
        copy = await asyncio.to_thread(_Copy, spec, d, lock)
        if copy.receiver is None:
            copy.discard()
            return False
        client = None
        try:
            client = await Client(self._worker.scheduler.address, asynchronous=True, set_as_default=False,
                                  direct_to_workers=True, security=self._worker.security,
                                  name=f"shmarray-pull-{spec.name}")
            holders = await _holders(client, spec, me, deadline)
            todo = collections.deque(range(0, spec.size, spec.chunk_size))
            pending: collections.deque = collections.deque()
            turn = 0
            while todo or pending:
                while todo and len(pending) < spec.window:
                    off = todo.popleft()
                    holder = holders[turn % len(holders)]
                    turn += 1
                    fut = client.submit(read_chunk, spec.name, spec.fingerprint, off,
                                        min(spec.chunk_size, spec.size - off), workers=[holder],
                                        allow_other_workers=False, pure=False,
                                        key=f"shmarray-read-{spec.name}-{off}-{uuid.uuid4().hex[:8]}")
                    pending.append((off, holder, fut))
                off, holder, fut = pending.popleft()
                try:
                    data = await _result(client, fut, holder, deadline)
                except TransferError:
                    raise
                except Exception:
                    # The holder failed or left: read this chunk elsewhere.
                    if holder in holders:
                        holders.remove(holder)
                    if not holders:
                        holders = await _holders(client, spec, me, deadline)
                    todo.appendleft(off)
                    continue
                finally:
                    fut.release()
                if self._released:
                    raise asyncio.CancelledError()
                await asyncio.to_thread(copy.write, off, data)
                self.report["bytes_received"] = copy.received
                del data
            if self._released:
                raise asyncio.CancelledError()
            await asyncio.to_thread(copy.publish)
            copy = None
            return True
        finally:
            if copy is not None:
                copy.discard()
            if client is not None:
                await client.close()


async def _holders(client: Client, spec: Spec, me: str, deadline: float) -> list[str]:
    """Addresses of workers (other than ``me``) whose host holds the segment,
    ordered so that taking them in turn spreads the reads over hosts; waits
    for one to appear until ``deadline``."""
    while True:
        try:
            replies = await asyncio.wait_for(client.run(probe, spec.name, spec.fingerprint, on_error="return"),
                                             timeout=max(1.0, min(30.0, deadline - time.monotonic())))
        except asyncio.TimeoutError:
            replies = {}
        by_host: dict[str, list[str]] = {}
        for addr, r in sorted(replies.items()):
            if addr != me and isinstance(r, dict) and r.get("has"):
                by_host.setdefault(r["host_key"], []).append(addr)
        if by_host:
            rows = list(by_host.values())
            return [row[i] for i in range(max(map(len, rows))) for row in rows if i < len(row)]
        if time.monotonic() > deadline:
            raise TransferError(f"shmarray.dask: segment {spec.name!r}: no worker of the cluster holds it, so this "
                                "host cannot get a copy (share it again from a client that has it)")
        await asyncio.sleep(1.0)


async def _result(client: Client, fut, worker: str, deadline: float):
    """The result of ``fut``, a task pinned to ``worker``; raises
    LookupError at once if that worker leaves (a pinned task would wait for
    it forever), TransferError when ``deadline`` passes."""
    fetch = asyncio.ensure_future(fut.result())  # one fetch of the data, however long the wait
    try:
        while True:
            done, _ = await asyncio.wait({fetch}, timeout=1.0)
            if done:
                return fetch.result()
            if worker not in client.scheduler_info().get("workers", {}):
                raise LookupError(f"worker {worker} left the cluster")
            if time.monotonic() > deadline:
                raise TransferError(f"shmarray.dask: a chunk from {worker} did not come in time")
    finally:
        fetch.cancel()


async def wait_ready(plugin_name: str, timeout: float, *, dask_worker) -> dict:
    """Run on each worker (``Client.run``): wait for the plugin's outcome."""
    plugin = dask_worker.plugins.get(plugin_name)
    task = getattr(plugin, "_task", None)
    if task is None:  # not registered here, or its setup has not run yet
        return {"worker": dask_worker.address, "state": "missing", "error": "the plugin is not set up here"}
    await asyncio.wait({task}, timeout=timeout)
    return dict(plugin.report)


def report(plugin_name: str, *, dask_worker) -> dict:
    """Run on each worker (``Client.run``): the plugin's report, as it is now."""
    plugin = dask_worker.plugins.get(plugin_name)
    if getattr(plugin, "report", None) is None:
        return {"worker": dask_worker.address, "state": "missing", "error": "the plugin is not set up here"}
    return dict(plugin.report)


def unlink_copy(name: str, fp: str, source: str) -> str:
    """Run on each worker (``Client.run``) by release: unlink this host's
    copy of version ``fp``; never the original (file id ``source``), never
    another file under the name."""
    here = local_file(name)
    if here is None:
        return "absent"
    if here.fingerprint != fp:
        return "other"
    if here.file_id == source:
        return "original"
    try:
        shmarray.unlink(name)
    except shmarray.NotFoundError:
        return "absent"  # another worker of this host was first
    return "unlinked"
