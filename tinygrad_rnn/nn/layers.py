"""Feed-forward layers with PyTorch's names, shapes and default initialisation."""
from __future__ import annotations

import math

import numpy as np

from ..engine import Tensor, no_grad, where
from . import functional as F
from . import init
from .module import Module, Parameter


def _empty(*shape):
    return Parameter(np.zeros(shape, dtype=np.float32))


class Linear(Module):
    """y = x Wᵀ + b. x: (..., in_features) → y: (..., out_features); W: (out, in), b: (out,).
    Both start as U(-1/√in, 1/√in), as PyTorch."""

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = _empty(out_features, in_features)
        self.bias = _empty(out_features) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        bound = 1.0 / math.sqrt(self.in_features) if self.in_features else 0.0
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Embedding(Module):
    """A lookup table: integer indices (...) → rows of ``weight`` (..., embedding_dim), N(0, 1)
    initialised. The row ``padding_idx`` starts at zero and gets no gradient."""


    def __init__(self, num_embeddings, embedding_dim, padding_idx=None):
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        if padding_idx is not None and padding_idx < 0:
            padding_idx += num_embeddings
        self.padding_idx = padding_idx
        self.weight = _empty(num_embeddings, embedding_dim)
        init.normal_(self.weight)
        if padding_idx is not None:
            self.weight.data[padding_idx] = 0

    def forward(self, indices):
        idx = np.asarray(indices.data if isinstance(indices, Tensor) else indices)
        if idx.dtype.kind not in "iu":
            raise TypeError(f"Embedding: indices must be integers, got dtype {idx.dtype}")
        if idx.size and (idx.min() < 0 or idx.max() >= self.num_embeddings):
            raise IndexError(f"Embedding: indices must lie in [0, {self.num_embeddings}), got "
                             f"min {idx.min()} and max {idx.max()}")
        out = self.weight[idx]
        if self.padding_idx is not None:
            # same values, but no gradient flows to the padding row (as PyTorch)
            out = where((idx != self.padding_idx)[..., None], out, out.detach())
        return out

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}"


class Dropout(Module):
    """Inverted dropout in training mode; the identity in eval mode."""

    def __init__(self, p=0.5):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: probability must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"


class LayerNorm(Module):
    """y = (x - mean) / sqrt(var + eps) · weight + bias over the last ``normalized_shape`` dims
    (biased variance, as PyTorch). Composite of primitives."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape, self.eps = tuple(normalized_shape), eps
        if elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dtype=np.float32))
            self.bias = Parameter(np.zeros(self.normalized_shape, dtype=np.float32))
        else:
            self.weight = self.bias = None

    def forward(self, x):
        n = len(self.normalized_shape)
        if x.shape[-n:] != self.normalized_shape:
            raise ValueError(f"LayerNorm: input of shape {x.shape} does not end in the normalized "
                             f"shape {self.normalized_shape}")
        dims = tuple(range(-n, 0))
        centred = x - x.mean(dims, keepdim=True)
        var = (centred * centred).mean(dims, keepdim=True)
        y = centred / (var + self.eps).sqrt()
        return y * self.weight + self.bias if self.weight is not None else y

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}"


class BatchNorm1d(Module):
    """Normalise each feature over the batch: input (N, C) or (N, C, L).

    Training: batch mean and biased variance normalise; the running statistics move by
    ``momentum``: running = (1 - momentum)·running + momentum·batch (the variance unbiased).
    Eval: the running statistics normalise. As PyTorch, including ``num_batches_tracked``.
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = Parameter(np.ones(num_features, dtype=np.float32))
            self.bias = Parameter(np.zeros(num_features, dtype=np.float32))
        else:
            self.weight = self.bias = None
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, dtype=np.float32))
            self.register_buffer("running_var", np.ones(num_features, dtype=np.float32))
            self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))

    def forward(self, x):
        if x.ndim not in (2, 3) or x.shape[1] != self.num_features:
            raise ValueError(f"BatchNorm1d: expected input (N, {self.num_features}) or "
                             f"(N, {self.num_features}, L), got {x.shape}")
        dims = (0,) if x.ndim == 2 else (0, 2)
        shape = (1, -1) if x.ndim == 2 else (1, -1, 1)
        if self.training or not self.track_running_stats:
            mean = x.mean(dims, keepdim=True)
            centred = x - mean
            var = (centred * centred).mean(dims, keepdim=True)
            if self.training and self.track_running_stats:
                n = x.data.size // self.num_features
                with no_grad():
                    m = self.momentum
                    unbiased = var.data.reshape(-1) * (n / max(n - 1, 1))
                    dt = x.dtype
                    self.running_mean = ((1 - m) * self.running_mean.astype(dt)
                                         + m * mean.data.reshape(-1))
                    self.running_var = (1 - m) * self.running_var.astype(dt) + m * unbiased
                    self.num_batches_tracked = self.num_batches_tracked + 1
        else:
            centred = x - Tensor(self.running_mean.reshape(shape).astype(x.dtype))
            var = Tensor(self.running_var.reshape(shape).astype(x.dtype))
        y = centred / (var + self.eps).sqrt()
        if self.weight is not None:
            y = y * self.weight.reshape(shape) + self.bias.reshape(shape)
        return y

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


class Sequential(Module):
    """Modules applied in order; children are named "0", "1", … as in PyTorch."""

    def __init__(self, *modules):
        super().__init__()
        for i, m in enumerate(modules):
            setattr(self, str(i), m)

    def __getitem__(self, i):
        return list(self._modules.values())[i]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x
