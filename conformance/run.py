#!/usr/bin/env python3
"""The conformance suite's driver: `make conformance`.

Builds the runners, checks that the committed vectors are what the case
definitions give, has every reader read every vector and every writer write
every valid case (read back by every reader), compares each reader's
canonical dump with the one derived from the case's JSON, and prints two
matrices — readers × vectors, writers × readers — and a summary line
"N passed, N failed". Exits 1 on any red cell. See conformance/README.md.

    .venv/bin/python conformance/run.py [--ascii] [--verbose] [--keep DIR]

Environment: GO (default go), CC (default gcc), PYTHON for the Python
runners (default: this interpreter), SHMARRAY_LIB is honoured by the
runners. Needs build/libshmarray.so (make lib) and numpy + pyarrow.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONF = ROOT / "conformance"
VECTORS = CONF / "vectors" / "v1"
BUILD = ROOT / "build" / "conformance"
LIB = ROOT / "build" / "libshmarray.so"
TIMEOUT = 300  # seconds per runner process
JOBS = max(2, min(8, 2 * (os.cpu_count() or 1)))  # runner processes at once
CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-O2", "-D_POSIX_C_SOURCE=200809L",
          f"-I{ROOT / 'bindings' / 'c'}"]
LDFLAGS = [f"-L{ROOT / 'build'}", "-lshmarray", f"-Wl,-rpath,{ROOT / 'build'}"]


# ---------------------------------------------------------------------------
# Expected dumps from the JSON form (README.md, "Canonical dump")


def text(s: str) -> str:
    out = ["s:"]
    for c in s.encode("utf-8"):
        out.append(chr(c) if 0x21 <= c <= 0x7E and c != 0x25 else "%%%02X" % c)
    return "".join(out)


def _flat(v, depth):
    if depth == 0:
        return [v]
    return [x for e in v for x in _flat(e, depth - 1)]


def _scalar(t: str, v) -> str:
    if t == "bool":
        return "true" if v else "false"
    if t in ("utf8", "large_utf8"):
        return text(v)
    if t in ("binary", "large_binary", "fixed_size_binary"):
        return "b:" + base64.b64decode(v, validate=True).hex()
    return v  # integers (decimal) and floats (hex bits) are already tokens


def expected_dump(case: dict) -> list:
    md = case["metadata"]
    ident = case.get("identity") or {"id": "0" * 32, "version": "0"}
    out = [f"segment arrays={len(case['arrays'])} metadata={len(md)}",
           f"identity {ident['id']} {int(ident['version'])}"]
    out += [f"metadata {text(k)} {text(v)}" for k, v in md]
    for i, a in enumerate(case["arrays"]):
        t = a["type"]
        line = f"array {i} {text(a['name'])} type={t}"
        if t in ("timestamp", "duration"):
            line += f" unit={a['unit']}"
        if t == "timestamp":
            line += f" tz={text(a.get('timezone', ''))}"
        if t == "fixed_size_binary":
            line += f" width={a['byte_width']}"
        nulls = sum(v is None for v in a["values"])
        out.append(line + f" shape={','.join(map(str, a['shape']))} nulls={nulls} metadata={len(a['metadata'])}")
        out += [f"metadata {text(k)} {text(v)}" for k, v in a["metadata"]]
        depth = len(a["shape"]) - 1
        for slot, v in enumerate(a["values"]):
            if v is None:
                tok = "null"
            elif depth:
                tok = "[" + ",".join(_scalar(t, e) for e in _flat(v, depth)) + "]"
            else:
                tok = _scalar(t, v)
            out.append(f"v {slot} {tok}")
    return out


# A segment a writer published from a case is a first publish: version 1,
# a random non-zero id. Its expected dump and the dump read back both get
# this identity line (conformance/dump.go: WrittenIdentity).
WRITTEN_IDENTITY = "identity ? 1"
_WRITTEN = re.compile(r"identity (?!0{32} )[0-9a-f]{32} 1")


def written_expected(lines: list) -> list:
    return [lines[0], WRITTEN_IDENTITY] + lines[2:]


def written_got(lines: list) -> list:
    if len(lines) > 1 and _WRITTEN.fullmatch(lines[1]):
        return [lines[0], WRITTEN_IDENTITY] + lines[2:]
    return lines


def sort_metadata_runs(lines: list) -> list:
    """Sort each run of consecutive metadata lines: writers may store an
    owner's pairs in any order (the Go writer sorts segment metadata)."""
    out, run = [], []
    for line in lines + [None]:
        if line is not None and line.startswith("metadata "):
            run.append(line)
            continue
        out += sorted(run)
        run = []
        if line is not None:
            out.append(line)
    return out


# ---------------------------------------------------------------------------
# Running things


@dataclass
class Reader:
    name: str
    cmd: list
    validates: bool  # reads invalid vectors and must report their codes
    what: str


@dataclass
class Writer:
    name: str
    what: str


@dataclass
class Result:
    ok: bool
    na: bool = False
    detail: str = ""


@dataclass
class Tally:
    passed: int = 0
    failed: int = 0
    na: int = 0
    failures: list = field(default_factory=list)

    def add(self, r: Result, where: str) -> None:
        if r.na:
            self.na += 1
        elif r.ok:
            self.passed += 1
        else:
            self.failed += 1
            self.failures.append(f"{where}: {r.detail}")


TIMINGS: list = []


def run(cmd, env=None, timeout=TIMEOUT, cwd=ROOT) -> subprocess.CompletedProcess:
    t = time.monotonic()
    try:
        return subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=timeout, errors="replace")
    finally:
        TIMINGS.append((time.monotonic() - t, " ".join(str(c) for c in cmd)[:150]))


def env_with_pythonpath() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "bindings" / "python"), env.get("PYTHONPATH")]))
    return env


def parse_blocks(out: str) -> dict:
    """case NAME ... end blocks of a reader's output, by name."""
    blocks, cur, name = {}, None, None
    for line in out.splitlines():
        if cur is None:
            if line.startswith("case "):
                name, cur = line[5:], []
            continue
        if line == "end":
            blocks[name] = cur
            cur = None
        else:
            cur.append(line)
    return blocks


def read_all(reader: Reader, dir_: Path, names: list, env: dict) -> dict:
    """Each name's dump lines; a name the runner never finished (it crashed)
    is read again alone so the crash is pinned on it."""
    blocks, proc = {}, None
    try:
        proc = run(reader.cmd + [dir_] + names, env=env)
        blocks = parse_blocks(proc.stdout)
    except subprocess.TimeoutExpired:
        pass
    missing = [n for n in names if n not in blocks]
    if missing and len(names) > 1:
        for n in missing:
            blocks.update(read_all(reader, dir_, [n], env))
    elif missing:
        why = "timed out" if proc is None else f"exit status {proc.returncode}: {proc.stderr.strip()[-300:]}"
        blocks[names[0]] = [f"error CRASH runner {why}"]
    return blocks


def compare(expected: list, got: list) -> str:
    """'' when equal, else the first difference."""
    if got and got[0].startswith("error "):
        return got[0][:300]
    for i, (e, g) in enumerate(zip(expected, got)):
        if e != g:
            return f"line {i + 1}: expected {e[:140]!r}, got {g[:140]!r}"
    if len(expected) != len(got):
        return f"{len(got)} lines, expected {len(expected)}" + (
            f"; first extra: {got[len(expected)][:140]!r}" if len(got) > len(expected) else "")
    return ""


# ---------------------------------------------------------------------------
# Main


def build(go: str, cc: str) -> None:
    if not LIB.exists():
        sys.exit(f"conformance: {LIB} is missing: run `make lib` first")
    BUILD.mkdir(parents=True, exist_ok=True)
    steps = [
        [go, "build", "-o", BUILD / "go-runner", "./conformance/runners/go"],
        [go, "build", "-o", BUILD / "golden", "./conformance/cmd/golden"],
        [cc, *CFLAGS, "-o", BUILD / "c-runner", CONF / "runners" / "c" / "runner.c", *LDFLAGS],
        [cc, *CFLAGS, "-o", BUILD / "c-writer", CONF / "runners" / "c" / "writer.c", *LDFLAGS],
    ]
    for cmd in steps:
        p = run(cmd)
        if p.returncode:
            sys.exit(f"conformance: build failed: {' '.join(map(str, cmd))}\n{p.stdout}{p.stderr}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ascii", action="store_true", help="ASCII marks instead of ✓ ✗")
    ap.add_argument("--verbose", action="store_true", help="list every failure in full")
    ap.add_argument("--keep", metavar="DIR", help="write the writers' segments under DIR and keep them")
    ap.add_argument("--reader", action="append", default=[], metavar="NAME=COMMAND",
                    help="add a reader runner (README.md, 'Runners'): COMMAND DIR SEGMENT... prints dumps")
    ap.add_argument("--writer", action="append", default=[], metavar="NAME=COMMAND",
                    help="add a writer runner: COMMAND DIR CASE.json... writes segments <case> into DIR")
    args = ap.parse_args()
    enc = (sys.stdout.encoding or "ascii").lower()
    ascii_only = args.ascii or os.environ.get("CONFORMANCE_ASCII") or "utf" not in enc
    OK, BAD, NA, NONE = ("ok", "FAIL", "n/a", "-") if ascii_only else ("✓", "✗", "n/a", "—")

    t0 = time.monotonic()
    go, cc = os.environ.get("GO", "go"), os.environ.get("CC", "gcc")
    py = os.environ.get("PYTHON", sys.executable)
    build(go, cc)
    env = env_with_pythonpath()
    tally = Tally()

    golden = run([BUILD / "golden", "-check", "-dir", VECTORS])
    tally.add(Result(golden.returncode == 0, detail=(golden.stdout + golden.stderr).strip()[-800:]),
              "vectors vs definitions (make golden)")
    print(f"Vectors {VECTORS.relative_to(ROOT)} regenerate byte for byte from the definitions: "
          f"{OK if golden.returncode == 0 else BAD}")

    readers = [
        Reader("go", [BUILD / "go-runner", "read"], True, "format + arena (Go reference)"),
        Reader("c", [BUILD / "c-runner"], True, "libshmarray plain-C reader (shmarray.h)"),
        Reader("python", [py, CONF / "runners" / "python" / "reader.py", "numpy"], True,
               "shmarray (the C core through shmarray._native, NumPy views)"),
        Reader("pyarrow", [py, CONF / "runners" / "pyarrow" / "reader.py", "mmap"], False,
               "pyarrow from_buffers over the mapping, struct-decoded directory"),
        Reader("c-arrow", [py, CONF / "runners" / "pyarrow" / "reader.py", "cdata"], False,
               "libshmarray Arrow C Data export imported by pyarrow"),
        Reader("py-arrow", [py, CONF / "runners" / "python" / "reader.py", "arrow"], False,
               "shmarray.Segment.to_arrow, checked by pyarrow"),
    ]
    for spec in args.reader:
        name, _, cmd = spec.partition("=")
        readers.append(Reader(name, shlex.split(cmd), True, f"external: {cmd}"))
    valid = sorted(p.stem for p in (VECTORS / "valid").glob("*.json"))
    invalid = sorted(p.stem for p in (VECTORS / "invalid").glob("*.json"))
    cases = {n: json.loads((VECTORS / "valid" / f"{n}.json").read_text("utf-8")) for n in valid}
    expect = {n: expected_dump(c) for n, c in cases.items()}
    bad = {n: json.loads((VECTORS / "invalid" / f"{n}.json").read_text("utf-8")) for n in invalid}

    # Writers first (each into its own directory), concurrently; then every
    # reader over the vectors and over each writer's output, concurrently.
    writers = [Writer("go", "arena.Create + AddSlice/AddTensor/AddStrings/AddArray/AddField/AddBuffers"),
               Writer("c", "shmarray_create + shmarray_builder_add (C ABI)"),
               Writer("python", "shmarray.create with NumPy arrays and lists (pyarrow where NumPy cannot say it)"),
               Writer("py-arrow", "shmarray.create with pyarrow arrays, sliced (Arrow C Data import)")]
    external = {}
    for spec in args.writer:
        name, _, cmd = spec.partition("=")
        external[name] = shlex.split(cmd)
        writers.append(Writer(name, f"external: {cmd}"))
    # Writers reserve space with fallocate: a tmpfs (/dev/shm) makes that cheap.
    shm = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="shmarray-conformance-", dir=shm))
    work.mkdir(parents=True, exist_ok=True)
    json_paths = [VECTORS / "valid" / f"{n}.json" for n in valid]

    def write(w: Writer) -> dict:
        out = work / w.name
        if out.exists():
            shutil.rmtree(out)
        out.mkdir()
        if w.name in external:
            p = run(external[w.name] + [out, *json_paths], env=env)
        elif w.name == "go":
            p = run([BUILD / "go-runner", "write", out, *json_paths])
        elif w.name == "c":
            inputs = work / "c-inputs"
            inputs.mkdir(exist_ok=True)
            p = run([BUILD / "go-runner", "cinput", inputs, *json_paths])
            if p.returncode == 0:
                p = run([BUILD / "c-writer", out, *[inputs / f"{n}.txt" for n in valid]])
        else:
            mode = "numpy" if w.name == "python" else "arrow"
            p = run([py, CONF / "runners" / "python" / "writer.py", mode, out, *json_paths], env=env)
        status = {}
        for line in p.stdout.splitlines():
            parts = line.split(" ", 2)
            if len(parts) >= 2 and parts[0] in ("ok", "error", "n/a"):
                status[parts[1]] = (parts[0], parts[2] if len(parts) > 2 else "")
        for n in valid:
            status.setdefault(n, ("error", f"writer printed nothing (exit {p.returncode}: {p.stderr.strip()[-200:]})"))
        return status

    cells: dict = {}
    wcells: dict = {}
    try:
        with ThreadPoolExecutor(max_workers=JOBS) as pool:
            wstatus = dict(zip([w.name for w in writers], pool.map(write, writers)))
            jobs = {}
            for r in readers:
                jobs[(r.name, "valid")] = pool.submit(read_all, r, VECTORS / "valid", [f"{n}.shm" for n in valid], env)
                if r.validates:
                    jobs[(r.name, "invalid")] = pool.submit(read_all, r, VECTORS / "invalid",
                                                            [f"{n}.shm" for n in invalid], env)
                for w in writers:
                    written = [n for n in valid if wstatus[w.name][n][0] == "ok"]
                    if written:
                        jobs[(r.name, "writer", w.name)] = pool.submit(read_all, r, work / w.name, written, env)
            got = {k: f.result() for k, f in jobs.items()}
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    for r in readers:
        for n in valid:
            diff = compare(expect[n], got[(r.name, "valid")].get(f"{n}.shm", ["error MISSING no output"]))
            cells[(r.name, "valid", n)] = Result(not diff, detail=diff)
        if r.validates:
            for n in invalid:
                lines = got[(r.name, "invalid")].get(f"{n}.shm", ["error MISSING no output"])
                stage = "attach" if bad[n]["stage"] == "structural" else "validate"
                want = f"error {bad[n]['expect']} {stage}"
                ok = bool(lines) and (lines[0] + " ").startswith(want + " ")
                detail = "" if ok else f"expected {want!r}, got {(lines[0] if lines else 'nothing')[:200]!r}"
                cells[(r.name, "invalid", n)] = Result(ok, detail=detail)
        for w in writers:
            for n in valid:
                st, why = wstatus[w.name][n]
                if st == "n/a":
                    res = Result(True, na=True, detail=why)
                elif st != "ok":
                    res = Result(False, detail=f"writer: {why[:300]}")
                else:
                    lines = got[(r.name, "writer", w.name)].get(n, ["error MISSING no output"])
                    diff = compare(sort_metadata_runs(written_expected(expect[n])),
                                   sort_metadata_runs(written_got(lines)))
                    res = Result(not diff, detail=diff)
                wcells[(w.name, r.name, n)] = res

    # One message per error (spec §13): the built-in readers print the same
    # text for every invalid vector, prefix included.
    same = 0
    for n in invalid:
        texts = {r.name: (got[(r.name, "invalid")].get(f"{n}.shm") or [""])[0]
                 for r in readers if r.validates and r.name in ("go", "c", "python")}
        res = Result(len(set(texts.values())) == 1,
                     detail="; ".join(f"{k}: {v[:300]!r}" for k, v in texts.items()))
        same += res.ok
        tally.add(res, f"the message of invalid/{n}.shm differs between readers")

    # Print matrix 1.
    names = [r.name for r in readers]
    labels = {("valid", n): n for n in valid}
    labels.update({("invalid", n): f"{n} -> {bad[n]['expect']}" for n in invalid})
    width = max(len(v) for v in labels.values()) + 2
    print(f"\nReaders × vectors ({len(valid)} valid, {len(invalid)} invalid; "
          f"{NONE} = not given invalid vectors, by design)")
    for r in readers:
        print(f"  {r.name:9} {r.what}")
    header = " " * (width + 9) + "".join(f"{n:>10}" for n in names)
    for kind, lst in (("valid", valid), ("invalid", invalid)):
        print("\n" + header)
        for n in lst:
            row = f"{kind:8} {labels[(kind, n)]:{width}}"
            for r in readers:
                c = cells.get((r.name, kind, n))
                row += f"{NONE if c is None else (OK if c.ok else BAD):>10}"
                if c is not None:
                    tally.add(c, f"{r.name} reading {kind}/{n}.shm")
            print(row)

    print(f"\nMessages: go, c and python print the same text for {same} of {len(invalid)} invalid vectors")

    # Print matrix 2.
    print(f"\nWriters × readers (each cell: valid cases written by the writer and read back identically "
          f"by the reader, of {len(valid)})")
    for w in writers:
        print(f"  {w.name:9} {w.what}")
    print("\n" + " " * 12 + "".join(f"{n:>12}" for n in names))
    for w in writers:
        row = f"{w.name:12}"
        for r in readers:
            res = [wcells[(w.name, r.name, n)] for n in valid]
            good = sum(x.ok and not x.na for x in res)
            na = sum(x.na for x in res)
            mark = OK if all(x.ok for x in res) else BAD
            row += f"{f'{good}/{len(valid) - na} {mark}':>12}"
            for n, x in zip(valid, res):
                tally.add(x, f"{w.name} writer -> {r.name} reader, case {n}")
        print(row)
    nas = sorted({(w, n, x.detail) for (w, _r, n), x in wcells.items() if x.na})
    for w, n, why in nas:
        print(f"  {NA}: {w} writer, case {n}: {why}")

    if tally.failures:
        print("\nFailures:")
        shown = tally.failures if args.verbose else tally.failures[:60]
        for f in shown:
            print("  " + f)
        if len(shown) < len(tally.failures):
            print(f"  ... and {len(tally.failures) - len(shown)} more (--verbose)")
    if args.verbose:
        print("\nSlowest steps:")
        for secs, cmd in sorted(TIMINGS, reverse=True)[:10]:
            print(f"  {secs:6.2f} s  {cmd}")
    print(f"\n{tally.passed} passed, {tally.failed} failed"
          + (f", {tally.na} n/a" if tally.na else "") + f" ({time.monotonic() - t0:.1f} s)")
    return 1 if tally.failed else 0


if __name__ == "__main__":
    sys.exit(main())
