"""shmarray.Receiver: a segment's file copied in pieces, published only when
complete and valid; nothing visible before, nothing left after a failure."""

import os
import random

import numpy as np
import pytest

import shmarray
from shmarray import _receive


@pytest.fixture
def source(tmp_path, seg_name):
    """A published segment of a few columns in a directory of its own, and its file's bytes."""
    d = tmp_path / "src"
    d.mkdir()
    seg = shmarray.create(seg_name, {"x": np.arange(200_000, dtype=np.float64),
                                     "s": ["a", None, "ccc"] * 1000}, dir=str(d))
    with open(seg.path, "rb") as f:
        data = f.read()
    yield seg, data
    seg.close()


def pieces(size, n, seed=1):
    out = [(off, min(off + n, size)) for off in range(0, size, n)]
    random.Random(seed).shuffle(out)
    return out


def test_copy_in_shuffled_pieces(source, tmp_path):
    seg, data = source
    dst = tmp_path / "dst"
    dst.mkdir()
    with shmarray.Receiver(seg.name, len(data), dir=str(dst)) as r:
        for i, (a, b) in enumerate(pieces(len(data), 100_000)):
            chunk = data[a:b]
            # any buffer type: bytes, memoryview, bytearray, a NumPy array
            r.write(a, [chunk, memoryview(chunk), bytearray(chunk), np.frombuffer(chunk, np.uint8)][i % 4])
            assert not shmarray.list_segments(str(dst)), "nothing visible before publish"
        r.write(0, b"")  # an empty piece is allowed
        copy = r.publish()
    with copy:
        assert copy.path == os.path.join(str(dst), seg.name)
        assert open(copy.path, "rb").read() == data
        assert os.stat(copy.path).st_mode & 0o777 == 0o600
        copy.validate()
        np.testing.assert_array_equal(copy["x"], seg["x"])
        assert copy["s"].to_pylist() == seg["s"].to_pylist()
    with pytest.raises(shmarray.ClosedError):
        r.write(0, data[:1])
    assert "closed" in repr(r)


@pytest.mark.parametrize("damage, error", [
    ("missing", shmarray.TruncatedError),
    ("flipped", shmarray.ChecksumMismatchError),
    ("discarded", None),
])
def test_refused_or_discarded_leaves_nothing(source, tmp_path, damage, error):
    seg, data = source
    dst = tmp_path / "dst"
    dst.mkdir()
    r = shmarray.Receiver(seg.name, len(data), dir=str(dst))
    body = bytearray(data)
    if damage == "flipped":
        body[len(body) // 2] ^= 1
    for a, b in pieces(len(data), 64 << 10):
        if damage == "missing" and a == 128 << 10:
            continue
        r.write(a, bytes(body[a:b]))
    if error is None:
        r.discard()
        r.discard()
    else:
        with pytest.raises(error, match=seg.name):
            r.publish()
    assert os.listdir(dst) == [], "not even a hidden file is left"


def test_errors(source, tmp_path):
    seg, data = source
    with pytest.raises(shmarray.ExistsError):
        shmarray.Receiver(seg.name, len(data), dir=seg.dir)
    with pytest.raises(shmarray.InvalidArgumentError):
        shmarray.Receiver("bad/name", len(data), dir=str(tmp_path))
    with pytest.raises(shmarray.InvalidArgumentError):
        shmarray.Receiver("m", len(data), dir=str(tmp_path), mode=0o644)
    with pytest.raises(shmarray.NotFoundError):
        shmarray.Receiver("m", len(data), dir=str(tmp_path / "missing"))
    with shmarray.Receiver("late", len(data), dir=str(tmp_path)) as r:
        with pytest.raises(shmarray.InvalidArgumentError, match="outside"):
            r.write(len(data) - 1, b"ab")
        r.write(0, data)
        # The name is taken while the file arrives: never replaced.
        with open(tmp_path / "late", "wb") as f:
            f.write(b"first")
        with pytest.raises(shmarray.ExistsError):
            r.publish()
    assert open(tmp_path / "late", "rb").read() == b"first"


def test_doctests(run_doctests):
    run_doctests(_receive)


def test_writers_follow_os_environ(tmp_path, monkeypatch, seg_name):
    """SHMARRAY_DIR set from Python after the library was loaded: create and
    Receiver write where the readers look (the Go runtime alone would still
    see the environment the process started with)."""
    shmarray.create(seg_name + "-warm", {"x": np.arange(1)}, dir=str(tmp_path)).close()  # library loaded
    d = tmp_path / "env"
    d.mkdir()
    monkeypatch.setenv("SHMARRAY_DIR", str(d))
    with shmarray.create(seg_name, {"x": np.arange(3)}) as seg:
        assert seg.path == os.path.join(str(d), seg_name)
        data = open(seg.path, "rb").read()
    with shmarray.Receiver(seg_name + "-copy", len(data)) as r:
        r.write(0, data)
        with r.publish() as copy:
            assert copy.path == os.path.join(str(d), seg_name + "-copy")
    assert sorted(os.listdir(d)) == [seg_name, seg_name + "-copy"]
