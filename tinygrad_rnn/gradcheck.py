"""Finite-difference checking of analytic gradients.

For a function ``fn`` of Tensors we form the scalar ``L = Σ u ⊙ fn(inputs)`` with a fixed random
``u`` (so every output element matters, whatever its shape), take the analytic gradient of ``L``
by ``backward()``, and compare it, element by element of every input that requires grad, with
the central difference ``(L(x + ε e_i) - L(x - ε e_i)) / 2ε``. Run it in float64.

:func:`gradgradcheck` checks the gradient of the gradient the same way: the function checked is
``(inputs, v) ↦ vᵀ ∂fn/∂inputs``, computed by ``autograd.grad(..., create_graph=True)``, with
respect to the inputs and to ``v`` (as PyTorch's ``gradgradcheck``).
"""
from __future__ import annotations

import numpy as np

from .autograd import grad
from .grad_mode import enable_grad, no_grad
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
    return _check(fn, inputs, eps, atol, rtol, seed, no_grad)


def gradgradcheck(fn, inputs, grad_outputs=None, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0) -> bool:
    """Check the second derivatives of ``fn(*inputs)`` by finite differences of its gradient.

    ``grad_outputs`` (one per floating output; random float64 if None) are the ``v`` of
    ``vᵀ ∂fn/∂inputs``, which is computed with ``create_graph=True`` and checked by
    :func:`gradcheck` w.r.t. the inputs that require grad and ``v``. Errors name the input as
    gradcheck's do: inputs first, then the ``v`` tensors.
    """
    inputs = list(inputs)
    n = len(inputs)
    wanted = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    outs = [o for o in _outputs(fn(*inputs)) if o.requires_grad]
    if grad_outputs is None:
        rng = np.random.default_rng(seed + 1)
        grad_outputs = [Tensor(np.asarray(rng.standard_normal(o.shape)), requires_grad=True)
                        for o in outs]
    grad_outputs = list(grad_outputs)

    def first_gradients(*args):
        xs, vs = args[:n], args[n:]
        outs = [o for o in _outputs(fn(*xs)) if o.requires_grad]
        grads = grad(outs, [xs[i] for i in wanted], list(vs), create_graph=True,
                     allow_unused=True)
        return tuple(g for g in grads if g is not None)

    return _check(first_gradients, inputs + grad_outputs, eps, atol, rtol, seed, enable_grad)


def _check(fn, inputs, eps, atol, rtol, seed, numeric_mode):
    """gradcheck; ``numeric_mode`` is the grad mode the finite differences evaluate ``fn`` in
    (gradgradcheck's ``fn`` takes a gradient, so it needs grad mode on)."""
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
        with numeric_mode():
            outs = _outputs(fn(*inputs))
        return sum(float(np.sum(w * o.array)) for w, o in zip(weights, outs))

    for i in checked:
        inputs[i].grad = None
        inputs[i].array = np.array(inputs[i].array, order="C")  # perturbed in place below
        # (a copy in C order; np.ascontiguousarray would turn a 0-d array into shape (1,))
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
