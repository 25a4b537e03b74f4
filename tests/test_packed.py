"""Variable-length sequences: pad/pack/unpack and recurrent layers on a PackedSequence, against
PyTorch (stored fixtures and live), plus the hard cases and the errors."""
from __future__ import annotations

import pathlib

import numpy as np
import pytest

import tinygrad_rnn as tg
from conftest import fixture_script
from packed_cases import CASES, HIDDEN, INPUT, T, lengths_of, make_arrays, run
from tinygrad_rnn import nn
from tinygrad_rnn.nn.utils import rnn as utils

_store = np.load(pathlib.Path(__file__).parent / "fixtures" / "packed.npz", allow_pickle=False)


def stored(name, group):
    prefix = f"{name}/{group}."
    return {k[len(prefix):]: _store[k] for k in _store.files if k.startswith(prefix)}


def ours(name, case, params):
    layer = getattr(nn, case["kind"])(INPUT, HIDDEN, num_layers=case["layers"],
                                      bidirectional=case["bidirectional"],
                                      batch_first=case["batch_first"]).double()
    layer.load_state_dict(params)
    arrays = make_arrays(case)
    t = {k: tg.Tensor(v, requires_grad=k in ("x", "h0", "c0")) for k, v in arrays.items()}
    padded, lengths, h_n, c_n, loss = run(tg, utils, layer, case, t)
    loss.backward()
    values = {"out": padded.data, "lengths": lengths.data, "h_n": h_n.data}
    if c_n is not None:
        values["c_n"] = c_n.data
    grads = {k: t[k].grad for k in ("x", "h0", "c0") if k in t}
    grads.update({k: p.grad for k, p in layer.named_parameters()})
    return values, grads


@pytest.mark.parametrize("name", sorted(CASES))
def test_packed_layer_matches_pytorch_fixture(name):
    values, grads = ours(name, CASES[name], stored(name, "param"))
    for k, v in stored(name, "value").items():
        np.testing.assert_allclose(values[k], v, rtol=1e-9, atol=1e-12, err_msg=f"{name} {k}")
    expected = stored(name, "grad")
    assert set(expected) == set(grads)
    for k, g in expected.items():
        np.testing.assert_allclose(grads[k], g, rtol=1e-8, atol=1e-10, err_msg=f"{name} grad {k}")


@pytest.mark.parametrize("name", ["LSTM-l2-bi-bf-unsorted", "GRU-l1-bi-tf-unsorted",
                                  "RNN-l2-uni-tf-sorted"])
def test_packed_layer_matches_live_pytorch(name):
    torch = pytest.importorskip("torch")
    from torch.nn.utils import rnn as torch_utils
    maker = fixture_script("make_packed_fixtures")
    case = CASES[name]
    torch.manual_seed(7)
    layer = maker.torch_layer(torch, case)
    arrays = make_arrays(case, seed=3)
    t = {k: torch.tensor(v, requires_grad=k in ("x", "h0", "c0")) for k, v in arrays.items()}
    padded, _, h_n, _, loss = run(torch, torch_utils, layer, case, t)
    loss.backward()
    mine = getattr(nn, case["kind"])(INPUT, HIDDEN, num_layers=case["layers"],
                                     bidirectional=case["bidirectional"],
                                     batch_first=case["batch_first"]).double()
    mine.load_state_dict({k: v.detach().numpy() for k, v in layer.state_dict().items()})
    ts = {k: tg.Tensor(v, requires_grad=k in ("x", "h0", "c0")) for k, v in arrays.items()}
    p2, _, h2, _, loss2 = run(tg, utils, mine, case, ts)
    loss2.backward()
    np.testing.assert_allclose(p2.data, padded.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(h2.data, h_n.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ts["x"].grad, t["x"].grad.numpy(), rtol=1e-9, atol=1e-12)
    for k, p in mine.named_parameters():
        np.testing.assert_allclose(p.grad, dict(layer.named_parameters())[k].grad.numpy(),
                                   rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------- the hard cases, named

def _layer(kind="LSTM", **kw):
    tg.manual_seed(0)
    return getattr(nn, kind)(INPUT, HIDDEN, **kw).double()


def test_padding_never_influences_outputs_states_or_gradients():
    case = CASES["LSTM-l2-bi-tf-unsorted"]
    layer = _layer(num_layers=2, bidirectional=True)
    results = []
    for garbage in (0.0, 1e3):
        x = make_arrays(case)["x"].copy()
        for b, n in enumerate(lengths_of(case)):
            x[n:, b] = garbage
        xt = tg.Tensor(x, requires_grad=True)
        packed = utils.pack_padded_sequence(xt, lengths_of(case), enforce_sorted=False)
        out, (h, c) = layer(packed)
        padded, _ = utils.pad_packed_sequence(out)
        layer.zero_grad()
        (padded.sum() + h.sum() + c.sum()).backward()
        results.append((padded.data, h.data, xt.grad, layer.weight_hh_l0.grad.copy()))
        for b, n in enumerate(lengths_of(case)):
            assert (xt.grad[n:, b] == 0).all() and (padded.data[n:, b] == 0).all()
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_equal_lengths_give_exactly_the_unpacked_layer():
    for kind in ("RNN", "LSTM", "GRU"):
        layer = _layer(kind, num_layers=2, bidirectional=True)
        x = tg.Tensor(np.random.default_rng(1).standard_normal((4, 3, INPUT)))
        out, state = layer(x)
        pout, pstate = layer(utils.pack_padded_sequence(x, [4, 4, 4]))
        padded, lengths = utils.pad_packed_sequence(pout)
        np.testing.assert_array_equal(padded.data, out.data)
        np.testing.assert_array_equal(lengths.data, [4, 4, 4])
        first = state[0] if kind == "LSTM" else state
        np.testing.assert_array_equal((pstate[0] if kind == "LSTM" else pstate).data, first.data)


def test_final_state_is_each_sequences_own_last_step():
    layer = _layer("GRU", bidirectional=True)
    x = np.random.default_rng(2).standard_normal((5, 3, INPUT))
    lengths = [3, 5, 1]
    _, h_n = layer(utils.pack_padded_sequence(tg.Tensor(x), lengths, enforce_sorted=False))
    for b, n in enumerate(lengths):  # each sequence alone, unpadded
        out, h_alone = layer(tg.Tensor(x[:n, b:b + 1]))
        np.testing.assert_allclose(h_n.data[:, b], h_alone.data[:, 0], rtol=1e-12)


def test_lengths_as_list_array_or_tensor_and_total_length():
    x = tg.Tensor(np.arange(24.0).reshape(4, 3, 2))
    for lengths in ([4, 2, 1], np.array([4, 2, 1]), tg.tensor([4, 2, 1])):
        packed = utils.pack_padded_sequence(x, lengths)
        assert packed.batch_sizes.data.tolist() == [3, 2, 1, 1]
        assert packed.data.shape == (7, 2)
    padded, lengths = utils.pad_packed_sequence(packed, total_length=6, padding_value=-1.0)
    assert padded.shape == (6, 3, 2) and lengths.data.tolist() == [4, 2, 1]
    assert (padded.data[4:] == -1).all() and (padded.data[1:, 2] == -1).all()
    np.testing.assert_array_equal(padded.data[:4, 0], x.data[:, 0])


def test_pad_sequence_and_pack_sequence():
    seqs = [tg.Tensor(np.full((n, 2), float(n)), requires_grad=True) for n in (2, 4, 1)]
    padded = utils.pad_sequence(seqs, batch_first=True, padding_value=9.0)
    assert padded.shape == (3, 4, 2)
    assert padded.data[0, 2, 0] == 9.0 and padded.data[1, 3, 0] == 4.0
    padded.sum().backward()
    assert all((s.grad == 1).all() for s in seqs)
    packed = utils.pack_sequence(seqs, enforce_sorted=False)
    assert packed.batch_sizes.data.tolist() == [3, 2, 1, 1]
    assert packed.sorted_indices.data.tolist() == [1, 0, 2]
    unpacked, lengths = utils.pad_packed_sequence(packed, batch_first=True)
    assert lengths.data.tolist() == [2, 4, 1]
    np.testing.assert_array_equal(unpacked.data[:, :, 0],
                                  [[2, 2, 0, 0], [4, 4, 4, 4], [1, 0, 0, 0]])


def test_a_short_sequences_missing_steps_are_absent_from_the_graph():
    layer = _layer("RNN")
    x = tg.Tensor(np.ones((5, 3, INPUT)))
    out, _ = layer(utils.pack_padded_sequence(x, [5, 2, 2]))
    nodes = tg.graph_nodes(out.data)
    steps = {n.scope[-1] for n in nodes if n.scope and n.scope[-1].startswith("t")}
    assert steps == {f"t{t}" for t in range(5)}
    for n in nodes:
        if n.name == "tanh" and n.scope:
            t = int(n.scope[-1][1:])
            assert n.output_meta[0][0][0] == (3 if t < 2 else 1)  # batch_sizes[t] rows


def test_packed_errors_are_clear():
    x = tg.Tensor(np.zeros((4, 3, 2)))
    with pytest.raises(ValueError, match=r"lengths \[1, 3, 2\] are not in decreasing order.*"
                                         r"enforce_sorted=False"):
        utils.pack_padded_sequence(x, [1, 3, 2])
    with pytest.raises(ValueError, match="every length must be at least 1"):
        utils.pack_padded_sequence(x, [3, 0, 0])
    with pytest.raises(ValueError, match="a length of 5 is longer than the 4 time steps"):
        utils.pack_padded_sequence(x, [5, 1, 1])
    with pytest.raises(ValueError, match="2 lengths for a batch of 3"):
        utils.pack_padded_sequence(x, [2, 1])
    packed = utils.pack_padded_sequence(x, [4, 2, 1])
    with pytest.raises(ValueError, match="total_length=3 is shorter than the longest sequence"):
        utils.pad_packed_sequence(packed, total_length=3)
    with pytest.raises(ValueError, match=r"expected h_0 of shape \(1, 3, 4\)"):
        nn.GRU(2, HIDDEN).double()(packed, tg.Tensor(np.zeros((1, 2, HIDDEN))))


def test_batch_of_zero_works_and_no_time_steps_is_refused():
    layer = nn.LSTM(INPUT, HIDDEN)
    out, (h, c) = layer(tg.Tensor(np.zeros((5, 0, INPUT), np.float32)))
    assert out.shape == (5, 0, HIDDEN) and h.shape == (1, 0, HIDDEN)
    with pytest.raises(ValueError, match=r"LSTM: the input has no time steps \(shape \(0, 2, 3\)\)"):
        layer(tg.Tensor(np.zeros((0, 2, INPUT), np.float32)))


def test_named_gates_and_states_label_the_graph():
    labels = {}
    for kind in ("LSTM", "GRU", "RNN"):
        out, _ = _layer(kind)(tg.Tensor(np.ones((2, 1, INPUT))))
        labels[kind] = {n.label for n in tg.graph_nodes(out) if n.label}
    assert labels["LSTM"] == {"input gate", "forget gate", "cell candidate", "output gate", "c_t",
                              "h_t"}
    assert labels["GRU"] == {"reset gate", "update gate", "candidate n", "h_t"}
    assert labels["RNN"] == {"h_t"}
