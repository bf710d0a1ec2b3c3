"""Builds the two native parts of the shmarray package; everything else is in
pyproject.toml.

* shmarray._native, the CPython extension over the plain-C reader core. The
  core's sources are not copied into the package: a source checkout compiles
  ../../capi/sa_*.c where they lie, an sdist carries the same files under
  capi/.
* shmarray/libshmarray.so, the Go library the writing half calls through
  ctypes. `make lib` and `make wheel` put it into the package first; a build
  from source without it runs `go build`, so Go is needed then (and only
  then: the wheel holds the library, and nothing installed needs Go).

The version is the file VERSION of the source tree (the one source of it:
the Go module, libshmarray.so and this package all read it).

Environment: CC and LDSHARED choose the compiler as setuptools does (`make
wheel` gives zig's, for a low glibc floor); SHMARRAY_PLAT sets the wheel's
platform tag (`make wheel`: manylinux_2_17_<arch>).
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
LIB = HERE / "shmarray" / "libshmarray.so"

# The reading half of libshmarray.so: plain C, no Go (capi/doc.go).
CORE = ["sa_types.c", "sa_text.c", "sa_errors.c", "sa_crc32.c", "sa_decode.c", "sa_validate.c",
        "sa_path.c", "sa_attach.c", "sa_access.c", "sa_dir.c", "sa_proc.c", "sa_index.c", "sa_arrow.c", "sa_list.c",
        "sa_output.c"]

# Warnings are errors in the repository's own builds (`make native` adds
# -Werror through CFLAGS), not on a user's compiler. -O2 is given here, not
# left to Python's configuration: setuptools drops that configuration's
# flags (and its -O3) when CFLAGS is set in the environment.
CFLAGS = ["-O2", "-std=gnu99", "-fvisibility=hidden", "-Wall", "-Wextra",
          "-Wno-missing-field-initializers", "-Wno-unused-parameter", "-Wno-cast-function-type"]


def source_root() -> Path:
    """The directory holding VERSION, go.mod and capi/: the checkout's root,
    or this directory in an sdist."""
    for d in (HERE.parent.parent, HERE):
        if (d / "VERSION").is_file() and (d / "capi" / "sa_internal.h").is_file():
            return d
    sys.exit("shmarray: VERSION and the C reader core (capi/) were not found next to this package; "
             "build from a source checkout of shmarray or from its sdist")


ROOT = source_root()
VERSION = (ROOT / "VERSION").read_text().strip()


def check_go() -> None:
    """Fail at once, before anything is compiled, when the library must be
    built and cannot be."""
    if LIB.is_file() or shutil.which("go"):
        return
    sys.exit(
        "shmarray: building from source needs Go (1.26 or later, https://go.dev/dl/) to compile "
        "libshmarray.so, which writing segments uses; it was not found on PATH. Install the wheel "
        f"instead, which needs no Go: pip install shmarray=={VERSION} (Linux x86_64 and aarch64), "
        "or `make wheel` in a checkout that has Go.")


class BuildNative(build_ext):
    """Compiles the core where it lies (setuptools takes only sources inside
    the project as Extension sources) and links its objects in."""

    def build_extension(self, ext):
        capi = ROOT / "capi"
        ext.extra_objects = self.compiler.compile(
            [str(capi / f) for f in CORE], output_dir=str(Path(self.build_temp) / "core"),
            macros=ext.define_macros, include_dirs=[str(capi)], extra_postargs=CFLAGS,
            depends=[str(p) for p in capi.glob("*.h")])
        ext.include_dirs = [str(capi)] + list(ext.include_dirs)
        # The core's files count for "up to date" too: else a change to
        # capi/sa_*.c alone leaves the extension linked from the old objects.
        ext.depends = list(ext.depends) + [str(capi / f) for f in CORE] + [str(p) for p in capi.glob("*.h")]
        super().build_extension(ext)


class BuildPy(build_py):
    """Copies the package, and builds libshmarray.so with Go into it when the
    source tree does not hold one."""

    def run(self):
        check_go()
        super().run()
        out = Path(self.build_lib) / "shmarray" / "libshmarray.so"
        if LIB.is_file() or out.is_file():
            return
        env = dict(os.environ, CGO_ENABLED="1", CGO_CFLAGS=f'-O2 -DSHMARRAY_VERSION="{VERSION}"')
        cmd = ["go", "build", "-buildmode=c-shared", "-trimpath",
               f"-ldflags=-s -w -extldflags=-Wl,--version-script={ROOT / 'capi' / 'libshmarray.map'}",
               "-o", str(out), "./capi"]
        print("shmarray: building libshmarray.so:", " ".join(cmd), flush=True)
        subprocess.run(cmd, cwd=ROOT, env=env, check=True)
        header = out.with_suffix(".h")  # cgo's header: bindings/c/shmarray.h is the ABI
        if header.exists():
            header.unlink()


plat = os.environ.get("SHMARRAY_PLAT")
setup(
    version=VERSION,
    ext_modules=[Extension(
        "shmarray._native",
        sources=sorted(str(p.relative_to(HERE)) for p in (HERE / "native").glob("*.c")),
        depends=["native/native.h", "native/dlpack.h"],
        include_dirs=["native"],
        define_macros=[("Py_LIMITED_API", "0x03090000"),
                       ("SHMARRAY_VERSION", f'"{VERSION}"')],
        extra_compile_args=CFLAGS,
        py_limited_api=True,
    )],
    cmdclass={"build_ext": BuildNative, "build_py": BuildPy},
    options={"bdist_wheel": {"py_limited_api": "cp39", **({"plat_name": plat} if plat else {})}},
)
