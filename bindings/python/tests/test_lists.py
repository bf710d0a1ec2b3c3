"""Lists and dictionaries (format 1.3, spec §6.1): ragged rows, lists of
NumPy arrays, pyarrow lists and dictionaries, and pandas Categoricals
written; ListColumn and DictionaryColumn read back zero-copy; pyarrow out."""

import numpy as np
import pytest

import shmarray
from shmarray import _lists

pa = pytest.importorskip("pyarrow")


def test_ragged_rows_and_numpy_rows(shm_dir, seg_name):
    rows = [np.array([1, 2, 3], dtype=np.int16), np.array([], dtype=np.int16), None, np.array([4], dtype=np.int16)]
    with shmarray.create(seg_name, {"r": rows, "p": [[1.5, 2.5], [], None, [3.0]]}, dir=shm_dir) as seg:
        assert seg.columns == ["r", "p"] and len(seg) == 2 and seg.num_rows == 4
        r = seg["r"]
        assert isinstance(r, shmarray.ListColumn) and len(r) == 4 and r.null_count == 1
        assert r.values.dtype == np.int16
        assert r[0].tolist() == [1, 2, 3] and r[1].tolist() == [] and r[2] is None and r[-1].tolist() == [4]
        assert r.offsets.tolist() == [0, 3, 3, 3, 4]
        assert not r[0].flags.writeable
        # A row is a view of the child's pages, not a copy.
        assert np.shares_memory(r[0], r.values)
        assert seg["p"].to_pylist() == [[1.5, 2.5], [], None, [3.0]]
        assert seg.info("r").type == "list"
        seg.validate()


def test_masked_rows_keep_nulls(shm_dir, seg_name):
    rows = [np.ma.MaskedArray([1, 2], mask=[False, True]), np.ma.MaskedArray([3], mask=[False])]
    with shmarray.create(seg_name, {"m": rows}, dir=shm_dir) as seg:
        assert seg["m"].to_pylist() == [[1, None], [3]]


def test_ragged_error_names_the_fix(shm_dir, seg_name):
    with pytest.raises(shmarray.InvalidArgumentError, match="list column"):
        shmarray.create(seg_name, {"bad": [1, [2, 3]]}, dir=shm_dir)
    with pytest.raises(shmarray.InvalidArgumentError, match="1-D"):
        shmarray.create(seg_name, {"bad": [np.zeros((2, 2)), None]}, dir=shm_dir)


def test_pyarrow_lists_in_and_out(shm_dir, seg_name):
    inner = pa.array([[1, None], [], None, [3, 4, 5]], type=pa.list_(pa.int32()))
    outer = pa.array([[[1.0]], None, [[], [2.0, 3.0]]], type=pa.large_list(pa.list_(pa.float64())))
    sliced = pa.array([["a"], ["b", None], [], ["c"]], type=pa.list_(pa.string())).slice(1, 2)
    with shmarray.create(seg_name, {"i": inner, "o": outer, "s": sliced}, dir=shm_dir) as seg:
        assert seg["i"].to_pylist() == inner.to_pylist()
        assert seg["o"].to_pylist() == outer.to_pylist()
        assert seg["s"].to_pylist() == [["b", None], []]
        assert seg["s"].offsets.tolist() == [0, 2, 2]  # rebased
        assert isinstance(seg["o"].values, shmarray.ListColumn)
        for name, want in (("i", inner), ("o", outer), ("s", sliced)):
            got = seg.column_to_arrow(name)
            got.validate(full=True)
            assert got.type == want.type and got.to_pylist() == want.to_pylist()


def test_dictionaries_in_and_out(shm_dir, seg_name):
    sym = pa.array(["AAPL", "MSFT", None, "AAPL"]).dictionary_encode()
    px = pa.DictionaryArray.from_arrays(pa.array([1, 0, 1], type=pa.uint16()), pa.array([10, None]))
    with shmarray.create(seg_name, {"sym": sym, "px": px}, dir=shm_dir) as seg:
        s = seg["sym"]
        assert isinstance(s, shmarray.DictionaryColumn)
        assert s.to_pylist() == ["AAPL", "MSFT", None, "AAPL"]
        assert list(s.dictionary) == ["AAPL", "MSFT"]
        assert s.codes().tolist() == [0, 1, -1, 0]
        assert seg["px"].to_pylist() == [None, 10, None]
        got = seg.column_to_arrow("sym")
        assert pa.types.is_dictionary(got.type) and got.to_pylist() == sym.to_pylist()
        assert seg.to_arrow().num_columns == 2 if seg.num_rows is not None else True


def test_pandas_categorical_round_trip(shm_dir, seg_name):
    pd = pytest.importorskip("pandas")
    cat = pd.Categorical(["b", "a", None, "b"], categories=["b", "a"])
    with shmarray.create(seg_name, {"c": cat, "s": pd.Series(cat)}, dir=shm_dir) as seg:
        for name in ("c", "s"):
            back = seg[name].to_pandas()
            assert isinstance(back, pd.Categorical)
            assert list(back.categories) == ["b", "a"]
            assert back.codes.tolist() == [0, 1, -1, 0]


def test_null_values_in_the_dictionary_become_missing(shm_dir, seg_name):
    pd = pytest.importorskip("pandas")
    d = pa.DictionaryArray.from_arrays(pa.array([0, 1, 2, 1], type=pa.int8()), pa.array(["x", None, "y"]))
    with shmarray.create(seg_name, {"d": d}, dir=shm_dir) as seg:
        back = seg["d"].to_pandas()
        assert list(back.categories) == ["x", "y"]
        assert back.codes.tolist() == [0, -1, 1, -1]


def test_dictionary_keys_cannot_be_indexed(shm_dir, seg_name):
    sym = pa.array(["a", "b"]).dictionary_encode()
    with pytest.raises(shmarray.InvalidArgumentError, match="dictionary-encoded.*dictionary_decode"):
        shmarray.create(seg_name, {"sym": sym}, dir=shm_dir, index=["sym"])


def test_slots_are_checked_without_validation(shm_dir, seg_name):
    """A list slot whose offsets leave the child, and a dictionary index out
    of range, raise from the C core's checks instead of reading past."""
    with shmarray.create(seg_name, {"l": [[1, 2], [3]], "d": pa.array(["x", "y"]).dictionary_encode()},
                         dir=shm_dir) as seg:
        l_off, d_data = seg._desc("l").offsets[0], seg._desc("d").data[0]
    path = f"{shm_dir}/{seg_name}"
    with open(path, "r+b") as f:
        f.seek(l_off + 8)
        f.write((99).to_bytes(4, "little"))  # offsets[2] = 99, past the child's 3 slots
        f.seek(d_data)
        f.write((5).to_bytes(4, "little"))  # index 5 into a 2-value dictionary
    with shmarray.attach(seg_name, dir=shm_dir) as seg:
        assert seg["l"][0].tolist() == [1, 2]
        with pytest.raises(shmarray.BadOffsetsError, match="outside the child's 3 slots"):
            seg["l"][1]
        with pytest.raises(shmarray.OutOfBoundsError, match="outside its 2-value dictionary"):
            seg["d"][0]
        with pytest.raises(shmarray.BadOffsetsError):
            seg.validate()


def test_doctests(run_doctests):
    run_doctests(_lists)


def test_without_pyarrow(shm_dir, seg_name):
    """One level of lists and pandas Categoricals need NumPy only: they go
    through shmarray_builder_add_list / _add_dictionary."""
    import subprocess
    import sys
    import textwrap
    pytest.importorskip("pandas")
    code = textwrap.dedent(f"""
        import sys
        sys.modules["pyarrow"] = None  # import pyarrow now fails
        import numpy as np, pandas as pd, shmarray
        seg = shmarray.create({seg_name!r}, {{
            "r": [np.array([1, 2], dtype=np.uint8), None, np.array([], dtype=np.uint8)],
            "s": [["a", None], [], ["bc"]],
            "n": [[1, None, 3], [4]][:1] + [[5]] + [None],
            "c": pd.Categorical(["x", None, "y"]),
        }}, dir={str(shm_dir)!r})
        assert seg["r"].values.dtype == np.uint8 and seg["r"].to_pylist() == [[1, 2], None, []]
        assert seg["s"].to_pylist() == [["a", None], [], ["bc"]], seg["s"].to_pylist()
        assert seg["n"].to_pylist() == [[1, None, 3], [5], None], seg["n"].to_pylist()
        c = seg["c"]
        assert c.indices.dtype == np.int8 and c.to_pylist() == ["x", None, "y"]
        assert list(c.to_pandas().categories) == ["x", "y"]
        seg.validate()
        try:
            shmarray.create({seg_name!r} + "-deep", {{"d": [[[1]], [[2, 3]]]}}, dir={str(shm_dir)!r})
        except shmarray.InvalidArgumentError as e:
            assert "pyarrow" in str(e)
        else:
            raise AssertionError("lists of lists without pyarrow")
        print("ok")
    """)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.stdout.strip() == "ok", p.stderr


def test_builder_adds_lists(shm_dir, seg_name):
    with shmarray.Builder(seg_name, dir=shm_dir) as b:
        b.add("rows", [[1, 2], [3]])
        b.add("cat", pa.array(["x", "x", "y"]).dictionary_encode())
        seg = b.publish()
    with seg:
        assert seg.columns == ["rows", "cat"]
        assert seg["rows"].to_pylist() == [[1, 2], [3]]
        assert seg["cat"].to_pylist() == ["x", "x", "y"]


def test_rectangular_python_lists_stay_two_dimensional(shm_dir, seg_name):
    with shmarray.create(seg_name, {"m": [[1, 2], [3, 4]], "r": [[1, 2], [3]],
                                    "a": [np.array([1, 2]), np.array([3, 4])]}, dir=shm_dir) as seg:
        assert isinstance(seg["m"], np.ndarray) and seg["m"].shape == (2, 2)
        assert isinstance(seg["r"], shmarray.ListColumn)
        assert isinstance(seg["a"], shmarray.ListColumn)  # NumPy rows: a list column


def test_text_rows_are_lists(shm_dir, seg_name):
    with shmarray.create(seg_name, {"t": [["a", "b"], ["c", None]]}, dir=shm_dir) as seg:
        assert seg["t"].to_pylist() == [["a", "b"], ["c", None]]
