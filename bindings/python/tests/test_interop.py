"""Arrow PyCapsule Interface, pandas, polars, DuckDB and nanoarrow over a
Segment and a Column: each consumer gets the shared pages themselves (buffer
addresses inside the mapping), and every export outlives the Segment.

pandas, polars, duckdb and nanoarrow are in the test venv (Makefile target
venv), and a missing one fails; the wheel test installs them where its
Python has wheels, and skips only there, naming the package (conftest.interop)."""

import gc
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import pyarrow as pa

import shmarray
from conftest import interop

pd = interop("pandas")
pl = interop("polars")
duckdb = interop("duckdb")
na = interop("nanoarrow")

N = 1000


def mapping(seg):
    """(first address, end) of the segment's mapping in this process."""
    base = np.frombuffer(seg._h.memory(), np.uint8).ctypes.data
    return base, base + seg.size


def inside(seg, address: int) -> bool:
    lo, hi = mapping(seg)
    return lo <= address < hi


def address(buf) -> int:
    """The address of anything exporting a buffer (pyarrow, nanoarrow, NumPy)."""
    return np.frombuffer(buf, np.uint8).ctypes.data if len(memoryview(buf).cast("B")) else 0


@pytest.fixture
def seg(shm_dir, seg_name):
    qty = np.ma.masked_array(np.arange(N), mask=np.arange(N) % 7 == 0)
    cols = {"price": np.linspace(1, 2, N), "qty": qty, "n": np.arange(N, dtype="i4"),
            "ticker": [f"T{i % 13}" for i in range(N)]}
    s = shmarray.create(seg_name, cols, dir=shm_dir, metadata={"source": "test"})
    yield s
    s.close()


# -- Arrow consumers over the Segment ------------------------------------------


def test_pyarrow_table_is_zero_copy(seg):
    t = pa.table(seg)
    assert t.column_names == ["price", "qty", "n", "ticker"]
    assert t.schema.metadata == {b"source": b"test"}
    assert pa.schema(seg) == t.schema  # __arrow_c_schema__
    for name in t.column_names:
        chunk = t.column(name).chunk(0)
        for buf in chunk.buffers():
            if buf is not None and buf.size:
                assert inside(seg, buf.address), name
    assert t.column("qty").null_count == (np.arange(N) % 7 == 0).sum()


def test_polars_is_zero_copy(seg):
    # polars (1.x and later) makes any Arrow PyCapsule object a Series: a
    # table's stream is a struct Series, whose unnest() is the frame.
    got = pl.from_arrow(seg)
    if isinstance(got, pl.Series):
        assert got.dtype == pl.Struct
        got = got.struct.unnest()
    for df in (got, pl.DataFrame(seg)):
        assert df.shape == (N, 4)
        assert df["price"].sum() == pytest.approx(np.linspace(1, 2, N).sum())
        for name in ("price", "n"):  # no nulls: NumPy sees polars' own buffer
            assert inside(seg, df[name].to_numpy(allow_copy=False).ctypes.data), name
        assert df["qty"].null_count() == (np.arange(N) % 7 == 0).sum()


def test_duckdb_queries_the_segment(seg):
    assert duckdb.sql("select sum(price) from seg").fetchall()[0][0] == pytest.approx(np.linspace(1, 2, N).sum())
    plan = duckdb.sql("explain select sum(price) from seg").fetchall()[0][1]
    assert "ARROW_SCAN" in plan  # DuckDB scans the Arrow stream in place, no conversion first
    assert duckdb.sql("select count(*) from seg where qty is null").fetchall()[0][0] == (np.arange(N) % 7 == 0).sum()


def test_duckdb_reads_the_shared_pages_and_copies_nothing(shm_dir, seg_name):
    """Zero copy seen from the outside: summing a 128 MiB column, DuckDB
    faults in the segment's pages (file-backed RSS grows by the column) and
    its private memory grows by far less than the column (no copy)."""
    rows = 16 << 20
    with shmarray.Builder(seg_name, dir=shm_dir) as b:
        x = b.empty("price", rows, "float64")
        x[:] = 1.0
        del x
        b.publish().close()
    script = textwrap.dedent(f"""
        import duckdb, shmarray
        def rss():
            f = dict(l.split(":", 1) for l in open("/proc/self/status"))
            kb = lambda k: int(f[k].split()[0]) * 1024
            return kb("RssAnon"), kb("RssFile") + kb("RssShmem")
        duckdb.sql("select 1").fetchall()  # DuckDB's own start-up memory
        seg = shmarray.attach({seg_name!r}, dir={shm_dir!r})
        anon0, shared0 = rss()
        total = duckdb.sql("select sum(price) from seg").fetchall()[0][0]
        anon1, shared1 = rss()
        print(total, anon1 - anon0, shared1 - shared0)
    """)
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}).stdout.split()
    total, anon, shared = float(out[0]), int(out[1]), int(out[2])
    size = rows * 8
    assert total == rows
    assert shared > size * 0.9, f"DuckDB did not read the shared pages: file RSS +{shared >> 20} MiB"
    assert anon < size * 0.25, f"DuckDB's private memory grew by {anon >> 20} MiB for a {size >> 20} MiB column"


def test_pandas_from_arrow_and_to_pandas(seg):
    df = seg.to_pandas()
    assert list(df.columns) == ["price", "qty", "n", "ticker"]
    for name in ("price", "n"):  # numeric without nulls: over the pages
        assert inside(seg, df[name].to_numpy().ctypes.data), name
        assert np.shares_memory(df[name].to_numpy(), seg[name])
    if hasattr(pd.DataFrame, "from_arrow"):  # pandas >= 3.0: takes the Segment itself
        df2 = pd.DataFrame.from_arrow(seg)
    else:
        df2 = pa.table(seg).to_pandas()
    pd.testing.assert_frame_equal(df2, df)


def test_nanoarrow_is_zero_copy(seg):
    arr = na.Array(seg)
    assert arr.schema.n_fields == 4 and len(arr) == N
    for i in range(4):
        for buf in arr.child(i).buffers:
            if len(memoryview(buf).cast("B")):
                assert inside(seg, address(buf)), i
    col = na.c_array(seg.column("price"))
    assert inside(seg, address(list(col.view().buffers)[1]))


# -- requested_schema ------------------------------------------------------------


def test_requested_schema_equal_is_served_other_is_refused(seg):
    own = pa.schema([("price", pa.float64()), ("qty", pa.int64()), ("n", pa.int32()), ("ticker", pa.string())])
    assert pa.table(seg, schema=own).num_rows == N
    assert pa.RecordBatchReader._import_from_c_capsule(
        seg.__arrow_c_stream__(own.__arrow_c_schema__())).read_all().num_rows == N
    other = pa.schema([("price", pa.float32()), ("qty", pa.int64()), ("n", pa.int32()), ("ticker", pa.string())])
    with pytest.raises(shmarray.InvalidArgumentError,
                       match=r"field 'price' has Arrow format \"g\", the request \"f\".*does not cast"):
        seg.__arrow_c_stream__(other.__arrow_c_schema__())
    fewer = pa.schema([("price", pa.float64())])
    with pytest.raises(shmarray.InvalidArgumentError, match="has 4 fields, the request 1"):
        seg.__arrow_c_stream__(fewer)  # an object with __arrow_c_schema__ is taken too
    renamed = pa.schema([("p", pa.float64()), ("qty", pa.int64()), ("n", pa.int32()), ("ticker", pa.string())])
    with pytest.raises(shmarray.InvalidArgumentError, match="field 0 is called \"price\", the request calls it \"p\""):
        seg.__arrow_c_stream__(renamed)
    with pytest.raises(shmarray.InvalidArgumentError, match="requested_schema must be"):
        seg.__arrow_c_stream__(42)
    col = seg.column("qty")
    assert pa.array(col, type=pa.int64()).null_count == (np.arange(N) % 7 == 0).sum()
    with pytest.raises(shmarray.InvalidArgumentError, match="array 'qty' of segment .* format \"l\", the request \"i\""):
        col.__arrow_c_array__(pa.field("qty", pa.int32()).__arrow_c_schema__())


def test_column_capsules(seg):
    col = seg.column("ticker")
    assert (col.name, col.type, len(col), col.null_count) == ("ticker", "utf8", N, 0)
    assert pa.array(col).to_pylist()[:3] == ["T0", "T1", "T2"]
    assert pa.field(col).name == "ticker"  # __arrow_c_schema__
    assert pl.Series(col).to_list()[:2] == ["T0", "T1"]
    chunk = pa.array(seg.column("price"))
    assert inside(seg, chunk.buffers()[1].address)
    with pytest.raises(shmarray.NotFoundError):
        seg.column("nope")


# -- lifetime: every export holds the mapping ------------------------------------


def mapped(path: str) -> bool:
    with open("/proc/self/maps") as f:
        return any(line.rstrip().endswith(path) for line in f)


def test_exports_outlive_the_segment(shm_dir, seg_name):
    s = shmarray.create(seg_name, {"x": np.arange(10.0), "y": np.arange(10)}, dir=shm_dir)
    path = s.path
    stream = s.__arrow_c_stream__()
    schema, array = s.column("x").__arrow_c_array__()
    s.close()
    del s
    gc.collect()
    assert mapped(path)
    assert pa.RecordBatchReader._import_from_c_capsule(stream).read_all().column("x").to_pylist() == \
        list(np.arange(10.0))
    x = pa.Array._import_from_c_capsule(schema, array)
    assert x.to_pylist() == list(np.arange(10.0))
    del stream, schema, array
    gc.collect()
    assert mapped(path)  # x holds the array's export
    del x
    gc.collect()
    assert not mapped(path)


@pytest.mark.skipif(tuple(int(v) for v in np.__version__.split(".")[:2]) < (2, 1),
                    reason=f"NumPy {np.__version__} has no DLPack 1.0 (versioned capsules came in NumPy 2.1)")
def test_a_dlpack_export_outlives_the_segment(shm_dir, seg_name):
    s = shmarray.create(seg_name, {"y": np.arange(10)}, dir=shm_dir)
    path = s.path
    tensor = s.column("y").__dlpack__(max_version=(1, 0))
    s.close()
    del s
    gc.collect()
    assert mapped(path)

    class Holder:  # hands the capsule made before close to NumPy
        def __dlpack__(self, **kw):
            return tensor

        def __dlpack_device__(self):
            return (1, 0)
    y = np.from_dlpack(Holder())
    assert y.tolist() == list(range(10)) and not y.flags.writeable
    del tensor
    gc.collect()
    assert mapped(path)  # y holds the DLPack export
    del y
    gc.collect()
    assert not mapped(path)


def test_unconsumed_capsules_release_the_mapping(shm_dir, seg_name):
    s = shmarray.create(seg_name, {"x": np.arange(10.0)}, dir=shm_dir)
    path = s.path
    caps = [s.__arrow_c_stream__(), s.__arrow_c_schema__(), s.column("x").__arrow_c_array__(),
            s.column("x").__dlpack__(max_version=(1, 0))]
    s.close()
    assert mapped(path)
    del caps
    gc.collect()
    assert not mapped(path)


def test_capsules_need_no_pyarrow(shm_dir, seg_name):
    """Producing the capsules is the C export: a process where pyarrow cannot
    be imported still hands the Segment to nanoarrow, zero-copy."""
    shmarray.create(seg_name, {"x": np.arange(5.0), "s": ["a", None, "c", "d", "e"]}, dir=shm_dir).close()
    script = textwrap.dedent(f"""
        import sys
        sys.modules["pyarrow"] = None  # import pyarrow now fails
        import numpy as np, nanoarrow as na, shmarray
        seg = shmarray.attach({seg_name!r}, dir={shm_dir!r})
        base = np.frombuffer(seg._h.memory(), np.uint8).ctypes.data
        arr = na.Array(seg)
        buf = arr.child(0).buffers[1]
        addr = np.frombuffer(buf, np.uint8).ctypes.data
        assert base <= addr < base + seg.size
        print(arr.child(0).to_pylist(), arr.child(1).to_pylist(), na.Array(seg.column("x")).to_pylist())
        assert "pyarrow" not in [m for m in sys.modules if sys.modules[m] is not None]
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[0.0, 1.0, 2.0, 3.0, 4.0] ['a', None, 'c', 'd', 'e'] [0.0, 1.0, 2.0, 3.0, 4.0]"


# -- pandas round trips ------------------------------------------------------------


def frame():
    return pd.DataFrame({
        "i": pd.array([1, None, 3, 4], dtype="Int64"),
        "b": pd.array([True, None, False, True], dtype="boolean"),
        "s": pd.array(["a", None, "c", "€"], dtype="string"),
        "t": pd.date_range("2024-03-30", periods=4, freq="D", tz="Europe/Paris"),
        "f": [1.5, 2.5, 3.5, 4.5],
        "n": np.array([1, 2, 3, 4], dtype="int64"),
    }, index=pd.Index(["r1", "r2", "r3", "r4"], name="key"))


def test_pandas_round_trip(shm_dir, seg_name):
    df = frame()
    with shmarray.create(seg_name, df, dir=shm_dir, metadata={"extra": "1"}) as seg:
        assert "pandas" in seg.metadata and seg.metadata["extra"] == "1"
        assert seg.columns == ["i", "b", "s", "t", "f", "n", "key"]
        out = seg.to_pandas()
        pd.testing.assert_frame_equal(out, df)
        assert str(out["t"].dtype) == str(df["t"].dtype)  # the time zone is back
        for name in ("f", "n"):
            values = out[name].to_numpy()
            assert inside(seg, values.ctypes.data) and np.shares_memory(values, seg[name])
            assert not values.flags.writeable
        out["f"] = out["f"] + 1  # a new column: the segment is untouched
        mine = seg.to_pandas().copy()  # .loc writes need the frame's own memory (README)
        mine.loc["r1", "n"] = 0
        assert seg["f"][0] == 1.5 and seg["n"][0] == 1 and out["f"].iloc[0] == 2.5


def test_pandas_range_index_and_multiindex(shm_dir, seg_name):
    df = pd.DataFrame({"x": np.arange(3.0)})
    with shmarray.create(seg_name, df, dir=shm_dir) as seg:
        assert seg.columns == ["x"]  # a RangeIndex is metadata only
        pd.testing.assert_frame_equal(seg.to_pandas(), df)
    mi = pd.DataFrame({"v": [1, 2]}, index=pd.MultiIndex.from_tuples([("a", 1), ("b", 2)], names=["k", "j"]))
    with shmarray.create(seg_name + "m", mi, dir=shm_dir) as seg:
        pd.testing.assert_frame_equal(seg.to_pandas(), mi)


def test_polars_and_arrow_streams_are_created(shm_dir, seg_name):
    df = pl.DataFrame({"a": [1, 2, 3], "s": ["x", None, "z"], "b": [b"1", b"2", None]})
    with shmarray.create(seg_name, df, dir=shm_dir) as seg:  # string_view arrives as utf8
        assert [seg.info(c).type for c in seg.columns] == ["int64", "utf8", "binary"]
        assert pl.DataFrame(seg).equals(df)
        with shmarray.create(seg_name + "copy", seg, dir=shm_dir) as copy:  # a Segment is a stream too
            assert pa.table(copy).equals(pa.table(seg))


def test_categoricals_and_lists_round_trip(shm_dir, seg_name):
    """Categoricals (columns and index) and lists (format 1.3) are stored as
    dictionaries and lists, and come back as they went in."""
    df = pd.DataFrame({"x": [1, 2], "c": pd.Categorical(["a", "b"])},
                      index=pd.CategoricalIndex(["u", "v"], name="k"))
    with shmarray.create(seg_name, df, dir=shm_dir) as seg:
        assert seg.info("c").type == "dictionary"
        back = seg.to_pandas()
        assert back.equals(df) and isinstance(back["c"].dtype, pd.CategoricalDtype)
    with shmarray.create(seg_name + "-pl", pl.DataFrame({"k": ["a", "b", "a"], "l": [[1], [2, 3], []]},
                                                        schema={"k": pl.Categorical, "l": pl.List(pl.Int64)}),
                         dir=shm_dir) as seg:
        assert seg["k"].to_pylist() == ["a", "b", "a"] and seg["l"].to_pylist() == [[1], [2, 3], []]
        assert pl.DataFrame(seg)["l"].to_list() == [[1], [2, 3], []]
    with shmarray.create(seg_name + "-pa", pa.table({"d": pa.array(["a", "b"]).dictionary_encode()}),
                         dir=shm_dir) as seg:
        assert seg["d"].to_pylist() == ["a", "b"]


# -- clear errors for what a column cannot hold ------------------------------------


@pytest.mark.parametrize("value, pattern", [
    (["a", 1, 2.5], r"column 'c' mixes types \(str at row 0, int at row 1, float at row 2\).*nothing is "
                    r"converted silently"),
    ([b"x", 2], r"column 'c' mixes types \(bytes at row 0, int at row 1\)"),
    ([1, None, 3], r"column 'c' has None at row 1 in a list of int.*masked_array.*pyarrow array"),
    ([1.5, None], r"column 'c' has None at row 1 in a list of float"),
    ([2**70], r"column 'c' has the integer 1180591620717411303424 at row 0, beyond 64 bits"),
    ([-(2**63) - 1], r"beyond 64 bits"),
    ([1, [2, 3]], r"column 'c' has a list at row 1 among other values.*every row a list"),
    ([{"a": 1}], r"column 'c' has a dict at row 0.*its own column"),
    (np.array(["a", 1], dtype=object), r"column 'c' mixes types \(str at row 0, int at row 1\)"),
    (np.array([1, None], dtype=object), r"column 'c' has None at row 1 in an object array of int"),
    (pl.DataFrame({"s": [{"a": 1}]}), r"column 's' is struct<a: int64>, a nested type a segment does not hold"),
    (pd.DataFrame({"x": [1, 2, 3], "o": ["a", 1, 2.5]}),
     r"column 'o' \(dtype object\) holds str at row 0, int at row 1, float at row 2 .*nothing is converted"),
    (pd.DataFrame({"o": pd.Series([1, None, 2**70], dtype=object)}), r"column 'o' \(dtype object\) holds the integer 1180591620717411303424 "
                                            r"at row 2, beyond 64 bits"),
])
def test_values_a_column_cannot_hold(shm_dir, seg_name, value, pattern):
    columns = value if isinstance(value, (pl.DataFrame, pd.DataFrame)) else {"c": value}
    with pytest.raises(shmarray.InvalidArgumentError, match=pattern):
        shmarray.create(seg_name, columns, dir=shm_dir)
    assert not os.listdir(shm_dir)


@pytest.mark.parametrize("value, stored", [
    ([1, 2.5], [1.0, 2.5]),                        # numbers promote, as in NumPy
    ([True, 2], [1, 2]),
    ([[1, 2], [3, 4]], [[1, 2], [3, 4]]),           # equal lengths: a 2-D array
    ([[1, 2], [3]], [[1, 2], [3]]),                 # ragged: a list column (format 1.3)
    (np.array([[1], [2, 3]] + [None], dtype=object)[:2], [[1], [2, 3]]),
    ([2**64 - 1], [2**64 - 1]),                     # uint64
    ([np.datetime64("2020-01-01")], [np.datetime64("2020-01-01")]),
    (np.array([1, 2], dtype=object), [1, 2]),      # objects that are numbers of one kind
])
def test_values_a_column_still_holds(shm_dir, seg_name, value, stored):
    with shmarray.create(seg_name, {"c": value}, dir=shm_dir) as seg:
        got = seg["c"]
        if isinstance(got, shmarray.ListColumn):
            assert got.to_pylist() == stored
        else:
            assert got.tolist() == np.array(stored).tolist()


def test_masked_object_array_of_numbers(shm_dir, seg_name):
    value = np.ma.masked_array(np.array([1, None, 3], dtype=object), mask=[False, True, False])
    with shmarray.create(seg_name, {"c": value}, dir=shm_dir) as seg:
        assert seg["c"].tolist() == [1, None, 3] and seg.info("c").type == "int64"


def test_names_that_are_not_ascii_are_shown_as_typed(shm_dir):
    for call in (lambda: shmarray.create("prix-€", {"x": [1]}, dir=shm_dir),
                 lambda: shmarray.attach("prix-€", dir=shm_dir),
                 lambda: shmarray.unlink("prix-€", dir=shm_dir)):
        with pytest.raises(shmarray.InvalidArgumentError,
                           match=r"segment name \"prix-€\" has the character '€' \(U\+20AC, not ASCII\) at byte 5"):
            call()
    with shmarray.create("prix", {"prix-€": [1.5]}, dir=shm_dir) as seg:  # array names are UTF-8
        assert seg.columns == ["prix-€"] and pa.table(seg).column_names == ["prix-€"]


def test_no_export_leaves_a_mapping_behind(shm_dir, seg_name):
    """200 attach / export every way / close cycles: every export, consumed
    or dropped unconsumed, gives its reference back (a missing one would
    leave that cycle's mapping in /proc/self/maps)."""
    shmarray.create(seg_name, {"x": np.arange(100.0), "s": ["a", None] * 50}, dir=shm_dir).close()
    path = os.path.join(shm_dir, seg_name)
    dlpack = tuple(int(v) for v in np.__version__.split(".")[:2]) >= (2, 1)
    for _ in range(200):
        with shmarray.attach(seg_name, dir=shm_dir) as s:
            pa.table(s)
            pl.DataFrame(s)
            na.Array(s)
            pa.array(s.column("s"))
            s.__arrow_c_stream__(), s.__arrow_c_schema__(), s.column("x").__arrow_c_array__()
            s.column("x").__dlpack__(max_version=(1, 0))
            if dlpack:
                np.from_dlpack(s.column("x")).sum()
    gc.collect()
    with open("/proc/self/maps") as f:
        assert sum(line.rstrip().endswith(path) for line in f) == 0
