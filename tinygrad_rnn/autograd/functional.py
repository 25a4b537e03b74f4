"""Jacobians, Hessians and their products, with ``torch.autograd.functional``'s signatures and
results: :func:`vjp`, :func:`jvp`, :func:`jacobian`, :func:`hessian`, :func:`vhp`, :func:`hvp`.

Everything here is reverse mode, built on :func:`~tinygrad_rnn.autograd.grad`: a Jacobian is one
vector-Jacobian product per output element, a Hessian the Jacobian of the gradient (taken with
``create_graph=True``), and the forward-mode products (``jvp``, ``hvp``) come from the
*double-VJP* construction: ``g(u) = Jᵀu`` is linear in a dummy cotangent ``u``, so its own VJP
with ``v`` is ``J v``.

``inputs`` is a Tensor or a tuple of Tensors, and results follow its form (a tuple for a tuple).
``create_graph=True`` makes the results differentiable; ``strict=True`` raises where an output
does not depend on an input instead of returning zeros; ``vectorize`` is accepted and computes
the same thing row by row.
"""
from __future__ import annotations

import numpy as np

from ..grad_mode import enable_grad
from ..tensor import Tensor, stack
from .gradients import grad


def _tuple(x, what, fn):
    if isinstance(x, Tensor):
        return False, (x,)
    if isinstance(x, (tuple, list)) and all(isinstance(t, Tensor) for t in x):
        return True, tuple(x)
    raise TypeError(f"{fn}: the {what} must be either a Tensor or a tuple of Tensors, got "
                    f"{type(x).__name__}")


def _prepare(inputs, create_graph, fn):
    """Inputs the function is differentiated at: with ``create_graph`` an input that requires
    grad stays in its graph (through a clone), otherwise a detached leaf that requires grad."""
    is_tuple, inputs = _tuple(inputs, "inputs", fn)
    with enable_grad():
        return is_tuple, tuple(x.clone() if create_graph and x.requires_grad
                               else x.detach().requires_grad_(True) for x in inputs)


def _outputs(func, inputs, fn):
    with enable_grad():
        result = func(*inputs)
    return _tuple(result, "outputs of the user-provided function", fn)


def _vectors(v, like, fn, what):
    """``v`` as a tuple matching ``like``'s shapes (None: ones, for one one-element tensor)."""
    if v is None:
        if len(like) != 1 or like[0].array.size != 1:
            raise RuntimeError(f"{fn}: the vector v can only be None if the {what} is a single "
                               f"Tensor with a single element")
        return (Tensor(np.ones(like[0].shape, like[0].dtype)),)
    _, v = _tuple(v, "vector v", fn)
    if len(v) != len(like) or any(a.shape != b.shape for a, b in zip(v, like)):
        raise RuntimeError(f"{fn}: v has shapes {[t.shape for t in v]}, expected those of the "
                           f"{what} {[t.shape for t in like]}")
    return v


def _grad(outputs, inputs, vs, create_graph, strict, fn, kind="output"):
    """grad with unused inputs as zeros (an error under ``strict``); outputs that do not
    require grad contribute nothing."""
    pairs = [(o, v) for o, v in zip(outputs, vs) if o.requires_grad]
    if pairs:
        grads = grad([o for o, _ in pairs], inputs, [v for _, v in pairs], retain_graph=True,
                     create_graph=create_graph, allow_unused=True)
    else:
        grads = (None,) * len(inputs)
    result = []
    for i, (x, g) in enumerate(zip(inputs, grads)):
        if g is None:
            if strict:
                raise RuntimeError(f"{fn}: the {kind} of the user-provided function is "
                                   f"independent of input {i}. This is not allowed in strict "
                                   f"mode.")
            g = Tensor(np.zeros(x.shape, x.dtype))
        result.append(g)
    return tuple(result)


def _finish(values, create_graph):
    return tuple(v if create_graph else v.detach() for v in values)


def _shape_like(is_tuple, values):
    return values if is_tuple else values[0]


def _check_flags(strict, vectorize, fn):
    if strict and vectorize:
        raise RuntimeError(f"{fn}: strict=True and vectorize=True are not supported together")


def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), vᵀ J): the vector-Jacobian product at ``inputs``; ``v`` has the outputs'
    shapes."""
    is_tuple, inputs = _prepare(inputs, create_graph, "vjp")
    out_tuple, outputs = _outputs(func, inputs, "vjp")
    v = _vectors(v, outputs, "vjp", "user-provided function's output")
    result = _grad(outputs, inputs, v, create_graph, strict, "vjp")
    return (_shape_like(out_tuple, _finish(outputs, create_graph)),
            _shape_like(is_tuple, _finish(result, create_graph)))


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), J v): the Jacobian-vector product at ``inputs``; ``v`` has the inputs'
    shapes.

    Computed by the double-VJP construction (as PyTorch's own ``jvp``): with a dummy cotangent
    ``u`` that requires grad, ``g = grad(outputs, inputs, u, create_graph=True) = Jᵀu`` is linear
    in ``u``, and ``grad(g, u, v) = J v``. It costs two reverse sweeps, no forward mode.
    """
    is_tuple, inputs = _prepare(inputs, create_graph, "jvp")
    out_tuple, outputs = _outputs(func, inputs, "jvp")
    v = _vectors(v, inputs, "jvp", "input to the user-provided function")
    dummies = tuple(Tensor(np.zeros(o.shape, o.dtype), requires_grad=True) for o in outputs)
    g = _grad(outputs, inputs, dummies, True, strict, "jvp")
    used = [(gi, vi) for gi, vi in zip(g, v) if gi.requires_grad]
    if used:
        result = _grad([gi for gi, _ in used], dummies, [vi for _, vi in used], create_graph,
                       False, "jvp")
    else:
        result = tuple(Tensor(np.zeros(o.shape, o.dtype)) for o in outputs)
    return (_shape_like(out_tuple, _finish(outputs, create_graph)),
            _shape_like(out_tuple, _finish(result, create_graph)))


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False,
             strategy="reverse-mode"):
    """∂outputs/∂inputs. For one output and one input a Tensor of shape
    ``output.shape + input.shape``; a tuple per input (or per output) when that side is a tuple;
    ``result[i][j]`` = ∂outputᵢ/∂inputⱼ when both are. One reverse sweep per output element."""
    _check_flags(strict, vectorize, "jacobian")
    if strategy != "reverse-mode":
        raise ValueError(f"jacobian: only strategy='reverse-mode' is implemented, got "
                         f"{strategy!r}")
    is_tuple, inputs = _prepare(inputs, create_graph, "jacobian")
    out_tuple, outputs = _outputs(func, inputs, "jacobian")
    rows = []
    for out in outputs:
        per_input = [[] for _ in inputs]
        for k in range(out.array.size):
            e = np.zeros(out.array.size, out.dtype)
            e[k] = 1
            grads = _grad([out], inputs, [Tensor(e.reshape(out.shape))], create_graph, strict,
                          "jacobian")
            for j, g in enumerate(grads):
                per_input[j].append(g)
        blocks = []
        for x, gs in zip(inputs, per_input):
            if not gs:
                block = Tensor(np.zeros(out.shape + x.shape, x.dtype))
            elif create_graph:
                block = stack(gs).reshape(out.shape + x.shape)
            else:
                block = Tensor(np.stack([g.array for g in gs]).reshape(out.shape + x.shape))
            blocks.append(block)
        rows.append(_shape_like(is_tuple, tuple(blocks)))
    return _shape_like(out_tuple, tuple(rows))


def hessian(func, inputs, create_graph=False, strict=False, vectorize=False,
            outer_jacobian_strategy="reverse-mode"):
    """∂²func/∂inputs² for a function returning one element: a Tensor of shape
    ``input.shape + input.shape``, or ``result[i][j]`` = ∂²f/∂inputᵢ∂inputⱼ for a tuple. The
    Jacobian of the gradient, the gradient taken with ``create_graph=True``."""
    _check_flags(strict, vectorize, "hessian")
    is_tuple, _ = _tuple(inputs, "inputs", "hessian")

    def gradient(*xs):
        _, outputs = _outputs(func, xs, "hessian")
        _check_scalar(outputs, "hessian")
        return _grad(outputs, xs, (None,), True, strict, "hessian")

    result = jacobian(gradient, inputs, create_graph, strict, False, outer_jacobian_strategy)
    return result if is_tuple else result[0]


def _check_scalar(outputs, fn):
    if len(outputs) != 1 or outputs[0].array.size != 1:
        raise RuntimeError(f"{fn}: the Tensor returned by the function given to {fn} should "
                           f"contain a single element")


def vhp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), vᵀ H): the vector-Hessian product of a one-element function."""
    is_tuple, inputs = _prepare(inputs, create_graph, "vhp")
    _, outputs = _outputs(func, inputs, "vhp")
    _check_scalar(outputs, "vhp")
    v = _vectors(v, inputs, "vhp", "input to the user-provided function")
    g = _grad(outputs, inputs, (None,), True, strict, "vhp")
    result = _second(g, inputs, v, create_graph, strict, "vhp")
    return _finish(outputs, create_graph)[0], _shape_like(is_tuple, _finish(result, create_graph))


def hvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), H v): the Hessian-vector product of a one-element function, by the
    double-VJP construction (the VJP of ``u ↦ Hᵀu`` with ``v``, as PyTorch's ``hvp``)."""
    is_tuple, inputs = _prepare(inputs, create_graph, "hvp")
    _, outputs = _outputs(func, inputs, "hvp")
    _check_scalar(outputs, "hvp")
    v = _vectors(v, inputs, "hvp", "input to the user-provided function")
    g = _grad(outputs, inputs, (None,), True, strict, "hvp")
    dummies = tuple(Tensor(np.zeros(x.shape, x.dtype), requires_grad=True) for x in inputs)
    back = _second(g, inputs, dummies, True, strict, "hvp")  # Hᵀu, linear in u
    result = _second(back, dummies, v, create_graph, False, "hvp")
    return _finish(outputs, create_graph)[0], _shape_like(is_tuple, _finish(result, create_graph))


def _second(gs, inputs, vs, create_graph, strict, fn):
    """grad of the gradients ``gs`` (those with a graph) with cotangents ``vs``."""
    used = [(g, v) for g, v in zip(gs, vs) if g.requires_grad]
    if not used:
        if strict:
            raise RuntimeError(f"{fn}: the jacobian of the user-provided function is "
                               f"independent of input 0. This is not allowed in strict mode.")
        return tuple(Tensor(np.zeros(x.shape, x.dtype)) for x in inputs)
    return _grad([g for g, _ in used], inputs, [v for _, v in used], create_graph, strict, fn,
                 "jacobian")
