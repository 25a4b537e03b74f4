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
``split`` whose backward writes the gate gradients back in one piece.
"""
from __future__ import annotations

import math

import numpy as np

from ..engine import Tensor, cat, scope, stack
from . import functional as F
from . import init
from .module import Module, Parameter

# ---------------------------------------------------------------- one step of each cell
# ``gi`` is the input projection x W_ihᵀ (+ biases already folded in); ``w_hh`` is W_hh, used
# through ``linear`` (h W_hhᵀ + b_hh in one op).


def rnn_step(gi, h, w_hh, b_hh, nonlinearity):
    pre = gi + F.linear(h, w_hh, b_hh)
    return pre.tanh() if nonlinearity == "tanh" else pre.relu()


def lstm_step(gi, h, c, w_hh, b_hh, forget_gate=True):
    gates = gi + F.linear(h, w_hh, b_hh)
    if forget_gate:
        i, f, g, o = gates.chunk(4, -1)
        c = f.sigmoid() * c + i.sigmoid() * g.tanh()
    else:
        i, g, o = gates.chunk(3, -1)
        c = c + i.sigmoid() * g.tanh()
    return o.sigmoid() * c.tanh(), c


def gru_step(gi, h, w_hh, b_hh):
    gh = F.linear(h, w_hh, b_hh)
    i_r, i_z, i_n = gi.chunk(3, -1)
    h_r, h_z, h_n = gh.chunk(3, -1)
    r = (i_r + h_r).sigmoid()
    z = (i_z + h_z).sigmoid()
    n = (i_n + r * h_n).tanh()
    return n + z * (h - n)  # = (1 - z)·n + z·h, with one op fewer


_GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}


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


# ---------------------------------------------------------------- cells

class _CellBase(Module):
    mode = "RNN"

    def __init__(self, input_size, hidden_size, bias, n_gates):
        super().__init__()
        if input_size <= 0 or hidden_size <= 0:
            raise ValueError(f"{type(self).__name__}: input_size and hidden_size must be positive, "
                             f"got {input_size} and {hidden_size}")
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        self.weight_ih = Parameter(np.zeros((n_gates * hidden_size, input_size), np.float32))
        self.weight_hh = Parameter(np.zeros((n_gates * hidden_size, hidden_size), np.float32))
        if bias:
            self.bias_ih = Parameter(np.zeros(n_gates * hidden_size, np.float32))
            self.bias_hh = Parameter(np.zeros(n_gates * hidden_size, np.float32))
        else:
            self.bias_ih = self.bias_hh = None
        self.reset_parameters()

    def reset_parameters(self):
        """Every weight and bias U(-1/√hidden_size, 1/√hidden_size), as PyTorch."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

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
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: unknown nonlinearity {nonlinearity!r} "
                             f"(expected 'tanh' or 'relu')")
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

class RNNBase(Module):
    """Shared machinery of ``RNN``, ``LSTM`` and ``GRU``.

    Input (T, B, I) (or (B, T, I) with ``batch_first``, or unbatched (T, I)); states
    (num_layers·D, B, H) with D = 2 if bidirectional. Output (T, B, D·H): the last layer's h at
    every step, the two directions concatenated.
    """

    mode = "RNN"

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, nonlinearity="tanh", forget_gate=True):
        super().__init__()
        name = type(self).__name__
        if input_size <= 0 or hidden_size <= 0 or num_layers <= 0:
            raise ValueError(f"{name}: input_size, hidden_size and num_layers must be positive, "
                             f"got {input_size}, {hidden_size}, {num_layers}")
        if not (isinstance(dropout, (int, float)) and 0.0 <= dropout < 1.0):
            raise ValueError(f"{name}: dropout must be a number in [0, 1), got {dropout!r}")
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"{name}: unknown nonlinearity {nonlinearity!r} "
                             f"(expected 'tanh' or 'relu')")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.nonlinearity = bidirectional, nonlinearity
        self.forget_gate = forget_gate
        gates = _GATES[self.mode] - (self.mode == "LSTM" and not forget_gate)
        directions = 2 if bidirectional else 1
        for layer in range(num_layers):
            layer_in = input_size if layer == 0 else hidden_size * directions
            for suffix in ("", "_reverse")[:directions]:
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

    def reset_parameters(self):
        """Every weight and bias U(-1/√hidden_size, 1/√hidden_size), as PyTorch."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    @property
    def num_directions(self):
        return 2 if self.bidirectional else 1

    def _weights(self, layer, suffix):
        get = lambda n: self._parameters.get(f"{n}_l{layer}{suffix}")  # noqa: E731
        return get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh")

    # ------------------------------------------------------------ input checking
    def _check_input(self, x, hx):
        name = type(self).__name__
        layout = "(B, T, I)" if self.batch_first else "(T, B, I)"
        x = _check_input(name, x, (2, 3), f"{layout} or unbatched (T, I)", self.input_size,
                         self.weight_ih_l0)
        batched = x.ndim == 3
        if not batched:
            x = x.unsqueeze(1)
        elif self.batch_first:
            x = x.transpose(0, 1)
        batch = x.shape[1]
        n_states = 2 if self.mode == "LSTM" else 1
        if hx is None:
            states = [None] * n_states
        elif n_states == 2:
            if not (isinstance(hx, (tuple, list)) and len(hx) == 2):
                raise ValueError(f"{name}: expected hx to be a tuple (h_0, c_0)")
            states = list(hx)
        else:
            states = [hx]
        full = (self.num_layers * self.num_directions, batch, self.hidden_size)
        expect = full if batched else (full[0], full[2])
        out = []
        for which, s in zip(("h_0", "c_0"), states):
            if s is None:
                out.append(None)
                continue
            s = _as_tensor(s)
            if s.shape != expect:
                raise ValueError(f"{name}: expected {which} of shape {expect}, got {s.shape}")
            _check_dtype(name, s, self.weight_hh_l0)
            out.append(s if batched else s.unsqueeze(1))
        return x, out, batched

    # ------------------------------------------------------------ the unrolled loop
    def _run_direction(self, x_steps_proj, h, c, w_hh, b_hh, reverse):
        """Run one direction of one layer over time; returns the list of h_t (in time order)
        and the final (h, c)."""
        steps = x_steps_proj.unbind(0)
        order = range(len(steps) - 1, -1, -1) if reverse else range(len(steps))
        outputs = [None] * len(steps)
        for t in order:
            with scope(f"t{t}"):
                if self.mode == "LSTM":
                    h, c = lstm_step(steps[t], h, c, w_hh, None, self.forget_gate)
                elif self.mode == "GRU":
                    h = gru_step(steps[t], h, w_hh, b_hh)
                else:
                    h = rnn_step(steps[t], h, w_hh, None, self.nonlinearity)
            outputs[t] = h
        return outputs, h, c

    def forward(self, input, hx=None):
        x, (h0, *rest), batched = self._check_input(input, hx)
        c0 = rest[0] if rest else None
        T, B = x.shape[0], x.shape[1]
        zeros = Tensor(np.zeros((B, self.hidden_size), dtype=x.dtype))
        h0s = h0.unbind(0) if h0 is not None else None
        c0s = c0.unbind(0) if c0 is not None else None
        h_n, c_n = [], []
        layer_input = x
        for layer in range(self.num_layers):
            outs = []
            for d, suffix in enumerate(("", "_reverse")[:self.num_directions]):
                k = layer * self.num_directions + d
                w_ih, w_hh, b_ih, b_hh = self._weights(layer, suffix)
                with scope(f"l{layer}{suffix}"):
                    # Input projection of all T steps in one op; for RNN and LSTM both
                    # biases fold in here, for GRU b_hh must stay inside r·(h W_hnᵀ + b_hn).
                    bias = None if b_ih is None else b_ih if self.mode == "GRU" else b_ih + b_hh
                    proj = F.linear(layer_input.reshape(T * B, -1), w_ih, bias).reshape(T, B, -1)
                    h = h0s[k] if h0s is not None else zeros
                    c = (c0s[k] if c0s is not None else zeros) if self.mode == "LSTM" else None
                    seq, h, c = self._run_direction(proj, h, c, w_hh, b_hh, reverse=d == 1)
                    outs.append(stack(seq, 0))
                h_n.append(h)
                c_n.append(c)
            layer_input = outs[0] if len(outs) == 1 else cat(outs, -1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, True)
        output, h_n = layer_input, stack(h_n, 0)
        c_n = stack(c_n, 0) if self.mode == "LSTM" else None
        if not batched:
            output, h_n = output.squeeze(1), h_n.squeeze(1)
            c_n = c_n.squeeze(1) if c_n is not None else None
        elif self.batch_first:
            output = output.transpose(0, 1)
        return (output, (h_n, c_n)) if self.mode == "LSTM" else (output, h_n)

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

    mode = "RNN"

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False):
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, nonlinearity=nonlinearity)

    def extra_repr(self):
        s = super().extra_repr()
        return s + (f", nonlinearity={self.nonlinearity!r}" if self.nonlinearity != "tanh" else "")


class LSTM(RNNBase):
    """Returns (output, (h_n, c_n)). ``forget_gate=False``: the 1997 LSTM (3·H gate rows)."""

    mode = "LSTM"

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, forget_gate=True):
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, forget_gate=forget_gate)


class GRU(RNNBase):
    """Returns (output, h_n)."""

    mode = "GRU"

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False):
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional)
