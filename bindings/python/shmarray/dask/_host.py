"""What a worker knows about its own host: which segment directory it uses,
whether that directory holds a given segment, and a lock that elects one
receiver per directory.

A "host" here is a segment directory as the kernel sees it, not a machine
name: two workers are on one host exactly when they open the same directory
object of the same running kernel, because then a file one of them publishes
there is a file the other can map. Its key is the boot id of the kernel
(``/proc/sys/kernel/random/boot_id``: random at every boot, the same in every
container of that kernel) with the device and inode numbers of the directory
(unique among the file systems mounted at once on that kernel, so two
containers with their own ``/dev/shm`` differ while a directory bind-mounted
into both is the same, under whatever path). The host name and resolved path
come along for people to read; where no boot id can be read they join the
key, so that machines are still kept apart.

Correctness does not rest on that identity alone: a worker decides that its
host has the segment by looking into its own directory for a file with the
segment's header, and the one worker per host that receives a copy is
elected by an ``flock`` on the directory itself. The identity groups
workers in reports and keeps the original file out of ``release``.
"""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import hashlib
import os
import socket
import stat

from .. import _native

# Every segment file starts with its fixed-size header (spec §4), which holds
# the file size, creation time, creator and the checksum over the header and
# the metadata area, itself holding every array's data checksum: the header's
# bytes identify one published version of a segment.
HEADER_BYTES = 128

# How segment files are opened for reading (spec §10.4): no link followed,
# no blocking on a FIFO planted under the name.
OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def segment_dir(dir: str | os.PathLike | None = None) -> str:
    """The segment directory a process uses: ``dir``, else ``$SHMARRAY_DIR``,
    else /dev/shm (resolved by the C core, as for every shmarray call)."""
    return _native.resolve_dir(None if dir is None else os.fspath(dir))


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return ""


@dataclasses.dataclass(frozen=True)
class HostIdentity:
    """Where a worker's segments live: see the module documentation.

    ``key`` is what tells hosts apart; two workers with the same key map the
    same pages for the same segment name."""

    hostname: str
    boot_id: str
    dir: str
    dev: int
    ino: int

    @property
    def key(self) -> str:
        # The boot id and the directory's device and inode name one directory
        # of one kernel, whatever path or host name each container gives it.
        # Without a boot id, the host name and path stand in for the kernel.
        where = self.boot_id or f"{self.hostname}\0{self.dir}"
        return _hash(f"{where}\0{self.dev}\0{self.ino}")

    def __str__(self) -> str:
        return f"{self.hostname}:{self.dir}"


def host_identity(dir: str | os.PathLike | None = None) -> HostIdentity:
    """The identity of this process's segment directory (``dir``, else
    ``$SHMARRAY_DIR``, else /dev/shm). Raises OSError if it does not exist.

    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> host_identity(d) == host_identity(d), host_identity(d) == host_identity(tempfile.mkdtemp())
    (True, False)
    """
    d = os.path.realpath(segment_dir(dir))
    st = os.stat(d)
    return HostIdentity(socket.gethostname(), _boot_id(), d, st.st_dev, st.st_ino)


def _hash(raw: str) -> str:
    return hashlib.blake2b(raw.encode("utf-8", "surrogateescape"), digest_size=8).hexdigest()


def file_id(st: os.stat_result) -> str:
    """An identity for one file of this kernel (boot id, else host name;
    device; inode): equal only for the very same file, never for a copy."""
    return _hash(f"{_boot_id() or socket.gethostname()}\0{st.st_dev}\0{st.st_ino}")


def fingerprint(header: bytes) -> str:
    """The identity of one published version of a segment: a hash of its
    header's bytes (which include its checksum)."""
    return hashlib.blake2b(bytes(header[:HEADER_BYTES]), digest_size=16).hexdigest()


@dataclasses.dataclass(frozen=True)
class LocalFile:
    """What a segment directory holds under a segment's name."""

    fingerprint: str  # of the header found there
    size: int
    file_id: str


def local_file(name: str, dir: str | os.PathLike | None = None) -> LocalFile | None:
    """The file called ``name`` in the segment directory, or None if there is
    none. Reads its first bytes only; follows no link, blocks on no FIFO. A
    file that is not regular, or is shorter than a header, has an empty
    fingerprint (it matches no segment)."""
    path = os.path.join(segment_dir(dir), name)
    try:
        fd = os.open(path, OPEN_FLAGS)
    except FileNotFoundError:
        return None
    try:
        st = os.fstat(fd)
        head = os.pread(fd, HEADER_BYTES, 0) if stat.S_ISREG(st.st_mode) else b""
    finally:
        os.close(fd)
    fp = fingerprint(head) if len(head) == HEADER_BYTES else ""
    return LocalFile(fp, st.st_size, file_id(st))


class DirLock:
    """An exclusive ``flock`` on a segment directory: held by the one process
    of a host that receives a copy, so that the other workers of that host
    wait for it instead of receiving the same bytes again. Released by
    :meth:`release` or when the process dies. On a file system without
    ``flock`` on directories the lock is always granted (publication never
    replaces, so at worst a copy is received twice and one is dropped)."""

    def __init__(self, dir: str | os.PathLike | None = None):
        self._fd: int | None = os.open(segment_dir(dir), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)

    def try_acquire(self) -> bool:
        """Take the lock if no other holder has it; never blocks."""
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return False
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the descriptor drops the lock

    def __del__(self):
        self.release()
