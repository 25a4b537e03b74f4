"""Gradients of gradients: ``backward(create_graph=True)`` and ``autograd.grad``, ``gradgradcheck``
over every primitive (hypothesis shapes, 0-d and broadcasting included, float64), and PyTorch's
double backward (a fixture from tests/fixtures/make_higher_order_fixtures.py, and live)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import tinygrad_rnn as tg
from tinygrad_rnn import engine, ops
from tinygrad_rnn.autograd import grad
from higher_order_cases import CASES, TOLERANCES, case_inputs, double_backward
from strategies import tensor_pairs, tensors
from conftest import FIXTURES

SETTINGS = settings(max_examples=6, deadline=None)


def T(a, grad=True):
    return tg.Tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def _primitives():
    found, stack = [], [ops.Function]
    while stack:
        cls = stack.pop()
        for sub in cls.__subclasses__():
            if sub.__module__ == ops.__name__:
                found.append(sub)
            stack.append(sub)
    return found


# ---------------------------------------------------------------- every primitive

def test_every_primitive_has_a_second_derivative_case():
    covered = {name for _, covers, _, _ in CASES.values() for name in covers}
    missing = sorted(p.name for p in _primitives() if p.name not in covered)
    assert not missing, f"primitives without a gradgradcheck case: {missing}"


def test_every_primitive_declares_saved_inputs_that_are_its_inputs():
    """``saved_as`` must name, for each saved value, the input (or output) it really is: the
    engine puts exactly that Tensor on the graph under create_graph."""
    checked = set()
    for name, (fn, _, _, _) in CASES.items():
        xs = [T(a) for a in case_inputs(name)]
        for node in tg.graph_nodes(fn(tg, *xs)):
            for j, role in enumerate(node.fn.saved_as):
                if role is None:
                    continue
                value = node.saved[j]
                if role == "out":
                    assert np.shape(value) == node.output_meta[0][0], node.name
                else:
                    assert np.shape(value) == node.input_meta(role)[0], node.name
                    source = node.edges[role][0]
                    if isinstance(source, tg.Tensor):
                        assert value is source.array, f"{node.name}: saved {j} is not input {role}"
                checked.add(node.name)
    assert {"mul", "pow", "lerp", "linear", "norm", "tanh"} <= checked


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradgradcheck_every_case(name):
    fn = CASES[name][0]
    tol = {k: v for k, v in TOLERANCES.get(name, {}).items() if k != "compare"}
    assert tg.gradgradcheck(lambda *xs: fn(tg, *xs), [T(a) for a in case_inputs(name)], **tol)


@pytest.mark.parametrize("name", sorted(CASES))
def test_double_backward_matches_pytorch_fixture(name):
    ref = np.load(FIXTURES / "higher_order.npz")
    firsts, seconds = double_backward(tg, name, case_inputs(name))
    tol = TOLERANCES.get(name, {}).get("compare", 1e-10)
    for i, g in enumerate(firsts):
        np.testing.assert_allclose(g, ref[f"{name}.first.{i}"], rtol=tol, atol=tol)
    for i, g in enumerate(seconds):
        np.testing.assert_allclose(g, ref[f"{name}.second.{i}"], rtol=tol, atol=tol,
                                   err_msg=f"{name}: second derivative w.r.t. input {i}")


@pytest.mark.parametrize("name", sorted(CASES))
def test_double_backward_matches_live_pytorch(name):
    torch = pytest.importorskip("torch")
    ours = double_backward(tg, name, case_inputs(name, seed=3))
    theirs = double_backward(torch, name, case_inputs(name, seed=3))
    tol = TOLERANCES.get(name, {}).get("compare", 1e-10)
    for a, b in zip(ours[0] + ours[1], theirs[0] + theirs[1]):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol, err_msg=name)


# ---------------------------------------------------------------- hypothesis shapes

def _spread(t, step=0.013):
    """Break ties (hypothesis likes repeated values): max and friends have kinks there."""
    t.array = t.array + step * np.arange(t.array.size).reshape(t.shape)
    return t


BINARY = {
    "add": (lambda a, b: (a + b) * (a + b), (-2, 2)),
    "sub": (lambda a, b: (a - b) * a, (-2, 2)),
    "mul": (lambda a, b: a * b * b, (-2, 2)),
    "div": (lambda a, b: a / b, (0.5, 2)),
    "pow": (lambda a, b: a ** b, (0.5, 2)),
    "where": (lambda a, b: tg.where(a.array > 0, a, b) * b, (-2, 2)),
    "lerp": (lambda a, b: tg.lerp(a, b, b.sigmoid()), (-2, 2)),
    "maximum": (lambda a, b: tg.maximum(a, b) * a, (-2, 2)),
    "minimum": (lambda a, b: tg.minimum(a, b) * b, (-2, 2)),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@SETTINGS
@given(pair=tensor_pairs())
def test_gradgradcheck_binary_ops_with_broadcasting(name, pair):
    fn, (lo, hi) = BINARY[name]
    a, b = (T(lo + (hi - lo) * (t.array + 2) / 4) for t in pair)  # into the op's domain
    if name == "where":
        assume(np.abs(a.array).min() > 1e-3)  # the condition a > 0 flips at 0
    if name in ("maximum", "minimum"):
        _spread(a), _spread(b, 0.017)
        assume(not np.isclose(np.subtract.outer(a.array.ravel(), b.array.ravel()), 0,
                              atol=1e-3).any())
    assert tg.gradgradcheck(fn, [a, b])


UNARY = {
    "exp": lambda x: x.exp(),
    "log": lambda x: (x.abs() + 0.3).log(),
    "sin": lambda x: x.sin() * x,
    "cos": lambda x: x.cos().cos(),
    "tanh": lambda x: x.tanh(),
    "sigmoid": lambda x: x.sigmoid(),
    "softplus": lambda x: tg.nn.functional.softplus(x),
    "relu": lambda x: x.relu() * x,
    "sqrt": lambda x: (x * x + 0.2).sqrt(),
    "abs": lambda x: x.abs() * x,
    "clamp": lambda x: x.clamp(-0.5, 0.6) * x,
    "neg_clone": lambda x: (-x.clone()) * x,
    "cast": lambda x: x.to(np.float64) * x,
    "sum": lambda x: x.sum() * x,
    "norm": lambda x: x.norm() * x,
    "max": lambda x: x.amax() * x,
    "softmax": lambda x: x.softmax(-1) if x.ndim else x.exp(),
    "log_softmax": lambda x: x.log_softmax(-1) if x.ndim else x.exp(),
    "reshape_expand": lambda x: (x.reshape(-1).expand(2, x.array.size) * 2.0).tanh(),
    "permute": lambda x: x.permute(*reversed(range(x.ndim))) * x.permute(*reversed(range(x.ndim))),
    "getitem": lambda x: (x[..., None] * 1.5).tanh() if x.ndim == 0 else x[-1].tanh() * x[0],
    "split_cat": lambda x: tg.cat(x.reshape(-1).chunk(2), 0).tanh() * x.reshape(-1),
    "unbind_stack": lambda x: tg.stack(x.reshape(1, -1).unbind(1), 0).sigmoid(),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@SETTINGS
@given(x=tensors(avoid_zero=True))
def test_gradgradcheck_unary_ops_on_any_shape(name, x):
    x = T(x.array)
    if name in ("max", "relu", "abs", "clamp"):
        _spread(x)
        assume(np.abs(np.abs(x.array) - 0.55).min() > 0.06 and np.abs(x.array).min() > 0.01)
    if name == "max":
        top = np.sort(x.array.ravel())[-2:]
        assume(x.array.size == 1 or top[1] - top[0] > 1e-3)
    if name == "norm":
        assume(np.linalg.norm(x.array) > 1e-2)
    assert tg.gradgradcheck(UNARY[name], [x])


@settings(max_examples=6, deadline=None)
@given(x=tensors(shape=(3, 4)), seed=st.integers(0, 100), dim=st.integers(-2, 1))
def test_gradgradcheck_gather_and_advanced_index_with_repeats(x, seed, dim):
    index = np.random.default_rng(seed).integers(0, x.shape[dim], size=(3, 4))
    x = T(x.array)
    assert tg.gradgradcheck(lambda t: (t.gather(dim, index) * t).tanh(), [x])
    assert tg.gradgradcheck(lambda t: t[index % 3, 1].sigmoid() * t[0, 0], [x])


# ---------------------------------------------------------------- semantics

def test_derivatives_to_the_fourth_order():
    x = T([0.5, -1.5])
    y = (x ** 4).sum()
    g1, = grad(y, x, create_graph=True)
    g2, = grad(g1.sum(), x, create_graph=True)
    g3, = grad(g2.sum(), x, create_graph=True)
    g4, = grad(g3.sum(), x)
    np.testing.assert_allclose(g1.numpy(), 4 * x.numpy() ** 3)
    np.testing.assert_allclose(g2.numpy(), 12 * x.numpy() ** 2)
    np.testing.assert_allclose(g3.numpy(), 24 * x.numpy())
    np.testing.assert_allclose(g4.numpy(), [24.0, 24.0])
    t = T(0.3)
    d1, = grad(t.tanh(), t, create_graph=True)
    d2, = grad(d1, t, create_graph=True)
    d3, = grad(d2, t)
    th = np.tanh(0.3)
    np.testing.assert_allclose([d1.item(), d2.item(), d3.item()],
                               [1 - th ** 2, -2 * th * (1 - th ** 2),
                                -2 * (1 - th ** 2) ** 2 + 4 * th ** 2 * (1 - th ** 2)])


def test_backward_create_graph_accumulates_a_grad_that_carries_a_graph():
    x = T([1.0, 2.0])
    (x ** 3).sum().backward(create_graph=True)
    assert x.grad.requires_grad and x.grad.node is not None
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 12.0])
    (x * x).sum().backward(create_graph=True)  # adds: 3x² + 2x
    np.testing.assert_allclose(x.grad.numpy(), [5.0, 16.0])
    g = x.grad
    x.grad = None
    g.sum().backward()  # d/dx Σ (3x² + 2x) = 6x + 2
    np.testing.assert_allclose(x.grad.numpy(), [8.0, 14.0])
    assert x.grad.node is None


def test_first_order_backward_leaves_plain_gradients_and_frees_the_graph():
    x = T([1.0, 2.0])
    y = (x.tanh() * x).sum()
    y.backward()
    assert x.grad.node is None and not x.grad.requires_grad
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()


def test_grad_leaves_dot_grad_alone_and_reaches_intermediates():
    x = T([1.0, 2.0, 3.0])
    h = x * x
    y = (h.sin() if hasattr(h, "sin") else h.tanh()).sum()
    gh, gx = grad(y, [h, x])
    assert x.grad is None and h.grad is None
    np.testing.assert_allclose(gx.numpy(), gh.numpy() * 2 * x.numpy())
    x.grad = tg.Tensor(np.ones(3))
    grad((x * 2).sum(), x)
    np.testing.assert_array_equal(x.grad.numpy(), np.ones(3))


def test_grad_sums_several_outputs_with_their_grad_outputs():
    x = T([1.0, -2.0])
    a, b = x * 3, x * x
    gx, = grad([a, b], x, [tg.Tensor(np.array([1.0, 1.0])), tg.Tensor(np.array([2.0, 0.5]))])
    np.testing.assert_allclose(gx.numpy(), [3 + 2 * 2 * 1.0, 3 + 0.5 * 2 * -2.0])


def test_grad_retains_the_graph_under_create_graph_only():
    x = T([1.0, 2.0])
    y = (x.exp() * x).sum()
    grad(y, x, create_graph=True)
    grad(y, x)  # retained by the first call, freed by this one
    with pytest.raises(RuntimeError, match="second time"):
        grad(y, x)


def test_grad_errors_are_pytorchs():
    x, unused = T([1.0, 2.0]), T([3.0])
    y = x * 2
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar "
                                           "outputs"):
        grad(y, x)
    with pytest.raises(RuntimeError, match=r"One of the differentiated Tensors appears to not "
                                           r"have been used in the graph. Set allow_unused=True "
                                           r"if this is the desired behavior."):
        grad(y.sum(), [x, unused], retain_graph=True)
    gx, gu = grad(y.sum(), [x, unused], allow_unused=True, retain_graph=True)
    assert gu is None and np.allclose(gx.numpy(), 2)
    gx, gu = grad(y.sum(), [x, unused], materialize_grads=True, retain_graph=True)
    np.testing.assert_array_equal(gu.numpy(), [0.0])
    with pytest.raises(RuntimeError, match="One of the differentiated Tensors does not require "
                                           "grad"):
        grad(y.sum(), T([1.0], grad=False))
    with pytest.raises(RuntimeError, match=r"Mismatch in shape: grad_output\[0\] has a shape of "
                                           r"\(3,\) and output\[0\] has a shape of \(2,\)"):
        grad(y, x, tg.Tensor(np.ones(3)))
    with pytest.raises(RuntimeError, match="element 0 of tensors does not require grad"):
        grad(T([1.0], grad=False) * 2, x)


class _Once(ops.Function):
    """A primitive whose VJP is declared first-order only."""

    name, twice_differentiable = "once", False

    @staticmethod
    def forward(ctx, a):
        return a * 2

    @staticmethod
    def backward(ctx, g):
        return g * 2


class _ArraysOnly(ops.Function):
    """A primitive whose VJP computes with numpy on what it gets: it leaves the graph."""

    name, saved_as = "arrays_only", (0,)

    @staticmethod
    def forward(ctx, a):
        ctx.save(a)
        return np.sin(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved
        return np.asarray(g) * np.cos(np.asarray(a))


@pytest.mark.parametrize("fn, match", [
    (_Once, r"once \(scope -\) is not twice differentiable: backward\(create_graph=True\)"),
    (_ArraysOnly, r"arrays_only: its backward computed the gradient of input 0 on arrays, "
                  r"outside the graph, so it is not twice differentiable")])
def test_create_graph_through_a_first_order_op_names_it(fn, match):
    x = T([0.5, 1.0])
    y = engine.apply(fn, x).sum()
    with pytest.raises(RuntimeError, match=match):
        y.backward(create_graph=True)
    y2 = engine.apply(fn, x).sum()
    y2.backward()  # the first order is fine
    assert x.grad is not None


def test_a_hook_under_create_graph_sees_and_returns_tensors():
    x = T([1.0, 2.0])
    h = x * x
    seen = []
    h.register_hook(lambda g: seen.append(g) or g * 3)
    h.sum().backward(create_graph=True)
    assert isinstance(seen[0], tg.Tensor)
    np.testing.assert_allclose(x.grad.numpy(), 6 * x.numpy())
    g, = grad(x.grad.sum(), x)
    np.testing.assert_allclose(g.numpy(), [6.0, 6.0])


def test_hessian_vector_product_of_a_small_rnn_by_finite_differences():
    rng = np.random.default_rng(0)
    w = T(rng.uniform(-0.5, 0.5, (3, 3)))
    xs = [tg.Tensor(rng.standard_normal((2, 3))) for _ in range(4)]
    v = rng.standard_normal((3, 3))

    def loss_grad(w_array, create_graph=False):
        w_t = T(w_array)
        h = tg.Tensor(np.zeros((2, 3)))
        for x in xs:
            h = tg.nn.functional.linear(h, w_t, x).tanh()
        g, = grad((h * h).sum(), w_t, create_graph=create_graph)
        return w_t, g

    w_t, g = loss_grad(w.numpy(), create_graph=True)
    hv, = grad(g, w_t, tg.Tensor(v))
    eps = 1e-6
    numeric = (loss_grad(w.numpy() + eps * v)[1].numpy()
               - loss_grad(w.numpy() - eps * v)[1].numpy()) / (2 * eps)
    np.testing.assert_allclose(hv.numpy(), numeric, rtol=1e-6, atol=1e-8)


@settings(max_examples=6, deadline=None)
@given(dims=st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3)), data=st.data())
def test_gradgradcheck_matmul_linear_and_setitem_on_drawn_sizes(dims, data):
    n, k, m = dims
    a = T(data.draw(tensors(shape=(n, k))).array)
    b = T(data.draw(tensors(shape=(k, m))).array)
    bias = T(data.draw(tensors(shape=data.draw(st.sampled_from([(m,), (1, m), (n, m), ()])))).array)
    assert tg.gradgradcheck(lambda a, b: (a @ b).tanh(), [a, b])
    assert tg.gradgradcheck(lambda x, w, c: tg.nn.functional.linear(x, w, c).sigmoid(),
                            [a, T(b.numpy().T.copy()), bias])
    row = data.draw(st.integers(0, n - 1))

    def put(a, v):
        out = a * 1.0
        out[row] = v
        return out.tanh() * a

    assert tg.gradgradcheck(put, [a, T(data.draw(tensors(shape=(k,))).array)])


@pytest.mark.parametrize("bias_shape", [None, (24,), (2, 24)])
def test_few_rows_against_many_outputs_twice_differentiable(bias_shape):
    """h Wᵀ with 8·rows ≤ outputs takes the (W hᵀ)ᵀ layout in forward and in MatMul's VJP: first
    and second derivatives hold there too, on arrays and on Tensors (create_graph)."""
    rng = np.random.default_rng(3)
    h, w = T(rng.standard_normal((2, 3))), T(rng.standard_normal((24, 3)))
    assert tg.gradcheck(lambda h, w: h @ w.T, [h, w])  # forward: a transposed view of w
    assert tg.gradgradcheck(lambda h, w: (h @ w.T).tanh(), [h, w])
    assert tg.gradgradcheck(lambda h, v: (h @ v).sigmoid(), [h, T(rng.standard_normal((3, 24)))])
    wide = T(rng.standard_normal((2, 24)))  # MatMul's VJP g vᵀ: 2 rows against 24
    assert tg.gradgradcheck(lambda a, v: (a @ v).tanh(), [wide, T(rng.standard_normal((24, 3)))])
    args = [h, w] + ([] if bias_shape is None else [T(rng.standard_normal(bias_shape))])
    assert tg.gradgradcheck(lambda *a: tg.nn.functional.linear(*a).tanh(), args)


def test_backward_inputs_accumulates_only_into_those():
    w, b = T([1.0, 2.0]), T([0.5])
    y = (w * w).sum() + (b * 3).sum()
    y.backward(inputs=[w])
    np.testing.assert_allclose(w.grad.numpy(), [2.0, 4.0])
    assert b.grad is None
