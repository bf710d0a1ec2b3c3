"""DLPack 1.0 export of numeric columns (native/dlpack.c): read-only,
zero-copy, N-D, refused clearly for what DLPack cannot carry."""

import ctypes

import numpy as np
import pytest

import shmarray

NUMERIC = ["i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8", "f2", "f4", "f8"]
needs_dlpack_1 = pytest.mark.skipif(
    tuple(int(x) for x in np.__version__.split(".")[:2]) < (2, 1),
    reason=f"NumPy {np.__version__} has no DLPack 1.0 (versioned capsules came in NumPy 2.1)")


def inside(seg, address):
    base = np.frombuffer(seg._h.memory(), np.uint8).ctypes.data
    return base <= address < base + seg.size


@needs_dlpack_1
@pytest.mark.parametrize("dtype", NUMERIC)
def test_numpy_from_dlpack_is_a_read_only_view(shm_dir, seg_name, dtype):
    a = (np.arange(12) % 50).astype(dtype)
    with shmarray.create(seg_name, {"a": a, "m": a.reshape(3, 2, 2)}, dir=shm_dir) as seg:
        for name, want in (("a", a), ("m", a.reshape(3, 2, 2))):
            got = np.from_dlpack(seg.column(name))
            assert got.dtype == np.dtype(dtype) and got.shape == want.shape
            np.testing.assert_array_equal(got, want)
            assert not got.flags.writeable
            assert inside(seg, got.ctypes.data) and np.shares_memory(got, seg[name])
            with pytest.raises(ValueError, match="read-only"):
                got[0] = 1


@needs_dlpack_1
def test_empty_column(shm_dir, seg_name):
    with shmarray.create(seg_name, {"e": np.zeros(0, "f8")}, dir=shm_dir) as seg:
        assert np.from_dlpack(seg.column("e")).shape == (0,)


class DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32),
                ("ndim", ctypes.c_int32), ("code", ctypes.c_uint8), ("bits", ctypes.c_uint8),
                ("lanes", ctypes.c_uint16), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64)]


class Managed(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint32), ("minor", ctypes.c_uint32), ("manager_ctx", ctypes.c_void_p),
                ("deleter", ctypes.c_void_p), ("flags", ctypes.c_uint64), ("dl_tensor", DLTensor)]


def test_the_capsule_itself(shm_dir, seg_name):
    """Read as a consumer would, independent of NumPy: version 1.0, the
    read-only flag, kDLCPU, the type, shape and strides."""
    with shmarray.create(seg_name, {"m": np.arange(6, dtype="<i4").reshape(2, 3)}, dir=shm_dir) as seg:
        col = seg.column("m")
        assert col.__dlpack_device__() == (1, 0)
        cap = col.__dlpack__(max_version=(1, 0))
        get = ctypes.pythonapi.PyCapsule_GetPointer
        get.restype, get.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
        m = Managed.from_address(get(cap, b"dltensor_versioned"))
        t = m.dl_tensor
        assert (m.major, m.minor, m.flags & 1) == (1, 0, 1)
        assert (t.device_type, t.device_id, t.ndim, t.code, t.bits, t.lanes) == (1, 0, 2, 0, 32, 1)
        assert [t.shape[i] for i in range(2)] == [2, 3] and [t.strides[i] for i in range(2)] == [3, 1]
        assert inside(seg, t.data) and t.byte_offset == 0


@pytest.mark.parametrize("columns, name, pattern", [
    ({"q": np.ma.masked_array([1, 2], mask=[True, False])}, "q", r"has 1 nulls.*masked array"),
    ({"b": np.array([True, False])}, "b", r"is bool, stored as bits"),
    ({"t": np.array(["2020-01-01"], dtype="M8[ns]")}, "t", r"is timestamp, which DLPack has no type for"),
    ({"d": np.array(["2020-01-01"], dtype="M8[D]")}, "d", r"is date32, which DLPack has no type for"),
    ({"s": ["a"]}, "s", r"variable-length"),
    ({"w": np.array([b"ab"], dtype="S2")}, "w", r"is fixed_size_binary"),
])
def test_what_dlpack_cannot_carry_is_refused(shm_dir, seg_name, columns, name, pattern):
    with shmarray.create(seg_name, columns, dir=shm_dir) as seg:
        with pytest.raises(shmarray.InvalidArgumentError, match=f"array '{name}' of segment .*{pattern}"):
            seg.column(name).__dlpack__(max_version=(1, 0))


def test_protocol_refusals(shm_dir, seg_name):
    with shmarray.create(seg_name, {"x": np.arange(3.0)}, dir=shm_dir) as seg:
        col = seg.column("x")
        with pytest.raises(BufferError, match=r"only DLPack 1.0.*NumPy >= 2.1"):
            col.__dlpack__()  # a consumer that knows only the unversioned capsule
        with pytest.raises(BufferError, match=r"only DLPack 1.0"):
            col.__dlpack__(max_version=(0, 8))
        with pytest.raises(BufferError, match="copy=True is not offered"):
            col.__dlpack__(max_version=(1, 0), copy=True)
        with pytest.raises(BufferError, match="cannot be exported to device"):
            col.__dlpack__(max_version=(1, 0), dl_device=(2, 0))
        with pytest.raises(BufferError, match="stream must be None"):
            col.__dlpack__(max_version=(1, 0), stream=1)
        assert col.__dlpack__(max_version=(1, 2), dl_device=(1, 0), copy=False) is not None
    with pytest.raises(shmarray.ClosedError):
        col.__dlpack__(max_version=(1, 0))
