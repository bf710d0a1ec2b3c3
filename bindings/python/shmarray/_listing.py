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
    ``creator_unknown`` is set when the creator cannot be judged from this
    process (spec §10.5): pid 0, a creator that started before this
    process's pid namespace existed (so it ran in another one), or a
    ``/proc`` that hides what is needed. Such a segment is never an orphan,
    and ``creator_alive`` is then False. ``id`` (32 hex digits) and
    ``version`` are the segment's identity (format 1.2, as
    :attr:`Segment.id` and :attr:`Segment.version`); all zeros and 0 for a
    segment written before format 1.2. ``building`` marks the hidden file
    of a segment being built whose builder handed out output handles
    (:meth:`Builder.output`, spec §10.6): ``name`` is that hidden name
    (never attachable), ``creator_pid`` the builder, ``error`` a
    :class:`NotSealedError` naming the segment.
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
    creator_unknown: bool = False
    id: str = "0" * 32
    version: int = 0
    building: bool = False

    @property
    def orphan(self) -> bool:
        """The segment was meant to die with its creator (EPHEMERAL) and the creator is proven gone."""
        return self.ephemeral and not self.creator_alive and not self.creator_unknown


def _dir(dir) -> str | None:
    return None if dir is None else os.fspath(dir)


def _info(d: str, e: tuple) -> SegmentInfo:
    name, size, arrays, created_ns, pid, alive, ephemeral, status, message, temp, unknown, id, version, building = e
    # (for a temporary or building file: created_ns is its modification time)
    return SegmentInfo(name, os.path.join(d, name), size, arrays, created(created_ns), pid, alive, ephemeral,
                       error_for(status, message) if status else None, unknown, id.hex(), version, building)


def list_segments(dir: str | os.PathLike | None = None) -> list[SegmentInfo]:
    """The segments in ``dir`` (else ``$SHMARRAY_DIR``, else /dev/shm), sorted by name.

    The directory is opened once (a symbolic link to it is followed) and
    every file relative to it. Skips invalid names (including the reserved
    ``.``-prefixed temporary files, except those of segments being built:
    ``building``), symbolic links, non-regular files and files without the
    magic. Reads 128 bytes per file and maps none; paths
    are absolute. Errors: :class:`NotFoundError` if the directory does not
    exist, :class:`PermissionDeniedError`.

    >>> import shmarray
    >>> [s.name for s in shmarray.list_segments() if s.name == "example"]
    ['example']
    """
    d, entries = _native.list_segments(_dir(dir))
    return [_info(d, e) for e in entries]


def unlink(name: str, *, dir: str | os.PathLike | None = None) -> None:
    """Remove the segment ``name`` from its directory (``dir``, else
    ``$SHMARRAY_DIR``, else /dev/shm).

    Processes that have it attached keep reading it; its memory is freed when
    the last mapping goes. It removes whatever version the name holds (a
    creator's ``unlink_on_exit`` removes only the version it published). A file that is not a shmarray segment is never
    removed (:class:`NotASegmentError`). The directory is opened once,
    refusing a symbolic link as its last component
    (:class:`InvalidArgumentError`: pass the directory itself), and the name
    is unlinked from it only if it still holds the file that was checked, so
    nothing outside the directory is ever removed, whatever happens to its
    path meanwhile (spec §10.5, §15). Errors:
    :class:`InvalidArgumentError`, :class:`NotFoundError` (also when the name
    was replaced during the call), :class:`NotASegmentError`,
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

    An orphan was created with ``unlink_on_exit=True`` by a process that is
    proven gone (it was killed, or crashed, before it could unlink), judged
    by its pid and start time across pid namespaces (spec §10.5; a creator
    that cannot be judged from here, ``creator_unknown``, is never gone). A
    segment created without that request, or whose creator may still run,
    is never removed. With versions, gc judges the version the name holds
    now: an ephemeral version that another process replaced (with
    ``unlink_on_exit=False``) is no orphan, and a replacing writer killed
    midway leaves the old version under the name and at most a hidden
    temporary file, removed as below. The hidden temporary files (``.shmarray-tmp-PID-…``)
    that a writer on the fallback publication path left when it died go
    too, when they are proven to be such leftovers: a regular file with one
    link whose writer PID is gone, your own holding only zeros or the
    segment magic at its start, or, for root, anyone's starting with the
    magic. They come back with their hidden name and ``error`` set to a
    :class:`NotSealedError`. Every other file, and in a directory with the
    sticky bit the files you may not remove, is left alone silently.

    The directory is opened once, refusing a symbolic link as its last
    component (:class:`InvalidArgumentError`), each file is judged from a
    descriptor opened relative to it, and its name is unlinked only while it
    still holds that file: nothing outside the directory is ever removed.

    Returns what was removed (or, with ``dry_run``, what would be): the
    segments, then the temporary files, each sorted by name. A file it means
    to remove and cannot does not stop it: at the end it raises the error of
    the first such file, whose ``removed`` attribute lists what it did remove
    and ``errors`` one exception per file not removed, each naming its file.
    Errors: :class:`NotFoundError` (no such directory),
    :class:`InvalidArgumentError`, :class:`PermissionDeniedError`,
    :class:`IOFailureError`.

    >>> import shmarray, tempfile
    >>> shmarray.gc(tempfile.mkdtemp())
    []
    """
    d, entries, code, message, failures = _native.gc(_dir(dir), bool(dry_run))
    removed = [_info(d, e) for e in entries] if d is not None else []
    if code:
        errors = [error_for(c, m) for c, m in failures]
        err = errors[0] if errors else error_for(code, message)
        err.removed = removed
        err.errors = errors or [err]
        raise err
    return removed
