"""One array of a segment for Arrow and DLPack consumers: :class:`Column`.

Every capsule handed out here is made by the C core's export (through
:mod:`shmarray._native`): the Arrow C Data structures of ``capi/sa_arrow.c``
and the DLPack tensor of ``native/dlpack.c``. Producing them needs no
pyarrow, and each holds its own reference to the mapping until the consumer
releases it, whether or not the Segment was closed meanwhile.
"""

from __future__ import annotations

from . import _native
from ._desc import BOOL, DATE32, DURATION, OFFSETS, TIMESTAMP, Desc, Described
from ._errors import InvalidArgumentError

__all__ = ["Column"]

# DLPack device type of host memory (DLDeviceType kDLCPU).
DLPACK_CPU = 1
# Numeric types of spec §6 (int8..uint64, float16..float64): the ones DLPack carries.
_NUMERIC = range(2, 13)
DATE64 = 19


def check_requested(exported, requested, what: str) -> None:
    """Refuse a ``requested_schema`` other than the export's own.

    shmarray hands out its arrays as they are stored, zero-copy, and never
    casts: a consumer asking for another schema is told so, with the first
    difference (compared in C, no pyarrow), and casts after import instead.
    """
    diff = _native.schema_difference(exported, requested)
    if diff is not None:
        raise InvalidArgumentError(
            f"shmarray: invalid argument: {what} cannot be exported with the requested schema: {diff}; "
            "shmarray exports arrays as stored, zero-copy, and does not cast: request no schema "
            "(requested_schema=None) and cast in the consumer")


class Column(Described):
    """Array ``name`` of a segment, for Arrow and DLPack consumers: ``seg.column(name)``.

    * the Arrow PyCapsule Interface: ``__arrow_c_array__`` and
      ``__arrow_c_schema__``, so ``pyarrow.array(col)``, ``polars.Series(col)``
      and nanoarrow take it zero-copy;
    * DLPack 1.0 for numeric arrays without nulls: ``numpy.from_dlpack(col)``
      (NumPy >= 2.1) is a read-only view of the shared pages.

    It uses the segment's handle: after ``seg.close()`` it raises
    :class:`~shmarray.ClosedError`; what it exported stays valid.

    >>> import shmarray
    >>> with shmarray.attach("example") as seg:
    ...     col = seg.column("price")
    ...     col.name, col.type, len(col), col.null_count, col.__dlpack_device__()
    ('price', 'float64', 3, 0, (1, 0))
    """

    __slots__ = ("_h", "_d", "_segment")

    def __init__(self):
        raise TypeError("use Segment.column(name)")

    @classmethod
    def _new(cls, handle, desc: Desc, segment_name: str) -> "Column":
        self = object.__new__(cls)
        self._h, self._d, self._segment = handle, desc, segment_name
        return self

    def __len__(self) -> int:
        return self._d.length

    def _what(self) -> str:
        return f"array {self._d.name!r} of segment {self._segment!r}"

    # -- Arrow PyCapsule Interface --------------------------------------------

    def __arrow_c_schema__(self):
        """An ``arrow_schema`` capsule: the array's field (name, type, metadata)."""
        return self._h.export_array(self._d.index)[0]

    def __arrow_c_array__(self, requested_schema=None):
        """(``arrow_schema``, ``arrow_array``) capsules of the array, zero-copy.
        ``requested_schema`` may be None or the array's own schema; any other
        is refused (:class:`~shmarray.InvalidArgumentError`): shmarray does not cast."""
        schema, array = self._h.export_array(self._d.index)
        if requested_schema is not None:
            check_requested(schema, requested_schema, self._what())
        return schema, array

    # -- DLPack ---------------------------------------------------------------

    def __dlpack_device__(self) -> tuple[int, int]:
        """(kDLCPU, 0): the pages are host memory."""
        return (DLPACK_CPU, 0)

    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        """A DLPack 1.0 ``dltensor_versioned`` capsule over the shared pages,
        flagged read-only, holding the mapping until the consumer deletes it.

        Only DLPack 1.0 is produced (``max_version`` (1, 0) or later): the
        older capsule cannot say the memory is read-only, and writing to it
        would crash the process. ``copy=True`` is refused: shmarray hands out
        the shared pages, never copies (copy with ``np.array(seg[name])``).
        Errors: ``BufferError`` for what the protocol refuses, and
        :class:`~shmarray.InvalidArgumentError` for an array DLPack cannot
        hold (nulls, bool, dates and times, strings).
        """
        d = self._d
        if stream is not None:
            raise BufferError(f"shmarray: {self._what()} is host memory: stream must be None, not {stream!r}")
        if dl_device is not None and tuple(dl_device) != (DLPACK_CPU, 0):
            raise BufferError(f"shmarray: {self._what()} is host memory (kDLCPU, 0); it cannot be exported to "
                              f"device {tuple(dl_device)!r}")
        if copy:
            raise BufferError(f"shmarray: {self._what()}: copy=True is not offered; shmarray exports the shared "
                              "pages themselves (copy them with numpy.array(seg[name]))")
        if max_version is None or tuple(max_version)[0] < 1:
            raise BufferError(
                f"shmarray: {self._what()}: only DLPack 1.0 is exported (its read-only flag protects the "
                f"read-only shared pages), and the consumer asked for {max_version!r}; use NumPy >= 2.1 "
                "(numpy.from_dlpack), or seg[name], a read-only NumPy view")
        if d.type not in _NUMERIC or d.null_count:
            raise InvalidArgumentError(f"shmarray: invalid argument: {self._what()} {_no_dlpack(d)}")
        return _native.dlpack(self._h, d.index)

    def __repr__(self) -> str:
        nulls = f", {self._d.null_count} nulls" if self._d.null_count else ""
        return f"<shmarray.Column {self._d.name!r} of {self._segment!r}: {self.type}, {self._d.length} rows{nulls}>"


def _no_dlpack(d: Desc) -> str:
    """Why array d has no DLPack export, and what to use instead."""
    if d.null_count:
        return (f"has {d.null_count} nulls, which DLPack cannot carry; use seg[{d.name!r}] (a masked array) "
                "or pyarrow (column_to_arrow)")
    if d.type == BOOL:
        return ("is bool, stored as bits, and DLPack needs one byte per value; use seg[name] (a bool array "
                "computed once)")
    if d.type in (DATE32, DATE64, TIMESTAMP, DURATION):
        return (f"is {_native.type_names[d.type]}, which DLPack has no type for; use seg[name] "
                "(datetime64/timedelta64 values)")
    if d.type in OFFSETS:
        return "holds variable-length values, which DLPack cannot describe; use seg[name] or pyarrow"
    return f"is {_native.type_names[d.type]}, which DLPack has no type for; use seg[name]"
