"""The client side of :mod:`shmarray.dask`: :func:`share`, :class:`Shared`
and the first distribution of a segment to the hosts that lack it."""

from __future__ import annotations

import asyncio
import collections
import os
import time
import uuid

import distributed

import shmarray

from . import _worker as W
from ._host import HEADER_BYTES, OPEN_FLAGS, file_id, fingerprint


class Shared:
    """A segment made available on every host of a Dask cluster; see
    :func:`share`. It pickles to a few hundred bytes whatever the segment's
    size, so pass it to tasks freely: inside a task, :meth:`segment` is the
    local copy. Used as a context manager, it is released at the end."""

    def __init__(self, spec: W.Spec, client: distributed.Client | None = None):
        self._spec, self._client = spec, client

    @property
    def name(self) -> str:
        """The segment's name, the same on every host."""
        return self._spec.name

    @property
    def size(self) -> int:
        """The size of the segment's file: what crosses the network once per host."""
        return self._spec.size

    @property
    def fingerprint(self) -> str:
        """The identity of the shared version (a hash of the segment's header)."""
        return self._spec.fingerprint

    def segment(self, timeout: float | None = None) -> shmarray.Segment:
        """The segment, attached from this worker's host (in a task), waiting
        up to ``timeout`` seconds (default: the share's) for a copy still on
        its way to this host. See :func:`shmarray.dask.attach`."""
        return attach(self._spec.name, timeout=timeout, _fingerprint=self._spec.fingerprint)

    def status(self) -> dict[str, dict]:
        """For each worker (by address): its host, and whether the segment is
        ``attached`` (the host had it), ``received`` (this worker brought the
        host its copy; ``bytes_received`` says how much came), ``pending``,
        ``failed`` (with ``error``) or ``missing`` (no plugin)."""
        return self._live_client().run(W.report, self._spec.plugin_name, on_error="return")

    def release(self) -> dict[str, str]:
        """Stop sharing and unlink the copies on every host: workers and hosts
        that join later no longer get one, and every host reachable through a
        running worker loses its copy (processes that have it attached keep
        reading it until they close it). The original segment, the file
        :func:`share` was given, stays: it is its creator's to unlink.
        Idempotent. Returns, for each worker, ``unlinked``, ``absent`` (no
        copy, or another worker of its host unlinked it), ``original`` or
        ``other`` (a different file under the name, left alone)."""
        client, spec = self._live_client(), self._spec
        try:
            client.unregister_worker_plugin(spec.plugin_name)  # first: no host gets a copy after this
        except ValueError:
            pass  # released already
        return client.run(W.unlink_copy, spec.name, spec.fingerprint, spec.source, on_error="return")

    def _live_client(self) -> distributed.Client:
        if self._client is None:
            self._client = distributed.get_client()
        return self._client

    def __enter__(self) -> "Shared":
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def __reduce__(self):
        return (Shared, (self._spec,))

    def __repr__(self) -> str:
        return f"<shmarray.dask.Shared {self._spec.name!r}, {self._spec.size} bytes per host>"


Shared.__module__ = "shmarray.dask"


def attach(name: str, *, timeout: float | None = None, _fingerprint: str | None = None) -> shmarray.Segment:
    """Segment ``name``, attached from the host of the worker running this
    task: the pages every worker process of that host maps. If the host's copy
    is still on its way (a worker that just joined), waits for it up to
    ``timeout`` seconds (default: the share's timeout). Each call returns a new
    :class:`~shmarray.Segment` (attaching takes microseconds); closing it is
    the caller's business and never affects the copy.

    Outside a Dask worker this is :func:`shmarray.attach`. Errors:
    :class:`~shmarray.NotFoundError` (not shared with this cluster),
    :class:`TransferError` (this host could not get its copy, or not in time).
    """
    try:
        worker = distributed.get_worker()
    except ValueError:
        return shmarray.attach(name)
    prefix = W.plugin_prefix(name)
    plugins = [p for n, p in list(worker.plugins.items()) if n.startswith(prefix)]
    if _fingerprint is not None:
        plugins = [p for p in plugins if p.spec.fingerprint == _fingerprint]
    if not plugins:
        raise shmarray.NotFoundError(f"shmarray.dask: segment {name!r} is not shared with this cluster (or was "
                                     "released): call shmarray.dask.share(client, ...) first")
    plugin = plugins[0]
    rep = plugin.wait(plugin.spec.timeout if timeout is None else timeout)
    if rep["state"] not in ("attached", "received"):
        raise W.TransferError(f"shmarray.dask: segment {name!r} is not available on this host "
                              f"({rep.get('host')}): {rep['state']}: {rep.get('error')}")
    seg = shmarray.attach(name)
    if _mapped_fingerprint(seg) != plugin.spec.fingerprint:  # the very version shared, not one published since
        seg.close()
        raise shmarray.ExistsError(f"shmarray.dask: segment {name!r} on this host is no longer the version shared")
    return seg


def _mapped_fingerprint(seg: shmarray.Segment) -> str:
    """The fingerprint of the version seg has mapped (not of whatever file
    its name holds now)."""
    return fingerprint(bytes(memoryview(seg._h.memory())[:HEADER_BYTES]))


def share(client: distributed.Client, segment: shmarray.Segment | str, *, dir: str | os.PathLike | None = None,
          chunk_size: int = 32 << 20, window: int = 4, timeout: float = 600.0,
          direct: bool | None = None) -> Shared:
    """Make ``segment`` (a :class:`~shmarray.Segment`, or the name of one in
    ``dir``) available on every host of the cluster of ``client``, one copy
    per host, and return the :class:`Shared` handle once every current worker
    can attach it.

    A host is a segment directory of one running kernel (see
    :func:`host_identity`). Hosts whose directory already holds this segment
    (the client's own host, in a :class:`~distributed.LocalCluster`) get
    nothing. One worker of every other host receives a copy, in chunks of
    ``chunk_size`` bytes (``window`` of them in flight): each chunk leaves its
    source once — a worker whose host holds the segment, or, if none does,
    this client, through ``Client.scatter`` (``direct`` as there) — and Dask
    carries it to the receivers, from any worker that holds it already. The
    other workers of a host attach the same pages. Every copy is checked on
    arrival by the segment's own checksums (full validation) and published
    atomically; a transfer cut off leaves nothing visible. A worker plugin
    then checks every worker: a host whose receiver failed, and workers and
    hosts that join later, pull their copy from workers that hold one (one
    worker per host, elected by a lock on its segment directory).

    ``timeout`` bounds, in seconds, how long one host may take to get its copy.
    If some current worker cannot attach the segment in time, every copy made
    is removed again and :class:`TransferError` says what happened on which
    worker. Sharing the same segment again returns a handle to the same share.

    Errors: :class:`~shmarray.ExistsError` (a host holds another file under the
    name, or another version of the segment is shared already),
    :class:`TransferError`, :class:`~shmarray.InvalidArgumentError` (no workers;
    a chunk size under 4 KiB), and those of :func:`shmarray.attach`.
    """
    if chunk_size < 4096 or window < 1:
        raise shmarray.InvalidArgumentError(f"shmarray.dask: chunk_size must be at least 4096 (got {chunk_size}) "
                                            f"and window at least 1 (got {window})")
    opened = not isinstance(segment, shmarray.Segment) or segment.closed
    if opened:  # attached here: validates the name and the segment
        segment = (shmarray.attach(segment.name, dir=segment.dir) if isinstance(segment, shmarray.Segment)
                   else shmarray.attach(segment, dir=dir))
    try:
        wanted = _mapped_fingerprint(segment)
    finally:
        if opened:
            segment.close()
    fd = os.open(segment.path, OPEN_FLAGS)
    try:
        st = os.fstat(fd)
        spec = W.Spec(name=segment.name, size=st.st_size, fingerprint=fingerprint(os.pread(fd, HEADER_BYTES, 0)),
                      source=file_id(st), chunk_size=int(chunk_size), window=int(window), timeout=float(timeout))
        if spec.fingerprint != wanted:
            raise shmarray.ExistsError(f"shmarray.dask: segment {spec.name!r} was replaced under its name since it "
                                       "was attached: attach it again to share the version it names now")
        prefix = W.plugin_prefix(spec.name)
        shared = client.run_on_scheduler(lambda dask_scheduler: [n for n in dask_scheduler.worker_plugins
                                                                 if n.startswith(prefix)])
        others = [n for n in shared if n != spec.plugin_name]
        if others:
            raise shmarray.ExistsError(f"shmarray.dask: another version of segment {spec.name!r} is shared with "
                                       f"this cluster already ({others[0]}): release it first")
        handle = Shared(spec, client)
        new = spec.plugin_name not in shared
        try:
            if new:
                _distribute(client, spec, fd, direct)
                client.register_plugin(W.SharePlugin(spec), name=spec.plugin_name)
            _wait_everywhere(client, spec)
        except BaseException:
            if new:  # every copy this call made goes; a share made before stays for whoever holds it
                handle.release()
            raise
    finally:
        os.close(fd)
    return handle


def _wait_everywhere(client: distributed.Client, spec: W.Spec) -> None:
    """Wait until every worker of the cluster has the segment; TransferError
    naming each worker that failed. A worker that leaves meanwhile does not
    count (its host's other workers, or its restarted process, do)."""
    deadline = time.monotonic() + spec.timeout
    while True:
        left = max(1.0, deadline - time.monotonic())
        reports = client.run(W.wait_ready, spec.plugin_name, left, on_error="return")
        alive = set(client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.workers)))
        states = {a: r["state"] if isinstance(r, dict) else "unreachable" for a, r in reports.items() if a in alive}
        failed = {a: reports[a] for a, st in states.items() if st in ("failed", "pending")}
        if failed:
            lines = "; ".join(f"{a} ({r.get('host')}): {r['state']}: {r.get('error') or 'not in time'}"
                              for a, r in sorted(failed.items()))
            raise W.TransferError(f"shmarray.dask: segment {spec.name!r} could not be shared with every worker, so "
                                  f"it was released again: {lines}")
        if states and alive <= set(states) and all(st in ("attached", "received") for st in states.values()):
            return
        if time.monotonic() > deadline:
            raise W.TransferError(f"shmarray.dask: segment {spec.name!r}: workers {sorted(alive - set(states))} "
                                  f"did not report within {spec.timeout:.0f} s, so it was released again")
        time.sleep(0.2)  # workers joined, left or were still setting up: ask again


def _distribute(client: distributed.Client, spec: W.Spec, fd: int, direct: bool | None) -> None:
    """Bring a copy to every host of the cluster that lacks one, in one
    pipelined pass. Each chunk leaves its source once — read by a task on a
    worker whose host holds the segment, or, if none does, read here from
    ``fd`` and scattered to the first receiver — and write tasks on one
    worker of each host that lacks it take it, Dask carrying the bytes
    between workers (from any that holds them already). A receiver that
    fails or leaves is dropped: its host pulls a copy afterwards, through the
    plugin. TransferError if the source is lost, or if no copy could be made
    where none existed."""
    replies = client.run(W.probe, spec.name, spec.fingerprint, on_error="return")
    replies = {a: r for a, r in replies.items() if isinstance(r, dict)}
    if not replies:
        raise shmarray.InvalidArgumentError("shmarray.dask: the cluster has no workers to share with (start them, "
                                            "or client.wait_for_workers(n), first)")
    clash = sorted(a for a, r in replies.items() if r["other"])
    if clash:
        raise shmarray.ExistsError(f"shmarray.dask: segment {spec.name!r}: the host of worker {clash[0]} "
                                   f"({replies[clash[0]]['host']}) holds another file under that name, which is "
                                   "never replaced: unlink it there, or share under another name")
    hosts: dict[str, list[str]] = {}
    for addr in sorted(replies):
        hosts.setdefault(replies[addr]["host_key"], []).append(addr)
    holders = sorted(a for a, r in replies.items() if r["has"])
    receivers = sorted(addrs[0] for addrs in hosts.values() if not any(replies[a]["has"] for a in addrs))
    if receivers:
        _Fanout(client, spec, receivers, scatter_to=None if holders else receivers[0]).run(fd, holders, direct)


class _Left(W.TransferError):
    """A worker a transfer depends on left the cluster."""

    def __init__(self, worker: str):
        super().__init__(f"shmarray.dask: worker {worker} left the cluster during the transfer")
        self.worker = worker


class _Late(W.TransferError):
    """The transfer ran past its deadline."""


class _Fanout:
    """One pushed copy per receiver (one worker per host), fed chunk by chunk
    from one source; see :func:`_distribute`."""

    def __init__(self, client: distributed.Client, spec: W.Spec, receivers: list[str], scatter_to: str | None):
        self.client, self.spec, self.scatter_to = client, spec, scatter_to
        self.tids = {r: uuid.uuid4().hex for r in receivers}
        self.live = list(receivers)
        self.dropped: dict[str, str] = {}
        self.deadline = time.monotonic() + spec.timeout

    def submit(self, fn, r: str, step, *args) -> distributed.Future:
        return self.client.submit(fn, self.tids[r], *args, workers=[r], allow_other_workers=False, pure=False,
                                  key=f"shmarray-push-{self.spec.name}-{self.tids[r]}-{step}")

    def run(self, fd: int, holders: list[str], direct: bool | None) -> None:
        spec, client = self.spec, self.client
        pending: collections.deque = collections.deque()
        try:
            self.settle(None, {r: self.submit(W.push_begin, r, "begin", spec) for r in self.live})
            for i, off in enumerate(range(0, spec.size, spec.chunk_size)):
                n = min(spec.chunk_size, spec.size - off)
                if self.scatter_to is None:
                    source = holders[i % len(holders)]
                    chunk = client.submit(W.read_chunk, spec.name, spec.fingerprint, off, n, workers=[source],
                                          allow_other_workers=False, pure=False,
                                          key=f"shmarray-read-{spec.name}-{off}-{uuid.uuid4().hex[:8]}")
                else:
                    source = self.scatter_to
                    data = W.read_chunk_from(fd, spec.fingerprint, off, n, "the segment")
                    [chunk] = client.scatter([data], workers=[source], hash=False, direct=direct)
                    del data
                pending.append((source, {r: self.submit(W.push_write, r, off, off, chunk) for r in self.live}))
                del chunk  # the write tasks hold it until they have run
                while len(pending) >= spec.window:
                    self.settle(*pending.popleft())
            while pending:
                self.settle(*pending.popleft())
            self.settle(None, {r: self.submit(W.push_publish, r, "publish") for r in self.live})
        except BaseException:
            for _, futs in pending:
                client.cancel(list(futs.values()))
            for r in list(self.live):
                self.drop(r, "the transfer was abandoned")
            raise
        if not self.live and not holders:
            raise W.TransferError(f"shmarray.dask: segment {spec.name!r} reached no host: "
                                  + "; ".join(f"{r}: {why}" for r, why in sorted(self.dropped.items())))

    def settle(self, source: str | None, futs: dict[str, distributed.Future]) -> None:
        """Wait for one step on every receiver; drop those that fail or
        leave. Raises if the source leaves (every later chunk would wait
        for it), including the worker the chunks are scattered to."""
        for r, fut in futs.items():
            if r not in self.live:
                fut.cancel()
                continue
            try:
                _result(self.client, fut, [r] if source is None else [r, source], self.deadline)
            except _Left as e:
                if e.worker != r or r == self.scatter_to:
                    raise
                self.drop(r, str(e))
            except _Late:
                raise
            except Exception as e:  # the task failed on that receiver
                self.drop(r, f"{type(e).__name__}: {e}")

    def drop(self, r: str, why: str) -> None:
        """Give up the copy of receiver ``r`` (its worker drops what it received)."""
        self.live.remove(r)
        self.dropped[r] = why
        if r in self.client.scheduler_info().get("workers", {}):
            try:
                self.submit(W.push_abort, r, "abort").result(timeout=10)
            except Exception:
                pass  # the worker's sweeper drops the copy anyway


def _result(client: distributed.Client, fut: distributed.Future, workers: list[str], deadline: float):
    """The result of ``fut``, a task that needs ``workers``; _Left at once if
    one of them leaves (a task pinned to it would wait forever), _Late when
    ``deadline`` passes."""
    while True:
        try:
            return fut.result(timeout=1.0)
        except (TimeoutError, asyncio.TimeoutError):  # one class from Python 3.11 on
            pass
        alive = client.scheduler_info().get("workers", {})
        for w in workers:
            if w not in alive:
                raise _Left(w)
        if time.monotonic() > deadline:
            raise _Late(f"shmarray.dask: workers {workers} did not receive the segment in time")
