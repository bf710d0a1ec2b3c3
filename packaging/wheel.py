"""`make wheel`: dist/shmarray-VERSION-cp39-abi3-manylinux_2_17_ARCH.whl.

Built from the sdist (so the sdist is exercised too), with zig's C compiler
(the PyPI package ziglang) targeting glibc 2.17, for both native parts:

* libshmarray.so: `go build -buildmode=c-shared` with CC=zig cc, stripped
  (-s -w), exporting only shmarray_* (capi/libshmarray.map);
* shmarray._native: the limited-API extension (one binary for CPython 3.9+).

Then `auditwheel show` must confirm the tag: that every symbol the two
libraries need from glibc is in manylinux_2_17, and that they need no other
library. Nothing in the wheel needs Go to install or to run.

    .venv-build/bin/python packaging/wheel.py [--arch x86_64|aarch64] [--out dist]

aarch64 is cross-built the same way (GOARCH=arm64, zig's aarch64 target).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GLIBC = "2.17"
ARCHES = {"x86_64": "amd64", "aarch64": "arm64"}


def zig_cc(tmp: Path, arch: str) -> Path:
    """An executable that runs zig cc for the target (cgo and setuptools
    want one program as CC)."""
    script = tmp / f"zigcc-{arch}"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m ziglang cc -target {arch}-linux-gnu.{GLIBC} "$@"\n')
    script.chmod(0o755)
    return script


def run(cmd, **kw):
    print("+", " ".join(map(str, cmd)), flush=True)
    return subprocess.run(cmd, check=True, **kw)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="x86_64", choices=sorted(ARCHES))
    ap.add_argument("--out", default=str(ROOT / "dist"))
    args = ap.parse_args()
    out = Path(args.out)
    version = (ROOT / "VERSION").read_text().strip()
    sdist = out / f"shmarray-{version}.tar.gz"
    if not sdist.is_file():  # `make wheel` makes it first, from the tree
        run([sys.executable, str(ROOT / "packaging" / "sdist.py"), "--out", str(out)])
    plat = f"manylinux_{GLIBC.replace('.', '_')}_{args.arch}"
    with tempfile.TemporaryDirectory(prefix="shmarray-wheel-") as t:
        tmp = Path(t)
        with tarfile.open(sdist) as tf:
            tf.extractall(tmp, filter="data") if hasattr(tarfile, "data_filter") else tf.extractall(tmp)
        src = tmp / f"shmarray-{version}"
        cc = zig_cc(tmp, args.arch)
        env = dict(os.environ, CC=str(cc), CGO_ENABLED="1", GOARCH=ARCHES[args.arch], GOOS="linux",
                   CGO_CFLAGS=f'-O2 -DSHMARRAY_VERSION="{version}"', ZIG_GLOBAL_CACHE_DIR=str(tmp / "zig-cache"))
        run(["go", "build", "-buildmode=c-shared", "-trimpath",
             f"-ldflags=-s -w '-extldflags=-s -Wl,--version-script={src / 'capi' / 'libshmarray.map'}'",
             "-o", str(src / "shmarray" / "libshmarray.so"), "./capi"], cwd=src, env=env)
        (src / "shmarray" / "libshmarray.h").unlink(missing_ok=True)
        # setuptools links with LDSHARED; -s strips the extension too. zig's
        # glibc headers define _POSIX_C_SOURCE before pyconfig.h does, which
        # clang reports as a redefinition (the values agree).
        env.update(LDSHARED=f"{cc} -shared -s", SHMARRAY_PLAT=plat, CFLAGS="-Wno-macro-redefined")
        run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(src)], env=env)
    wheel = out / f"shmarray-{version}-cp39-abi3-{plat}.whl"
    if not wheel.is_file():
        sys.exit(f"wheel: {wheel} was not written (see above)")
    show = subprocess.run([sys.executable, "-m", "auditwheel", "show", str(wheel)], capture_output=True, text=True)
    print(show.stdout.strip())
    if show.returncode or f'"{plat}"' not in show.stdout.replace("\n", " ").replace("  ", " "):
        sys.exit(f"wheel: auditwheel does not confirm the tag {plat}:\n{show.stdout}{show.stderr}")
    info = {"wheel": str(wheel), "tag": f"cp39-abi3-{plat}", "bytes": wheel.stat().st_size}
    print("wheel: " + json.dumps(info))


if __name__ == "__main__":
    main()
