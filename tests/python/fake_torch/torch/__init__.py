"""A numpy stand-in for the small part of torch the PoG worker uses (tests only).

Machines that run the tests have no GPU, yet the worker's GPU path (device generation in
int64 with masking, TF32 switched off, per-GPU threads, the VRAM probe) must not go
untested. Put this directory first on PYTHONPATH to make `import torch` load it: it
offers FAKE_GPUS devices named "Fake GPU <k>", refuses allocations over FAKE_MEMORY_BYTES
the way CUDA runs out of memory, and refuses a float32 matmul unless TF32 was disabled.

A fake device's matmul takes its size over FAKE_FLOPS, slept out, as a host thread waits on
a GPU; numpy computes the product when the host first reads it (`.cpu()`), outside the span
the worker times. A product's time is then set by its size, not by what else the host runs:
timed in numpy, the benchmark's product and the Proof-of-GPU products raced on the host's
scheduler (two device threads, the GIL and the BLAS threads on two loaded cores) and the
validator's timing rule flipped for an honest stand-in.
"""

import contextlib
import threading
import time

import numpy as np

FAKE_GPUS = 2
FAKE_MEMORY_BYTES = 8 << 20
# Modelled throughput (FLOP/s): the benchmark's float32 product for FAKE_MEMORY_BYTES (side
# 768) takes 91 ms, the Proof-of-GPU product of the same memory (side 352) 8.7 ms.
FAKE_FLOPS = {"float32": 10e9, "float16": 40e9}

int64 = np.dtype(np.int64)
float32 = np.dtype(np.float32)
float16 = np.dtype(np.float16)


class OutOfMemoryError(RuntimeError):
    pass


class _Flags:
    pass


backends = _Flags()
backends.cuda = _Flags()
backends.cuda.matmul = _Flags()
backends.cuda.matmul.allow_tf32 = True
backends.cudnn = _Flags()
backends.cudnn.allow_tf32 = True
_precision = {"value": "high"}


def set_float32_matmul_precision(value):
    _precision["value"] = value


class device:
    def __init__(self, spec):
        self.spec = str(spec)

    def __str__(self):
        return self.spec


def _check_device(dev):
    name = str(dev)
    if name == "cuda":
        return
    if not name.startswith("cuda:") or not 0 <= int(name[5:]) < FAKE_GPUS:
        raise RuntimeError(f"fake torch: invalid device {name!r}")


class Tensor:
    def __init__(self, array):
        self.a = array

    def _wrap(self, other):
        return other.a if isinstance(other, Tensor) else other

    def view(self, *shape):
        return Tensor(self.a.reshape(shape))

    def __add__(self, other):
        return Tensor(self.a + self._wrap(other))

    __radd__ = __add__

    def __and__(self, other):
        return Tensor(self.a & self._wrap(other))

    def __lshift__(self, bits):
        return Tensor(self.a << bits)

    def __rshift__(self, bits):
        return Tensor(self.a >> bits)

    def __ixor__(self, other):
        self.a ^= self._wrap(other)
        return self

    def __mul__(self, other):
        return Tensor(self.a * np.asarray(other, dtype=self.a.dtype))

    def __setitem__(self, key, value):
        self.a[key] = self._wrap(value)

    def to(self, dtype):
        return Tensor(self.a.astype(dtype))

    def cpu(self):
        return Tensor(self.a.copy())

    def numpy(self):
        return self.a


def _alloc_check(shape, dtype):
    size = int(np.prod(shape)) * np.dtype(dtype).itemsize
    if size > FAKE_MEMORY_BYTES:
        raise OutOfMemoryError(f"fake CUDA out of memory: {size} bytes")


def empty(shape, dtype=float32, device=None):
    _check_device(device)
    shape = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
    _alloc_check(shape, dtype)
    return Tensor(np.empty(shape, dtype=dtype))


def arange(*args, dtype=int64, device=None):
    _check_device(device)
    return Tensor(np.arange(*args, dtype=dtype))


def randn(*shape, dtype=float32, device=None):
    _check_device(device)
    return Tensor(np.random.default_rng().standard_normal(shape, dtype=np.float32).astype(dtype))


def matmul(a, b):
    if a.a.dtype == float32 and (backends.cuda.matmul.allow_tf32 or _precision["value"] != "highest"):
        raise RuntimeError("fake torch: float32 matmul with TF32 allowed")
    (m, k), n = a.a.shape, b.a.shape[1]
    # Other dtypes than the two the worker multiplies run at the float32 rate.
    flops = FAKE_FLOPS.get(a.a.dtype.name, FAKE_FLOPS["float32"])
    time.sleep(2 * m * k * n / flops)
    return _Product(a.a, b.a)


class _Product(Tensor):
    """A matmul's result, computed when first read."""

    def __init__(self, x, y):
        self._operands = (x, y)
        self._value = None

    @property
    def a(self):
        if self._value is None:
            x, y = self._operands
            # numpy has no fast float16 GEMM; the fake only needs the shape and the values.
            self._value = np.matmul(x.astype(np.float32), y.astype(np.float32)).astype(x.dtype)
            self._operands = None
        return self._value

    @a.setter
    def a(self, value):
        # In-place operators (`^=`) read and then assign the array.
        self._value, self._operands = value, None


class _Cuda:
    OutOfMemoryError = OutOfMemoryError
    _local = threading.local()

    @staticmethod
    def is_available():
        return True

    @staticmethod
    def device_count():
        return FAKE_GPUS

    @staticmethod
    def get_device_name(k):
        if not 0 <= k < FAKE_GPUS:
            raise RuntimeError("fake torch: invalid device ordinal")
        return f"Fake GPU {k}"

    @staticmethod
    def synchronize(device=None):
        if device is not None:
            _check_device(device)

    @staticmethod
    def empty_cache():
        pass

    @staticmethod
    @contextlib.contextmanager
    def device(dev):
        _check_device(dev)
        yield


cuda = _Cuda()
