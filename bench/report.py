"""Write docs/benchmarks.md and docs/benchmarks.png from the results of
bench/run.py (docs/benchmarks.json), and the plain-text summary it prints.

    python bench/report.py [docs/benchmarks.json]   # re-render without re-running

The chart needs matplotlib (installed in .venv-bench by `make bench`; the
shmarray package itself never imports it). Without it the chart is skipped
with a message and the Markdown is written all the same.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from common import GiB, MiB, ROOT, ratio_text, size_text, time_text

NUMERIC_LABELS = {
    "shmarray": "shmarray",
    "pickle": "pickle to workers",
    "fork": "fork inheritance",
    "shared_memory": "multiprocessing.shared_memory",
    "arrow_ipc": "Arrow IPC file + pyarrow.memory_map",
    "numpy_memmap": "numpy.memmap",
    "baseline_spawn": "*no data: processes only*",
    "baseline_fork": "*no data: fork, processes only*",
    "shmarray_huge": "shmarray, segment on a huge-page tmpfs",
}
OBJECT_LABELS = {
    "list_fork": "list of ints, fork workers",
    "numpy_fork": "NumPy int64 array, fork workers",
    "shmarray": "shmarray int64 array",
    "baseline_fork": "*no data: processes only*",
}
ARROW_LABELS = {
    "to_arrow": "`shmarray.attach` + `to_arrow()`",
    "to_arrow_checked": "`shmarray.attach` + `to_arrow(check_offsets=True)` (validates first)",
    "c_data": "C reader: `shmarray_attach` + `shmarray_export_stream` → pyarrow",
    "ipc_mmap": "Arrow IPC file, `pyarrow.memory_map` (zero-copy)",
    "ipc_read": "Arrow IPC file, read into memory",
}


def frac_text(r: float | None) -> str:
    """0.01 → "1/100"; 0.4 → "1/2.5"; 1.4 → "1.4× (more)"."""
    if r is None or r <= 0:
        return "–"
    if r >= 1:
        return f"{r:.2g}× (more, not less)"
    inv = 1 / r
    return f"1/{inv:,.0f}" if inv >= 10 else f"1/{inv:.1f}"


def pct(x) -> str:
    return "–" if x is None else f"{x:.0%}"


def mib(n) -> str:
    return "–" if n is None else f"{n / MiB:,.0f} MiB" if n < 10 * GiB else f"{n / GiB:.1f} GiB"


def gbs(bps) -> str:
    return "–" if bps is None else f"{bps / 1e9:.2f} GB/s"


def table(header: list[str], rows: list[list[str]], align: str | None = None) -> str:
    align = align or "l" + "r" * (len(header) - 1)
    sep = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(sep) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# Targets


def targets(res: dict) -> list[dict]:
    """Every target of the issue with its measured value: met, missed, or not
    measured (None)."""
    out = []
    num = res.get("numeric") or {}
    s = num.get("summary", {})
    workers = num.get("workers", [])
    # 1. setup
    parts, met = [], None
    for n in workers:
        a, p = s.get(f"shmarray/{n}"), s.get(f"pickle/{n}")
        if not (a and p):
            continue
        r = a["handoff_s"] / p["handoff_s"]
        deliver = (a["handoff_s"] - a["publish_s"]) / p["handoff_s"]
        parts.append(f"N={n}: hand-off {time_text(a['handoff_s'])} vs {time_text(p['handoff_s'])} = "
                     f"{frac_text(r)} (of which create {time_text(a['publish_s'])}; after it, "
                     f"{frac_text(deliver)}); end to end with the worker start "
                     f"{frac_text(a['hold_s'] / p['hold_s'])}")
        met = (met is not False) and r <= 0.01
    out.append({"target": "Setup ≤ 1/100 of pickling (hand-off: parent holds a private array → every "
                          "worker holds the data, create included)",
                "measured": "; ".join(parts) or "not measured", "met": met})
    # 2. PSS
    parts, met = [], None
    data = num.get("bytes")
    for n in workers:
        a, b = s.get(f"shmarray/{n}"), s.get(f"baseline_spawn/{n}")
        if not (a and b and data):
            continue
        limit = 1.1 * data + b["total_pss"]
        parts.append(f"N={n}: {mib(a['total_pss'])} ≤ {mib(limit)}? "
                     f"({mib(a['total_pss'] - b['total_pss'])} above the {mib(b['total_pss'])} baseline, "
                     f"{(a['total_pss'] - b['total_pss']) / data:.2f} × data)")
        met = (met is not False) and a["total_pss"] <= limit
    out.append({"target": "Total PSS ≤ 1.1 × data + per-process interpreter baseline",
                "measured": "; ".join(parts) or "not measured", "met": met})
    # 3. scan ratio
    n1 = min(workers) if workers else None
    a = s.get(f"shmarray/{n1}") if n1 else None
    if a and a.get("scan_ratio"):
        h = s.get(f"shmarray_huge/{n1}") or {}
        huge = (f"; with the segment on a tmpfs mounted with huge pages: {h['scan_ratio']:.2f}"
                if h.get("scan_ratio") else "")
        out.append({"target": "Scan ratio (view / private array) ≥ 0.95",
                    "measured": f"{a['scan_ratio']:.2f} in {res.get('config', {}).get('dir', '/dev/shm')} "
                                f"({gbs(data / a['scan_view_s'])} through the view, "
                                f"{gbs(data / a['scan_private_s'])} private; huge pages: view "
                                f"{pct(a.get('huge_view'))}, private copy {pct(a.get('huge_private'))}){huge}",
                    "met": a["scan_ratio"] >= 0.95})
    else:
        out.append({"target": "Scan ratio (view / private array) ≥ 0.95", "measured": "not measured", "met": None})
    # 4. create
    parts, met = [], None
    for lang, rows in create_rows(res):
        for case, r in rows.items():
            if r.get("shmarray") and r.get("memcpy"):
                frac = r["shmarray"] / r["memcpy"]
                fresh = r.get("memcpy-fresh")
                huge = r.get("shmarray-huge")
                parts.append(f"{lang} {case}: {gbs(r['shmarray'])} = {frac:.0%} of memcpy {gbs(r['memcpy'])}"
                             + (f" ({r['shmarray'] / fresh:.0%} of a copy into fresh memory)" if fresh else "")
                             + (f"; into a huge-page tmpfs {gbs(huge)} = {huge / r['memcpy']:.0%}" if huge else ""))
                met = (met is not False) and frac >= 0.5
    out.append({"target": "Create ≥ 50% of memcpy bandwidth", "measured": "; ".join(parts) or "not measured",
                "met": met})
    # 5. attach
    parts, met = [], None
    for lang, pts in attach_by_size(res).items():
        if len(pts) < 2:
            continue
        (s0, t0), (s1, t1) = pts[0], pts[-1]
        parts.append(f"{lang}: {size_text(s1)} {time_text(t1 / 1e9)} vs {size_text(s0)} "
                     f"{time_text(t0 / 1e9)} = {t1 / t0:.2f}×")
        met = (met is not False) and t1 / t0 <= 2
    att = res.get("attach") or {}
    top = max(att.get("sizes") or [0])
    label = "Attach of 4 GiB within 2× of 1 MiB"
    if top and top < 4 * GiB:
        label += f" (largest measured here: {size_text(top)})"
    out.append({"target": label, "measured": "; ".join(parts) or "not measured", "met": met})
    # 6. Python attach against C (issue 12), by number of arrays, and warm
    by_count = attach_by_count(res)
    py, c = dict(by_count.get("Python", [])), dict(by_count.get("C", []))
    parts, met = [], None
    for n in sorted(set(py) & set(c)):
        r = py[n] / c[n]
        parts.append(f"{n:,}: {time_text(py[n] / 1e9)} vs {time_text(c[n] / 1e9)} = {r:.2f}×")
        met = (met is not False) and r <= 1.5
    out.append({"target": "Python attach ≤ 1.5× the C attach, for 1 to 10,000 arrays",
                "measured": "; ".join(parts) or "not measured", "met": met})
    one = py.get(1)
    out.append({"target": "Warm Python attach (+ close) of one array ≤ 25 µs",
                "measured": time_text(one / 1e9) if one else "not measured",
                "met": None if one is None else one <= 25_000})
    # 7. to_arrow against the C Data export (issue 12)
    ar = {x["approach"]: x for x in (res.get("arrow") or {}).get("results", [])}
    if "to_arrow" in ar and "c_data" in ar:
        r = ar["to_arrow"]["handoff_s"] / ar["c_data"]["handoff_s"]
        out.append({"target": "to_arrow() of the demo table ≤ 2× the C Data export",
                    "measured": f"{time_text(ar['to_arrow']['handoff_s'])} vs "
                                f"{time_text(ar['c_data']['handoff_s'])} = {r:.2f}×",
                    "met": r <= 2})
    else:
        out.append({"target": "to_arrow() of the demo table ≤ 2× the C Data export",
                    "measured": "not measured", "met": None})
    return out


def create_rows(res: dict) -> list[tuple[str, dict]]:
    """[(language, {case: {how: bytes/s}})] for Go and Python."""
    out = []
    go = ((res.get("go") or {}).get("create")) or {}
    if go:
        rows = {}
        for name, r in go.items():
            parts = name.split("/")  # BenchmarkCreate/numeric/shmarray
            if len(parts) == 3 and "MB/s" in r["median"]:
                rows.setdefault(parts[1], {})[parts[2]] = r["median"]["MB/s"] * 1e6
        out.append(("Go", rows))
    py = (res.get("create") or {}).get("results")
    if py:
        rows = {}
        for r in py:
            rows.setdefault(r["case"], {})[r["how"]] = r["bytes_per_s"]
        out.append(("Python", rows))
    return out


def attach_by_size(res: dict) -> dict[str, list[tuple[int, float]]]:
    """{language: [(bytes, ns per attach)]} sorted by size."""
    out: dict[str, list] = {}
    go = ((res.get("go") or {}).get("attach")) or {}
    for name, r in go.items():
        if name.startswith("BenchmarkAttach/size="):
            out.setdefault("Go", []).append((_parse_size(name.split("=", 1)[1]), r["median"]["ns/op"]))
    for r in (res.get("attach") or {}).get("by_size", []):
        out.setdefault("C", []).append((r["bytes"], r["c_ns"]))
        out.setdefault("Python", []).append((r["bytes"], r["python_ns"]))
    return {k: sorted(v) for k, v in out.items()}


def attach_by_count(res: dict) -> dict[str, list[tuple[int, float]]]:
    out: dict[str, list] = {}
    go = ((res.get("go") or {}).get("attach")) or {}
    for name, r in go.items():
        if name.startswith("BenchmarkAttachArrays/arrays="):
            out.setdefault("Go", []).append((int(name.split("=", 1)[1]), r["median"]["ns/op"]))
    for r in (res.get("attach") or {}).get("by_count", []):
        out.setdefault("C", []).append((r["arrays"], r["c_ns"]))
        out.setdefault("Python", []).append((r["arrays"], r["python_ns"]))
    return {k: sorted(v) for k, v in out.items()}


def _parse_size(text: str) -> int:
    for suffix, mult in (("GiB", GiB), ("MiB", MiB), ("KiB", 1024), ("B", 1)):
        if text.endswith(suffix):
            return int(text[: -len(suffix)]) * mult
    return int(text)


# ---------------------------------------------------------------------------
# Sections


def section_numeric(res: dict) -> str:  # noqa: C901 (one table after another)
    num = res.get("numeric")
    if not num:
        return ""
    s, workers = num["summary"], num["workers"]
    approaches = [a for a in NUMERIC_LABELS if any(f"{a}/{n}" in s for n in workers)]

    most = max((r["runs"] for r in s.values()), default=0)

    def cells(key, fmt, ratio_key=None):
        rows = []
        for a in approaches:
            row = [NUMERIC_LABELS[a]]
            for n in workers:
                r = s.get(f"{a}/{n}")
                if not r:
                    row.append("–")
                    continue
                text = fmt(r[key])
                if ratio_key and r.get(ratio_key) and a != "shmarray" and not a.startswith("baseline"):
                    text += f" ({ratio_text(r[ratio_key])})"
                if r["runs"] < most:
                    text += f" [{r['runs']} run{'s' if r['runs'] > 1 else ''}]"
                row.append(text)
            rows.append(row)
        return table(["approach"] + [f"N = {n}" for n in workers], rows)

    publish = []
    for a in approaches:
        ts = [s[f"{a}/{n}"]["publish_s"] for n in workers if f"{a}/{n}" in s and s[f"{a}/{n}"]["publish_s"]]
        if ts and a not in ("pickle", "fork") and not a.startswith("baseline"):
            publish.append(f"{NUMERIC_LABELS[a]} {time_text(sorted(ts)[len(ts) // 2])}")
    out = [f"## Numeric: a {size_text(num['bytes'])} float64 array read by N Python workers\n",
           f"Workers other than fork's are started with `{num['start_method']}`. In brackets: the ratio to "
           "shmarray at the same N (above 1: slower or bigger than shmarray). Medians of "
           f"{most} interleaved runs unless a cell says otherwise.\n",
           "**Hand-off: from the parent holding a private array to every worker holding the data** "
           "(workers already started and idle; the parent publishes the data its way — "
           + (", ".join(publish) or "–") + " — then sends each worker a handle, or for pickle the array; "
           "for fork the hand-off is the fork)\n",
           cells("handoff_s", time_text, "handoff_s_vs_shmarray"), "",
           "**Setup end to end: starting the workers (interpreter, imports) + hand-off**\n",
           cells("hold_s", time_text, "hold_s_vs_shmarray"), "",
           "**Until every worker has also summed every value once** (mapped approaches pay their page "
           "faults on this first pass)\n",
           cells("scanned_s", time_text, "scanned_s_vs_shmarray"), "",
           "**Total PSS of parent + workers, all alive, after every worker's first pass** "
           f"(data: {mib(num['bytes'])}; the *no data* rows are the per-process interpreter baseline)\n",
           cells("total_pss", mib, "total_pss_vs_shmarray"), ""]
    rows = []
    n1 = min(workers)
    for a in approaches:
        r = s.get(f"{a}/{n1}")
        if r and r.get("scan_ratio"):
            rows.append([NUMERIC_LABELS[a], gbs(num["bytes"] / r["scan_view_s"]),
                         gbs(num["bytes"] / r["scan_private_s"]), f"{r['scan_ratio']:.2f}",
                         pct(r.get("huge_view")), pct(r.get("huge_private"))])
    if rows:
        out += [f"**Scan throughput** (`arr.sum()` over the worker's array against a private copy, warm, "
                f"alternated, one worker)\n",
                table(["approach", "through the worker's array", "private copy", "ratio",
                       "huge pages: array", "huge pages: copy"], rows),
                "The last two columns: the share of each mapping's resident memory in huge pages "
                "(`AnonHugePages`, `ShmemPmdMapped`, `FilePmdMapped` in /proc/self/smaps). Huge pages "
                "mean fewer TLB misses; a tmpfs file gets them only if the kernel allows huge pages on "
                "shared memory (`transparent_hugepage/shmem_enabled`, or the mount's `huge=` option).\n"]
    if num.get("skipped"):
        groups: dict[str, list] = {}
        for x in num["skipped"]:
            kind = "time budget" if "budget" in x["why"] else x["why"]
            groups.setdefault(kind, []).append(x)
        for kind, xs in groups.items():
            runs = {}
            for x in xs:
                runs.setdefault(f"{x['approach']} N={x['workers']}", []).append(str(x["rep"] + 1))
            what = ("the numeric time budget (--numeric-budget, "
                    f"{res.get('config', {}).get('numeric_budget', '?')} s) was spent" if kind == "time budget" else kind)
            out.append(f"{len(xs)} runs skipped because {what}; the cells show the medians of the runs that did "
                       "run. Skipped (repetition numbers): " +
                       "; ".join(f"{k} ({', '.join(v)})" for k, v in runs.items()) + "\n")
    if num.get("failed"):
        out.append("Runs that failed: " + "; ".join(
            f"{x['approach']} N={x['workers']} repetition {x['rep'] + 1} (`{x['error'].strip().splitlines()[-1]}`)"
            for x in num["failed"]) + "\n")
    return "\n".join(out)


def section_objects(res: dict) -> str:
    ob = res.get("objects")
    if not ob:
        return ""
    s = ob["summary"]
    rows = []
    for a, label in OBJECT_LABELS.items():
        r = s.get(a)
        if not r:
            continue
        rows.append([label, mib(r["parent_pss_before"]), time_text(r["scanned_s"]), mib(r["total_pss"]),
                     mib(r["pss_over_baseline"]) if not a.startswith("baseline") else "–",
                     ratio_text(r["pss_vs_shmarray"]) if a not in ("shmarray", "baseline_fork") else ""])
    return "\n".join([
        f"## Objects: {ob['count']:,} Python ints read by {ob['workers']} fork workers\n",
        "A list of distinct ints inherited by fork: every worker that reads it writes each object's "
        "reference count, so the pages are copied per worker. The same values as an int64 array stay "
        f"one copy ({mib(ob['value_bytes'])}).\n",
        table(["approach", "parent PSS before fork", "until every worker summed it", "total PSS, all alive",
               "above baseline", "vs shmarray"], rows), ""]
        + [f"Failed: {x['approach']} repetition {x['rep'] + 1} (`{x['error'].strip().splitlines()[-1]}`)\n"
           for x in ob.get("failed", [])])


def section_attach(res: dict) -> str:
    by_size, by_count = attach_by_size(res), attach_by_count(res)
    if not by_size and not by_count:
        return ""
    langs = [lang for lang in ("Go", "C", "Python") if lang in by_size or lang in by_count]
    out = ["## Attach latency (attach + close)\n",
           "Go: `arena.Attach` (`go test -bench`, median of runs); C: `shmarray_attach` "
           "(bench/attach_bench.c); Python: `shmarray.attach` (the same C core, through `shmarray._native`). C and Python time the same "
           "segments in interleaved batches; Go creates its own of the same sizes.\n"]
    sizes = sorted({sz for pts in by_size.values() for sz, _ in pts})
    if sizes:
        rows = []
        for sz in sizes:
            row = [size_text(sz)]
            for lang in langs:
                t = dict(by_size.get(lang, [])).get(sz)
                row.append(time_text(t / 1e9) if t else "–")
            rows.append(row)
        out += ["**By segment size** (one array)\n", table(["size"] + langs, rows), ""]
    note = (res.get("attach") or {}).get("note")
    if note:
        out.append(f"Note: {note}\n")
    skipped = (res.get("go") or {}).get("skipped")
    if skipped:
        out.append(f"Go: {skipped}\n")
    counts = sorted({c for pts in by_count.values() for c, _ in pts})
    if counts:
        rows = []
        for c in counts:
            row = [f"{c:,}"]
            for lang in langs:
                t = dict(by_count.get(lang, [])).get(c)
                row.append(time_text(t / 1e9) if t else "–")
            rows.append(row)
        out += ["**By number of arrays** (each of 8 int64 values: attach checks every directory record)\n",
                table(["arrays"] + langs, rows), ""]
    return "\n".join(out)


def section_create(res: dict) -> str:
    groups = create_rows(res)
    if not groups:
        return ""
    rows = []
    for lang, cases in groups:
        for case, r in cases.items():
            m = r.get("memcpy")
            for how in ("shmarray", "shmarray-nocrc", "shmarray-huge", "memcpy", "memcpy-fresh", "tmpfs-fallocate"):
                if how in r:
                    rows.append([lang, case, how, gbs(r[how]), f"{r[how] / m:.0%}" if m else "–"])
    go_bytes = ((res.get("go") or {}).get("env") or {}).get("SHMARRAY_BENCH_CREATE_SIZE")
    py_bytes = (res.get("create") or {}).get("bytes")
    return "\n".join([
        "## Create throughput against memcpy\n",
        "`shmarray`: create, copy in, data checksum, publish (`-nocrc`: without the data checksum). "
        "`memcpy`: the same bytes copied into memory already touched (this machine's copy bandwidth). "
        "`memcpy-fresh`: copied into newly allocated memory, which pays the page faults a new segment pays "
        "(Go: plain 4 KiB pages; NumPy: transparent huge pages where the kernel gives them). "
        "`tmpfs-fallocate`: only reserving that many bytes in the segment directory (the kernel allocating "
        "and zeroing pages, no copy): a floor for any writer of a new segment there. `shmarray-huge`: "
        "create into a tmpfs mounted with huge pages (only when the run was given --huge-dir). "
        f"Sizes: Go {go_bytes or '–'}, Python {size_text(py_bytes) if py_bytes else '–'} "
        "(strings: the offsets and data of a utf8 array of 8–24-byte values).\n",
        table(["language", "array", "how", "throughput", "of memcpy"], rows, "lllrr"), ""])


def section_arrow(res: dict) -> str:
    ar = res.get("arrow")
    if not ar:
        return ""
    rows = []
    ref = next((r for r in ar["results"] if r["approach"] == "c_data"), None)
    for r in ar["results"]:
        rows.append([ARROW_LABELS.get(r["approach"], r["approach"]), time_text(r["handoff_s"]),
                     ratio_text(r["handoff_s"] / ref["handoff_s"]) if ref else "–", time_text(r["with_sum_s"])])
    return "\n".join([
        f"## Arrow hand-off: a {ar['rows']:,}-row table (price float64, qty int64, symbol utf8)\n",
        f"From nothing to a `pyarrow.Table` (segment {size_text(ar['segment_bytes'])}, IPC file "
        f"{size_text(ar['ipc_bytes'])}, both in the segment directory), then the same plus one "
        "`pyarrow.compute.sum` over every price. Ratios against the C Data export.\n",
        table(["approach", "hand-off", "vs C Data", "hand-off + sum(price)"], rows), ""])


def section_extra(res: dict) -> str:
    out = []
    for pkg, r in ((res.get("go_extra") or {}).items()):
        out.append(f"## Go benchmarks in `{pkg}`\n")
        if "error" in r:
            out.append(f"Failed:\n\n```\n{r['error']}\n```\n")
            continue
        rows = []
        for name, b in r["results"].items():
            metrics = ", ".join(f"{v:,.4g} {u}" for u, v in sorted(b["median"].items()))
            rows.append([f"`{name}`", metrics])
        out += [table(["benchmark", "median of runs"], rows, "ll"), ""]
    for name, r in ((res.get("hooks") or {}).items()):
        out.append(f"## {r.get('title') or name}\n")
        if r.get("markdown"):
            out.append(r["markdown"] + "\n")
        elif r.get("stdout"):
            out.append(f"```\n{r['stdout'].rstrip()}\n```\n")
        if r.get("error"):
            out.append(f"Failed: `{r['error']}`\n")
    return "\n".join(out)


def section_targets(res: dict) -> str:
    rows = []
    for t in targets(res) + [x for h in (res.get("hooks") or {}).values() for x in h.get("targets", [])]:
        verdict = {True: "**met**", False: "**missed**", None: "not measured"}[t.get("met")]
        rows.append([t["target"], t["measured"], verdict])
    return "\n".join(["## Targets\n", table(["target", "measured here", "verdict"], rows, "lll"), ""])


def machine_text(res: dict) -> str:
    m, c = res.get("meta", {}), res.get("config", {})
    lines = [
        f"- Machine: {m.get('cpu', '?')}, {m.get('cores', '?')} cores, {mib(m.get('mem_total'))} RAM, "
        f"{m.get('shm_dir', '/dev/shm')} {mib(m.get('shm_total'))} ({mib(m.get('shm_free'))} free at start), "
        f"mounted {m.get('shm_mount', '?')}"
        + (f"; huge-page directory {res.get('config', {}).get('huge_dir')}: {m.get('huge_mount')}"
           if m.get("huge_mount") else "") + "; "
        f"Linux {m.get('kernel', '?')}; transparent huge pages: {m.get('thp', '?')} (shmem: {m.get('thp_shmem', '?')})",
        f"- Software: Python {m.get('python', '?')}, NumPy {m.get('numpy', '?')}, pyarrow {m.get('pyarrow', '?')}, "
        f"{m.get('go', '?')}; shmarray commit {m.get('commit', '?')}",
        f"- Run: {m.get('date', '?')}, scale {c.get('scale')}, {c.get('reps')} repetitions, workers "
        f"{', '.join(map(str, c.get('workers', [])))}, start method {c.get('start_method')}; "
        f"took {time_text(m.get('runtime_s'))}",
        f"- Load average (1 min) at start {m.get('load_start') or 0:.1f}, at end {m.get('load_end') or 0:.1f} "
        "(the end includes this run's own workers)"
        + (" — **other work was running at the start: timings are noisy**"
           if (m.get('load_start') or 0) > 0.5 * (m.get('cores') or 1) else ""),
    ]
    timings = m.get("step_s") or {}
    if timings:
        lines.append("- Time per step: " + ", ".join(f"{k} {time_text(v)}" for k, v in timings.items()))
    errors = res.get("errors") or {}
    for k, v in errors.items():
        lines.append(f"- **{k} failed**: `{v.splitlines()[-1] if v else ''}`")
    return "\n".join(lines)


HOW = """## How to run

```
make bench                    # everything, default sizes (1 GiB numeric, 16M ints, segments up to 4 GiB)
make bench BENCH_SCALE=0.1    # every data size × 0.1: a quick check
```

Or directly: `PYTHONPATH=bindings/python .venv-bench/bin/python bench/run.py --help` (options: `--scale`,
`--reps`, `--workers 1,2,4,8`, `--start spawn|forkserver`, `--only numeric,objects,attach,go,create,arrow,extra,hooks`,
`--numeric-budget SECONDS` (default 240: repetitions after the first stop there), `--huge-dir DIR` (also run
shmarray with segments on a tmpfs mounted with `huge=`, e.g. `mount -t tmpfs -o huge=within_size,size=4G tmpfs DIR`);
each also as an environment variable `BENCH_SCALE`, `BENCH_REPS`, `BENCH_WORKERS`, `BENCH_START`, `BENCH_ONLY`,
`BENCH_NUMERIC_BUDGET`, `BENCH_HUGE_DIR`). `python bench/report.py` re-renders this page from `docs/benchmarks.json`.

How it measures: competitors run in the same invocation, interleaved (each repetition runs every
approach in turn, starting with a different one), and every figure is a median. Each numeric and
objects trial runs in a fresh parent interpreter that imports the same modules whatever the approach.
PSS (proportional set size, from `/proc/PID/smaps_rollup`) counts each physical page once across
processes, so the sum over parent and workers is the memory the approach really uses; it is read
while every worker is alive and has read all of its data once. Any `bench/*_bench.py` is run as
well, and any other Go package with `Benchmark` functions; their results appear below under their
own headings.
"""


def markdown(res: dict) -> str:
    parts = ["# shmarray benchmarks\n",
             "shmarray against what users do today to share data between processes: the same data, the "
             "same machine, the same invocation. Generated by `make bench` (bench/run.py); do not edit by hand.\n",
             machine_text(res), "", "![benchmarks](benchmarks.png)\n" if res.get("chart") else "",
             section_targets(res), section_numeric(res), section_objects(res), section_attach(res),
             section_create(res), section_arrow(res), section_extra(res), HOW]
    return "\n".join(p for p in parts if p is not None)


# ---------------------------------------------------------------------------
# Chart


def chart(res: dict, path: Path) -> str | None:
    """Write the PNG; returns None, or why it was not written."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (make bench installs it in .venv-bench)"
    fig, axes = plt.subplots(2, 4, figsize=(22, 9.5))
    fig.suptitle("shmarray against the usual ways to share data between processes "
                 f"(scale {res.get('config', {}).get('scale')}; medians)", fontsize=14)
    colors = {"shmarray": "#d62728", "pickle": "#7f7f7f", "fork": "#1f77b4", "shared_memory": "#2ca02c",
              "arrow_ipc": "#9467bd", "numpy_memmap": "#8c564b", "baseline_spawn": "#bbbbbb",
              "baseline_fork": "#dddddd", "shmarray_huge": "#ff7f0e"}
    num = res.get("numeric")
    ax1, ax2, ax3, ax4 = axes[0]
    ax5, ax6, ax7, ax8 = axes[1]
    if num:
        s, workers = num["summary"], num["workers"]
        for a in NUMERIC_LABELS:
            pts = [(n, s[f"{a}/{n}"]) for n in workers if f"{a}/{n}" in s]
            if not pts:
                continue
            style = dict(color=colors[a], marker="o", lw=3 if a == "shmarray" else 1.5,
                         ls="--" if a.startswith("baseline") else "-", label=NUMERIC_LABELS[a].strip("*"))
            if not a.startswith("baseline"):
                ax1.plot([n for n, _ in pts], [r["handoff_s"] for _, r in pts], **style)
            ax2.plot([n for n, _ in pts], [r["total_pss"] / GiB for _, r in pts], **style)
        ax1.set(title=f"Numeric {size_text(num['bytes'])}: hand-off until every worker holds it",
                xlabel="workers", ylabel="seconds (log)", yscale="log", xticks=workers)
        ax2.set(title="Numeric: total PSS, parent + workers", xlabel="workers", ylabel="GiB", xticks=workers)
        ax2.axhline(num["bytes"] / GiB, color="k", lw=0.8, ls=":")
        ax2.text(workers[0], num["bytes"] / GiB, " the data once", va="bottom", fontsize=8)
        ax1.legend(fontsize=7)
        ratios = [(NUMERIC_LABELS[a].strip("*"), s[f"{a}/{min(workers)}"].get("scan_ratio"))
                  for a in NUMERIC_LABELS if f"{a}/{min(workers)}" in s and s[f"{a}/{min(workers)}"].get("scan_ratio")]
        if ratios:
            ax8.barh([x for x, _ in ratios], [y for _, y in ratios],
                     color=[colors[a] for a in NUMERIC_LABELS if f"{a}/{min(workers)}" in s
                            and s[f"{a}/{min(workers)}"].get("scan_ratio")])
            ax8.axvline(0.95, color="k", ls=":", lw=1)
            ax8.set(title="Scan: worker's array / private copy", xlabel="ratio (target ≥ 0.95)")
            ax8.tick_params(axis="y", labelsize=8)
    ob = res.get("objects")
    if ob:
        s = ob["summary"]
        keys = [a for a in OBJECT_LABELS if a in s]
        ax3.bar(range(len(keys)), [s[a]["total_pss"] / GiB for a in keys],
                color=["#7f7f7f", "#1f77b4", "#d62728", "#dddddd"][:len(keys)])
        short = {"list_fork": "list of ints\n(fork)", "numpy_fork": "NumPy int64\n(fork)",
                 "shmarray": "shmarray\nint64", "baseline_fork": "no data\n(processes)"}
        ax3.set_xticks(range(len(keys)), [short[a] for a in keys], fontsize=8)
        ax3.set(title=f"Objects: {ob['count']:,} ints, {ob['workers']} fork workers: total PSS",
                ylabel="GiB")
    lang_colors = {"Go": "#1f77b4", "C": "#2ca02c", "Python": "#d62728"}
    for ax, data, xl, title, ylog in (
            (ax4, attach_by_size(res), "segment size (log)", "Attach latency by segment size", False),
            (ax5, attach_by_count(res), "arrays in the segment (log)", "Attach latency by number of arrays", True)):
        for lang, pts in data.items():
            ax.plot([x for x, _ in pts], [t / 1e3 for _, t in pts], marker="o", label=lang, color=lang_colors[lang])
        ax.set(title=title, xlabel=xl, ylabel="µs per attach + close" + (" (log)" if ylog else ""), xscale="log",
               yscale="log" if ylog else "linear")
        if not ylog and data:
            ax.set_ylim(0, 1.3 * max(t / 1e3 for pts in data.values() for _, t in pts))
            ticks = sorted({x for pts in data.values() for x, _ in pts})
            ax.set_xticks(ticks, [size_text(x).replace(" ", "\n") for x in ticks], fontsize=8)
            ax.minorticks_off()
        if data:
            ax.legend(fontsize=8)
    groups = create_rows(res)
    if groups:
        labels, values, cols = [], [], []
        for lang, cases in groups:
            for case, r in cases.items():
                for how in ("shmarray", "shmarray-huge", "tmpfs-fallocate", "memcpy-fresh", "memcpy"):
                    if how in r:
                        labels.append(f"{lang} {case}: {how}")
                        values.append(r[how] / 1e9)
                        cols.append({"shmarray": "#d62728", "memcpy": "#7f7f7f", "memcpy-fresh": "#bbbbbb",
                                     "tmpfs-fallocate": "#ff9896", "shmarray-huge": "#ff7f0e"}[how])
        ax6.barh(range(len(values)), values, color=cols)
        ax6.set_yticks(range(len(values)), labels, fontsize=7)
        ax6.invert_yaxis()
        ax6.set(title="Create throughput vs memcpy", xlabel="GB/s")
    ar = res.get("arrow")
    if ar:
        rs = ar["results"]
        bars = ax7.barh(range(len(rs)), [r["handoff_s"] * 1e3 for r in rs],
                        color=["#d62728", "#ff9896", "#2ca02c", "#9467bd", "#7f7f7f"][:len(rs)])
        ax7.bar_label(bars, [time_text(r["handoff_s"]) for r in rs], fontsize=8, padding=2)
        ax7.set_yticks(range(len(rs)), [ARROW_LABELS[r["approach"]].replace("`", "").replace(": ", ":\n")
                                        .replace(" + ", "\n+ ") for r in rs], fontsize=7)
        ax7.invert_yaxis()
        ax7.set(title=f"Arrow hand-off, {ar['rows']:,} rows", xlabel="ms (log)", xscale="log")
        ax7.set_xlim(right=max(r["handoff_s"] for r in rs) * 1e3 * 8)
    for ax in axes.flat:
        ax.grid(alpha=0.3)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return None


def console(res: dict) -> str:
    """The plain-text summary printed at the end of a run."""
    return "\n".join([section_targets(res), section_numeric(res), section_objects(res), section_attach(res),
                      section_create(res), section_arrow(res), section_extra(res)])


def write(res: dict, out_dir: Path) -> list[str]:
    """Write benchmarks.md and benchmarks.png in out_dir; returns messages."""
    out_dir.mkdir(parents=True, exist_ok=True)
    msgs = []
    why = chart(res, out_dir / "benchmarks.png")
    res["chart"] = why is None
    if why:
        msgs.append(f"chart not written: {why}")
    (out_dir / "benchmarks.md").write_text(markdown(res))
    return msgs


if __name__ == "__main__":
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "benchmarks.json"
    results = json.loads(src.read_text())
    for m in write(results, src.parent):
        print(m, file=sys.stderr)
    print(f"wrote {src.parent / 'benchmarks.md'}")
