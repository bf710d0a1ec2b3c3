"""Go benchmarks: run `go test -bench` and parse its text output.

arena's BenchmarkAttach, BenchmarkAttachArrays and BenchmarkCreate get their
sizes through the environment (see arena/bench_test.go), so that Go measures
the same sizes as C and Python. Any other package with Benchmark functions
(cmd/shmarray's BenchmarkCSVImport, for one) is found and run too, and its
results reported as they come.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from common import MiB, ROOT, Config, log, median

LINE = re.compile(r"^(Benchmark\S+?)(?:-\d+)?\s+(\d+)\s+(.*)$")


def parse(text: str) -> dict[str, dict]:
    """{name: {"runs": [{"ns/op": ..., "MB/s": ..., ...}, ...]}} from `go test -bench` output."""
    out: dict[str, dict] = {}
    pkg = ""
    for line in text.splitlines():
        if line.startswith("pkg: "):
            pkg = line[5:].strip()
        m = LINE.match(line.strip())
        if not m:
            continue
        fields = m.group(3).split()
        metrics = {"iterations": int(m.group(2))}
        for value, unit in zip(fields[0::2], fields[1::2]):
            try:
                metrics[unit] = float(value)
            except ValueError:
                pass
        out.setdefault(m.group(1), {"package": pkg, "runs": []})["runs"].append(metrics)
    for r in out.values():
        units = {u for run in r["runs"] for u in run if u != "iterations"}
        r["median"] = {u: median([run.get(u) for run in r["runs"]]) for u in units}
    return out


def _go(cfg: Config, pattern: str, pkg: str, benchtime: str, env: dict, count: int | None = None) -> tuple[dict, str]:
    go = os.environ.get("GO", "go")
    cmd = [go, "test", "-run", "^$", "-bench", pattern, "-benchtime", benchtime,
           "-count", str(count or cfg.reps), "-timeout", "60m", pkg]
    log("go: " + " ".join(cmd))
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, **env})
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    skipped = [ln.strip() for ln in proc.stdout.splitlines() if "skipped:" in ln]
    for s in skipped:
        log("go: " + s)
    return parse(proc.stdout), "\n".join(skipped)


def _size(n: int) -> str:
    return f"{n >> 30}GiB" if n % (1 << 30) == 0 else f"{n >> 20}MiB" if n % (1 << 20) == 0 else str(n)


def run_arena(cfg: Config, attach_sizes: list[int], array_counts: list[int]) -> dict:
    env = {"SHMARRAY_DIR": cfg.dir,
           "SHMARRAY_BENCH_ATTACH_SIZES": ",".join(_size(s) for s in attach_sizes),
           "SHMARRAY_BENCH_ATTACH_ARRAYS": ",".join(str(n) for n in array_counts),
           "SHMARRAY_BENCH_CREATE_SIZE": _size(cfg.bytes(512 * MiB, align=MiB))}
    # One `go test` per repetition, each running every size once: the sizes
    # are interleaved, as in the C and Python measurements (-count N would
    # run each size N times in a row).
    attach, create, skipped = {}, {}, ""
    for _ in range(cfg.reps):
        for into, pattern, benchtime in ((attach, "^BenchmarkAttach", "0.3s"), (create, "^BenchmarkCreate$", "3x")):
            res, skip = _go(cfg, pattern, "./arena/", benchtime, env, count=1)
            skipped = skipped or skip
            for name, r in res.items():
                into.setdefault(name, {"package": r["package"], "runs": []})["runs"] += r["runs"]
    for r in list(attach.values()) + list(create.values()):
        units = {u for run in r["runs"] for u in run if u != "iterations"}
        r["median"] = {u: median([run.get(u) for run in r["runs"]]) for u in units}
    return {"env": env, "attach": attach, "create": create, "skipped": skipped}


def extra_packages() -> list[str]:
    """Go packages other than arena/ whose tests define Benchmark functions."""
    pkgs = set()
    for p in ROOT.rglob("*_test.go"):
        rel = p.relative_to(ROOT)
        if rel.parts[0].startswith(".") or rel.parts[0] in ("arena", "build", "bench"):
            continue
        if re.search(r"^func Benchmark\w*\(b \*testing\.B\)", p.read_text(errors="replace"), re.M):
            pkgs.add("./" + str(rel.parent))
    return sorted(pkgs)


def run_extra(cfg: Config) -> dict:
    out = {}
    for pkg in extra_packages():
        try:
            env = {"SHMARRAY_DIR": cfg.dir, "SHMARRAY_BENCH_DIR": cfg.dir, "BENCH_SCALE": str(cfg.scale)}
            res, _ = _go(cfg, ".", pkg, "1x" if cfg.scale < 1 else "3x", env)
            out[pkg] = {"results": res}
        except RuntimeError as e:
            log(f"go: {pkg}: {e}")
            out[pkg] = {"error": str(e)[-2000:]}
    return out


if __name__ == "__main__":
    import sys
    print(parse(Path(sys.argv[1]).read_text()))
