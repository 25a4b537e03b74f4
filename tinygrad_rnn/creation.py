"""Making tensors: ``tensor``, ``from_numpy``, ``zeros``, ``ones``, ``full``, ``randn``, ``arange`` …

PyTorch's keywords are accepted: ``dtype=`` (numpy's types, which ``tg.float32``, ``tg.long`` …
are), ``device=`` (the CPU only, see ``devices.py``) and ``requires_grad=``. Float factories give
the default dtype (float32 unless ``set_default_dtype`` changed it).
"""
from __future__ import annotations

import numpy as np

from . import devices as _device
from .dtypes import get_default_dtype
from .random import Generator, get_rng
from .tensor import Tensor, _lift, _sizes, _tensor, _to_array


def tensor(data, dtype=None, device=None, requires_grad=False, pin_memory=False) -> Tensor:
    """A new Tensor holding a copy of ``data`` (``torch.tensor``)."""
    _device.check("tensor", device)
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """``data`` itself if it is a Tensor of that dtype; else a Tensor sharing a numpy array's
    memory where it can (``torch.as_tensor``)."""
    _device.check("as_tensor", device)
    if isinstance(data, Tensor):
        return data if dtype is None else data.to(dtype)
    return _tensor(_to_array(data, dtype))


def from_numpy(array: np.ndarray) -> Tensor:
    """A Tensor sharing ``array``'s memory (``torch.from_numpy``): changes to one show in the other."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy array, got {type(array).__name__}")
    return _tensor(_to_array(array, None))


def _made(where, array, device, requires_grad):
    _device.check(where, device)
    return _tensor(array).requires_grad_(requires_grad)


def _float(dtype):
    return get_default_dtype() if dtype is None else dtype


def zeros(*size, dtype=None, device=None, requires_grad=False, out=None) -> Tensor:
    return _made("zeros", np.zeros(_sizes(size), _float(dtype)), device, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _made("ones", np.ones(_sizes(size), _float(dtype)), device, requires_grad)


def empty(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Zeros here (PyTorch leaves the memory unset; reading it is a bug either way)."""
    return _made("empty", np.zeros(_sizes(size), _float(dtype)), device, requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Every element ``fill_value``; the dtype follows it (bool, int64, or the default float)."""
    if dtype is None:
        dtype = _lift(fill_value).dtype
    return _made("full", np.full(_sizes((size,)), fill_value, dtype), device, requires_grad)


def _like(where, t, make, dtype, device, requires_grad):
    return _made(where, make(np.shape(t), dtype or t.dtype), device, requires_grad)


def zeros_like(t, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _like("zeros_like", t, np.zeros, dtype, device, requires_grad)


def ones_like(t, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _like("ones_like", t, np.ones, dtype, device, requires_grad)


def empty_like(t, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _like("empty_like", t, np.zeros, dtype, device, requires_grad)


def full_like(t, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _like("full_like", t, lambda s, d: np.full(s, fill_value, d), dtype, device,
                 requires_grad)


def randn(*size, dtype=None, device=None, requires_grad=False, generator=None) -> Tensor:
    """Standard normal samples from the package generator (see ``manual_seed``). The numbers
    differ from PyTorch's for the same seed (another algorithm): load weights to compare."""
    data = _rng(generator).standard_normal(_sizes(size)).astype(_float(dtype))
    return _made("randn", data, device, requires_grad)


def rand(*size, dtype=None, device=None, requires_grad=False, generator=None) -> Tensor:
    """Uniform [0, 1) samples from the package generator (see ``manual_seed``)."""
    data = _rng(generator).random(_sizes(size)).astype(_float(dtype))
    return _made("rand", data, device, requires_grad)


def randn_like(t, dtype=None, device=None, requires_grad=False) -> Tensor:
    return randn(*np.shape(t), dtype=dtype or t.dtype, device=device, requires_grad=requires_grad)


def rand_like(t, dtype=None, device=None, requires_grad=False) -> Tensor:
    return rand(*np.shape(t), dtype=dtype or t.dtype, device=device, requires_grad=requires_grad)


def multinomial(input, num_samples, replacement=False, generator=None) -> Tensor:
    """Indices drawn with probability proportional to the rows of ``input`` (1-D or 2-D), as
    ``torch.multinomial`` (the draws differ from PyTorch's for the same seed)."""
    p = np.asarray(input, dtype=np.float64)
    rows = p.reshape(1, -1) if p.ndim == 1 else p
    if p.ndim not in (1, 2) or (rows < 0).any() or not np.isfinite(rows).all():
        raise ValueError(f"multinomial: expects a 1-D or 2-D tensor of non-negative finite "
                         f"weights, got shape {p.shape}")
    if (rows.sum(1) <= 0).any():
        raise ValueError("multinomial: each row of weights must have a positive sum")
    if not replacement and num_samples > (rows > 0).sum(1).min():
        raise ValueError(f"multinomial: cannot draw {num_samples} samples without replacement "
                         f"from rows with {(rows > 0).sum(1).min()} categories of non-zero weight")
    rng = _rng(generator)
    out = np.stack([rng.choice(rows.shape[1], num_samples, replace=replacement, p=r / r.sum())
                    for r in rows]).astype(np.int64)
    return _tensor(out[0] if p.ndim == 1 else out)


def _rng(generator):
    """The numpy generator to draw floats from: the package's, or, for a ``Generator`` (PyTorch's
    twister, which orders data), a numpy one seeded from its stream — reproducible, though not
    PyTorch's own numbers (its normal sampler is another algorithm)."""
    if generator is None:
        return get_rng()
    if isinstance(generator, Generator):
        return np.random.default_rng(generator._int64_seed())
    return generator


def arange(start, end=None, step=1, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    """As ``torch.arange``: int64 for integer arguments, the default float when any is a float."""
    args = (start,) if end is None else (start, end, step)
    if dtype is None:
        floats = any(isinstance(a, (float, np.floating)) for a in args)
        dtype = get_default_dtype() if floats else np.int64
    return _made("arange", np.arange(*args, dtype=dtype), device, requires_grad)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _made("linspace", np.linspace(start, end, int(steps), dtype=_float(dtype)), device,
                 requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _made("eye", np.eye(n, m, dtype=_float(dtype)), device, requires_grad)
