"""Finite-difference checking of analytic gradients.

For a function ``fn`` of Tensors we form the scalar ``L = Σ u ⊙ fn(inputs)`` with a fixed random
``u`` (so every output element matters, whatever its shape), take the analytic gradient of ``L``
by ``backward()``, and compare it, element by element of every input that requires grad, with
the central difference ``(L(x + ε e_i) - L(x - ε e_i)) / 2ε``. Run it in float64.
"""
from __future__ import annotations

import numpy as np

from .grad_mode import no_grad
from .tensor import Tensor


class GradcheckError(AssertionError):
    """The analytic and numeric gradients disagree."""


def _outputs(result):
    return [r for r in (result if isinstance(result, (tuple, list)) else (result,))
            if isinstance(r, Tensor) and r.dtype.kind == "f"]


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0) -> bool:
    """Check ``fn(*inputs)``'s gradient w.r.t. every input Tensor that requires grad.

    Returns True, or raises :class:`GradcheckError` naming the input, the index, and the analytic
    and numeric values. Inputs should be float64: in float32 the differences drown in rounding.
    """
    inputs = list(inputs)
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad, nothing to check")
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise TypeError(f"gradcheck: input {i} has dtype {inputs[i].dtype}; use float64 "
                            f"(float32 rounding swamps the finite differences)")
    rng = np.random.default_rng(seed)
    weights = [rng.standard_normal(o.shape) for o in _outputs(fn(*inputs))]

    def loss_value():
        with no_grad():
            outs = _outputs(fn(*inputs))
        return sum(float(np.sum(w * o.array)) for w, o in zip(weights, outs))

    for i in checked:
        inputs[i].grad = None
        inputs[i].array = np.ascontiguousarray(inputs[i].array)  # perturbed in place below
    outs = _outputs(fn(*inputs))
    total = None
    for w, o in zip(weights, outs):
        term = (o * Tensor(w)).sum()
        total = term if total is None else total + term
    if total is None or not total.requires_grad:
        raise ValueError("gradcheck: fn's output does not depend on any input that requires grad")
    total.backward()

    for i in checked:
        x = inputs[i]
        analytic = np.zeros(x.shape) if x.grad is None else x.grad.array.copy()
        flat = x.array.reshape(-1)  # a view: perturb in place, then restore
        for j in range(flat.size):
            old = flat[j]
            flat[j] = old + eps
            plus = loss_value()
            flat[j] = old - eps
            minus = loss_value()
            flat[j] = old
            numeric = (plus - minus) / (2 * eps)
            a = analytic.reshape(-1)[j]
            if not abs(a - numeric) <= atol + rtol * abs(numeric):
                index = np.unravel_index(j, x.shape) if x.ndim else ()
                raise GradcheckError(
                    f"gradcheck: input {i} (shape {x.shape}) at index {tuple(int(k) for k in index)}: "
                    f"analytic {a:.10g} vs numeric {numeric:.10g} "
                    f"(difference {abs(a - numeric):.3g} > atol {atol} + rtol {rtol}·|numeric|)")
    return True
