"""shmarray.Builder: arrays copied in or filled in place, published once the
in-place arrays are gone; refused dtypes; discard and errors."""

import os
import warnings

import numpy as np
import pytest

import shmarray
from shmarray import _builder


def test_filled_in_place_and_copied(shm_dir, seg_name):
    with shmarray.Builder(seg_name, dir=shm_dir) as b:
        grid = b.empty("grid", (1000, 3), "float64")
        assert grid.shape == (1000, 3) and not grid.any(), "handed out zeroed"
        grid[:] = np.arange(3000).reshape(1000, 3) / 4
        big = b.empty("big", 400_000, np.int64)  # 3.2 MB: more than one page run
        big[:] = np.arange(400_000) * 7
        ts = b.empty("ts", 2, "datetime64[ns]")
        ts[:] = np.array(["2024-01-01T00:00:00", "1970-01-01T00:00:01"], dtype="datetime64[ns]")
        ids = b.empty("ids", 2, "S3")
        ids[:] = [b"abc", b"xyz"]
        none = b.empty("none", 0, "int32")
        assert none.shape == (0,)
        b.add("label", ["a", None, "c"])
        b.set_metadata({"source": "test"})
        del grid, big, ts, ids
        seg = b.publish()
    with seg:
        np.testing.assert_array_equal(seg["grid"], np.arange(3000).reshape(1000, 3) / 4)
        np.testing.assert_array_equal(seg["big"], np.arange(400_000) * 7)
        assert seg["ts"].astype("datetime64[s]").tolist()[1].isoformat() == "1970-01-01T00:00:01"
        assert seg.info("ts").type == "timestamp"
        assert seg["ids"].tolist() == [b"abc", b"xyz"]
        assert len(seg["none"]) == 0
        assert seg["label"].to_pylist() == ["a", None, "c"]
        assert seg.metadata == {"source": "test"}
        seg.validate()  # the data checksums cover what was written in place


def test_publish_waits_for_the_in_place_arrays(shm_dir, seg_name):
    b = shmarray.Builder(seg_name, dir=shm_dir)
    x = b.empty("x", 10, "f8")
    view = x[::2]
    del x
    with pytest.raises(shmarray.InvalidArgumentError, match=r"\['x'\] from Builder.empty are still referenced"):
        b.publish()
    view[:] = 1.0  # still mapped and writable: nothing was unmapped
    del view
    with b.publish() as seg:
        assert seg["x"].tolist() == [1.0, 0.0] * 5
    with pytest.raises(shmarray.ClosedError):
        b.empty("late", 1, "f8")


def test_discard_keeps_live_arrays_mapped(shm_dir, seg_name):
    b = shmarray.Builder(seg_name, dir=shm_dir)
    x = b.empty("x", 1000, "i8")
    with pytest.warns(ResourceWarning, match="discarded while arrays"):
        b.discard()
    x[:] = 5  # no crash: the memory stays until x is gone
    assert int(x.sum()) == 5000
    del x
    with pytest.raises(shmarray.NotFoundError):
        shmarray.attach(seg_name, dir=shm_dir)
    assert os.listdir(shm_dir) == []


def test_an_exception_publishes_nothing(shm_dir, seg_name):
    with pytest.raises(RuntimeError):
        with shmarray.Builder(seg_name, dir=shm_dir) as b:
            b.add("a", np.arange(3))
            raise RuntimeError("stop")
    with pytest.raises(shmarray.NotFoundError):
        shmarray.attach(seg_name, dir=shm_dir)


@pytest.mark.parametrize("shape, dtype, match", [
    (3, "bool", "cannot be filled in place"),
    (3, "U4", "cannot be filled in place"),
    (3, "datetime64[D]", "cannot be filled in place"),
    (3, "object", "cannot be filled in place"),
    (3, ">f8", "big-endian"),
    ((), "f8", "1 to 8 dimensions"),
    ((2, -1), "f8", "none negative"),
    ((2, 2), "datetime64[s]", "dimensions"),   # N-D: integers and floats only (the library says so)
])
def test_refused(shm_dir, seg_name, shape, dtype, match):
    with shmarray.Builder(seg_name, dir=shm_dir) as b:
        with pytest.raises(shmarray.InvalidArgumentError, match=match):
            b.empty("x", shape, dtype)
        b.empty("ok", 1, "f8")
        with pytest.raises(shmarray.InvalidArgumentError, match="already has an array"):
            b.empty("ok", 1, "f8")


def test_forked_worker_reads_in_place_data(shm_dir, seg_name):
    with shmarray.Builder(seg_name, dir=shm_dir) as b:
        x = b.empty("x", 1 << 20, "f4")
        x[:] = 0.5
        del x
        seg = b.publish()
    pid = os.fork()
    if pid == 0:
        try:
            with shmarray.attach(seg_name, dir=shm_dir) as s:
                ok = float(s["x"].sum(dtype=np.float64)) == 0.5 * (1 << 20)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:  # building needs Go, which a forked child must not enter
                    shmarray.Builder(seg_name + "-child", dir=shm_dir)
                    ok = False
                except shmarray.ForkedError:
                    pass
        except BaseException:
            ok = False
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    seg.close()
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def test_doctests(run_doctests):
    run_doctests(_builder)


def test_index_of_an_array_filled_in_place(shm_dir, seg_name):
    with shmarray.Builder(seg_name, dir=shm_dir) as b:
        k = b.empty("k", 4, "int64")
        b.add_index("k")  # built at publish, over the final values (the zeros would be duplicates)
        k[:] = [1, 2, 3, 4]
        k[0] = 99
        del k
        seg = b.publish()
    with seg:
        assert seg.lookup("k", [99, 1, 4]).tolist() == [0, -1, 3]
        seg.validate()
    with shmarray.Builder(seg_name + "-dup", dir=shm_dir) as b:
        k = b.empty("k", 3, "int64")
        b.add_index("k")
        k[:] = [5, 6, 5]
        del k
        with pytest.raises(shmarray.InvalidArgumentError, match="key 5 appears at rows 0 and 2"):
            b.publish()
    assert sorted(os.listdir(shm_dir)) == [seg_name]


def test_discard_then_views_freed_together(shm_dir, seg_name):
    """Two in-place arrays whose buffers die in one collection: the deferred
    discard runs once (twice would free the builder twice)."""
    import gc
    b = shmarray.Builder(seg_name, dir=shm_dir)
    x, y = b.empty("x", 10, "int64"), b.empty("y", 10, "int64")
    # The ctypes buffers under both arrays in one reference cycle: the
    # collector clears their weak references before running any callback.
    cycle = [x.base.base, y.base.base]
    cycle.append(cycle)
    del x, y
    with pytest.warns(ResourceWarning):
        b.discard()
    del cycle
    gc.collect()
    assert os.listdir(shm_dir) == []


def test_publish_from_another_thread_while_empty_runs(shm_dir, seg_name):
    """Builder calls are serialized: publishing while another thread is in
    empty() either refuses (the array is alive) or comes first (then empty()
    says the builder is closed); it never unmaps memory handed out."""
    import threading
    b = shmarray.Builder(seg_name, dir=shm_dir)
    got = {}

    def fill():
        try:
            x = b.empty("x", 8 << 20, "int64")
            x[:] = 1
            got["sum"] = int(x.sum())
        except shmarray.ClosedError:
            got["closed"] = True

    t = threading.Thread(target=fill)
    t.start()
    try:
        seg = b.publish()
        seg.close()
    except shmarray.InvalidArgumentError as e:
        assert "still referenced" in str(e)
    t.join()
    assert got.get("sum") == 8 << 20 or got.get("closed")
    b.discard()
