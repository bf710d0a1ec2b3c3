"""Arrow hand-off: from nothing to a pyarrow.Table of a three-column table
(price float64, qty int64, symbol utf8) stored once in the segment directory.

  to_arrow          shmarray.attach + Segment.to_arrow(): the C core's Arrow C
                    stream export through shmarray._native, imported by
                    pyarrow (no check of the data: the one default, spec §11.3)
  to_arrow_checked  the same with check_offsets=True (full validation first,
                    a pass over the data)
  c_data            libshmarray's plain-C reader: shmarray_attach +
                    shmarray_export_stream (Arrow C stream interface),
                    imported by pyarrow
  ipc_mmap          pyarrow.ipc.open_file(pyarrow.memory_map(path)).read_all()
                    of an Arrow IPC file of the same table (zero-copy)
  ipc_read          pyarrow.ipc.open_file(path).read_all(): the file read
                    into memory (a copy)

Two times per approach, medians over interleaved rounds: the hand-off alone,
and the hand-off followed by one sum over every price (a first pass over
freshly mapped pages pays their page-table entries).
"""

from __future__ import annotations

import ctypes
import os
import time

import numpy as np

from common import Config, lib_path, log, median, rotate

SYMBOLS = [b"ACME", b"INIT", b"ZETA", b"QUUX", b"BOLT"]
APPROACHES = ["to_arrow", "to_arrow_checked", "c_data", "ipc_mmap", "ipc_read"]
LABELS = {
    "to_arrow": "shmarray attach + to_arrow()",
    "to_arrow_checked": "shmarray attach + to_arrow(check_offsets=True)",
    "c_data": "shmarray C reader → Arrow C stream → pyarrow",
    "ipc_mmap": "Arrow IPC file, pyarrow.memory_map",
    "ipc_read": "Arrow IPC file, read into memory",
}


def make_table(rows: int):
    import pyarrow as pa
    i = np.arange(rows, dtype=np.int64)
    price = (i % 1000) * 0.25
    qty = i % 7
    lengths = np.full(rows, 4, dtype=np.int32)
    offsets = np.zeros(rows + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    table5 = np.frombuffer(b"".join(SYMBOLS), dtype=np.uint8).reshape(len(SYMBOLS), 4)
    data = table5[i % len(SYMBOLS)].reshape(-1)
    symbol = pa.StringArray.from_buffers(rows, pa.py_buffer(offsets), pa.py_buffer(data))
    return pa.table({"price": price, "qty": qty, "symbol": symbol})


class _CReader:
    """ctypes access to the plain-C reading half of libshmarray.so."""

    def __init__(self):
        lib = ctypes.CDLL(str(lib_path()))
        vp, sz = ctypes.c_void_p, ctypes.c_size_t
        lib.shmarray_attach.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(vp), ctypes.c_char_p, sz]
        lib.shmarray_attach.restype = ctypes.c_int
        lib.shmarray_export_stream.argtypes = [vp, vp, ctypes.c_char_p, sz]
        lib.shmarray_export_stream.restype = ctypes.c_int
        lib.shmarray_close.argtypes, lib.shmarray_close.restype = [vp], None
        self.lib = lib
        self.err = ctypes.create_string_buffer(512)

    def table(self, name: str, d: str):
        import pyarrow as pa
        lib, err = self.lib, self.err
        seg = ctypes.c_void_p()
        if lib.shmarray_attach(name.encode(), d.encode(), ctypes.byref(seg), err, len(err)):
            raise RuntimeError(err.value.decode())
        stream = ctypes.create_string_buffer(40)  # struct ArrowArrayStream: five pointers
        rc = lib.shmarray_export_stream(seg, ctypes.addressof(stream), err, len(err))
        lib.shmarray_close(seg)  # the stream keeps the mapping alive
        if rc:
            raise RuntimeError(err.value.decode())
        return pa.RecordBatchReader._import_from_c(ctypes.addressof(stream)).read_all()


def run(cfg: Config) -> dict:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.ipc  # noqa: F401
    import shmarray

    rows = cfg.count(16_000_000)
    table = make_table(rows)
    name = f"bench-arrow-{os.getpid()}"
    path = os.path.join(cfg.dir, name + ".arrow")
    seg = shmarray.create(name, table, dir=cfg.dir)
    seg_bytes = seg.size
    seg.close()
    with pa.OSFile(path, "wb") as f, pa.ipc.new_file(f, table.schema) as w:
        w.write_table(table)
    ipc_bytes = os.path.getsize(path)
    expected = pc.sum(table.column("price")).as_py()
    del table
    creader = _CReader()

    def handoff(approach):
        if approach in ("to_arrow", "to_arrow_checked"):
            with shmarray.attach(name, dir=cfg.dir) as s:
                return s.to_arrow(check_offsets=approach == "to_arrow_checked")
        if approach == "c_data":
            return creader.table(name, cfg.dir)
        if approach == "ipc_mmap":
            return pa.ipc.open_file(pa.memory_map(path)).read_all()
        return pa.ipc.open_file(path).read_all()

    rounds = max(cfg.reps, 5)
    handoff_s = {a: [] for a in APPROACHES}
    with_sum_s = {a: [] for a in APPROACHES}
    try:
        for a in APPROACHES:  # warm up and check every approach gives the same table
            t = handoff(a)
            if t.num_rows != rows or pc.sum(t.column("price")).as_py() != expected or \
                    t.column("symbol")[7].as_py() != SYMBOLS[7 % len(SYMBOLS)].decode():
                raise RuntimeError(f"arrow: {a} returned a different table")
            del t
        for r in range(rounds):
            for a in rotate(APPROACHES, r):
                t0 = time.perf_counter()
                t = handoff(a)
                t1 = time.perf_counter()
                pc.sum(t.column("price"))
                t2 = time.perf_counter()
                handoff_s[a].append(t1 - t0)
                with_sum_s[a].append(t2 - t0)
                del t
    finally:
        shmarray.unlink(name, dir=cfg.dir)
        os.unlink(path)
    out = {"rows": rows, "segment_bytes": seg_bytes, "ipc_bytes": ipc_bytes, "results": []}
    for a in APPROACHES:
        out["results"].append({"approach": a, "handoff_s": median(handoff_s[a]),
                               "with_sum_s": median(with_sum_s[a]), "runs": handoff_s[a]})
        log(f"arrow {a:17} hand-off {median(handoff_s[a]) * 1e3:9.3f} ms   + sum {median(with_sum_s[a]) * 1e3:9.3f} ms")
    return out
