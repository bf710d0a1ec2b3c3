"""``shmarray.gc``: remove orphaned segments. Pure Python, like listing.

The same rules as ``arena.GC`` (Go) and ``shmarray_gc`` (C): an orphan is a
segment created with ``unlink_on_exit`` (the EPHEMERAL flag) whose creator no
longer runs, judged by the creator pid and start time in its header (spec
§10.5). Nothing else is ever removed, except the hidden temporary files that
a writer on the fallback publication path (file systems without
``O_TMPFILE``) leaves when it dies before publishing.
"""

from __future__ import annotations

import datetime
import os
import stat

from ._errors import NotSealedError, ShmarrayError
from ._names import os_error, resolve_dir
from ._segment import SegmentInfo, _probe, _process_alive, list_segments, unlink

__all__ = ["gc"]

_TEMP_PREFIX = ".shmarray-tmp-"  # + writer pid + "-" + random hex (arena/os_linux.go)


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
    segments, then the temporary files, each sorted by name. It goes on past errors and raises the first one at the end.
    Errors: :class:`NotFoundError` (no such directory),
    :class:`PermissionDeniedError`. Pids mean something only in the
    creator's pid namespace: do not gc a directory shared with processes of
    another one. Pure Python: works in forked workers.

    >>> import shmarray, tempfile
    >>> shmarray.gc(tempfile.mkdtemp())
    []
    """
    d = resolve_dir(dir)
    removed: list[SegmentInfo] = []
    first: ShmarrayError | None = None
    for info in list_segments(d):
        if not info.orphan:
            continue
        if not dry_run:
            again = _probe(info.name, d)
            if again is None or not _same_orphan(info, again):
                continue  # replaced or removed since listing: not ours to remove
            try:
                unlink(info.name, dir=d)
            except ShmarrayError as e:
                first = first or e
                continue
        removed.append(info)
    for info in _stale_temp_files(d):
        if not dry_run:
            try:
                os.unlink(info.path)
            except FileNotFoundError:
                pass
            except OSError as e:
                first = first or os_error("remove the temporary file of", info.name, info.path, e)
                continue
        removed.append(info)
    if first is not None:
        raise first
    return removed


def _same_orphan(first: SegmentInfo, again: SegmentInfo) -> bool:
    return again.orphan and again.creator_pid == first.creator_pid and again.created == first.created


def _temp_file_pid(name: str) -> int:
    """The writer pid in a fallback temporary name, or 0 if it is not one."""
    if not name.startswith(_TEMP_PREFIX):
        return 0
    digits, sep, _ = name[len(_TEMP_PREFIX):].partition("-")
    if not sep or not digits.isascii() or not digits.isdigit() or not 0 < int(digits) < 2**32:
        return 0
    return int(digits)


def _stale_temp_files(d: str) -> list[SegmentInfo]:
    """The fallback writers' hidden files in d whose writer no longer runs."""
    try:
        entries = sorted(os.scandir(d), key=lambda e: e.name)
    except OSError as e:
        raise os_error("gc", "*", d, e) from None
    out = []
    for e in entries:
        pid = _temp_file_pid(e.name)
        if not pid or _process_alive(pid, 0):
            continue
        try:
            st = e.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode):
            continue
        out.append(SegmentInfo(
            e.name, e.path, st.st_size, 0,
            datetime.datetime.fromtimestamp(st.st_mtime, tz=datetime.timezone.utc), pid, False, False,
            NotSealedError(f"{e.name} is the unfinished temporary file of writer {pid}, "
                           "which no longer runs")))
    return out
