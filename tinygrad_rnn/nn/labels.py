"""The names recurrent cells and layers write into the graph, defined in one place.

``nn/rnn.py`` writes them; the graph view (and through it the renderer, the explorer and the
gradient diagnostics) reads them. A picture tool never guesses a time step or a layer from how a
name is spelled: it asks a scope element whether it is a :class:`Step` or a :class:`Layer`.
"""
from __future__ import annotations

# labels on nodes (Tensor.named) and on the zero initial states
H_T, C_T = "h_t", "c_t"          # a step's new hidden state and (LSTM) cell state
H_0, C_0 = "h_0", "c_0"          # the initial states a layer or cell makes when none is given
FORGET_GATE, INPUT_GATE, OUTPUT_GATE = "forget gate", "input gate", "output gate"
CELL_CANDIDATE = "cell candidate"
RESET_GATE, UPDATE_GATE, CANDIDATE_N = "reset gate", "update gate", "candidate n"


class _Marker(str):
    """A scope element that is an ordinary string (``"/".join(scope)`` and equality work as for
    any name) and also says what it marks. ``str()`` keeps it as it is, so ``tg.scope`` (which
    calls ``str`` on its argument) records the marker itself."""

    def __str__(self):
        return self


class Step(_Marker):
    """One time step of a recurrent loop: ``t`` is its number. A layer enters ``Step(t)`` for
    each step of its loop; a cell enters one each time it is called (step 0 when its states are
    fresh, else one more than its previous call), so a hand-written loop over a cell records the
    same steps as a layer."""

    def __new__(cls, t: int):
        self = super().__new__(cls, f"t{t}")
        self.t = t
        return self

    def __reduce__(self):
        return Step, (self.t,)


class Layer(_Marker):
    """One layer and direction of a multi-layer recurrent module: ``layer`` (0 at the input),
    ``reverse`` (the backward direction of a bidirectional layer)."""

    def __new__(cls, layer: int, reverse: bool = False):
        self = super().__new__(cls, f"l{layer}" + ("_reverse" if reverse else ""))
        self.layer, self.reverse = layer, bool(reverse)
        return self

    def __reduce__(self):
        return Layer, (self.layer, self.reverse)


def step_of(scope) -> int | None:
    """The index in ``scope`` (a node's scope path) of its time step, or None."""
    for i, part in enumerate(scope):
        if isinstance(part, Step):
            return i
    return None
