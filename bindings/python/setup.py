"""Builds shmarray._native, the CPython extension over the plain-C reader
core. The core's sources are not copied into the package: a source checkout
compiles ../../capi/sa_*.c where they are (an sdist carries them under
capi/). Everything else about the package is in pyproject.toml."""

import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent

# The reading half of libshmarray.so: plain C, no Go (capi/doc.go).
CORE = ["sa_types.c", "sa_text.c", "sa_errors.c", "sa_crc32.c", "sa_decode.c", "sa_validate.c",
        "sa_attach.c", "sa_dir.c", "sa_proc.c", "sa_index.c", "sa_arrow.c", "sa_list.c"]

CFLAGS = ["-std=gnu99", "-O2", "-fvisibility=hidden", "-Wall", "-Wextra", "-Werror",
          "-Wno-missing-field-initializers", "-Wno-unused-parameter", "-Wno-cast-function-type"]


def core_dir() -> Path:
    for d in (HERE.parent.parent / "capi", HERE / "capi"):
        if (d / "sa_internal.h").is_file():
            return d
    sys.exit("shmarray: the C reader core (capi/sa_*.c) was not found next to this package; "
             "build from a source checkout of shmarray or from its sdist")


class BuildNative(build_ext):
    """Compiles the core where it lies (setuptools takes only sources inside
    the project as Extension sources) and links its objects in."""

    def build_extension(self, ext):
        capi = core_dir()
        ext.extra_objects = self.compiler.compile(
            [str(capi / f) for f in CORE], output_dir=str(Path(self.build_temp) / "core"),
            macros=ext.define_macros, include_dirs=[str(capi)], extra_postargs=CFLAGS,
            depends=[str(p) for p in capi.glob("*.h")])
        ext.include_dirs = [str(capi)] + list(ext.include_dirs)
        super().build_extension(ext)


setup(
    ext_modules=[Extension(
        "shmarray._native",
        sources=sorted(str(p.relative_to(HERE)) for p in (HERE / "native").glob("*.c")),
        depends=["native/native.h"],
        include_dirs=["native"],
        define_macros=[("Py_LIMITED_API", "0x03090000"), ("_GNU_SOURCE", None)],
        extra_compile_args=CFLAGS,
        py_limited_api=True,
    )],
    cmdclass={"build_ext": BuildNative},
    options={"bdist_wheel": {"py_limited_api": "cp39"}},
)
