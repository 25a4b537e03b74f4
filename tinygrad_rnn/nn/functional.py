"""Stateless functions on Tensors, with PyTorch's names (``torch.nn.functional``)."""
from __future__ import annotations

import numpy as np

from ..random import get_rng
from .. import ops
from ..engine import Tensor, apply, where

_REDUCTIONS = ("mean", "sum", "none")


def relu(x: Tensor) -> Tensor:
    return x.relu()


def tanh(x: Tensor) -> Tensor:
    return x.tanh()


def sigmoid(x: Tensor) -> Tensor:
    return x.sigmoid()


def leaky_relu(x: Tensor, negative_slope=0.01) -> Tensor:
    return where(x.data > 0, x, x * negative_slope)


def softmax(x: Tensor, dim: int) -> Tensor:
    return x.softmax(dim)


def log_softmax(x: Tensor, dim: int) -> Tensor:
    return x.log_softmax(dim)


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x Wᵀ + b, for x of shape (..., in) and W of shape (out, in): one primitive op."""
    if x.shape[-1:] != weight.shape[1:]:
        raise ValueError(f"linear: input of shape {x.shape} has {x.shape[-1] if x.ndim else 0} "
                         f"features, the weight {weight.shape} expects {weight.shape[1]}")
    return apply(ops.Linear, x, weight) if bias is None else apply(ops.Linear, x, weight, bias)


def dropout(x: Tensor, p=0.5, training=True) -> Tensor:
    """Zero each element with probability p and scale the rest by 1/(1-p) (inverted dropout)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    keep = (get_rng().random(x.shape) >= p).astype(x.dtype) / np.asarray(1.0 - p, x.dtype)
    return x * Tensor(keep)


def mse_loss(input: Tensor, target, reduction="mean") -> Tensor:
    """mean((input - target)²) (or sum / none)."""
    target = target if isinstance(target, Tensor) else Tensor(np.asarray(target, input.dtype))
    if input.shape != target.shape:
        raise ValueError(f"mse_loss: input shape {input.shape} and target shape {target.shape} "
                         f"differ")
    diff = input - target
    return _reduce(diff * diff, reduction, "mse_loss")


def nll_loss(log_probs: Tensor, target, reduction="mean", ignore_index=-100) -> Tensor:
    """-log_probs[n, target[n]], averaged over the targets that are not ``ignore_index``.

    Shapes as PyTorch: log_probs (N, C) with target (N,); (C,) with a scalar target; or
    (N, C, d1, ...) with target (N, d1, ...).
    """
    if reduction not in _REDUCTIONS:
        raise ValueError(f"nll_loss: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    t = np.asarray(target.data if isinstance(target, Tensor) else target)
    out_shape = t.shape
    if t.dtype.kind not in "iu":
        raise TypeError(f"nll_loss: target must hold integer class indices, got dtype {t.dtype}")
    if log_probs.ndim == 1:
        log_probs, t = log_probs.reshape(1, -1), t.reshape(1)
    elif log_probs.ndim > 2:  # (N, C, d...) -> (N·d..., C)
        c = log_probs.shape[1]
        axes = (0,) + tuple(range(2, log_probs.ndim)) + (1,)
        log_probs = log_probs.permute(axes).reshape(-1, c)
        t = t.reshape(-1)
    n, c = log_probs.shape
    if t.shape != (n,):
        raise ValueError(f"nll_loss: input of shape {log_probs.shape} needs a target of shape "
                         f"({n},), got {t.shape}")
    valid = t != ignore_index
    safe = np.where(valid, t, 0)
    if ((safe < 0) | (safe >= c)).any():
        bad = int(safe[(safe < 0) | (safe >= c)][0])
        raise IndexError(f"nll_loss: target {bad} is out of range for {c} classes")
    picked = -log_probs[np.arange(n), safe]
    if not valid.all():
        picked = picked * Tensor(valid.astype(log_probs.dtype))
    if reduction == "none":
        return picked.reshape(out_shape)
    if reduction == "sum":
        return picked.sum()
    return picked.sum() * (1.0 / max(int(valid.sum()), 1))


def cross_entropy(logits: Tensor, target, reduction="mean", ignore_index=-100) -> Tensor:
    """nll_loss(log_softmax(logits, class dim), target): the stable form of -log softmax."""
    return nll_loss(logits.log_softmax(0 if logits.ndim == 1 else 1), target,
                    reduction=reduction, ignore_index=ignore_index)


def _reduce(x: Tensor, reduction: str, op: str) -> Tensor:
    if reduction == "mean":
        return x.mean()
    if reduction == "sum":
        return x.sum()
    if reduction == "none":
        return x
    raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
