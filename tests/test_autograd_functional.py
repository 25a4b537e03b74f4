"""``autograd.functional`` (vjp, jvp, jacobian, hessian, hvp, vhp) against PyTorch's: Hessians,
Hessian-vector products and Jacobians of RNN/LSTM/GRU losses to 1e-8 in float64 (a fixture from
tests/fixtures/make_higher_order_fixtures.py, and live), small functions with tuple inputs and
outputs live, and PyTorch's errors."""
from __future__ import annotations

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn.autograd import functional as AF
from higher_order_cases import rnn_functional
from conftest import FIXTURES

KINDS = ("rnn", "lstm", "gru")


@pytest.mark.parametrize("kind", KINDS)
def test_recurrent_hessians_and_products_match_the_pytorch_fixture(kind):
    ref = np.load(FIXTURES / "higher_order.npz")
    ours = rnn_functional(tg, kind)
    for key, value in ours.items():
        np.testing.assert_allclose(value, ref[f"{kind}.{key}"], rtol=1e-8, atol=1e-10,
                                   err_msg=f"{kind} {key}")


@pytest.mark.parametrize("kind", KINDS)
def test_recurrent_hessians_and_products_match_live_pytorch(kind):
    torch = pytest.importorskip("torch")
    ours, theirs = rnn_functional(tg, kind, seed=5), rnn_functional(torch, kind, seed=5)
    for key in theirs:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-8, atol=1e-10,
                                   err_msg=f"{kind} {key}")


def test_the_hessian_is_symmetric_and_its_products_agree():
    ref = np.load(FIXTURES / "higher_order.npz")
    blocks = [[ref[f"lstm.hessian.{i}.{j}"] for j in range(4)] for i in range(4)]
    sizes = [int(np.prod(blocks[i][i].shape[:blocks[i][i].ndim // 2])) for i in range(4)]
    full = np.block([[blocks[i][j].reshape(sizes[i], sizes[j]) for j in range(4)]
                     for i in range(4)])
    np.testing.assert_allclose(full, full.T, atol=1e-12)
    ours = rnn_functional(tg, "lstm")
    for i in range(4):
        np.testing.assert_allclose(ours[f"hvp.{i}"], ours[f"vhp.{i}"], atol=1e-12)


def _f(lib, x, y):
    return (x.exp() * y.sigmoid()).sum(0), (x * y).tanh()


def _g(lib, x):
    return (x ** 3).sum() + (x[0] * x[-1]).tanh()


def _h(lib, x, y):
    return (x.tanh() * y).sum() + (x * x * y).sum()


def _inputs(lib, *shapes, seed=0):
    rng = np.random.default_rng(seed)
    return tuple(lib.tensor(rng.standard_normal(s)) for s in shapes)


def _compare(ours, theirs):
    if isinstance(theirs, (tuple, list)):
        assert isinstance(ours, tuple) and len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            _compare(a, b)
    else:
        assert isinstance(ours, tg.Tensor) and ours.shape == tuple(theirs.shape)
        np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-10,
                                   atol=1e-12)


@pytest.mark.parametrize("what", ["vjp", "jvp", "jacobian"])
def test_first_order_functional_matches_live_pytorch_with_tuples(what):
    """Two inputs and two outputs: results are tuples (of tuples for the Jacobian)."""
    torch = pytest.importorskip("torch")
    extra = {"vjp": lambda lib: (tuple(lib.tensor(np.full(s, 0.5)) for s in [(3,), (2, 3)]),),
             "jvp": lambda lib: (_inputs(lib, (2, 3), (3,), seed=1),),
             "jacobian": lambda lib: ()}[what]
    ours = getattr(AF, what)(lambda *a: _f(tg, *a), _inputs(tg, (2, 3), (3,)), *extra(tg))
    theirs = getattr(torch.autograd.functional, what)(
        lambda *a: _f(torch, *a), _inputs(torch, (2, 3), (3,)), *extra(torch))
    _compare(ours, theirs)


@pytest.mark.parametrize("what", ["vjp", "jvp", "jacobian", "hessian", "hvp", "vhp"])
def test_functional_matches_live_pytorch_on_one_tensor(what):
    torch = pytest.importorskip("torch")
    x, v = np.array([0.3, -1.2, 0.7]), np.array([1.0, 2.0, -0.5])
    extra = {"vjp": (), "jacobian": (), "hessian": ()}.get(what, (v,))
    ours = getattr(AF, what)(lambda a: _g(tg, a), tg.tensor(x), *map(tg.tensor, extra))
    theirs = getattr(torch.autograd.functional, what)(lambda a: _g(torch, a), torch.tensor(x),
                                                      *map(torch.tensor, extra))
    _compare(ours, theirs)


@pytest.mark.parametrize("what", ["hessian", "hvp", "vhp"])
def test_second_order_functional_matches_live_pytorch_with_tuples(what):
    torch = pytest.importorskip("torch")
    extra = (lambda lib: ()) if what == "hessian" else \
        (lambda lib: (_inputs(lib, (2,), (2,), seed=3),))
    ours = getattr(AF, what)(lambda *a: _h(tg, *a), _inputs(tg, (2,), (2,), seed=2), *extra(tg))
    theirs = getattr(torch.autograd.functional, what)(
        lambda *a: _h(torch, *a), _inputs(torch, (2,), (2,), seed=2), *extra(torch))
    _compare(ours, theirs)


def test_create_graph_makes_the_results_differentiable():
    x = tg.tensor(np.array([0.5, -0.3]), requires_grad=True)
    v = tg.tensor(np.array([1.0, 2.0]))
    _, hv = AF.hvp(lambda a: (a ** 4).sum(), x, v, create_graph=True)  # 12 x² v
    assert hv.requires_grad
    g, = tg.autograd.grad(hv.sum(), x)  # 24 x v
    np.testing.assert_allclose(g.numpy(), 24 * x.numpy() * v.numpy())
    _, hv_plain = AF.hvp(lambda a: (a ** 4).sum(), x, v)
    assert not hv_plain.requires_grad
    j = AF.jacobian(lambda a: a * a, x, create_graph=True)  # diag(2x)
    g, = tg.autograd.grad(j.sum(), x)
    np.testing.assert_allclose(g.numpy(), [2.0, 2.0])


def test_unused_inputs_give_zeros_or_strict_errors():
    x, y = tg.tensor(np.ones(2)), tg.tensor(np.ones(3))
    out, (gx, gy) = AF.vjp(lambda a, b: (a * 2).sum(), (x, y))
    np.testing.assert_array_equal(gy.numpy(), np.zeros(3))
    with pytest.raises(RuntimeError, match="vjp: the output of the user-provided function is "
                                           "independent of input 1. This is not allowed in "
                                           "strict mode."):
        AF.vjp(lambda a, b: (a * 2).sum(), (x, y), strict=True)
    jac = AF.jacobian(lambda a, b: a * 2, (x, y))
    np.testing.assert_array_equal(jac[1].numpy(), np.zeros((2, 3)))
    h = AF.hessian(lambda a: (a * 2).sum(), x)  # linear: the Hessian is zero
    np.testing.assert_array_equal(h.numpy(), np.zeros((2, 2)))


def test_functional_errors():
    x = tg.tensor(np.ones(3))
    with pytest.raises(RuntimeError, match="vector v can only be None if the user-provided "
                                           "function's output is a single Tensor with a single "
                                           "element"):
        AF.vjp(lambda a: a * 2, x)
    with pytest.raises(RuntimeError, match="hessian should contain a single element"):
        AF.hessian(lambda a: a * 2, x)
    with pytest.raises(RuntimeError, match="strict=True and vectorize=True are not supported "
                                           "together"):
        AF.jacobian(lambda a: a * 2, x, strict=True, vectorize=True)
    with pytest.raises(TypeError, match="jacobian: the outputs of the user-provided function "
                                        "must be either a Tensor or a tuple of Tensors"):
        AF.jacobian(lambda a: 3.0, x)
    np.testing.assert_allclose(AF.jacobian(lambda a: a * 2, x, vectorize=True).numpy(),
                               2 * np.eye(3))


def test_jvp_says_how_it_is_computed():
    assert "double-VJP" in AF.jvp.__doc__
