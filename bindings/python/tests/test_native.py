"""shmarray._native: reading never loads libshmarray.so (no Go runtime, no
new threads), the extension is built for the limited API, and its objects
keep the mapping alive exactly as long as something points into it."""

import gc
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import shmarray
from shmarray import _native

TIMEOUT = 120
HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(shmarray.__file__)))


def _every_type():
    pa = pytest.importorskip("pyarrow")
    n = 6
    return pa.table({
        "b": pa.array([True, False, None, True, False, True]),
        "i8": pa.array(range(n), pa.int8()), "u8": pa.array(range(n), pa.uint8()),
        "i16": pa.array(range(n), pa.int16()), "u16": pa.array(range(n), pa.uint16()),
        "i32": pa.array(range(n), pa.int32()), "u32": pa.array(range(n), pa.uint32()),
        "i64": pa.array([1, None, 3, 4, 5, 6], pa.int64()), "u64": pa.array(range(n), pa.uint64()),
        "f16": pa.array(np.arange(n, dtype=np.float16)), "f32": pa.array(range(n), pa.float32()),
        "f64": pa.array([0.5, 1.5, None, 3.5, 4.5, 5.5]),
        "s": pa.array(["a", "bb", None, "", "é", "日本"]), "ls": pa.array(list("abcdef"), pa.large_string()),
        "bin": pa.array([b"x", None, b"", b"\x00", b"yy", b"z"]),
        "lbin": pa.array([b"1", b"2", b"3", b"4", b"5", b"6"], pa.large_binary()),
        "fsb": pa.array([b"ab", b"cd", None, b"ef", b"gh", b"ij"], pa.binary(2)),
        "d32": pa.array(range(n), pa.date32()), "d64": pa.array(range(n), pa.date64()),
        "ts": pa.array(range(n), pa.timestamp("us", tz="UTC")), "dur": pa.array(range(n), pa.duration("ms")),
    })


def test_reading_never_loads_libshmarray(shm_dir, seg_name):
    shmarray.create(seg_name, _every_type(), dir=shm_dir, index=["s", "i64", "fsb"]).close()
    code = textwrap.dedent(f"""
        import os, sys
        import numpy as np, pyarrow as pa

        def threads():
            with open("/proc/self/status") as f:
                return next(int(line.split()[1]) for line in f if line.startswith("Threads:"))

        pa.table({{"x": [1]}}).to_pylist()
        import shmarray
        before = threads()
        seg = shmarray.attach({seg_name!r}, dir={shm_dir!r})
        for name in seg:
            v = seg[name]
            v.to_pylist() if isinstance(v, shmarray.StringColumn) else np.asarray(v).tolist()
        idx = seg.index("s")
        assert "bb" in idx and idx["é"] == 4 and idx.get("zz") is None
        assert seg.index("i64")[3] == 2 and 2 not in seg.index("i64")
        assert seg.lookup("s", ["a", "x", None]).tolist() == [0, -1, -1]
        assert seg.lookup("i64", np.array([5, 2])).tolist() == [4, -1]
        assert seg.contains("fsb", np.array([b"cd", b"zz"], "S2")).tolist() == [True, False]
        seg.validate()
        t = seg.to_arrow()
        assert t.num_rows == 6 and pa.table(seg).num_rows == 6
        assert seg.column_to_arrow("s").to_pylist()[1] == "bb"
        assert {seg_name!r} in [s.name for s in shmarray.list_segments({shm_dir!r})]
        shmarray.gc({shm_dir!r}, dry_run=True)
        maps = open("/proc/self/maps").read()
        assert "libshmarray" not in maps, "libshmarray.so was loaded by reading"
        assert "_native" in maps, "the reader core is the extension"
        assert threads() == before, f"reading started threads: {{before}} -> {{threads()}}"
        print("ok")
    """)
    env = dict(os.environ, PYTHONPATH=PACKAGE)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=TIMEOUT)
    assert out.stdout.strip() == "ok", out.stderr


def test_the_extension_is_abi3():
    assert _native.__file__.endswith(".abi3.so"), _native.__file__
    out = subprocess.run(["nm", "-D", "--defined-only", _native.__file__], capture_output=True,
                         text=True, check=True).stdout
    exported = sorted(line.split()[-1] for line in out.splitlines() if line.split()[-2] in "TDBRW")
    assert exported == ["PyInit__native"], f"the extension exports more than its init: {exported}"


def test_the_extension_is_optimized():
    # setuptools drops Python's own -O3 when CFLAGS is set (as `make native`
    # and the wheel build do); an unoptimized core looks up keys ~3x slower.
    assert _native.optimized == 1, "shmarray._native was compiled without optimization (-O2)"


def _mapped(path: str) -> bool:
    with open("/proc/self/maps") as f:
        return path in f.read()


@pytest.mark.parametrize("kind", ["numpy", "slice", "memoryview", "strings", "index", "arrow", "masked"])
def test_a_view_keeps_the_mapping_until_it_goes(shm_dir, seg_name, kind):
    seg = shmarray.create(seg_name, {"x": np.arange(10), "s": [f"k{i}" for i in range(10)], "m": np.ma.MaskedArray(np.arange(10.0), mask=np.arange(10) == 4)},
                          dir=shm_dir, index=["s"])
    if kind == "numpy":
        view, check = seg["x"], lambda v: v.tolist() == list(range(10))
    elif kind == "slice":
        view, check = seg["x"][3:5], lambda v: v.tolist() == [3, 4]
    elif kind == "memoryview":
        view, check = memoryview(seg["x"]), lambda v: v.tolist() == list(range(10))
    elif kind == "strings":
        view, check = seg["s"], lambda v: v[3] == "k3" and v.offsets[-1] == 20
    elif kind == "index":
        view, check = seg.index("s"), lambda v: v["k1"] == 1 and len(list(v)) == 10
    elif kind == "arrow":
        pytest.importorskip("pyarrow")
        view, check = seg.to_arrow(), lambda v: v.column("x").to_pylist() == list(range(10))
    else:  # a masked array's data is a view; its mask, a private array
        view, check = seg["m"], lambda v: v.tolist()[3:6] == [3.0, None, 5.0]
    path = seg.path
    seg.close()
    del seg
    gc.collect()
    assert _mapped(path), "unmapped while a view was alive"
    assert check(view)
    del view
    gc.collect()
    assert not _mapped(path), "the mapping outlived its last view"


def test_bool_values_are_computed_once_masks_are_private(shm_dir, seg_name):
    with shmarray.create(seg_name, {"b": np.arange(100) % 3 == 0,
                                    "m": np.ma.MaskedArray(np.arange(4), mask=[0, 1, 0, 0])}, dir=shm_dir) as seg:
        a, b = seg["b"], seg["b"]
        assert a is b and not a.flags.writeable, "one read-only unpacked array per segment"
        with pytest.raises(ValueError):
            a[0] = False
        m = seg["m"]
        m.mask = False  # a masked array's mask is its own: writable, not shared
        assert seg["m"].mask.tolist() == [False, True, False, False]


def test_objects_cannot_be_made_directly():
    with pytest.raises(TypeError):
        shmarray.StringColumn()
    with pytest.raises(TypeError):
        shmarray.Index()


def test_types_that_python_cannot_make():
    with pytest.raises(TypeError):
        _native.Handle()
    with pytest.raises(TypeError):
        _native.Mapping()


def test_a_finalizer_closing_the_segment_during_index_or_strings(shm_dir, seg_name):
    # Making an Index or a StringColumn allocates a GC-tracked object, which
    # may run a collection, and with it a finalizer that closes the segment:
    # the object must hold its reference by then (no use after free).
    seg = shmarray.create(seg_name, {"s": ["a", "b"]}, dir=shm_dir, index=["s"])
    h = seg._h

    class Closer:
        def __init__(self):
            self.me = self  # a cycle: only the collector frees it

        def __del__(self):
            h.close()

    old = gc.get_threshold()
    try:
        for make in (lambda: h.index(h.find("s"), shmarray.Index),
                     lambda: h.strings(h.find("s"), shmarray.StringColumn)):
            gc.disable()
            Closer()
            gc.set_threshold(1)
            gc.enable()
            try:
                obj = make()
            except shmarray.ClosedError:
                continue  # closed before: refused, fine
            assert len(obj) == 2  # closed meanwhile: the object's own reference holds
            seg = shmarray.attach(seg_name, dir=shm_dir)
            h = seg._h
    finally:
        gc.set_threshold(*old)
        gc.enable()
    with pytest.raises(TypeError):
        seg._h.index(0, 5)  # a type is required


def test_string_slices_of_any_step(shm_dir, seg_name):
    with shmarray.create(seg_name, {"s": ["a", "b", "c"]}, dir=shm_dir) as seg:
        col = seg["s"]
        assert col[::sys.maxsize] == ["a"] and col[::-sys.maxsize] == ["c"] and col[::-1] == ["c", "b", "a"]
        assert col[5:1] == [] and col[-100:100:2] == ["a", "c"]
