"""Gradient diagnostics: ‖∂L/∂h_t‖ for every time step, the curve that shows vanishing and
exploding gradients.

Two ways to get the hidden states h_1 … h_T of an unrolled run:

- your own loop over a cell: keep each ``h`` in a list and call ``h.retain_grad()``;
- a built-in layer (``nn.RNN``/``LSTM``/``GRU``): :func:`hidden_states` finds the per-step states
  that the layer stacked into its output, by reading the recorded graph.

After ``loss.backward()``, :func:`grad_norms` gives ‖∂L/∂h_t‖ per t. This is the *total*
gradient: through the output at step t and through every later step.
"""
from __future__ import annotations

import numpy as np

from .tensor import Tensor


def hidden_states(output: Tensor, direction: int = 0) -> list:
    """The per-step hidden states behind a recurrent layer's ``output``, oldest first, each with
    ``retain_grad()`` set. Call before ``backward()``.

    ``output`` is the first value a layer returns ((T, B, D·H), batch-first or not);
    ``direction`` 1 picks the reverse direction of a bidirectional layer.
    """
    node = output.node
    stacks = []
    pending = [node]
    # Walk back through the reshaping a layer does after its loop (transpose for batch_first,
    # cat of the two directions, squeeze for unbatched input) to the stack of h_t.
    while pending:
        n = pending.pop(0)
        if n is None:
            continue
        if n.name == "stack":
            stacks.append(n)
        elif n.name in ("permute", "reshape", "cat", "mul"):  # mul: dropout on the output
            pending.extend(p.node for p in n.parents)
    if not stacks:
        raise ValueError("hidden_states: output was not produced by a recurrent layer's "
                         "stack of time steps (did you pass the layer's first return value?)")
    if direction >= len(stacks):
        raise ValueError(f"hidden_states: direction {direction} requested, the layer has "
                         f"{len(stacks)}")
    states = list(stacks[direction].parents)
    for h in states:
        h.retain_grad()
    return states


def grad_norms(states) -> np.ndarray:
    """‖∂L/∂h_t‖₂ for each state (over the whole batch); 0 where no gradient reached it."""
    return np.array([0.0 if h.grad is None else float(np.linalg.norm(h.grad)) for h in states])
