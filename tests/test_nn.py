"""nn: Module mechanics, layers and losses against PyTorch, dropout, init, errors."""
from __future__ import annotations

import pathlib

import numpy as np
import pytest

import tinygrad_rnn as tg
from conftest import fixture_script
from tinygrad_rnn import nn
from tinygrad_rnn.nn import functional as F
from tinygrad_rnn.nn import init
from nn_module_cases import CASES, make_arrays

FIXTURES = pathlib.Path(__file__).parent / "fixtures"


def run_ours(name, arrays):
    leaves = {k: tg.Tensor(v, requires_grad=v.dtype.kind == "f") for k, v in arrays.items()}
    outputs = CASES[name](tg, nn, F, leaves)
    rng = np.random.default_rng(1)
    loss = None
    for out in outputs.values():
        if out.requires_grad:
            term = (out * tg.Tensor(rng.standard_normal(out.shape))).sum()
            loss = term if loss is None else loss + term
    loss.backward()
    return ({k: v.array for k, v in outputs.items()},
            {k: v.grad for k, v in leaves.items() if v.grad is not None})


@pytest.mark.parametrize("name", sorted(CASES))
def test_module_matches_pytorch_fixture(name):
    ref = np.load(FIXTURES / "nn_modules.npz")
    values, grads = run_ours(name, make_arrays(name))
    ref_values = {k.split("/")[2]: ref[k] for k in ref.files if k.startswith(f"{name}/value/")}
    ref_grads = {k.split("/")[2]: ref[k] for k in ref.files if k.startswith(f"{name}/grad/")}
    assert set(values) == set(ref_values)
    for k, v in ref_values.items():
        np.testing.assert_allclose(values[k], v, rtol=1e-10, atol=1e-12, err_msg=f"{name}: {k}")
    assert set(grads) == set(ref_grads), name
    for k, v in ref_grads.items():
        np.testing.assert_allclose(grads[k], v, rtol=1e-10, atol=1e-12, err_msg=f"{name}: d/d{k}")


@pytest.mark.parametrize("name", sorted(CASES))
def test_module_matches_live_pytorch(name):
    torch = pytest.importorskip("torch")
    mk = fixture_script("make_nn_module_fixtures")
    arrays = make_arrays(name, seed=5)
    ref_values, ref_grads = mk.run_torch(torch, name, arrays)
    values, grads = run_ours(name, arrays)
    for k in ref_values:
        np.testing.assert_allclose(values[k], ref_values[k], rtol=1e-10, atol=1e-12)
    for k in ref_grads:
        np.testing.assert_allclose(grads[k], ref_grads[k], rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------- Module mechanics

class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Linear(3, 4)
        self.norm = nn.LayerNorm(4)
        self.decoder = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2))
        self.scale = nn.Parameter(np.ones(1, np.float32))

    def forward(self, x):
        return self.decoder(self.norm(self.encoder(x)).tanh()) * self.scale


def test_named_parameters_use_dotted_pytorch_names():
    names = [n for n, _ in Block().named_parameters()]
    assert names == ["scale", "encoder.weight", "encoder.bias", "norm.weight", "norm.bias",
                     "decoder.0.weight", "decoder.0.bias", "decoder.1.weight", "decoder.1.bias"]
    assert [n for n, _ in Block().named_children()] == ["encoder", "norm", "decoder"]


def test_shared_parameters_are_listed_once():
    block = Block()
    block.decoder[1].weight = block.decoder[0].weight
    assert len(list(block.parameters())) == 8


def test_calling_a_module_records_its_scope_path():
    out = Block()(tg.Tensor(np.ones((2, 3), np.float32), requires_grad=True))
    scopes = {node.scope for node in tg.graph_nodes(out)}
    assert ("block", "encoder") in scopes
    assert ("block", "decoder", "1") in scopes
    assert ("block",) in scopes


def test_zero_grad_train_eval():
    block = Block()
    block(tg.Tensor(np.ones((2, 3), np.float32))).sum().backward()
    assert all(p.grad is not None for p in block.parameters())
    block.zero_grad()
    assert all(p.grad is None for p in block.parameters())
    block.eval()
    assert not any(m.training for m in block.modules())
    block.train()
    assert all(m.training for m in block.modules())


def test_double_and_float_convert_parameters_and_buffers():
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3)).double()
    assert all(p.dtype == np.float64 for p in model.parameters())
    assert model[1].running_mean.dtype == np.float64
    model.float()
    assert all(p.dtype == np.float32 for p in model.parameters())


def test_state_dict_shares_memory_as_pytorch_and_deepcopy_snapshots_it():
    # PyTorch's state_dict holds detached tensors sharing the parameters' memory; programs keep
    # a snapshot with copy.deepcopy (this was a copy before issue 19)
    import copy
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    sd = model.state_dict()
    assert list(sd) == ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean",
                        "1.running_var", "1.num_batches_tracked"]
    assert all(isinstance(v, tg.Tensor) and not v.requires_grad for v in sd.values())
    snapshot = copy.deepcopy(sd)
    sd["0.weight"][...] = 99
    assert (model[0].weight.array == 99).all()
    assert not (snapshot["0.weight"].numpy() == 99).any()
    sd["1.running_mean"][0] = 5.0
    assert model[1].running_mean[0] == 5.0


def test_load_state_dict_round_trip():
    a, b = Block(), Block()
    b.load_state_dict(a.state_dict())
    for (n, p), q in zip(a.named_parameters(), b.parameters()):
        np.testing.assert_array_equal(p.array, q.array, err_msg=n)


def test_load_state_dict_reports_every_problem_at_once():
    sd = Block().state_dict()
    del sd["scale"]
    sd["extra.weight"] = np.zeros(2)
    sd["encoder.weight"] = np.zeros((5, 5))
    with pytest.raises(ValueError) as err:
        Block().load_state_dict(sd)
    msg = str(err.value)
    assert "missing key 'scale'" in msg and "unexpected key 'extra.weight'" in msg
    assert "'encoder.weight': shape (5, 5) in the state dict, (4, 3) in the model" in msg


def test_load_state_dict_non_strict_ignores_names_but_not_shapes():
    sd = Block().state_dict()
    del sd["scale"]
    sd["extra"] = np.zeros(1)
    result = Block().load_state_dict(sd, strict=False)
    assert result.missing_keys == ["scale"] and result.unexpected_keys == ["extra"]
    sd["encoder.bias"] = np.zeros(7)
    with pytest.raises(ValueError, match="encoder.bias"):
        Block().load_state_dict(sd, strict=False)


def test_load_pytorch_state_dict_directly():
    torch = pytest.importorskip("torch")
    theirs = torch.nn.Linear(3, 2)
    ours = nn.Linear(3, 2)
    ours.load_state_dict(theirs.state_dict())
    np.testing.assert_array_equal(ours.weight.array, theirs.weight.detach().numpy())


def test_repr_is_nested_like_pytorch():
    text = repr(Block())
    assert text.startswith("Block(\n  (encoder): Linear(in_features=3, out_features=4, bias=True)")
    assert "(decoder): Sequential(\n    (0): Linear" in text
    assert repr(nn.LSTM(3, 4, num_layers=2)) == "LSTM(3, 4, num_layers=2)"


# ---------------------------------------------------------------- gradchecks

def test_gradcheck_through_layers():
    rng = np.random.default_rng(0)
    x = tg.Tensor(rng.standard_normal((4, 3)), requires_grad=True)
    lin, ln, bn = nn.Linear(3, 3).double(), nn.LayerNorm(3).double(), nn.BatchNorm1d(3).double()
    assert tg.gradcheck(lambda x, *p: lin(x), [x, *lin.parameters()])
    assert tg.gradcheck(lambda x, *p: ln(x), [x, *ln.parameters()])
    bn.train(); bn.track_running_stats = False  # noqa: E702 - running stats don't matter here
    assert tg.gradcheck(lambda x, *p: bn(x), [x, *bn.parameters()])
    target = np.array([0, 2, 1, 1])
    assert tg.gradcheck(lambda x: F.cross_entropy(x, target), [x])


# ---------------------------------------------------------------- dropout

def test_dropout_is_reproducible_with_manual_seed():
    x = tg.Tensor(np.ones((50, 50), np.float32))
    tg.manual_seed(3)
    a = F.dropout(x, 0.3).array
    tg.manual_seed(3)
    b = F.dropout(x, 0.3).array
    np.testing.assert_array_equal(a, b)


def test_dropout_statistics_and_scaling():
    tg.manual_seed(0)
    x = tg.Tensor(np.ones((200, 200)), requires_grad=True)
    y = nn.Dropout(0.25)(x)
    zero_fraction = (y.array == 0).mean()
    assert abs(zero_fraction - 0.25) < 0.01  # 40,000 draws: std ≈ 0.002
    np.testing.assert_allclose(np.unique(y.array), [0.0, 1 / 0.75])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad == 0, y.array == 0)


def test_dropout_in_eval_mode_and_edge_probabilities():
    x = tg.Tensor(np.ones(10))
    d = nn.Dropout(0.5).eval()
    assert d(x) is x
    assert F.dropout(x, 0.0) is x
    np.testing.assert_array_equal(F.dropout(x, 1.0).array, np.zeros(10))
    with pytest.raises(ValueError, match=r"Dropout: probability must be in \[0, 1\], got 1.5"):
        nn.Dropout(1.5)


# ---------------------------------------------------------------- init

def _param(*shape):
    return nn.Parameter(np.zeros(shape))


def test_uniform_and_normal_statistics():
    tg.manual_seed(0)
    w = init.uniform_(_param(300, 300), -2, 3)
    assert w.array.min() >= -2 and w.array.max() < 3 and abs(w.array.mean() - 0.5) < 0.05
    w = init.normal_(_param(300, 300), 1.0, 0.5)
    assert abs(w.array.mean() - 1.0) < 0.01 and abs(w.array.std() - 0.5) < 0.01


def test_xavier_bounds_and_variance():
    tg.manual_seed(0)
    w = init.xavier_uniform_(_param(200, 300))
    bound = np.sqrt(6 / 500)
    assert np.abs(w.array).max() <= bound
    assert abs(w.array.var() - 2 / 500) < 2 / 500 * 0.05
    w = init.xavier_normal_(_param(200, 300), gain=2.0)
    assert abs(w.array.std() - 2 * np.sqrt(2 / 500)) < 0.005


@pytest.mark.parametrize("shape", [(6, 6), (8, 3), (3, 8)])
def test_orthogonal_rows_or_columns_are_orthonormal(shape):
    tg.manual_seed(1)
    q = init.orthogonal_(_param(*shape)).array
    small = min(shape)
    gram = q.T @ q if shape[0] >= shape[1] else q @ q.T
    np.testing.assert_allclose(gram, np.eye(small), atol=1e-10)
    if shape[0] == shape[1]:
        np.testing.assert_allclose(np.abs(np.linalg.eigvals(q)), 1.0, atol=1e-10)


def test_eye_zeros_and_gain():
    np.testing.assert_array_equal(init.eye_(_param(3, 3)).array, np.eye(3))
    assert not init.zeros_(init.ones_(_param(2, 2))).array.any()
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("relu") == pytest.approx(np.sqrt(2))
    with pytest.raises(ValueError, match="calculate_gain: unknown nonlinearity 'swish'"):
        init.calculate_gain("swish")


def test_init_is_reproducible_and_linear_default_bound():
    tg.manual_seed(5)
    a = nn.Linear(20, 10).weight.numpy().copy()
    tg.manual_seed(5)
    layer = nn.Linear(20, 10)
    np.testing.assert_array_equal(a, layer.weight.array)
    assert np.abs(layer.weight.array).max() <= 1 / np.sqrt(20)
    assert np.abs(layer.bias.array).max() <= 1 / np.sqrt(20)


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("fn, err, match", [
    (lambda: nn.Linear(3, 2)(tg.Tensor(np.ones((4, 5), np.float32))), ValueError,
     r"linear: input of shape \(4, 5\) has 5 features, the weight \(2, 3\) expects 3"),
    (lambda: nn.Embedding(5, 2)(np.array([0, 5])), IndexError,
     r"Embedding: indices must lie in \[0, 5\), got min 0 and max 5"),
    (lambda: nn.Embedding(5, 2)(np.array([0.5])), TypeError, r"Embedding: indices must be integers"),
    (lambda: nn.LayerNorm(4)(tg.Tensor(np.ones((2, 3)))), ValueError,
     r"LayerNorm: input of shape \(2, 3\) does not end in the normalized shape \(4,\)"),
    (lambda: nn.BatchNorm1d(4)(tg.Tensor(np.ones((2, 3)))), ValueError,
     r"BatchNorm1d: expected input \(N, 4\) or \(N, 4, L\), got \(2, 3\)"),
    (lambda: F.cross_entropy(tg.Tensor(np.ones((2, 3))), np.array([0.0, 1.0])), TypeError,
     r"nll_loss: target must hold integer class indices"),
    (lambda: F.cross_entropy(tg.Tensor(np.ones((2, 3))), np.array([0, 3])), IndexError,
     r"nll_loss: target 3 is out of range for 3 classes"),
    (lambda: F.cross_entropy(tg.Tensor(np.ones((2, 3))), np.array([0, 1]), reduction="avg"),
     ValueError, r"reduction must be one of"),
    (lambda: F.mse_loss(tg.Tensor(np.ones(3)), np.ones(4)), ValueError,
     r"mse_loss: input shape \(3,\) and target shape \(4,\) differ"),
])
def test_bad_input_errors(fn, err, match):
    with pytest.raises(err, match=match):
        fn()


# ---------------------------------------------------------------- the pieces PyTorch users reach for

def test_a_submodule_used_twice_appears_under_every_name():
    shared = nn.Linear(2, 2)
    model = nn.Sequential(shared, nn.Linear(2, 2), shared)
    keys = list(model.state_dict())
    assert keys == ["0.weight", "0.bias", "1.weight", "1.bias", "2.weight", "2.bias"]
    assert len(list(model.parameters())) == 4  # each Parameter once
    sd = model.state_dict()
    sd["2.weight"] = np.full((2, 2), 3.0)
    sd["0.weight"] = np.full((2, 2), 3.0)
    model.load_state_dict(sd)
    assert (shared.weight.array == 3).all()


def test_shared_state_dict_matches_pytorch_keys():
    torch = pytest.importorskip("torch")
    t_shared = torch.nn.Linear(2, 2)
    theirs = torch.nn.Sequential(t_shared, torch.nn.Linear(2, 2), t_shared)
    shared = nn.Linear(2, 2)
    ours = nn.Sequential(shared, nn.Linear(2, 2), shared)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict())
    x = np.ones((1, 2), np.float32)
    np.testing.assert_allclose(ours(tg.Tensor(x)).array, theirs(torch.tensor(x)).detach().numpy(),
                               rtol=1e-6)


def test_assigning_a_plain_tensor_to_a_parameter_attribute_raises():
    layer = nn.Linear(2, 2)
    with pytest.raises(TypeError, match=r"cannot assign Tensor as parameter 'weight' "
                                        r"\(nn.Parameter or None expected\)"):
        layer.weight = tg.Tensor(np.zeros((2, 2)))
    with pytest.raises(TypeError, match="cannot assign ndarray as parameter 'bias'"):
        layer.bias = np.zeros(2)
    assert "weight" in dict(layer.named_parameters())
    layer.weight = nn.Parameter(np.zeros((2, 2), np.float32))
    assert (layer.weight.array == 0).all()


def test_assigning_a_tensor_to_a_buffer_stores_its_numbers():
    bn = nn.BatchNorm1d(2)
    bn.running_mean = tg.Tensor(np.array([1.0, 2.0], np.float32))
    assert isinstance(bn.running_mean, np.ndarray) and bn.running_mean.tolist() == [1.0, 2.0]
    assert bn.state_dict()["running_mean"].tolist() == [1.0, 2.0]


def test_module_to_accepts_cpu_and_dtypes():
    layer = nn.Linear(2, 2)
    assert layer.to("cpu") is layer and layer.weight.dtype == np.float32
    layer.to(tg.float64)
    assert layer.weight.dtype == np.float64
    layer.to("cpu", dtype=np.float32)
    assert layer.weight.dtype == np.float32
    with pytest.raises(tg.DeviceError, match="device 'cuda' is not available.*CPU only"):
        layer.to(device="cuda")


def test_module_list_and_dict_register_their_children():
    blocks = nn.ModuleList([nn.Linear(2, 2), nn.Tanh()])
    blocks.append(nn.Linear(2, 1))
    heads = nn.ModuleDict({"a": nn.Linear(1, 1), "b": nn.ReLU()})
    model = nn.Sequential(*blocks)
    assert len(blocks) == 3 and isinstance(blocks[1], nn.Tanh) and len(blocks[:2]) == 2
    assert [k for k, _ in blocks.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert list(heads) == ["a", "b"] and "a" in heads and list(heads.state_dict()) == ["a.weight",
                                                                                       "a.bias"]
    out = heads["a"](model(tg.Tensor(np.ones((3, 2), np.float32))))
    assert out.shape == (3, 1)
    x = tg.Tensor(np.array([-1.0, 0.5]))
    np.testing.assert_allclose(nn.Sigmoid()(x).array, 1 / (1 + np.exp([1.0, -0.5])))
    assert nn.ReLU()(x).array.tolist() == [0.0, 0.5]
    with pytest.raises(TypeError, match="ModuleDict: 'c' must be a Module"):
        heads["c"] = 3


def test_batchnorm_cumulative_average_with_momentum_none_matches_pytorch():
    batches = [np.random.default_rng(i).standard_normal((4, 3)) for i in range(3)]
    bn = nn.BatchNorm1d(3, momentum=None).double()
    for b in batches:
        bn(tg.Tensor(b))
    means = np.mean([b.mean(0) for b in batches], axis=0)
    variances = np.mean([b.var(0, ddof=1) for b in batches], axis=0)
    np.testing.assert_allclose(bn.running_mean, means, rtol=1e-12)  # the plain average
    np.testing.assert_allclose(bn.running_var, variances, rtol=1e-12)
    torch = pytest.importorskip("torch")
    tbn = torch.nn.BatchNorm1d(3, momentum=None).double()
    for b in batches:
        tbn(torch.tensor(b))
    np.testing.assert_allclose(bn.running_var, tbn.running_var.numpy(), rtol=1e-12)
    np.testing.assert_allclose(bn.running_mean, tbn.running_mean.numpy(), rtol=1e-12)


def test_batchnorm_refuses_a_training_batch_of_one_and_a_dtype_mismatch():
    bn = nn.BatchNorm1d(3)
    with pytest.raises(ValueError, match=r"expected more than 1 value per channel when training, "
                                         r"got input of shape \(1, 3\)"):
        bn(tg.Tensor(np.ones((1, 3), np.float32)))
    bn.eval()
    assert bn(tg.Tensor(np.ones((1, 3), np.float32))).shape == (1, 3)  # fine in eval
    bn.train()
    with pytest.raises(TypeError, match="input dtype float64 does not match the running "
                                        "statistics' dtype float32"):
        bn(tg.Tensor(np.ones((4, 3))))
    assert bn.running_mean.dtype == np.float32


def test_new_losses_gradcheck():
    rng = np.random.default_rng(0)
    x = tg.Tensor(rng.standard_normal((4, 3)), requires_grad=True)
    y = rng.uniform(0, 1, (4, 3))
    assert tg.gradcheck(lambda t: F.binary_cross_entropy_with_logits(t, y, pos_weight=np.array(
        [0.5, 1.0, 2.0])), [x])
    assert tg.gradcheck(lambda t: F.binary_cross_entropy(t.sigmoid(), y), [x])
    assert tg.gradcheck(lambda t: F.l1_loss(t, y + 0.1), [x])
    assert tg.gradcheck(lambda t: F.cross_entropy(t, np.array([0, 2, 1, 1]), weight=np.array(
        [1.0, 2.0, 0.5]), label_smoothing=0.2), [x])
    assert tg.gradcheck(lambda t: F.softplus(t * 30), [x])


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_all_ignored_targets_give_nan_with_zero_gradients_as_pytorch(smoothing):
    x = tg.Tensor(np.ones((2, 3)), requires_grad=True)
    loss = F.cross_entropy(x, np.array([-100, -100]), label_smoothing=smoothing)
    loss.backward()
    assert np.isnan(loss.item()) and (x.grad == 0).all()
    torch = pytest.importorskip("torch")
    t = torch.ones((2, 3), dtype=torch.float64, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(t, torch.tensor([-100, -100]), label_smoothing=smoothing)
    ref.backward()
    assert np.isnan(ref.item()) and (t.grad.numpy() == 0).all()
