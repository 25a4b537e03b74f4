"""Making tensors: ``tensor``, ``from_numpy``, ``zeros``, ``ones``, ``randn``, ``arange`` …"""
from __future__ import annotations

import numpy as np

from .dtypes import DEFAULT_FLOAT
from .random import get_rng
from .tensor import Tensor, _sizes, _tensor, _to_array

def tensor(data, requires_grad=False, dtype=None) -> Tensor:
    """A new Tensor holding a copy of ``data`` (``torch.tensor``)."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def from_numpy(array: np.ndarray) -> Tensor:
    """A Tensor sharing ``array``'s memory (``torch.from_numpy``): changes to one show in the other."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy array, got {type(array).__name__}")
    return _tensor(_to_array(array, None))


def _filled(make, size, dtype, requires_grad):
    return _tensor(make(_sizes(size), dtype=dtype)).requires_grad_(requires_grad)


def zeros(*size, dtype=np.float32, requires_grad=False) -> Tensor:
    return _filled(np.zeros, size, dtype, requires_grad)


def ones(*size, dtype=np.float32, requires_grad=False) -> Tensor:
    return _filled(np.ones, size, dtype, requires_grad)


def zeros_like(t: Tensor, requires_grad=False) -> Tensor:
    return _tensor(np.zeros_like(t.array)).requires_grad_(requires_grad)


def ones_like(t: Tensor, requires_grad=False) -> Tensor:
    return _tensor(np.ones_like(t.array)).requires_grad_(requires_grad)


def randn(*size, dtype=np.float32, requires_grad=False) -> Tensor:
    """Standard normal samples from the package generator (see ``manual_seed``)."""
    data = get_rng().standard_normal(_sizes(size)).astype(dtype)
    return _tensor(data).requires_grad_(requires_grad)


def rand(*size, dtype=np.float32, requires_grad=False) -> Tensor:
    """Uniform [0, 1) samples from the package generator (see ``manual_seed``)."""
    return _tensor(get_rng().random(_sizes(size)).astype(dtype)).requires_grad_(requires_grad)


def arange(*args, dtype=None, requires_grad=False) -> Tensor:
    """As ``torch.arange``: int64 for integer arguments, float32 when any is a float."""
    if dtype is None:
        dtype = DEFAULT_FLOAT if any(isinstance(a, (float, np.floating)) for a in args) else np.int64
    return _tensor(np.arange(*args, dtype=dtype)).requires_grad_(requires_grad)
