"""Variable-length sequences: pad/pack/unpack and recurrent layers on a PackedSequence, against
PyTorch (stored fixtures and live), plus the hard cases and the errors."""
from __future__ import annotations

import pathlib
import re

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
                                  "RNN-l2-uni-tf-sorted", "LSTM-l1-uni-tf-sorted"])
def test_packed_layer_matches_live_pytorch(name):
    torch = pytest.importorskip("torch")
    from torch.nn.utils import rnn as torch_utils
    maker = fixture_script("make_packed_fixtures")
    case = CASES[name]
    torch.manual_seed(7)
    layer = maker.torch_layer(torch, case)
    arrays = make_arrays(case, seed=3)
    t = {k: torch.tensor(v, requires_grad=k in ("x", "h0", "c0")) for k, v in arrays.items()}
    padded, _, h_n, c_n, loss = run(torch, torch_utils, layer, case, t)
    loss.backward()
    mine = getattr(nn, case["kind"])(INPUT, HIDDEN, num_layers=case["layers"],
                                     bidirectional=case["bidirectional"],
                                     batch_first=case["batch_first"]).double()
    mine.load_state_dict({k: v.detach().numpy() for k, v in layer.state_dict().items()})
    ts = {k: tg.Tensor(v, requires_grad=k in ("x", "h0", "c0")) for k, v in arrays.items()}
    p2, _, h2, c2, loss2 = run(tg, utils, mine, case, ts)
    loss2.backward()
    np.testing.assert_allclose(p2.data, padded.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(h2.data, h_n.detach().numpy(), rtol=1e-10, atol=1e-12)
    if c_n is not None:
        np.testing.assert_allclose(c2.data, c_n.detach().numpy(), rtol=1e-10, atol=1e-12)
    for k in ("x", "h0", "c0"):
        if k in t:
            np.testing.assert_allclose(ts[k].grad, t[k].grad.numpy(), rtol=1e-9, atol=1e-12,
                                       err_msg=f"grad of {k}")
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
        results.append((padded.data, h.data, xt.grad, layer.weight_hh_l0.grad.numpy().copy()))
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


def test_steps_past_the_longest_sequence_and_finished_rows_are_absent_from_the_graph():
    """Padded to T=7 but no sequence is longer than 4: scopes t4..t6 do not exist, and every op
    of step t (both directions) has exactly batch_sizes[t] rows."""
    layer = _layer("LSTM", bidirectional=True)
    x = tg.Tensor(np.ones((7, 3, INPUT)), requires_grad=True)
    packed = utils.pack_padded_sequence(x, [4, 2, 1])
    batch_sizes = packed.batch_sizes.data.tolist()
    assert batch_sizes == [3, 2, 1, 1]
    out, _ = layer(packed)
    nodes = tg.graph_nodes(out.data)
    seen = set()
    for n in nodes:
        if n.scope and n.scope[-1].startswith("t"):
            t = int(n.scope[-1][1:])
            seen.add((n.scope[-2], t))
            for shape, _dtype in n.output_meta:
                assert shape[0] == batch_sizes[t], (n, shape)
    assert seen == {(d, t) for d in ("l0", "l0_reverse") for t in range(4)}


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


def test_packed_sequence_fields_follow_the_definition():
    """x[t, b] = 10·b + t; lengths 2, 5, 1, 4 → sorted b = 1, 3, 0, 2, and data is, for each t,
    the steps of the sequences longer than t, longest first."""
    steps, lengths = 5, [2, 5, 1, 4]
    x = np.array([[10.0 * b + t for b in range(4)] for t in range(steps)])[..., None]
    for batch_first in (False, True):
        given = x.transpose(1, 0, 2) if batch_first else x
        packed = utils.pack_padded_sequence(tg.Tensor(given), lengths, batch_first=batch_first,
                                            enforce_sorted=False)
        assert packed.batch_sizes.data.tolist() == [4, 3, 2, 2, 1]
        assert packed.sorted_indices.data.tolist() == [1, 3, 0, 2]
        assert packed.unsorted_indices.data.tolist() == [2, 0, 3, 1]
        assert packed.data.data[:, 0].tolist() == [10, 30, 0, 20, 11, 31, 1, 12, 32, 13, 33, 14]
        assert packed.data.dtype == np.float64
    packed = utils.pack_padded_sequence(tg.Tensor(x), sorted(lengths, reverse=True))
    assert packed.sorted_indices is None and packed.unsorted_indices is None


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("enforce_sorted", [True, False])
@pytest.mark.parametrize("as_type", ["list", "numpy", "tensor"])
def test_pack_and_pad_match_live_pytorch(batch_first, enforce_sorted, as_type):
    torch = pytest.importorskip("torch")
    from torch.nn.utils import rnn as torch_utils
    rng = np.random.default_rng(5)
    lengths = [6, 4, 4, 1] if enforce_sorted else [4, 1, 6, 4]
    shape = (4, 7, 2) if batch_first else (7, 4, 2)  # T = 7 > the longest length
    x, w = rng.standard_normal(shape), rng.standard_normal((4, 8, 2) if batch_first else (8, 4, 2))
    given = {"list": lengths, "numpy": np.array(lengths),
             "tensor": tg.tensor(lengths)}[as_type]
    xt, xo = torch.tensor(x, requires_grad=True), tg.Tensor(x, requires_grad=True)
    theirs = torch_utils.pack_padded_sequence(xt, torch.tensor(lengths), batch_first=batch_first,
                                              enforce_sorted=enforce_sorted)
    mine = utils.pack_padded_sequence(xo, given, batch_first=batch_first,
                                      enforce_sorted=enforce_sorted)
    np.testing.assert_array_equal(mine.data.data, theirs.data.detach().numpy())
    np.testing.assert_array_equal(mine.batch_sizes.data, theirs.batch_sizes.numpy())
    for field in ("sorted_indices", "unsorted_indices"):
        a, b = getattr(mine, field), getattr(theirs, field)
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_array_equal(a.data, b.numpy())
    p_theirs, l_theirs = torch_utils.pad_packed_sequence(theirs, batch_first=batch_first,
                                                         padding_value=-2.0, total_length=8)
    p_mine, l_mine = utils.pad_packed_sequence(mine, batch_first=batch_first, padding_value=-2.0,
                                               total_length=8)
    np.testing.assert_array_equal(p_mine.data, p_theirs.detach().numpy())
    np.testing.assert_array_equal(l_mine.data, l_theirs.numpy())
    (p_theirs * torch.tensor(w)).sum().backward()
    (p_mine * tg.Tensor(w)).sum().backward()
    np.testing.assert_array_equal(xo.grad, xt.grad.numpy())  # zero at the padding


def test_pad_sequence_and_pack_sequence_match_live_pytorch():
    torch = pytest.importorskip("torch")
    from torch.nn.utils import rnn as torch_utils
    rng = np.random.default_rng(6)
    arrays = [rng.standard_normal((n, 2, 3)) for n in (3, 5, 1, 5)]
    for batch_first in (False, True):
        a = utils.pad_sequence([tg.Tensor(v) for v in arrays], batch_first, padding_value=7.0)
        b = torch_utils.pad_sequence([torch.tensor(v) for v in arrays], batch_first, 7.0)
        np.testing.assert_array_equal(a.data, b.numpy())
    a = utils.pack_sequence([tg.Tensor(v) for v in arrays], enforce_sorted=False)
    b = torch_utils.pack_sequence([torch.tensor(v) for v in arrays], enforce_sorted=False)
    np.testing.assert_array_equal(a.data.data, b.data.numpy())
    np.testing.assert_array_equal(a.batch_sizes.data, b.batch_sizes.numpy())
    np.testing.assert_array_equal(a.sorted_indices.data, b.sorted_indices.numpy())


def test_supplied_initial_state_is_in_the_callers_batch_order():
    """Unsorted lengths with h_0/c_0 given: each sequence, run alone from its own column of h_0
    and c_0, ends in the same h_n/c_n column as in the packed batch."""
    layer = _layer("LSTM", num_layers=2, bidirectional=True)
    rng = np.random.default_rng(8)
    lengths = [2, 5, 1, 4]
    x = rng.standard_normal((5, 4, INPUT))
    h0, c0 = rng.standard_normal((2, 4, 4, HIDDEN))
    packed = utils.pack_padded_sequence(tg.Tensor(x), lengths, enforce_sorted=False)
    out, (h_n, c_n) = layer(packed, (tg.Tensor(h0), tg.Tensor(c0)))
    padded, _ = utils.pad_packed_sequence(out)
    for b, n in enumerate(lengths):
        s = slice(b, b + 1)
        alone, (h, c) = layer(tg.Tensor(x[:n, s]), (tg.Tensor(h0[:, s]), tg.Tensor(c0[:, s])))
        np.testing.assert_allclose(h_n.data[:, b], h.data[:, 0], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(c_n.data[:, b], c.data[:, 0], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(padded.data[:n, b], alone.data[:, 0], rtol=1e-12, atol=1e-14)


def test_equal_lengths_give_exactly_the_unpacked_gradients():
    layer = _layer("LSTM", num_layers=2, bidirectional=True)
    rng = np.random.default_rng(9)
    x_np, w = rng.standard_normal((4, 3, INPUT)), rng.standard_normal((4, 3, 2 * HIDDEN))
    grads = []
    for packed in (False, True):
        layer.zero_grad()
        x = tg.Tensor(x_np, requires_grad=True)
        if packed:
            out, (h, c) = layer(utils.pack_padded_sequence(x, [4, 4, 4]))
            out, _ = utils.pad_packed_sequence(out)
        else:
            out, (h, c) = layer(x)
        ((out * tg.Tensor(w)).sum() + h.sum() + (c * c).sum()).backward()
        grads.append([x.grad] + [p.grad.numpy().copy() for p in layer.parameters()])
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_gradcheck_through_pack_layer_and_pad(kind):
    """Finite differences through pack (unsorted) → 2-layer bidirectional layer → pad, with h_0:
    no PyTorch needed."""
    layer = getattr(nn, kind)(2, 2, num_layers=2, bidirectional=True).double()
    rng = np.random.default_rng(10)
    x = tg.Tensor(rng.standard_normal((3, 3, 2)), requires_grad=True)
    h0 = tg.Tensor(rng.standard_normal((4, 3, 2)), requires_grad=True)

    def run(x, h0, *_params):
        packed = utils.pack_padded_sequence(x, [2, 3, 1], enforce_sorted=False)
        out, state = layer(packed, (h0, h0 * 0.5) if kind == "LSTM" else h0)
        padded, _ = utils.pad_packed_sequence(out)
        return (padded, *state) if kind == "LSTM" else (padded, state)

    assert tg.gradcheck(run, [x, h0, *layer.parameters()], atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_empty_batch_in_every_layer_kind(kind):
    layer = getattr(nn, kind)(INPUT, HIDDEN, num_layers=2, bidirectional=True, batch_first=True)
    out, state = layer(tg.Tensor(np.zeros((0, 5, INPUT), np.float32)))
    h = state[0] if kind == "LSTM" else state
    assert out.shape == (0, 5, 2 * HIDDEN) and h.shape == (4, 0, HIDDEN)


@pytest.mark.parametrize("shape, batch_first", [((2, 0, INPUT), True), ((0, INPUT), False)])
def test_no_time_steps_is_refused_naming_the_layer_and_shape(shape, batch_first):
    layer = nn.GRU(INPUT, HIDDEN, batch_first=batch_first)
    with pytest.raises(ValueError, match=r"GRU: the input has no time steps \(shape "
                                         + re.escape(str(shape))):
        layer(tg.Tensor(np.zeros(shape, np.float32)))


def test_more_bad_packing_input_is_refused_clearly():
    x = tg.Tensor(np.zeros((4, 2, 2)))
    with pytest.raises(ValueError, match="pack_padded_sequence: got no lengths"):
        utils.pack_padded_sequence(tg.Tensor(np.zeros((4, 0, 2))), [])
    with pytest.raises(ValueError, match="lengths must be a 1-d list of integers"):
        utils.pack_padded_sequence(x, [2.0, 1.0])
    with pytest.raises(ValueError, match=r"2 lengths for a batch of 3 \(input shape \(3, 4, 2\), "
                                         r"batch_first=True\)"):
        utils.pack_padded_sequence(tg.Tensor(np.zeros((3, 4, 2))), [2, 1], batch_first=True)
    with pytest.raises(TypeError, match="pad_packed_sequence: expected a PackedSequence"):
        utils.pad_packed_sequence(x)
    with pytest.raises(TypeError, match=r"LSTMCell: a cell runs one time step.*nn\.LSTM"):
        nn.LSTMCell(2, 3).double()(utils.pack_padded_sequence(x, [2, 1]))


def test_lstm_without_forget_gate_labels_no_forget_gate():
    out, _ = nn.LSTM(INPUT, HIDDEN, forget_gate=False)(tg.Tensor(np.ones((2, 1, INPUT), np.float32)))
    labels = {n.label for n in tg.graph_nodes(out) if n.label}
    assert labels == {"input gate", "cell candidate", "output gate", "c_t", "h_t"}


def test_batch_sizes_that_do_not_match_the_data_are_refused():
    bad = utils.PackedSequence(tg.Tensor(np.zeros((5, INPUT))), [2, 2])
    with pytest.raises(ValueError, match=r"pad_packed_sequence: batch_sizes \[2, 2\] do not add "
                                         r"up to the 5 rows"):
        utils.pad_packed_sequence(bad)
    with pytest.raises(ValueError, match=r"RNN: PackedSequence batch_sizes \[2, 2\] do not add up "
                                         r"to the 5 rows"):
        nn.RNN(INPUT, HIDDEN).double()(bad)


def test_packed_dtype_conversion_and_dropout_between_layers():
    layer = nn.GRU(INPUT, HIDDEN, num_layers=2, dropout=0.5).double()
    packed = utils.pack_padded_sequence(tg.Tensor(np.ones((3, 2, INPUT), np.float32)), [3, 1])
    with pytest.raises(TypeError, match=r"GRU: input dtype float32 does not match.*float64"):
        layer(packed)
    tg.manual_seed(0)
    out, h_n = layer(packed.double())  # training mode: dropout on the packed rows of layer 0
    assert out.data.shape == (4, HIDDEN) and out.batch_sizes.data.tolist() == [2, 1, 1]
    layer.eval()
    a, _ = layer(packed.double())
    b, _ = layer(packed.double())
    np.testing.assert_array_equal(a.data.data, b.data.data)
    assert not np.allclose(a.data.data, out.data.data)
