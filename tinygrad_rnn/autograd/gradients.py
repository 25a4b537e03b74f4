"""``grad(outputs, inputs, ...)``: the gradients of ``outputs`` with respect to ``inputs``,
returned rather than added into ``.grad`` (``torch.autograd.grad``).

It runs the engine's reverse sweep (``engine.backward``) with ``inputs`` as the places to collect
gradients at, leaves or intermediate tensors alike; no leaf's ``.grad`` changes. With
``create_graph=True`` the sweep is recorded, so the gradients are Tensors with a graph of their
own and can be differentiated again — to any order.
"""
from __future__ import annotations

import numpy as np

from ..engine import backward
from ..tensor import Tensor


def _as_tuple(x):
    return (x,) if isinstance(x, Tensor) else tuple(x)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=False, materialize_grads=False):
    """Σᵢ grad_outputsᵢ · ∂outputsᵢ/∂inputs for each input, as a tuple of Tensors.

    ``outputs``, ``inputs``: a Tensor or a sequence of them. ``grad_outputs``: one per output
    (None: ones, allowed for one-element outputs only). ``retain_graph`` defaults to
    ``create_graph``. An input the outputs do not depend on gets None with ``allow_unused=True``
    (zeros with ``materialize_grads=True``), otherwise an error, as in PyTorch.
    """
    outputs, inputs = _as_tuple(outputs), _as_tuple(inputs)
    if grad_outputs is None or isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs] * len(outputs) if grad_outputs is None else [grad_outputs]
    grad_outputs = list(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise RuntimeError(f"grad: grad_outputs has {len(grad_outputs)} entries for "
                           f"{len(outputs)} outputs")
    for i, out in enumerate(outputs):
        if not out.requires_grad:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not have "
                               f"a grad_fn")
    for x in inputs:
        if not x.requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    seeds = []
    for i, (out, v) in enumerate(zip(outputs, grad_outputs)):
        if v is None:
            if out.array.size != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            v = np.ones(out.shape, out.dtype)
        elif not (create_graph and isinstance(v, Tensor)):  # a Tensor may carry a graph
            v = np.asarray(v.array if isinstance(v, Tensor) else v, dtype=out.dtype)
        if v.shape != out.shape:
            raise RuntimeError(f"Mismatch in shape: grad_output[{i}] has a shape of {v.shape} "
                               f"and output[{i}] has a shape of {out.shape}.")
        seeds.append(v if not create_graph or isinstance(v, Tensor) else Tensor(v))
    retain = create_graph if retain_graph is None else retain_graph
    grads = backward(outputs, seeds, retain, create_graph, inputs)
    result = []
    for x, g in zip(inputs, grads):
        if g is None:
            if not (allow_unused or materialize_grads):
                raise RuntimeError("One of the differentiated Tensors appears to not have been "
                                   "used in the graph. Set allow_unused=True if this is the "
                                   "desired behavior.")
            if materialize_grads:
                g = Tensor(np.zeros(x.shape, x.dtype))
        elif not isinstance(g, Tensor):  # an array the sweep may share: the caller owns a copy
            g = Tensor(g, dtype=x.dtype)
        result.append(g)
    return tuple(result)
