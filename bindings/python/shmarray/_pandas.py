"""Data frames in and out of segments: pandas, polars, and anything that
speaks the Arrow PyCapsule Interface (``__arrow_c_stream__``).

In: a frame becomes a ``pyarrow.Table`` (pandas through
``pyarrow.Table.from_pandas``, which records the index and the pandas dtypes
in the schema metadata under ``pandas``; anything else through
``pyarrow.table``), checked for what a segment cannot hold, and its schema
metadata becomes the segment's metadata. Out: :func:`to_pandas` converts the
C core's Arrow export with pyarrow, which reads that ``pandas`` metadata back
(index, ``Int64``, ``boolean``, ``string``, time zones) and, with
``split_blocks=True``, leaves numeric columns without nulls over the shared
pages. Writing and ``to_pandas`` need pyarrow; handing a Segment to pandas,
polars or DuckDB does not (the Segment is an Arrow stream itself).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping

from ._convert import first_kinds, found
from ._errors import InvalidArgumentError

__all__ = ["tabular", "table_metadata", "to_pandas"]

# Where dictionary and list types are planned (the lists-and-dictionaries work).
_PLANNED = "dictionary and list types are planned: issue 17, lists and dictionaries"


def _pyarrow(what: str):
    try:
        import pyarrow
    except ImportError as e:
        raise ImportError(f"shmarray: {what} needs pyarrow, which is not installed (pip install pyarrow)") from e
    return pyarrow


def tabular(columns):
    """``columns`` as a ``pyarrow.Table`` when it is a pandas DataFrame, a
    pyarrow Table, or any other object with ``__arrow_c_stream__`` (a polars
    DataFrame, a Segment...); a Mapping of columns is returned as it is."""
    if isinstance(columns, Mapping) and not hasattr(columns, "__arrow_c_stream__"):
        return columns
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(columns, pd.DataFrame):
        return _storable(_from_pandas(columns, pd))
    if not hasattr(columns, "__arrow_c_stream__"):
        return columns  # items() names what it takes
    pa = _pyarrow(f"create from a {type(columns).__name__}")
    table = columns if isinstance(columns, pa.Table) else pa.table(columns)
    return _storable(table)


def table_metadata(table) -> dict[str, str]:
    """The schema metadata of a pyarrow Table as segment metadata (str to
    str): a pandas frame's ``pandas`` entry comes back with it."""
    pa = sys.modules.get("pyarrow")
    if pa is None or not isinstance(table, pa.Table) or not table.schema.metadata:
        return {}
    return {k.decode("utf-8", "surrogateescape"): v.decode("utf-8", "surrogateescape")
            for k, v in table.schema.metadata.items()}


def _categorical_message(col, what: str = "column", pandas: bool = True) -> str:
    fix = (f"(df[{col!r}].cat.codes and df[{col!r}].cat.categories), or its values with df[{col!r}].astype(str)"
           if pandas else "(its indices and its dictionary), or cast it to its value type (strings)")
    return (f"shmarray: invalid argument: {what} {col!r} is categorical (dictionary-encoded), which a segment "
            f"cannot hold yet ({_PLANNED}); store its codes and categories as two columns {fix}")


def _from_pandas(df, pd):
    """pyarrow.Table.from_pandas, with the frame's own index kept (as a
    column when it is not a RangeIndex) and clear errors."""
    pa = _pyarrow("create from a pandas DataFrame")
    for col, dtype in df.dtypes.items():
        if isinstance(dtype, pd.CategoricalDtype):
            raise InvalidArgumentError(_categorical_message(col))
    if any(isinstance(level.dtype, pd.CategoricalDtype) for level in _levels(df.index)):
        raise InvalidArgumentError(_categorical_message(df.index.name or "(unnamed)", "the index") +
                                   " (or df.reset_index(), then the same for the column)")
    try:
        return pa.Table.from_pandas(df, preserve_index=None)
    except (pa.ArrowException, ValueError, TypeError, OverflowError) as e:
        raise InvalidArgumentError(_unconvertible(df, e, pa, pd)) from e


def _unconvertible(df, error, pa, pd) -> str:
    """The message for a frame pyarrow could not convert, naming the first
    column it fails on and the kinds of values that column holds."""
    for col in df.columns:
        try:
            pa.array(df[col], from_pandas=True)
        except (pa.ArrowException, ValueError, TypeError, OverflowError) as e:
            values = [None if v is pd.NA or (isinstance(v, float) and v != v) else v for v in df[col].tolist()]
            first = first_kinds(values)
            if "int>64" in first:
                what = f"the integer {values[first['int>64']]} at row {first['int>64']}, beyond 64 bits"
                fix = "store such integers as str, as float (losing precision), or as two 64-bit columns"
            else:
                what = f"{found(first)} ({e})"
                fix = ("a column holds one type and nothing is converted silently: convert it first "
                       f"(df[{col!r}].astype(str) for text, a nullable dtype such as 'Int64' for integers "
                       "with missing values)")
            return f"shmarray: invalid argument: column {col!r} (dtype {df[col].dtype}) holds {what}; {fix}"
    return f"shmarray: invalid argument: pyarrow cannot convert this DataFrame: {error}"


def _levels(index):
    return [index.get_level_values(i) for i in range(index.nlevels)]


def _storable(table):
    """The table with view types (polars exports strings as string_view)
    cast to the string and binary types a segment holds; dictionary, list
    and struct columns refused with the column named."""
    pa = sys.modules["pyarrow"]
    types = pa.types
    columns, changed = [], False
    for field, column in zip(table.schema, table.columns):
        t = field.type
        if types.is_dictionary(t):
            raise InvalidArgumentError(_categorical_message(field.name, pandas=False))
        if types.is_list(t) or types.is_large_list(t) or types.is_fixed_size_list(t) or \
                getattr(types, "is_list_view", lambda _: False)(t) or types.is_struct(t) or types.is_map(t):
            raise InvalidArgumentError(
                f"shmarray: invalid argument: column {field.name!r} is {t}, a nested type, which a segment "
                f"cannot hold yet ({_PLANNED}); for rows of equal length give a 2-D NumPy array, otherwise "
                "store the flat values and the row lengths (or offsets) as two columns")
        if getattr(types, "is_string_view", lambda _: False)(t) or getattr(types, "is_binary_view", lambda _: False)(t):
            text = types.is_string_view(t)
            # The buffers' total bounds the values' bytes (nbytes refuses view types).
            large = sum(b.size for c in column.chunks for b in c.buffers() if b is not None) > 2**31 - 1
            target = (pa.large_string() if large else pa.string()) if text else \
                (pa.large_binary() if large else pa.binary())
            column, field, changed = column.cast(target), field.with_type(target), True
        columns.append((field, column))
    if not changed:
        return table
    schema = pa.schema([f for f, _ in columns], metadata=table.schema.metadata)
    return pa.Table.from_arrays([c for _, c in columns], schema=schema)


def to_pandas(segment, check_offsets: bool = False, **kwargs):
    """``segment`` as a pandas DataFrame; see :meth:`Segment.to_pandas`."""
    table = segment.to_arrow(check_offsets=check_offsets)
    kwargs.setdefault("split_blocks", True)  # no consolidation: numeric columns stay over the pages
    return table.to_pandas(**kwargs)
