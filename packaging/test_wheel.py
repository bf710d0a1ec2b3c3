"""`make test-wheel` / `make test-wheels`: the built wheel, installed as a user
would, tested by the Python test suite.

For each interpreter: a fresh venv (build/wheel-test/pyX.Y) with the wheel,
NumPy, pyarrow and pytest installed by pip, then the suite of
bindings/python/tests run against the installed package, with no Go on PATH
and no PYTHONPATH, from a directory outside the source tree. The Go programs
the suite drives (the segment generator, the shmarray command) are built
beforehand and handed over as binaries ($SHMARRAY_TEST_BIN): what the wheel
is tested for is that nothing it holds needs Go. The suite includes the
fork, forkserver and spawn workers (tests/test_fork.py), the check that a
reader never loads libshmarray.so (tests/test_native.py) and the one that
every version agrees (tests/test_packaging.py); the one test of installing
from a source tree (test_pip_install_bundles_the_library) is left out, since
it builds with Go by design.

    python packaging/test_wheel.py WHEEL PYTHON [PYTHON ...]
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "bindings" / "python" / "tests"
BIN = ROOT / "build" / "test-bin"


def _path_without_go() -> str:
    """PATH without any directory that holds a go command."""
    return os.pathsep.join(d for d in os.environ.get("PATH", "").split(os.pathsep)
                           if d and not os.path.exists(os.path.join(d, "go")))


INTEROP = ["pandas", "polars", "duckdb", "nanoarrow"]


def _programs() -> None:
    """The Go programs the suite drives, built once, while Go is at hand."""
    BIN.mkdir(parents=True, exist_ok=True)
    for pkg, name in (("./bindings/python/tests/gen", "gen"), ("./cmd/shmarray", "shmarray"),
                      ("./bindings/python/tests/fillgo", "fillgo")):
        subprocess.run(["go", "build", "-o", str(BIN / name), pkg], cwd=ROOT, check=True)
    # The C worker of the shared-output tests, linked to the library built from this tree.
    build = ROOT / "build"
    subprocess.run([os.environ.get("CC", "gcc"), "-std=c99", "-O2", "-I", str(ROOT / "bindings" / "c"), "-o",
                    str(BIN / "fill"), str(ROOT / "bindings" / "c" / "examples" / "fill.c"), f"-L{build}",
                    "-lshmarray", f"-Wl,-rpath,{build}"], check=True)


def test(wheel: Path, python: str) -> bool:
    version = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    venv = ROOT / "build" / "wheel-test" / f"py{version}"
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    py = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SHMARRAY_LIB")}
    env.update(PATH=_path_without_go(), SHMARRAY_TEST_BIN=str(BIN))
    print(f"== Python {version}: {venv}", flush=True)
    subprocess.run([py, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(wheel),
                    "numpy", "pyarrow", "pytest", "pytest-timeout", "dask[distributed]"], env=env, check=True)
    # The Arrow consumers of tests/test_interop.py, as wheels only: an old
    # Python some of them no longer publish wheels for skips their tests,
    # naming the package (SHMARRAY_NO_WHEEL); the main test venv has them all.
    missing = [p for p in INTEROP if subprocess.run(
        [py, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--only-binary=:all:", p],
        env=env).returncode != 0]
    env["SHMARRAY_NO_WHEEL"] = ",".join(missing)
    if missing:
        print(f"== Python {version}: no wheel of {', '.join(missing)}: their tests skip", flush=True)
    with tempfile.TemporaryDirectory(prefix="shmarray-wheel-test-") as cwd:
        where = subprocess.run([py, "-c", "import shmarray; print(shmarray.__file__, shmarray.__version__)"],
                               cwd=cwd, env=env, capture_output=True, text=True, check=True).stdout.strip()
        print("installed:", where, flush=True)
        if str(venv) not in where:
            print(f"FAIL: Python {version} imported shmarray from outside its venv")
            return False
        # The suite's files are copied out, so that nothing of the source tree
        # is importable; the conformance vectors they read are found by path.
        tests = Path(cwd) / "tests"
        shutil.copytree(TESTS, tests, ignore=shutil.ignore_patterns("__pycache__", "gen", "fillgo"))
        env["SHMARRAY_REPO"] = str(ROOT)
        # A hung test fails (stacks dumped, the run ends) instead of stalling CI.
        r = subprocess.run([py, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", str(tests),
                            "--timeout", "600", "--timeout-method", "thread",
                            "--deselect", "tests/test_packaging.py::test_pip_install_bundles_the_library"],
                           cwd=cwd, env=env)
    print(f"== Python {version}: {'passed' if r.returncode == 0 else 'FAILED'}", flush=True)
    return r.returncode == 0


def main() -> None:
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    wheel = Path(sys.argv[1]).resolve()
    _programs()
    results = {p: test(wheel, p) for p in sys.argv[2:]}
    failed = [p for p, ok in results.items() if not ok]
    print(f"wheel {wheel.name}: {len(results) - len(failed)} of {len(results)} interpreters passed"
          + (f"; failed: {', '.join(failed)}" if failed else ""))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
