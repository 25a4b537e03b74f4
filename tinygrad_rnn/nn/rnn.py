"""Recurrent cells and layers, built only from Tensor primitives.

No layer here has a backward of its own: backpropagation through time is the engine's ordinary
backward through the unrolled loop, and truncated BPTT is ``detach()`` on the carried state.

The equations, parameter names, shapes, gate order and initialisation are PyTorch's, so a
``state_dict()`` moves to ``torch.nn.LSTM`` and back unchanged. With x the input, h the hidden
state, and each ``W·`` a block of rows of ``weight_ih`` / ``weight_hh``:

RNN    h' = act(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh)                  act = tanh or relu
LSTM   i, f, g, o = split(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh)         gates in this order
       c' = σ(f)·c + σ(i)·tanh(g)          h' = σ(o)·tanh(c')
       forget_gate=False (Hochreiter & Schmidhuber 1997): no f rows; c' = c + σ(i)·tanh(g)
GRU    r = σ(x W_irᵀ + b_ir + h W_hrᵀ + b_hr)      z = σ(x W_izᵀ + b_iz + h W_hzᵀ + b_hz)
       n = tanh(x W_inᵀ + b_in + r·(h W_hnᵀ + b_hn))              h' = (1 - z)·n + z·h

For speed the layers compute the input projection x W_ihᵀ + b of *all* time steps in one
``linear`` op before the loop, and all gates of a step come from one ``linear`` op followed by a
``split`` whose backward writes the gate gradients back in one piece. The gate activations and
states are named (``input gate``, ``forget gate``, ``c_t``, ``h_t``, …) for the renderer.

A layer also takes a ``PackedSequence`` (see ``nn.utils.rnn``): step t then runs on the
``batch_sizes[t]`` sequences still active (rows are sliced off the state as sequences end, so
step t's ops have exactly that many rows), ``h_n``/``c_n`` hold each sequence's state at its
own last step, and the reverse direction starts each sequence at its own end.
"""
from __future__ import annotations

import math

import numpy as np

from .. import Tensor, cat, scope, stack
from . import functional as F
from . import init
from .module import Module, Parameter
from .utils.rnn import PackedSequence

# ---------------------------------------------------------------- one step of each cell
# ``gi`` is the input projection x W_ihᵀ (+ biases already folded in); ``w_hh`` is W_hh, used
# through ``linear`` (h W_hhᵀ + b_hh in one op).


def rnn_step(gi, h, w_hh, b_hh, nonlinearity):
    pre = gi + F.linear(h, w_hh, b_hh)
    return (pre.tanh() if nonlinearity == "tanh" else pre.relu()).named("h_t")


def lstm_step(gi, h, c, w_hh, b_hh, forget_gate=True):
    gates = gi + F.linear(h, w_hh, b_hh)
    if forget_gate:
        i, f, g, o = gates.chunk(4, -1)
        f = f.sigmoid().named("forget gate")
    else:
        i, g, o = gates.chunk(3, -1)
    i = i.sigmoid().named("input gate")
    g = g.tanh().named("cell candidate")
    c = (f * c + i * g if forget_gate else c + i * g).named("c_t")
    o = o.sigmoid().named("output gate")
    return (o * c.tanh()).named("h_t"), c


def gru_step(gi, h, w_hh, b_hh):
    gh = F.linear(h, w_hh, b_hh)
    i_r, i_z, i_n = gi.chunk(3, -1)
    h_r, h_z, h_n = gh.chunk(3, -1)
    r = (i_r + h_r).sigmoid().named("reset gate")
    z = (i_z + h_z).sigmoid().named("update gate")
    n = (i_n + r * h_n).tanh().named("candidate n")
    return (n + z * (h - n)).named("h_t")  # = (1 - z)·n + z·h, with one op fewer


def _check_dtype(layer, x, weight):
    if x.dtype != weight.dtype:
        raise TypeError(f"{layer}: input dtype {x.dtype} does not match the weights' dtype "
                        f"{weight.dtype}; convert the model with .double() / .float() (or the "
                        f"input with .double() / .float())")


def _as_tensor(x):
    return x if isinstance(x, Tensor) else Tensor(x)


def _check_input(name, x, ndims, layout, input_size, weight):
    """Rank, feature count and dtype of a cell's or layer's input; returns it as a Tensor."""
    x = _as_tensor(x)
    if x.ndim not in ndims:
        raise ValueError(f"{name}: expected input of shape {layout}, got a {x.ndim}-d input of "
                         f"shape {x.shape}")
    if x.shape[-1] != input_size:
        raise ValueError(f"{name}: input has {x.shape[-1]} features, expected input_size="
                         f"{input_size} (input shape {x.shape})")
    _check_dtype(name, x, weight)
    return x


def _check_nonlinearity(name, nonlinearity):
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"{name}: unknown nonlinearity {nonlinearity!r} "
                         f"(expected 'tanh' or 'relu')")


class _Recurrent(Module):
    """What cells and layers share: positive sizes and PyTorch's initialisation."""

    def __init__(self, input_size, hidden_size, *num_layers):
        super().__init__()
        sizes = (input_size, hidden_size, *num_layers)
        if any(n <= 0 for n in sizes):
            what = "input_size, hidden_size" + (" and num_layers" if num_layers else "")
            raise ValueError(f"{type(self).__name__}: {what} must be positive, got "
                             f"{', '.join(map(str, sizes))}")

    def reset_parameters(self):
        """Every weight and bias U(-1/√hidden_size, 1/√hidden_size), as PyTorch."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)


# ---------------------------------------------------------------- cells

class _CellBase(_Recurrent):
    def __init__(self, input_size, hidden_size, bias, n_gates):
        super().__init__(input_size, hidden_size)
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        self.weight_ih = Parameter(np.zeros((n_gates * hidden_size, input_size), np.float32))
        self.weight_hh = Parameter(np.zeros((n_gates * hidden_size, hidden_size), np.float32))
        if bias:
            self.bias_ih = Parameter(np.zeros(n_gates * hidden_size, np.float32))
            self.bias_hh = Parameter(np.zeros(n_gates * hidden_size, np.float32))
        else:
            self.bias_ih = self.bias_hh = None
        self.reset_parameters()

    def _prepare(self, x, states):
        """Check shapes; give unbatched input (I,) a batch of one. Returns x, states, batched."""
        name = type(self).__name__
        x = _check_input(name, x, (1, 2), f"(batch, {self.input_size}) or ({self.input_size},)",
                         self.input_size, self.weight_ih)
        batched = x.ndim == 2
        if not batched:
            x = x.reshape(1, -1)
        want = (x.shape[0], self.hidden_size)
        fixed = []
        for s in states:
            if s is None:
                s = Tensor(np.zeros(want, dtype=x.dtype))
            else:
                s = _as_tensor(s)
                expect = want if batched else (self.hidden_size,)
                if s.shape != expect:
                    raise ValueError(f"{name}: expected hidden state of shape {expect}, got "
                                     f"{s.shape}")
                _check_dtype(name, s, self.weight_hh)
                if not batched:
                    s = s.reshape(1, -1)
            fixed.append(s)
        return x, fixed, batched

    def _gi(self, x):
        return F.linear(x, self.weight_ih, self.bias_ih)

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class RNNCell(_CellBase):
    """h' = act(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh). Input (B, I) or (I,); state (B, H) or (H,)."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh"):
        _check_nonlinearity("RNNCell", nonlinearity)
        super().__init__(input_size, hidden_size, bias, 1)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        x, (h,), batched = self._prepare(input, [hx])
        h = rnn_step(self._gi(x), h, self.weight_hh, self.bias_hh, self.nonlinearity)
        return h if batched else h.reshape(-1)


class LSTMCell(_CellBase):
    """Returns (h', c'). ``forget_gate=False`` gives the original 1997 LSTM: c' = c + σ(i)·tanh(g)
    (its weights then have 3·H rows: i, g, o)."""

    def __init__(self, input_size, hidden_size, bias=True, forget_gate=True):
        super().__init__(input_size, hidden_size, bias, 4 if forget_gate else 3)
        self.forget_gate = forget_gate

    def forward(self, input, hx=None):
        h0, c0 = (None, None) if hx is None else hx
        x, (h, c), batched = self._prepare(input, [h0, c0])
        h, c = lstm_step(self._gi(x), h, c, self.weight_hh, self.bias_hh, self.forget_gate)
        return (h, c) if batched else (h.reshape(-1), c.reshape(-1))

    def extra_repr(self):
        return super().extra_repr() + ("" if self.forget_gate else ", forget_gate=False")


class GRUCell(_CellBase):
    """h' = (1 - z)·n + z·h with reset gate r inside n (PyTorch's form)."""

    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__(input_size, hidden_size, bias, 3)

    def forward(self, input, hx=None):
        x, (h,), batched = self._prepare(input, [hx])
        h = gru_step(self._gi(x), h, self.weight_hh, self.bias_hh)
        return h if batched else h.reshape(-1)


# ---------------------------------------------------------------- multi-layer, multi-step

class RNNBase(_Recurrent):
    """Shared machinery of ``RNN``, ``LSTM`` and ``GRU``; each subclass supplies its step and
    its state (``_step``, ``_split_hx``, ``_result``, ``_biases``).

    Input (T, B, I) (or (B, T, I) with ``batch_first``, or unbatched (T, I), or a
    ``PackedSequence``); states (num_layers·D, B, H) with D = 2 if bidirectional. Output
    (T, B, D·H): the last layer's h at every step, the two directions concatenated (a
    ``PackedSequence`` of those rows when the input was packed).
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, *, gates=1):
        super().__init__(input_size, hidden_size, num_layers)
        if not (isinstance(dropout, (int, float)) and 0.0 <= dropout < 1.0):
            raise ValueError(f"{type(self).__name__}: dropout must be a number in [0, 1), got "
                             f"{dropout!r}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional = bidirectional
        for layer in range(num_layers):
            layer_in = input_size if layer == 0 else hidden_size * self.num_directions
            for suffix in ("", "_reverse")[:self.num_directions]:
                setattr(self, f"weight_ih_l{layer}{suffix}",
                        Parameter(np.zeros((gates * hidden_size, layer_in), np.float32)))
                setattr(self, f"weight_hh_l{layer}{suffix}",
                        Parameter(np.zeros((gates * hidden_size, hidden_size), np.float32)))
                if bias:
                    setattr(self, f"bias_ih_l{layer}{suffix}",
                            Parameter(np.zeros(gates * hidden_size, np.float32)))
                    setattr(self, f"bias_hh_l{layer}{suffix}",
                            Parameter(np.zeros(gates * hidden_size, np.float32)))
        self.reset_parameters()

    # ------------------------------------------------------------ what each layer supplies
    def _step(self, gi, state, w_hh, b_hh):
        """One time step: the input projection ``gi`` and the state tuple → the new state."""
        raise NotImplementedError

    def _split_hx(self, hx):
        """The caller's ``hx`` as a list of initial states (None where not given)."""
        return [hx]

    def _result(self, output, finals):
        return output, finals[0]

    def _biases(self, b_ih, b_hh):
        """(bias of the all-steps input projection, bias left for each step's h W_hhᵀ)."""
        return (None if b_ih is None else b_ih + b_hh), None

    # ------------------------------------------------------------ shared
    @property
    def num_directions(self):
        return 2 if self.bidirectional else 1

    def _weights(self, layer, suffix):
        get = lambda n: self._parameters.get(f"{n}_l{layer}{suffix}")  # noqa: E731
        return get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh")

    def _check_states(self, hx, batch, batched):
        name = type(self).__name__
        full = (self.num_layers * self.num_directions, batch, self.hidden_size)
        expect = full if batched else (full[0], full[2])
        out = []
        for which, s in zip(("h_0", "c_0"), self._split_hx(hx)):
            if s is not None:
                s = _as_tensor(s)
                if s.shape != expect:
                    raise ValueError(f"{name}: expected {which} of shape {expect}, got {s.shape}")
                _check_dtype(name, s, self.weight_hh_l0)
                s = s if batched else s.unsqueeze(1)
            out.append(s)
        return out

    def _check_input(self, x, hx):
        name = type(self).__name__
        layout = "(B, T, I)" if self.batch_first else "(T, B, I)"
        x = _check_input(name, x, (2, 3), f"{layout} or unbatched (T, I)", self.input_size,
                         self.weight_ih_l0)
        if x.shape[1 if x.ndim == 3 and self.batch_first else 0] == 0:
            raise ValueError(f"{name}: expected at least one time step, got input of shape "
                             f"{x.shape} ({layout})")
        batched = x.ndim == 3
        if not batched:
            x = x.unsqueeze(1)
        elif self.batch_first:
            x = x.transpose(0, 1)
        return x, self._check_states(hx, x.shape[1], batched), batched

    # ------------------------------------------------------------ the unrolled loop
    def _run_direction(self, steps, batch_sizes, state, w_hh, b_hh, reverse):
        """Run one direction of one layer. ``steps[t]`` is step t's input projection for the
        ``batch_sizes[t]`` sequences still active (sorted longest first); ``state`` is the
        initial state tuple for all B sequences. Returns the h of every step (in time order)
        and the state tuple each sequence had at its own last step (forward) or at step 0
        (reverse)."""
        outputs = [None] * len(steps)
        if not reverse:
            ended = []  # states of sequences that stopped early, in order of stopping
            for t, n in enumerate(batch_sizes):
                with scope(f"t{t}"):
                    if n < state[0].shape[0]:
                        ended.append(tuple(s[n:] for s in state))
                        state = tuple(s[:n] for s in state)
                    state = self._step(steps[t], state, w_hh, b_hh)
                outputs[t] = state[0]
            if ended:  # the longest sequences are rows 0.., the ones that stopped first last
                parts = [state, *reversed(ended)]
                state = tuple(cat(list(p), 0) for p in zip(*parts))
            return outputs, state
        initial, state = state, None
        for t in range(len(steps) - 1, -1, -1):
            n = batch_sizes[t]
            with scope(f"t{t}"):
                have = 0 if state is None else state[0].shape[0]
                if n != have:  # sequences whose own last step is t start here, from h_0
                    start = initial if n == initial[0].shape[0] and have == 0 else tuple(
                        s[have:n] for s in initial)
                    state = start if state is None else tuple(
                        cat([s, s0], 0) for s, s0 in zip(state, start))
                state = self._step(steps[t], state, w_hh, b_hh)
            outputs[t] = state[0]
        return outputs, state

    def _layers(self, x, batch_sizes, initial):
        """All layers over packed rows x (N, I), N = sum(batch_sizes); ``initial`` is a list of
        state stacks (num_layers·D, B, H) or None. Returns the last layer's rows (N, D·H) and
        the final state stacks."""
        batch = batch_sizes[0]
        zeros = Tensor(np.zeros((batch, self.hidden_size), dtype=x.dtype))
        initial = [None if s is None else s.unbind(0) for s in initial]
        finals = [[] for _ in initial]
        for layer in range(self.num_layers):
            outs = []
            for d, suffix in enumerate(("", "_reverse")[:self.num_directions]):
                k = layer * self.num_directions + d
                w_ih, w_hh, b_ih, b_hh = self._weights(layer, suffix)
                with scope(f"l{layer}{suffix}"):
                    # The input projection of all steps in one op.
                    bias, b_step = self._biases(b_ih, b_hh)
                    steps = F.linear(x, w_ih, bias).split(list(batch_sizes), 0)
                    state = tuple(zeros if s is None else s[k] for s in initial)
                    seq, state = self._run_direction(steps, batch_sizes, state, w_hh, b_step,
                                                     reverse=d == 1)
                    outs.append(cat(seq, 0))
                for f, s in zip(finals, state):
                    f.append(s)
            x = outs[0] if len(outs) == 1 else cat(outs, -1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)
        return x, [stack(f, 0) for f in finals]

    def forward(self, input, hx=None):
        if isinstance(input, PackedSequence):
            return self._forward_packed(input, hx)
        x, initial, batched = self._check_input(input, hx)
        T, B = x.shape[0], x.shape[1]
        out, finals = self._layers(x.reshape(T * B, x.shape[2]), [B] * T, initial)
        out = out.reshape(T, B, out.shape[-1])
        if not batched:
            out, finals = out.squeeze(1), [s.squeeze(1) for s in finals]
        elif self.batch_first:
            out = out.transpose(0, 1)
        return self._result(out, finals)

    def _forward_packed(self, packed, hx):
        name = type(self).__name__
        data, batch_sizes, sorted_indices, unsorted_indices = packed
        data = _check_input(name, data, (2,), f"(N, {self.input_size}) in a PackedSequence",
                            self.input_size, self.weight_ih_l0)
        sizes = [int(n) for n in np.asarray(getattr(batch_sizes, "data", batch_sizes))]
        if not sizes or sum(sizes) != data.shape[0]:
            raise ValueError(f"{name}: PackedSequence batch_sizes {sizes} do not add up to the "
                             f"{data.shape[0]} rows of its data")
        initial = self._check_states(hx, sizes[0], True)
        if sorted_indices is not None:  # states come in the caller's order; rows are sorted
            initial = [None if s is None else s[:, sorted_indices] for s in initial]
        out, finals = self._layers(data, sizes, initial)
        if unsorted_indices is not None:
            finals = [s[:, unsorted_indices] for s in finals]
        return self._result(PackedSequence(out, batch_sizes, sorted_indices, unsorted_indices),
                            finals)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        for name, default in (("bias", True), ("batch_first", False), ("dropout", 0.0),
                              ("bidirectional", False)):
            if getattr(self, name) != default:
                s += f", {name}={getattr(self, name)}"
        return s


class RNN(RNNBase):
    """Elman RNN: h_t = act(x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh). Returns (output, h_n)."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False):
        _check_nonlinearity("RNN", nonlinearity)
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, gates=1)
        self.nonlinearity = nonlinearity

    def _step(self, gi, state, w_hh, b_hh):
        return (rnn_step(gi, state[0], w_hh, b_hh, self.nonlinearity),)

    def extra_repr(self):
        s = super().extra_repr()
        return s + (f", nonlinearity={self.nonlinearity!r}" if self.nonlinearity != "tanh" else "")


class LSTM(RNNBase):
    """Returns (output, (h_n, c_n)). ``forget_gate=False``: the 1997 LSTM (3·H gate rows)."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, forget_gate=True):
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, gates=4 if forget_gate else 3)
        self.forget_gate = forget_gate

    def _step(self, gi, state, w_hh, b_hh):
        return lstm_step(gi, *state, w_hh, b_hh, self.forget_gate)

    def _split_hx(self, hx):
        if hx is None:
            return [None, None]
        if not (isinstance(hx, (tuple, list)) and len(hx) == 2):
            raise ValueError(f"{type(self).__name__}: expected hx to be a tuple (h_0, c_0)")
        return list(hx)

    def _result(self, output, finals):
        return output, tuple(finals)


class GRU(RNNBase):
    """Returns (output, h_n)."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False):
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, gates=3)

    def _step(self, gi, state, w_hh, b_hh):
        return (gru_step(gi, state[0], w_hh, b_hh),)

    def _biases(self, b_ih, b_hh):
        return b_ih, b_hh  # b_hn must stay inside r·(h W_hnᵀ + b_hn)
