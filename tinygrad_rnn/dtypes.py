"""Data types: PyTorch's names for them and its type-promotion rules.

``float32`` is the default float, as in PyTorch: Python floats become float32, Python ints int64.
"""
from __future__ import annotations

import numpy as np

_default_float = np.dtype(np.float32)  # as PyTorch: Python floats become float32


def get_default_dtype():
    """The dtype Python floats and float factories (``zeros``, ``randn`` …) give: float32
    unless :func:`set_default_dtype` changed it (``torch.get_default_dtype``)."""
    return _default_float


def set_default_dtype(dtype) -> None:
    """``torch.set_default_dtype``: float32 or float64 (float16 too) for new float tensors."""
    global _default_float
    d = np.dtype(dtype)
    if d.kind != "f":
        raise TypeError(f"set_default_dtype: only floating-point types are supported as the "
                        f"default type, got {d}")
    _default_float = d


def _category(dtype) -> int:
    return {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}[dtype.kind]


def _promote_types(a, b):
    """PyTorch's table: a higher category wins outright (int64 with float32 is float32, where
    numpy says float64); within a category the wider type."""
    if a == b:
        return a
    ca, cb = _category(a), _category(b)
    if ca != cb:
        return a if ca > cb else b
    return np.promote_types(a, b)


def _combine(higher, lower):
    """Operands of a higher priority (dimensioned > 0-d > Python number) decide the dtype unless a
    lower one is of a higher category (an int tensor times 0.5 is float)."""
    if higher is None:
        return lower
    if lower is None or _category(higher) >= _category(lower):
        return higher
    return _promote_types(higher, lower)


def result_type(*operands):
    """The dtype PyTorch gives an op on ``operands`` (Tensors, arrays, Python numbers)."""
    levels = [None, None, None]  # Python numbers, 0-d tensors, tensors with dimensions
    for x in operands:
        if isinstance(getattr(x, "dtype", None), np.dtype):  # a Tensor or an ndarray
            level, dtype = (2 if x.ndim else 1), x.dtype
        else:
            level, dtype = 0, _scalar_dtype(x)
        levels[level] = dtype if levels[level] is None else _promote_types(levels[level], dtype)
    return _combine(levels[2], _combine(levels[1], levels[0]))


def _scalar_dtype(x):
    if isinstance(x, (bool, np.bool_)):
        return np.dtype(bool)
    if isinstance(x, (int, np.integer)):
        return np.dtype(np.int64)
    if isinstance(x, (float, np.floating)):
        return _default_float
    if isinstance(x, (complex, np.complexfloating)):
        return np.dtype(np.complex64)
    raise TypeError(f"unsupported operand of type {type(x).__name__}")
