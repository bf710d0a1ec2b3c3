"""``shmarray.create``: a segment from a mapping of columns (or a pyarrow
Table), built and published in one call."""

from __future__ import annotations

from collections.abc import Mapping

from ._builder import Builder
from ._convert import items
from ._errors import InvalidArgumentError
from ._pandas import table_metadata, tabular
from ._segment import Segment


def create(name: str, columns, *, dir: str | None = None, mode: int = 0o600,
           metadata: Mapping[str, str] | None = None, unlink_on_exit: bool = False,
           index=(), replace: bool = False, replace_if=None) -> Segment:
    """Create, fill and publish segment ``name``; return it attached.

    ``columns`` is a mapping of array name to one of:

    * a NumPy array of any bool, integer, float, ``datetime64``/``timedelta64``
      (s, ms, us, ns; ``datetime64[D]`` as date32) or ``S`` (fixed-size bytes)
      dtype, of any shape (N-D arrays keep their shape; non-contiguous input is
      copied first). ``NaT`` values are stored as nulls;
    * a ``numpy.ma.MaskedArray``: masked slots are nulls (per row for N-D);
    * a list of ``str`` / ``bytes`` / ``None`` (a utf8 or binary array);
    * a ``pyarrow.Array`` or ``ChunkedArray``;

    or ``columns`` is a ``pyarrow.Table``, a pandas or polars DataFrame, or
    any object with ``__arrow_c_stream__`` (converted with pyarrow). Field
    metadata is kept, and the schema metadata becomes segment metadata (under
    ``metadata``, which wins): for a pandas frame that is the ``pandas``
    entry through which :meth:`Segment.to_pandas` restores the index and the
    dtypes. Categorical columns become dictionaries and list columns lists
    (format 1.3); struct columns are refused, as are lists mixing types (nothing is converted to
    strings silently), None among numbers, and integers beyond 64 bits: each
    :class:`~shmarray.InvalidArgumentError` names the column and the fix.

    Nothing is visible under ``name`` until the segment is complete. An
    existing segment is never replaced (:class:`~shmarray.ExistsError`)
    unless ``replace=True``: then the new segment becomes the name's next
    version atomically (spec §10.3). An attach by name at any moment gets
    the complete old version or the complete new one, never nothing;
    Segments attached to the old version keep reading it, and its memory is
    freed when the last of them closes. Concurrent replacers are
    serialized: each publishes, and versions strictly increase.
    ``replace_if=<id>`` (the :attr:`Segment.id` of the version you mean to
    replace, 32 hex digits or 16 bytes) replaces only while the name still
    holds that version, and otherwise raises
    :class:`~shmarray.StaleSegmentError` naming the version it holds (or
    that it holds none), publishing nothing: with several racers, exactly
    one wins each round. The returned Segment is the version published:
    :attr:`Segment.version` is 1 at the first publish under a name.
    ``mode`` is 0o600 by default; 0o640 and 0o660 share with the group.
    ``index`` names columns to give a hash index (spec §7.8): then any process
    finds the row of a key with :meth:`Segment.lookup`, :meth:`Segment.contains`
    or :meth:`Segment.index`, straight from the shared pages. An indexed column
    is 1-D of an integer, str or bytes type; its non-null values must be unique
    (:class:`~shmarray.InvalidArgumentError` names a repeated one and two of its
    rows); nulls are not indexed. With an index the segment is format 1.1.
    With ``unlink_on_exit`` the segment is removed when this process exits
    (normally, by an exception, or by SIGTERM), if the name still holds the
    version this process published (a newer one is left alone); otherwise
    it persists until :func:`shmarray.unlink`.

    The columns are copied while the call runs, with the GIL released: other
    threads must not change them meanwhile (the data checksum is taken from
    the bytes as they are copied).

    This call runs Go code in libshmarray.so: in a child forked from a process
    that already called it, it raises :class:`~shmarray.ForkedError`.

    >>> import numpy as np, shmarray, tempfile
    >>> d = tempfile.mkdtemp()
    >>> seg = shmarray.create("doc-create", {"x": np.arange(3)}, dir=d)
    >>> seg["x"].tolist(), seg.version
    ([0, 1, 2], 1)
    >>> new = shmarray.create("doc-create", {"x": np.arange(4)}, dir=d, replace_if=seg.id)
    >>> new.version, seg["x"].tolist()
    (2, [0, 1, 2])
    >>> shmarray.create("doc-create", {"x": np.arange(5)}, dir=d, replace_if=seg.id)
    Traceback (most recent call last):
      ...
    shmarray.StaleSegmentError: shmarray: stale version: segment "doc-create": replace_if names id ..., the name holds version 2 (id ...) now
    >>> seg.close(); new.close(); shmarray.unlink("doc-create", dir=d)
    """
    columns = tabular(columns)  # a DataFrame or an Arrow stream as a pyarrow Table
    metadata = {**table_metadata(columns), **(metadata or {})}
    columns = items(columns)
    if isinstance(index, str):
        index = [index]
    index = [str(c) for c in index]
    missing = [c for c in index if c not in {col for col, _, _ in columns}]
    if missing:
        raise InvalidArgumentError(f"shmarray: invalid argument: index names {missing!r}, which "
                                   "are not columns of the segment")
    with Builder(name, dir=dir, mode=mode, unlink_on_exit=unlink_on_exit, replace=replace,
                 replace_if=replace_if) as b:
        for col, value, field in columns:
            b.add(col, value, field=field)
        for col in index:
            b.add_index(col)
        if metadata:
            b.set_metadata(metadata)
        return b.publish()
