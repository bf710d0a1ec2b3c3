"""`pip install bindings/python` gives a working package with the library
bundled: create (Go, through the bundled .so) and attach from the installed
copy, with no SHMARRAY_LIB and no source tree on the path."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent


def test_pip_install_bundles_the_library(tmp_path):
    target = tmp_path / "site"
    out = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                          "--disable-pip-version-check", "--target", str(target), str(PKG)],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert (target / "shmarray" / "libshmarray.so").is_file()
    assert (target / "shmarray" / "dask" / "__init__.py").is_file(), "the dask extra's module is installed"
    code = textwrap.dedent(f"""
        import numpy as np, shmarray, shmarray.dask
        assert shmarray.__file__.startswith({str(target)!r}), shmarray.__file__
        assert shmarray.dask.__file__.startswith({str(target)!r}), shmarray.dask.__file__
        seg = shmarray.create("pip-check", {{"x": np.arange(5)}}, dir={str(tmp_path)!r})
        print(int(seg["x"].sum()))
    """)
    env = {k: v for k, v in os.environ.items() if k not in ("SHMARRAY_LIB", "PYTHONPATH")}
    env["PYTHONPATH"] = str(target)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                         cwd=tmp_path)
    assert run.stdout.strip() == "10", run.stderr


def test_one_version_everywhere():
    """shmarray.__version__, the extension, libshmarray.so and the installed
    metadata all say what the file VERSION says (its one source)."""
    import importlib.metadata

    import shmarray
    from shmarray import _lib, _native
    from conftest import REPO
    want = (REPO / "VERSION").read_text().strip()
    assert shmarray.__version__ == _native.version == want
    assert _lib.lib().shmarray_version().decode() == want
    try:
        installed = importlib.metadata.version("shmarray")
    except importlib.metadata.PackageNotFoundError:
        installed = None  # run from the source tree (PYTHONPATH): no metadata
    assert installed in (None, want)
