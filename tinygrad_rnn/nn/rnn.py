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
``linear`` op before the loop (RNN and LSTM fold b_hh into b here), and all gates of a step come
from one ``linear`` op — h W_hhᵀ with that step's projection as its addend, PyTorch's addmm —
followed by a ``split`` whose backward writes the gate gradients back in one piece. The GRU's
h' = (1 - z)·n + z·h is one ``lerp``.

The parts of a step are named (``Tensor.named``: "forget gate", "c_t", "h_t" …) so the graph
renderer can label them; a name is a label on the node, not an extra op.

Variable-length batches come as a :class:`~tinygrad_rnn.nn.utils.rnn.PackedSequence`: at step t
only the ``batch_sizes[t]`` sequences still running take part (they come first, sorted by
length), so a sequence's last state is its own and padding never enters the computation.
"""
from __future__ import annotations

import math

import numpy as np

from ..grad_mode import no_grad, scope
from ..tensor import Tensor, cat, stack
from ..utils.checkpoint import checkpoint_sequence
from .labels import (C_0, C_T, CANDIDATE_N, CELL_CANDIDATE, FORGET_GATE, H_0, H_T, INPUT_GATE,
                     OUTPUT_GATE, RESET_GATE, UPDATE_GATE, Layer, Step)
from .utils.rnn import PackedSequence
from . import functional as F
from . import init
from .module import Module, Parameter

# ---------------------------------------------------------------- one step of each cell
# ``gi`` is the input projection x W_ihᵀ + b_ih; ``w_hh`` is W_hh. For RNN and LSTM, b_hh is
# folded into gi by the caller (b_hh None here) and gi enters as ``linear``'s addend: the
# pre-activation h W_hhᵀ + gi is one op (PyTorch's addmm), not a product and an add.


def _recurrent_sum(gi, h, w_hh, b_hh):
    return F.linear(h, w_hh, gi if b_hh is None else gi + b_hh)


def rnn_step(gi, h, w_hh, b_hh, nonlinearity):
    pre = _recurrent_sum(gi, h, w_hh, b_hh)
    return (pre.tanh() if nonlinearity == "tanh" else pre.relu()).named(H_T)


def lstm_step(gi, h, c, w_hh, b_hh, forget_gate=True):
    gates = _recurrent_sum(gi, h, w_hh, b_hh)
    if forget_gate:
        i, f, g, o = gates.chunk(4, -1)
        c = f.sigmoid().named(FORGET_GATE) * c + \
            i.sigmoid().named(INPUT_GATE) * g.tanh().named(CELL_CANDIDATE)
    else:
        i, g, o = gates.chunk(3, -1)
        c = c + i.sigmoid().named(INPUT_GATE) * g.tanh().named(CELL_CANDIDATE)
    c.named(C_T)
    return (o.sigmoid().named(OUTPUT_GATE) * c.tanh()).named(H_T), c


def gru_step(gi, h, w_hh, b_hh):
    gh = F.linear(h, w_hh, b_hh)
    i_r, i_z, i_n = gi.chunk(3, -1)
    h_r, h_z, h_n = gh.chunk(3, -1)
    r = (i_r + h_r).sigmoid().named(RESET_GATE)
    z = (i_z + h_z).sigmoid().named(UPDATE_GATE)
    n = (i_n + r * h_n).tanh().named(CANDIDATE_N)
    return n.lerp(h, z).named(H_T)  # (1 - z)·n + z·h = n + z·(h - n), one op


# ---------------------------------------------------------------- checks shared by cells and layers

def _check_dtype(layer, x, weight):
    if x.dtype != weight.dtype:
        raise TypeError(f"{layer}: input dtype {x.dtype} does not match the weights' dtype "
                        f"{weight.dtype}; convert the model with .double() / .float() (or the "
                        f"input with .double() / .float())")


def _check_nonlinearity(layer, nonlinearity):
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"{layer}: unknown nonlinearity {nonlinearity!r} (expected 'tanh' or "
                         f"'relu')")


def _as_tensor(x):
    return x if isinstance(x, Tensor) else Tensor(x)


def _check_state(name, s, expect, which, weight):
    """A caller's initial state: shape ``expect`` and the weights' dtype; returns it as a Tensor."""
    s = _as_tensor(s)
    if s.shape != expect:
        raise ValueError(f"{name}: expected {which} of shape {expect}, got {s.shape}")
    _check_dtype(name, s, weight)
    return s


def _input_projection(x, w_ih, b_ih, b_hh, fold):
    """(x W_ihᵀ + b, the b_hh a step must still add). With ``fold`` (RNN, LSTM) b = b_ih + b_hh
    and each step's pre-activation is one ``linear``; the GRU keeps b_hh inside r·(h W_hnᵀ + b_hn)."""
    if b_ih is None or not fold:
        return F.linear(x, w_ih, b_ih), b_hh
    return F.linear(x, w_ih, b_ih + b_hh), None


def _check_input(name, x, ndims, layout, input_size, weight):
    """Rank, feature count and dtype of a cell's or layer's input; returns it as a Tensor.
    ``layout`` describes the expected shape; ``{n}`` in it stands for ``input_size``."""
    x = _as_tensor(x)
    if x.ndim not in ndims:
        layout = layout.format(n=input_size)
        raise ValueError(f"{name}: expected input of shape {layout}, got a {x.ndim}-d input of "
                         f"shape {x.shape}")
    if x.shape[-1] != input_size:
        raise ValueError(f"{name}: input has {x.shape[-1]} features, expected input_size="
                         f"{input_size} (input shape {x.shape})")
    _check_dtype(name, x, weight)
    return x


class _Recurrent(Module):
    """Parameters in PyTorch's layout and initialisation, shared by cells and layers."""

    fold_b_hh = True  # b_hh can join b_ih in the input projection (not for the GRU)

    def _add_weights(self, suffix, gates, input_size, bias):
        """weight_ih/weight_hh (and biases) with ``gates`` blocks of hidden_size rows."""
        H = self.hidden_size
        setattr(self, f"weight_ih{suffix}", Parameter(np.zeros((gates * H, input_size), np.float32)))
        setattr(self, f"weight_hh{suffix}", Parameter(np.zeros((gates * H, H), np.float32)))
        if bias:
            setattr(self, f"bias_ih{suffix}", Parameter(np.zeros(gates * H, np.float32)))
            setattr(self, f"bias_hh{suffix}", Parameter(np.zeros(gates * H, np.float32)))
        else:
            setattr(self, f"bias_ih{suffix}", None)
            setattr(self, f"bias_hh{suffix}", None)

    def reset_parameters(self):
        """Every weight and bias U(-1/√hidden_size, 1/√hidden_size), as PyTorch."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)


# ---------------------------------------------------------------- cells

class _CellBase(_Recurrent):
    def __init__(self, input_size, hidden_size, bias, n_gates):
        super().__init__()
        if input_size <= 0 or hidden_size <= 0:
            raise ValueError(f"{type(self).__name__}: input_size and hidden_size must be positive, "
                             f"got {input_size} and {hidden_size}")
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        self.n_gates = n_gates  # blocks of hidden_size rows in weight_ih / weight_hh
        self._add_weights("", n_gates, input_size, bias)
        self.reset_parameters()

    def _prepare(self, x, states):
        """Check shapes; give unbatched input (I,) a batch of one. Returns x, states, batched."""
        name = type(self).__name__
        if isinstance(x, PackedSequence):
            raise TypeError(f"{name}: a cell runs one time step of shape (batch, "
                            f"{self.input_size}); give a PackedSequence to "
                            f"nn.{name.removesuffix('Cell')} instead")
        x = _check_input(name, x, (1, 2), "(batch, {n}) or ({n},)", self.input_size,
                         self.weight_ih)
        batched = x.ndim == 2
        if not batched:
            x = x.reshape(1, -1)
        want = (x.shape[0], self.hidden_size)
        fixed = []
        for s, label in zip(states, (H_0, C_0)):
            if s is None:
                s = Tensor(np.zeros(want, dtype=x.dtype)).named(label)
            else:
                s = _check_state(name, s, want if batched else (self.hidden_size,),
                                 "hidden state", self.weight_hh)
                if not batched:
                    s = s.reshape(1, -1)
            fixed.append(s)
        return x, fixed, batched

    def _step(self, states):
        """The scope of this call, one time step of the caller's loop (``labels.Step``): step 0
        when every state comes fresh (None, or a tensor no op produced), else one more than the
        previous call — so the renderer and the diagnostics see a hand-written loop over the cell
        as the same unrolled grid as a layer, without reading names."""
        fresh = all(s is None or getattr(s, "is_leaf", True) for s in states)
        t = 0 if fresh else getattr(self, "_last_step", -1) + 1
        object.__setattr__(self, "_last_step", t)
        return scope(Step(t))

    def _gi(self, x):
        return _input_projection(x, self.weight_ih, self.bias_ih, self.bias_hh, self.fold_b_hh)

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class RNNCell(_CellBase):
    """h' = act(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh). Input (B, I) or (I,); state (B, H) or (H,)."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh"):
        _check_nonlinearity("RNNCell", nonlinearity)
        super().__init__(input_size, hidden_size, bias, 1)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        with self._step([hx]):
            x, (h,), batched = self._prepare(input, [hx])
            gi, b_hh = self._gi(x)
            h = rnn_step(gi, h, self.weight_hh, b_hh, self.nonlinearity)
            return h if batched else h.reshape(-1)


class LSTMCell(_CellBase):
    """Returns (h', c'). ``forget_gate=False`` gives the original 1997 LSTM: c' = c + σ(i)·tanh(g)
    (its weights then have 3·H rows: i, g, o)."""

    def __init__(self, input_size, hidden_size, bias=True, forget_gate=True):
        super().__init__(input_size, hidden_size, bias, 4 if forget_gate else 3)
        self.forget_gate = forget_gate

    def forward(self, input, hx=None):
        h0, c0 = (None, None) if hx is None else hx
        with self._step([h0, c0]):
            x, (h, c), batched = self._prepare(input, [h0, c0])
            gi, b_hh = self._gi(x)
            h, c = lstm_step(gi, h, c, self.weight_hh, b_hh, self.forget_gate)
            return (h, c) if batched else (h.reshape(-1), c.reshape(-1))

    def extra_repr(self):
        return super().extra_repr() + ("" if self.forget_gate else ", forget_gate=False")


class GRUCell(_CellBase):
    """h' = (1 - z)·n + z·h with reset gate r inside n (PyTorch's form)."""

    fold_b_hh = False

    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__(input_size, hidden_size, bias, 3)

    def forward(self, input, hx=None):
        with self._step([hx]):
            x, (h,), batched = self._prepare(input, [hx])
            gi, b_hh = self._gi(x)
            h = gru_step(gi, h, self.weight_hh, b_hh)
            return h if batched else h.reshape(-1)


# ---------------------------------------------------------------- multi-layer, multi-step

class RNNBase(_Recurrent):
    """The unrolled loop shared by ``RNN``, ``LSTM`` and ``GRU``; each subclass says how many gate
    blocks it has, how one step goes (:meth:`step`) and, for the LSTM, how its two states come
    in and go out (:meth:`_split_hx`, :meth:`_result`).

    Input (T, B, I) (or (B, T, I) with ``batch_first``, or unbatched (T, I), or a
    ``PackedSequence``); states (num_layers·D, B, H) with D = 2 if bidirectional. Output
    (T, B, D·H): the last layer's h at every step, the two directions concatenated.

    ``checkpoint_every=k`` (not in PyTorch): the graph keeps each direction's state every k steps
    and nothing else; backward recomputes k steps at a time (``utils.checkpoint.
    checkpoint_sequence``). About 1/k of the memory for one more forward; the same gradients to
    the bit. Not for a ``PackedSequence``.
    """

    def __init__(self, input_size, hidden_size, num_layers, bias, batch_first, dropout,
                 bidirectional, n_gates, checkpoint_every=None):
        super().__init__()
        name = type(self).__name__
        self.n_gates = n_gates  # blocks of hidden_size rows in weight_ih / weight_hh
        if input_size <= 0 or hidden_size <= 0 or num_layers <= 0:
            raise ValueError(f"{name}: input_size, hidden_size and num_layers must be positive, "
                             f"got {input_size}, {hidden_size}, {num_layers}")
        if not (isinstance(dropout, (int, float)) and 0.0 <= dropout < 1.0):
            raise ValueError(f"{name}: dropout must be a number in [0, 1), got {dropout!r}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.checkpoint_every = bidirectional, checkpoint_every
        for layer in range(num_layers):
            layer_in = input_size if layer == 0 else hidden_size * self.num_directions
            for suffix in ("", "_reverse")[:self.num_directions]:
                self._add_weights(f"_l{layer}{suffix}", self.n_gates, layer_in, bias)
        self.reset_parameters()

    @property
    def num_directions(self):
        return 2 if self.bidirectional else 1

    def step(self, gi, state, w_hh, b_hh):
        """One time step: the new state tuple from the input projection ``gi`` and ``state``."""
        raise NotImplementedError

    def _split_hx(self, hx):
        """The caller's initial state as a list, one entry (a Tensor or None) per state."""
        return [hx]

    def _result(self, output, states):
        """What ``forward`` returns, from the output and the list of final-state stacks."""
        return output, states[0]

    def _weights(self, layer, suffix):
        get = lambda n: getattr(self, f"{n}_l{layer}{suffix}")  # noqa: E731
        return get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh")

    # ------------------------------------------------------------ input checking
    def _prepare(self, input, hx):
        """Check the input and initial states. Returns (x as (T, B, I) Tensor or packed data (N, I), batch_sizes, initial states
        (one (L·D, B, H) Tensor or None per state, in sorted order for packed input), how to
        give the results back)."""
        name = type(self).__name__
        packed = input if isinstance(input, PackedSequence) else None
        if packed is not None:
            x = _check_input(name, packed.data, (2,), "(N, I) packed data", self.input_size,
                             self.weight_ih_l0)
            batch_sizes = [int(b) for b in packed.batch_sizes.array]
            if not batch_sizes or sum(batch_sizes) != x.shape[0]:
                raise ValueError(f"{name}: PackedSequence batch_sizes {batch_sizes} do not add up "
                                 f"to the {x.shape[0]} rows of its data {tuple(x.shape)}")
            batch, batched = batch_sizes[0], True
        else:
            layout = "(B, T, I)" if self.batch_first else "(T, B, I)"
            x = _check_input(name, input, (2, 3), f"{layout} or unbatched (T, I)",
                             self.input_size, self.weight_ih_l0)
            batched = x.ndim == 3
            if not batched:
                x = x.unsqueeze(1)
            elif self.batch_first:
                x = x.transpose(0, 1)
            if x.shape[0] == 0:
                raise ValueError(f"{name}: the input has no time steps (shape {tuple(input.shape)}"
                                 f"); a sequence needs at least one")
            batch = x.shape[1]
            batch_sizes = [batch] * x.shape[0]
        states = self._split_hx(hx)
        full = (self.num_layers * self.num_directions, batch, self.hidden_size)
        expect = full if batched else (full[0], full[2])
        out = []
        for which, s in zip(("h_0", "c_0"), states):
            if s is not None:
                s = _check_state(name, s, expect, which, self.weight_hh_l0)
                s = s if batched else s.unsqueeze(1)
                if packed is not None and packed.sorted_indices is not None:
                    s = s[:, packed.sorted_indices.array]  # the batch runs sorted by length
            out.append(s)
        return x, batch_sizes, out, (packed, batched)

    # ------------------------------------------------------------ the unrolled loop
    def _run_direction(self, steps, state, w_hh, b_hh, batch_sizes, reverse):
        """Run one direction of one layer over time. ``steps[t]``: the input projection of the
        ``batch_sizes[t]`` sequences running at step t. Returns the h of every step (in time
        order) and the final state, each sequence's from its own last step."""
        T = len(steps)
        outputs, finished = [None] * T, []
        if not reverse:
            for t in range(T):
                n = batch_sizes[t]
                if n < state[0].shape[0]:  # the longest-but-shorter sequences end here
                    finished.append(tuple(s[n:] for s in state))
                    state = tuple(s[:n] for s in state)
                with scope(Step(t)):
                    state = self.step(steps[t], state, w_hh, b_hh)
                outputs[t] = state[0]
            if finished:  # rows that ended earlier come after, in order
                state = tuple(cat([s, *[f[k] for f in reversed(finished)]], 0)
                              for k, s in enumerate(state))
            return outputs, state
        initial, running = state, None
        for t in range(T - 1, -1, -1):
            n = batch_sizes[t]
            if running is None:
                running = tuple(s[:n] for s in initial) if n < initial[0].shape[0] else initial
            elif n > running[0].shape[0]:  # shorter sequences start at their own last step
                m = running[0].shape[0]
                running = tuple(cat([r, s[m:n]], 0) for r, s in zip(running, initial))
            with scope(Step(t)):
                running = self.step(steps[t], running, w_hh, b_hh)
            outputs[t] = running[0]
        return outputs, running

    def _run_checkpointed(self, proj, recompute, state, w_hh, b_hh, reverse):
        """``_run_direction`` (padded input) as one node that keeps a state every
        ``checkpoint_every`` steps. ``proj``: the input projection of all steps, (T, B, ·), one
        input of the node (its gradient is one array); ``recompute()`` gives it again in
        backward, so the projection is not kept either."""
        def again():
            with no_grad():
                return recompute()
        return checkpoint_sequence(lambda gi, s: self.step(gi, s, w_hh, b_hh), proj, state,
                                   self.checkpoint_every, again, reverse=reverse)

    def flatten_parameters(self):
        """PyTorch packs the weights into one buffer for cuDNN; here there is nothing to do."""

    def forward(self, input, hx=None):
        if self.checkpoint_every and isinstance(input, PackedSequence):
            raise NotImplementedError(f"{type(self).__name__}: checkpoint_every is not supported "
                                      f"for a PackedSequence input; pad it, or set "
                                      f"checkpoint_every=None")
        x, batch_sizes, initial, (packed, batched) = self._prepare(input, hx)
        B = batch_sizes[0]
        zeros = [Tensor(np.zeros((B, self.hidden_size), dtype=x.dtype)).named(label)
                 for label in (H_0, C_0)[:len(initial)]]  # named for the renderer
        initial = [None if s is None else s.unbind(0) for s in initial]
        finals = []
        layer_input = x
        for layer in range(self.num_layers):
            outs = []
            for d, suffix in enumerate(("", "_reverse")[:self.num_directions]):
                k = layer * self.num_directions + d
                w_ih, w_hh, b_ih, b_hh = self._weights(layer, suffix)
                state = tuple(z if s is None else s[k] for z, s in zip(zeros, initial))
                with scope(Layer(layer, d == 1)):
                    # the input projection of all T steps in one op
                    proj, b_step = _input_projection(layer_input, w_ih, b_ih, b_hh, self.fold_b_hh)
                    if self.checkpoint_every and packed is None:
                        again = lambda x=layer_input, w=w_ih, b=b_ih, b2=b_hh: _input_projection(
                            x, w, b, b2, self.fold_b_hh)[0]  # noqa: E731
                        seq, state = self._run_checkpointed(proj, again, state, w_hh, b_step,
                                                            d == 1)
                    else:
                        steps = proj.split(batch_sizes, 0) if packed is not None else \
                            proj.unbind(0)
                        seq, state = self._run_direction(steps, state, w_hh, b_step, batch_sizes,
                                                         reverse=d == 1)
                    outs.append(cat(seq, 0) if packed is not None else stack(seq, 0))
                finals.append(state)
            layer_input = outs[0] if len(outs) == 1 else cat(outs, -1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, True)
        states = [stack(list(per_state), 0) for per_state in zip(*finals)]
        if packed is not None:
            if packed.unsorted_indices is not None:
                states = [s[:, packed.unsorted_indices.array] for s in states]
            output = PackedSequence(layer_input, packed.batch_sizes, packed.sorted_indices,
                                    packed.unsorted_indices)
        elif not batched:
            output, states = layer_input.squeeze(1), [s.squeeze(1) for s in states]
        else:
            output = layer_input.transpose(0, 1) if self.batch_first else layer_input
        return self._result(output, states)

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
                 batch_first=False, dropout=0.0, bidirectional=False, checkpoint_every=None):
        _check_nonlinearity("RNN", nonlinearity)
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, 1, checkpoint_every)
        self.nonlinearity = nonlinearity

    def step(self, gi, state, w_hh, b_hh):
        return (rnn_step(gi, state[0], w_hh, b_hh, self.nonlinearity),)

    def extra_repr(self):
        s = super().extra_repr()
        return s + (f", nonlinearity={self.nonlinearity!r}" if self.nonlinearity != "tanh" else "")


class LSTM(RNNBase):
    """Returns (output, (h_n, c_n)). ``forget_gate=False``: the 1997 LSTM (3·H gate rows)."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, forget_gate=True, checkpoint_every=None):
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, 4 if forget_gate else 3, checkpoint_every)
        self.forget_gate = forget_gate

    def step(self, gi, state, w_hh, b_hh):
        return lstm_step(gi, state[0], state[1], w_hh, b_hh, self.forget_gate)

    def _split_hx(self, hx):
        if hx is None:
            return [None, None]
        if not (isinstance(hx, (tuple, list)) and len(hx) == 2):
            raise ValueError(f"{type(self).__name__}: expected hx to be a tuple (h_0, c_0)")
        return list(hx)

    def _result(self, output, states):
        return output, tuple(states)

    def extra_repr(self):
        return super().extra_repr() + ("" if self.forget_gate else ", forget_gate=False")


class GRU(RNNBase):
    """Returns (output, h_n)."""

    fold_b_hh = False

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, checkpoint_every=None):
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, 3, checkpoint_every)

    def step(self, gi, state, w_hh, b_hh):
        return (gru_step(gi, state[0], w_hh, b_hh),)
