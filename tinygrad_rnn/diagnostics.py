"""Gradient diagnostics: ‖∂L/∂h_t‖ for every time step, the curve that shows vanishing and
exploding gradients.

Two ways to get the hidden states h_1 … h_T of an unrolled run:

- your own loop over a cell: keep each ``h`` in a list and call ``h.retain_grad()``;
- a built-in layer (``nn.RNN``/``LSTM``/``GRU``): :func:`hidden_states` finds the per-step states
  that the layer stacked into its output, by reading the recorded graph, and watches them.

After ``loss.backward()``, :func:`grad_norms` gives ‖∂L/∂h_t‖ per t. This is the *total*
gradient: through the output at step t and through every later step.
"""
from __future__ import annotations

import numpy as np

from .graphview import GraphView
from .nn.labels import H_T, Layer
from .tensor import Tensor


class StateGrad:
    """The gradient reaching one hidden state h_t of a layer's unrolled loop: ``.grad`` (summed
    over backward calls, like a Tensor's), ``.shape``, and the ``node`` that computed h_t. The
    layer no longer holds h_t itself (the graph keeps only what backward needs), so this watches
    the node's output with a hook instead of keeping the Tensor."""

    def __init__(self, node, index):
        self.node, self.index = node, index
        self.shape = node.output_meta[index][0]
        self.grad = None
        node.register_hook(index, self._receive)

    def _receive(self, g):
        self.grad = np.array(g, copy=True) if self.grad is None else self.grad + g

    def __repr__(self):
        return f"<StateGrad of {self.node.name} output {self.index} {self.shape}>"


def hidden_states(output: Tensor, direction: int = 0) -> list:
    """The per-step hidden states behind a recurrent layer's ``output``, oldest first, as
    :class:`StateGrad` watchers whose ``.grad`` fills in during ``backward()``. Call it before
    ``backward()``; calling it twice gives two independent sets of watchers.

    ``output`` is the first value a layer returns ((T, B, D·H), batch-first or not, or anything
    computed from it); ``direction`` 1 picks the reverse direction of a bidirectional layer. The
    states are found by what the layer records, not by how it reshapes its output: the nodes
    labelled ``h_t`` inside a time step (``nn.labels.Step``) of the layer's last layer
    (``nn.labels.Layer``), read through the graph view.
    """
    loops = {loop: steps for loop, steps in GraphView(output).states(H_T).items()
             if loop and isinstance(loop[-1], Layer)}
    if not loops:
        raise ValueError("hidden_states: output was not produced by a recurrent layer's "
                         "time steps (did you pass the layer's first return value? For a loop "
                         "over a cell, keep each h and call h.retain_grad())")
    # the module that ran last (its newest h_t), and in it the last layer
    newest = max(loops, key=lambda loop: max(n.id for n in loops[loop].values()))
    module = newest[:-1]
    top = max(loop[-1].layer for loop in loops if loop[:-1] == module)
    directions = sorted((loop for loop in loops if loop[:-1] == module and loop[-1].layer == top),
                        key=lambda loop: loop[-1].reverse)
    if direction >= len(directions):
        raise ValueError(f"hidden_states: direction {direction} requested, the layer has "
                         f"{len(directions)}")
    steps = loops[directions[direction]]
    return [StateGrad(steps[t], 0) for t in sorted(steps)]


def grad_norms(states) -> np.ndarray:
    """‖∂L/∂h_t‖₂ for each state (over the whole batch); 0 where no gradient reached it."""
    return np.array([0.0 if h.grad is None else float(np.linalg.norm(h.grad)) for h in states])
