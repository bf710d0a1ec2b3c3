"""Attach and read segments: :class:`Segment`, :class:`StringColumn`, :func:`attach`.

Every check of the format is done by the plain-C reader core, compiled into
:mod:`shmarray._native` (no Go, no NumPy C API): attach, the per-slot
offsets check of string values, full validation, Arrow export. This module
turns what the core hands out into NumPy views, over one read-only
memoryview of the mapping per segment (``_native.Handle.memory``), so every
view keeps the mapping alive. Nothing here loads ``libshmarray.so``, so it
all works in workers started by fork, forkserver or spawn, even when their
parent created segments (docs/architecture.md, "The fork rule").

The doctest examples use a segment called ``example`` in ``$SHMARRAY_DIR``,
holding three float64/int64/utf8 columns of three rows (the test suite's
generator writes it; see tests/gen/main.go).
"""

from __future__ import annotations

import collections.abc
import dataclasses
import datetime
import os
import re
import threading
from typing import Iterable, Iterator

import numpy as np

from . import _native
from ._desc import (BOOL, DATE32, DICTIONARY, DURATION, LARGE_LIST, LIST, OFFSETS, TIMESTAMP, UNITS, Desc,
                    created, null_mask, readonly, view)
from ._column import Column, check_requested
from ._errors import ClosedError, InvalidArgumentError, NotFoundError, StaleSegmentError
from ._index import Index
from ._lists import DictionaryColumn, ListColumn
from ._strings import StringColumn

__all__ = ["Segment", "ArrayInfo", "attach"]

class ArrayNotFoundError(NotFoundError, KeyError):
    """NOT_FOUND for an array name: also a KeyError, as a Mapping lookup should be."""

    __str__ = Exception.__str__


def attach(name: str, *, dir: str | os.PathLike | None = None, owner: int | Iterable[int] | None = None) -> "Segment":
    """Attach the published segment ``name`` read-only; see :class:`Segment`.

    The directory is ``dir``, else ``$SHMARRAY_DIR``, else ``/dev/shm``; it is
    opened once, and the file relative to it with ``O_NOFOLLOW |
    O_NONBLOCK``. The header and the metadata area are read with ``pread``
    into private memory and structurally validated there (spec §11.2):
    header, CRC-32 of header and metadata, every directory record. Then the
    file is mapped ``PROT_READ`` and ``MAP_SHARED``. That reads the header
    and the metadata area only, never a data page, so attaching takes time
    proportional to the number of arrays, whatever their size; and a file
    its owner truncates meanwhile gives :class:`TruncatedError` (or another
    :class:`InvalidSegmentError`), never a crash.

    ``owner``, a uid or several, is an opt-in owner check: a file owned by
    anyone else is refused with :class:`PermissionDeniedError` before it is
    mapped. The owner is read from the opened descriptor, so it is that of
    the very file that would be mapped. A segment's owner can rewrite or
    truncate it under its readers (spec §15): trust only users you trust,
    typically ``owner=os.geteuid()``. :attr:`Segment.owner_uid` and
    :attr:`Segment.mode` tell whose a segment is.

    Errors: :class:`InvalidArgumentError` (bad name or owner),
    :class:`NotFoundError`, :class:`PermissionDeniedError`,
    :class:`IOFailureError`, and for a file that breaks the format a subclass
    of :class:`InvalidSegmentError`.

    >>> import os, shmarray
    >>> with shmarray.attach("example", owner=os.geteuid()) as seg:
    ...     print(seg.columns, seg.num_rows, seg.owner_uid == os.geteuid())
    ['price', 'qty', 'ticker'] 3 True
    >>> shmarray.attach("no-such-segment")
    Traceback (most recent call last):
      ...
    shmarray.NotFoundError: shmarray: not found: attach segment "no-such-segment": ... does not exist (...)
    """
    return Segment(name, dir=dir, owner=owner)


def _reattach(name: str, dir: str, owners: tuple | None = None, id: str | None = None,
              version: int = 0) -> "Segment":
    """Unpickling: a Segment that attaches on first use, by name in the
    (absolute) directory the pickled segment used, with the owner check it
    was attached with, pinned to the version it held (``id``: None for a
    pickle of an older shmarray, which named no version). Never attaches
    here and never raises: an error here would kill a multiprocessing
    worker inside its task fetch (the Pool then hangs)."""
    seg = Segment.__new__(Segment)
    seg._init_state(owners)
    seg._pending = (name, dir, owners, None if id is None else (parse_id(id), int(version)))
    return seg


# The text form of an id, exactly (spec §4): what Go's format.ParseID and
# the CLI accept. bytes.fromhex alone would skip spaces and take upper case.
_ID_TEXT = re.compile("[0-9a-f]{32}")


def parse_id(value) -> bytes:
    """A segment id as its 16 bytes, from the text form (32 hex digits, as
    :attr:`Segment.id` gives it) or the bytes themselves."""
    if isinstance(value, (bytes, bytearray)) and len(value) == 16:
        return bytes(value)
    if isinstance(value, str) and _ID_TEXT.fullmatch(value):
        return bytes.fromhex(value)
    raise InvalidArgumentError(f"shmarray: invalid argument: segment id {value!r} is neither 32 hex "
                               "digits (as Segment.id and shmarray ls print it) nor 16 bytes")


def attach_pinned(name: str, dir: str, id: bytes, version: int) -> "Segment":
    """The version (id, version) of name, attached now by name
    (:class:`StaleSegmentError` if the name holds another)."""
    seg = Segment.__new__(Segment)
    seg._init_state(None)
    seg._attached(_native.attach(name, dir, None, (id, version)))
    return seg


def attach_published(name: str, dir: str, fd: int) -> "Segment":
    """The segment a Builder has just published, attached from the
    descriptor of the very file published (not by name, which another
    process may have replaced already). fd stays the caller's."""
    seg = Segment.__new__(Segment)
    seg._init_state(None)
    seg._attached(_native.attach_fd(fd, name, dir))
    return seg


# Serializes the first use of an unpickled Segment (one attach, whichever
# thread comes first).
_first_use_lock = threading.Lock()


def _owners(owner):
    """The owner argument of attach as a tuple of uids (None: no check);
    what is neither an int nor an iterable is left for the core's binding
    to refuse."""
    if owner is None or isinstance(owner, (str, bytes)):
        return owner
    if isinstance(owner, int):
        return (owner,)
    try:
        return tuple(owner)
    except TypeError:
        return owner


@dataclasses.dataclass(frozen=True)
class ArrayInfo:
    """What the directory says about one array; see :meth:`Segment.info`.

    ``type`` is the spec's type name (``"int64"``, ``"large_utf8"``...);
    ``dtype`` the NumPy dtype of ``seg[name]`` (None for the variable-length
    types, which come back as :class:`StringColumn`); ``shape`` starts with
    ``length``; ``unit`` is ``"s"``, ``"ms"``, ``"us"`` or ``"ns"`` for
    timestamp and duration (else None); ``timezone`` is the timestamp's time
    zone or None; ``byte_width`` is the width of fixed_size_binary (else 0).

    >>> import shmarray
    >>> with shmarray.attach("example") as seg:
    ...     info = seg.info("price")
    >>> info.type, info.dtype, info.shape, info.metadata
    ('float64', dtype('float64'), (3,), {'unit': 'EUR'})
    """
    name: str
    type: str
    dtype: np.dtype | None
    length: int
    null_count: int
    shape: tuple
    unit: str | None
    timezone: str | None
    byte_width: int
    metadata: dict
    indexed: bool = False  # has a hash index (format 1.1): see Segment.lookup

    @property
    def ndim(self) -> int:
        """Number of dimensions (1 for a plain array)."""
        return len(self.shape)


class Segment(collections.abc.Mapping):
    """A published segment, attached read-only: a Mapping of array name to array.

    ``Segment(name, dir=None)`` is the same as :func:`attach`. Iteration,
    ``len``, ``in`` and :attr:`columns` follow directory order. ``seg[name]``
    returns:

    * integers and floats: a read-only ``numpy.ndarray`` of the array's shape,
      zero-copy over the mapped pages (N-D arrays have their full shape);
    * date64, timestamp, duration: zero-copy ``datetime64`` / ``timedelta64``
      of the stored unit (the time zone is in :meth:`info`);
    * fixed_size_binary: zero-copy ``S<width>`` (NumPy drops trailing NUL
      bytes when it converts one item to ``bytes``; the stored bytes stay);
    * utf8, large_utf8, binary, large_binary: a :class:`StringColumn`,
      zero-copy over the offsets and data buffers;
    * list, large_list (format 1.3): a :class:`ListColumn`, whose row ``i``
      is a zero-copy view of its values (``.offsets``, ``.values``);
      dictionary: a :class:`DictionaryColumn` (``.indices`` into
      ``.dictionary``; ``to_pandas()`` is a ``pandas.Categorical``). Their
      values are records of the segment that are not columns: ``columns``,
      iteration and ``len`` show columns only;
    * bool and date32, which NumPy cannot view in place (the format stores
      bits, and 32-bit days): a read-only ``numpy.bool_`` /
      ``datetime64[D]`` array, computed at the first access and shared by
      every later one (one private copy per Segment, not one per access);
    * an array with nulls: a ``numpy.ma.MaskedArray`` whose data is the array
      above and whose mask, the caller's own, comes from the validity bitmap
      (per row for N-D arrays, broadcast over each row).

    Every array is read-only (the mapping is ``PROT_READ``). Views keep the
    mapping alive: after :meth:`close`, or when the Segment is garbage
    collected, the pages stay mapped until the last view is gone, so a view
    never dangles. After :meth:`close` the directory stays readable
    (:attr:`columns`, :meth:`info`, ``len``, ``in``) and reading data raises
    :class:`ClosedError`. Attaching and closing never unlink the segment.

    Every segment has an identity (format 1.2): :attr:`id`, random, and
    :attr:`version`, 1 at the first publish under a name and one more at
    each ``create(..., replace=True)``. A Segment keeps reading the version
    it attached, whatever is published under its name later;
    :meth:`is_current` and :meth:`refresh` follow the latest.

    A Segment pickles to its name, its absolute directory, the owner check
    it was attached with and its version (a few dozen bytes), which is how
    workers share a segment. Unpickling never attaches and never raises; the
    receiving process attaches on first use, to exactly that version: if
    the name now holds another version or nothing,
    :class:`StaleSegmentError` says which version was wanted and which the
    name holds, and the Segment never switches silently. To follow the
    latest version instead, pass the name (a str) and attach it.

    Reads are safe from several threads; ``close`` must not race with them.
    Full validation (:meth:`validate`) and every view read the data pages: if
    the file's owner truncates the file under the mapping, touching a page
    past the new end raises SIGBUS, which kills the process (spec §15; only
    attach segments whose owner you trust: ``attach(name, owner=uid)``).

    Values of string arrays, index lookups and Arrow exports trust nothing
    they read: string values are checked slot by slot, lookups stop after
    the table's size, and no read leaves the checked buffers. But Arrow
    consumers (pyarrow, polars, DuckDB) trust the offsets of the arrays they
    are handed, so run :meth:`validate` once on a segment from a writer you
    do not trust before :meth:`to_arrow` (spec §11.3).

    >>> import shmarray, pickle
    >>> seg = shmarray.attach("example")
    >>> seg["price"]
    array([101.5 , 101.25, 101.75])
    >>> seg["qty"]
    masked_array(data=[10, --, 30],
                 mask=[False,  True, False],
           fill_value=999999)
    >>> seg["ticker"].to_pylist()
    ['ACME', 'INIT', None]
    >>> len(pickle.dumps(seg)) < 200
    True
    >>> seg.close()
    """

    __slots__ = ("_handle", "_pending", "_closed", "_owner", "_owners", "_descs", "_derived", "_indexes",
                 "__weakref__")

    def __init__(self, name: str, *, dir: str | os.PathLike | None = None,
                 owner: int | Iterable[int] | None = None):
        self._init_state(_owners(owner))
        self._attached(_native.attach(name, None if dir is None else os.fspath(dir), self._owners))

    def _init_state(self, owners) -> None:
        self._owners = owners
        self._handle = self._pending = self._owner = None
        self._closed = False  # closed before its first use (an unpickled Segment)
        self._descs: dict[str, Desc] = {}
        self._derived: dict[tuple, np.ndarray] = {}  # computed once: bool and date32 values
        self._indexes: dict = {}

    def _attached(self, h) -> None:
        self._owner = h.owner()
        self._handle = h

    @property
    def _h(self):
        """The native handle, attached on first use for an unpickled Segment."""
        h = self._handle
        return h if h is not None else self._first_use()

    def _first_use(self):
        with _first_use_lock:
            if self._handle is None:
                if self._closed:
                    raise ClosedError("shmarray: closed: the segment was closed before it was attached")
                name, dir, owners, pin = self._pending
                # Raises StaleSegmentError (and keeps the pin) if the name
                # no longer holds the pickled version.
                self._attached(_native.attach(name, dir, owners, pin))
                self._pending = None
            return self._handle

    # -- identity ---------------------------------------------------------

    @property
    def name(self) -> str:
        """The segment's name."""
        return self._handle.name if self._handle is not None else self._pending_part(0)

    @property
    def dir(self) -> str:
        """The directory the segment was attached from, as an absolute, cleaned path
        (resolved against the working directory at attach, so that a pickle
        names the same directory in any process)."""
        return self._handle.dir if self._handle is not None else self._pending_part(1)

    @property
    def path(self) -> str:
        """The segment's file path."""
        if self._handle is not None:
            return self._handle.path
        return os.path.join(self.dir, self.name)

    def _pending_part(self, i: int):
        """Part i of what an unpickled, not yet attached Segment will attach
        (kept after close, so that its name, directory and pin stay known)."""
        return self._pending[i]

    @property
    def id(self) -> str:
        """The segment's id: 32 lowercase hex digits, random, chosen when the
        version was published (format 1.2); all zeros for a segment written
        before format 1.2. Pass it as ``replace_if=`` to replace exactly this
        version."""
        return self._identity()[0].hex()

    @property
    def version(self) -> int:
        """The segment's version: 1 at the first publish under its name, one
        more at each replace; 0 for a segment written before format 1.2."""
        return self._identity()[1]

    def _identity(self) -> tuple[bytes, int]:
        if self._handle is None and self._pending is not None and self._pending[3] is not None:
            return self._pending[3]  # an unpickled Segment knows its version before it attaches
        return self._h.identity()

    def is_current(self) -> bool:
        """Whether the segment's name still holds this version: one ``stat``
        of the name, compared with the file mapped. False once the name was
        replaced or unlinked. An unpickled Segment not yet used attaches first
        (False if its version, or for a pickle naming no version its name, is
        gone). :class:`ClosedError` after :meth:`close`: the file is no longer
        held then, so its inode number may already name another file.

        >>> import numpy as np, shmarray, tempfile
        >>> d = tempfile.mkdtemp()
        >>> v1 = shmarray.create("doc-current", {"x": np.arange(3)}, dir=d)
        >>> v2 = shmarray.create("doc-current", {"x": np.arange(4)}, dir=d, replace=True)
        >>> v1.is_current(), v2.is_current(), (v1.version, v2.version)
        (False, True, (1, 2))
        >>> v1.refresh().version, v2.refresh() is v2
        (2, True)
        >>> v1["x"].tolist()   # v1 still reads its own version
        [0, 1, 2]
        >>> v1.close(); v2.close(); shmarray.unlink("doc-current", dir=d)
        """
        if self.closed:
            raise ClosedError(f"shmarray: closed: segment {self.name!r} was closed; attach it again "
                              "(or keep it open) to ask whether it is current")
        try:
            h = self._h
        except (StaleSegmentError, NotFoundError):
            return False
        return h.is_current()

    def refresh(self) -> "Segment":
        """This Segment if it is current (:meth:`is_current`, one ``stat``),
        else the version the name holds now, attached by name with the same
        directory and owner check (a new Segment; this one stays open and
        keeps reading its version until you close it). For long-lived
        workers: ``seg = seg.refresh()`` before each task. Errors as
        :func:`attach` (:class:`NotFoundError` once the name is unlinked)."""
        if self.is_current():
            return self
        return Segment(self.name, dir=self.dir, owner=self._owners)

    @property
    def owner_uid(self) -> int:
        """The uid that owned the file when it was attached (``fstat`` of the
        descriptor that was mapped): the user who can rewrite or truncate it."""
        return self._owner_info()[0]

    @property
    def mode(self) -> int:
        """The file's permission bits (``st_mode & 0o777``) when it was attached."""
        return self._owner_info()[1]

    def _owner_info(self) -> tuple[int, int]:
        if self._handle is None:
            self._first_use()
        return self._owner

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        if self._handle is None:
            return self._closed
        return self._handle.closed

    @property
    def size(self) -> int:
        """The segment's size in bytes (``file_size`` of the header)."""
        return self._h.header()[0]

    @property
    def created(self) -> datetime.datetime | None:
        """When the segment was created (UTC), or None if out of range."""
        return created(self._h.header()[1])

    @property
    def creator_pid(self) -> int:
        """Process id of the creator (informational)."""
        return self._h.header()[2]

    @property
    def ephemeral(self) -> bool:
        """Whether the creator asked for the segment to be unlinked when it exits."""
        return self._h.header()[3]

    # -- directory ----------------------------------------------------------

    @property
    def columns(self) -> list[str]:
        """Array names, in directory order."""
        return self._h.names()

    @property
    def metadata(self) -> dict[str, str]:
        """Segment-level key/value metadata (a new dict each time)."""
        return dict(self._h.metadata(-1))

    @property
    def num_rows(self) -> int | None:
        """The common length of every array, or None if lengths differ (0 arrays: 0)."""
        return self._h.num_rows()

    def __len__(self) -> int:
        return len(self._h.names())  # columns: the children of lists and dictionaries are not

    def __iter__(self) -> Iterator[str]:
        return iter(self._h.names())

    def __contains__(self, name: object) -> bool:
        return self._h.find(name) >= 0

    def _desc(self, name: str) -> Desc:
        d = self._descs.get(name) if isinstance(name, str) else None
        if d is None:
            i = self._h.find(name)
            if i < 0:
                raw = (name if isinstance(name, str) else str(name)).encode("utf-8", "surrogateescape")
                raise ArrayNotFoundError(f"shmarray: not found: segment {_native.quote(self.name.encode())} has no "
                                         f"array called {_native.quote(raw)}")
            d = self._descs[name] = Desc(*self._h.describe(i), i)
        return d

    def _desc_at(self, i: int) -> Desc:
        """The record at directory index i (a child of a list or dictionary too)."""
        return Desc(*self._h.describe(i), i)

    def _is_null(self, d: Desc, i: int) -> bool:
        if d.null_count == 0:
            return False
        bm = view(self._h.memory(), np.uint8, (d.length + 7) // 8, d.validity)
        return not (bm[i >> 3] >> (i & 7)) & 1

    def info(self, name: str) -> ArrayInfo:
        """Type, shape, null count and metadata of the array ``name`` (NotFoundError if none).

        >>> import shmarray
        >>> with shmarray.attach("example") as seg:
        ...     seg.info("ticker").type, seg.info("qty").null_count
        ('utf8', 1)
        """
        return self._info_of(self._desc(name))

    def _info_of(self, d: Desc) -> ArrayInfo:
        timed = d.type in (TIMESTAMP, DURATION)
        return ArrayInfo(name=d.name, type=_native.type_names[d.type], dtype=d.dtype, length=d.length,
                         null_count=d.null_count, shape=d.shape, unit=UNITS[d.unit] if timed else None,
                         timezone=d.timezone, byte_width=d.byte_width,
                         metadata=dict(self._h.metadata(d.index)), indexed=d.indexed)

    # -- NumPy ------------------------------------------------------------

    def __getitem__(self, name: str):
        return self._value(self._desc(name))

    def _value(self, d: Desc):
        """The Python value of one record: NumPy view, masked array,
        StringColumn, or (format 1.3) ListColumn / DictionaryColumn."""
        mem = self._h.memory()  # also ClosedError after close, for every type
        t, n, name = d.type, d.length, (d.index, d.name)
        if t in (LIST, LARGE_LIST):
            return ListColumn(self, d)
        if t == DICTIONARY:
            return DictionaryColumn(self, d)
        if t in OFFSETS:
            return StringColumn._new(self._h, mem, d)
        if t in (BOOL, DATE32):
            arr = self._derive((name, "values"), lambda: _converted(mem, d))
        else:
            arr = view(mem, d.dtype, n * d.row_elems, d.data)
            if len(d.shape) > 1:
                arr = arr.reshape(d.shape)
        if d.null_count == 0:
            return arr
        mask = null_mask(mem, d)  # the caller's own: a MaskedArray may change its mask
        if arr.ndim > 1:
            mask = np.broadcast_to(mask.reshape((n,) + (1,) * (arr.ndim - 1)), arr.shape)
        return np.ma.MaskedArray(arr, mask=mask, copy=False)

    def _derive(self, key: tuple, make) -> np.ndarray:
        arr = self._derived.get(key)
        if arr is None:
            arr = self._derived[key] = readonly(make())
        return arr

    # -- validation -------------------------------------------------------

    def validate(self) -> None:
        """Full validation (spec §11.3) of every array, in directory order.

        Null counts against the bitmaps (:class:`BadSizeError`), offsets of
        the variable-length arrays (:class:`BadOffsetsError`), UTF-8 of
        utf8/large_utf8 values (:class:`BadUtf8Error`), data checksums where
        the writer recorded them (:class:`ChecksumMismatchError`), hash
        indexes. It reads every data page: O(data), never done implicitly.

        >>> import shmarray
        >>> with shmarray.attach("example") as seg:
        ...     seg.validate()
        """
        self._h.validate()

    # -- hash indexes (format 1.1) -----------------------------------------

    def lookup(self, name: str, keys) -> np.ndarray:
        """The row of each key in the hash index of array ``name`` (int64), -1
        where it is not a key. See :meth:`index`.

        ``keys``: a list of str/bytes/int (None is never found), a NumPy
        array, a pyarrow array, or a StringColumn. Looked up in plain C,
        straight from the shared pages (safe in forked workers; no Go).
        Errors: :class:`NotFoundError` (no such array),
        :class:`InvalidArgumentError` (no index, or keys of the wrong kind).

        >>> import shmarray, tempfile
        >>> d = tempfile.mkdtemp()
        >>> seg = shmarray.create("doc-lookup", {"id": [b"x", b"y"], "n": np.array([7, 9])},
        ...                       dir=d, index=["id", "n"])
        >>> seg.lookup("id", [b"y", b"z"]).tolist(), seg.contains("n", np.array([9, 8])).tolist()
        ([1, -1], [True, False])
        >>> seg.close(); shmarray.unlink("doc-lookup", dir=d)
        """
        return self.index(name).lookup(keys)

    def contains(self, name: str, keys) -> np.ndarray:
        """Whether each key is in the hash index of array ``name`` (bool array); see :meth:`lookup`."""
        return self.index(name).contains(keys)

    def index(self, name: str):
        """The hash index of array ``name``: a read-only Mapping of key to row
        (:class:`shmarray.Index`): ``key in idx``, ``idx[key]``,
        ``idx.get(key)``, and batch ``idx.lookup(keys)``. It keeps working
        after :meth:`close`. Errors: NotFoundError, InvalidArgumentError
        (the array has no index)."""
        ix = self._indexes.get(name)
        if ix is None:
            d = self._desc(name)
            ix = self._indexes[name] = Index._new(self._h, d)
        return ix

    # -- Arrow ------------------------------------------------------------

    def column_to_arrow(self, name: str, *, check_offsets: bool = False):
        """The array ``name`` as a ``pyarrow.Array`` over the mapped pages, no copy.

        Exported by the C core through the Arrow C Data Interface; the
        array's buffers keep the mapping alive. N-D arrays come back as
        ``arrow.fixed_shape_tensor`` extension arrays (storage
        ``fixed_size_list<T>[prod(shape[1:])]``). Arrow trusts offsets
        without checking them: ``check_offsets=True`` runs the full
        validation of this array first (spec §11.3), for a segment whose
        writer you do not trust. Needs pyarrow.

        >>> import shmarray
        >>> with shmarray.attach("example") as seg:
        ...     seg.column_to_arrow("ticker").to_pylist()
        ['ACME', 'INIT', None]
        """
        pa = _pyarrow()
        d = self._desc(name)
        if check_offsets:
            self._h.validate(d.index)
        return pa.Array._import_from_c_capsule(*self._h.export_array(d.index))

    def to_arrow(self, *, check_offsets: bool = False):
        """Every array as one ``pyarrow.Table`` over the mapped pages, no copy.

        Exported by the C core through the Arrow C Stream Interface. Field
        metadata is each array's metadata, schema metadata the segment's.
        All arrays must have the same length (:class:`InvalidArgumentError`
        otherwise: use :meth:`column_to_arrow`). ``check_offsets=True`` runs
        :meth:`validate` first. Needs pyarrow; any Arrow consumer can also
        take the Segment itself (:meth:`__arrow_c_stream__`).

        >>> import shmarray
        >>> with shmarray.attach("example") as seg:
        ...     t = seg.to_arrow()
        >>> t.num_rows, t.column_names, t.schema.metadata
        (3, ['price', 'qty', 'ticker'], {b'source': b'generator'})
        """
        pa = _pyarrow()
        if check_offsets:
            self._h.validate()
        return pa.RecordBatchReader._import_from_c_capsule(self._h.export_stream()).read_all()

    def __arrow_c_stream__(self, requested_schema=None):
        """The Arrow PyCapsule Interface: an ``arrow_array_stream`` capsule of
        every array as one record batch, zero-copy, made by the C core (no
        pyarrow needed): ``pyarrow.table(seg)``, ``polars.DataFrame(seg)``,
        ``duckdb.sql("select ... from seg")``. The stream holds the mapping
        until the consumer releases it. ``requested_schema`` may be None or
        the segment's own schema; any other is refused
        (:class:`InvalidArgumentError`): shmarray does not cast."""
        if requested_schema is not None:
            check_requested(self._h.export_schema(), requested_schema, f"segment {self.name!r}")
        return self._h.export_stream()

    def __arrow_c_schema__(self):
        """The Arrow PyCapsule Interface: the ``arrow_schema`` capsule of the stream."""
        return self._h.export_schema()

    def column(self, name: str) -> Column:
        """Array ``name`` as a :class:`Column`: the Arrow PyCapsule Interface
        (``__arrow_c_array__``) and DLPack (``__dlpack__``) of one array.

        >>> import shmarray
        >>> with shmarray.attach("example") as seg:
        ...     seg.column("qty")
        <shmarray.Column 'qty' of 'example': int64, 3 rows, 1 nulls>
        """
        return Column._new(self._h, self._desc(name), self.name)

    def to_pandas(self, *, check_offsets: bool = False, **kwargs):
        """Every array as one pandas DataFrame, through pyarrow.

        A segment created from a pandas DataFrame comes back as that frame:
        its index, nullable dtypes (``Int64``, ``boolean``, ``string``) and
        time zones are restored from the ``pandas`` entry of the segment
        metadata. Numeric columns without nulls stay over the shared pages
        (zero-copy, read-only: pandas copies on write); other columns are
        converted. ``kwargs`` go to ``pyarrow.Table.to_pandas``
        (``split_blocks=True`` unless given). Needs pandas and pyarrow.
        """
        from ._pandas import to_pandas
        return to_pandas(self, check_offsets, **kwargs)

    # -- lifetime ---------------------------------------------------------

    def close(self) -> None:
        """Release the segment's reference to its mapping. Idempotent; never unlinks.

        NumPy arrays, StringColumns, Indexes and pyarrow objects obtained from
        the segment keep the pages mapped until the last of them is gone, so
        they stay valid. The directory (names, descriptions, metadata) stays
        readable; reading data through the Segment after close raises
        :class:`ClosedError`. An unpickled Segment closed before its first use
        never attaches.
        """
        with _first_use_lock:  # not while a first use attaches on another thread
            if self._handle is None:
                self._closed = True
            else:
                self._handle.close()
        self._derived.clear()
        self._indexes.clear()

    def __enter__(self) -> "Segment":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __reduce__(self):
        if self._handle is None and self._pending is not None:
            name, dir, owners, pin = self._pending
        else:
            name, dir, owners, pin = self.name, self.dir, self._owners, self._h.identity()
        if pin is None:  # unpickled from an older shmarray, never used: still unpinned
            return (_reattach, (name, dir, owners))
        return (_reattach, (name, dir, owners, pin[0].hex(), pin[1]))

    # Identity semantics: Mapping's __eq__ would compare every array.
    __eq__ = object.__eq__
    __ne__ = object.__ne__
    __hash__ = object.__hash__

    def __repr__(self) -> str:
        if self._handle is None and self._pending is not None:
            pin = self._pending[3]
            version = f"version {pin[1]}" if pin else "the latest version"
            state = "closed before its first use" if self._closed else "attached on first use"
            return f"<shmarray.Segment {self.name!r} at {self.path}: {version}, {state}>"
        if self.closed:
            return f"<shmarray.Segment {self.name!r} at {self.path} (closed)>"
        rows = self.num_rows
        rows_text = f", {rows} rows" if rows is not None and len(self) else ""
        return f"<shmarray.Segment {self.name!r} at {self.path}: {len(self)} arrays{rows_text}>"


def _converted(mem, d: Desc) -> np.ndarray:
    """The values of a bool (bits) or date32 (32-bit days) array as NumPy holds them."""
    n = d.length
    if d.type == BOOL:
        bits = view(mem, np.uint8, (n + 7) >> 3, d.data)
        return np.unpackbits(bits, count=n, bitorder="little").view(np.bool_)
    return view(mem, "<i4", n, d.data).astype("M8[D]")


# ---------------------------------------------------------------------------
# Arrow


def _pyarrow():
    try:
        import pyarrow
    except ImportError as e:
        raise ImportError(
            "shmarray's to_arrow needs pyarrow, which is not installed (pip install pyarrow); "
            "NumPy views (seg[name]) work without it, and Arrow consumers such as polars and "
            "DuckDB can take the Segment itself (__arrow_c_stream__)") from e
    return pyarrow

