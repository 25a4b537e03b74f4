"""Every primitive and composite op, checked by central differences in float64 over generated
shapes (with broadcasting), including reused and aliased inputs."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_rnn as tg
from tinygrad_rnn.nn import functional as F
from tinygrad_rnn.ops import unbroadcast

SETTINGS = settings(max_examples=25, deadline=None)


def T(a, grad=True):
    return tg.Tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


@st.composite
def broadcast_pair(draw, max_dims=3):
    """Two shapes that broadcast together: some dims of one side set to 1 or dropped."""
    shape = draw(st.lists(st.integers(1, 4), min_size=0, max_size=max_dims))
    a = [n if draw(st.booleans()) else 1 for n in shape]
    b = [n if draw(st.booleans()) else 1 for n in shape]
    cut = draw(st.integers(0, len(b)))
    return tuple(a), tuple(b[cut:])


def arrays(shape, seed, low=-2.0, high=2.0):
    return np.random.default_rng(seed).uniform(low, high, shape)


# ---------------------------------------------------------------- binary, with broadcasting

@pytest.mark.parametrize("op", [lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b,
                                lambda a, b: a / b, lambda a, b: a ** b,
                                lambda a, b: tg.where(a.array > 0, a, b)],
                         ids=["add", "sub", "mul", "div", "pow", "where"])
@SETTINGS
@given(shapes=broadcast_pair(), seed=st.integers(0, 10_000))
def test_binary_ops_gradcheck_with_broadcasting(op, shapes, seed):
    sa, sb = shapes
    a = T(arrays(sa, seed, 0.5, 2.0))  # positive: valid for pow's base and div's divisor
    b = T(arrays(sb, seed + 1, 0.5, 2.0))
    assert tg.gradcheck(op, [a, b])


@pytest.mark.parametrize("op", [lambda x: x + 1.5, lambda x: 2.0 - x, lambda x: x * 3,
                                lambda x: 1 / x, lambda x: x ** 2, lambda x: 2 ** x,
                                lambda x: x / 4, lambda x: -x],
                         ids=["radd", "rsub", "mul-scalar", "rdiv", "pow-scalar", "rpow",
                              "div-scalar", "neg"])
def test_scalar_operands_gradcheck(op):
    assert tg.gradcheck(op, [T(arrays((3, 2), 0, 0.5, 2.0))])


# ---------------------------------------------------------------- unary

UNARY = {
    "exp": (lambda x: x.exp(), (-2, 2)),
    "log": (lambda x: x.log(), (0.2, 3)),
    "tanh": (lambda x: x.tanh(), (-3, 3)),
    "sin": (lambda x: x.sin(), (-4, 4)),
    "cos": (lambda x: x.cos(), (-4, 4)),
    "sigmoid": (lambda x: x.sigmoid(), (-6, 6)),
    "relu": (lambda x: x.relu(), (-2, 2)),
    "sqrt": (lambda x: x.sqrt(), (0.2, 3)),
    "abs": (lambda x: x.abs(), (-2, 2)),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@SETTINGS
@given(shape=st.lists(st.integers(1, 4), max_size=3).map(tuple), seed=st.integers(0, 10_000))
def test_unary_ops_gradcheck(name, shape, seed):
    fn, (lo, hi) = UNARY[name]
    x = arrays(shape, seed, lo, hi)
    if name in ("relu", "abs"):  # keep away from the kink at 0
        x = np.where(np.abs(x) < 0.1, 0.5, x)
    assert tg.gradcheck(fn, [T(x)])


def test_sigmoid_is_stable_for_large_inputs():
    x = tg.Tensor(np.array([-1000.0, 0.0, 1000.0]), requires_grad=True)
    y = x.sigmoid()
    np.testing.assert_allclose(y.array, [0.0, 0.5, 1.0])
    y.sum().backward()
    assert np.isfinite(x.grad).all()


def test_relu_and_abs_gradient_at_zero_is_zero():
    x = T([0.0, 0.0])
    (x.relu().sum() + x.abs().sum()).backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])


# ---------------------------------------------------------------- matmul

@pytest.mark.parametrize("sa, sb", [((3, 4), (4, 2)), ((4,), (4, 2)), ((3, 4), (4,)),
                                    ((4,), (4,)), ((2, 3, 4), (4, 5)), ((2, 3, 4), (2, 4, 5)),
                                    ((1, 3, 4), (2, 4, 5)), ((3, 4), (2, 4, 5))])
def test_matmul_gradcheck(sa, sb):
    assert tg.gradcheck(lambda a, b: a @ b, [T(arrays(sa, 1)), T(arrays(sb, 2))])


@pytest.mark.parametrize("rows", [1, 2, 3, 4, 5])
def test_row_product_layout_gives_the_product_in_row_order(rows):
    """ops._times_t: x Wᵀ (+ b) in either layout equals numpy's product, C-ordered."""
    from tinygrad_rnn.ops import _times_t

    rng = np.random.default_rng(rows)
    x, w = rng.standard_normal((rows, 6)), rng.standard_normal((32, 6))
    for b in (None, rng.standard_normal(32), rng.standard_normal((rows, 32))):
        out = _times_t(x, w, b)
        expect = x @ w.T + (0 if b is None else b)
        np.testing.assert_allclose(out, expect, rtol=1e-13, atol=1e-13)
        assert out.flags.c_contiguous and out.shape == (rows, 32) and out.dtype == x.dtype
    f32 = _times_t(x.astype(np.float32), w.astype(np.float32), np.ones(32, np.float32))
    assert f32.dtype == np.float32


# ---------------------------------------------------------------- linear (addmm's bias forms)

LINEAR_BIASES = [((4,), (2, 4), (2,)), ((4,), (2, 4), None), ((3, 4), (2, 4), (2,)),
                 ((3, 4), (2, 4), (3, 2)), ((3, 4), (2, 4), (1, 2)), ((5, 3, 4), (2, 4), (2,)),
                 ((5, 3, 4), (2, 4), (5, 3, 2)), ((5, 3, 4), (2, 4), (5, 1, 2)),
                 ((5, 3, 4), (2, 4), (3, 1)), ((5, 3, 4), (2, 4), ())]


@pytest.mark.parametrize("sx, sw, sb", LINEAR_BIASES)
def test_linear_gradcheck_with_every_bias_form(sx, sw, sb):
    """x Wᵀ + b with b (out,), absent, or any shape that broadcasts to the output (a recurrent
    step passes the per-row input projection as b); leading dims of x fold into one product."""
    x, w = T(arrays(sx, 1)), T(arrays(sw, 2))
    if sb is None:
        assert tg.gradcheck(lambda x, w: F.linear(x, w), [x, w])
    else:
        assert tg.gradcheck(lambda x, w, b: F.linear(x, w, b),
                            [x, w, T(arrays(sb, 3))])


# PyTorch folds a 3-D input to rows before adding a bias, so its (3, 1) case fails there.
@pytest.mark.parametrize("sx, sw, sb", [s for s in LINEAR_BIASES if s[2] not in (None, (3, 1))])
def test_linear_bias_forms_match_live_pytorch(sx, sw, sb):
    torch = pytest.importorskip("torch")
    _matches_torch(F.linear, torch.nn.functional.linear,
                   [arrays(sx, 1), arrays(sw, 2), arrays(sb, 3)])


def _matches_torch(ours_fn, torch_fn, arrs):
    """Value and every input's gradient (of a weighted sum of the output) as live PyTorch's."""
    import torch
    ours = [T(a) for a in arrs]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrs]
    y, ty = ours_fn(*ours), torch_fn(*theirs)
    weights = arrays(ty.shape, 4)
    (y * T(weights, grad=False)).sum().backward()
    (ty * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(y.array, ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad, b.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_linear_refuses_a_bias_that_would_grow_the_output():
    x, w = T(arrays((3, 4), 1)), T(arrays((2, 4), 2))
    with pytest.raises(ValueError, match=r"linear: bias of shape \(4, 2\) does not fit the "
                                         r"output \(3, 2\)"):
        F.linear(x, w, T(arrays((4, 2), 3)))
    with pytest.raises(ValueError, match=r"linear: bias of shape \(2, 3, 2\)"):
        F.linear(x, w, T(arrays((2, 3, 2), 3)))


# ---------------------------------------------------------------- lerp

LERP_SHAPES = [((3, 4), (3, 4), (3, 4)), ((3, 4), (4,), (3, 1)), ((1, 4), (3, 1), ()),
               ((), (2, 3), (3,)), ((2, 1, 3), (4, 1), (1, 3))]


@pytest.mark.parametrize("sa, sb, sw", LERP_SHAPES)
def test_lerp_gradcheck_with_broadcasting(sa, sb, sw):
    assert tg.gradcheck(lambda a, b, w: tg.lerp(a, b, w),
                        [T(arrays(sa, 1)), T(arrays(sb, 2)), T(arrays(sw, 3, 0.0, 1.0))])
    assert tg.gradcheck(lambda a, b: a.lerp(b, 0.3), [T(arrays(sa, 1)), T(arrays(sb, 2))])


@pytest.mark.parametrize("sa, sb, sw", LERP_SHAPES)
def test_lerp_matches_live_pytorch(sa, sb, sw):
    torch = pytest.importorskip("torch")
    _matches_torch(tg.lerp, torch.lerp, [arrays(sa, 1), arrays(sb, 2), arrays(sw, 3, 0.0, 1.0)])


def test_lerp_weight_number_and_dtype_rules():
    a = tg.Tensor(np.zeros(3, np.float32), requires_grad=True)
    b = tg.Tensor(np.full(3, 2.0, np.float32))
    y = a.lerp(b, 0.25)
    assert y.dtype == np.float32 and np.allclose(y.array, 0.5)
    y.sum().backward()
    np.testing.assert_allclose(a.grad, 0.75)
    with pytest.raises(TypeError, match="lerp: input, end and weight must have one floating "
                                        "dtype, got float32, float64 and float32"):
        tg.lerp(a, tg.Tensor(np.ones(3)), 0.5)
    with pytest.raises(ValueError, match=r"lerp: shapes \(3,\), \(2,\), \(\) cannot be broadcast"):
        tg.lerp(a, tg.Tensor(np.ones(2, np.float32)), 0.5)


# ---------------------------------------------------------------- reductions

@pytest.mark.parametrize("dim", [None, 0, 1, -1, (0, 2)])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("op", ["sum", "mean", "var"])
def test_reductions_gradcheck(op, dim, keepdim):
    x = T(arrays((3, 4, 2), 3))
    assert tg.gradcheck(lambda x: getattr(x, op)(dim, keepdim=keepdim), [x])


def test_reductions_accept_dim_positionally_and_by_keyword():
    x = T(arrays((3, 4), 4), grad=False)
    np.testing.assert_allclose(x.sum(1).array, x.array.sum(1))
    np.testing.assert_allclose(x.mean(dim=0, keepdim=True).array, x.array.mean(0, keepdims=True))


def test_max_gradcheck_without_ties():
    x = T(arrays((3, 4), 5))
    assert tg.gradcheck(lambda x: x.max(), [x])
    assert tg.gradcheck(lambda x: x.max(1).values, [x])
    assert tg.gradcheck(lambda x: x.max(0, keepdim=True)[0], [x])
    assert tg.gradcheck(lambda x: x.amax((0, 1)), [x])
    assert tg.gradcheck(lambda x: x.min(1).values, [x])


def test_max_ties_full_reduction_splits_the_gradient():
    x = T([1.0, 3.0, 3.0, 2.0])
    x.max().backward()
    np.testing.assert_array_equal(x.grad, [0, 0.5, 0.5, 0])


def test_max_ties_along_dim_go_to_the_first_argmax():
    x = T([[3.0, 1.0, 3.0], [0.0, 2.0, 2.0]])
    values, indices = x.max(1)
    values.sum().backward()
    np.testing.assert_array_equal(indices.array, [0, 1])
    np.testing.assert_array_equal(x.grad, [[1, 0, 0], [0, 1, 0]])


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_and_log_softmax_gradcheck(dim):
    x = T(arrays((3, 4), 6, -3, 3))
    assert tg.gradcheck(lambda x: x.softmax(dim), [x])
    assert tg.gradcheck(lambda x: x.log_softmax(dim), [x])


def test_log_softmax_is_stable_for_huge_logits():
    x = tg.Tensor(np.array([[1000.0, 0.0, -1000.0]]))
    out = x.log_softmax(1).array
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out[0, 0], 0.0, atol=1e-12)


# ---------------------------------------------------------------- shape and indexing

def test_reshape_permute_transpose_gradcheck():
    x = T(arrays((2, 3, 4), 7))
    assert tg.gradcheck(lambda x: x.reshape(4, 6) * 2, [x])
    assert tg.gradcheck(lambda x: x.reshape((3, -1)) * 2, [x])
    assert tg.gradcheck(lambda x: x.permute(2, 0, 1) * 2, [x])
    assert tg.gradcheck(lambda x: x.permute((1, 2, 0)) * 2, [x])
    assert tg.gradcheck(lambda x: x.transpose(0, 2) * 2, [x])
    assert tg.gradcheck(lambda x: x.T * 2, [x])
    assert tg.gradcheck(lambda x: x.unsqueeze(1).squeeze(1).flatten() * 2, [x])


@pytest.mark.parametrize("index", [1, -1, slice(1, 3), (slice(None), 2), (Ellipsis, 1),
                                   (None, 0), (slice(None, None, -1),),
                                   np.array([0, 2, 0]), ([1, 1, 0], [3, 3, 2]),
                                   np.array([True, False, True])],
                         ids=["int", "neg-int", "slice", "tuple", "ellipsis", "none",
                              "neg-step", "int-array-repeated", "pairs-repeated", "bool-mask"])
def test_getitem_gradcheck(index):
    x = T(arrays((3, 4), 8))
    assert tg.gradcheck(lambda x: x[index] * 1.0, [x])


def test_getitem_repeated_indices_accumulate():
    x = T([1.0, 2.0, 3.0])
    x[np.array([0, 0, 2, 0])].sum().backward()
    np.testing.assert_array_equal(x.grad, [3, 0, 1])


def test_getitem_with_tensor_index():
    x = T([1.0, 2.0, 3.0])
    idx = tg.Tensor(np.array([2, 1]))
    np.testing.assert_array_equal(x[idx].array, [3.0, 2.0])


@pytest.mark.parametrize("how", ["chunk", "split-int", "split-list", "unbind"])
def test_split_family_gradcheck_with_unused_outputs(how):
    x = T(arrays((4, 6), 9))

    def fn(x):
        if how == "chunk":
            parts = x.chunk(3, 1)
        elif how == "split-int":
            parts = x.split(4, 1)  # sizes 4 and 2
        elif how == "split-list":
            parts = x.split([1, 3, 2], 1)
        else:
            parts = x.unbind(0)
        return parts[0] * 2 + parts[-1].sum() if how != "unbind" else parts[1] * parts[3]
    assert tg.gradcheck(fn, [x])


def test_split_sizes_follow_pytorch():
    x = tg.Tensor(np.zeros((7, 2)))
    assert [p.shape[0] for p in x.split(3)] == [3, 3, 1]
    assert [p.shape[0] for p in x.chunk(3)] == [3, 3, 1]
    assert [p.shape[0] for p in tg.Tensor(np.zeros(6)).chunk(4)] == [2, 2, 2]


def test_unused_split_outputs_get_zero_gradient():
    x = T(np.ones((2, 4)))
    a, b = x.chunk(2, 1)
    (a * 3).sum().backward()
    np.testing.assert_array_equal(x.grad, [[3, 3, 0, 0], [3, 3, 0, 0]])


def test_cat_stack_gradcheck():
    a, b = T(arrays((2, 3), 10)), T(arrays((2, 1), 11))
    assert tg.gradcheck(lambda a, b: tg.cat([a, b, a], 1), [a, b])
    c = T(arrays((2, 3), 12))
    assert tg.gradcheck(lambda a, c: tg.stack([a, c, a], 0), [a, c])
    assert tg.gradcheck(lambda a, c: tg.stack([a, c], -1), [a, c])


def test_cast_gradient_returns_in_the_input_dtype():
    x = tg.Tensor(np.ones(3, np.float32), requires_grad=True)
    (x.double() * 2.0).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, [2, 2, 2])
    # through float32 and back: finite differences need a step float32 can resolve
    assert tg.gradcheck(lambda x: x.float().double() * 3.0, [T([0.5, 1.0])], eps=1e-2,
                        atol=1e-3)


# ---------------------------------------------------------------- reuse and aliasing

def test_reused_inputs_gradcheck():
    x = T(arrays((3,), 13))
    assert tg.gradcheck(lambda x: x * x, [x])
    assert tg.gradcheck(lambda x: (x * 2).tanh() + x.exp() * x, [x])
    assert tg.gradcheck(lambda x: x @ x, [x])


def test_aliasing_views_gradcheck():
    x = T(arrays((5,), 14))
    assert tg.gradcheck(lambda x: x[0:3] * x[2:5], [x])
    assert tg.gradcheck(lambda x: tg.cat([x[1:], x[:-1]], 0) * tg.cat([x[::-1][:4], x[:4]], 0),
                        [x])


def test_a_value_used_twice_gets_both_contributions():
    x = T([2.0])
    y = x * 3
    (y + y * y).backward()  # d/dx (3x + 9x²) = 3 + 18x
    np.testing.assert_allclose(x.grad, [3 + 18 * 2.0])


# ---------------------------------------------------------------- unbroadcast

@SETTINGS
@given(shapes=broadcast_pair())
def test_unbroadcast_sums_back_to_the_shape(shapes):
    sa, sb = shapes
    out_shape = np.broadcast_shapes(sa, sb)
    g = np.ones(out_shape)
    reduced = unbroadcast(g, sb)
    assert reduced.shape == sb
    assert reduced.sum() == g.sum()


# ---------------------------------------------------------------- the pieces PyTorch users reach for
# Shapes from the shared strategies (0-d included) and values drawn by hypothesis.

from strategies import tensor_pairs, tensors  # noqa: E402


@pytest.mark.parametrize("op", [tg.maximum, tg.minimum], ids=["maximum", "minimum"])
@SETTINGS
@given(pair=tensor_pairs())
def test_maximum_minimum_gradcheck(op, pair):
    a, b = pair
    a.array = a.array + 0.01 * np.arange(a.array.size).reshape(a.shape)  # no exact ties here
    b.array = b.array + 0.5 + 0.013 * np.arange(b.array.size).reshape(b.shape)
    if np.isclose(np.subtract.outer(a.array.ravel(), b.array.ravel()), 0, atol=1e-4).any():
        return  # a tie within the finite-difference step: the gradient jumps there
    assert tg.gradcheck(op, [a, b])


def test_maximum_ties_split_the_gradient_as_pytorch():
    a, b = T([1.0, 2.0, 3.0]), T([1.0, 5.0, 0.0])
    tg.maximum(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad, [0.5, 0, 1])
    np.testing.assert_array_equal(b.grad, [0.5, 1, 0])
    x = T([2.0])
    tg.minimum(x, x).sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0])


@SETTINGS
@given(x=tensors(avoid_zero=True))
def test_clamp_gradcheck_and_boundaries(x):
    x.array = np.where(np.abs(np.abs(x.array) - 0.5) < 0.01, 0.3, x.array)  # off the corners
    assert tg.gradcheck(lambda t: t.clamp(-0.5, 0.5), [x])
    assert tg.gradcheck(lambda t: t.clamp(min=0.0), [x])


def test_clamp_passes_the_gradient_at_the_boundary_like_pytorch():
    x = T([-1.0, -0.5, 0.0, 0.5, 1.0])
    x.clamp(-0.5, 0.5).sum().backward()
    np.testing.assert_array_equal(x.grad, [0, 1, 1, 1, 0])
    with pytest.raises(ValueError, match="clamp: at least one of min and max"):
        x.clamp()


@SETTINGS
@given(x=tensors(), data=st.data())
def test_norm_std_expand_gradcheck(x, data):
    if np.linalg.norm(x.array) > 1e-3:
        assert tg.gradcheck(lambda t: t.norm(), [x])
    if x.ndim:
        dim = data.draw(st.integers(-x.ndim, x.ndim - 1))
        if (np.linalg.norm(x.array, axis=dim) > 1e-3).all():
            assert tg.gradcheck(lambda t: t.norm(dim=dim, keepdim=True), [x])
        if x.shape[dim] > 1 and (x.array.std(axis=dim) > 1e-3).all():  # std's kink: constant rows
            assert tg.gradcheck(lambda t: t.std(dim), [x])
    assert tg.gradcheck(lambda t: t.expand(2, *t.shape) * 1.5, [x])


def test_std_of_equal_values_has_zero_gradient_like_pytorch():
    """std is √var with the gradient taken as 0 where it is 0 (PyTorch's rule), not 0·∞ = NaN —
    found by the hypothesis comparison with PyTorch on x = [1, 1]."""
    x = T([[1.0, 1.0], [2.0, 3.0]])
    (x.std(1) * T([2.0, 1.0], grad=False)).sum().backward()
    np.testing.assert_allclose(x.grad, [[0, 0], [-np.sqrt(0.5), np.sqrt(0.5)]])
    y = T([0.0, 4.0])
    with np.errstate(divide="ignore"):
        y.sqrt().sum().backward()
    assert y.grad[0] == np.inf  # a plain sqrt keeps its infinite slope at 0


def test_norm_at_zero_has_zero_gradient_and_p_norms():
    x = T([0.0, 0.0])
    x.norm().backward()
    np.testing.assert_array_equal(x.grad, [0, 0])
    y = T([3.0, -4.0])
    assert y.norm().item() == 5.0 and y.norm(1).item() == pytest.approx(7.0)
    assert tg.gradcheck(lambda t: t.norm(3), [T([1.0, -2.0, 0.5])])


@SETTINGS
@given(x=tensors(shape=(3, 4)), seed=st.integers(0, 1000), dim=st.integers(-2, 1))
def test_gather_gradcheck_with_repeated_indices(x, seed, dim):
    n = x.shape[dim]
    index = np.random.default_rng(seed).integers(0, n, size=(3, 4) if dim % 2 == 0 else (3, 6))
    index = index[:, :4] if dim % 2 == 0 else index
    assert tg.gradcheck(lambda t: t.gather(dim, index), [x])


def test_gather_matches_the_definition_and_checks_its_index():
    x = T(np.arange(6.0).reshape(2, 3))
    out = x.gather(1, np.array([[2, 2], [0, 1]]))
    np.testing.assert_array_equal(out.array, [[2, 2], [3, 4]])
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, [[0, 0, 2], [1, 1, 0]])
    with pytest.raises(IndexError, match="gather: index out of range for dim 1 of size 3"):
        x.gather(1, np.array([[3]]))
    with pytest.raises(ValueError, match="gather: index must be an integer tensor with 2 dims"):
        x.gather(1, np.array([1]))


def test_small_shape_and_selection_helpers():
    x = T(np.arange(6.0).reshape(1, 2, 1, 3))
    assert x.squeeze((0, 2)).shape == (2, 3) and x.squeeze(1).shape == (1, 2, 1, 3)
    m = T(np.arange(6.0).reshape(2, 3))
    assert m.t().shape == (3, 2) and m.contiguous() is m
    assert m.argmin().item() == 0 and m.argmin(1).tolist() == [0, 0] and m.argmax(0).dtype == np.int64
    filled = m.masked_fill(m.array > 3, -1.0)
    filled.sum().backward()
    np.testing.assert_array_equal(filled.array, [[0, 1, 2], [3, -1, -1]])
    np.testing.assert_array_equal(m.grad, [[1, 1, 1], [1, 0, 0]])
    with pytest.raises(ValueError, match="expand: cannot expand shape"):
        m.expand(3, 3)
    c = m.clone()
    assert c.array is not m.array and tg.gradcheck(lambda t: t.clone() * t, [T([1.0, 2.0])])


def test_new_pieces_match_live_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4,))
    cases = {
        "clamp": (lambda lib, x, y: x.clamp(-0.3, 0.4) * y),
        "maximum": (lambda lib, x, y: lib.maximum(x, y) + lib.minimum(x, y * 2)),
        "norm": (lambda lib, x, y: x.norm(dim=1) * 2 + x.norm()),
        "std": (lambda lib, x, y: x.std(0) * y + x.std()),
        "expand": (lambda lib, x, y: y.expand(3, 4) * x),
        "gather": (lambda lib, x, y: x.gather(1, lib.tensor([[0, 0], [3, 1], [2, 2]])) * 3),
        "masked_fill": (lambda lib, x, y: x.masked_fill(x > 0, 0.5) * y),
    }
    for name, fn in cases.items():
        ours = [T(a), T(b)]
        theirs = [torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)]
        o, t = fn(tg, *ours), fn(torch, *theirs)
        np.testing.assert_allclose(o.array, t.detach().numpy(), rtol=1e-12, err_msg=name)
        o.sum().backward()
        t.sum().backward()
        for x, y in zip(ours, theirs):
            expected = np.zeros(x.shape) if y.grad is None else y.grad.numpy()
            got = np.zeros(x.shape) if x.grad is None else x.grad
            np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-14, err_msg=name)


@settings(max_examples=40, deadline=None)
@given(pair=tensor_pairs())
def test_lerp_and_linear_addend_on_0d_1_element_and_reused_tensors_match_live_pytorch(pair):
    """lerp and linear with a broadcast addend on hypothesis shapes (0-d and 1-element
    included), each tensor used several times in one expression, against PyTorch."""
    torch = pytest.importorskip("torch")

    def expr(lib, lerp, linear, a, b):
        y = lerp(a, b * a, (b * 0.5).sigmoid())  # a and b broadcast together, both reused
        v = y.reshape(-1, 1)  # (n, 1): a linear from 1 feature to n, bias = v broadcast
        w = y.reshape(-1, 1)
        return (linear(v, w, y.reshape(1, -1)) * y.reshape(1, -1)).sum() + (y * y).sum()

    a, b = pair
    ours = [T(a.array), T(b.array)]
    theirs = [torch.tensor(a.array, requires_grad=True), torch.tensor(b.array, requires_grad=True)]
    out = expr(tg, tg.lerp, F.linear, *ours)
    ref = expr(torch, torch.lerp, torch.nn.functional.linear, *theirs)
    out.backward()
    ref.backward()
    np.testing.assert_allclose(out.array, ref.detach().numpy(), rtol=1e-10)
    for mine, theirs_t in zip(ours, theirs):
        np.testing.assert_allclose(mine.grad, theirs_t.grad.numpy(), rtol=1e-9, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(x=tensors(low=-2.0, high=2.0, avoid_zero=True), data=st.data())
def test_new_pieces_on_0d_1_element_and_reused_tensors_match_live_pytorch(x, data):
    """clamp, maximum, norm, expand and std on hypothesis shapes (0-d and 1-element included),
    with x used several times in one expression, against PyTorch's values and gradient."""
    torch = pytest.importorskip("torch")
    dim = data.draw(st.integers(-x.ndim, x.ndim - 1)) if x.ndim else None
    # std's gradient (x - mean)/((n-1)·std) is rounding noise when the values differ only in
    # their last bits (two libraries then round differently); equal values have their own test
    with_std = dim is not None and x.shape[dim] > 1 and \
        np.std(x.array, axis=dim).min() > 1e-6 * (np.abs(x.array).max() + 1)

    def expr(lib, t):
        y = lib.maximum(t.clamp(-1.0, 1.0), t * 0.5) + t.expand(2, *t.shape).sum(0) * t
        y = y + t.norm() * t
        if with_std:
            y = y + t.std(dim, keepdim=True)
        return (y * y).sum()

    ours = T(x.array)
    theirs = torch.tensor(x.array, requires_grad=True)
    out, ref = expr(tg, ours), expr(torch, theirs)
    out.backward()
    ref.backward()
    np.testing.assert_allclose(out.array, ref.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------- integer tensors as op inputs

@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.25])
def test_class_target_losses_gradcheck_with_ignored_targets_and_weights(reduction, smoothing):
    """nll_loss/cross_entropy take the targets as an op input (ops.NLLLoss, SmoothLoss)."""
    rng = np.random.default_rng(3)
    x = tg.tensor(rng.standard_normal((2, 4, 3)), requires_grad=True)
    target = tg.tensor(np.array([[0, 3, -1], [2, -1, 1]]))
    weight = tg.tensor(np.array([0.5, 1.0, 2.0, 1.5]))
    assert tg.gradcheck(lambda t: F.cross_entropy(t, target, weight=weight, ignore_index=-1,
                                                  reduction=reduction, label_smoothing=smoothing),
                        [x])


def test_index_inputs_gradcheck():
    """Embedding, x[int tensor], index_select and where with a Tensor condition (the padding
    row's gradient is zero by definition, not the derivative: tested below)."""
    rng = np.random.default_rng(4)
    w = tg.tensor(rng.standard_normal((5, 3)), requires_grad=True)
    ids = tg.tensor(np.array([[0, 4, 4], [2, 0, 1]]))
    assert tg.gradcheck(lambda w: F.embedding(ids, w) ** 2, [w])
    assert tg.gradcheck(lambda w: w[ids, 1:] ** 2, [w])
    assert tg.gradcheck(lambda w: w.index_select(0, tg.tensor(np.array([3, 3, 0]))) ** 2, [w])
    mask = tg.tensor(rng.random((5, 3)) > 0.5)
    assert tg.gradcheck(lambda w: tg.where(mask, w * w, -w) + w.masked_fill(mask, 0.5), [w])


def test_embedding_gradient_skips_the_padding_row():
    w = tg.tensor(np.ones((4, 2)), requires_grad=True)
    F.embedding(tg.tensor(np.array([1, 3, 3, 0])), w, padding_idx=-1).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [[1, 1], [1, 1], [0, 0], [0, 0]])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss_and_embedding_equal_the_ops_they_replace_bit_for_bit(reduction):
    """The fused primitives compute what the generic ops did before (pick, negate, weigh,
    reduce; index and mask the padding row), in the same order: the same bits."""
    rng = np.random.default_rng(11)
    x = tg.tensor(rng.standard_normal((6, 4)).astype(np.float32), requires_grad=True)
    t = np.array([0, 3, -1, 2, 2, -1])
    w = rng.uniform(0.5, 2, 4).astype(np.float32)
    u = tg.tensor(rng.standard_normal(6 if reduction == "none" else ()).astype(np.float32))

    def grads(loss):
        x.grad = None
        loss.backward(u)
        return loss.numpy(), x.grad.numpy()
    fused = grads(F.nll_loss(x.log_softmax(1), tg.tensor(t), weight=tg.tensor(w),
                             ignore_index=-1, reduction=reduction))
    valid = t != -1
    safe = np.where(valid, t, 0)
    picked = -x.log_softmax(1)[np.arange(6), safe] * tg.tensor(np.where(valid, w[safe], 0))
    ref = {"none": picked, "sum": picked.sum(),
           "mean": picked.sum() * (1.0 / float(np.where(valid, w[safe], 0).astype(np.float64)
                                               .sum()))}[reduction]
    for a, b in zip(fused, grads(ref)):
        assert a.dtype == b.dtype and np.array_equal(a, b)

    ids = rng.integers(0, 6, (3, 4))
    u = tg.tensor(rng.standard_normal((3, 4, 4)).astype(np.float32))
    out = F.embedding(tg.tensor(ids), x, padding_idx=2)
    picked = x[ids]
    ref = tg.where((ids != 2)[..., None], picked, picked.detach())
    for a, b in zip(grads(out), grads(ref)):
        assert np.array_equal(a, b)
