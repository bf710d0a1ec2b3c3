"""The segments of a directory: :func:`list_segments`, :func:`unlink` and
:func:`gc`, all done by the C core (capi/sa_list.c) from headers alone,
never mapping a file. The same rules as ``arena.List``/``Unlink``/``GC``
(Go) and ``shmarray_list``/``shmarray_unlink``/``shmarray_gc`` (C); no Go
is loaded, so they work in forked workers.
"""

from __future__ import annotations

import dataclasses
import datetime
import os

from . import _native
from ._errors import ShmarrayError, error_for
from ._desc import created

__all__ = ["SegmentInfo", "list_segments", "unlink", "gc"]


@dataclasses.dataclass(frozen=True)
class SegmentInfo:
    """One segment found by :func:`list_segments`, from its header alone.

    ``error`` is None, or the exception describing a file that starts like a
    segment but is not a valid one (another major version, not sealed,
    truncated); the other fields are then best effort (0 / None).
    """
    name: str
    path: str
    size: int
    arrays: int
    created: datetime.datetime | None
    creator_pid: int
    creator_alive: bool
    ephemeral: bool
    error: ShmarrayError | None = None

    @property
    def orphan(self) -> bool:
        """The segment was meant to die with its creator (EPHEMERAL) and the creator is gone."""
        return self.ephemeral and not self.creator_alive


def _dir(dir) -> str | None:
    return None if dir is None else os.fspath(dir)


def _info(d: str, e: tuple) -> SegmentInfo:
    name, size, arrays, created_ns, pid, alive, ephemeral, status, message, temp = e
    # (for a temporary file, temp: created_ns is its modification time)
    return SegmentInfo(name, os.path.join(d, name), size, arrays, created(created_ns), pid, alive, ephemeral,
                       error_for(status, message) if status else None)


def list_segments(dir: str | os.PathLike | None = None) -> list[SegmentInfo]:
    """The segments in ``dir`` (else ``$SHMARRAY_DIR``, else /dev/shm), sorted by name.

    Skips invalid names (including the reserved ``.``-prefixed temporary
    files), symbolic links, non-regular files and files without the magic.
    Reads 128 bytes per file and maps none. Errors: :class:`NotFoundError` if
    the directory does not exist, :class:`PermissionDeniedError`.

    >>> import shmarray
    >>> [s.name for s in shmarray.list_segments() if s.name == "example"]
    ['example']
    """
    d = _native.resolve_dir(_dir(dir))
    return [_info(d, e) for e in _native.list_segments(_dir(dir))]


def unlink(name: str, *, dir: str | os.PathLike | None = None) -> None:
    """Remove the segment ``name`` from its directory (``dir``, else
    ``$SHMARRAY_DIR``, else /dev/shm).

    Processes that have it attached keep reading it; its memory is freed when
    the last mapping goes. A file that is not a shmarray segment is never
    removed (:class:`NotASegmentError`). Errors: :class:`InvalidArgumentError`,
    :class:`NotFoundError`, :class:`NotASegmentError`,
    :class:`PermissionDeniedError`.

    >>> import shmarray
    >>> shmarray.unlink("no-such-segment")
    Traceback (most recent call last):
      ...
    shmarray.NotFoundError: shmarray: not found: unlink segment "no-such-segment": ... does not exist (...)
    """
    _native.unlink(name, _dir(dir))


def gc(dir: str | os.PathLike | None = None, dry_run: bool = False) -> list[SegmentInfo]:
    """Remove the orphaned segments of ``dir`` (else ``$SHMARRAY_DIR``, else /dev/shm).

    An orphan was created with ``unlink_on_exit=True`` by a process that no
    longer runs (it was killed, or crashed, before it could unlink). A
    segment created without that request, or whose creator still runs, is
    never removed. Each segment's header is read again just before it is
    unlinked, so a segment published under the same name in the meantime
    stays. The hidden temporary files (``.shmarray-tmp-PID-…``) that a
    writer on the fallback publication path left when it died go too, once
    process PID no longer runs; they come back with their hidden name and
    ``error`` set to a :class:`NotSealedError`.

    Returns what was removed (or, with ``dry_run``, what would be): the
    segments, then the temporary files, each sorted by name. It goes on past
    errors and raises the first one at the end, with what it did remove in
    the exception's ``removed`` attribute. Errors: :class:`NotFoundError` (no
    such directory), :class:`PermissionDeniedError`. Pids mean something
    only in the creator's pid namespace: do not gc a directory shared with
    processes of another one.

    >>> import shmarray, tempfile
    >>> shmarray.gc(tempfile.mkdtemp())
    []
    """
    d = _native.resolve_dir(_dir(dir))
    entries, code, message = _native.gc(_dir(dir), bool(dry_run))
    removed = [_info(d, e) for e in entries]
    if code:
        err = error_for(code, message)
        err.removed = removed
        raise err
    return removed
