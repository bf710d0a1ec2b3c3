"""Segments created with ``unlink_on_exit``: unlinked when the creating
process exits, normally, by an uncaught exception or by SIGTERM; only the
version the process published (``shmarray_unlink_version``): if another
process replaced it since, the newer version stays."""

from __future__ import annotations

import atexit
import os
import signal
import threading

from . import _native

_exit_lock = threading.Lock()
_to_remove: list[tuple[str, str | None, bytes, int]] = []
_hooks_installed = False


def remove_at_exit(name: str, dir, id: bytes) -> None:
    """Unlink name when this process exits: atexit covers normal exit and
    uncaught exceptions; a SIGTERM handler (installed only where SIGTERM still
    has its default action) turns SIGTERM into a normal exit."""
    global _hooks_installed
    with _exit_lock:
        _to_remove.append((name, dir, id, os.getpid()))
        if _hooks_installed:
            return
        _hooks_installed = True
    atexit.register(_remove_all)
    if threading.current_thread() is threading.main_thread() and \
            signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _on_sigterm)
        os.register_at_fork(after_in_child=_default_sigterm_in_child)


def _remove_all() -> None:
    pid = os.getpid()
    for name, dir, id, owner in _to_remove:
        if owner == pid:  # a forked child inherits the list; only the creator unlinks
            try:
                _native.unlink(name, dir, id)
            except Exception:  # StaleSegmentError: replaced or unlinked since; not ours now
                pass


def _on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


def _default_sigterm_in_child() -> None:
    """A forked child (a Pool worker, typically) has nothing of ours to
    unlink, and whoever forked it expects SIGTERM to end it at once:
    Pool.terminate does, and a worker running Python cleanup on SystemExit
    instead can die holding the pool's queue lock and hang its siblings."""
    if signal.getsignal(signal.SIGTERM) is _on_sigterm:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
