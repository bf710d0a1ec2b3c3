"""Shared outputs (spec §10.6): workers started by fork, forkserver or spawn
fill arrays of an unpublished segment in place; publish waits for them;
nothing writes into a published segment unnoticed."""

import ctypes
import multiprocessing as mp
import os
import pickle
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import shmarray
import pools

METHODS = ["fork", "forkserver", "spawn"]
N = 4000


def _fill_handle(h, lo, hi):
    with h.open() as out:
        out[lo:hi] = np.arange(lo, hi, dtype=out.dtype)
    return os.getpid()


def _fill_view(view, value):
    view[...] = value  # the view came by pickle: it is the segment's memory
    return os.getpid()


def _hold_view(view, ready, release):
    view[0] = 1
    ready.set()
    release.wait(30)


def _hold_handle(h, ready, release):
    with h.open() as out:
        out[:] = 3
        ready.set()
        release.wait(30)


@pytest.fixture
def builder(shm_dir, seg_name):
    b = shmarray.Builder(seg_name, dir=shm_dir)
    yield b
    b.discard()


def _hidden(shm_dir):
    return [n for n in os.listdir(shm_dir) if n.startswith(".shmarray-tmp-")]


@pytest.mark.parametrize("method", METHODS)
def test_workers_fill_slices_through_handles(builder, shm_dir, method):
    builder.empty("x", N, "float64")  # dropped at once: workers write through the handle
    h = builder.output("x")
    assert pickle.loads(pickle.dumps(h)).token == h.token
    bounds = [(i * N // 4, (i + 1) * N // 4) for i in range(4)]
    with pools.pool(mp.get_context(method), 2) as pool:
        pids = pool.starmap(_fill_handle, [(h, lo, hi) for lo, hi in bounds])
    assert os.getpid() not in pids
    seg = builder.publish(timeout=10)
    try:
        np.testing.assert_array_equal(seg["x"], np.arange(N, dtype="float64"))
        seg.validate()
    finally:
        seg.close()
    assert _hidden(shm_dir) == []
    with pytest.raises(shmarray.ClosedError, match="published"):
        h.open().__enter__()


@pytest.mark.parametrize("method", METHODS)
def test_empty_views_are_not_copied_to_workers(builder, method):
    x = builder.empty("grid", (8, 100), "int32")
    jobs = [(x[i], i + 1) for i in range(8)] + [(x[:, ::7], -1)]  # rows, then a strided view
    with pools.pool(mp.get_context(method), 2) as pool:
        pool.starmap(_fill_view, jobs[:8])
        pool.starmap(_fill_view, jobs[8:])
    want = np.repeat(np.arange(1, 9, dtype="int32")[:, None], 100, axis=1)
    want[:, ::7] = -1
    np.testing.assert_array_equal(x, want)
    del x, jobs
    seg = builder.publish(timeout=10)
    try:
        np.testing.assert_array_equal(seg["grid"], want)
    finally:
        seg.close()


def test_computed_arrays_pickle_as_values(builder):
    x = builder.empty("x", 10, "float64")
    x[:] = 1
    y = pickle.loads(pickle.dumps(x + 1))  # new memory: an ordinary copy
    assert type(y) is np.ndarray and y.tolist() == [2.0] * 10
    z = pickle.loads(pickle.dumps(x[::-3]))  # a view: the same memory
    z[:] = 9
    assert x.tolist() == [9, 1, 1, 9, 1, 1, 9, 1, 1, 9]  # indexes 9, 6, 3, 0
    del x, z


@pytest.mark.parametrize("method", METHODS)
def test_publish_waits_and_names_the_writer(builder, shm_dir, method):
    builder.empty("x", 100, "float64")
    h = builder.output("x")
    ctx = mp.get_context(method)
    ready, release = ctx.Event(), ctx.Event()
    p = ctx.Process(target=_hold_handle, args=(h, ready, release))
    p.start()
    try:
        assert ready.wait(30)
        with pytest.raises(shmarray.IOFailureError, match=rf"processes {p.pid}\b.*still write"):
            builder.publish(timeout=0.3)
        assert _hidden(shm_dir) != [], "a timed-out publish leaves the builder as it was"
    finally:
        release.set()
        p.join(30)
    seg = builder.publish(timeout=10)
    try:
        assert seg["x"].tolist() == [3.0] * 100
    finally:
        seg.close()


@pytest.mark.parametrize("method", METHODS)
def test_a_view_held_by_a_worker_is_detected(builder, method):
    """fork: the child inherits the view (no pickling); forkserver and spawn:
    it arrives pickled, as the output it is. Either way publish refuses while
    the child can write, naming it, and succeeds once it is gone."""
    x = builder.empty("x", 1000, "float64")
    ctx = mp.get_context(method)
    ready, release = ctx.Event(), ctx.Event()
    if method == "fork":
        global _inherited
        _inherited = x[10:20]
        p = ctx.Process(target=_hold_inherited, args=(ready, release))
    else:
        p = ctx.Process(target=_hold_view, args=(x[10:20], ready, release))
    p.start()
    try:
        assert ready.wait(30)
        del x
        _inherited = None
        with pytest.raises(shmarray.IOFailureError, match=rf"processes {p.pid}\b"):
            builder.publish(timeout=0.3)
    finally:
        release.set()
        p.join(30)
    seg = builder.publish(timeout=10)
    try:
        assert seg["x"][10] == 1.0 and seg["x"][11] == 0.0
        seg.validate()
    finally:
        seg.close()


_inherited = None


def _hold_inherited(ready, release):
    _inherited[0] = 1
    ready.set()
    release.wait(30)


def test_handles_refuse_after_publish_and_pickles_fail_clearly(builder):
    x = builder.empty("x", 10, "int64")
    data = pickle.dumps(x[2:5])
    h = builder.output("x")
    del x
    builder.publish().close()
    with pytest.raises(shmarray.ClosedError, match="published"):
        pickle.loads(data)
    with pytest.raises(shmarray.ClosedError):
        with h.open():
            pass


def test_output_errors(builder):
    builder.add("copied", np.arange(3))
    with pytest.raises(shmarray.NotFoundError, match="Builder.empty"):
        builder.output("copied")
    with pytest.raises(shmarray.NotFoundError):
        builder.output("nope")
    with pytest.raises(shmarray.InvalidArgumentError):
        shmarray.OutputHandle("shmout1:1:2", "s", "a", (1,), "int8").open().__enter__()


def test_hidden_file_is_not_attachable_and_gc_removes_it_after_the_builder_dies(shm_dir):
    code = textwrap.dedent(f"""
        import os, shmarray
        b = shmarray.Builder("orphan", dir={shm_dir!r})
        b.empty("x", 1000, "int8")
        print(b.output("x").token, flush=True)
        os._exit(0)  # dies with the segment unpublished
    """)
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                   env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    [hidden] = _hidden(shm_dir)
    with pytest.raises(shmarray.InvalidArgumentError, match="reserved"):
        shmarray.attach(hidden, dir=shm_dir)
    removed = shmarray.gc(dir=shm_dir)
    assert [r.name for r in removed] == [hidden]
    assert _hidden(shm_dir) == []


@pytest.fixture(scope="module")
def fill_programs(tmp_path_factory):
    """The C worker (bindings/c/examples/fill.c, built by `make build/fill`)
    and the Go worker (tests/fillgo)."""
    from conftest import REPO, go_program
    prebuilt = os.environ.get("SHMARRAY_TEST_BIN")
    c = os.path.join(prebuilt, "fill") if prebuilt else str(REPO / "build" / "fill")
    assert os.access(c, os.X_OK), f"{c} is missing: run `make build/fill`"
    return c, go_program(tmp_path_factory, "./bindings/python/tests/fillgo", "fillgo")


def test_go_and_c_workers_fill_disjoint_slices(builder, fill_programs):
    c, go = fill_programs
    x = builder.empty("x", N, "float64")
    x[:N // 4] = np.arange(N // 4)  # the Python parent's own slice
    token = builder.output("x").token
    quarters = [(N // 4, N // 2, c), (N // 2, 3 * N // 4, go), (3 * N // 4, N, c)]
    procs = [subprocess.Popen([prog, token, str(lo), str(hi)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for lo, hi, prog in quarters]
    for (lo, hi, _), p in zip(quarters, procs):
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        assert out.strip() == f"filled {lo} {hi}"
    del x
    seg = builder.publish(timeout=10)
    try:
        np.testing.assert_array_equal(seg["x"], np.arange(N, dtype="float64"))
        seg.validate()
    finally:
        seg.close()
    for prog in (c, go):  # after publish: refused, nothing written
        p = subprocess.run([prog, token, "0", "1"], capture_output=True, text=True)
        assert p.returncode == 1 and "closed" in p.stderr and "published" in p.stderr, p.stderr


def test_list_marks_the_segment_being_built(builder, shm_dir, seg_name):
    builder.empty("x", 10, "int8")
    [info] = shmarray.list_segments(shm_dir)
    assert info.building and info.name.startswith(".shmarray-tmp-") and info.name.endswith("-" + seg_name)
    assert info.creator_pid == os.getpid() and info.creator_alive
    assert isinstance(info.error, shmarray.NotSealedError) and seg_name in str(info.error)
    builder.publish().close()
    [info] = shmarray.list_segments(shm_dir)
    assert info.name == seg_name and not info.building and info.error is None


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_outputs_of_a_replacing_builder(shm_dir, seg_name, method):
    shmarray.create(seg_name, {"x": np.zeros(N)}, dir=shm_dir).close()
    b = shmarray.Builder(seg_name, dir=shm_dir, replace=True)
    try:
        b.empty("x", N, "float64")
        h = b.output("x")
        with pools.pool(mp.get_context(method), 2) as pool:
            pool.starmap(_fill_handle, [(h, 0, N // 2), (h, N // 2, N)])
        seg = b.publish(timeout=10)
    finally:
        b.discard()
    try:
        assert seg.version == 2
        np.testing.assert_array_equal(seg["x"], np.arange(N, dtype="float64"))
    finally:
        seg.close()
    assert _hidden(shm_dir) == []
    with pytest.raises(shmarray.ClosedError):
        h.open().__enter__()


def test_the_with_block_ends_writing(builder):
    """At exit the array turns read-only; the mapping and the lock go with
    the last array over it, so publish waits (and names this process)
    until they are gone."""
    builder.empty("x", 8, "int64")
    h = builder.output("x")
    with h.open() as out:
        out[:] = 5
    with pytest.raises(ValueError, match="read-only"):
        out[0] = 1
    with h.open() as again:
        kept = again[2:4]
        kept[:] = 7
    with pytest.raises(shmarray.IOFailureError, match=rf"processes {os.getpid()} \(this process"):
        builder.publish(timeout=0.3)
    del kept, again, out  # the last arrays over those outputs: they close
    seg = builder.publish(timeout=10)
    try:
        assert seg["x"].tolist() == [5, 5, 7, 7, 5, 5, 5, 5]
    finally:
        seg.close()


def test_a_view_replacing_the_with_target_still_writes(shm_dir, seg_name):
    """`out = out[lo:hi]` inside the block: the view outlives the block and
    writes after it land in the segment (no early end of writing that
    would make the pages read-only under it, SIGSEGV)."""
    code = textwrap.dedent(f"""
        import shmarray
        b = shmarray.Builder({seg_name!r}, dir={shm_dir!r})
        b.empty("x", 8, "int64")
        h = b.output("x")
        with h.open() as out:
            out = out[2:4]
            out[:] = 7
        out[:] = 9  # the view is still writable, and still the segment
        del out
        seg = b.publish(timeout=10)
        print(seg["x"].tolist())
        seg.close()
        shmarray.unlink({seg_name!r}, dir={shm_dir!r})
    """)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert run.returncode == 0, f"worker died ({run.returncode}): {run.stderr}"
    assert run.stdout.strip() == "[0, 0, 9, 9, 0, 0, 0, 0]"


def test_a_token_with_a_nul_is_refused(builder):
    """The C core would read the token only up to the NUL: refused."""
    from shmarray import _native
    builder.empty("x", 8, "int64")
    with pytest.raises(shmarray.InvalidArgumentError, match="NUL"):
        _native.output_open(builder.output("x").token + "\x00whatever")


def test_finish_makes_new_views_read_only(builder):
    from shmarray import _native
    builder.empty("x", 8, "int64")
    mem = _native.output_open(builder.output("x").token)
    assert not memoryview(mem).readonly
    mem.finish()
    assert memoryview(mem).readonly
    assert not np.frombuffer(mem, dtype=np.int64).flags.writeable
    with pytest.raises(ValueError):
        np.frombuffer(mem, dtype=np.int64).setflags(write=True)
    with pytest.raises(TypeError, match="not writable"):
        (ctypes.c_char * 8).from_buffer(mem)  # asks for PyBUF_WRITABLE
    del mem
    builder.publish(timeout=10).close()


def test_open_with_a_wrong_shape_releases_the_output(builder):
    builder.empty("x", 8, "int64")
    h = builder.output("x")
    wrong = shmarray.OutputHandle(h.token, h.segment, h.array, (3,), h.dtype)
    with pytest.raises(ValueError):
        wrong.open().__enter__()
    builder.publish(timeout=2).close()  # nothing holds the lock


def test_output_after_publish_is_closed(builder):
    builder.empty("x", 8, "int64")
    builder.publish(timeout=10).close()
    with pytest.raises(shmarray.ClosedError):
        builder.output("x")


def test_computed_results_never_pickle_as_handles(builder):
    """x * 2 is an OutputArray that owns new memory: it pickles as values,
    even once the segment's mapping is gone and its addresses are reused."""
    x = builder.empty("x", 1000, "float64")
    x[:] = 1
    y = x * 2
    assert getattr(y, "_shm_src", None) is None
    assert getattr(y[1:], "_shm_src", None) is None
    assert getattr(x[1:], "_shm_src", None) is not None
    del x
    builder.publish(timeout=10).close()  # unmaps: y's address may now fall in that old range
    z = pickle.loads(pickle.dumps(y))
    assert type(z) is np.ndarray and z.tolist() == [2.0] * 1000


@pytest.mark.parametrize("offset, shape, strides, dtype", [
    (-8, (2,), (8,), "int64"),       # before the array
    (0, (9,), (8,), "int64"),        # past its end
    (8, (2,), (-16,), "int64"),      # a negative stride reaching before it
    (0, (2,), (8,), "O"),            # Python objects
])
def test_malformed_pickled_views_are_refused(builder, offset, shape, strides, dtype):
    from shmarray._output import _rebuild
    builder.empty("x", 8, "int64")
    h = builder.output("x")
    with pytest.raises(shmarray.InvalidArgumentError):
        _rebuild(h, offset, shape, strides, np.dtype(dtype))
    ok = _rebuild(h, 56, (8,), (-8,), np.dtype("int64"))  # the whole array, reversed
    assert ok.shape == (8,)
    del ok
