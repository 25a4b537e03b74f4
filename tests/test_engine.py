"""The engine: Tensor basics, backward semantics, grad modes, anomaly detection, scopes, errors,
and values/gradients against PyTorch."""
from __future__ import annotations

import pathlib

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn.nn import functional as F
from conftest import fixture_script
from tinygrad_rnn import ops
from tinygrad_rnn.engine import apply as _apply
from engine_expressions import EXPRESSIONS, make_inputs

FIXTURES = pathlib.Path(__file__).parent / "fixtures"


def T(a, grad=True):
    return tg.Tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


# ---------------------------------------------------------------- against PyTorch

def run_ours(name, inputs):
    t = {k: T(v) for k, v in inputs.items()}
    out = EXPRESSIONS[name](tg, t)
    out.sum().backward()
    return out.array, {k: (v.grad if v.grad is not None else np.zeros_like(inputs[k]))
                      for k, v in t.items()}


@pytest.mark.parametrize("name", sorted(EXPRESSIONS))
def test_expression_matches_pytorch_fixture(name):
    ref = np.load(FIXTURES / "engine_expressions.npz")
    inputs = {k[len("input."):]: ref[k] for k in ref.files if k.startswith("input.")}
    value, grads = run_ours(name, inputs)
    np.testing.assert_allclose(value, ref[f"{name}.value"], rtol=1e-10, atol=1e-12)
    for k, g in grads.items():
        np.testing.assert_allclose(g, ref[f"{name}.grad.{k}"], rtol=1e-10, atol=1e-12,
                                   err_msg=f"{name}: gradient of {k}")


@pytest.mark.parametrize("name", sorted(EXPRESSIONS))
def test_expression_matches_live_pytorch(name):
    torch = pytest.importorskip("torch")
    mk = fixture_script("make_engine_fixtures")
    inputs = make_inputs(seed=7)  # other inputs than the stored ones
    ref_value, ref_grads = mk.run_torch(torch, name, inputs)
    value, grads = run_ours(name, inputs)
    np.testing.assert_allclose(value, ref_value, rtol=1e-10, atol=1e-12)
    for k in grads:
        np.testing.assert_allclose(grads[k], ref_grads[k], rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------- construction and dtypes

def test_python_floats_become_float32_and_numpy_float64_stays():
    assert tg.Tensor([1.0, 2.0]).dtype == np.float32
    assert tg.Tensor(1.5).dtype == np.float32
    assert tg.Tensor(np.array([1.0])).dtype == np.float64
    assert tg.Tensor([1, 2]).dtype == np.int64
    assert tg.Tensor([1.0], dtype=np.float64).dtype == np.float64


def test_ops_with_python_scalars_keep_float32():
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    y = (2.5 * x + 1) / 3.0 - x ** 2
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32


def test_integer_tensor_cannot_require_grad():
    with pytest.raises(TypeError, match="only floating point tensors can require grad.*int64"):
        tg.Tensor([1, 2], requires_grad=True)


def test_comparisons_return_tensors_without_grad():
    x = T([1.0, 2.0, 3.0])
    for c in (x > 2, x >= 2, x < 2, x <= 2, x == 2, x != 2):
        assert isinstance(c, tg.Tensor) and c.dtype == bool and not c.requires_grad
    np.testing.assert_array_equal((x > 1.5).array, [False, True, True])


def test_tensor_attributes_and_repr():
    x = tg.Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    assert x.shape == (2, 3) and x.ndim == 2 and x.numel() == 6 and x.size(1) == 3
    assert x.is_leaf and x.grad is None
    y = x * 2
    assert "op=mul" in repr(y) and "requires_grad=True" in repr(x) and "float64" in repr(x)
    assert tg.Tensor([3.5]).item() == 3.5
    with pytest.raises(ValueError, match="item: only one-element tensors"):
        x.item()


# ---------------------------------------------------------------- backward

def test_backward_through_a_100000_op_chain():
    x = T([1.0])
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.backward()
    np.testing.assert_array_equal(x.grad, [1.0])


def test_each_vjp_is_called_exactly_once(monkeypatch):
    calls = []
    original = ops.Mul.backward

    def counting(ctx, g):
        calls.append(ctx.id)
        return original(ctx, g)
    monkeypatch.setattr(ops.Mul, "backward", staticmethod(counting))
    x = T([1.0, 2.0])
    h = x * x  # used by three later ops
    y = (h * 2.0) + (h * 3.0) + (h * h)
    y.sum().backward()
    assert len(calls) == len(set(calls)) == 4  # x·x, h·2, h·3, h·h
    np.testing.assert_allclose(x.grad, 2 * x.array * (5 + 2 * x.array ** 2))


def test_diamond_graph_sums_all_paths():
    x = T([0.5])
    a, b = x.tanh(), x.exp()
    (a * b + a + b).backward()
    t, e = np.tanh(0.5), np.exp(0.5)
    np.testing.assert_allclose(x.grad, [(1 - t * t) * e + t * e + (1 - t * t) + e])


def test_leaf_gradients_accumulate_across_backward_calls():
    x = T([1.0, 2.0])
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [3 + 2, 3 + 4])


def test_retain_graph_allows_a_second_backward():
    x = T([2.0])
    y = x.tanh() * x
    y.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    y.backward()
    np.testing.assert_allclose(x.grad, 2 * first)


def test_second_backward_through_freed_graph_raises():
    x = T([2.0])
    y = x.exp() * x
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time.*retain_graph"):
        y.backward()


def test_saved_arrays_are_released_after_backward():
    x = T([2.0])
    y = x.exp()
    node = y.node
    assert node.saved
    y.backward()
    assert node.saved is None and node.released


def test_non_leaf_grad_only_with_retain_grad():
    x = T([1.0, 2.0])
    h = x * 2
    k = h * 3
    k.retain_grad()
    (k * k).sum().backward()
    assert h.grad is None
    np.testing.assert_allclose(k.grad, 2 * k.array)


def test_backward_with_explicit_gradient():
    x = T([1.0, 2.0])
    (x * x).backward(np.array([1.0, 10.0]))
    np.testing.assert_array_equal(x.grad, [2.0, 40.0])


def test_backward_errors():
    x = T([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"gradient can be implied only for a one-element.*\(2,\)"):
        (x * 2).backward()
    with pytest.raises(RuntimeError, match="does not require grad"):
        T([1.0], grad=False).backward()
    with pytest.raises(ValueError, match=r"gradient of shape \(3,\) does not match.*\(2,\)"):
        (x * 2).backward(np.ones(3))


def test_backward_on_a_leaf_sets_its_grad():
    x = T([3.0])
    x.backward()
    np.testing.assert_array_equal(x.grad, [1.0])


def test_gradient_does_not_flow_into_inputs_without_requires_grad():
    x, c = T([1.0]), T([5.0], grad=False)
    (x * c).backward()
    assert c.grad is None and x.grad[0] == 5.0


# ---------------------------------------------------------------- grad modes, detach

def test_no_grad_records_nothing():
    x = T([1.0])
    with tg.no_grad():
        y = x * 2
    assert y.node is None and not y.requires_grad
    assert (x * 2).node is not None


def test_no_grad_as_decorator_and_enable_grad_inside():
    x = T([1.0])

    @tg.no_grad()
    def f():
        with tg.enable_grad():
            inner = x * 2
        return x * 3, inner
    outer, inner = f()
    assert outer.node is None and inner.node is not None
    assert tg.is_grad_enabled()


def test_detach_cuts_the_graph():
    x = T([2.0])
    h = x * x
    y = h.detach() * x + h
    y.backward()
    np.testing.assert_allclose(x.grad, [4.0 + 4.0])  # d(h_const·x)/dx + dh/dx
    assert h.detach().array is h.array


def test_truncated_recurrence_gradient_stops_at_detach():
    w = T([0.9])
    h = T([1.0], grad=False)
    for _ in range(5):
        h = (h * w).tanh()
    h = h.detach()
    for _ in range(3):
        h = (h * w).tanh()
    h.backward()
    full_w = T([0.9])
    h2 = T([1.0], grad=False)
    for step in range(8):
        h2 = (h2 * (full_w if step >= 5 else full_w.detach())).tanh()
    h2.backward()
    np.testing.assert_allclose(w.grad, full_w.grad)


# ---------------------------------------------------------------- anomaly mode

def test_anomaly_names_the_forward_op_and_scope():
    x = T([1.0, -1.0])
    with tg.detect_anomaly(), tg.scope("encoder"):
        with pytest.raises(tg.AnomalyError, match=r"log forward produced NaN/Inf in scope "
                                                  r"encoder; input shapes \[\(2,\)\]"):
            with np.errstate(all="ignore"):
                x.log()


def test_anomaly_in_backward_names_the_op():
    x = T([0.0, 1.0])
    with tg.detect_anomaly():
        y = x.sqrt().sum()
        with np.errstate(all="ignore"):
            with pytest.raises(tg.AnomalyError, match="sqrt backward produced NaN/Inf"):
                y.backward()


def test_no_anomaly_error_when_finite_or_outside_the_mode():
    x = T([1.0, 2.0])
    with tg.detect_anomaly():
        x.log().sum().backward()
    with np.errstate(all="ignore"):
        assert np.isnan(T([-1.0]).log().array).all()


# ---------------------------------------------------------------- scopes and ids

def test_nested_scopes_are_recorded_as_paths():
    x = T([1.0])
    with tg.scope("model"):
        a = x * 2
        with tg.scope("rnn"), tg.scope("t3"):
            b = a.tanh()
    c = b + 1
    assert a.node.scope == ("model",)
    assert b.node.scope == ("model", "rnn", "t3")
    assert c.node.scope == ()
    assert tg.current_scope() == ()


def test_node_ids_increase_in_creation_order():
    x = T([1.0])
    a = x * 2
    b = a + 1
    c = b.exp()
    assert a.node.id < b.node.id < c.node.id
    assert b.node.edges[0] == (a.node, 0) and b.node.name == "add"


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("fn, err, match", [
    (lambda: T(np.ones((3, 4))) @ T(np.ones((5, 2))), ValueError,
     r"matmul: shapes \(3, 4\) and \(5, 2\) do not align \(4 != 5\)"),
    (lambda: T(np.ones((3, 4))) + T(np.ones(5)), ValueError,
     r"add: shapes \(3, 4\), \(5,\) cannot be broadcast together"),
    (lambda: tg.cat([T(np.ones((2, 3))), T(np.ones((3, 3)))], 1), ValueError,
     r"cat: shapes \(2, 3\), \(3, 3\) must match except in dim 1"),
    (lambda: tg.stack([T(np.ones(2)), T(np.ones(3))]), ValueError,
     r"stack: all tensors must have the same shape"),
    (lambda: T(np.ones((2, 3))).reshape(4, 2), ValueError,
     r"reshape: cannot reshape \(2, 3\) \(6 elements\) into \(4, 2\)"),
    (lambda: T(np.ones((2, 3)))[5], IndexError,
     r"getitem: index \[5\] is out of range for a tensor of shape \(2, 3\)"),
    (lambda: T(np.ones((2, 3))).sum(dim=2), IndexError,
     r"sum: dim 2 is out of range for a tensor with 2 dims"),
    (lambda: T(np.ones((2, 3))).softmax(-3), IndexError, r"softmax: dim -3 is out of range"),
    (lambda: T(np.ones((2, 3))).split([1, 1], 1), ValueError,
     r"split: sizes \[1, 1\] do not add up to dim 1 of shape \(2, 3\) \(3\)"),
    (lambda: T(np.ones((2, 3))).permute(0, 0), ValueError, r"permute: \(0, 0\) is not a permutation"),
    (lambda: T(np.ones(3)) @ T(np.ones(())), ValueError, r"matmul: both operands need at least 1"),
])
def test_bad_input_errors_name_the_op_and_shapes(fn, err, match):
    with pytest.raises(err, match=match):
        fn()


def test_custom_function_with_wrong_gradient_shape_is_caught():
    class Bad(ops.Function):
        name = "bad"

        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, g):
            return g.sum()
    x = T([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"bad backward returned a gradient of shape \(\) for "
                                           r"input 0 of shape \(2,\)"):
        _apply(Bad, x).sum().backward()


def test_grad_norm_tracking_is_a_hook_switched_on_and_off():
    x = T([3.0, 4.0])
    with tg.track_grad_norms(False):
        z = x * 1.0
        z.sum().backward()
    assert z.node.grad_norm is None
    with tg.track_grad_norms(True):
        y = x * 1.0
        y.sum().backward()
    assert y.node.grad_norm == pytest.approx(np.sqrt(2))
    with tg.track_grad_norms(False):
        w = x * 1.0
        w.sum().backward()
    assert w.node.grad_norm is None


# ---------------------------------------------------------------- deferred weight gradients

def _weight_used_at_every_step(T_steps=6, hook=None):
    rng = np.random.default_rng(3)
    w = tg.Tensor(rng.standard_normal((4, 3)), requires_grad=True)
    v = tg.Tensor(rng.standard_normal((4, 3)), requires_grad=True)
    if hook:
        w.register_hook(hook)
    h = tg.Tensor(rng.standard_normal((2, 3)))
    total = None
    for _ in range(T_steps):
        h = F.linear(h, w).tanh() @ v  # w through linear, v through matmul
        total = h.sum() if total is None else total + h.sum()
    return w, v, total


def test_deferred_weight_products_equal_the_step_by_step_sum():
    w, v, total = _weight_used_at_every_step()
    total.backward(retain_graph=True)
    deferred = (w.grad.numpy().copy(), v.grad.numpy().copy())
    w.grad = v.grad = None
    seen = []
    handle = tg.register_backward_hook(lambda n, go, gi: seen.extend(
        type(g) for g in gi if g is not None))  # with a hook installed, products are computed per step
    total.backward()
    handle.remove()
    assert set(seen) == {np.ndarray}
    np.testing.assert_allclose(w.grad, deferred[0], rtol=1e-12)
    np.testing.assert_allclose(v.grad, deferred[1], rtol=1e-12)
    assert tg.gradcheck(lambda w_, v_: _run_steps(w_, v_), [w.detach().requires_grad_(),
                                                            v.detach().requires_grad_()])


def _run_steps(w, v):
    h = tg.Tensor(np.random.default_rng(3).standard_normal((2, 3)))
    out = []
    for _ in range(4):
        h = F.linear(h, w).tanh() @ v
        out.append(h)
    return tg.stack(out)


def test_a_leaf_hook_sees_each_products_value():
    calls = []
    w, _, total = _weight_used_at_every_step(hook=lambda g: calls.append(g.shape))
    total.backward()
    assert calls == [(4, 3)] * 6


def test_a_leaf_getting_deferred_and_direct_gradients_adds_both():
    w = tg.Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    x = tg.Tensor(np.ones((5, 3)))
    y = F.linear(x, w).sum() + (w * w).sum()
    y.backward()
    np.testing.assert_allclose(w.grad, 5 + 2 * w.array)


def test_detect_anomaly_checks_deferred_weight_products_and_linear_layers():
    # a Linear's weight gradient comes back from its VJP as a deferred product
    layer = tg.nn.Linear(3, 2)
    x = tg.Tensor(np.ones((4, 3), dtype=np.float32))
    with tg.detect_anomaly():
        layer(x).sum().backward()
    assert np.isfinite(layer.weight.grad.numpy()).all()
    w = tg.tensor(np.ones((2, 3)), requires_grad=True)
    big = tg.tensor(np.full((1, 3), 1e200))  # finite forward (3e200); the weight's gradient overflows
    with tg.detect_anomaly(), np.errstate(over="ignore"), \
            pytest.raises(tg.AnomalyError, match="linear backward"):
        tg.nn.functional.linear(big, w).sum().backward(tg.tensor(np.array(1e200)))


def test_weight_products_are_summed_a_bounded_group_at_a_time(monkeypatch):
    """A leaf's deferred products aᵀb are stacked a group of at most GROUP_BYTES at a time (plus
    the product that closes it), never all of them; the sum is the exact Σ aᵢᵀ bᵢ."""
    from tinygrad_rnn import products
    monkeypatch.setattr(products, "GROUP_BYTES", 1000)
    rng = np.random.default_rng(0)
    pairs = [(rng.standard_normal((r, 3)), rng.standard_normal((r, 2))) for r in (4, 9, 1, 30, 2, 7)]
    s, largest = products.ProductSum(), 0
    for a, b in pairs:
        s.add(products.Deferred(a, b))
        largest = max(largest, sum(p.a.nbytes + p.b.nbytes for p in s.group))
    assert 0 < largest < 1000
    np.testing.assert_allclose(s.value(), sum(a.T @ b for a, b in pairs), rtol=1e-12)
    # through backward: a weight used at 40 steps gets the same gradient as computed by hand
    w = tg.Tensor(rng.standard_normal((4, 3)), requires_grad=True)
    xs = [rng.standard_normal((5, 3)) for _ in range(40)]
    loss = sum((F.linear(tg.Tensor(x), w) ** 2).sum() for x in xs)
    closed = []
    monkeypatch.setattr(products.ProductSum, "_close_group",
                        lambda self, close=products.ProductSum._close_group:
                        closed.append(len(self.group)) or close(self))
    loss.backward()
    assert len(closed) > 5 and sum(closed) == 40  # 40 products (5 rows each), in groups
    expect = sum(2 * (x @ w.array.T).T @ x for x in xs)
    np.testing.assert_allclose(w.grad.numpy(), expect, rtol=1e-12)
