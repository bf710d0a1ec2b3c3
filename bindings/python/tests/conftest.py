import doctest
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

# The source tree: where the tests are, or $SHMARRAY_REPO when they run from
# a copy (packaging/test_wheel.py tests an installed wheel that way).
REPO = Path(os.environ.get("SHMARRAY_REPO") or Path(__file__).resolve().parents[3])


@pytest.fixture
def shm_dir(tmp_path):
    """A private segment directory per test (tmp_path is on a normal file
    system; segments work in any directory)."""
    return str(tmp_path)


@pytest.fixture
def seg_name():
    return f"t-{uuid.uuid4().hex[:12]}"


def go_program(tmp_path_factory, package: str, name: str) -> str:
    """A Go program of this repository: the prebuilt binary in
    $SHMARRAY_TEST_BIN (how the wheel tests run, with no Go on PATH), else
    built now with Go. Fails, rather than skips, when neither is there."""
    prebuilt = os.environ.get("SHMARRAY_TEST_BIN")
    if prebuilt:
        path = os.path.join(prebuilt, name)
        assert os.access(path, os.X_OK), f"{path} is missing ($SHMARRAY_TEST_BIN)"
        return path
    assert shutil.which("go"), f"Go is needed to build {package}, or set SHMARRAY_TEST_BIN"
    out = tmp_path_factory.mktemp(name) / name
    subprocess.run(["go", "build", "-o", str(out), package], cwd=REPO, check=True)
    return str(out)


def interop(name: str):
    """Import an Arrow consumer of the interop tests (pandas, polars, duckdb,
    nanoarrow). The test venv has them all, so a missing one fails; only
    packaging/test_wheel.py, on a Python it found no wheel of the package
    for, lists it in $SHMARRAY_NO_WHEEL, and then its tests skip."""
    import importlib
    import sys
    if name in os.environ.get("SHMARRAY_NO_WHEEL", "").split(","):
        pytest.skip(f"{name} has no wheel for Python {sys.version_info[0]}.{sys.version_info[1]} "
                    "(packaging/test_wheel.py)", allow_module_level=True)
    return importlib.import_module(name)


def pytest_configure(config):
    os.environ.setdefault("SHMARRAY_DIR", "/dev/shm")


@pytest.fixture
def run_doctests():
    """Runs the examples in a module's docstrings; fails on any failure, or
    if there are none."""
    def run(module):
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        for test in doctest.DocTestFinder().find(module):
            runner.run(test)
        result = runner.summarize(verbose=False)
        assert result.failed == 0 and result.attempted > 0
    return run
