"""Weight initialisation, in place, with PyTorch's names and the package generator.

The classic recipes for recurrent nets:
- ``normal_(w, 0, 0.01)``: small random weights (0.01·randn);
- ``normal_(w, 0, (1 / n_in) ** 0.5)``: randn·sqrt(1/n_in);
- ``xavier_uniform_`` / ``xavier_normal_``: Var = 2 / (fan_in + fan_out) (Glorot & Bengio 2010);
- ``orthogonal_``: W = Q with QᵀQ = I, so every eigenvalue has |λ| = 1 and Wⁿ neither vanishes
  nor explodes;
- ``eye_`` on the recurrent matrix with a ReLU cell: the IRNN of Le, Jaitly & Hinton (2015).
"""
from __future__ import annotations

import math

import numpy as np

from ..random import get_rng


def _fill(tensor, values):
    tensor.array[...] = values
    return tensor


def _fans(tensor):
    shape = tensor.shape
    if len(shape) < 2:
        raise ValueError(f"init: fan in and fan out need a tensor with at least 2 dims, got shape "
                         f"{shape}")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def calculate_gain(nonlinearity, param=None) -> float:
    """The recommended scale for each nonlinearity (PyTorch's table)."""
    if nonlinearity in ("linear", "sigmoid", "conv1d"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope ** 2))
    raise ValueError(f"calculate_gain: unknown nonlinearity {nonlinearity!r}")


def uniform_(tensor, a=0.0, b=1.0):
    return _fill(tensor, get_rng().uniform(a, b, tensor.shape))


def normal_(tensor, mean=0.0, std=1.0):
    return _fill(tensor, mean + std * get_rng().standard_normal(tensor.shape))


def constant_(tensor, val):
    return _fill(tensor, val)


def zeros_(tensor):
    return _fill(tensor, 0)


def ones_(tensor):
    return _fill(tensor, 1)


def eye_(tensor):
    """Identity matrix (2-D only); with ``nonlinearity='relu'`` on the recurrent weights: IRNN."""
    if tensor.ndim != 2:
        raise ValueError(f"eye_: needs a 2-D tensor, got shape {tensor.shape}")
    return _fill(tensor, np.eye(*tensor.shape))


def xavier_uniform_(tensor, gain=1.0):
    """U(-a, a) with a = gain·sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(tensor)
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -a, a)


def xavier_normal_(tensor, gain=1.0):
    """N(0, std²) with std = gain·sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def kaiming_uniform_(tensor, a=0.0, nonlinearity="leaky_relu"):
    """U(-b, b) with b = gain·sqrt(3 / fan_in) (He et al. 2015)."""
    fan_in, _ = _fans(tensor)
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / fan_in)
    return uniform_(tensor, -bound, bound)


def orthogonal_(tensor, gain=1.0):
    """A (semi-)orthogonal matrix: Q from the QR decomposition of a Gaussian matrix, with the
    signs of R's diagonal folded in so that Q is uniformly distributed (Saxe et al. 2013)."""
    if tensor.ndim < 2:
        raise ValueError(f"orthogonal_: needs at least 2 dims, got shape {tensor.shape}")
    rows = tensor.shape[0]
    cols = tensor.array.size // rows
    flat = get_rng().standard_normal((rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return _fill(tensor, gain * q.reshape(tensor.shape))
