"""Attach, read, list and unlink segments: pure Python and NumPy over ``mmap``.

Nothing here loads or calls native code other than NumPy and the standard
library (pyarrow is imported lazily, by the Arrow methods only), so every
function works in a worker started by fork, forkserver or spawn, even when
its parent had loaded the Go runtime of ``libshmarray.so`` (DESIGN.md,
decision 4). The structural and full validations live in :mod:`._format`.

The doctest examples use a segment called ``example`` in ``$SHMARRAY_DIR``,
holding three float64/int64/utf8 columns of three rows (the test suite's
generator writes it; see tests/gen/main.go).
"""

from __future__ import annotations

import collections.abc
import dataclasses
import datetime
import mmap
import os
import stat
import sys
from typing import Iterator

import numpy as np

from . import _format as F
from ._errors import (BadOffsetsError, BadUtf8Error, ClosedError, InvalidArgumentError,
                      NotASegmentError, NotFoundError, NotSealedError, ShmarrayError,
                      TruncatedError)
from ._names import os_error, resolve_dir, segment_path, validate_segment_name

__all__ = ["Segment", "StringColumn", "ArrayInfo", "attach", "unlink", "list_segments",
           "SegmentInfo"]

_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
# Python >= 3.13 can map without keeping a duplicate of the descriptor.
_MMAP_KW = {"trackfd": False} if sys.version_info >= (3, 13) else {}


class ArrayNotFoundError(NotFoundError, KeyError):
    """NOT_FOUND for an array name: also a KeyError, as a Mapping lookup should be."""

    __str__ = Exception.__str__



# ---------------------------------------------------------------------------
# Opening


class _NotRegular(Exception):
    pass


def _open_segment(path: str) -> tuple[int, int]:
    """Open a segment read-only, without following a link or blocking on a
    FIFO, and check it is a regular file. Returns (fd, size); raises OSError
    or _NotRegular (with the descriptor closed)."""
    fd = os.open(path, _OPEN_FLAGS)
    try:
        st = os.fstat(fd)
    except BaseException:
        os.close(fd)
        raise
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise _NotRegular()
    return fd, st.st_size


def attach(name: str, *, dir: str | os.PathLike | None = None) -> "Segment":
    """Attach the published segment ``name`` read-only; see :class:`Segment`.

    The directory is ``dir``, else ``$SHMARRAY_DIR``, else ``/dev/shm``. The
    file is opened with ``O_NOFOLLOW | O_NONBLOCK``, mapped ``PROT_READ`` and
    ``MAP_SHARED``, and structurally validated (spec §11.2): header, CRC-32
    of header and metadata, every directory record. That reads the header and
    the metadata area only, never a data page, so attaching takes time
    proportional to the number of arrays, whatever their size.

    Errors: :class:`InvalidArgumentError` (bad name), :class:`NotFoundError`,
    :class:`PermissionDeniedError`, :class:`IOFailureError`, and for a file
    that breaks the format a subclass of :class:`InvalidSegmentError`.

    >>> import shmarray
    >>> with shmarray.attach("example") as seg:
    ...     print(seg.columns, seg.num_rows)
    ['price', 'qty', 'ticker'] 3
    >>> shmarray.attach("no-such-segment")
    Traceback (most recent call last):
      ...
    shmarray.NotFoundError: attach segment 'no-such-segment': ... does not exist (...)
    """
    return Segment(name, dir=dir)


def _reattach(name: str, dir: str) -> "Segment":
    """Unpickling: attach again by name in the directory the pickled segment used."""
    return Segment(name, dir=dir)


# ---------------------------------------------------------------------------
# Segment


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


def _numpy_dtype(a: F.ArrayDesc) -> np.dtype | None:
    t = a.type
    info = F.TYPES[t]
    if info.offset_width:
        return None
    if t == F.FIXED_SIZE_BINARY:
        return np.dtype(f"S{a.byte_width}")
    if t == F.DATE32:
        return np.dtype("M8[D]")
    if info.timed:
        return np.dtype(f"{info.numpy}[{F.UNITS[a.unit]}]")
    return np.dtype(info.numpy)


def _empty_view(mm) -> np.ndarray:
    return np.frombuffer(mm, np.uint8, count=0, offset=0)


def _bytes_view(mm, buf: tuple) -> np.ndarray:
    """A read-only uint8 view of one buffer (offset, length) of the mapping."""
    off, n = buf
    if n == 0:
        return _empty_view(mm)
    return np.frombuffer(mm, np.uint8, count=n, offset=off)


def _null_mask(mm, a: F.ArrayDesc) -> np.ndarray:
    """True for the null slots of ``a`` (a copy, one bool per slot)."""
    bm = np.frombuffer(mm, np.uint8, count=(a.length + 7) >> 3, offset=a.validity[0])
    return np.unpackbits(bm, count=a.length, bitorder="little") == 0


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr.flags.writeable = False
    return arr


class Segment(collections.abc.Mapping):
    """A published segment, attached read-only: a Mapping of array name to array.

    ``Segment(name, dir=None)`` is the same as :func:`attach`. Iteration,
    ``len``, ``in`` and :attr:`columns` follow directory order. ``seg[name]``
    returns a new view each time:

    * integers and floats: a read-only ``numpy.ndarray`` of the array's shape,
      zero-copy over the mapped pages (N-D arrays have their full shape);
    * date64, timestamp, duration: zero-copy ``datetime64`` / ``timedelta64``
      of the stored unit (the time zone is in :meth:`info`);
      date32: ``datetime64[D]``, a copy (32-bit days widened to 64 bits);
    * fixed_size_binary: zero-copy ``S<width>`` (NumPy drops trailing NUL
      bytes when it converts one item to ``bytes``; the stored bytes stay);
    * bool: unpacked to a ``numpy.bool_`` array, a copy (the format stores
      bits; NumPy has no bit arrays);
    * utf8, large_utf8, binary, large_binary: a :class:`StringColumn`,
      zero-copy over the offsets and data buffers;
    * an array with nulls: a ``numpy.ma.MaskedArray`` whose data is the view
      above (zero-copy where the view is) and whose mask comes from the
      validity bitmap (per row for N-D arrays, broadcast over each row).

    Every array is read-only (the mapping is ``PROT_READ``). Views keep the
    mapping alive: after :meth:`close`, or when the Segment is garbage
    collected, the pages stay mapped until the last view is gone, so a view
    never dangles. Attaching and closing never unlink the segment.

    A Segment pickles to its name and directory (a few dozen bytes): the
    receiving process attaches again, which is how workers share a segment.

    The descriptor is closed at attach; on Python < 3.13, whose ``mmap``
    cannot map without it, the mapping itself keeps a close-on-exec duplicate
    until it is unmapped.

    Reads are safe from several threads; ``close`` must not race with them.
    Full validation (:meth:`validate`) and every view read the data pages: if
    the file's owner truncates the file under the mapping, touching a page
    past the new end raises SIGBUS, which kills the process (spec §15; only
    attach segments whose owner you trust).

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

    __slots__ = ("_name", "_dir", "_path", "_mm", "_desc", "_validated", "__weakref__")

    def __init__(self, name: str, *, dir: str | os.PathLike | None = None):
        path, d = segment_path(name, dir)
        self._name, self._dir, self._path = name, d, path
        self._mm = None
        self._validated = False
        try:
            fd, size = _open_segment(path)
        except _NotRegular:
            raise NotASegmentError(
                f"segment {name!r}: {path} is not a regular file") from None
        except OSError as e:
            raise os_error("attach", name, path, e) from None
        try:
            if size < len(F.MAGIC):
                raise NotASegmentError(
                    f"segment {name!r}: {path} is {size} bytes, too short to be a segment")
            try:
                mm = mmap.mmap(fd, size, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ, **_MMAP_KW)
            except ValueError as e:  # the file shrank between fstat and mmap
                raise TruncatedError(f"segment {name!r}: {path}: {e}") from None
            except OSError as e:
                raise os_error("map", name, path, e) from None
        finally:
            os.close(fd)
        try:
            self._desc = F.decode(mm)
        except ShmarrayError as e:
            mm.close()
            raise type(e)(f"segment {name!r} ({path}): {e}") from None
        self._mm = mm

    # -- identity ---------------------------------------------------------

    @property
    def name(self) -> str:
        """The segment's name."""
        return self._name

    @property
    def dir(self) -> str:
        """The directory the segment was attached from (resolved)."""
        return self._dir

    @property
    def path(self) -> str:
        """The segment's file path."""
        return self._path

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._mm is None

    @property
    def size(self) -> int:
        """The segment's size in bytes (``file_size`` of the header)."""
        return self._desc.header.file_size

    @property
    def created(self) -> datetime.datetime | None:
        """When the segment was created (UTC), or None if out of range."""
        return _created(self._desc.header.created_ns)

    @property
    def creator_pid(self) -> int:
        """Process id of the creator (informational)."""
        return self._desc.header.creator_pid

    @property
    def ephemeral(self) -> bool:
        """Whether the creator asked for the segment to be unlinked when it exits."""
        return self._desc.header.ephemeral

    # -- directory ----------------------------------------------------------

    @property
    def columns(self) -> list[str]:
        """Array names, in directory order."""
        return [a.name for a in self._desc.arrays]

    @property
    def metadata(self) -> dict[str, str]:
        """Segment-level key/value metadata (a new dict each time)."""
        return dict(self._desc.metadata)

    @property
    def num_rows(self) -> int | None:
        """The common length of every array, or None if lengths differ (0 arrays: 0)."""
        arrays = self._desc.arrays
        if not arrays:
            return 0
        n = arrays[0].length
        return n if all(a.length == n for a in arrays) else None

    def __len__(self) -> int:
        return len(self._desc.arrays)

    def __iter__(self) -> Iterator[str]:
        return iter(self.columns)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._desc.by_name

    def _array(self, name: str) -> F.ArrayDesc:
        i = self._desc.by_name.get(name) if isinstance(name, str) else None
        if i is None:
            raise ArrayNotFoundError(f"segment {self._name!r} has no array called {name!r}")
        return self._desc.arrays[i]

    def info(self, name: str) -> ArrayInfo:
        """Type, shape, null count and metadata of the array ``name`` (NotFoundError if none).

        >>> import shmarray
        >>> with shmarray.attach("example") as seg:
        ...     seg.info("ticker").type, seg.info("qty").null_count
        ('utf8', 1)
        """
        a = self._array(name)
        timed = F.TYPES[a.type].timed
        return ArrayInfo(name=a.name, type=a.type_name, dtype=_numpy_dtype(a), length=a.length,
                         null_count=a.null_count, shape=a.shape,
                         unit=F.UNITS[a.unit] if timed else None, timezone=a.timezone,
                         byte_width=a.byte_width, metadata=dict(a.metadata),
                         indexed=a.index is not None)

    def _mapping(self):
        mm = self._mm
        if mm is None:
            raise ClosedError(f"segment {self._name!r} was closed")
        return mm

    # -- NumPy ------------------------------------------------------------

    def __getitem__(self, name: str):
        a = self._array(name)
        mm = self._mapping()
        t = a.type
        n = a.length
        if F.TYPES[t].offset_width:
            return StringColumn._new(mm, a)
        if t == F.BOOL:
            bits = _bytes_view(mm, (a.data[0], (n + 7) >> 3))
            arr = _readonly(np.unpackbits(bits, count=n, bitorder="little").view(np.bool_))
        elif t == F.DATE32:
            days = np.frombuffer(mm, "<i4", count=n, offset=a.data[0] if n else 0)
            arr = _readonly(days.astype("M8[D]"))
        else:
            count = n * a.row_elems
            arr = np.frombuffer(mm, _numpy_dtype(a), count=count,
                                offset=a.data[0] if count else 0)
            if len(a.shape) > 1:
                arr = arr.reshape(a.shape)
        if a.null_count == 0:
            return arr
        mask = _null_mask(mm, a)
        if arr.ndim > 1:
            mask = np.broadcast_to(mask.reshape((n,) + (1,) * (arr.ndim - 1)), arr.shape)
        return np.ma.MaskedArray(arr, mask=mask, copy=False)

    # -- validation -------------------------------------------------------

    def validate(self) -> None:
        """Full validation (spec §11.3) of every array, in directory order.

        Null counts against the bitmaps (:class:`BadSizeError`), offsets of
        the variable-length arrays (:class:`BadOffsetsError`), UTF-8 of
        utf8/large_utf8 values (:class:`BadUtf8Error`), data checksums where
        the writer recorded them (:class:`ChecksumMismatchError`). It reads
        every data page: O(data), never done implicitly by attach.

        >>> import shmarray
        >>> with shmarray.attach("example") as seg:
        ...     seg.validate()
        """
        mm = self._mapping()
        try:
            F.validate(mm, self._desc)
        except ShmarrayError as e:
            raise type(e)(f"segment {self._name!r}: {e}") from None
        self._validated = True

    # -- hash indexes (format 1.1) -----------------------------------------

    def lookup(self, name: str, keys) -> np.ndarray:
        """The row of each key in the hash index of array ``name`` (int64), -1
        where it is not a key. See :meth:`index` and :mod:`shmarray._index`.

        ``keys``: a list of str/bytes/int (None is never found), a NumPy
        array, a pyarrow array, or a StringColumn. Batches run in plain C in
        ``libshmarray.so`` when it can be found (safe in forked workers; no Go),
        else in NumPy. Errors: :class:`NotFoundError` (no such array),
        :class:`InvalidArgumentError` (no index, or keys of the wrong kind).

        >>> import shmarray, tempfile
        >>> d = tempfile.mkdtemp()
        >>> seg = shmarray.create("doc-lookup", {"id": [b"x", b"y"], "n": np.array([7, 9])},
        ...                       dir=d, index=["id", "n"])
        >>> seg.lookup("id", [b"y", b"z"]).tolist(), seg.contains("n", np.array([9, 8])).tolist()
        ([1, -1], [True, False])
        >>> seg.close(); shmarray.unlink("doc-lookup", dir=d)
        """
        from . import _index
        return _index.index_of(self, name).lookup(keys)

    def contains(self, name: str, keys) -> np.ndarray:
        """Whether each key is in the hash index of array ``name`` (bool array); see :meth:`lookup`."""
        from . import _index
        return _index.index_of(self, name).contains(keys)

    def index(self, name: str):
        """The hash index of array ``name``: a read-only Mapping of key to row
        (:class:`shmarray._index.Index`): ``key in idx``, ``idx[key]``,
        ``idx.get(key)``, and batch ``idx.lookup(keys)``."""
        from . import _index
        return _index.index_of(self, name)

    # -- Arrow ------------------------------------------------------------

    def column_to_arrow(self, name: str, *, check_offsets: bool = True):
        """The array ``name`` as a ``pyarrow.Array`` over the mapped pages, no copy.

        N-D arrays come back as ``arrow.fixed_shape_tensor`` extension arrays
        (storage ``fixed_size_list<T>[prod(shape[1:])]``). Arrow trusts
        offsets without checking them, so unless :meth:`validate` already
        passed, the offsets of a variable-length array are checked first
        (O(length), :class:`BadOffsetsError`); ``check_offsets=False`` skips
        that for a segment you trust. Needs pyarrow.

        >>> import shmarray
        >>> with shmarray.attach("example") as seg:
        ...     seg.column_to_arrow("ticker").to_pylist()
        ['ACME', 'INIT', None]
        """
        pa = _pyarrow()
        a = self._array(name)
        mm = self._mapping()
        if check_offsets and not self._validated:
            self._check_offsets(mm, a)
        return _arrow_array(pa, mm, a)

    def to_arrow(self, *, check_offsets: bool = True):
        """Every array as one ``pyarrow.Table`` over the mapped pages, no copy.

        Field metadata is each array's metadata, schema metadata the
        segment's. All arrays must have the same length
        (:class:`InvalidArgumentError` otherwise: use :meth:`column_to_arrow`).
        ``check_offsets`` as in :meth:`column_to_arrow`. Needs pyarrow.

        >>> import shmarray
        >>> with shmarray.attach("example") as seg:
        ...     t = seg.to_arrow()
        >>> t.num_rows, t.column_names, t.schema.metadata
        (3, ['price', 'qty', 'ticker'], {b'source': b'generator'})
        """
        pa = _pyarrow()
        mm = self._mapping()
        arrays = self._desc.arrays
        for a in arrays[1:]:
            if a.length != arrays[0].length:
                raise InvalidArgumentError(
                    f"segment {self._name!r} is not a table: array {arrays[0].name!r} has "
                    f"{arrays[0].length} rows, {a.name!r} has {a.length} "
                    "(use column_to_arrow for each)")
        cols, fields = [], []
        for a in arrays:
            if check_offsets and not self._validated:
                self._check_offsets(mm, a)
            col = _arrow_array(pa, mm, a)
            cols.append(col)
            fields.append(pa.field(a.name, col.type, nullable=True, metadata=a.metadata or None))
        schema = pa.schema(fields, metadata=self._desc.metadata or None)
        return pa.Table.from_arrays(cols, schema=schema)

    def _check_offsets(self, mm, a: F.ArrayDesc) -> None:
        if F.TYPES[a.type].offset_width:
            try:
                F.check_offsets(mm, a)
            except ShmarrayError as e:
                raise type(e)(f"segment {self._name!r}: {e}") from None

    # -- lifetime ---------------------------------------------------------

    def close(self) -> None:
        """Release the segment's mapping. Idempotent; never unlinks.

        If NumPy arrays, StringColumns or pyarrow objects obtained from the
        segment are still alive, the mapping cannot be unmapped yet: the
        Segment then just drops its own reference, and the pages are unmapped
        when the last view is garbage collected. Views stay valid either way.
        Reading through the Segment after close raises :class:`ClosedError`.
        """
        mm, self._mm = self._mm, None
        index = sys.modules.get("shmarray._index")
        if index is not None:
            index.forget(self)  # its cached indexes hold views of the mapping
        if mm is not None:
            try:
                mm.close()
            except BufferError:
                pass  # exported views keep the mapping; it goes with the last one

    def __enter__(self) -> "Segment":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __reduce__(self):
        return (_reattach, (self._name, self._dir))

    # Identity semantics: Mapping's __eq__ would compare every array.
    __eq__ = object.__eq__
    __ne__ = object.__ne__
    __hash__ = object.__hash__

    def __repr__(self) -> str:
        if self._mm is None:
            return f"<shmarray.Segment {self._name!r} at {self._path} (closed)>"
        rows = self.num_rows
        rows_text = f", {rows} rows" if rows is not None and len(self) else ""
        return f"<shmarray.Segment {self._name!r} at {self._path}: {len(self)} arrays{rows_text}>"


# ---------------------------------------------------------------------------
# Strings


class StringColumn(collections.abc.Sequence):
    """A utf8, large_utf8, binary or large_binary array, read in place.

    Holds zero-copy NumPy views of the offsets (:attr:`offsets`, int32 or
    int64, ``length + 1`` entries, or None for an empty array that stores
    none) and data (:attr:`data`, uint8) buffers, and of the validity bitmap
    (:attr:`validity`, or None). ``col[i]`` returns ``str`` (utf8 types),
    ``bytes`` (binary types) or None for a null slot, copying that one value;
    negative indices count from the end; a slice returns a list.

    Values are read with the per-slot check of spec §11.4 (0 <= start <= end
    <= data length, :class:`BadOffsetsError`); invalid UTF-8 raises
    :class:`BadUtf8Error`. An empty string and a null are different:
    ``""`` versus ``None``.

    >>> import shmarray
    >>> seg = shmarray.attach("example")
    >>> col = seg["ticker"]
    >>> len(col), col[0], col[-1], col[:2], col.null_count
    (3, 'ACME', None, ['ACME', 'INIT'], 1)
    >>> col.to_numpy()
    array(['ACME', 'INIT', None], dtype=object)
    """

    __slots__ = ("_name", "_type", "_length", "_null_count", "_validity", "_offsets", "_data",
                 "_text")

    def __init__(self) -> None:
        raise TypeError("StringColumn objects come from Segment[name]")

    @classmethod
    def _new(cls, mm, a: F.ArrayDesc) -> "StringColumn":
        self = object.__new__(cls)
        self._name = a.name
        self._type = a.type_name
        self._length = a.length
        self._null_count = a.null_count
        self._validity = (np.frombuffer(mm, np.uint8, count=(a.length + 7) >> 3,
                                        offset=a.validity[0]) if a.null_count else None)
        self._offsets = F.offsets_view(mm, a)
        self._data = _bytes_view(mm, a.data)
        self._text = a.type in (F.UTF8, F.LARGE_UTF8)
        return self

    @property
    def name(self) -> str:
        """The array's name."""
        return self._name

    @property
    def type(self) -> str:
        """The spec type name: utf8, large_utf8, binary or large_binary."""
        return self._type

    @property
    def null_count(self) -> int:
        """Number of null slots (from the directory)."""
        return self._null_count

    @property
    def offsets(self) -> np.ndarray | None:
        """Zero-copy view of the offsets buffer (``length + 1`` entries) or None."""
        return self._offsets

    @property
    def data(self) -> np.ndarray:
        """Zero-copy uint8 view of the whole data buffer."""
        return self._data

    @property
    def validity(self) -> np.ndarray | None:
        """Zero-copy uint8 view of the validity bitmap (LSB first), or None without nulls."""
        return self._validity

    def __len__(self) -> int:
        return self._length

    def _value(self, i: int, start: int, end: int, mv: memoryview):
        if not 0 <= start <= end <= len(mv):
            raise BadOffsetsError(
                f"array {self._name!r}: slot {i} has offsets [{start}, {end}), "
                f"outside the {len(mv)}-byte data buffer")
        if not self._text:
            return bytes(mv[start:end])
        try:
            return str(mv[start:end], "utf-8")
        except UnicodeDecodeError:
            raise BadUtf8Error(f"array {self._name!r}: value {i} is not valid UTF-8") from None

    def _is_null(self, i: int) -> bool:
        v = self._validity
        return v is not None and not (int(v[i >> 3]) >> (i & 7)) & 1

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self._get(i) for i in range(*index.indices(self._length))]
        try:
            i = index.__index__()
        except AttributeError:
            raise TypeError(f"StringColumn indices must be integers or slices, "
                            f"not {type(index).__name__}") from None
        n = self._length
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"index {index} is out of range for {n} values")
        return self._get(i)

    def _get(self, i: int):
        if self._is_null(i):
            return None
        offs = self._offsets
        with memoryview(self._data) as mv:
            return self._value(i, int(offs[i]), int(offs[i + 1]), mv)

    def __iter__(self):
        step = 1 << 16
        for s in range(0, self._length, step):
            yield from self._range(s, min(s + step, self._length))

    def _range(self, start: int, stop: int) -> list:
        """Values [start, stop), decoded in one pass."""
        if start >= stop:
            return []
        bounds = self._offsets[start:stop + 1].tolist()
        valid = None
        if self._validity is not None:
            b0 = start >> 3
            bits = np.unpackbits(self._validity[b0:(stop + 7) >> 3], bitorder="little")
            valid = bits[start - 8 * b0:stop - 8 * b0].tolist()
        out = []
        with memoryview(self._data) as mv:
            for k in range(stop - start):
                if valid is not None and not valid[k]:
                    out.append(None)
                else:
                    out.append(self._value(start + k, bounds[k], bounds[k + 1], mv))
        return out

    def to_pylist(self) -> list:
        """Every value as a Python list of str/bytes/None (a copy)."""
        return self._range(0, self._length)

    def to_numpy(self) -> np.ndarray:
        """Every value as a NumPy object array of str/bytes/None (a copy)."""
        out = np.empty(self._length, dtype=object)
        out[:] = self.to_pylist()
        return out

    def __repr__(self) -> str:
        preview = self._range(0, min(self._length, 5))
        more = ", ..." if self._length > 5 else ""
        items = ", ".join(repr(v) for v in preview)
        return (f"<shmarray.StringColumn {self._name!r} {self._type} length={self._length} "
                f"null_count={self._null_count}: [{items}{more}]>")


# ---------------------------------------------------------------------------
# Arrow


def _pyarrow():
    try:
        import pyarrow
    except ImportError as e:
        raise ImportError(
            "shmarray's Arrow export needs pyarrow, which is not installed "
            "(pip install pyarrow); NumPy views (seg[name]) work without it") from e
    return pyarrow


def _arrow_type(pa, a: F.ArrayDesc):
    t = a.type
    if t == F.FIXED_SIZE_BINARY:
        return pa.binary(a.byte_width)
    if t == F.TIMESTAMP:
        return pa.timestamp(F.UNITS[a.unit], tz=a.timezone)
    if t == F.DURATION:
        return pa.duration(F.UNITS[a.unit])
    return getattr(pa, _ARROW_FACTORY[t])()


_ARROW_FACTORY = {
    1: "bool_", 2: "int8", 3: "uint8", 4: "int16", 5: "uint16", 6: "int32", 7: "uint32",
    8: "int64", 9: "uint64", 10: "float16", 11: "float32", 12: "float64", 13: "string",
    14: "large_string", 15: "binary", 16: "large_binary", 18: "date32", 19: "date64",
}


def _arrow_array(pa, mm, a: F.ArrayDesc):
    """A pyarrow array over the mapped buffers of ``a`` (each a pa.py_buffer of
    a NumPy view, which keeps the mapping alive)."""
    def buf(b):
        return pa.py_buffer(_bytes_view(mm, b))

    validity = buf(a.validity) if a.validity[1] else None
    elem = _arrow_type(pa, a)
    n = a.length
    if len(a.shape) > 1:
        e = a.row_elems
        child = pa.Array.from_buffers(elem, n * e, [None, buf(a.data)], null_count=0)
        storage = pa.Array.from_buffers(pa.list_(elem, e), n, [validity],
                                        null_count=a.null_count, children=[child])
        if hasattr(pa, "fixed_shape_tensor"):
            ext = pa.fixed_shape_tensor(elem, list(a.shape[1:]))
            return pa.ExtensionArray.from_storage(ext, storage)
        return storage  # pyarrow < 12: the storage type only (spec §8 allows it)
    ow = F.TYPES[a.type].offset_width
    if ow:
        offsets = buf(a.offsets) if a.offsets[1] else pa.py_buffer(bytes(ow))
        bufs = [validity, offsets, buf(a.data)]
    else:
        bufs = [validity, buf(a.data)]
    return pa.Array.from_buffers(elem, n, bufs, null_count=a.null_count)


# ---------------------------------------------------------------------------
# Listing and unlinking


def _created(ns: int) -> datetime.datetime | None:
    try:
        s, rem = divmod(ns, 10**9)
        return (datetime.datetime.fromtimestamp(s, tz=datetime.timezone.utc)
                + datetime.timedelta(microseconds=rem // 1000))
    except (OverflowError, OSError, ValueError):
        return None


def _start_time(pid: int) -> tuple[int, bool]:
    """Start time of a process in clock ticks since boot (field 22 of
    /proc/PID/stat) and whether the process exists; 0 when unreadable."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            s = f.read()
    except OSError:
        return 0, False
    i = s.rfind(b")")  # the command name may hold spaces and parentheses
    if i < 0:
        return 0, True
    fields = s[i + 1:].split()
    if len(fields) < 20:
        return 0, True
    try:
        return int(fields[19]), True
    except ValueError:
        return 0, True


def _process_alive(pid: int, start: int) -> bool:
    """Whether the creator still runs: pid exists and, where both are known,
    has the recorded start time (a recycled pid does not count)."""
    if pid == 0:
        return False
    now, ok = _start_time(pid)
    if not ok:
        return False
    return start == 0 or now == 0 or now == start


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


def _probe(name: str, d: str) -> SegmentInfo | None:
    path = os.path.join(d, name)
    try:
        fd, size = _open_segment(path)
    except (OSError, _NotRegular):
        return None
    try:
        raw = os.pread(fd, F.HEADER_SIZE, 0)
    except OSError:
        raw = b""
    finally:
        os.close(fd)
    try:
        h = F.read_header(raw)
    except NotASegmentError:
        return None
    except ShmarrayError as e:
        return SegmentInfo(name, path, size, 0, None, 0, False, False,
                           type(e)(f"segment {name!r}: {e}"))
    err = None
    if not h.sealed:
        err = NotSealedError(f"segment {name!r}: the writer did not finish this segment")
    elif size < h.file_size:
        err = TruncatedError(f"segment {name!r} is {size} bytes, its header says {h.file_size}")
    return SegmentInfo(name, path, size, h.array_count, _created(h.created_ns), h.creator_pid,
                       _process_alive(h.creator_pid, h.creator_start), h.ephemeral, err)


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
    d = resolve_dir(dir)
    try:
        entries = list(os.scandir(d))
    except OSError as e:
        raise os_error("list", "*", d, e) from None
    out = []
    for e in entries:
        try:
            if not e.is_file(follow_symlinks=False):
                continue
            validate_segment_name(e.name)
        except (OSError, InvalidArgumentError):
            continue
        info = _probe(e.name, d)
        if info is not None:
            out.append(info)
    out.sort(key=lambda i: i.name.encode())
    return out


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
    shmarray.NotFoundError: unlink segment 'no-such-segment': ... does not exist (...)
    """
    path, _ = segment_path(name, dir)
    try:
        fd, _size = _open_segment(path)
    except _NotRegular:
        raise NotASegmentError(
            f"segment {name!r}: {path} is not a regular file; not removed") from None
    except OSError as e:
        raise os_error("unlink", name, path, e) from None
    try:
        magic = os.pread(fd, len(F.MAGIC), 0)
    except OSError:
        magic = b""
    finally:
        os.close(fd)
    if magic != F.MAGIC:
        raise NotASegmentError(f"{path} is not a shmarray segment; not removed")
    try:
        os.unlink(path)
    except OSError as e:
        raise os_error("unlink", name, path, e) from None

