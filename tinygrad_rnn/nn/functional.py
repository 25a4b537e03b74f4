"""Stateless functions on Tensors, with PyTorch's names (``torch.nn.functional``)."""
from __future__ import annotations

import math

import numpy as np

from ..random import get_rng
from .. import ops
from ..engine import apply
from ..grad_mode import scope
from ..tensor import Tensor, cat, where

_REDUCTIONS = ("mean", "sum", "none")


def relu(x: Tensor, inplace=False) -> Tensor:
    """max(x, 0); ``inplace=True`` writes it into x (as x·[x > 0], the same gradient)."""
    return _scale_in_place(x, np.asarray(x) > 0) if inplace else x.relu()


def tanh(x: Tensor) -> Tensor:
    return x.tanh()


def sigmoid(x: Tensor) -> Tensor:
    return x.sigmoid()


def leaky_relu(x: Tensor, negative_slope=0.01, inplace=False) -> Tensor:
    if inplace:
        return _scale_in_place(x, np.where(np.asarray(x) > 0, 1.0, negative_slope))
    return where(np.asarray(x) > 0, x, x * negative_slope)


def _scale_in_place(x, factor):
    """x ← x·factor (a constant array), recorded as PyTorch records an in-place op (refused on a
    leaf that requires grad)."""
    return x.mul_(Tensor(np.asarray(factor, dtype=x.dtype)))


def softmax(x: Tensor, dim: int) -> Tensor:
    return x.softmax(dim)


def log_softmax(x: Tensor, dim: int) -> Tensor:
    return x.log_softmax(dim)


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x Wᵀ + b, for x of shape (..., in) and W of shape (out, in): one primitive op (which
    checks the shapes)."""
    return apply(ops.Linear, x, weight) if bias is None else apply(ops.Linear, x, weight, bias)


def dropout(x: Tensor, p=0.5, training=True, inplace=False) -> Tensor:
    """Zero each element with probability p and scale the rest by 1/(1-p) (inverted dropout);
    ``inplace=True`` writes the result into x."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return _scale_in_place(x, np.zeros(x.shape)) if inplace else x * 0.0
    keep = (get_rng().random(x.shape) >= p).astype(x.dtype) / np.asarray(1.0 - p, x.dtype)
    return _scale_in_place(x, keep) if inplace else x * Tensor(keep)


def mse_loss(input: Tensor, target, reduction="mean") -> Tensor:
    """mean((input - target)²) (or sum / none)."""
    diff = input - _like(target, input, "mse_loss")
    return _reduce(diff * diff, reduction, "mse_loss")


def nll_loss(log_probs: Tensor, target, weight=None, reduction="mean", ignore_index=-100) -> Tensor:
    """-weight[target[n]]·log_probs[n, target[n]], averaged (``mean``) over the targets that are
    not ``ignore_index``, divided by the sum of their weights — PyTorch's definition.

    Shapes as PyTorch: log_probs (N, C) with target (N,); (C,) with a scalar target; or
    (N, C, d1, ...) with target (N, d1, ...). ``weight``: (C,) class weights. One primitive
    (``ops.NLLLoss``) that takes the targets as an input: their values are read inside it.
    """
    lp, t, out_shape, w = _class_targets(log_probs, target, weight, "nll_loss", reduction)
    loss = apply(ops.NLLLoss, lp, t, weight=w, ignore_index=ignore_index, reduction=reduction)
    return loss.reshape(out_shape) if reduction == "none" else loss


def _class_targets(log_probs, target, weight, op, reduction):
    """Flatten (N, C, d…) to (N·d…, C) and check the targets' dtype and shape (not their values:
    the primitive does, so a jit record does not hold them). Returns log_probs, the targets as
    an (N·d…,) Tensor, the shape of an unreduced loss, and the class weights as an array (or
    None)."""
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    t = target if isinstance(target, Tensor) else Tensor(np.asarray(target))
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
    return log_probs, t, out_shape, w


def cross_entropy(logits: Tensor, target, weight=None, reduction="mean", ignore_index=-100,
                  label_smoothing=0.0) -> Tensor:
    """nll_loss(log_softmax(logits), target): the stable form of -log softmax.

    ``label_smoothing`` ε mixes in the uniform distribution as PyTorch does:
    (1 - ε)·nll + ε/C · Σ_c -weight[c]·log p_c, the second term reduced like the first (for
    ``mean`` with weights: divided by the summed weights of the targets). A floating-point
    ``target`` of the logits' shape holds class probabilities instead of indices.
    """
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    log_probs = logits.log_softmax(0 if logits.ndim == 1 else 1)
    target_dtype = target.dtype if isinstance(target, Tensor) else np.asarray(target).dtype
    if target_dtype.kind == "f" and tuple(np.shape(target)) == logits.shape:
        return _soft_cross_entropy(log_probs, target, weight, reduction, label_smoothing)
    nll = nll_loss(log_probs, target, weight, reduction, ignore_index)
    if label_smoothing == 0.0:
        return nll
    lp, t, out_shape, w = _class_targets(log_probs, target, weight, "cross_entropy", reduction)
    smooth = apply(ops.SmoothLoss, lp, t, weight=w, ignore_index=ignore_index,
                   reduction=reduction)
    if reduction == "none":
        smooth = smooth.reshape(out_shape)
    return nll * (1 - label_smoothing) + smooth * (label_smoothing / lp.shape[1])


def _soft_cross_entropy(log_probs, target, weight, reduction, smoothing):
    """Class probabilities y as the target (PyTorch's second form): -Σ_c weight_c·y_c·log p_c
    for each sample, y first mixed with the uniform distribution by ``label_smoothing``;
    ``mean`` divides by the number of samples (not by the weights)."""
    if reduction not in _REDUCTIONS:
        raise ValueError(f"cross_entropy: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    cdim = 0 if log_probs.ndim == 1 else 1
    c = log_probs.shape[cdim]
    y = _like(target, log_probs, "cross_entropy (class probabilities as target)")
    if smoothing:
        y = y * (1 - smoothing) + smoothing / c
    term = log_probs * y
    if weight is not None:
        w = np.asarray(weight, dtype=log_probs.dtype)
        if w.shape != (c,):
            raise ValueError(f"cross_entropy: weight must have shape ({c},) (one per class), "
                             f"got {w.shape}")
        term = term * Tensor(w.reshape((c,) + (1,) * (log_probs.ndim - cdim - 1)))
    return _reduce(-term.sum(cdim), reduction, "cross_entropy")


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
    loss = (1 - target) * input + scale * apply(ops.Softplus, -input)  # no threshold, as PyTorch
    if weight is not None:
        loss = loss * _like(weight, input, "binary_cross_entropy_with_logits", check_shape=False)
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")


def l1_loss(input: Tensor, target, reduction="mean") -> Tensor:
    """mean(|input - target|) (or sum / none); the gradient at a tie is 0, as PyTorch."""
    return _reduce((input - _like(target, input, "l1_loss")).abs(), reduction, "l1_loss")


def softplus(x: Tensor, beta=1.0, threshold=20.0) -> Tensor:
    """log(1 + e^(βx)) / β, without overflow; where βx > ``threshold`` it is x itself (as
    PyTorch: value x, gradient 1)."""
    bx = x if beta == 1.0 else x * beta
    soft = apply(ops.Softplus, bx)
    soft = soft if beta == 1.0 else soft * (1.0 / beta)
    return where(np.asarray(bx) > threshold, x, soft)


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


# ---------------------------------------------------------------- more of torch.nn.functional

_erf = np.frompyfunc(math.erf, 1, 1)


def gelu(input: Tensor, approximate="none") -> Tensor:
    """x·Φ(x), Φ the standard normal CDF ½(1 + erf(x/√2)) (``approximate="none"``), or the
    tanh form ½x(1 + tanh(√(2/π)(x + 0.044715x³))) (``"tanh"``), as PyTorch.

    erf is not a primitive here, so Φ(x) is recorded as its value (a constant) plus
    (x - x̄)·φ(x), x̄ = x detached: a term that is zero in value and carries Φ's derivative
    φ(x) = e^(-x²/2)/√(2π) into the graph. First derivatives are exact; second derivatives
    through it are not (they would need erf as a primitive op). The tanh form has no such limit.
    """
    if approximate == "tanh":
        inner = (input + input * input * input * 0.044715) * math.sqrt(2.0 / math.pi)
        return input * 0.5 * (inner.tanh() + 1)
    if approximate != "none":
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    x = np.asarray(input, dtype=np.float64)
    cdf = (0.5 * (1.0 + np.asarray(_erf(x * math.sqrt(0.5)), np.float64))).astype(input.dtype)
    pdf = (np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)).astype(input.dtype)
    phi = (Tensor(cdf) + (input - input.detach()) * Tensor(pdf)).named("Φ(x)")
    return input * phi


def layer_norm(input: Tensor, normalized_shape, weight=None, bias=None, eps=1e-5) -> Tensor:
    """(x - mean) / √(var + eps) · weight + bias over the last ``len(normalized_shape)`` dims
    (biased variance, as PyTorch). ``weight`` and ``bias`` have ``normalized_shape``."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    n = len(shape)
    if n == 0 or input.shape[input.ndim - n:] != shape or input.ndim < n:
        raise ValueError(f"LayerNorm: input of shape {input.shape} does not end in the normalized "
                         f"shape {shape}")
    dims = tuple(range(-n, 0))
    centred = input - input.mean(dims, keepdim=True)
    var = (centred * centred).mean(dims, keepdim=True)
    y = centred / (var + eps).sqrt()
    if weight is not None:
        y = y * weight
    return y if bias is None else y + bias


def embedding(input, weight: Tensor, padding_idx=None, max_norm=None, norm_type=2.0,
              scale_grad_by_freq=False, sparse=False) -> Tensor:
    """Rows of ``weight`` (num_embeddings, dim) picked by the integer indices ``input`` (...):
    (..., dim). No gradient flows to the row ``padding_idx``. ``sparse=True`` is accepted and
    gives the same, dense, gradient."""
    if max_norm is not None or scale_grad_by_freq:
        raise NotImplementedError("embedding: max_norm and scale_grad_by_freq are not implemented "
                                  "here; renormalise the weight yourself under no_grad()")
    idx = input if isinstance(input, Tensor) else Tensor(np.asarray(input))
    if idx.dtype.kind not in "iu":
        raise TypeError(f"Embedding: indices must be integers, got dtype {idx.dtype}")
    if padding_idx is not None and padding_idx < 0:
        padding_idx += weight.shape[0]
    # one primitive taking the indices as an input; no gradient flows to the padding row
    return apply(ops.Embedding, weight, idx, padding_idx=padding_idx)


def one_hot(tensor, num_classes=-1) -> Tensor:
    """int64 (..., num_classes) with a 1 at each index; ``num_classes=-1``: max index + 1 (read
    from the values, so under tg.jit the input becomes static: give num_classes instead)."""
    idx = tensor if isinstance(tensor, Tensor) else Tensor(np.asarray(tensor))
    if idx.dtype.kind not in "iu":
        raise TypeError(f"one_hot: needs integer class indices, got dtype {idx.dtype}")
    if num_classes == -1:
        values = np.asarray(idx)
        if values.size == 0:
            raise ValueError("one_hot: cannot infer num_classes from an empty tensor")
        if values.min() < 0:
            raise ValueError(f"one_hot: class values must be non-negative, got {values.min()}")
        num_classes = int(values.max()) + 1
    return apply(ops.OneHot, idx, num_classes=int(num_classes))


def pad(input: Tensor, pad, mode="constant", value=None) -> Tensor:
    """Pad the last dims: ``pad = (left, right)`` for the last dim, then (left, right) for the
    one before, … A negative amount crops. Constant mode only (``value``, 0 by default)."""
    if mode != "constant":
        raise NotImplementedError(f"pad: mode {mode!r} is not implemented here; only 'constant'")
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise ValueError(f"pad: needs (left, right) pairs for at most {input.ndim} dims of an "
                         f"input of shape {input.shape}, got {pad}")
    out, fill = input, 0 if value is None else value
    for i in range(len(pad) // 2):
        axis, (left, right) = input.ndim - 1 - i, pad[2 * i:2 * i + 2]
        n = out.shape[axis]
        if n + min(left, 0) + min(right, 0) < 0:
            raise ValueError(f"pad: cropping {pad} leaves a negative size in dim {axis} of "
                             f"{input.shape}")
        if left < 0 or right < 0:  # crop first
            index = [slice(None)] * out.ndim
            index[axis] = slice(-min(left, 0), n + min(right, 0))
            out = out[tuple(index)]
        pieces = []
        for amount in (left, right):
            shape = list(out.shape)
            shape[axis] = max(amount, 0)
            pieces.append(Tensor(np.full(shape, fill, dtype=input.dtype)) if amount > 0 else None)
        parts = [t for t in (pieces[0], out, pieces[1]) if t is not None]
        out = cat(parts, axis) if len(parts) > 1 else out
    return out


def normalize(input: Tensor, p=2.0, dim=1, eps=1e-12) -> Tensor:
    """x / max(‖x‖_p, eps) along ``dim`` (as PyTorch)."""
    return input / input.norm(p, dim, keepdim=True).clamp(min=eps)


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor, attn_mask=None,
                                 dropout_p=0.0, is_causal=False, scale=None,
                                 enable_gqa=False) -> Tensor:
    """softmax(q·kᵀ·scale + mask)·v for q (..., L, E), k (..., S, E), v (..., S, Ev) → (..., L, Ev);
    ``scale`` defaults to 1/√E. ``attn_mask``: a bool mask (True = *may* attend, PyTorch's
    convention here) or a float mask added to the scores; ``is_causal``: the lower triangle.
    Dropout ``dropout_p`` always applies to the weights (as PyTorch's)."""
    if enable_gqa:
        raise NotImplementedError("scaled_dot_product_attention: enable_gqa is not implemented "
                                  "here; repeat the key and value heads yourself")
    L, S = query.shape[-2], key.shape[-2]
    masked = bias = None
    if is_causal:
        if attn_mask is not None:
            raise ValueError("scaled_dot_product_attention: give attn_mask or is_causal=True, "
                             "not both")
        masked = ~np.tril(np.ones((L, S), dtype=bool))
    elif attn_mask is not None:
        if _mask_dtype(attn_mask, "scaled_dot_product_attention").kind == "b":
            masked = ~np.asarray(attn_mask)
        else:
            bias = attn_mask
    return _attention(query, key, value, masked, bias, dropout_p, scale)[0]


def _mask_dtype(mask, op):
    dtype = np.asarray(mask).dtype if not isinstance(mask, Tensor) else mask.dtype
    if dtype.kind not in "bf":
        raise TypeError(f"{op}: only bool and floating point masks are supported, got {dtype}")
    return dtype


def _attention(q, k, v, masked=None, bias=None, dropout_p=0.0, scale=None):
    """The attention of the textbook, one primitive op per step, nodes named:
    scores = (q·scale)·kᵀ (+ bias, masked → -∞), weights = softmax(scores) (dropout),
    output = weights·v. ``masked`` is a bool array, True where a query may *not* attend; ``bias``
    a float mask added to the scores. Returns (output, weights)."""
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(f"attention: query {q.shape}, key {k.shape} and value {v.shape} need "
                         f"query and key of one feature size and key and value of one length")
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    with scope("attention"):
        scores = ((q * scale).named("q/√d") @ k.transpose(-2, -1).named("kᵀ")).named(
            "scores q·kᵀ/√d")
        if bias is not None:
            if not isinstance(bias, Tensor) or not bias.requires_grad:
                bias = Tensor(np.asarray(bias, dtype=scores.dtype))
            scores = (scores + bias).named("scores + mask")
        if masked is not None:
            scores = scores.masked_fill(masked, -math.inf).named("masked scores")
        weights = scores.softmax(-1).named("attention weights")
        if dropout_p > 0.0:
            weights = dropout(weights, dropout_p)
        return (weights @ v).named("attention output"), weights
