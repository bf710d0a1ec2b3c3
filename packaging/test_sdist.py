"""`make test-sdist`: the sdist, installed by pip as a user without the wheel
would. With Go on PATH it builds everything (the extension and
libshmarray.so) and the package creates and reads a segment; without Go it
fails at once, with a message that says Go is needed and where the wheel is,
and no traceback.

    python packaging/test_sdist.py SDIST
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHECK = """
import numpy as np, shmarray, tempfile
d = tempfile.mkdtemp()
seg = shmarray.create("sdist-check", {"x": np.arange(5)}, dir=d)
assert int(seg["x"].sum()) == 10 and shmarray.__version__ == %r
print("ok", shmarray.__file__)
"""


def _venv(where: Path) -> str:
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
    py = str(where / "bin" / "python")
    subprocess.run([py, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "numpy"], check=True)
    return py


def main() -> None:
    sdist = Path(sys.argv[1]).resolve()
    version = (ROOT / "VERSION").read_text().strip()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SHMARRAY_LIB")}
    with tempfile.TemporaryDirectory(prefix="shmarray-sdist-test-") as t:
        tmp = Path(t)
        py = _venv(tmp / "with-go")
        r = subprocess.run([py, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(sdist)],
                           env=env, cwd=tmp, capture_output=True, text=True)
        if r.returncode:
            sys.exit(f"sdist: installing with Go failed:\n{r.stdout}{r.stderr}")
        out = subprocess.run([py, "-c", CHECK % version], env=env, cwd=tmp, capture_output=True, text=True)
        if out.returncode or not out.stdout.startswith("ok"):
            sys.exit(f"sdist: the package built from it does not work:\n{out.stdout}{out.stderr}")
        print("sdist: with Go, built and works:", out.stdout.split()[1])

        py = _venv(tmp / "without-go")
        no_go = dict(env, PATH=os.pathsep.join(d for d in env.get("PATH", "").split(os.pathsep)
                                              if d and not os.path.exists(os.path.join(d, "go"))))
        if shutil.which("go", path=no_go["PATH"]):
            sys.exit("sdist: could not hide Go from PATH")
        t0 = time.monotonic()
        r = subprocess.run([py, "-m", "pip", "install", "--disable-pip-version-check", str(sdist)],
                           env=no_go, cwd=tmp, capture_output=True, text=True)
        took = time.monotonic() - t0
        text = r.stdout + r.stderr
        problems = [why for bad, why in [
            (r.returncode == 0, "it installed"),
            ("needs Go" not in text, "the message does not say Go is needed"),
            (f"pip install shmarray=={version}" not in text, "the message does not name the wheel"),
            ("Traceback" in text, "a traceback was printed"),
            ("_native" in text and "gcc" in text, "it compiled before failing")] if bad]
        if problems:
            sys.exit(f"sdist: without Go: {'; '.join(problems)}:\n{text}")
        print(f"sdist: without Go, refused in {took:.1f} s with: "
              + next(line.strip() for line in text.splitlines() if "needs Go" in line))


if __name__ == "__main__":
    main()
