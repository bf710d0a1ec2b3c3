"""Hostile segments: 1,000 randomly corrupted copies of valid segments -- bit
flips in the header and the directory, truncations, huge or negative lengths
and shapes, garbage in buffer offsets and in the offsets buffers of strings
-- each read every way there is (hostile_worker.py) in subprocesses. Every
read ends in a ShmarrayError or a clean result: no death by a signal, no
hang, no other exception, and the plain-C reader gives the same code as the
Python one."""

from __future__ import annotations

import json
import os
import random
import signal
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np

import shmarray

WORKER = Path(__file__).with_name("hostile_worker.py")
from conftest import REPO  # noqa: E402

CONFORMANCE = REPO / "conformance" / "vectors" / "v1"
COUNT = 1000
BATCHES = 4
TIMEOUT = 120  # seconds per batch; a hang fails the test


def _valid_segments(d: str) -> dict[str, bytes]:
    """Valid segments of every layout the writer makes, plus the valid
    conformance vectors when they exist."""
    rng = np.random.default_rng(5)
    cols = {
        "i64": np.arange(50, dtype=np.int64),
        "u8": np.arange(50, dtype=np.uint8),
        "f16": np.linspace(0, 1, 50).astype(np.float16),
        "masked": np.ma.MaskedArray(np.arange(50.0), mask=np.arange(50) % 3 == 0),
        "flags": np.arange(50) % 2 == 0,
        "when": np.arange(50).astype("datetime64[ns]"),
        "day": np.arange(50).astype("datetime64[D]"),
        "dur": np.arange(50).astype("timedelta64[ms]"),
        "fixed": np.array([b"abcde"] * 50, dtype="S5"),
        "words": ["héllo", None, "", "日本"] * 12 + ["x", "y"],
        "blobs": [b"\x00\xff", None] * 25,
    }
    segs = {
        "table": cols,
        "tensors": {"t": rng.random((6, 2, 3), dtype=np.float32), "z": np.zeros((4, 0)),
                    "m": np.ma.MaskedArray(np.arange(12).reshape(4, 3), mask=[[0, 0, 0], [1, 1, 1], [0] * 3, [0] * 3])},
        "ragged": {"a": np.arange(3), "s": ["a", "bb"], "e": np.array([], dtype=np.int32)},
    }
    try:
        import pyarrow as pa
        segs["arrow"] = pa.table({
            "ls": pa.array(["a", None, "ccc", "dd"], pa.large_string()),
            "lb": pa.array([b"x", b"", None, b"zz"], pa.large_binary()),
            "ts": pa.array([1, 2, None, 4], pa.timestamp("us", tz="Europe/Paris")),
            "d64": pa.array([0, 86400000, None, -86400000], pa.date64()),
        }).replace_schema_metadata({"k": "v"})
    except ImportError:
        pass
    out = {}
    for name, columns in segs.items():
        shmarray.create(name, columns, dir=d, metadata={"origin": "hostile test"}).close()
        out[name] = Path(d, name).read_bytes()
    if CONFORMANCE.is_dir():
        for p in sorted(CONFORMANCE.glob("valid/**/*.shm")):
            out["vector-" + p.stem] = p.read_bytes()
    return out


# Field positions (spec §4, §5.1).
_HEADER_FIELDS = [(12, "I"), (16, "Q"), (24, "I"), (28, "I"), (32, "Q"), (40, "Q"), (48, "Q"), (56, "I"),
                  (60, "I"), (64, "Q"), (72, "Q"), (80, "Q"), (88, "I"), (92, "I")]
_LENGTH_FIELDS = [(24, "q"), (32, "q")] + [(104 + 8 * k, "q") for k in range(8)]
_BUFFER_FIELDS = [(40, "Q"), (48, "Q"), (56, "Q"), (64, "Q"), (72, "Q"), (80, "Q")]
_HUGE = [-1, -2, -(1 << 63), (1 << 63) - 1, 1 << 62, (1 << 62) + 1, 1 << 32, (1 << 31) - 1, 1 << 31,
         1 << 40, 0, 1, 63, 64, 65, 4095, 4096]


def _u(v: int, fmt: str) -> int:
    """v as a value of fmt (signed or unsigned, wrapped to its width)."""
    bits = 8 * struct.calcsize(fmt)
    v %= 1 << bits
    return v - (1 << bits) if fmt in "bhilq" and v >= 1 << (bits - 1) else v


def _reseal(b: bytearray) -> None:
    if len(b) < 128:
        return
    hs, mo, ml = struct.unpack_from("<I", b, 12)[0], *struct.unpack_from("<QQ", b, 32)
    if hs < 128 or hs > len(b) or mo + ml > len(b):
        return
    head = bytearray(b[:hs])
    head[120:124] = bytes(4)
    struct.pack_into("<I", b, 120, zlib.crc32(bytes(b[mo:mo + ml]), zlib.crc32(bytes(head))))


def _records(b: bytes) -> list[int]:
    count, = struct.unpack_from("<I", b, 28)
    off, = struct.unpack_from("<Q", b, 48)
    size, = struct.unpack_from("<I", b, 56)
    return [off + i * size for i in range(count) if off + (i + 1) * size <= len(b)]


def corrupt(rng: random.Random, base: bytes) -> tuple[bytes, str]:
    """One random corruption of base and a word for it."""
    b = bytearray(base)
    recs = _records(b)
    kind = rng.choice(["header-bits", "directory-bits", "truncate", "length", "buffer", "offsets-buffer",
                       "header-field", "tail-bits"])
    if kind == "header-bits":
        for _ in range(rng.randint(1, 3)):
            b[rng.randrange(128)] ^= 1 << rng.randrange(8)
    elif kind == "directory-bits" and recs:
        for _ in range(rng.randint(1, 4)):
            b[rng.choice(recs) + rng.randrange(192)] ^= 1 << rng.randrange(8)
    elif kind == "truncate":
        b = b[:rng.randrange(len(b))]
    elif kind == "length" and recs:
        r = rng.choice(recs)
        for _ in range(rng.randint(1, 2)):
            off, fmt = rng.choice(_LENGTH_FIELDS)
            struct.pack_into("<" + fmt, b, r + off, _u(rng.choice(_HUGE), fmt))
        if rng.random() < 0.5:  # keep shape[0] == length so that the size checks are reached
            struct.pack_into("<q", b, r + 104, struct.unpack_from("<q", b, r + 24)[0])
    elif kind == "buffer" and recs:
        r = rng.choice(recs)
        off, fmt = rng.choice(_BUFFER_FIELDS)
        old, = struct.unpack_from("<" + fmt, b, r + off)
        new = rng.choice([rng.getrandbits(64), old + rng.choice([-64, -1, 1, 64, 4096]), rng.choice(_HUGE)])
        struct.pack_into("<" + fmt, b, r + off, _u(new, fmt))
    elif kind == "offsets-buffer" and recs:
        r = rng.choice(recs)
        o_off, o_len, d_len = (struct.unpack_from("<Q", b, r + k)[0] for k in (56, 64, 80))
        if o_len and o_off + o_len <= len(b):
            width = 4 if b[r + 8] in (13, 15) else 8
            for _ in range(rng.randint(1, 3)):
                at = o_off + width * rng.randrange(o_len // width)
                v = rng.choice([-1, 1 << 31, d_len + 1, d_len, 0, rng.getrandbits(width * 8)])
                struct.pack_into("<" + ("i" if width == 4 else "q"), b, at, _u(v, "i" if width == 4 else "q"))
        else:
            b[rng.randrange(128, len(b))] ^= 0xFF
    elif kind == "header-field":
        off, fmt = rng.choice(_HEADER_FIELDS)
        struct.pack_into("<" + fmt, b, off, _u(rng.choice(_HUGE + [rng.getrandbits(64)]), fmt))
    else:
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
    if kind != "truncate" and rng.random() < 0.85:
        _reseal(b)  # most copies pass the checksum, so that the checks behind it are reached
    return bytes(b), kind


def _run_batch(d: str, names: list[str]) -> tuple[dict, list]:
    """Read names in a worker; when it dies or hangs, note the segment it was
    reading and go on with the next one in a new worker."""
    results, crashes = {}, []
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    todo = list(names)
    while todo:
        try:
            proc = subprocess.run([sys.executable, str(WORKER), d], input="\n".join(todo) + "\n",
                                  capture_output=True, text=True, env=env, timeout=TIMEOUT)
            out, code = proc.stdout, proc.returncode
            stderr = proc.stderr
        except subprocess.TimeoutExpired as e:
            out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
            code, stderr = "hang", ""
        current = None
        for line in out.splitlines():
            if line.startswith("BEGIN "):
                current = line[6:]
            elif line.startswith("{"):
                r = json.loads(line)
                results[r["name"]] = r
                current = None
        if code == 0:
            break
        if current is None:
            raise AssertionError(f"worker failed outside any segment ({code}): {stderr[-2000:]}")
        reason = "hang" if code == "hang" else (
            f"signal {signal.Signals(-code).name}" if code < 0 else f"exit {code}: {stderr[-500:]}")
        crashes.append((current, reason))
        todo = todo[todo.index(current) + 1:]
    return results, crashes


def test_hostile_segments(tmp_path):
    valid_dir = tmp_path / "valid"
    valid_dir.mkdir()
    bases = _valid_segments(str(valid_dir))
    d = tmp_path / "hostile"
    d.mkdir()
    rng = random.Random(20261122)
    kinds, names = {}, []
    for i in range(COUNT):
        base = rng.choice(sorted(bases))
        data, kind = corrupt(rng, bases[base])
        name = f"h{i:04d}-{base}-{kind}"
        Path(d, name).write_bytes(data)
        names.append(name)
        kinds[kind] = kinds.get(kind, 0) + 1
    for name in bases:  # and the originals: they must read cleanly
        Path(d, "orig-" + name).write_bytes(bases[name])
        names.append("orig-" + name)

    results, crashes = {}, []
    step = (len(names) + BATCHES - 1) // BATCHES
    for k in range(0, len(names), step):
        r, c = _run_batch(str(d), names[k:k + step])
        results.update(r)
        crashes.extend(c)

    assert not crashes, f"{len(crashes)} segments killed or hung the reader: {crashes[:10]}"
    assert len(results) == len(names)
    other = [(n, r["other"]) for n, r in results.items() if "other" in r]
    assert not other, f"{len(other)} reads raised something other than a ShmarrayError: {other[:10]}"
    differ = [(n, r["py"], r["c"]) for n, r in results.items() if r["py"] != r["c"]]
    assert not differ, f"{len(differ)} segments where the Python and C readers disagree: {differ[:10]}"
    for name in bases:
        assert results["orig-" + name]["py"] == "OK", name
    codes = {}
    for r in results.values():
        codes[r["py"]] = codes.get(r["py"], 0) + 1
    print(f"\n{COUNT} hostile segments ({kinds}) -> {codes}")
    assert codes.get("OK", 0) > len(bases), "some corruptions leave a segment readable (data bytes)"
    assert len(codes) >= 8, f"the corruptions reach many checks: {codes}"
