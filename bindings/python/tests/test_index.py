"""Hash indexes (spec §7.8, format 1.1): create(index=...), Segment.lookup /
contains / index (the C core through shmarray._native), every key type and
input kind, the structural and full checks against patched copies, and
fork safety (lookups in forked workers of a parent that created the
segment)."""

import multiprocessing as mp
import os
import subprocess
import sys
import textwrap
import struct
import zlib

import numpy as np
import pytest

import shmarray
import pools
from shmarray import _index, _native

TIMEOUT = 120


def test_hash_check_values():
    # The table of spec §7.8.2.
    h = _native.hash_key
    assert h(b"") == 0xEFD01F60BA992926
    assert h(b"a") == 0x82A2A958A9BECE5B
    assert h(b"abc") == 0x33EBAF9927CBC5BD
    assert h("héllo".encode()) == 0xC185412747A0264D
    assert h((0).to_bytes(8, "little")) == 0x7BD3144F29C0CC9E
    assert h((1).to_bytes(8, "little")) == 0x4A3A3A4BA6523826
    assert h(b"\xff" * 8) == 0x6A92C0228678C02E


def _layout(path: str, array: int = 0) -> dict:
    """Where record `array` of a segment file puts its index and data, read
    with struct from the bytes of spec §4 and §5.1 (not through the reader)."""
    with open(path, "rb") as f:
        b = f.read()
    minor, = struct.unpack_from("<H", b, 10)
    directory, record_size = struct.unpack_from("<QI", b, 48)
    rec = directory + array * record_size
    index_offset, = struct.unpack_from("<Q", b, rec + 168)
    width, log2 = b[rec + 185], b[rec + 186]
    data, = struct.unpack_from("<Q", b, rec + 72)
    return {"bytes": b, "minor": minor, "rec": rec, "table": index_offset, "width": width,
            "log2": log2, "data": data}


def test_spec_example(shm_dir, seg_name):
    # Spec §7.8.5: the table bytes of "b", "a", null, "c", "".
    with shmarray.create(seg_name, {"k": ["b", "a", None, "c", ""]}, dir=shm_dir, index=["k"]):
        lay = _layout(os.path.join(shm_dir, seg_name))
    assert lay["minor"] == 2  # every segment is format 1.2 (versions); indexes came in 1.1
    assert (lay["width"], lay["log2"]) == (4, 3)
    table = np.frombuffer(lay["bytes"], "<u4", count=8, offset=lay["table"])
    assert table.tolist() == [1, 0, 0, 2, 0, 0, 4, 5]


def test_lookup_strings(shm_dir, seg_name):
    pa = pytest.importorskip("pyarrow")
    words = ["ada", "grace", None, "émile", "", "日本語", "x" * 100]
    with shmarray.create(seg_name, {"w": words}, dir=shm_dir, index=["w"]) as seg:
        assert seg.info("w").indexed
        want = [0, 1, -1, 3, 4, 5, 6, -1, -1]
        queries = ["ada", "grace", None, "émile", "", "日本語", "x" * 100, "x" * 99, "nope"]
        assert seg.lookup("w", queries).tolist() == want
        assert seg.lookup("w", [q.encode() if q is not None else None for q in queries]).tolist() == want
        assert seg.contains("w", queries).tolist() == [r >= 0 for r in want]
        assert seg.lookup("w", ["ada", "grace"]).dtype == np.int64
        no_none = [q for q in queries if q is not None]
        want_nn = [r for q, r in zip(queries, want) if q is not None]
        assert seg.lookup("w", np.array(no_none)).tolist() == want_nn
        assert seg.lookup("w", np.array(no_none, dtype=object)).tolist() == want_nn
        assert seg.lookup("w", pa.array(queries)).tolist() == want
        assert seg.lookup("w", pa.array(queries, pa.large_string())).tolist() == want
        assert seg.lookup("w", pa.array(queries)[2:]).tolist() == want[2:], "a sliced Arrow array"
        assert seg.lookup("w", pa.chunked_array([queries[:3], queries[3:]])).tolist() == want
        assert seg.lookup("w", pa.array(queries).dictionary_encode()).tolist() == want
        masked = np.ma.MaskedArray(np.array(no_none), mask=[True] + [False] * 7)
        assert seg.lookup("w", masked).tolist() == [-1] + want_nn[1:]
        assert seg.lookup("w", seg["w"]).tolist() == [0, 1, -1, 3, 4, 5, 6], "a StringColumn as keys"
        assert seg.lookup("w", []).tolist() == []
        assert seg.lookup("w", iter(["ada"])).tolist() == [0]
        assert seg.lookup("w", np.array(no_none, dtype=">U100")).tolist() == want_nn, "big-endian UTF-32"
        assert seg.lookup("w", [b"ada", b"nope", "grace".encode()]).tolist() == [0, -1, 1]
        assert seg.lookup("w", [b"ada", "grace", None]).tolist() == [0, 1, -1]
        long = "é" * 200  # 400 bytes of UTF-8: compared from the code points in C
        assert seg.lookup("w", np.array([long, "ada"])).tolist() == [-1, 0]
        bad = ["\ud800", "a\udcff"]  # lone surrogates: no UTF-8 key equals them
        assert seg.lookup("w", bad).tolist() == [-1, -1]
        assert seg.lookup("w", np.array(bad)).tolist() == [-1, -1]


def test_lookup_every_key_type(shm_dir, seg_name):
    pa = pytest.importorskip("pyarrow")
    cols = {
        "i8": np.array([-128, 127, -1, 0], np.int8),
        "u8": np.array([255, 0, 1], np.uint8),
        "i16": np.array([-300, 300], np.int16),
        "u16": np.array([65535, 7], np.uint16),
        "i32": np.array([-1, 2**31 - 1], np.int32),
        "u32": np.array([2**32 - 1, 5], np.uint32),
        "i64": np.array([-1, 2**62, -(2**63)], np.int64),
        "u64": np.array([2**64 - 1, 5], np.uint64),
        "fsb": np.array([b"abc", b"de\x00", b"xyz"], "S3"),
        "bin": [b"\xff\x00", b"\xff", None],
        "lbin": pa.array([b"q", b""], pa.large_binary()),
        "lstr": pa.array(["é", "e"], pa.large_string()),
    }
    with shmarray.create(seg_name, cols, dir=shm_dir, index=list(cols)) as seg:
        seg.validate()
        cases = {
            "i8": ([-1, 127, -128, 255, 300, 0], [2, 1, 0, -1, -1, 3]),
            "u8": ([255, -1, 1, 256], [0, -1, 2, -1]),
            "i16": ([300, -300, 2**40], [1, 0, -1]),
            "u16": ([65535, -65535 + 65535 + 7], [0, 1]),
            "i32": ([-1, 2**31 - 1, 2**31], [0, 1, -1]),
            "u32": ([2**32 - 1, -1, 5], [0, -1, 1]),
            "i64": ([-1, 2**62, -(2**63), 2**64 - 1, 2**63], [0, 1, 2, -1, -1]),
            "u64": ([2**64 - 1, -1, 5, 2**70], [0, -1, 1, -1]),
            "fsb": ([b"de\x00", b"de", b"abc", b"abcd", "xyz"], [1, -1, 0, -1, 2]),
            "bin": ([b"\xff", b"\xff\x00", b""], [1, 0, -1]),
            "lbin": ([b"", b"q"], [1, 0]),
            "lstr": (["e", "é"], [1, 0]),
        }
        for col, (keys, want) in cases.items():
            assert seg.lookup(col, keys).tolist() == want, col
            idx = seg.index(col)
            assert [idx.get(k, -1) for k in keys] == want, f"{col}: one key at a time"
        # Integer keys as NumPy arrays of any integer dtype, and Arrow.
        assert seg.lookup("u64", np.array([2**64 - 1, 5], np.uint64)).tolist() == [0, 1]
        assert seg.lookup("i8", np.array([-1, 0], np.int64)).tolist() == [2, 3]
        assert seg.lookup("i64", pa.array([-1, None, 2**62])).tolist() == [0, -1, 1]
        assert seg.lookup("u32", pa.array([5, 2**32 - 1], pa.uint64())).tolist() == [1, 0]
        # NumPy S keys: trailing NULs dropped (as NumPy does) unless the
        # index is fixed-size binary of the same width.
        assert seg.lookup("fsb", np.array([b"de\x00", b"abc"], "S3")).tolist() == [1, 0]
        assert seg.lookup("bin", np.array([b"\xff", b"\xff\x00"], "S2")).tolist() == [1, 1]
        assert seg.lookup("fsb", pa.array([b"xyz", b"de\x00"], pa.binary(3))).tolist() == [2, 1]


def test_lookup_errors(shm_dir, seg_name):
    with shmarray.create(seg_name, {"s": ["a"], "n": np.arange(3), "f": np.zeros(2)}, dir=shm_dir,
                         index=["s", "n"]) as seg:
        with pytest.raises(shmarray.InvalidArgumentError, match="no hash index"):
            seg.lookup("f", [1])
        with pytest.raises(shmarray.NotFoundError):
            seg.lookup("nope", ["a"])
        with pytest.raises(shmarray.InvalidArgumentError, match="holds integers"):
            seg.lookup("n", ["a"])
        with pytest.raises(shmarray.InvalidArgumentError, match="holds strings or bytes"):
            seg.lookup("s", [1])
        with pytest.raises(shmarray.InvalidArgumentError, match="single str"):
            seg.lookup("s", "a")
        with pytest.raises(shmarray.InvalidArgumentError):
            seg.lookup("n", [1.5])
        idx = seg.index("s")
        assert 1 not in idx and None not in idx, "a key of the other kind is simply absent"
        with pytest.raises(KeyError):
            idx["b"]
    with pytest.raises(shmarray.ClosedError):
        seg.lookup("s", ["a"])


def test_create_index_errors(shm_dir, seg_name):
    with pytest.raises(shmarray.InvalidArgumentError, match='key "abc" appears at rows 1 and 3'):
        shmarray.create(seg_name, {"k": ["x", "abc", "y", "abc"]}, dir=shm_dir, index=["k"])
    with pytest.raises(shmarray.InvalidArgumentError, match="key 7 appears at rows 0 and 2"):
        shmarray.create(seg_name, {"k": np.array([7, 8, 7])}, dir=shm_dir, index="k")
    with pytest.raises(shmarray.InvalidArgumentError, match="cannot be indexed|only one-dimensional"):
        shmarray.create(seg_name, {"f": np.zeros(3)}, dir=shm_dir, index=["f"])
    with pytest.raises(shmarray.InvalidArgumentError, match="not columns"):
        shmarray.create(seg_name, {"f": np.zeros(3)}, dir=shm_dir, index=["g"])
    assert not os.path.exists(os.path.join(shm_dir, seg_name)), "nothing was published"
    # Nulls are not keys: two nulls are no duplicate.
    with shmarray.create(seg_name, {"k": [None, "a", None]}, dir=shm_dir, index=["k"]) as seg:
        assert len(seg.index("k")) == 1 and list(seg.index("k")) == ["a"]


def test_no_index_is_not_indexed(shm_dir, seg_name):
    with shmarray.create(seg_name, {"k": ["a"]}, dir=shm_dir) as seg:
        assert _layout(seg.path)["minor"] == 2
        assert not seg.info("k").indexed


def test_index_mapping(shm_dir, seg_name):
    with shmarray.create(seg_name, {"n": np.array([10, 20, 30], np.int64)}, dir=shm_dir, index=["n"]) as seg:
        idx = seg.index("n")
        assert seg.index("n") is idx, "cached per segment"
        assert dict(idx.items()) == {10: 0, 20: 1, 30: 2}
        assert 20 in idx and np.int64(30) in idx and 40 not in idx
        assert idx[np.uint8(10)] == 0
        assert idx.lookup([30, 40]).tolist() == [2, -1]
        assert "3 keys" in repr(idx)


@pytest.mark.parametrize("n", [1, 1000, 30_000])
def test_many_keys_against_a_dict(shm_dir, seg_name, n):
    rng = np.random.default_rng(n)
    ints = np.unique(rng.integers(-(2**62), 2**62, size=n + 100))[:n]
    rng.shuffle(ints)
    words = [f"k{v:x}" for v in ints.tolist()]
    with shmarray.create(seg_name, {"s": words, "i": ints}, dir=shm_dir, index=["s", "i"]) as seg:
        seg.validate()
        queries = words[::2] + [w + "!" for w in words[1::3]]
        want = [i for i in range(0, n, 2)] + [-1] * len(words[1::3])
        assert seg.lookup("s", queries).tolist() == want
        assert seg.lookup("s", np.array(queries)).tolist() == want
        iq = np.concatenate([ints[::2], ints[1::3] + 2**62 + 1])
        assert seg.lookup("i", iq).tolist() == want
        assert seg.lookup("i", iq.tolist()).tolist() == want


# ---------------------------------------------------------------------------
# Patched copies: structural (attach) and full (validate) checks


def _reseal(b: bytearray) -> None:
    hs, = struct.unpack_from("<I", b, 12)  # 192 bytes from format 1.2 on: all of it is summed
    mo, ml = struct.unpack_from("<QQ", b, 32)
    struct.pack_into("<I", b, 120, 0)
    struct.pack_into("<I", b, 120, zlib.crc32(bytes(b[mo:mo + ml]), zlib.crc32(bytes(b[:hs]))))


@pytest.fixture
def sample(shm_dir):
    """An indexed segment's bytes, its record 0 offset and its table offset."""
    name = "idx-sample"
    with shmarray.create(name, {"k": ["b", "a", None, "c", ""], "n": np.array([1, 2], np.int32)},
                         dir=shm_dir, index=["k", "n"]):
        lay = _layout(os.path.join(shm_dir, name))
    return bytearray(lay["bytes"]), lay["rec"], lay["table"], lay["data"]


def _write(shm_dir, name, b):
    with open(os.path.join(shm_dir, name), "wb") as f:
        f.write(b)


@pytest.mark.parametrize("edit, error", [
    (lambda b, rec: b.__setitem__(rec + 185, 2), shmarray.BadSizeError),
    (lambda b, rec: b.__setitem__(rec + 186, 60), shmarray.BadSizeError),
    (lambda b, rec: b.__setitem__(rec + 186, 2), shmarray.BadSizeError),
    (lambda b, rec: struct.pack_into("<Q", b, rec + 168, struct.unpack_from("<Q", b, rec + 168)[0] + 8),
     shmarray.MisalignedError),
    (lambda b, rec: struct.pack_into("<Q", b, rec + 176, 1 << 40), shmarray.OutOfBoundsError),
    (lambda b, rec: b.__setitem__(rec + 192 + 8, 11), shmarray.BadTypeError),  # "n" becomes float32
])
def test_structural_checks(shm_dir, sample, edit, error):
    b, rec, _, _ = sample
    edit(b, rec)
    _reseal(b)
    _write(shm_dir, "patched", b)
    with pytest.raises(error):
        shmarray.attach("patched", dir=shm_dir)


def test_index_fields_ignored_in_minor_0(shm_dir, sample):
    b, rec, _, _ = sample
    b[10] = 0
    b[rec + 185] = 2
    _reseal(b)
    _write(shm_dir, "minor0", b)
    with shmarray.attach("minor0", dir=shm_dir) as seg:
        assert not seg.info("k").indexed
        seg.validate()
    b[10] = 1
    b[rec + 184] = 9  # an index kind from the future
    _reseal(b)
    _write(shm_dir, "kind9", b)
    with shmarray.attach("kind9", dir=shm_dir) as seg:
        assert not seg.info("k").indexed
        seg.validate()


def _slot(b, table, s, v):
    struct.pack_into("<I", b, table + 4 * s, v)


@pytest.mark.parametrize("edit, error", [
    (lambda b, t, d: _slot(b, t, 1, 6), shmarray.OutOfBoundsError),
    (lambda b, t, d: _slot(b, t, 1, 3), shmarray.ChecksumMismatchError),  # the null row
    (lambda b, t, d: _slot(b, t, 1, 5), shmarray.BadSizeError),  # row 4 twice
    (lambda b, t, d: _slot(b, t, 3, 0), shmarray.BadSizeError),
    (lambda b, t, d: (_slot(b, t, 3, 0), _slot(b, t, 4, 2)), shmarray.ChecksumMismatchError),
    (lambda b, t, d: _slot(b, t, 0, 2), shmarray.ChecksumMismatchError),
])
def test_full_checks(shm_dir, sample, edit, error):
    b, _, table, data = sample
    edit(b, table, data)
    _write(shm_dir, "patched", b)
    with shmarray.attach("patched", dir=shm_dir) as seg:
        with pytest.raises(error):
            seg.validate()


def test_duplicate_key_found_by_validation(shm_dir, sample):
    b, rec, _, data = sample
    b[data + 1] = ord("b")  # "a" becomes "b", like row 0
    b[rec + 11] = 0  # no data CRC, so that only the index check fails
    _reseal(b)
    _write(shm_dir, "dup", b)
    with shmarray.attach("dup", dir=shm_dir) as seg:
        with pytest.raises(shmarray.DuplicateNameError, match='key "b" appears at rows 0 and 1'):
            seg.validate()


def test_hostile_table_ends(shm_dir, sample):
    b, _, table, _ = sample
    for s in range(8):
        _slot(b, table, s, 1)  # every slot names row 0: no empty slot at all
    _write(shm_dir, "hostile", b)
    with shmarray.attach("hostile", dir=shm_dir) as seg:
        assert seg.lookup("k", ["zzz", "b"]).tolist() == [-1, 0]
        assert "zzz" not in seg.index("k")
    for s in range(8):
        _slot(b, table, s, 99)
    _write(shm_dir, "hostile2", b)
    with shmarray.attach("hostile2", dir=shm_dir) as seg:
        with pytest.raises(shmarray.OutOfBoundsError):
            seg.lookup("k", ["zzz"])
        with pytest.raises(shmarray.OutOfBoundsError):
            "zzz" in seg.index("k")


# ---------------------------------------------------------------------------
# Fork safety


def _lookup_worker(seg):
    return seg.lookup("k", ["b", "c", "zz"]).tolist(), seg.lookup("n", np.array([2, 3])).tolist(), os.getpid()


@pytest.mark.parametrize("method", ["fork", "forkserver", "spawn"])
def test_lookup_in_workers(shm_dir, seg_name, method):
    seg = shmarray.create(seg_name, {"k": ["a", "b", "c"], "n": np.array([1, 2, 3])}, dir=shm_dir,
                          index=["k", "n"])
    assert shmarray._lib.loaded(), "the parent has loaded the Go runtime"
    seg.lookup("k", ["a"])  # and used the C lookup, before forking
    ctx = mp.get_context(method)
    if method == "forkserver":
        ctx.set_forkserver_preload(["shmarray"])
    with pools.pool(ctx, 2) as pool:
        out = pool.map_async(_lookup_worker, [seg] * 4).get(timeout=TIMEOUT)
    assert {(tuple(a), tuple(b)) for a, b, _ in out} == {((1, 2, -1), (1, 2))}
    seg.close()


def test_null_row_in_a_probe_chain(shm_dir, sample):
    # Spec §7.8.4: slot 6 names row 2 (null, stored as "") instead of row 3
    # ("c"), on the probe path of "" (row 4): the null row never matches.
    b, _, table, _ = sample
    _slot(b, table, 6, 3)
    _write(shm_dir, "nullrow", b)
    with shmarray.attach("nullrow", dir=shm_dir) as seg:
        idx = seg.index("k")
        assert idx.get("") == 4 and "c" not in idx and idx["b"] == 0
        assert seg.lookup("k", ["", "c", "b"]).tolist() == [4, -1, 0]
        with pytest.raises(shmarray.ChecksumMismatchError, match="names row 2, which is null"):
            seg.validate()


def test_doctests(run_doctests):
    run_doctests(_index)


from conftest import REPO  # noqa: E402

VECTORS = str(REPO / "conformance" / "vectors" / "v1")


def test_conformance_lookups():
    """The lookups of the conformance vectors (conformance/index)."""
    import base64
    import json
    with open(os.path.join(VECTORS, "index_lookups.json")) as f:
        table = json.load(f)
    assert table["format"] == "shmarray-index-lookups/1"
    for v in table["vectors"]:
        with shmarray.attach(v["case"] + ".shm", dir=os.path.join(VECTORS, "valid")) as seg:
            seg.validate()
            assert sorted(n for n in seg.columns if seg.info(n).indexed) == sorted(v["indexes"])
            for lk in v["lookups"]:
                t = seg.info(lk["array"]).type
                key = lk["key"]
                if t in ("binary", "large_binary", "fixed_size_binary"):
                    key = base64.b64decode(key)
                elif t not in ("utf8", "large_utf8"):
                    key = int(key)
                assert seg.lookup(lk["array"], [key]).tolist() == [lk["row"]], (v["case"], lk)
                assert seg.index(lk["array"]).get(key, -1) == lk["row"], (v["case"], lk)


def test_long_unicode_keys(shm_dir, seg_name):
    # Beyond 256 bytes of UTF-8 the C engine compares UTF-32 keys code point
    # by code point instead of converting them once.
    words = ["é" * 200, "b" * 300, "日" * 90]
    with shmarray.create(seg_name, {"w": words}, dir=shm_dir, index=["w"]) as seg:
        q = np.array(["日" * 90, "é" * 200, "é" * 199 + "e", "b" * 300, "b" * 299])
        assert seg.lookup("w", q).tolist() == [2, 0, -1, 1, -1]
        assert seg.lookup("w", q.tolist()).tolist() == [2, 0, -1, 1, -1]


def test_close_releases_the_mapping(shm_dir, seg_name):
    seg = shmarray.create(seg_name, {"k": ["a", "b"]}, dir=shm_dir, index=["k"])
    assert seg.lookup("k", ["b"]).tolist() == [1]
    idx = seg.index("k")
    seg.close()
    assert idx["a"] == 0, "an Index held by the caller keeps the mapping alive"
    del idx
    import gc
    gc.collect()
    path = os.path.join(shm_dir, seg_name)
    assert path not in open("/proc/self/maps").read(), "the cache let the mapping go"


def test_keys_from_an_unvalidated_column_are_checked(shm_dir, seg_name):
    # A StringColumn (or an Arrow array over one) of a segment nobody
    # validated hands its offsets to the lookup as they are: a key past its
    # data is an error, never a read outside it.
    with shmarray.create(seg_name, {"id": ["a", "b"]}, dir=shm_dir, index=["id"]):
        pass
    src = os.path.join(shm_dir, "hostile-keys")
    with shmarray.create("hostile-keys", {"k": ["x", "y", "z"]}, dir=shm_dir):
        pass
    with open(src, "r+b") as f:
        b = bytearray(f.read())
        lay_rec = struct.unpack_from("<Q", b, 48)[0]
        offsets = struct.unpack_from("<Q", b, lay_rec + 56)[0]
        struct.pack_into("<i", b, offsets + 4, 0x7FFF0000)  # offsets[1]: far past the 3 data bytes
        f.seek(0)
        f.write(b)
    code = textwrap.dedent(f"""
        import shmarray
        keys = shmarray.attach("hostile-keys", dir={shm_dir!r})["k"]
        seg = shmarray.attach({seg_name!r}, dir={shm_dir!r})
        try:
            seg.lookup("id", keys)
        except shmarray.InvalidArgumentError as e:
            assert "outside the 3 bytes of key data" in str(e), e
            print("refused")
    """)
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(shmarray.__file__)))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert out.returncode == 0 and out.stdout.strip() == "refused", (out.returncode, out.stderr)


def test_odd_keys_one_at_a_time_and_in_batch(shm_dir, seg_name):
    with shmarray.create(seg_name, {"b": [b"x", "\ud800".encode("utf-8", "surrogatepass")]}, dir=shm_dir,
                         index=["b"]) as seg:
        idx = seg.index("b")
        keys = [memoryview(b"x"), bytearray(b"x"), "\ud800", None]
        assert [idx.get(k) for k in keys] == [0, 0, 1, None]
        assert idx.lookup(keys).tolist() == [0, 0, 1, -1]
        import weakref
        assert weakref.ref(idx)() is idx
