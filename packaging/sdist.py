"""`make sdist`: dist/shmarray-VERSION.tar.gz, the Python package with
everything needed to build it from source.

Laid out as bindings/python (pyproject.toml, setup.py, README.md, shmarray/,
native/) plus, at its root, what setup.py builds from: VERSION, the C reader
core and the Go library (capi/, format/, arena/, go.mod, go.sum). Installing
it runs setup.py: the extension is compiled with the C compiler, and
libshmarray.so with Go; without Go it fails at once, saying so and pointing
at the wheel (setup.py, check_go).

    .venv-build/bin/python packaging/sdist.py [--out dist]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = ROOT / "bindings" / "python"


def _go_files(d: Path):
    """The Go package in d without its tests (the library's build needs no test)."""
    return [p for p in d.glob("*.go") if not p.name.endswith("_test.go")]


def stage(dest: Path) -> None:
    """Copies what the sdist holds into dest (the files, not links: an sdist
    is unpacked anywhere)."""
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(PY / name, dest / name)
    # The package's Python files (subpackages included), not what a build
    # put beside them (the extension, the library).
    shutil.copytree(PY / "shmarray", dest / "shmarray",
                    ignore=lambda d, names: [n for n in names if n == "__pycache__" or n.endswith(".so")
                                             or n.startswith(".")])
    shutil.copytree(PY / "native", dest / "native", ignore=shutil.ignore_patterns("*.o", "__pycache__"))
    for name in ("VERSION", "go.mod", "go.sum", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, dest / name)
    capi = dest / "capi"
    capi.mkdir()
    for p in (ROOT / "capi").iterdir():
        if p.is_file() and (p.suffix in (".c", ".h", ".map") or p in _go_files(ROOT / "capi")):
            shutil.copyfile(p.resolve(), capi / p.name)  # shmarray.h is a link in the checkout
    for pkg in ("format", "arena"):
        (dest / pkg).mkdir()
        for p in _go_files(ROOT / pkg):
            shutil.copy2(p, dest / pkg / p.name)
    (dest / "MANIFEST.in").write_text(
        "include VERSION go.mod go.sum\n"
        "graft native\ngraft capi\ngraft format\ngraft arena\n"
        "global-exclude *.o *.so __pycache__\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "dist"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="shmarray-sdist-") as tmp:
        dest = Path(tmp) / "src"
        dest.mkdir()
        stage(dest)
        # The library comes from Go at install time: none may ride along.
        subprocess.run([sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", str(out),
                        str(dest)], check=True)
    version = (ROOT / "VERSION").read_text().strip()
    path = out / f"shmarray-{version}.tar.gz"
    print(f"sdist: {path} ({path.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
