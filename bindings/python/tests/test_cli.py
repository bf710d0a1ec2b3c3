"""The shmarray command end to end: files made with pyarrow and NumPy go in
with `shmarray create`, are attached with `shmarray.attach` and compared with
their source, then come back out with `shmarray export` and are read with
pyarrow.

Run from the repository root:
    PYTHONPATH=bindings/python python -m pytest bindings/python/tests/test_cli.py
"""

from __future__ import annotations

import datetime
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

import shmarray
from conftest import go_program

pa = pytest.importorskip("pyarrow")
import pyarrow.csv as pacsv  # noqa: E402
import pyarrow.ipc as paipc  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

ROWS = 3000


@pytest.fixture(scope="session")
def cli(tmp_path_factory) -> str:
    """The shmarray command, built once per session."""
    return go_program(tmp_path_factory, "./cmd/shmarray", "shmarray")


def run(cli: str, *args, ok: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "SHMARRAY_DIR"}
    p = subprocess.run([cli, *map(str, args)], capture_output=True, text=True, env=env)
    if ok:
        assert p.returncode == 0, f"shmarray {' '.join(map(str, args))}: {p.stderr}"
    return p


def source_table() -> "pa.Table":
    """Most stored types, nulls included, an N-D column and schema metadata."""
    rng = np.random.default_rng(7)
    n = ROWS
    valid = np.arange(n) % 7 != 3
    names = [f"name {i} ü" if v else None for i, v in enumerate(valid)]
    cube = pa.FixedSizeListArray.from_arrays(pa.array(np.arange(n * 6, dtype=np.float32)), 6)
    tensor = pa.ExtensionArray.from_storage(pa.fixed_shape_tensor(pa.float32(), [2, 3]), cube)
    table = pa.table({
        "id": pa.array(np.arange(n, dtype=np.int64) * 1_000_003, mask=~valid),
        "price": pa.array(rng.random(n)),
        "name": pa.array(names),
        "flag": pa.array(np.arange(n) % 3 == 0),
        "qty": pa.array(np.arange(n, dtype=np.uint32) * 7),
        "small": pa.array((np.arange(n) % 200 - 100).astype(np.int8)),
        "when": pa.array(np.datetime64("2024-01-01T00:00:00", "us") + np.arange(n).astype("timedelta64[s]"))
                  .cast(pa.timestamp("us", "UTC")),
        "local": pa.array(np.datetime64("2024-06-01T12:00:00", "ms") + np.arange(n).astype("timedelta64[m]"))
                   .cast(pa.timestamp("ms", "Europe/Paris")),
        "naive": pa.array(np.datetime64("2024-06-01T12:00:00.5", "ms") + np.arange(n).astype("timedelta64[h]")),
        "day": pa.array(np.datetime64("2020-01-01") + np.arange(n).astype("timedelta64[D]")),
        "code": pa.array([bytes([i % 256, 120, i // 256]) for i in range(n)], pa.binary(3)),
        "blob": pa.array([bytes([i % 256]) * (i % 4) for i in range(n)]),
        "note": pa.array(["n" * (i % 5) for i in range(n)], pa.large_string()),
        "cube": tensor,
    })
    return table.replace_schema_metadata({"source": "test_cli"})


def plain(arr: "pa.Array") -> "pa.Array":
    """An array without extension or dictionary wrapping, for comparisons."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if isinstance(arr.type, pa.ExtensionType):
        arr = arr.storage
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    return arr


def assert_same(got: "pa.Array", want: "pa.Array", name: str) -> None:
    got, want = plain(got), plain(want)
    assert got.type == want.type, f"{name}: {got.type} != {want.type}"
    assert got.equals(want), f"{name} differs"


def write_input(table: "pa.Table", fmt: str, path: Path) -> None:
    if fmt == "parquet":
        pq.write_table(table, path, row_group_size=1000)
    elif fmt == "arrow":
        with paipc.new_file(path, table.schema) as w:
            for batch in table.to_batches(max_chunksize=700):
                w.write_batch(batch)
    elif fmt == "arrows":
        with paipc.new_stream(path, table.schema) as w:
            for batch in table.to_batches(max_chunksize=700):
                w.write_batch(batch)
    else:
        raise ValueError(fmt)


@pytest.mark.parametrize("fmt", ["arrow", "arrows", "parquet"])
def test_create_attach_compare(cli, tmp_path, shm_dir, fmt):
    src = source_table()
    path = tmp_path / f"in.{fmt}"
    write_input(src, fmt, path)
    out = run(cli, "create", "table", "--from", path, "--dir", shm_dir).stdout
    assert f"{ROWS:,} rows" in out
    with shmarray.attach("table", dir=shm_dir) as seg:
        seg.validate()
        assert seg.columns == src.column_names
        assert seg.num_rows == ROWS
        assert seg.metadata.get("source") == "test_cli"
        # NumPy views, zero-copy over the shared pages
        np.testing.assert_array_equal(seg["price"], src["price"].to_numpy())
        np.testing.assert_array_equal(seg["qty"], src["qty"].to_numpy())
        ids = seg["id"]
        assert isinstance(ids, np.ma.MaskedArray)
        assert ids.mask.tolist() == src["id"].is_null().to_pylist()
        assert seg["cube"].shape == (ROWS, 2, 3)
        np.testing.assert_array_equal(seg["cube"], np.arange(ROWS * 6, dtype=np.float32).reshape(ROWS, 2, 3))
        assert seg["name"].to_pylist() == src["name"].to_pylist()
        # Arrow, column by column
        table = seg.to_arrow()
        for name in src.column_names:
            assert_same(table[name], src[name], name)


def test_create_from_pyarrow_dictionary_parquet(cli, tmp_path, shm_dir):
    """A categorical (dictionary) column stays dictionary-encoded (format 1.3)."""
    words = pa.array(["red", "green", None, "blue"] * 250).dictionary_encode()
    path = tmp_path / "cat.parquet"
    pq.write_table(pa.table({"color": words}), path)
    run(cli, "create", "cat", "--from", path, "--dir", shm_dir)
    with shmarray.attach("cat", dir=shm_dir) as seg:
        assert seg.info("color").type == "dictionary"
        assert seg["color"].to_pylist() == words.dictionary_decode().to_pylist()


def test_create_from_csv(cli, tmp_path, shm_dir):
    src = pa.table({
        "id": pa.array(range(ROWS), pa.int64()),
        "price": pa.array([None if i % 5 == 0 else i / 4 for i in range(ROWS)], pa.float64()),
        "name": pa.array([f"name {i}, \"quoted\"" for i in range(ROWS)]),
        "flag": pa.array([i % 2 == 0 for i in range(ROWS)]),
        "day": pa.array([datetime.date(2020, 1, 1) + datetime.timedelta(days=i) for i in range(ROWS)]),
    })
    path = tmp_path / "in.csv"
    pacsv.write_csv(src, path)
    run(cli, "create", "csv", "--from", path, "--dir", shm_dir)
    with shmarray.attach("csv", dir=shm_dir) as seg:
        seg.validate()
        assert {c: seg.info(c).type for c in seg.columns} == {
            "id": "int64", "price": "float64", "name": "utf8", "flag": "bool", "day": "date32"}
        for name in src.column_names:
            assert_same(seg.column_to_arrow(name), src[name], name)
    run(cli, "create", "csv32", "--from", path, "--type", "id=int32", "--type", "price=float32", "--dir", shm_dir)
    with shmarray.attach("csv32", dir=shm_dir) as seg:
        assert seg["id"].dtype == np.int32
        assert seg["price"].dtype == np.float32


@pytest.mark.parametrize("dtype,shape", [
    ("<i8", (100,)), ("<i4", (4, 5)), ("<f4", (2, 3, 4)), ("<f8", (10, 1)), ("|u1", (256,)),
    ("<u8", (3,)), ("<i2", (2, 2, 2, 2)), ("<f2", (5,)), ("|b1", (33,)), ("|i1", (0,)), ("<f8", ()),
])
def test_create_from_npy(cli, tmp_path, shm_dir, dtype, shape):
    n = int(np.prod(shape))
    a = (np.arange(n) % 97 - 40).astype(dtype).reshape(shape)
    if dtype == "|b1":
        a = np.arange(n) % 3 == 0
    path = tmp_path / "values.npy"
    np.save(path, a)
    run(cli, "create", "npy", "--from", path, "--dir", shm_dir)
    with shmarray.attach("npy", dir=shm_dir) as seg:
        seg.validate()
        assert seg.columns == ["values"]
        got = np.asarray(seg["values"])
        want = np.load(path)
        if want.ndim == 0:
            want = want.reshape(1)
        assert got.dtype == want.dtype
        assert got.shape == want.shape
        np.testing.assert_array_equal(got, want)


def test_npy_refusals(cli, tmp_path, shm_dir):
    src = tmp_path / "src"
    src.mkdir()
    np.save(src / "f.npy", np.asfortranarray(np.arange(6.0).reshape(2, 3)))
    np.save(src / "be.npy", np.arange(4, dtype=">i4"))
    np.save(src / "u.npy", np.array(["a", "b"]))
    for name, words in [("f.npy", "Fortran order"), ("be.npy", "big-endian"), ("u.npy", "not supported")]:
        p = run(cli, "create", "x", "--from", src / name, "--dir", shm_dir, ok=False)
        assert p.returncode == 1
        assert p.stderr.count("\n") == 1 and p.stderr.startswith("shmarray: ")
        assert words in p.stderr
    assert os.listdir(shm_dir) == ["src"], "nothing but the inputs"


@pytest.mark.parametrize("fmt", ["arrow", "parquet", "csv"])
def test_export_read_back(cli, tmp_path, shm_dir, fmt):
    src = source_table()
    if fmt == "csv":  # CSV holds neither N-D arrays nor binary faithfully
        src = src.drop_columns(["cube", "blob", "code"])
    write_input(src, "arrow", tmp_path / "in.arrow")
    run(cli, "create", "table", "--from", tmp_path / "in.arrow", "--dir", shm_dir)
    out = tmp_path / f"out.{fmt}"
    run(cli, "export", "table", "--to", out, "--dir", shm_dir)
    if fmt == "arrow":
        back = paipc.open_file(out).read_all()
    elif fmt == "parquet":
        back = pq.read_table(out)
    else:
        back = pacsv.read_csv(out, convert_options=pacsv.ConvertOptions(column_types=src.schema))
    assert back.column_names == src.column_names
    for name in src.column_names:
        got, want = plain(back[name]), plain(src[name])
        if fmt == "csv" and name in ("name", "note"):
            # CSV writes a null and an empty string alike
            want = want.fill_null("")
            got = got.fill_null("")
        assert_same(got, want, name)
    if fmt != "csv":
        assert back.schema.metadata[b"source"] == b"test_cli"


def test_verify_rm_info(cli, tmp_path, shm_dir):
    np.save(tmp_path / "v.npy", np.arange(1000, dtype=np.int64))
    run(cli, "create", "v", "--from", tmp_path / "v.npy", "--dir", shm_dir)
    assert run(cli, "verify", "v", "--dir", shm_dir).stdout == "ok: v (1 arrays, checksums verified)\n"
    path = Path(shm_dir, "v")
    raw = bytearray(path.read_bytes())
    at = raw.find(np.array([500, 501], dtype="<i8").tobytes())  # inside the data
    assert at > 0
    raw[at] ^= 0xFF
    path.write_bytes(bytes(raw))
    p = run(cli, "verify", "v", "--dir", shm_dir, ok=False)
    assert p.returncode == 1
    assert "checksum" in p.stderr and p.stderr.count("\n") == 1

    run(cli, "rm", "v", "--dir", shm_dir)
    p = run(cli, "info", "v", "--dir", shm_dir, ok=False)
    assert p.returncode == 1
    assert p.stderr == (f'shmarray: info "v": no segment "v" in {shm_dir} '
                        f"(list the segments there with: shmarray ls --dir {shm_dir})\n")
    with pytest.raises(shmarray.NotFoundError):
        shmarray.attach("v", dir=shm_dir)


def test_ls_json_matches_python_listing(cli, tmp_path, shm_dir):
    import json
    np.save(tmp_path / "a.npy", np.zeros((5, 2)))
    run(cli, "create", "a", "--from", tmp_path / "a.npy", "--dir", shm_dir)
    listed = json.loads(run(cli, "ls", "--json", "--dir", shm_dir).stdout)
    py = shmarray.list_segments(shm_dir)
    assert [e["name"] for e in listed] == [s.name for s in py] == ["a"]
    assert listed[0]["rows"] == 5 and listed[0]["arrays"] == 1
    assert listed[0]["size"] == py[0].size
    assert listed[0]["creator_alive"] is False


@pytest.mark.parametrize("fmt", ["parquet", "arrow"])
def test_create_lists_and_dictionaries(cli, tmp_path, shm_dir, fmt):
    """Lists and dictionaries (format 1.3) imported from files pyarrow
    wrote: Parquet keeps the dictionary encoding in its stored Arrow schema."""
    table = pa.table({
        "tags": pa.array([[1, None], None, [], [4, 5]] * 3, pa.list_(pa.int32())),
        "sym": pa.array(["a", "b", None, "a"] * 3).dictionary_encode(),
    })
    src = tmp_path / f"in.{fmt}"
    if fmt == "parquet":
        pq.write_table(table, src, row_group_size=5)
    else:
        with paipc.new_file(src, table.schema) as w:
            w.write_table(table, max_chunksize=5)
    run(cli, "create", "n", "--from", src, "--dir", shm_dir)
    with shmarray.attach("n", dir=shm_dir) as seg:
        seg.validate()
        assert seg.columns == ["tags", "sym"]
        assert seg["tags"].to_pylist() == table.column("tags").to_pylist()
        assert isinstance(seg["sym"], shmarray.DictionaryColumn)
        assert seg["sym"].to_pylist() == table.column("sym").to_pylist()
    shmarray.unlink("n", dir=shm_dir)
