"""The module forms of the losses and activations, the newer ``nn.functional`` forms (gelu,
layer_norm, embedding, one_hot, pad, normalize, scaled_dot_product_attention, softplus's beta and
threshold) against PyTorch, and the ``torch.nn.modules.*`` import paths."""
from __future__ import annotations

import importlib
import pathlib
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_rnn as tg
from conftest import fixture_script
from functional_cases import CASES, make_arrays
from strategies import tensors
from tinygrad_rnn import nn
from tinygrad_rnn.nn import functional as F

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
# PyTorch's deprecation notes (mixed mask types, size_average, nested tensors) are expected here
pytestmark = pytest.mark.filterwarnings("ignore:.*(deprecated|nested_tensor).*:UserWarning")
mk = fixture_script("make_functional_fixtures")


def T(a, grad=True):
    return tg.Tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def _compare(ours, ref, what, rtol=1e-10, atol=1e-12):
    assert set(ours) == set(ref), f"{what}: {sorted(set(ours) ^ set(ref))}"
    for k, v in ref.items():
        np.testing.assert_allclose(ours[k], v, rtol=rtol, atol=atol, err_msg=f"{what}: {k}")


@pytest.mark.parametrize("name", sorted(CASES))
def test_case_matches_pytorch_fixture(name):
    ref = np.load(FIXTURES / "functional.npz")
    values, grads = mk.run(tg, name, make_arrays())

    def part(kind):
        prefix = f"{name}/{kind}/"
        return {k[len(prefix):]: ref[k] for k in ref.files if k.startswith(prefix)}

    _compare(values, part("value"), f"{name} value")
    _compare(grads, part("grad"), f"{name} grad")


@pytest.mark.parametrize("name", sorted(CASES))
def test_case_matches_live_pytorch(name):
    torch = pytest.importorskip("torch")
    arrays = make_arrays(seed=5)
    ref_values, ref_grads = mk.run(torch, name, arrays)
    values, grads = mk.run(tg, name, arrays)
    _compare(values, ref_values, f"{name} value")
    _compare(grads, ref_grads, f"{name} grad")


ELEMENTWISE = {
    "gelu": lambda F, t: F.gelu(t) * t + F.gelu(t * 3.0),
    "gelu_tanh": lambda F, t: F.gelu(t, approximate="tanh") * t + F.gelu(t * 3.0, approximate="tanh"),
    "softplus": lambda F, t: F.softplus(t * 10.0, beta=2.0, threshold=15.0) * t,
    "leaky_relu": lambda F, t: F.leaky_relu(t, 0.1) * t,
    "normalize": lambda F, t: F.normalize(t.reshape(-1), dim=0) * t.reshape(-1),
}


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
@settings(max_examples=30, deadline=None)
@given(x=tensors(low=-3.0, high=3.0, avoid_zero=True))
def test_new_functionals_on_0d_1_element_and_reused_tensors_match_live_pytorch(name, x):
    torch = pytest.importorskip("torch")
    fn = ELEMENTWISE[name]
    ours, theirs = T(x.numpy()), torch.tensor(x.numpy(), requires_grad=True)
    out, ref = fn(F, ours), fn(torch.nn.functional, theirs)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-10, atol=1e-14)
    (out * out).sum().backward()
    (ref * ref).sum().backward()
    np.testing.assert_allclose(np.asarray(ours.grad), theirs.grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("fn", [
    lambda x: F.gelu(x) * x, lambda x: F.gelu(x, approximate="tanh"),
    lambda x: F.layer_norm(x, (3,), x[0] * 2, x[1]),
    lambda x: F.pad(x, (1, -1, 0, 2), value=0.5) * F.pad(x, (1, -1, 0, 2)),
    lambda x: F.normalize(x, dim=0) + F.normalize(x, p=1, dim=1),
    lambda x: F.scaled_dot_product_attention(x, x * 2, x.exp(), attn_mask=x[:, :2] * 0 + x[0, 0]),
    lambda x: F.softplus(x * 9, beta=3.0, threshold=20.0),
], ids=["gelu", "gelu_tanh", "layer_norm", "pad", "normalize", "sdpa", "softplus"])
def test_new_functionals_gradcheck(fn):
    x = T(np.random.default_rng(0).uniform(-2, 2, (2, 3)))
    assert tg.gradcheck(fn, [x])


def test_each_loss_module_gives_its_functional():
    rng = np.random.default_rng(0)
    lg, cls = T(rng.standard_normal((5, 4))), tg.tensor(np.array([1, 0, 3, 3, 2]))
    p, y = T(rng.uniform(0.1, 0.9, (5, 4))), T(rng.uniform(0, 1, (5, 4)), grad=False)
    w, pw = rng.uniform(0.5, 2, 4), rng.uniform(0.5, 2, 4)
    pairs = [
        (nn.NLLLoss(weight=w, ignore_index=0, reduction="sum")(lg, cls),
         F.nll_loss(lg, cls, weight=w, ignore_index=0, reduction="sum")),
        (nn.CrossEntropyLoss(w, label_smoothing=0.2)(lg, cls),
         F.cross_entropy(lg, cls, w, label_smoothing=0.2)),
        (nn.MSELoss(reduction="none")(p, y), F.mse_loss(p, y, reduction="none")),
        (nn.L1Loss()(p, y), F.l1_loss(p, y)),
        (nn.BCELoss(weight=w)(p, y), F.binary_cross_entropy(p, y, weight=w)),
        (nn.BCEWithLogitsLoss(pos_weight=pw, reduction="sum")(lg, y),
         F.binary_cross_entropy_with_logits(lg, y, pos_weight=pw, reduction="sum")),
    ]
    for module_out, functional_out in pairs:
        np.testing.assert_array_equal(module_out.numpy(), functional_out.numpy())


def test_each_activation_module_gives_its_functional():
    x = T(np.random.default_rng(1).standard_normal((2, 3, 4)) * 5)
    pairs = [(nn.LeakyReLU(0.2), lambda t: F.leaky_relu(t, 0.2)), (nn.GELU(), F.gelu),
             (nn.GELU(approximate="tanh"), lambda t: F.gelu(t, approximate="tanh")),
             (nn.Softplus(2.0, 4.0), lambda t: F.softplus(t, 2.0, 4.0)),
             (nn.Softmax(dim=-1), lambda t: F.softmax(t, -1)),
             (nn.LogSoftmax(dim=1), lambda t: F.log_softmax(t, 1)), (nn.ReLU(), F.relu),
             (nn.Tanh(), F.tanh), (nn.Sigmoid(), F.sigmoid), (nn.Identity(), lambda t: t),
             (nn.Flatten(), lambda t: t.reshape(2, 12)), (nn.Dropout(0.0), lambda t: t)]
    for module, fn in pairs:
        np.testing.assert_array_equal(module(x).numpy(), fn(x).numpy(), err_msg=repr(module))


def test_softmax_without_dim_picks_pytorchs_legacy_dim_with_a_warning():
    torch = pytest.importorskip("torch")
    for shape in [(3,), (2, 3), (2, 3, 4), (2, 3, 4, 5)]:
        x = np.random.default_rng(0).standard_normal(shape)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = torch.nn.LogSoftmax()(torch.tensor(x)).numpy()
        with pytest.warns(UserWarning, match="implicit dimension"):
            out = nn.LogSoftmax()(T(x, grad=False)).numpy()
        np.testing.assert_allclose(out, ref, rtol=1e-12)


@pytest.mark.parametrize("size_average", [None, True, False])
@pytest.mark.parametrize("reduce", [None, True, False])
def test_legacy_size_average_and_reduce_map_to_pytorchs_reduction(size_average, reduce):
    torch = pytest.importorskip("torch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = torch.nn.MSELoss(size_average=size_average, reduce=reduce).reduction
        ours = nn.MSELoss(size_average=size_average, reduce=reduce).reduction
    assert ours == ref


def test_loss_weights_are_buffers_with_pytorchs_state_dict_keys():
    torch = pytest.importorskip("torch")
    w = np.array([1.0, 2.0, 0.5])
    for name, kwargs in [("CrossEntropyLoss", {"weight": w}), ("NLLLoss", {"weight": w}),
                         ("BCELoss", {"weight": w}), ("MSELoss", {}),
                         ("BCEWithLogitsLoss", {"weight": w, "pos_weight": w * 2})]:
        ours = getattr(nn, name)(**kwargs)
        theirs = getattr(torch.nn, name)(**{k: torch.tensor(v) for k, v in kwargs.items()})
        assert list(ours.state_dict()) == list(theirs.state_dict()), name
        ours.load_state_dict(theirs.state_dict())


def test_one_hot_matches_pytorch():
    torch = pytest.importorskip("torch")
    for idx, n in [(np.array([0, 3, 1]), -1), (np.array([[1, 2], [0, 0]]), 5),
                   (np.array(2), 4), (np.zeros((0,), np.int64), 3)]:
        out = F.one_hot(tg.tensor(idx), n)
        ref = torch.nn.functional.one_hot(torch.tensor(idx), n)
        assert out.dtype == np.int64 and out.shape == tuple(ref.shape)
        np.testing.assert_array_equal(out.numpy(), ref.numpy())


def test_sdpa_causal_equals_an_explicit_lower_triangle():
    rng = np.random.default_rng(0)
    q, k, v = (T(rng.standard_normal(s)) for s in [(2, 3, 4), (2, 5, 4), (2, 5, 2)])
    keep = np.tril(np.ones((3, 5), bool))
    a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    b = F.scaled_dot_product_attention(q, k, v, attn_mask=keep)
    c = F.scaled_dot_product_attention(q, k, v, attn_mask=np.where(keep, 0.0, -np.inf))
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_allclose(a.numpy(), c.numpy(), rtol=1e-14)


def test_embedding_module_and_functional_share_the_padding_rule():
    tg.manual_seed(0)
    emb = nn.Embedding(5, 3, padding_idx=-1)
    assert emb.padding_idx == 4 and not emb.weight.numpy()[4].any()
    idx = tg.tensor(np.array([4, 1, 4]))
    emb(idx).sum().backward()
    np.testing.assert_array_equal(np.asarray(emb.weight.grad)[[0, 1, 4]],
                                  [[0, 0, 0], [1, 1, 1], [0, 0, 0]])


@pytest.mark.parametrize("call, err, match", [
    (lambda: F.pad(T(np.ones((2, 3))), (1, 1), mode="reflect"), NotImplementedError, "reflect"),
    (lambda: F.pad(T(np.ones((2, 3))), (1, 1, 1)), ValueError, "pairs"),
    (lambda: F.pad(T(np.ones((2, 3))), (-2, -2)), ValueError, "negative size"),
    (lambda: F.gelu(T([1.0]), approximate="erf"), ValueError, "approximate"),
    (lambda: nn.GELU("fast"), ValueError, "approximate"),
    (lambda: F.one_hot(T([1.0])), TypeError, "integer"),
    (lambda: F.one_hot(tg.tensor(np.array([3])), 2), ValueError, "smaller than num_classes=2"),
    (lambda: F.one_hot(tg.tensor(np.array([-1]))), ValueError, "non-negative"),
    (lambda: F.embedding(tg.tensor(np.array([0])), T(np.ones((2, 2))), max_norm=1.0),
     NotImplementedError, "max_norm"),
    (lambda: F.scaled_dot_product_attention(T(np.ones((2, 3))), T(np.ones((2, 3))),
                                            T(np.ones((2, 3))), attn_mask=np.ones((2, 2), bool),
                                            is_causal=True), ValueError, "not both"),
    (lambda: F.scaled_dot_product_attention(T(np.ones((2, 3))), T(np.ones((2, 4))),
                                            T(np.ones((2, 3)))), ValueError, "one feature size"),
    (lambda: nn.MSELoss(reduction="avg"), ValueError, "reduction"),
])
def test_bad_input_errors(call, err, match):
    with pytest.raises(err, match=match):
        call()


MODULE_PATHS = ["module", "linear", "rnn", "sparse", "dropout", "normalization", "batchnorm",
                "flatten", "activation", "loss", "container", "transformer"]


@pytest.mark.parametrize("sub", MODULE_PATHS)
def test_nn_modules_paths_re_export_the_same_classes(sub):
    mod = importlib.import_module(f"tinygrad_rnn.nn.modules.{sub}")
    assert mod.__all__
    for name in mod.__all__:
        assert getattr(mod, name) is getattr(nn, name), (sub, name)
        assert getattr(nn.modules, name) is getattr(nn, name)


@pytest.mark.parametrize("sub", MODULE_PATHS)
def test_nn_modules_paths_are_where_pytorch_keeps_them(sub):
    pytest.importorskip("torch")
    theirs = importlib.import_module(f"torch.nn.modules.{sub}")
    ours = importlib.import_module(f"tinygrad_rnn.nn.modules.{sub}")
    for name in ours.__all__:
        assert hasattr(theirs, name), f"torch.nn.modules.{sub} has no {name}"


@pytest.mark.parametrize("name", ["NLLLoss", "CrossEntropyLoss", "MSELoss", "L1Loss", "BCELoss",
                                  "BCEWithLogitsLoss", "LogSoftmax", "Softmax", "Softplus",
                                  "LeakyReLU", "GELU", "Identity", "Flatten", "Dropout",
                                  "MultiheadAttention", "Transformer"])
def test_constructor_arguments_are_pytorchs(name):
    """Every argument our constructor takes, PyTorch's takes under the same name and default
    (PyTorch may take more: device and dtype, for instance)."""
    torch = pytest.importorskip("torch")
    import inspect
    ours = inspect.signature(getattr(nn, name).__init__).parameters
    theirs = inspect.signature(getattr(torch.nn, name).__init__).parameters
    for arg, p in ours.items():
        if arg in ("self", "args", "kwargs"):
            continue
        assert arg in theirs, f"{name}: {arg}"
        default = theirs[arg].default
        if isinstance(default, (int, float, str, bool, type(None))):
            assert p.default == default, f"{name}({arg}=): {p.default!r} != {default!r}"


@st.composite
def _pads(draw):
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    dims = draw(st.integers(1, len(shape)))
    pads = []
    for n in reversed(shape[len(shape) - dims:]):
        left = draw(st.integers(-(n // 2), 2))
        pads += [left, draw(st.integers(-(n - n // 2), 2))]
    return shape, tuple(pads)


@settings(max_examples=30, deadline=None)
@given(case=_pads(), value=st.floats(-2, 2))
def test_pad_matches_live_pytorch_on_generated_shapes(case, value):
    torch = pytest.importorskip("torch")
    shape, pads = case
    x = np.random.default_rng(0).standard_normal(shape)
    ours, theirs = T(x), torch.tensor(x, requires_grad=True)
    try:
        ref = torch.nn.functional.pad(theirs, pads, value=value)
    except RuntimeError:
        with pytest.raises(ValueError):
            F.pad(ours, pads, value=value)
        return
    out = F.pad(ours, pads, value=value)
    np.testing.assert_array_equal(out.numpy(), ref.detach().numpy())
    (out * out).sum().backward()
    (ref * ref).sum().backward()
    np.testing.assert_array_equal(np.asarray(ours.grad), theirs.grad.numpy())


@pytest.mark.parametrize("make", [lambda nn: nn.ReLU(inplace=True),
                                  lambda nn: nn.LeakyReLU(0.2, inplace=True)],
                         ids=["relu", "leaky_relu"])
def test_inplace_activations_write_into_their_input_as_pytorch(make):
    torch = pytest.importorskip("torch")
    x = np.array([[-1.5, 0.0, 2.0], [0.5, -0.25, 0.0]])

    def expr(lib, nn, t):
        h = t * 2.0
        y = make(nn)(h)
        return y, h, (y * h * t).sum()  # h now holds y

    ours, theirs = T(x), torch.tensor(x, requires_grad=True)
    y, h, out = expr(tg, nn, ours)
    ry, rh, ref = expr(torch, torch.nn, theirs)
    assert y is h and ry is rh
    np.testing.assert_array_equal(h.numpy(), rh.detach().numpy())
    out.backward()
    ref.backward()
    np.testing.assert_allclose(np.asarray(ours.grad), theirs.grad.numpy(), rtol=1e-12)
    with pytest.raises(RuntimeError, match="leaf"):
        make(nn)(T(x))  # a leaf that requires grad: refused, as PyTorch


def test_inplace_dropout_writes_the_scaled_kept_values_and_their_gradient():
    tg.manual_seed(0)
    x = T(np.ones((50, 40)))
    h = x * 1.0
    y = nn.Dropout(0.25, inplace=True)(h)
    assert y is h
    kept = y.numpy() != 0
    np.testing.assert_allclose(y.numpy()[kept], 1 / 0.75)
    assert 0.2 < 1 - kept.mean() < 0.3
    y.sum().backward()
    np.testing.assert_allclose(np.asarray(x.grad), kept / 0.75)
    np.testing.assert_array_equal(nn.Dropout(0.25, inplace=True).eval()(h).numpy(), y.numpy())
