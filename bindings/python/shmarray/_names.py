"""Segment names and directories (spec §2), and OS errors mapped to codes.

Pure standard library. Mirrors ``format/names.go`` (ValidSegmentName),
``arena/dir.go`` (Dir, Path) and ``arena/errno_linux.go`` (osError), so that
Python and Go accept the same names and report the same codes.
"""

from __future__ import annotations

import errno as _errno
import os

from ._errors import (InvalidArgumentError, IOFailureError, NotASegmentError, NotFoundError,
                      ExistsError, NoSpaceError, PermissionDeniedError, ShmarrayError)

MAX_SEGMENT_NAME_LEN = 200
"""The longest segment name, in bytes."""

DEFAULT_DIR = "/dev/shm"
"""Where segments live when neither the call nor ``$SHMARRAY_DIR`` names a directory."""

ENV_DIR = "SHMARRAY_DIR"
"""The environment variable that overrides :data:`DEFAULT_DIR`."""

_ALLOWED = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


def validate_segment_name(name: object) -> str:
    """Check a segment name against spec §2.1 and return it.

    1 to 200 bytes of ``[A-Za-z0-9._-]``, not starting with ``.`` (reserved
    for writers' temporary files), not containing ``..``. Raises
    :class:`InvalidArgumentError` saying which rule failed; nothing touches the
    file system before this check.

    >>> validate_segment_name("prices-2024.v1")
    'prices-2024.v1'
    >>> validate_segment_name("a/b")
    Traceback (most recent call last):
      ...
    shmarray.InvalidArgumentError: segment name 'a/b' has the byte '/' at 1; use only letters, digits, '.', '_' and '-'
    """
    if not isinstance(name, str):
        raise InvalidArgumentError(f"segment name must be a str, not {type(name).__name__}")
    raw = name.encode("utf-8", "surrogatepass")
    if not raw:
        raise InvalidArgumentError("segment name is empty")
    if len(raw) > MAX_SEGMENT_NAME_LEN:
        raise InvalidArgumentError(
            f"segment name is {len(raw)} bytes, the limit is {MAX_SEGMENT_NAME_LEN}")
    if raw[0] == 0x2E:
        raise InvalidArgumentError(
            f"segment name {name!r} starts with '.', which is reserved for temporary files")
    if b".." in raw:
        raise InvalidArgumentError(f"segment name {name!r} contains \"..\"")
    for i, c in enumerate(raw):
        if c not in _ALLOWED:
            raise InvalidArgumentError(
                f"segment name {name!r} has the byte {chr(c)!r} at {i}; "
                "use only letters, digits, '.', '_' and '-'")
    return name


def resolve_dir(dir: str | os.PathLike | None = None) -> str:
    """The segment directory for a call (spec §2.2), first match wins.

    ``dir`` itself if given and not empty, else ``$SHMARRAY_DIR`` if set and not
    empty, else ``/dev/shm``.

    >>> resolve_dir("/tmp/segs")
    '/tmp/segs'
    """
    if dir is not None:
        d = os.fspath(dir)
        if d:
            return d
    env = os.environ.get(ENV_DIR, "")
    return env if env else DEFAULT_DIR


def segment_path(name: object, dir: str | os.PathLike | None = None) -> tuple[str, str]:
    """Validate ``name`` and return ``(path, resolved_dir)`` of that segment.

    >>> segment_path("prices", "/tmp/segs")
    ('/tmp/segs/prices', '/tmp/segs')
    """
    validate_segment_name(name)
    d = resolve_dir(dir)
    return os.path.normpath(os.path.join(d, name)), d  # like Go's filepath.Join


def os_error(op: str, name: str, path: str, err: OSError) -> ShmarrayError:
    """Turn an OSError into the spec's code for it, naming the segment and the fix.

    The same table as ``arena/errno_linux.go``: ENOENT and ENOTDIR are
    NOT_FOUND, EACCES/EPERM/EROFS PERMISSION_DENIED, ELOOP (a symbolic link
    refused by O_NOFOLLOW) NOT_A_SEGMENT, ENAMETOOLONG INVALID_ARGUMENT, any
    other errno IO_ERROR.
    """
    e = err.errno
    text = os.strerror(e) if e is not None else str(err)
    if e == _errno.ENOENT:
        return NotFoundError(
            f"{op} segment {name!r}: {path} does not exist "
            "(check the name and the directory; list segments with shmarray.list_segments)")
    if e == _errno.EEXIST:
        return ExistsError(f"{op} segment {name!r}: {path} already exists "
                           "(choose another name, or unlink the old segment first)")
    if e in (_errno.ENOSPC, _errno.EDQUOT):
        return NoSpaceError(f"{op} segment {name!r}: {path}: {text} "
                            f"(set {ENV_DIR} or the dir argument to a larger directory, or enlarge it)")
    if e in (_errno.EACCES, _errno.EPERM, _errno.EROFS):
        return PermissionDeniedError(f"{op} segment {name!r}: {path}: {text}")
    if e == _errno.ELOOP:
        return NotASegmentError(
            f"{op} segment {name!r}: {path} is a symbolic link; "
            "segments are regular files and links are not followed")
    if e == _errno.ENOTDIR:
        return NotFoundError(f"{op} segment {name!r}: a component of {path} is not a directory")
    if e == _errno.ENAMETOOLONG:
        return InvalidArgumentError(f"{op} segment {name!r}: path {path} is too long")
    return IOFailureError(f"{op} segment {name!r} ({path}): {text}")
