"""Small ready-made sequence models for the CLI, the demo and the tutorials.

``SequenceModel`` = (optional embedding) → recurrent layer → linear head, in the four classic
uses: many-to-one (read a sequence, answer once), many-to-many (answer at every step),
one-to-many (:func:`sample`: feed each output back in) and, with two of them, encoder–decoder.
"""
from __future__ import annotations

import numpy as np

from . import nn
from .grad_mode import no_grad
from .tensor import Tensor

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class SequenceModel(nn.Module):
    """Inputs (T, B, input_size) floats, or (T, B) integer tokens when ``vocab_size`` is given.

    ``forward(x, state=None) -> (y, state)``: y is (B, output_size) when ``many_to_one`` (the
    head reads the last step's output), else (T, B, output_size).
    """

    def __init__(self, cell="lstm", hidden_size=64, output_size=1, input_size=None,
                 vocab_size=None, embed_size=None, num_layers=1, bidirectional=False,
                 dropout=0.0, many_to_one=False, nonlinearity="tanh"):
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"SequenceModel: unknown cell {cell!r}; choose one of {sorted(CELLS)}")
        if (input_size is None) == (vocab_size is None):
            raise ValueError("SequenceModel: give exactly one of input_size (float inputs) or "
                             "vocab_size (token inputs)")
        self.cell, self.many_to_one = cell, many_to_one
        if vocab_size is not None:
            embed_size = embed_size or min(vocab_size, 64)
            self.embedding = nn.Embedding(vocab_size, embed_size)
            input_size = embed_size
        else:
            self.embedding = None
        kw = {"nonlinearity": nonlinearity} if cell == "rnn" else {}
        self.rnn = CELLS[cell](input_size, hidden_size, num_layers=num_layers,
                               bidirectional=bidirectional, dropout=dropout, **kw)
        self.head = nn.Linear(hidden_size * (2 if bidirectional else 1), output_size)

    def forward(self, x, state=None):
        if self.embedding is not None:
            x = self.embedding(x)
        elif not isinstance(x, Tensor):
            x = Tensor(np.asarray(x, dtype=self.head.weight.dtype))
        out, state = self.rnn(x, state)
        if self.many_to_one:
            out = out[-1]
        return self.head(out), state


def detach_state(state):
    """Cut the graph behind a carried state (truncated BPTT); handles LSTM's (h, c)."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


def sample(model, vocab, prompt="", length=200, temperature=1.0, rng=None):
    """One-to-many: generate ``length`` characters from a character model, feeding each sampled
    character back in. ``vocab`` has ``encode(str)`` and ``decode(ids)``."""
    if temperature <= 0:
        raise ValueError(f"sample: temperature must be positive, got {temperature}")
    rng = np.random.default_rng(rng)
    was_training = model.training
    model.eval()
    out = []
    with no_grad():
        ids = list(vocab.encode(prompt)) if prompt else [int(rng.integers(vocab.size))]
        state = None
        logits, state = model(np.array(ids, dtype=np.int64).reshape(-1, 1), state)
        for _ in range(length):
            z = logits.array[-1, 0].astype(np.float64) / temperature
            p = np.exp(z - z.max())
            nxt = int(rng.choice(len(p), p=p / p.sum()))
            out.append(nxt)
            logits, state = model(np.array([[nxt]], dtype=np.int64), state)
    model.train(was_training)
    return prompt + vocab.decode(out)
