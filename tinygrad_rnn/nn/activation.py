"""Activation modules: the module form of each activation in ``functional``, with PyTorch's names
and constructor arguments (``Tanh``, ``ReLU`` and ``Sigmoid`` live in ``layers``)."""
from __future__ import annotations

import warnings

from . import functional as F
from .module import Module


class LeakyReLU(Module):
    """x where x > 0, else negative_slope·x."""

    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope, self.inplace)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class GELU(Module):
    """x·Φ(x), or its tanh approximation with ``approximate="tanh"`` (see ``F.gelu``)."""

    def __init__(self, approximate="none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        return F.gelu(x, approximate=self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class Softplus(Module):
    """log(1 + e^(βx)) / β; x itself where βx > threshold."""

    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, x):
        return F.softplus(x, self.beta, self.threshold)

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"


def _legacy_dim(ndim, name):
    """PyTorch's choice when no ``dim`` is given: 0 for 0-, 1- and 3-D input, else 1 (with a
    warning, as PyTorch: pass dim explicitly)."""
    warnings.warn(f"{name}: implicit dimension choice is deprecated; pass dim=", stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


class Softmax(Module):
    """exp(x) / Σ exp(x) along ``dim``."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.softmax(x, self.dim if self.dim is not None else _legacy_dim(x.ndim, "Softmax"))

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """log softmax(x) along ``dim``, computed stably."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        dim = self.dim if self.dim is not None else _legacy_dim(x.ndim, "LogSoftmax")
        return F.log_softmax(x, dim)

    def extra_repr(self):
        return f"dim={self.dim}"
