"""Stateless functions on Tensors, with PyTorch's names (``torch.nn.functional``)."""
from __future__ import annotations

import numpy as np

from ..random import get_rng
from .. import ops
from ..engine import apply
from ..tensor import Tensor, where

_REDUCTIONS = ("mean", "sum", "none")


def relu(x: Tensor) -> Tensor:
    return x.relu()


def tanh(x: Tensor) -> Tensor:
    return x.tanh()


def sigmoid(x: Tensor) -> Tensor:
    return x.sigmoid()


def leaky_relu(x: Tensor, negative_slope=0.01) -> Tensor:
    return where(x.array > 0, x, x * negative_slope)


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
    diff = input - _like(target, input, "mse_loss")
    return _reduce(diff * diff, reduction, "mse_loss")


def nll_loss(log_probs: Tensor, target, weight=None, reduction="mean", ignore_index=-100) -> Tensor:
    """-weight[target[n]]·log_probs[n, target[n]], averaged (``mean``) over the targets that are
    not ``ignore_index``, divided by the sum of their weights — PyTorch's definition.

    Shapes as PyTorch: log_probs (N, C) with target (N,); (C,) with a scalar target; or
    (N, C, d1, ...) with target (N, d1, ...). ``weight``: (C,) class weights.
    """
    log_probs, out_shape, valid, safe, w = _class_targets(log_probs, target, weight, ignore_index,
                                                          "nll_loss", reduction)
    n = log_probs.shape[0]
    picked = -log_probs[np.arange(n), safe]
    if w is not None or not valid.all():
        picked = picked * Tensor(_target_weights(w, safe, valid, log_probs.dtype))
    if reduction == "none":
        return picked.reshape(out_shape)
    if reduction == "sum":
        return picked.sum()
    return _mean_over(picked.sum(), _weight_total(w, safe, valid))


def _mean_over(total, count):
    """total / count; with nothing counted (every target ignored) NaN with zero gradients,
    as PyTorch."""
    if count == 0:
        return total * 0.0 + Tensor(np.array(np.nan, dtype=total.dtype))
    return total * (1.0 / count)


def _class_targets(log_probs, target, weight, ignore_index, op, reduction):
    """Flatten (N, C, d…) to (N·d…, C) and check the targets. Returns log_probs, the shape of
    an unreduced loss, the mask of counted targets, targets safe to index with, and the class
    weights as an array (or None)."""
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    t = np.asarray(target.array if isinstance(target, Tensor) else target)
    out_shape = t.shape
    if t.dtype.kind not in "iu":
        raise TypeError(f"{op}: target must hold integer class indices, got dtype {t.dtype}")
    if log_probs.ndim == 1:
        log_probs, t = log_probs.reshape(1, -1), t.reshape(1)
    elif log_probs.ndim > 2:  # (N, C, d...) -> (N·d..., C)
        c = log_probs.shape[1]
        axes = (0,) + tuple(range(2, log_probs.ndim)) + (1,)
        log_probs = log_probs.permute(axes).reshape(-1, c)
        t = t.reshape(-1)
    n, c = log_probs.shape
    if t.shape != (n,):
        raise ValueError(f"{op}: input of shape {log_probs.shape} needs a target of shape "
                         f"({n},), got {t.shape}")
    w = None
    if weight is not None:
        w = np.asarray(weight.array if isinstance(weight, Tensor) else weight, dtype=log_probs.dtype)
        if w.shape != (c,):
            raise ValueError(f"{op}: weight must have shape ({c},) (one per class), got {w.shape}")
    valid = t != ignore_index
    safe = np.where(valid, t, 0)
    if ((safe < 0) | (safe >= c)).any():
        bad = int(safe[(safe < 0) | (safe >= c)][0])
        raise IndexError(f"{op}: target {bad} is out of range for {c} classes")
    return log_probs, out_shape, valid, safe, w


def _target_weights(w, safe, valid, dtype):
    per = np.ones(safe.shape, dtype) if w is None else w[safe]
    return np.where(valid, per, 0).astype(dtype)


def _weight_total(w, safe, valid):
    """What ``mean`` divides by: the summed weights of the counted targets."""
    return float(_target_weights(w, safe, valid, np.float64).sum())


def cross_entropy(logits: Tensor, target, weight=None, reduction="mean", ignore_index=-100,
                  label_smoothing=0.0) -> Tensor:
    """nll_loss(log_softmax(logits), target): the stable form of -log softmax.

    ``label_smoothing`` ε mixes in the uniform distribution as PyTorch does:
    (1 - ε)·nll + ε/C · Σ_c -weight[c]·log p_c, the second term reduced like the first (for
    ``mean`` with weights: divided by the summed weights of the targets).
    """
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    log_probs = logits.log_softmax(0 if logits.ndim == 1 else 1)
    nll = nll_loss(log_probs, target, weight, reduction, ignore_index)
    if label_smoothing == 0.0:
        return nll
    lp, out_shape, valid, safe, w = _class_targets(log_probs, target, weight, ignore_index,
                                                   "cross_entropy", reduction)
    spread = lp if w is None else lp * Tensor(w)
    smooth = -spread.sum(1) * Tensor(valid.astype(lp.dtype))
    if reduction == "none":
        smooth = smooth.reshape(out_shape)
    elif reduction == "sum":
        smooth = smooth.sum()
    else:
        smooth = _mean_over(smooth.sum(), _weight_total(w, safe, valid))
    return nll * (1 - label_smoothing) + smooth * (label_smoothing / lp.shape[1])


def binary_cross_entropy(input: Tensor, target, weight=None, reduction="mean") -> Tensor:
    """-(y·log x + (1 - y)·log(1 - x)) for probabilities x; each log is clamped at -100, as
    PyTorch does, so x = 0 or 1 gives a large finite loss instead of inf."""
    target = _like(target, input, "binary_cross_entropy")
    if ((input.array < 0) | (input.array > 1)).any():
        raise ValueError("binary_cross_entropy: input values must be probabilities in [0, 1]; "
                         "for logits use binary_cross_entropy_with_logits")
    with np.errstate(divide="ignore"):
        log_x, log_1mx = input.log().clamp(min=-100), (1 - input).log().clamp(min=-100)
    loss = -(target * log_x + (1 - target) * log_1mx)
    if weight is not None:
        loss = loss * _like(weight, input, "binary_cross_entropy", check_shape=False)
    return _reduce(loss, reduction, "binary_cross_entropy")


def binary_cross_entropy_with_logits(input: Tensor, target, weight=None, reduction="mean",
                                     pos_weight=None) -> Tensor:
    """BCE of σ(x) computed from the logits x without forming σ(x):
    (1 - y)·x + (1 + (p - 1)·y)·softplus(-x), p = ``pos_weight`` (1 if None). Stable for any x."""
    target = _like(target, input, "binary_cross_entropy_with_logits")
    scale = 1.0
    if pos_weight is not None:
        pw = _like(pos_weight, input, "binary_cross_entropy_with_logits", check_shape=False)
        scale = (pw - 1) * target + 1
    loss = (1 - target) * input + scale * softplus(-input)
    if weight is not None:
        loss = loss * _like(weight, input, "binary_cross_entropy_with_logits", check_shape=False)
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")


def l1_loss(input: Tensor, target, reduction="mean") -> Tensor:
    """mean(|input - target|) (or sum / none); the gradient at a tie is 0, as PyTorch."""
    return _reduce((input - _like(target, input, "l1_loss")).abs(), reduction, "l1_loss")


def softplus(x: Tensor) -> Tensor:
    """log(1 + eˣ), without overflow."""
    return apply(ops.Softplus, x)


def _like(value, input, op, check_shape=True):
    t = value if isinstance(value, Tensor) else Tensor(np.asarray(value, dtype=input.dtype))
    if check_shape and t.shape != input.shape:
        raise ValueError(f"{op}: input shape {input.shape} and target shape {t.shape} differ")
    return t


def _reduce(x: Tensor, reduction: str, op: str) -> Tensor:
    if reduction == "mean":
        return x.mean()
    if reduction == "sum":
        return x.sum()
    if reduction == "none":
        return x
    raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
