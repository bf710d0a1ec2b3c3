"""The "With pandas / polars / DuckDB" sections of README.md and
bindings/python/README.md: every Python snippet in them runs as written."""

import re

import numpy as np
import pytest

from conftest import REPO, interop

for _name in ("pandas", "polars", "duckdb"):
    interop(_name)

SECTION = "## With pandas / polars / DuckDB"


def snippets(path):
    text = (REPO / path).read_text()
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    blocks = re.findall(r"```python\n(.*?)```", text[start:end if end > 0 else None], re.S)
    assert blocks, f"{path}: no Python snippet under {SECTION!r}"
    return blocks


@pytest.mark.skipif(tuple(int(x) for x in np.__version__.split(".")[:2]) < (2, 1),
                    reason=f"the snippets use np.from_dlpack of DLPack 1.0, NumPy >= 2.1 (this is {np.__version__})")
@pytest.mark.parametrize("path", ["README.md", "bindings/python/README.md"])
def test_snippets_run(path, shm_dir, monkeypatch):
    monkeypatch.setenv("SHMARRAY_DIR", shm_dir)
    for code in snippets(path):
        namespace = {}
        exec(compile(code, f"{path} ({SECTION})", "exec"), namespace)
        assert namespace["total"] == pytest.approx(101.5 * 10 + 100.25 * 30)
        assert namespace["price"].tolist() == [101.5, 99.0, 100.25]
        assert not namespace["price"].flags.writeable
