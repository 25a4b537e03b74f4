"""Recurrent cells and layers: parity with PyTorch (fixtures and live), gradchecks, BPTT, errors."""
from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest

import tinygrad_rnn as tg
from conftest import fixture_script
from tinygrad_rnn import nn

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
_store = np.load(FIXTURES / "nn_layers.npz", allow_pickle=False)
CASES = sorted({k.split("/")[0] for k in _store.files})
INPUT, HIDDEN = 3, 4


def load_case(name):
    """config, and the groups param/input/weight/value/grad of one fixture case."""
    config = json.loads(str(_store[f"{name}/config"]))
    groups = {"param": {}, "input": {}, "weight": {}, "value": {}, "grad": {}}
    for key in _store.files:
        case, _, rest = key.partition("/")
        if case != name or rest == "config":
            continue
        group, _, field = rest.partition(".")
        groups[group][field] = _store[key]
    return config, groups


def build_layer(config):
    kind = config["kind"]
    kw = dict(bias=config.get("bias", True))
    if kind.startswith("RNN"):
        kw["nonlinearity"] = config.get("nonlinearity", "tanh")
    if kind.endswith("Cell"):
        layer = getattr(nn, kind)(INPUT, HIDDEN, **kw)
    else:
        layer = getattr(nn, kind)(INPUT, HIDDEN, num_layers=config.get("layers", 1),
                                  bidirectional=config.get("bidirectional", False),
                                  batch_first=config.get("batch_first", False), **kw)
    return layer.to(config["dtype"])


def run_ours(config, params, inputs, weights):
    """Forward and backward of our layer; returns (values, grads) keyed like the fixtures."""
    layer = build_layer(config)
    layer.load_state_dict(params)
    t = {k: tg.Tensor(v, requires_grad=True) for k, v in inputs.items()}
    lstm = config["kind"].startswith("LSTM")
    state = None
    if "h0" in t:
        state = (t["h0"], t["c0"]) if lstm else t["h0"]
    out = layer(t["x"], state)
    if config["kind"].endswith("Cell"):
        results = {"out": out[0], "c_n": out[1]} if lstm else {"out": out}
    else:
        results = {"out": out[0]}
        if lstm:
            results["h_n"], results["c_n"] = out[1]
        else:
            results["h_n"] = out[1]
    loss = None
    for k, r in results.items():
        term = (r * tg.Tensor(weights[k])).sum()
        loss = term if loss is None else loss + term
    loss.backward()
    grads = {k: v.grad for k, v in t.items()}
    grads.update({n: p.grad for n, p in layer.named_parameters()})
    return {k: v.array for k, v in results.items()}, grads


def tolerance(config):
    return dict(rtol=1e-5, atol=1e-5) if config["dtype"] == "float32" else dict(rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("name", CASES)
def test_matches_pytorch_fixture(name):
    config, g = load_case(name)
    values, grads = run_ours(config, g["param"], g["input"], g["weight"])
    tol = tolerance(config)
    assert set(values) == set(g["value"])
    for k, v in g["value"].items():
        assert values[k].dtype == v.dtype
        np.testing.assert_allclose(values[k], v, **tol, err_msg=f"{name}: {k}")
    assert set(grads) == set(g["grad"]), f"{name}: gradients of different tensors"
    for k, v in g["grad"].items():
        np.testing.assert_allclose(grads[k], v, **tol, err_msg=f"{name}: grad of {k}")


@pytest.mark.parametrize("name", [c for c in CASES if "f32" not in c][::3])
def test_matches_live_pytorch(name):
    torch = pytest.importorskip("torch")
    fixtures = fixture_script("make_nn_fixtures")
    config, g = load_case(name)
    rng = np.random.default_rng(123)
    # fresh weights and inputs, not the stored ones
    layer = build_layer(config)
    params = {k: v.numpy().copy() for k, v in layer.state_dict().items()}
    inputs = {k: rng.standard_normal(v.shape) for k, v in g["input"].items()}
    weights = {k: rng.standard_normal(v.shape) for k, v in g["weight"].items()}
    ref_values, ref_grads = fixtures.run_torch(torch, config, params, inputs, weights)
    values, grads = run_ours(config, params, inputs, weights)
    for k in ref_values:
        np.testing.assert_allclose(values[k], ref_values[k], rtol=1e-8, atol=1e-8)
    for k in ref_grads:
        np.testing.assert_allclose(grads[k.removeprefix("grad.")], ref_grads[k], rtol=1e-8,
                                   atol=1e-8)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_state_dict_round_trip_through_pytorch(kind):
    torch = pytest.importorskip("torch")
    ours = getattr(nn, kind)(3, 4, num_layers=2, bidirectional=True)
    theirs = getattr(torch.nn, kind)(3, 4, num_layers=2, bidirectional=True)
    theirs.load_state_dict({k: torch.from_numpy(v.numpy()) for k, v in ours.state_dict().items()})
    back = getattr(nn, kind)(3, 4, num_layers=2, bidirectional=True)
    back.load_state_dict(theirs.state_dict())
    assert list(back.state_dict()) == list(theirs.state_dict())
    for (k, a), b in zip(ours.state_dict().items(), back.state_dict().values()):
        np.testing.assert_array_equal(a, b, err_msg=k)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_gradcheck_two_layer_bidirectional(kind):
    layer = getattr(nn, kind)(2, 3, num_layers=2, bidirectional=True).double()
    rng = np.random.default_rng(0)
    x = tg.Tensor(rng.standard_normal((4, 2, 2)), requires_grad=True)
    h0 = tg.Tensor(rng.standard_normal((4, 2, 3)), requires_grad=True)
    params = list(layer.parameters())

    def run(x, h0, *_params):
        if kind == "LSTM":
            out, (h, c) = layer(x, (h0, h0 * 0.5))
            return out, h, c
        return layer(x, h0)

    assert tg.gradcheck(run, [x, h0, *params], atol=1e-6, rtol=1e-4)


def test_gradcheck_cells_without_forget_gate():
    cell = nn.LSTMCell(2, 3, forget_gate=False).double()
    rng = np.random.default_rng(1)
    x = tg.Tensor(rng.standard_normal((2, 2)), requires_grad=True)
    h = tg.Tensor(rng.standard_normal((2, 3)), requires_grad=True)
    c = tg.Tensor(rng.standard_normal((2, 3)), requires_grad=True)
    assert tg.gradcheck(lambda x, h, c, *p: cell(x, (h, c)), [x, h, c, *cell.parameters()])


def test_lstm_without_forget_gate_follows_1997_equations():
    cell = nn.LSTMCell(2, 3, forget_gate=False).double()
    assert cell.weight_ih.shape == (9, 2)  # i, g, o: no forget-gate rows
    rng = np.random.default_rng(2)
    x, h, c = rng.standard_normal((4, 2)), rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    h1, c1 = cell(tg.Tensor(x), (tg.Tensor(h), tg.Tensor(c)))
    gates = x @ cell.weight_ih.array.T + cell.bias_ih.array + h @ cell.weight_hh.array.T + cell.bias_hh.array
    i, g, o = np.split(gates, 3, axis=1)
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    c_ref = c + sig(i) * np.tanh(g)
    np.testing.assert_allclose(c1.array, c_ref, rtol=1e-12)
    np.testing.assert_allclose(h1.array, sig(o) * np.tanh(c_ref), rtol=1e-12)


def test_lstm_layer_without_forget_gate_matches_its_cell():
    tg.manual_seed(0)
    layer = nn.LSTM(2, 3, forget_gate=False).double()
    cell = nn.LSTMCell(2, 3, forget_gate=False).double()
    cell.load_state_dict({k.removesuffix("_l0"): v for k, v in layer.state_dict().items()})
    x = np.random.default_rng(3).standard_normal((5, 2, 2))
    out, (h_n, c_n) = layer(tg.Tensor(x))
    h = c = tg.Tensor(np.zeros((2, 3)))
    for t in range(5):
        h, c = cell(tg.Tensor(x[t]), (h, c))
        np.testing.assert_allclose(out.array[t], h.array, rtol=1e-12)
    np.testing.assert_allclose(c_n.array[0], c.array, rtol=1e-12)


def test_unrolled_loop_scopes_name_layer_and_time_step():
    lstm = nn.LSTM(2, 3, num_layers=2, bidirectional=True)
    out, _ = lstm(tg.Tensor(np.ones((3, 1, 2), np.float32), requires_grad=True))
    scopes = {node.scope for node in tg.graph_nodes(out)}
    for layer in ("l0", "l1", "l0_reverse", "l1_reverse"):
        for t in range(3):
            assert ("lstm", layer, f"t{t}") in scopes
    assert ("lstm", "l0") in scopes  # the input projection, outside any time step


def test_truncated_bptt_detach_stops_the_gradient():
    """Two windows; the state carried from window 1 is detached, so window 2's loss sends no
    gradient into window 1's input, while without detach it does."""
    rnn = nn.RNN(2, 3).double()
    rng = np.random.default_rng(4)
    x1 = tg.Tensor(rng.standard_normal((4, 1, 2)), requires_grad=True)
    x2 = tg.Tensor(rng.standard_normal((4, 1, 2)))
    _, h = rnn(x1)
    out, _ = rnn(x2, h.detach())
    out.sum().backward()
    assert x1.grad is None
    _, h = rnn(x1)
    out, _ = rnn(x2, h)
    out.sum().backward()
    assert x1.grad is not None and np.abs(x1.grad).sum() > 0


def test_parameter_names_and_shapes_follow_pytorch():
    lstm = nn.LSTM(3, 5, num_layers=2, bidirectional=True)
    shapes = {k: v.shape for k, v in lstm.state_dict().items()}
    assert shapes["weight_ih_l0"] == (20, 3)
    assert shapes["weight_ih_l1_reverse"] == (20, 10)
    assert shapes["weight_hh_l1"] == (20, 5)
    assert shapes["bias_hh_l0_reverse"] == (20,)
    assert len(shapes) == 16
    assert nn.GRU(3, 5).weight_ih_l0.shape == (15, 3)
    assert nn.RNN(3, 5, bias=False).state_dict().keys() == {"weight_ih_l0", "weight_hh_l0"}


def test_default_init_is_uniform_within_one_over_sqrt_hidden():
    tg.manual_seed(0)
    gru = nn.GRU(10, 16, num_layers=2)
    bound = 1 / np.sqrt(16)
    values = np.concatenate([p.array.ravel() for p in gru.parameters()])
    assert np.abs(values).max() <= bound
    assert np.abs(values).max() > 0.95 * bound  # the whole range is used
    assert abs(values.mean()) < 0.01


def test_manual_seed_makes_initialisation_reproducible():
    tg.manual_seed(7)
    a = nn.LSTM(3, 4).state_dict()
    tg.manual_seed(7)
    b = nn.LSTM(3, 4).state_dict()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_inter_layer_dropout_only_in_training():
    tg.manual_seed(0)
    rnn = nn.GRU(2, 8, num_layers=2, dropout=0.5)
    x = tg.Tensor(np.random.default_rng(0).standard_normal((5, 3, 2)).astype(np.float32))
    rnn.eval()
    a, _ = rnn(x)
    b, _ = rnn(x)
    np.testing.assert_array_equal(a.array, b.array)
    rnn.train()
    c, _ = rnn(x)
    assert not np.allclose(a.array, c.array)


def test_bptt_through_ten_thousand_steps():
    rnn = nn.RNN(1, 2)
    x = tg.Tensor(np.zeros((10_000, 1, 1), dtype=np.float32), requires_grad=True)
    out, h = rnn(x)
    h.sum().backward()
    assert x.grad.shape == (10_000, 1, 1)
    assert np.isfinite(rnn.weight_hh_l0.grad).all()


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("make, call, match", [
    (lambda: nn.LSTM(3, 4), lambda m: m(tg.Tensor(np.zeros((5, 2, 7)))),
     r"LSTM: input has 7 features, expected input_size=3"),
    (lambda: nn.GRU(3, 4), lambda m: m(tg.Tensor(np.zeros((5, 2, 3, 1)))),
     r"GRU: expected input of shape \(T, B, I\).*4-d"),
    (lambda: nn.RNN(3, 4, num_layers=2), lambda m: m(tg.Tensor(np.zeros((5, 2, 3), np.float32)),
                                                     tg.Tensor(np.zeros((1, 2, 4), np.float32))),
     r"RNN: expected h_0 of shape \(2, 2, 4\), got \(1, 2, 4\)"),
    (lambda: nn.LSTM(3, 4), lambda m: m(tg.Tensor(np.zeros((5, 2, 3), np.float32)),
                                        tg.Tensor(np.zeros((1, 2, 4), np.float32))),
     r"LSTM: expected hx to be a tuple \(h_0, c_0\)"),
    (lambda: nn.LSTMCell(3, 4), lambda m: m(tg.Tensor(np.zeros((2, 3), np.float32)),
                                            (tg.Tensor(np.zeros((2, 5), np.float32)),) * 2),
     r"LSTMCell: expected hidden state of shape \(2, 4\), got \(2, 5\)"),
    (lambda: nn.GRUCell(3, 4), lambda m: m(tg.Tensor(np.zeros((2, 2, 3), np.float32))),
     r"GRUCell: expected input of shape \(batch, 3\)"),
])
def test_bad_shapes_raise_clear_errors(make, call, match):
    with pytest.raises(ValueError, match=match):
        call(make())


def test_dtype_mismatch_points_to_double():
    lstm = nn.LSTM(3, 4)
    with pytest.raises(TypeError, match=r"LSTM: input dtype float64 does not match the weights' "
                                        r"dtype float32.*\.double\(\)"):
        lstm(tg.Tensor(np.zeros((2, 1, 3))))
    cell = nn.RNNCell(3, 4).double()
    with pytest.raises(TypeError, match=r"RNNCell: input dtype float32"):
        cell(tg.Tensor(np.zeros((1, 3), np.float32)))


@pytest.mark.parametrize("dropout", [-0.1, 1.0, 1.5, "0.2"])
def test_dropout_outside_unit_interval_is_rejected(dropout):
    with pytest.raises(ValueError, match=r"LSTM: dropout must be a number in \[0, 1\)"):
        nn.LSTM(3, 4, num_layers=2, dropout=dropout)


def test_unknown_nonlinearity_is_rejected():
    with pytest.raises(ValueError, match=r"RNN: unknown nonlinearity 'sigmoid'"):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match=r"RNNCell: unknown nonlinearity 'gelu'"):
        nn.RNNCell(3, 4, nonlinearity="gelu")
