"""The CPython interpreters of this machine that the wheel is tested with:
one per minor version from 3.9 to 3.13, from pyenv (`pyenv root`) or PATH.

    python packaging/pythons.py            every one found, a path per line
    python packaging/pythons.py --other    one, of another version than this
                                           interpreter's (3.12 first), else this
                                           one
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys

MINORS = [12, 13, 10, 9, 11]  # the order --other prefers


def found() -> dict[int, str]:
    out: dict[int, str] = {}
    root = None
    if shutil.which("pyenv"):
        root = subprocess.run(["pyenv", "root"], capture_output=True, text=True).stdout.strip() or None
    root = root or os.path.expanduser("~/.pyenv")
    for m in MINORS:
        for path in sorted(glob.glob(os.path.join(root, "versions", f"3.{m}.*", "bin", f"python3.{m}")), reverse=True):
            if os.access(path, os.X_OK):
                out[m] = path
                break
        else:
            path = shutil.which(f"python3.{m}")
            if path:
                out[m] = path
    return out


def main() -> None:
    pys = found()
    if "--other" in sys.argv:
        mine = sys.version_info[1]
        other = [pys[m] for m in MINORS if m in pys and m != mine]
        if not other:  # a machine with one Python: the wheel is still tested, in a fresh venv of this one
            print(f"pythons: no CPython 3.9-3.13 other than {sys.version.split()[0]} found; testing the wheel "
                  "with this one (pyenv install 3.12, or put python3.12 on PATH, to test another)", file=sys.stderr)
            other = [getattr(sys, "_base_executable", None) or sys.executable]
        print(other[0])
        return
    for m in sorted(pys):
        print(pys[m])


if __name__ == "__main__":
    main()
