"""``shmarray.Builder``: a segment being built, array by array, then published.

Arrays are either copied in (:meth:`Builder.add`, as :func:`shmarray.create`
does) or handed out empty and filled in place (:meth:`Builder.empty`): a
NumPy array whose memory is the segment itself, so that the data is never
copied. Publishing unmaps that memory from this process, so it waits until
no NumPy array made by :meth:`Builder.empty` (or a view of one) is alive.
"""

from __future__ import annotations

import ctypes
import gc
import math
import os
import threading
import warnings
import weakref
from collections.abc import Mapping

import numpy as np

from . import _lib
from ._convert import add_value, encode, writing_dir, NUMERIC_CODES, T_FIXED_SIZE_BINARY, T_TIMESTAMP, \
    T_DURATION, UNITS
from ._errors import ClosedError, InvalidArgumentError, NotFoundError
from ._exit import remove_at_exit
from ._output import OutputHandle, _adopt
from ._segment import Segment, attach_pinned, attach_published, parse_id


class Builder(_lib.Discardable):
    """A segment called ``name``, not visible to anyone until :meth:`publish`.

    ``dir``, ``mode``, ``unlink_on_exit``, ``replace`` and ``replace_if``
    are as for :func:`shmarray.create`. Used as a context manager, the
    builder is discarded at the end of the block unless it was published;
    nothing is ever left under the name.

    This runs Go code in libshmarray.so: in a child forked from a process
    that already did, it raises :class:`~shmarray.ForkedError`.

    >>> import numpy as np, shmarray, tempfile
    >>> d = tempfile.mkdtemp()
    >>> with shmarray.Builder("doc-build", dir=d) as b:
    ...     x = b.empty("x", (2, 3), "float64")   # the segment's own memory
    ...     x[:] = np.arange(6).reshape(2, 3) / 2  # filled in place, no copy
    ...     b.add("label", ["a", "b"])            # copied in
    ...     del x                                 # publish needs the views gone
    ...     seg = b.publish()
    >>> seg["x"].tolist()
    [[0.0, 0.5, 1.0], [1.5, 2.0, 2.5]]
    >>> seg.close(); shmarray.unlink("doc-build", dir=d)
    """

    def __init__(self, name: str, *, dir: str | None = None, mode: int = 0o600,
                 unlink_on_exit: bool = False, replace: bool = False, replace_if=None):
        replace_id = None if replace_if is None else parse_id(replace_if)
        self._lib = _lib.lib()
        self.name, self.dir, self._unlink_on_exit = name, writing_dir(dir), unlink_on_exit
        flags = (_lib.CREATE_EPHEMERAL if unlink_on_exit else 0) | \
            (_lib.CREATE_REPLACE if replace or replace_id is not None else 0)
        opts = _lib.CreateOptions(mode=mode, flags=flags, replace_if=replace_id)
        err = _lib.err_buffer()
        handle = ctypes.c_void_p()
        _lib.check(self._lib.shmarray_create(encode(name, "segment name"), encode(self.dir, "dir"), ctypes.byref(opts),
                                             ctypes.byref(handle), err, len(err)), err)
        self._handle: ctypes.c_void_p | None = handle
        # Held across every call into the library: ctypes releases the GIL,
        # and publish must not unmap memory another thread is handing out.
        self._lock = threading.RLock()
        # Arrays handed out by empty(): name -> weak reference to the ctypes
        # object over their memory, which every NumPy view keeps alive.
        self._filled: dict[str, weakref.ref] = {}
        # Their output handles, made with them (so that a forked child,
        # which cannot call the library, can still pickle a view).
        self._outputs: dict[str, OutputHandle] = {}

    def _live_handle(self) -> ctypes.c_void_p:
        if self._handle is None:
            raise ClosedError(f"shmarray: closed: segment {self.name!r} was already published or discarded")
        return self._handle

    def add(self, name: str, value, *, field=None) -> None:
        """Copy ``value`` into the segment as array ``name``: any column
        :func:`shmarray.create` takes (NumPy, masked, list, pyarrow).
        ``field``, a pyarrow.Field, gives a pyarrow value's field metadata."""
        with self._lock:
            add_value(self._lib, self._live_handle(), name, value, field)

    def empty(self, name: str, shape, dtype) -> np.ndarray:
        """A new array ``name`` of ``shape`` and ``dtype``, zeroed, whose memory
        is the segment: write its values in place, then drop every reference
        to it (and its views) before :meth:`publish`.

        ``dtype``: int8..int64, uint8..uint64, float16/32/64 (any shape),
        datetime64/timedelta64 in s, ms, us or ns, or ``S<n>`` (1-D). Arrays
        with nulls, bool, strings and dates (``datetime64[D]``) are copied in
        with :meth:`add` instead.

        The first call gives the builder's file its hidden name in the
        segment's directory (``.shmarray-tmp-PID-HEX-NAME``, never attached),
        so that the array and its views pickle as an output handle even in a
        forked child, which cannot name the file itself. If this process dies
        before :meth:`publish` or :meth:`discard`, that file, as large as the
        arrays, stays until :func:`shmarray.gc` (or ``shmarray gc``) removes
        it; ``shmarray ls`` shows it as being built meanwhile."""
        shape = (int(shape),) if np.ndim(shape) == 0 else tuple(int(d) for d in shape)
        dt = np.dtype(dtype)
        spec = _lib.ArraySpec()
        kind, code = dt.kind, dt.str[1:]
        if dt.byteorder == ">" or (dt.byteorder == "=" and not np.little_endian):
            raise InvalidArgumentError(f"shmarray: invalid argument: array {name!r}: dtype {dt} is big-endian; "
                                       "segments are little-endian")
        if kind in "iuf" and code in NUMERIC_CODES:
            spec.type = NUMERIC_CODES[code]
        elif kind in "Mm" and np.datetime_data(dt) in [(u, 1) for u in UNITS]:
            spec.type = T_TIMESTAMP if kind == "M" else T_DURATION
            spec.time_unit = UNITS[np.datetime_data(dt)[0]]
        elif kind == "S" and dt.itemsize > 0:
            spec.type, spec.byte_width = T_FIXED_SIZE_BINARY, dt.itemsize
        else:
            raise InvalidArgumentError(
                f"shmarray: invalid argument: array {name!r}: dtype {dt} cannot be filled in place (use "
                "int8..int64, uint8..uint64, float16/32/64, datetime64/timedelta64 in s, ms, us or ns, "
                "or S<n>); copy it in with Builder.add instead")
        if not shape or len(shape) > 8 or any(d < 0 for d in shape):
            raise InvalidArgumentError(f"shmarray: invalid argument: array {name!r}: shape {shape} must have "
                                       "1 to 8 dimensions, none negative")
        spec.length = shape[0]
        keep = None
        if len(shape) >= 2:
            keep = (ctypes.c_int64 * len(shape))(*shape)
            spec.ndim, spec.shape = len(shape), ctypes.cast(keep, ctypes.POINTER(ctypes.c_int64))
        ptr, size = ctypes.c_void_p(), ctypes.c_size_t()
        err = _lib.err_buffer()
        with self._lock:
            _lib.check(self._lib.shmarray_builder_add_empty(self._live_handle(), encode(name, "array name"),
                                                             ctypes.byref(spec), ctypes.byref(ptr),
                                                             ctypes.byref(size), err, len(err)), err)
            del keep
            if size.value == 0:
                return np.zeros(shape, dtype=dt)  # nothing in the segment to write
            if size.value != math.prod(shape) * dt.itemsize:
                raise AssertionError(f"shmarray: library handed out {size.value} bytes for {shape} {dt}")
            raw = (ctypes.c_ubyte * size.value).from_address(ptr.value)
            self._filled[name] = weakref.ref(raw)
            flat = np.frombuffer(raw, dtype=dt)
            return _adopt(flat.reshape(shape), self._output(name, shape, dt), raw)

    def output(self, name: str) -> OutputHandle:
        """The :class:`~shmarray.OutputHandle` of array ``name`` (from
        :meth:`empty`): small and picklable, for a worker started by any
        method, which fills the array in place with
        ``with h.open() as out: out[lo:hi] = ...`` (plain C, no Go) until
        :meth:`publish`, which waits for it. Its ``token`` is the same
        handle as text, for Go and C workers.

        >>> import shmarray, tempfile
        >>> d = tempfile.mkdtemp()
        >>> b = shmarray.Builder("doc-out", dir=d)
        >>> y = b.empty("y", 4, "int64"); del y  # only the handle is used here
        >>> h = b.output("y")
        >>> with h.open() as out:
        ...     out[2:] = [7, 8]                 # as a worker would
        >>> del out                              # the last array over the output: it closes
        >>> seg = b.publish()                    # (publish waits for open outputs)
        >>> seg["y"].tolist()
        [0, 0, 7, 8]
        >>> seg.close(); shmarray.unlink("doc-out", dir=d)
        """
        with self._lock:
            self._live_handle()  # ClosedError after publish or discard, as Go's Builder.Output
            handle = self._outputs.get(name)
            if handle is None:
                raise NotFoundError(f"shmarray: not found: segment {self.name!r} has no array {name!r} from "
                                    "Builder.empty (only arrays filled in place have output handles)")
            return handle

    def _output(self, name: str, shape, dt: np.dtype) -> OutputHandle:
        """Makes (the first time, the builder's file gets its hidden name)
        and records the output handle of array name. Called with _lock held."""
        token = ctypes.create_string_buffer(_lib.OUTPUT_TOKEN_MAX)
        err = _lib.err_buffer()
        _lib.check(self._lib.shmarray_builder_output(self._live_handle(), encode(name, "array name"), token,
                                                     len(token), err, len(err)), err)
        handle = OutputHandle(token.value.decode("ascii"), self.name, name, shape, dt)
        self._outputs[name] = handle
        return handle

    def add_index(self, name: str) -> None:
        """Give array ``name`` (already added) a hash index, as ``create(index=...)``.
        An array from :meth:`empty` is indexed at :meth:`publish`, over its final
        values (a repeated value then fails publish)."""
        err = _lib.err_buffer()
        with self._lock:
            _lib.check(self._lib.shmarray_builder_add_index(self._live_handle(), encode(name, "array name"),
                                                             err, len(err)), err)

    def set_metadata(self, metadata: Mapping[str, str]) -> None:
        """Set the segment-level key/value metadata (replacing any set before)."""
        keys, values = _string_array(metadata.keys()), _string_array(metadata.values())
        err = _lib.err_buffer()
        with self._lock:
            _lib.check(self._lib.shmarray_builder_set_metadata(self._live_handle(), keys, values, len(metadata),
                                                                err, len(err)), err)

    def _still_filled(self) -> list[str]:
        """Names of arrays from empty() that some NumPy array still points into."""
        alive = [n for n, ref in self._filled.items() if ref() is not None]
        if alive:
            gc.collect()  # arrays kept only by unreachable cycles do not count
            alive = [n for n, ref in self._filled.items() if ref() is not None]
        return alive

    def publish(self, timeout: float = 60.0) -> Segment:
        """Seal and publish the segment atomically, and return it attached:
        the very version published (its :attr:`~Segment.id` and
        :attr:`~Segment.version`). Without ``replace`` an existing segment of
        the same name is never replaced (:class:`~shmarray.ExistsError`);
        with it, this becomes the name's next version (see
        :func:`shmarray.create`); with ``replace_if``, only while the name
        holds that id (:class:`~shmarray.StaleSegmentError` otherwise,
        nothing published). Arrays from :meth:`empty` must be gone: their
        memory is unmapped here.

        First it waits, ``timeout`` seconds at most, until no other process
        writes the segment: every output handle (:meth:`output`, or an
        array of :meth:`empty` that reached a worker by pickling) closed,
        and no child forked from this process still mapping arrays of
        :meth:`empty` it inherited. On timeout it raises
        :class:`~shmarray.IOFailureError` naming those processes, publishes
        nothing, and the builder stays usable (publish again later). After
        that no handle opens any more."""
        with self._lock:
            handle = self._live_handle()
            alive = self._still_filled()
            if alive:
                raise InvalidArgumentError(
                    f"shmarray: invalid argument: segment {self.name!r}: arrays {alive} from Builder.empty "
                    "are still referenced; delete them and their views (del x) before publish, which unmaps "
                    "their memory from this process (read them back from the published segment)")
            if not timeout >= 0:
                raise InvalidArgumentError(f"shmarray: invalid argument: publish timeout is {timeout!r}; "
                                           "it must be a number of seconds, not negative")
            err = _lib.err_buffer()
            _lib.check(self._lib.shmarray_builder_wait_writers(handle, int(min(timeout, 1e9) * 1000), err,
                                                                len(err)), err)
            self._handle = None
            out, fd = _lib.Published(), ctypes.c_int(-1)
            _lib.check(self._lib.shmarray_builder_publish_with(handle, ctypes.byref(out), ctypes.byref(fd),
                                                                err, len(err)), err)
        if self._unlink_on_exit:
            remove_at_exit(self.name, self.dir, bytes(out.id))
        if fd.value < 0:
            # Published, but no descriptor of the file could be kept (out of
            # descriptors): attach by name, pinned to the version published
            # (StaleSegmentError if a racer has replaced it already).
            return attach_pinned(self.name, self.dir, bytes(out.id), out.version)
        try:
            return attach_published(self.name, self.dir, fd.value)
        finally:
            os.close(fd.value)

    def discard(self) -> None:
        """Abandon the segment: nothing is published. Idempotent. If arrays from
        :meth:`empty` are still alive, their memory stays mapped until the last
        of them is gone (a ResourceWarning says so)."""
        with self._lock:
            if self._handle is None:
                return
            handle, self._handle = self._handle, None
            alive = self._still_filled()
            if not alive:
                self._lib.shmarray_builder_discard(handle)
                return
        warnings.warn(f"shmarray: segment {self.name!r} discarded while arrays {alive} from Builder.empty are "
                      "alive: its memory is released when they are gone", ResourceWarning, stacklevel=2)
        refs = [self._filled[n] for n in alive]
        lib = self._lib
        pending, guard = [handle], threading.Lock()  # pending: emptied by the one call that discards

        def release():
            # Finalizers of buffers freed in one collection may all find
            # every buffer gone: only the first discards.
            with guard:
                if pending and all(r() is None for r in refs):
                    lib.shmarray_builder_discard(pending.pop())
        for r in refs:
            obj = r()
            if obj is not None:
                weakref.finalize(obj, release)
        del obj
        release()  # in case the last of them went before its finalizer was set


def _string_array(values) -> ctypes.Array:
    encoded = [encode(str(v), "metadata") for v in values]
    return (ctypes.c_char_p * max(len(encoded), 1))(*encoded)
