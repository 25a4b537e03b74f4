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

from .engine import Node
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

    ``output`` is the first value a layer returns ((T, B, D·H), batch-first or not);
    ``direction`` 1 picks the reverse direction of a bidirectional layer.
    """
    stacks, pending = [], [output.node]
    # Walk back through the reshaping a layer does after its loop (transpose for batch_first,
    # cat of the two directions, squeeze for unbatched input) to the stack of h_t.
    while pending:
        n = pending.pop(0)
        if n is None:
            continue
        if n.name == "stack":
            stacks.append(n)
        elif n.name in ("permute", "reshape", "cat", "mul"):  # mul: dropout on the output
            pending.extend(src for src, _ in n.edges if isinstance(src, Node))
    if not stacks:
        raise ValueError("hidden_states: output was not produced by a recurrent layer's "
                         "stack of time steps (did you pass the layer's first return value?)")
    if direction >= len(stacks):
        raise ValueError(f"hidden_states: direction {direction} requested, the layer has "
                         f"{len(stacks)}")
    return [StateGrad(src, index) for src, index in stacks[direction].edges]


def grad_norms(states) -> np.ndarray:
    """‖∂L/∂h_t‖₂ for each state (over the whole batch); 0 where no gradient reached it."""
    return np.array([0.0 if h.grad is None else float(np.linalg.norm(h.grad)) for h in states])
