"""Gradient clipping, as PyTorch's ``torch.nn.utils.clip_grad_norm_`` / ``clip_grad_value_``.

Norm-threshold clipping (Pascanu, Mikolov & Bengio 2013): with g all gradients together,

    if ‖g‖ > v:  g ← g · v / ‖g‖

computed as PyTorch does it: every gradient is multiplied by min(1, v / (‖g‖ + 1e-6)), so the
direction of the update is kept and only its length is capped. The optimizers' ``max_grad_norm``
option calls the same function.
"""
from __future__ import annotations

import math

import numpy as np

from .tensor import Tensor


def _with_grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p for p in parameters if p.grad is not None]


def total_grad_norm(grads, norm_type=2.0) -> float:
    """The norm of all gradients taken together (the norm of the per-array norms)."""
    norm_type = float(norm_type)
    if not grads:
        return 0.0
    if math.isinf(norm_type):
        return float(max(np.abs(g).max() if g.size else 0.0 for g in grads))
    norms = np.array([np.linalg.norm(g.reshape(-1), ord=norm_type) for g in grads])
    return float(np.linalg.norm(norms, ord=norm_type))


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False) -> float:
    """Scale the gradients of ``parameters`` in place so their total norm is at most ``max_norm``.

    Returns the total norm *before* clipping. Parameters without a gradient are skipped. With a
    NaN or Inf norm, ``error_if_nonfinite=True`` raises; otherwise, as in PyTorch, the gradients
    are multiplied by the (non-finite) coefficient.
    """
    params = _with_grads(parameters)
    grads = [p.grad.array for p in params]
    total = total_grad_norm(grads, norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the "
                           f"gradients is {total}, so they cannot be clipped; find where they "
                           f"become non-finite (tinygrad_rnn.detect_anomaly()), or pass "
                           f"error_if_nonfinite=False")
    coef = min(float(max_norm) / (total + 1e-6), 1.0) if not math.isnan(total) else math.nan
    for p in params:
        p.grad.array *= np.asarray(coef, dtype=p.grad.dtype)
    return total


def clip_grad_value_(parameters, clip_value) -> None:
    """Clamp every gradient element into [-clip_value, clip_value], in place."""
    clip_value = float(clip_value)
    for p in _with_grads(parameters):
        np.clip(p.grad.array, -clip_value, clip_value, out=p.grad.array)
