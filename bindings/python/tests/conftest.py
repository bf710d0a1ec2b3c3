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
