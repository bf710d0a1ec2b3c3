"""`make bench`: shmarray against what users do today, side by side.

Runs every workload (numeric, objects, attach, Go benchmarks, create, Arrow
hand-off, then any extra Go benchmarks and bench/*_bench.py hooks), saves the
raw results in docs/benchmarks.json after each step, writes
docs/benchmarks.md and docs/benchmarks.png, and prints the tables.

    PYTHONPATH=bindings/python .venv-bench/bin/python bench/run.py [--scale 0.1] [--only numeric,attach]

Hooks: any bench/*_bench.py is run with the same interpreter and these
environment variables: BENCH_SCALE, BENCH_REPS, SHMARRAY_DIR, and BENCH_JSON,
a path where it may write {"title": str, "markdown": str, "targets":
[{"target": str, "measured": str, "met": bool | null}]}. Without that file
its standard output is shown in the report as it is.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import BENCH, BUILD, ROOT, Config, free_bytes, log  # noqa: E402

STEPS = ["numeric", "objects", "attach", "go", "create", "arrow", "extra", "hooks"]


def options() -> argparse.Namespace:
    env = os.environ.get
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=float(env("BENCH_SCALE") or 1),
                    help="multiply every data size (default 1: 1 GiB numeric, 16M ints, segments up to 4 GiB)")
    ap.add_argument("--reps", type=int, default=int(env("BENCH_REPS") or 3),
                    help="interleaved repetitions per measurement; the median is reported (default 3)")
    ap.add_argument("--workers", default=env("BENCH_WORKERS") or "1,2,4,8",
                    help="worker counts of the numeric workload (default 1,2,4,8)")
    ap.add_argument("--start", default=env("BENCH_START") or "spawn", choices=["spawn", "forkserver"],
                    help="start method of the non-fork workers (default spawn)")
    ap.add_argument("--numeric-budget", type=float, default=float(env("BENCH_NUMERIC_BUDGET") or 240),
                    help="seconds for the numeric workload: repetitions after the first stop there (default 240)")
    ap.add_argument("--huge-dir", default=env("BENCH_HUGE_DIR") or "",
                    help="also run shmarray with segments in this directory, a tmpfs mounted with huge= "
                         "(e.g. mount -t tmpfs -o huge=within_size,size=4G tmpfs DIR)")
    ap.add_argument("--dir", default=env("SHMARRAY_DIR") or "/dev/shm", help="segment directory")
    ap.add_argument("--only", default=env("BENCH_ONLY") or ",".join(STEPS),
                    help=f"comma-separated steps to run, of {','.join(STEPS)}")
    ap.add_argument("--out", default=str(ROOT / "docs"), help="where benchmarks.{md,png,json} go")
    return ap.parse_args()


def _cmd(*args: str) -> str:
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=60).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def meta(cfg: Config) -> dict:
    import numpy
    try:
        import pyarrow
        pa_version = pyarrow.__version__
    except ImportError:
        pa_version = "not installed"
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = {ln.split(":")[0]: int(ln.split()[1]) * 1024 for ln in Path("/proc/meminfo").read_text().splitlines()}
    st = os.statvfs(cfg.dir)

    def thp(name):
        try:
            text = Path(f"/sys/kernel/mm/transparent_hugepage/{name}").read_text()
            return text[text.index("[") + 1:text.index("]")]
        except (OSError, ValueError):
            return "?"

    def mount_of(path):
        best = ("?", "?")
        for line in Path("/proc/mounts").read_text().splitlines():
            f = line.split()
            if len(f) > 3 and (path == f[1] or path.startswith(f[1].rstrip("/") + "/")) and len(f[1]) >= len(best[0]):
                best = (f[1], f[3])
        return f"{best[0]} ({best[1]})"

    dirty = _cmd("git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no")
    return {
        "cpu": cpu, "cores": os.cpu_count(), "mem_total": mem.get("MemTotal"),
        "shm_dir": cfg.dir, "shm_mount": mount_of(os.path.realpath(cfg.dir)),
        "huge_mount": mount_of(os.path.realpath(cfg.huge_dir)) if cfg.huge_dir else None, "shm_total": st.f_blocks * st.f_frsize, "shm_free": free_bytes(cfg.dir),
        "kernel": platform.release(), "thp": thp("enabled"), "thp_shmem": thp("shmem_enabled"),
        "python": platform.python_version(), "numpy": numpy.__version__, "pyarrow": pa_version,
        "go": _cmd(os.environ.get("GO", "go"), "version").replace("go version ", ""),
        "commit": _cmd("git", "-C", str(ROOT), "rev-parse", "--short", "HEAD") + (" (modified)" if dirty else ""),
        "date": time.strftime("%Y-%m-%d %H:%M %Z"), "load_start": os.getloadavg()[0],
    }


def build_attach_bench() -> None:
    """Compile bench/attach_bench.c as the Makefile compiles C (if stale)."""
    src, exe, lib = BENCH / "attach_bench.c", BUILD / "attach_bench", BUILD / "libshmarray.so"
    if exe.exists() and exe.stat().st_mtime >= max(src.stat().st_mtime, lib.stat().st_mtime):
        return
    cmd = [os.environ.get("CC", "gcc"), "-std=c99", "-Wall", "-Wextra", "-Werror", "-O2",
           "-D_POSIX_C_SOURCE=200809L", f"-I{ROOT / 'bindings' / 'c'}", "-o", str(exe), str(src),
           f"-L{BUILD}", "-lshmarray", f"-Wl,-rpath,{BUILD}"]
    log(" ".join(cmd))
    subprocess.run(cmd, check=True)


def run_hooks(cfg: Config) -> dict:
    out = {}
    for script in sorted(BENCH.glob("*_bench.py")):
        with tempfile.TemporaryDirectory() as tmp:
            js = Path(tmp) / "result.json"
            env = {**os.environ, "BENCH_SCALE": str(cfg.scale), "BENCH_REPS": str(cfg.reps),
                   "SHMARRAY_DIR": cfg.dir, "BENCH_JSON": str(js),
                   "PYTHONPATH": os.pathsep.join([str(ROOT / "bindings" / "python"), str(BENCH)])}
            log(f"hook: {script.name}")
            t = time.perf_counter()
            try:
                proc = subprocess.run([cfg.python, str(script)], cwd=ROOT, env=env, capture_output=True,
                                      text=True, timeout=900)
                r = {"stdout": proc.stdout[-20000:], "seconds": time.perf_counter() - t}
                if proc.returncode != 0:
                    r["error"] = f"exit {proc.returncode}: {proc.stderr.strip()[-500:]}"
                if js.exists():
                    r.update(json.loads(js.read_text()))
            except subprocess.TimeoutExpired:
                r = {"error": "timed out after 900 s"}
            out[script.stem] = r
    return out


def main() -> int:
    args = options()
    cfg = Config(scale=args.scale, reps=max(args.reps, 1), start_method=args.start, dir=args.dir,
                 workers=tuple(int(x) for x in args.workers.split(",")), python=sys.executable,
                 numeric_budget=args.numeric_budget, huge_dir=args.huge_dir)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(only) - set(STEPS)
    if unknown:
        raise SystemExit(f"bench: unknown step(s) {sorted(unknown)}; choose from {STEPS}")
    if not (BUILD / "libshmarray.so").exists():
        raise SystemExit("bench: build/libshmarray.so is missing: run `make lib` first (make bench does)")
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    # Every process of this run loads a private copy of the library: rebuilding
    # build/libshmarray.so meanwhile (`make lib` copies it over the bundled one
    # in place) would otherwise pull relocated pages from under running
    # processes and crash them.
    snapshot = Path(tempfile.mkdtemp(prefix="shmarray-bench-"))
    shutil.copy2(BUILD / "libshmarray.so", snapshot / "libshmarray.so")
    os.environ["SHMARRAY_LIB"] = str(snapshot / "libshmarray.so")
    res = {"config": cfg.to_json(), "meta": meta(cfg), "errors": {}}
    res["meta"]["step_s"] = {}
    log(f"bench: scale {cfg.scale}, {cfg.reps} repetitions, workers {cfg.workers}, steps {only}")
    t_all = time.perf_counter()

    import arrow_handoff
    import attach
    import create
    import gobench
    import numeric
    import objects
    import report

    sizes, _ = attach.sizes_for(cfg)
    steps = {
        "numeric": lambda: numeric.run(cfg),
        "objects": lambda: objects.run(cfg),
        "attach": lambda: (build_attach_bench(), attach.run(cfg))[1],
        "go": lambda: gobench.run_arena(cfg, sizes, attach.ARRAY_COUNTS),
        "create": lambda: create.run(cfg),
        "arrow": lambda: arrow_handoff.run(cfg),
        "extra": lambda: gobench.run_extra(cfg),
        "hooks": lambda: run_hooks(cfg),
    }
    keys = {"extra": "go_extra"}
    for step in STEPS:
        if step not in only:
            continue
        log(f"bench: --- {step} ---")
        t = time.perf_counter()
        try:
            res[keys.get(step, step)] = steps[step]()
        except Exception:  # noqa: BLE001 (report the failure, run the other steps)
            res["errors"][step] = traceback.format_exc()
            log(f"bench: {step} failed:\n{res['errors'][step]}")
        res["meta"]["step_s"][step] = time.perf_counter() - t
        res["meta"]["runtime_s"] = time.perf_counter() - t_all
        (out_dir / "benchmarks.json").write_text(json.dumps(res, indent=1))
    shutil.rmtree(snapshot, ignore_errors=True)
    res["meta"]["runtime_s"] = time.perf_counter() - t_all
    res["meta"]["load_end"] = os.getloadavg()[0]
    for m in report.write(res, out_dir):
        log(f"bench: {m}")
    (out_dir / "benchmarks.json").write_text(json.dumps(res, indent=1))
    print(report.console(res))
    print(f"bench: wrote {out_dir / 'benchmarks.md'}, benchmarks.png and benchmarks.json "
          f"in {res['meta']['runtime_s']:.0f} s")
    return 1 if res["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
