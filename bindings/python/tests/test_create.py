"""shmarray.create: every kind of input, round-tripped through the pure reader."""

import ctypes
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import shmarray
from shmarray import _lib
from shmarray._errors import CODE_NAMES

NUMERIC = ["i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8", "f2", "f4", "f8"]


@pytest.mark.parametrize("dtype", NUMERIC)
def test_numeric_round_trip(shm_dir, seg_name, dtype):
    a = (np.arange(100) % 50).astype(dtype)
    with shmarray.create(seg_name, {"a": a}, dir=shm_dir) as seg:
        got = seg["a"]
        assert got.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(got, a)
        assert not got.flags.writeable


def test_nd_masked_and_non_contiguous(shm_dir, seg_name):
    cube = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    strided = np.arange(20, dtype=np.int64)[::2]
    masked = np.ma.MaskedArray([1.5, 2.5, 3.5], mask=[False, True, False])
    big_endian = np.arange(5, dtype=">i4")
    with shmarray.create(seg_name, {"cube": cube, "strided": strided, "masked": masked, "be": big_endian},
                         dir=shm_dir) as seg:
        np.testing.assert_array_equal(seg["cube"], cube)
        assert seg["cube"].shape == (2, 3, 4)
        np.testing.assert_array_equal(seg["strided"], strided)
        m = seg["masked"]
        assert isinstance(m, np.ma.MaskedArray)
        assert m.mask.tolist() == [False, True, False]
        assert m[0] == 1.5 and m[2] == 3.5
        np.testing.assert_array_equal(seg["be"], np.arange(5))


def test_bool_temporal_and_bytes(shm_dir, seg_name):
    flags = np.array([True, False, True, True, False, False, True, False, True])
    ts = np.array(["2024-01-01T00:00:00.000001", "NaT"], dtype="datetime64[us]")
    days = np.array(["2024-02-29", "1970-01-01"], dtype="datetime64[D]")
    dur = np.array([1, -2], dtype="timedelta64[ns]")
    fixed = np.array([b"abc", b"de"], dtype="S3")
    with shmarray.create(seg_name, {"flags": flags, "ts": ts, "days": days, "dur": dur, "fixed": fixed},
                         dir=shm_dir) as seg:
        np.testing.assert_array_equal(np.asarray(seg["flags"]), flags)
        t = seg["ts"]
        assert t.mask.tolist() == [False, True], "NaT is stored as null"
        assert t[0] == ts[0]
        np.testing.assert_array_equal(seg["days"], days)
        np.testing.assert_array_equal(seg["dur"], dur)
        np.testing.assert_array_equal(seg["fixed"], fixed)
        assert seg.info("ts").type == "timestamp"
        assert seg.info("days").type == "date32"


def test_strings(shm_dir, seg_name):
    words = ["héllo", "", None, "🌍", "x" * 1000]
    blobs = [b"\x00\xff", None, b""]
    uni = np.array(["a", "bcd", "", "ünï"])
    with shmarray.create(seg_name, {"w": words, "b": blobs, "u": uni, "o": np.array(["x", None], dtype=object)},
                         dir=shm_dir) as seg:
        assert seg["w"].to_pylist() == words
        assert seg["b"].to_pylist() == blobs
        assert seg["u"].to_pylist() == uni.tolist()
        assert seg["o"].to_pylist() == ["x", None]
        assert seg.info("w").null_count == 1
        seg.validate()


@pytest.mark.parametrize("values, mask", [
    (["ACME", "BOLT", "ZETA"], None),          # ASCII, every value full width
    (["ACME", "GO", "", "A"], None),           # ASCII, shorter values
    (["ünï", "日本", "🌍é"], None),             # non-ASCII, full and shorter
    (["日本", "éé"], None),                     # non-ASCII, every value full width
    (["a\0b", "\0\0c", "d"], None),           # NUL inside a value is kept
    (["ab", "ü", "cd"], [False, True, False]),  # non-ASCII only in a masked slot
    (["ab", "üü", "cd"], [True, False, False]),
    (["", ""], None),
], ids=["ascii-full", "ascii-short", "mixed", "wide-full", "inner-nul", "masked-wide", "masked-ascii", "empty"])
def test_numpy_unicode(shm_dir, seg_name, values, mask):
    arr = np.array(values)
    col = arr if mask is None else np.ma.MaskedArray(arr, mask=mask)
    want = [None if mask is not None and mask[i] else v for i, v in enumerate(arr.tolist())]
    with shmarray.create(seg_name, {"u": col}, dir=shm_dir) as seg:
        assert seg["u"].to_pylist() == want
        seg.validate()


def test_numpy_unicode_refuses_what_utf8_cannot_encode(shm_dir, seg_name):
    for bad in (np.array(["ok", "a\ud800"]), np.array(["\udfff"])):
        with pytest.raises(shmarray.InvalidArgumentError, match="column 'u' holds a surrogate"):
            shmarray.create(seg_name, {"u": bad}, dir=shm_dir)
    assert os.listdir(shm_dir) == []


def test_metadata_and_listing(shm_dir, seg_name):
    seg = shmarray.create(seg_name, {"x": np.zeros(3)}, dir=shm_dir, metadata={"source": "test", "ü": "ö"})
    assert seg.metadata == {"source": "test", "ü": "ö"}
    infos = shmarray.list_segments(shm_dir)
    assert [i.name for i in infos] == [seg_name]
    assert infos[0].creator_pid == os.getpid() and infos[0].creator_alive
    seg.close()


def test_pyarrow_inputs(shm_dir, seg_name):
    pa = pytest.importorskip("pyarrow")
    table = pa.table({
        "i": pa.array([1, None, 3], pa.int32()),
        "s": pa.chunked_array([["a", None], ["ccc"]], pa.large_string()),
        "t": pa.array([1, 2, None], pa.timestamp("ms", tz="UTC")),
    }).replace_schema_metadata(None)
    table = table.cast(table.schema.set(0, table.schema.field(0).with_metadata({"unit": "kg"})))
    with shmarray.create(seg_name, table, dir=shm_dir) as seg:
        got = seg.to_arrow()
        assert got.equals(table.combine_chunks())
        assert got.schema.field("i").metadata == {b"unit": b"kg"}
        got.validate(full=True)
        assert seg.info("t").timezone == "UTC"
    name2 = seg_name + "-b"
    tensor_type = pa.fixed_shape_tensor(pa.float32(), [2, 2])
    storage = pa.FixedSizeListArray.from_arrays(pa.array(np.arange(12, dtype=np.float32)), 4)
    tensor = pa.ExtensionArray.from_storage(tensor_type, storage)
    with shmarray.create(name2, {"tensor": tensor, "plain": pa.array([1.0, 2.0, 3.0])}, dir=shm_dir) as seg:
        assert seg["tensor"].shape == (3, 2, 2)
        np.testing.assert_array_equal(seg["tensor"].ravel(), np.arange(12, dtype=np.float32))


def test_pyarrow_time_zone_with_colon(shm_dir, seg_name):
    # Regression (found by the conformance suite): arrow-go's C Data import
    # split the format "tsn:+07:30" at every ':' and stored the time zone "+07".
    pa = pytest.importorskip("pyarrow")
    cols = {tz or "none": pa.array([1, None], pa.timestamp("ns", tz=tz))
            for tz in ("+07:30", "-03:00", "Europe/Paris", None)}
    with shmarray.create(seg_name, cols, dir=shm_dir) as seg:
        assert [seg.info(n).timezone for n in cols] == ["+07:30", "-03:00", "Europe/Paris", None]
        assert seg.column_to_arrow("+07:30").type == pa.timestamp("ns", tz="+07:30")


def test_pyarrow_zero_width_rows_are_invalid_argument(shm_dir, seg_name):
    # Regression (found by the conformance suite): a fixed-size list of 0
    # elements per row made arrow-go's C Data import panic, reported as
    # INTERNAL ("please report this"); it is an unsupported input.
    pa = pytest.importorskip("pyarrow")
    rows = pa.Array.from_buffers(pa.list_(pa.float32(), 0), 4, [None],
                                 children=[pa.array(np.zeros(0, dtype=np.float32))])
    with pytest.raises(shmarray.InvalidArgumentError, match="0 elements per row"):
        shmarray.create(seg_name, {"t": rows}, dir=shm_dir)
    assert not os.path.exists(os.path.join(shm_dir, seg_name))
    with shmarray.create(seg_name, {"t": np.zeros((4, 0), dtype=np.float32)}, dir=shm_dir) as seg:
        assert seg["t"].shape == (4, 0)


def test_errors(shm_dir, seg_name):
    with pytest.raises(shmarray.InvalidArgumentError, match="a/b"):
        shmarray.create("a/b", {"x": np.zeros(1)}, dir=shm_dir)
    with pytest.raises(shmarray.InvalidArgumentError, match="complex"):
        shmarray.create(seg_name, {"x": np.zeros(2, dtype=complex)}, dir=shm_dir)
    with pytest.raises(shmarray.InvalidArgumentError, match="mixes"):
        shmarray.create(seg_name, {"x": ["a", b"b"]}, dir=shm_dir)
    with pytest.raises(shmarray.InvalidArgumentError, match="mode"):
        shmarray.create(seg_name, {"x": np.zeros(1)}, dir=shm_dir, mode=0o644)
    with pytest.raises(shmarray.NotFoundError):
        shmarray.create(seg_name, {"x": np.zeros(1)}, dir=os.path.join(shm_dir, "missing"))
    assert os.listdir(shm_dir) == [], "failed creates leave nothing behind"
    shmarray.create(seg_name, {"x": np.zeros(1)}, dir=shm_dir).close()
    with pytest.raises(shmarray.ExistsError):
        shmarray.create(seg_name, {"y": np.ones(1)}, dir=shm_dir)
    with shmarray.attach(seg_name, dir=shm_dir) as seg:
        assert seg.columns == ["x"], "the existing segment is untouched"


def test_error_names_match_the_c_library():
    lib = _lib.lib()
    lib.shmarray_error_name.argtypes, lib.shmarray_error_name.restype = [ctypes.c_int], ctypes.c_char_p
    for code, name in CODE_NAMES.items():
        assert lib.shmarray_error_name(code).decode() == name
    assert lib.shmarray_error_name(999).decode() == "UNKNOWN"


@pytest.mark.parametrize("how", ["normal", "exception", "sigterm"])
def test_unlink_on_exit(shm_dir, seg_name, how):
    script = textwrap.dedent(f"""
        import os, signal, sys, time
        import numpy as np, shmarray
        shmarray.create({seg_name!r}, {{"x": np.arange(10)}}, dir={shm_dir!r}, unlink_on_exit=True)
        print("created", flush=True)
        sys.stdin.readline()  # the test checks the segment exists first
        if {how!r} == "exception":
            raise RuntimeError("boom")
        if {how!r} == "sigterm":
            time.sleep(60)
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, text=True)
    assert proc.stdout.readline().strip() == "created"
    assert os.path.exists(os.path.join(shm_dir, seg_name))
    proc.stdin.write("go\n")
    proc.stdin.flush()
    if how == "sigterm":
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert not os.path.exists(os.path.join(shm_dir, seg_name)), f"segment left behind after {how} exit"


def test_unlink_on_exit_with_a_relative_directory(tmp_path, seg_name):
    """The segment is unlinked from the directory it was created in, even if
    the creator changed its working directory before it exited."""
    (tmp_path / "segs").mkdir()
    (tmp_path / "elsewhere" / "segs").mkdir(parents=True)
    script = textwrap.dedent(f"""
        import os
        import numpy as np, shmarray
        shmarray.create({seg_name!r}, {{"x": np.arange(3)}}, dir="segs", unlink_on_exit=True)
        os.chdir("elsewhere")
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    subprocess.run([sys.executable, "-c", script], env=env, cwd=tmp_path, check=True, timeout=60)
    assert not (tmp_path / "segs" / seg_name).exists(), "left behind in the directory it was created in"


@pytest.mark.parametrize("writer", ["builder", "receiver"])
def test_a_writer_publishes_where_it_started(tmp_path, monkeypatch, seg_name, writer):
    """The directory of a Builder or Receiver is resolved when it starts:
    $SHMARRAY_DIR or the working directory changing before publish does not
    make publish look for the segment elsewhere."""
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir(), second.mkdir()
    monkeypatch.setenv("SHMARRAY_DIR", str(first))
    if writer == "builder":
        w = shmarray.Builder(seg_name)
        w.add("x", np.arange(3))
    else:
        with shmarray.create(seg_name + "-src", {"x": np.arange(3)}, dir=str(second)) as src:
            data = bytes(memoryview(src._h.memory()))
        w = shmarray.Receiver(seg_name, len(data))
        w.write(0, data)
    monkeypatch.setenv("SHMARRAY_DIR", str(second))
    monkeypatch.chdir(second)
    with w.publish() as seg:
        assert seg.dir == str(first) and seg["x"].tolist() == [0, 1, 2]
    assert w.dir == str(first)
    shmarray.unlink(seg_name, dir=str(first))


def test_attach_and_close_never_unlink(shm_dir, seg_name):
    shmarray.create(seg_name, {"x": np.arange(3)}, dir=shm_dir).close()
    for _ in range(3):
        with shmarray.attach(seg_name, dir=shm_dir):
            pass
    assert os.path.exists(os.path.join(shm_dir, seg_name))


def test_doctests(run_doctests):
    from shmarray import _create
    run_doctests(_create)


def test_forked_children_of_an_unlink_on_exit_creator_die_on_sigterm(shm_dir, seg_name):
    """The creator's SIGTERM handler (SIGTERM as a normal exit, so that its
    segments are unlinked) is not inherited by forked children: a Pool
    worker must die on the SIGTERM of Pool.terminate, not run Python cleanup
    that can leave the pool's queue lock held and its siblings hung."""
    script = textwrap.dedent(f"""
        import multiprocessing as mp, signal
        import numpy as np, shmarray
        shmarray.create({seg_name!r}, {{"x": np.arange(3)}}, dir={shm_dir!r}, unlink_on_exit=True)
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
        def disposition(_):
            return signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
        with mp.get_context("fork").Pool(2) as pool:
            print(pool.map(disposition, range(4)), flush=True)
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run([sys.executable, "-W", "ignore::DeprecationWarning", "-c", script], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[True, True, True, True]"
    assert not os.path.exists(os.path.join(shm_dir, seg_name))
