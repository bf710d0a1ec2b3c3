"""ctypes declarations of the writing half of libshmarray.so.

The library embeds a Go runtime, which does not survive ``fork()``: a child of
a process that loaded it hangs if it enters Go. So the library is loaded only
when a Go-backed call (``create``, ``Receiver``) first needs it, the pid that loaded it is
remembered, and in a forked child every such call raises
:class:`~shmarray.ForkedError` at once. Reading never comes here.

Search order for the library: ``$SHMARRAY_LIB``, the copy bundled in this
package, then ``build/libshmarray.so`` of a source checkout.
"""

from __future__ import annotations

import ctypes
import os
import threading
from pathlib import Path

from ._errors import ForkedError, ShmarrayError, error_for

_ERR_LEN = 1024

c_char_p_p = ctypes.POINTER(ctypes.c_char_p)


class CreateOptions(ctypes.Structure):
    """``shmarray_create_options`` of shmarray.h."""

    _fields_ = [("mode", ctypes.c_uint32), ("flags", ctypes.c_uint32), ("capacity", ctypes.c_int64),
                ("replace_if", ctypes.c_char_p)]


CREATE_EPHEMERAL = 1
CREATE_NO_DATA_CHECKSUM = 2
CREATE_REPLACE = 4
OUTPUT_TOKEN_MAX = 16384  # SHMARRAY_OUTPUT_TOKEN_MAX


class Published(ctypes.Structure):
    """``shmarray_published`` of shmarray.h: the identity of what was published."""

    _fields_ = [("id", ctypes.c_uint8 * 16), ("version", ctypes.c_uint64)]


class ArraySpec(ctypes.Structure):
    """``shmarray_array_spec`` of shmarray.h."""

    _fields_ = [
        ("type", ctypes.c_uint32),
        ("time_unit", ctypes.c_uint32),
        ("byte_width", ctypes.c_uint32),
        ("ndim", ctypes.c_uint32),
        ("timezone", ctypes.c_char_p),
        ("length", ctypes.c_int64),
        ("shape", ctypes.POINTER(ctypes.c_int64)),
        ("validity", ctypes.c_void_p),
        ("offsets", ctypes.c_void_p),
        ("data", ctypes.c_void_p),
        ("metadata_keys", c_char_p_p),
        ("metadata_values", c_char_p_p),
        ("metadata_count", ctypes.c_size_t),
    ]


# Sizes of the Arrow C Data Interface structures, which pyarrow fills.
ARROW_SCHEMA_SIZE = 72
ARROW_ARRAY_SIZE = 80

_lock = threading.Lock()
_lib: ctypes.CDLL | None = None
_loaded_pid: int | None = None


def _candidates() -> list[Path]:
    out = []
    env = os.environ.get("SHMARRAY_LIB")
    if env:
        out.append(Path(env))
    here = Path(__file__).resolve().parent
    out.append(here / "libshmarray.so")
    out.append(here.parent.parent.parent / "build" / "libshmarray.so")
    return out


def _declare(lib: ctypes.CDLL) -> None:
    err = [ctypes.c_char_p, ctypes.c_size_t]
    vp = ctypes.c_void_p
    lib.shmarray_version.argtypes, lib.shmarray_version.restype = [], ctypes.c_char_p
    lib.shmarray_format_version.argtypes, lib.shmarray_format_version.restype = [], ctypes.c_uint32
    lib.shmarray_create.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(CreateOptions),
                                    ctypes.POINTER(vp)] + err
    lib.shmarray_builder_add.argtypes = [vp, ctypes.c_char_p, ctypes.POINTER(ArraySpec)] + err
    lib.shmarray_builder_add_arrow.argtypes = [vp, ctypes.c_char_p, vp, vp] + err
    lib.shmarray_builder_add_list.argtypes = [vp, ctypes.c_char_p, ctypes.POINTER(ArraySpec),
                                              ctypes.POINTER(ArraySpec)] + err
    lib.shmarray_builder_add_dictionary.argtypes = [vp, ctypes.c_char_p, ctypes.POINTER(ArraySpec),
                                                    ctypes.POINTER(ArraySpec)] + err
    lib.shmarray_builder_add_empty.argtypes = [vp, ctypes.c_char_p, ctypes.POINTER(ArraySpec),
                                               ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_size_t)] + err
    lib.shmarray_builder_set_metadata.argtypes = [vp, c_char_p_p, c_char_p_p, ctypes.c_size_t] + err
    lib.shmarray_builder_publish.argtypes = [vp] + err
    lib.shmarray_builder_publish_with.argtypes = [vp, ctypes.POINTER(Published), ctypes.POINTER(ctypes.c_int)] + err
    lib.shmarray_builder_add_index.argtypes = [vp, ctypes.c_char_p] + err
    lib.shmarray_builder_discard.argtypes, lib.shmarray_builder_discard.restype = [vp], None
    lib.shmarray_builder_output.argtypes = [vp, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t] + err
    lib.shmarray_builder_wait_writers.argtypes = [vp, ctypes.c_int64] + err
    lib.shmarray_receive.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int64, ctypes.c_uint32,
                                     ctypes.POINTER(vp)] + err
    lib.shmarray_receiver_write.argtypes = [vp, ctypes.c_int64, vp, ctypes.c_size_t] + err
    lib.shmarray_receiver_publish.argtypes = [vp] + err
    lib.shmarray_receiver_discard.argtypes, lib.shmarray_receiver_discard.restype = [vp], None
    for fn in ("shmarray_create", "shmarray_builder_add", "shmarray_builder_add_arrow",
               "shmarray_builder_set_metadata", "shmarray_builder_publish", "shmarray_builder_publish_with",
               "shmarray_builder_add_index", "shmarray_builder_add_empty", "shmarray_builder_output",
               "shmarray_builder_wait_writers", "shmarray_builder_add_list", "shmarray_builder_add_dictionary",
               "shmarray_receive", "shmarray_receiver_write", "shmarray_receiver_publish"):
        getattr(lib, fn).restype = ctypes.c_int


def lib() -> ctypes.CDLL:
    """The loaded library; raises ForkedError in a forked child of the loader."""
    global _lib, _loaded_pid
    pid = os.getpid()
    if _lib is not None:
        if pid != _loaded_pid:
            raise ForkedError(
                f"shmarray: called in a forked child: this process (pid {pid}) was forked from "
                f"pid {_loaded_pid}, which loaded libshmarray's Go runtime, and that runtime does "
                "not survive fork(). Create segments in the parent before forking, or start "
                "workers with the 'spawn' or 'forkserver' start method. Attaching and reading "
                "work in forked children.")
        return _lib
    with _lock:
        if _lib is None:
            tried = []
            for path in _candidates():
                if path.is_file():
                    loaded = ctypes.CDLL(str(path))
                    _declare(loaded)
                    _lib, _loaded_pid = loaded, pid
                    break
                tried.append(str(path))
            else:
                raise ShmarrayError(
                    "shmarray: libshmarray.so not found (tried " + ", ".join(tried) + "): build it "
                    "with `make lib` in a source checkout, or set SHMARRAY_LIB to its path. "
                    "Reading segments does not need it.")
    return lib()


def loaded() -> bool:
    """Whether this process loaded the library (and so its Go runtime)."""
    return _lib is not None and _loaded_pid == os.getpid()


def check(code: int, buf: ctypes.Array) -> None:
    """Raise the exception for a non-zero return code with the C message."""
    if code:
        msg = buf.value.decode("utf-8", "replace") or f"shmarray: error code {code}"
        raise error_for(code, msg)


def err_buffer() -> ctypes.Array:
    return ctypes.create_string_buffer(_ERR_LEN)


class Discardable:
    """Base of the objects that own an unpublished file in the library
    (Builder, Receiver): used as a context manager, or garbage collected,
    the object is discarded unless it was published. Subclasses keep the
    library's handle in ``_handle`` (None once published or discarded) and
    define ``discard``."""

    _handle = None

    def discard(self) -> None:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.discard()

    def __del__(self):
        if getattr(self, "_handle", None) is not None:
            try:
                self.discard()
            except Exception:  # at interpreter exit, modules may already be gone
                pass
