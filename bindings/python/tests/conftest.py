import doctest
import os
import uuid

import pytest


@pytest.fixture
def shm_dir(tmp_path):
    """A private segment directory per test (tmp_path is on a normal file
    system; segments work in any directory)."""
    return str(tmp_path)


@pytest.fixture
def seg_name():
    return f"t-{uuid.uuid4().hex[:12]}"


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
