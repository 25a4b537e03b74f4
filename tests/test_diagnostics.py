"""Gradient diagnostics and the progress line."""
from __future__ import annotations

import io

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import diagnostics, nn
from tinygrad_rnn.progress import Progress


@pytest.mark.parametrize("kind, kw", [("RNN", {}), ("GRU", {"batch_first": True}),
                                      ("LSTM", {"num_layers": 2})])
def test_hidden_states_give_the_total_gradient_per_step(kind, kw):
    tg.manual_seed(0)
    layer = getattr(nn, kind)(2, 3, **kw).double()
    shape = (2, 4, 2) if kw.get("batch_first") else (4, 2, 2)  # T = 4 either way
    x = np.random.default_rng(0).standard_normal(shape)
    out, _ = layer(tg.Tensor(x))
    states = diagnostics.hidden_states(out)
    assert len(states) == 4
    (out * out).sum().backward()
    norms = diagnostics.grad_norms(states)
    assert norms.shape == (4,) and (norms > 0).all()
    # the last step's state reaches the loss only through the output
    last = out.array[:, -1] if kw.get("batch_first") else out.array[-1]
    np.testing.assert_allclose(norms[-1], np.linalg.norm(2 * last))


@pytest.mark.parametrize("after", [lambda out: out + 0.0, lambda out: out.reshape(out.shape),
                                   lambda out: out.transpose(0, 1).transpose(0, 1)])
def test_hidden_states_come_from_what_the_layer_records_not_its_reshaping(after):
    """Whatever ops stand between the loop and the tensor given (an add, a reshape …), the
    states are the nodes the layer labelled h_t, per step, of its last layer and direction."""
    tg.manual_seed(0)
    lstm = nn.LSTM(2, 3, num_layers=2, bidirectional=True).double()
    out, _ = lstm(tg.Tensor(np.random.default_rng(1).standard_normal((5, 2, 2))))
    for d, name in ((0, "l1"), (1, "l1_reverse")):
        states = diagnostics.hidden_states(after(out), direction=d)
        assert [s.node.scope[1:] for s in states] == [(name, f"t{t}") for t in range(5)]
        assert all(s.node.label == "h_t" for s in states)
    with pytest.raises(ValueError, match="direction 2"):
        diagnostics.hidden_states(out, direction=2)


def test_hidden_states_of_a_hand_written_loop():
    cell = nn.RNNCell(1, 2).double()
    h = tg.Tensor(np.zeros((1, 2)))
    states = []
    for _ in range(5):
        h = cell(tg.Tensor(np.ones((1, 1))), h)
        h.retain_grad()
        states.append(h)
    h.sum().backward()
    norms = diagnostics.grad_norms(states)
    assert norms[-1] == pytest.approx(np.sqrt(2))


def test_hidden_states_reject_other_tensors():
    x = tg.Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(ValueError, match="not produced by a recurrent layer"):
        diagnostics.hidden_states(x * 2)


def test_progress_prints_every_n_steps_with_clip_rate():
    stream = io.StringIO()
    p = Progress(total=4, every=2, stream=stream)
    for step in range(4):
        p.update(loss=1.0 / (step + 1), grad_norm=2.0, clipped=step % 2 == 0)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("step 2/4 | loss 0.5000 | |g| 2 | clipped no (1/2)")
    assert "steps/s" in lines[1] and len(p.history) == 4
