"""autograd.Function: user-defined ops with PyTorch's contract (ctx.save_for_backward,
saved_tensors, needs_input_grad, mark_non_differentiable, set_materialize_grads, apply)."""
import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn.autograd import Function
from tinygrad_rnn.nn import functional as F


def _t(shape, seed=0, requires_grad=True):
    rng = np.random.default_rng(seed)
    return tg.Tensor(rng.standard_normal(shape), requires_grad=requires_grad, dtype=np.float64)


class Cube(Function):
    """x³ with the backward written by hand, returning a Tensor."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3 * x * x


class CubeArray(Function):
    """The same, but the backward returns a numpy array."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g.numpy() * 3 * x.numpy() ** 2


class ScaledMatmul(Function):
    """(a @ b) * scale with a non-Tensor argument and a ctx attribute; skips unneeded work."""

    calls = []

    @staticmethod
    def forward(ctx, a, scale, b):
        ctx.scale = scale
        ctx.save_for_backward(a, b)
        return (a @ b) * scale

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        ScaledMatmul.calls.append(ctx.needs_input_grad)
        ga = g @ b.T * ctx.scale if ctx.needs_input_grad[0] else None
        gb = a.T @ g * ctx.scale if ctx.needs_input_grad[2] else None
        return ga, None, gb


class SplitMax(Function):
    """Two outputs: the halves of x, and the argmax (an integer output: no gradient)."""

    @staticmethod
    def forward(ctx, x):
        n = x.shape[-1] // 2
        idx = x.argmax(-1)
        ctx.mark_non_differentiable(idx)
        ctx.n = n
        return x[..., :n] * 1.0, x[..., n:] * 2.0, idx

    @staticmethod
    def backward(ctx, g_left, g_right, g_idx):
        assert g_idx is None or not np.any(g_idx.numpy())
        return tg.cat([g_left, g_right * 2.0], -1)


def test_function_value_and_gradient_match_the_primitive_ops():
    x = _t((3, 4))
    y = Cube.apply(x)
    assert y.requires_grad and y.node.name == "Cube"
    np.testing.assert_array_equal(y.numpy(), (x * x * x).numpy())
    (y * _t((3, 4), seed=1, requires_grad=False)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(),
                               3 * x.numpy() ** 2 * _t((3, 4), seed=1).numpy(), rtol=1e-12)


@pytest.mark.parametrize("fn", [Cube, CubeArray], ids=["tensor", "array"])
def test_backward_returning_a_tensor_or_an_array_gradchecks(fn):
    assert tg.gradcheck(lambda x: fn.apply(x), [_t((2, 3))])


def test_function_used_twice_in_one_graph_accumulates():
    x = _t((5,))
    y = Cube.apply(Cube.apply(x)) + Cube.apply(x)
    y.sum().backward()
    xs = x.numpy()
    np.testing.assert_allclose(x.grad.numpy(), 9 * xs ** 8 + 3 * xs ** 2, rtol=1e-12)
    assert tg.gradcheck(lambda a: Cube.apply(Cube.apply(a)) * Cube.apply(a), [_t((4,), seed=3)])


def test_non_tensor_argument_ctx_attribute_and_needs_input_grad():
    a, b = _t((2, 3)), _t((3, 4), seed=1, requires_grad=False)
    ScaledMatmul.calls.clear()
    out = ScaledMatmul.apply(a, 0.5, b)
    out.sum().backward()
    assert ScaledMatmul.calls == [(True, False, False)]
    np.testing.assert_allclose(a.grad.numpy(), np.ones((2, 4)) @ b.numpy().T * 0.5, rtol=1e-12)
    assert tg.gradcheck(lambda p, q: ScaledMatmul.apply(p, 2.0, q), [_t((2, 3)), _t((3, 2), 4)])


def test_multiple_outputs_with_one_unused_and_a_non_differentiable_one():
    x = _t((2, 6))
    left, right, idx = SplitMax.apply(x)
    assert left.requires_grad and right.requires_grad
    assert not idx.requires_grad and idx.dtype.kind == "i"
    np.testing.assert_array_equal(idx.numpy(), x.numpy().argmax(-1))
    left.sum().backward()  # right unused: its gradient arrives as zeros (materialized)
    expect = np.concatenate([np.ones((2, 3)), np.zeros((2, 3))], -1)
    np.testing.assert_array_equal(x.grad.numpy(), expect)
    assert tg.gradcheck(lambda a: SplitMax.apply(a)[:2], [_t((3, 4), seed=5)])


def test_set_materialize_grads_false_passes_none():
    seen = []

    class Pair(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.set_materialize_grads(False)
            return x * 2.0, x * 3.0

        @staticmethod
        def backward(ctx, g1, g2):
            seen.append((g1 is None, g2 is None))
            return (0 if g1 is None else g1 * 2.0) + (0 if g2 is None else g2 * 3.0)

    x = _t((3,))
    Pair.apply(x)[1].sum().backward()
    assert seen == [(True, False)]
    np.testing.assert_array_equal(x.grad.numpy(), np.full(3, 3.0))


def test_forward_runs_without_recording_and_gets_the_tensors_themselves():
    got = []

    class Probe(Function):
        @staticmethod
        def forward(ctx, x):
            got.append((x, tg.is_grad_enabled()))
            y = x * 2.0
            assert y.node is None  # nothing inside forward is recorded
            return y

        @staticmethod
        def backward(ctx, g):
            return g * 2.0

    x = _t((2,))
    y = Probe.apply(x)
    assert got == [(x, False)] and tg.is_grad_enabled()
    assert len(tg.graph_nodes(y)) == 1


def test_no_graph_under_no_grad_or_without_inputs_requiring_grad():
    with tg.no_grad():
        y = Cube.apply(_t((2,)))
    assert y.node is None and not y.requires_grad
    y = Cube.apply(_t((2,), requires_grad=False))
    assert y.node is None and not y.requires_grad


def test_wrong_number_of_gradients_names_the_function():
    class TooFew(Function):
        @staticmethod
        def forward(ctx, a, b):
            return a * b

        @staticmethod
        def backward(ctx, g):
            return g

    with pytest.raises(RuntimeError, match=r"TooFew\.backward returned an incorrect number of "
                                           r"gradients \(expected 2, got 1\)"):
        TooFew.apply(_t((2,)), _t((2,), 1)).sum().backward()


def test_wrong_gradient_shape_names_the_function_and_the_argument():
    class BadShape(Function):
        @staticmethod
        def forward(ctx, a, b):
            return a + b

        @staticmethod
        def backward(ctx, g):
            return g, g.sum(0)

    with pytest.raises(RuntimeError, match=r"BadShape\.backward returned an invalid gradient for "
                                           r"argument 1: got shape \(3,\) but expected the "
                                           r"argument's shape \(2, 3\)"):
        BadShape.apply(_t((2, 3)), _t((2, 3), 1)).sum().backward()


def test_extra_trailing_none_gradients_are_allowed():
    class Extra(Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2.0

        @staticmethod
        def backward(ctx, g):
            return g * 2.0, None

    x = _t((2,))
    Extra.apply(x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])


def test_second_backward_without_retain_graph_fails_and_retain_graph_works():
    x = _t((3,))
    y = Cube.apply(x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 6 * x.numpy() ** 2, rtol=1e-12)
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_saved_tensor_changed_in_place_is_an_error():
    x = _t((3,))
    y = x * 1.0
    z = Cube.apply(y)
    with tg.no_grad():
        y.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        z.sum().backward()


def test_save_for_backward_rejects_non_tensors():
    class Bad(Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a.numpy())
            return a * 1.0

        @staticmethod
        def backward(ctx, g):
            return g

    with pytest.raises(TypeError, match="save_for_backward can only save Tensors or None"):
        Bad.apply(_t((2,)))


def test_function_is_not_instantiated():
    with pytest.raises(RuntimeError, match=r"call Cube\.apply"):
        Cube()


def test_drawn_graph_shows_the_function_under_its_class_name():
    viz = pytest.importorskip("tinygrad_rnn.viz")
    x = _t((2, 2)).named("x")
    dot = viz.draw_graph(F.linear(Cube.apply(x), _t((3, 2), 1)).sum())
    assert "Cube" in dot.source


def test_same_function_written_for_pytorch_gives_the_same_gradients():
    torch = pytest.importorskip("torch")

    class TorchCube(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3 * x * x

    class TorchSplitMax(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            n = x.shape[-1] // 2
            idx = x.argmax(-1)
            ctx.mark_non_differentiable(idx)
            return x[..., :n] * 1.0, x[..., n:] * 2.0, idx

        @staticmethod
        def backward(ctx, g_left, g_right, g_idx):
            return torch.cat([g_left, g_right * 2.0], -1)

    data = np.random.default_rng(7).standard_normal((3, 6))
    w = np.random.default_rng(8).standard_normal((3, 3))
    ours = tg.Tensor(data, requires_grad=True)
    theirs = torch.tensor(data, requires_grad=True)
    a, b, i = SplitMax.apply(Cube.apply(ours))
    ta, tb, ti = TorchSplitMax.apply(TorchCube.apply(theirs))
    assert not i.requires_grad and not ti.requires_grad
    ((a * tg.Tensor(w)).sum() + b.sum()).backward()
    ((ta * torch.tensor(w)).sum() + tb.sum()).backward()
    np.testing.assert_allclose(a.numpy(), ta.detach().numpy(), rtol=1e-12)
    np.testing.assert_array_equal(i.numpy(), ti.numpy())
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-12)


class ExpSavingOutput(Function):
    """exp saving its output: in a recorded backward the saved output must be the graph's."""

    @staticmethod
    def forward(ctx, x):
        y = x.exp()
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * y


@pytest.mark.parametrize("fn", [Cube, ExpSavingOutput], ids=["saves input", "saves output"])
def test_function_backward_written_with_tensor_ops_is_twice_differentiable(fn):
    assert tg.gradgradcheck(lambda x: fn.apply(x), [_t((2, 3))])
    x = _t((4,))
    (g,) = tg.autograd.grad(fn.apply(x).sum(), x, create_graph=True)
    (h,) = tg.autograd.grad(g.sum(), x)
    xs = x.numpy()
    expect = 6 * xs if fn is Cube else np.exp(xs)
    np.testing.assert_allclose(h.numpy(), expect, rtol=1e-12)


def test_function_backward_on_arrays_is_refused_under_create_graph():
    x = _t((3,))
    with pytest.raises(RuntimeError, match="CubeArray: its backward computed the gradient of "
                                           "input 0 on arrays"):
        tg.autograd.grad(CubeArray.apply(x).sum(), x, create_graph=True)
