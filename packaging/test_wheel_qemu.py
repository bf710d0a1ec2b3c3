"""`make test-wheel-aarch64`: a smoke test of the aarch64 wheel under
qemu-user, on an x86_64 machine.

Debian's aarch64 CPython 3.11 (its .deb files unpacked into a private root,
nothing installed system-wide but the qemu-user package) and NumPy's aarch64
wheel from PyPI run the installed wheel on a segment created natively: the
reader extension attaches, reads, looks keys up one at a time and in batch,
validates and lists, in the process, in a forked worker and in a fresh
interpreter given the pickled Segment (as a spawned worker is: qemu-user
cannot exec an aarch64 binary by itself, so multiprocessing's spawn is not
usable there); and libshmarray.so loads (its Go runtime starts) and reports
the version. Creating a segment under qemu is not part of it: the Go writer
reserves 64 GiB of address space, which fails under qemu-user.

    python packaging/test_wheel_qemu.py WHEEL
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "build" / "qemu-aarch64"
DEBS = ["libc6", "libpython3.11-minimal", "libpython3.11-stdlib", "python3.11-minimal", "libexpat1", "zlib1g",
        "libffi8", "libssl3", "libbz2-1.0", "liblzma5", "libgcc-s1", "libncursesw6", "libtinfo6", "libreadline8",
        "libsqlite3-0", "libuuid1", "libcrypt1", "libdb5.3", "libgdbm6", "libnsl2", "libtirpc3", "libstdc++6"]

SMOKE = r'''
import ctypes, os, pickle, platform, sys, numpy as np, shmarray
d, version, out = sys.argv[1], sys.argv[2], sys.argv[3]
assert platform.machine() == "aarch64" and shmarray.__version__ == version, (platform.machine(), shmarray.__version__)
seg = shmarray.attach("qemu-smoke", dir=d)

def check(s):
    assert int(s["x"].sum()) == 45 and s["s"][3] == "k3" and s.index("s")["k7"] == 7 and "zz" not in s.index("s")
    assert s.lookup("s", ["k9", "no", None]).tolist() == [9, -1, -1] and s.lookup("x", np.array([4, 11])).tolist() == [4, -1]

check(seg)
seg.validate()
assert "qemu-smoke" in [i.name for i in shmarray.list_segments(d)]
pid = os.fork()  # a forked worker reads too
if pid == 0:
    try:
        check(shmarray.attach("qemu-smoke", dir=d))
        os._exit(0)
    except BaseException:
        os._exit(1)
assert os.waitpid(pid, 0)[1] == 0, "the forked worker failed"
lib = ctypes.CDLL(os.path.join(os.path.dirname(shmarray.__file__), "libshmarray.so"))  # Go starts
lib.shmarray_version.restype = ctypes.c_char_p
assert lib.shmarray_version().decode() == version
with open(out, "wb") as f:
    pickle.dump(seg, f)  # for the fresh interpreter, as a spawned worker gets it
print("aarch64 smoke ok: attach, views, lookups, validate, list, a forked worker, libshmarray.so loads")
'''

# A fresh interpreter (what a spawned worker is): qemu-user runs no exec'd
# aarch64 binary by itself, so the test starts it under qemu the same way.
FRESH = r'''
import pickle, sys
seg = pickle.load(open(sys.argv[1], "rb"))
assert int(seg["x"].sum()) == 45 and seg.lookup("s", ["k2"]).tolist() == [2]
print("aarch64 smoke ok: a fresh interpreter reads the pickled Segment")
'''


def run(cmd, **kw):
    print("+", " ".join(map(str, cmd)), flush=True)
    return subprocess.run(cmd, check=True, **kw)


def sysroot() -> Path:
    """Debian's aarch64 python3.11, unpacked (not installed) into WORK/root."""
    root = WORK / "root"
    if (root / "usr" / "bin" / "python3.11").exists():
        return root
    if not shutil.which("qemu-aarch64"):
        run(["apt-get", "install", "-y", "-qq", "qemu-user"])
    arches = subprocess.run(["dpkg", "--print-foreign-architectures"], capture_output=True, text=True).stdout.split()
    if "arm64" not in arches:
        run(["dpkg", "--add-architecture", "arm64"])
        run(["apt-get", "update", "-qq"])
    debs = WORK / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    run(["apt-get", "download", "-qq"] + [f"{d}:arm64" for d in DEBS], cwd=debs)
    for deb in debs.glob("*.deb"):
        run(["dpkg", "-x", str(deb), str(root)])
    return root


def main() -> None:
    wheel = Path(sys.argv[1]).resolve()
    version = (ROOT / "VERSION").read_text().strip()
    root = sysroot()
    site = WORK / "site"
    shutil.rmtree(site, ignore_errors=True)
    site.mkdir(parents=True)
    wheels = WORK / "wheels"
    run([sys.executable, "-m", "pip", "download", "--quiet", "numpy", "--platform", "manylinux2014_aarch64",
         "--python-version", "3.11", "--only-binary=:all:", "--no-deps", "-d", str(wheels)])
    for w in list(wheels.glob("numpy-*.whl")) + [wheel]:
        zipfile.ZipFile(w).extractall(site)
    for so in site.rglob("*.so*"):
        so.chmod(0o755)
    # The segment, made natively by the package of this tree.
    data = WORK / "segments"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir()
    env = dict(os.environ, PYTHONPATH=str(ROOT / "bindings" / "python"))
    run([str(ROOT / ".venv" / "bin" / "python"), "-c",
         "import sys, numpy as np, shmarray; shmarray.create('qemu-smoke', {'x': np.arange(10), "
         "'s': [f'k{i}' for i in range(10)]}, dir=sys.argv[1], index=['s', 'x']).close()", str(data)], env=env)
    (WORK / "smoke.py").write_text(SMOKE)
    (WORK / "fresh.py").write_text(FRESH)
    qenv = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SHMARRAY_LIB")}
    qenv.update(QEMU_LD_PREFIX=str(root), PYTHONPATH=str(site))
    py = ["qemu-aarch64", str(root / "usr" / "bin" / "python3.11")]
    pickled = WORK / "segment.pickle"
    run(py + [str(WORK / "smoke.py"), str(data), version, str(pickled)], env=qenv, timeout=300)
    run(py + [str(WORK / "fresh.py"), str(pickled)], env=qenv, timeout=300)


if __name__ == "__main__":
    main()
