"""Per-key lookups in one process: a shmarray hash index against the dict it replaces.

Side by side, in one run, for 2M keys and 1M queries (half of them hits),
with str keys ("key-" + hex) and int keys (random int64), the loops a user
porting ``if key in big_lookup`` writes: ``key in idx``, ``idx[key]``
(KeyError on a miss) and ``idx.get(key)``, against the same loop over the
dict. Each figure is the best of BENCH_REPS runs (default 3), the dict and
the index interleaved so that machine noise hits both alike. Ratio: index
time / dict time (target ≤ 1.5). Batch lookups (``idx.lookup``) are
measured by index_bench.py, with workers.

    PYTHONPATH=bindings/python .venv/bin/python bench/lookup_bench.py [--scale 0.1]

Run by bench/run.py as a hook (BENCH_SCALE, BENCH_REPS, SHMARRAY_DIR, BENCH_JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

KEYS, QUERIES = 2_000_000, 1_000_000


def loop_in(m, q):
    c = 0
    for k in q:
        if k in m:
            c += 1
    return c


def loop_item(m, q):
    c = 0
    for k in q:
        try:
            m[k]
            c += 1
        except KeyError:
            pass
    return c


def loop_get(m, q):
    c = 0
    for k in q:
        if m.get(k) is not None:
            c += 1
    return c


LOOPS = {"key in idx": loop_in, "idx[key]": loop_item, "idx.get(key)": loop_get}


def best(f, reps):
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        r = f()
        out.append(time.perf_counter() - t)
    return min(out), r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=float(os.environ.get("BENCH_SCALE") or 1))
    ap.add_argument("--reps", type=int, default=int(os.environ.get("BENCH_REPS") or 3))
    args = ap.parse_args()
    import shmarray

    d = os.environ.get("SHMARRAY_DIR") or "/dev/shm"
    n, nq = max(int(KEYS * args.scale), 1000), max(int(QUERIES * args.scale), 1000)
    rng = np.random.default_rng(12)
    ints = np.unique(rng.integers(0, 2**62, 2 * n))[:n]
    rng.shuffle(ints)
    strs = [f"key-{v:x}" for v in ints.tolist()]
    name = f"bench-lookup-{os.getpid()}"
    seg = shmarray.create(name, {"s": strs, "i": ints}, dir=d, index=["s", "i"])
    try:
        q = np.concatenate([ints[rng.integers(0, n, nq // 2)], ints[rng.integers(0, n, nq - nq // 2)] + 1])
        rng.shuffle(q)
        queries = {"int": q.tolist()}
        queries["str"] = [f"key-{v:x}" for v in queries["int"]]
        dicts = {"str": {k: i for i, k in enumerate(strs)}, "int": {k: i for i, k in enumerate(ints.tolist())}}
        index = {"str": seg.index("s"), "int": seg.index("i")}
        rows, targets = [], []
        for loop, f in LOOPS.items():
            for kind in ("str", "int"):
                qs = queries[kind]
                td = ti = None
                for _ in range(args.reps):  # interleaved
                    a, ra = best(lambda: f(dicts[kind], qs), 1)
                    b, rb = best(lambda: f(index[kind], qs), 1)
                    assert ra == rb, (loop, kind, ra, rb)
                    td, ti = min(td or a, a), min(ti or b, b)
                r = ti / td
                rows.append(f"| {loop} | {kind} | {td:.3f} s | {ti:.3f} s | {r:.2f}× |")
                targets.append({"target": f"Per key: `{loop}` loop ≤ 1.5× the dict loop ({kind} keys)",
                                "measured": f"{ti:.3f} s vs {td:.3f} s = {r:.2f}×", "met": r <= 1.5})
    finally:
        seg.close()
        shmarray.unlink(name, dir=d)
    md = "\n".join([
        f"{n:,} keys, {nq:,} queries (half hits), best of {args.reps}; one process.\n",
        "| loop | keys | dict | shmarray Index | index / dict |", "|---|---|---:|---:|---:|", *rows, "",
        "Batch lookups against the dict loop are in the shared lookup index section.\n"])
    print(md)
    out = os.environ.get("BENCH_JSON")
    if out:
        with open(out, "w") as f:
            json.dump({"title": "Per-key lookups: a shmarray index against a dict",
                       "markdown": md, "targets": targets}, f)


if __name__ == "__main__":
    main()
