"""PyTorch's semantics where a numpy-based engine silently differs: 0-d tensors, in-place
updates and version counters, copy vs share, integer casts, pow at 0, retain_grad, type
promotion, and the small Python protocols (index, iter, array). Each repro from the issue is a
named test; the answer in brackets there is PyTorch's."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_rnn as tg
from tinygrad_rnn import nn, optim
from strategies import tensors


def scalar(v, grad=True):
    return tg.tensor(v, requires_grad=grad, dtype=tg.float64)


# ---------------------------------------------------------------- 0-d tensors

def test_micrograd_sanity_check_on_0d_tensors():
    # micrograd's own test_sanity_check, with x a 0-d tensor (PyTorch: x.grad = 46, y = -20)
    x = scalar(-4.0)
    z = 2 * x + 2 + x
    q = z.relu() + z * x
    h = (z * z).relu()
    y = h + q + q * x
    y.backward()
    assert y.item() == -20.0 and x.grad.item() == 46.0
    assert isinstance(x.grad, tg.Tensor) and type(x.grad.array) is np.ndarray and x.grad.shape == ()


def test_micrograd_more_ops_on_0d_tensors():
    # micrograd's test_more_ops; the numbers are PyTorch's (float64)
    a, b = scalar(-4.0), scalar(2.0)
    c = a + b
    d = a * b + b ** 3
    c = c + c + 1
    c = c + 1 + c + (-a)
    d = d + d * 2 + (b + a).relu()
    d = d + 3 * d + (b - a).relu()
    e = c - d
    f = e ** 2
    g = f / 2.0
    g = g + 10.0 / f
    g.backward()
    assert g.item() == pytest.approx(24.70408163265306, abs=1e-12)
    assert a.grad.item() == pytest.approx(138.83381924198252, abs=1e-10)
    assert b.grad.item() == pytest.approx(645.5772594752186, abs=1e-10)


def test_sum_of_0d_used_twice_keeps_both_contributions():
    x = scalar(10.0)
    s = x.sum()
    (s * s + s).backward()
    assert x.grad.item() == 21.0  # 2s + 1


def test_stack_of_0d_results():
    x = scalar(3.0)
    parts = [x * 2, x.sum(), x * x]
    y = tg.stack(parts).sum() + parts[1] * parts[2]
    y.backward()
    assert x.grad.item() == 2 + 1 + 6 + (9 + 3 * 6)


def test_every_gradient_is_a_tensor_of_the_input_shape_holding_an_ndarray():
    x = scalar(2.0)
    v = tg.tensor([1.0, 2.0], requires_grad=True, dtype=tg.float64)
    y = (x * v).sum() * x.sum() + x
    y.backward()
    assert type(x.grad) is tg.Tensor and type(x.grad.array) is np.ndarray and x.grad.shape == ()
    assert type(v.grad) is tg.Tensor and type(v.grad.array) is np.ndarray and v.grad.shape == (2,)
    assert x.grad.dtype == x.dtype and not x.grad.requires_grad


@settings(max_examples=40, deadline=None)
@given(x=tensors(shape=(), low=-3, high=3), k=st.integers(2, 5))
def test_a_0d_value_used_k_times_gets_k_contributions(x, k):
    y = x.sum()
    total = y
    for _ in range(k - 1):
        total = total + y
    total.backward()
    assert x.grad.item() == k


# ---------------------------------------------------------------- in place

def test_hand_written_sgd_step_updates_the_parameter_in_place():
    layer = nn.Linear(2, 1)
    before = layer.weight.numpy().copy()
    layer(tg.tensor([[1.0, 2.0]])).sum().backward()
    with tg.no_grad():
        for p in layer.parameters():
            p -= 0.1 * p.grad
    np.testing.assert_allclose(layer.weight.array, before - 0.1 * layer.weight.grad)


@pytest.mark.parametrize("update, expected", [
    (lambda p: p.add_(1), [2.0, 3.0]), (lambda p: p.sub_(1, alpha=2), [-1.0, 0.0]),
    (lambda p: p.mul_(3), [3.0, 6.0]), (lambda p: p.div_(2), [0.5, 1.0]),
    (lambda p: p.zero_(), [0.0, 0.0]), (lambda p: p.fill_(7), [7.0, 7.0]),
    (lambda p: p.copy_(tg.tensor([5.0, 6.0])), [5.0, 6.0]),
    (lambda p: p.clamp_(max=1.5), [1.0, 1.5])])
def test_in_place_methods_write_into_the_tensor(update, expected):
    p = tg.tensor([1.0, 2.0], requires_grad=True)
    data = p.array
    with tg.no_grad():
        out = update(p)
    assert out is p and p.array is data
    np.testing.assert_allclose(data, expected)


def test_in_place_operators_write_into_the_tensor():
    t = tg.tensor([1.0, 2.0])
    data, alias = t.array, t
    t += 1
    t *= 2
    t -= 1
    t /= 3
    assert t is alias and t.array is data
    np.testing.assert_allclose(data, [1.0, 5.0 / 3])


def test_in_place_on_a_leaf_that_requires_grad_is_refused_outside_no_grad():
    p = tg.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad .* in-place"):
        p -= 1
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        p.zero_()
    assert p.array[0] == 1.0


def test_in_place_on_a_non_leaf_is_recorded_as_pytorch_does():
    x = tg.tensor([1.0, 2.0], requires_grad=True, dtype=tg.float64)
    y = x * 2
    y += 1
    y *= 3
    (y * y).sum().backward()
    np.testing.assert_allclose(x.grad, 2 * (3 * (2 * x.array + 1)) * 6)


def test_changing_a_saved_input_in_place_is_caught_at_backward():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1
    z = y * y  # mul saves y
    y += 1
    with pytest.raises(RuntimeError, match="needed for the gradient of mul .* modified by an "
                                           "in-place operation"):
        z.sum().backward()


def test_changing_a_saved_output_in_place_is_caught_at_backward():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    e = x.exp()  # exp saves its output
    e += 1
    with pytest.raises(RuntimeError, match="gradient of exp .* in-place"):
        e.sum().backward()


def test_changing_saved_data_through_a_detached_alias_or_a_view_is_caught():
    x = tg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = x * 1
    z = y * y
    with tg.no_grad():
        y.detach().reshape(4)[0] += 5  # a view of a detached alias: the same memory
    with pytest.raises(RuntimeError, match="in-place"):
        z.sum().backward()


def test_writes_before_a_graph_cost_its_backward_no_checks(monkeypatch):
    """A training loop that updates parameters in place (``p.data.add_``) records its next graph
    after the writes: backward checks saved arrays only for nodes older than the latest write."""
    from tinygrad_rnn import engine

    w = tg.tensor([1.0, 2.0], requires_grad=True)
    with tg.no_grad():
        w.data.add_(tg.tensor([0.5, 0.5]))  # the previous step's update: a write
    calls = []
    real = engine._check_backward_allowed
    monkeypatch.setattr(engine, "_check_backward_allowed", lambda n: calls.append(n) or real(n))
    z = (w * w).exp() * w  # recorded after the write
    z.sum().backward()
    assert calls == []
    np.testing.assert_allclose(w.grad, np.exp([2.25, 6.25]) * (1 + 2 * np.array([1.5, 2.5]) ** 2))
    y = w * 1
    z = y * y
    y += 1  # a write after z's node: that node is checked, and refused
    with pytest.raises(RuntimeError, match="in-place"):
        z.sum().backward()
    assert calls


def test_in_place_on_data_no_op_saved_is_fine():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1
    z = y + 1  # add saves no arrays
    y += 1
    z.sum().backward()
    np.testing.assert_allclose(x.grad, [1.0, 1.0])


def test_in_place_result_must_fit_the_tensor():
    t = tg.tensor([1, 2])
    with pytest.raises(TypeError, match="float32 cannot be written into a tensor of dtype int64"):
        t += 0.5
    v = tg.tensor([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"shape \(2, 2\) does not match .* \(2,\)"):
        v += tg.ones(2, 2)


# ---------------------------------------------------------------- copy vs share

def test_tensor_and_parameter_copy_the_callers_array():
    arr = np.ones(3, dtype=np.float32)
    t, p = tg.Tensor(arr), nn.Parameter(arr)
    p.grad = tg.tensor(np.ones(3, dtype=np.float32))
    optim.SGD([p], lr=0.5).step()
    t.array[0] = 9
    np.testing.assert_array_equal(arr, [1, 1, 1])
    assert p.array[0] == 0.5 and t.array[1] == 1


def test_from_numpy_shares_memory():
    arr = np.zeros(2)
    t = tg.from_numpy(arr)
    arr[0] = 3
    t.array[1] = 4
    np.testing.assert_array_equal(t.array, [3, 4])
    np.testing.assert_array_equal(arr, [3, 4])


# ---------------------------------------------------------------- integer and bool tensors

def test_integer_cast_cuts_the_graph():
    x = tg.tensor([1.5, 2.5], requires_grad=True)
    i = x.to(tg.int64)
    assert not i.requires_grad and i.is_leaf and i.dtype == np.int64
    assert not x.long().requires_grad and not x.bool().requires_grad
    with pytest.raises(TypeError, match="only floating point tensors can require grad"):
        tg.tensor([1, 2], requires_grad=True)


def test_float_cast_keeps_the_gradient():
    x = tg.tensor([1.5, 2.5], requires_grad=True)
    (x.double() * 2).sum().backward()
    assert x.grad.dtype == np.float32 and list(x.grad) == [2, 2]


# ---------------------------------------------------------------- pow at 0

def test_pow_zero_has_zero_gradient_at_zero():
    x = scalar(0.0)
    (x ** 0).backward()
    assert x.grad.item() == 0.0
    y, e = scalar(0.0), scalar(0.0)
    (y ** e).backward()
    assert y.grad.item() == 0.0 and e.grad.item() == 0.0  # d/de 0^e = 0 for e >= 0


def test_zero_to_a_negative_power_has_minus_inf_exponent_gradient():
    e = scalar(-1.0)
    with np.errstate(all="raise"):
        out = tg.tensor(0.0, dtype=tg.float64) ** e
    out.backward()
    assert out.item() == np.inf and e.grad.item() == -np.inf


# ---------------------------------------------------------------- retain_grad

def test_retain_grad_twice_is_idempotent():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    y.retain_grad()
    y.retain_grad()
    y.sum().backward()
    np.testing.assert_array_equal(y.grad, [1.0, 1.0])


def test_hidden_states_called_twice_does_not_double():
    from tinygrad_rnn import diagnostics
    layer = nn.RNN(2, 3)
    out, _ = layer(tg.randn(4, 1, 2))
    first, second = diagnostics.hidden_states(out), diagnostics.hidden_states(out)
    out.sum().backward()
    np.testing.assert_array_equal(diagnostics.grad_norms(first), diagnostics.grad_norms(second))
    np.testing.assert_allclose(first[-1].grad, np.ones((1, 3)))


def test_tensor_hooks_see_and_may_replace_the_gradient():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    seen = []
    y.register_hook(lambda g: seen.append(g.copy()))
    handle = x.register_hook(lambda g: g * 10)
    y.sum().backward()
    np.testing.assert_array_equal(seen[0], [1, 1])
    np.testing.assert_array_equal(x.grad, [30, 30])
    handle.remove()
    x.grad = None
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad, [3, 3])


# ---------------------------------------------------------------- type promotion

@pytest.mark.parametrize("make, expected", [
    (lambda: tg.tensor([1, 2]) * tg.tensor([1.0, 2.0]), np.float32),    # int64 × float32
    (lambda: tg.tensor([1, 2]) * 0.5, np.float32),                      # int tensor × Python float
    (lambda: tg.tensor([1, 2]) / tg.tensor([2, 2]), np.float32),        # true division of ints
    (lambda: tg.tensor([1.0]) * tg.tensor(2.0, dtype=tg.float64), np.float32),  # 0-d doesn't promote
    (lambda: tg.tensor([1.0]) * np.float64(2.0), np.float32),            # numpy scalar = Python number
    (lambda: tg.tensor([1.0]) * tg.tensor([2.0], dtype=tg.float64), np.float64),
    (lambda: tg.tensor([1, 2]) * tg.tensor(2.0, dtype=tg.float64), np.float64),  # higher category
    (lambda: tg.tensor([1, 2], dtype=tg.int32) + 5, np.int32),
    (lambda: tg.tensor([True]) + tg.tensor([1, 2]), np.int64),
    (lambda: tg.arange(0, 1, 0.25), np.float32),
    (lambda: tg.arange(4), np.int64),
    (lambda: tg.tensor([1.5, 2]), np.float32),
    (lambda: tg.tensor(np.array([1.5])), np.float64),
])
def test_type_promotion_follows_pytorch(make, expected):
    assert make().dtype == expected


DTYPES = ["bool", "int32", "int64", "float32", "float64"]


@pytest.mark.parametrize("a", DTYPES)
@pytest.mark.parametrize("b", DTYPES)
@pytest.mark.parametrize("kind", ["tensor", "0-d", "python"])
def test_type_promotion_matches_live_pytorch(a, b, kind):
    torch = pytest.importorskip("torch")
    x = np.array([1, 0, 1]).astype(a)
    y = np.array(1).astype(b)
    if kind == "tensor":
        ours, theirs = tg.tensor(x) + tg.tensor(np.array([1, 1, 0]).astype(b)), \
            torch.tensor(x) + torch.tensor(np.array([1, 1, 0]).astype(b))
    elif kind == "0-d":
        ours, theirs = tg.tensor(x) + tg.tensor(y), torch.tensor(x) + torch.tensor(y)
    else:
        py = y.item()
        ours, theirs = tg.tensor(x) * py, torch.tensor(x) * py
    assert str(ours.dtype) == str(theirs.dtype).replace("torch.", "")


def test_mixed_dtype_model_input_stays_float32_end_to_end():
    layer = nn.LSTM(2, 3)
    x = tg.tensor(np.ones((4, 1, 2), dtype=np.int64)) * 0.5  # int data scaled by a Python float
    out, _ = layer(x)
    assert out.dtype == np.float32


# ---------------------------------------------------------------- protocols

def test_0d_integer_tensor_works_as_a_python_int():
    lengths = tg.tensor([3, 1])
    assert [0, 1, 2, 3, 4][:lengths[0]] == [0, 1, 2]
    assert int(lengths[1]) == 1 and float(tg.tensor(2.5)) == 2.5 and abs(tg.tensor(-2.0)).item() == 2
    assert range(10)[tg.tensor(4)] == 4
    with pytest.raises(TypeError, match="integer tensors of a single element"):
        [1, 2][tg.tensor(1.0)]


def test_iterating_a_0d_tensor_raises_and_a_1d_tensor_unbinds():
    with pytest.raises(TypeError, match="iteration over a 0-d tensor"):
        list(tg.tensor(3.0))
    x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    parts = list(x)
    assert len(parts) == 3 and parts[1].shape == ()
    (parts[0] * parts[2]).backward()
    np.testing.assert_array_equal(x.grad, [3, 0, 1])


def test_0d_reductions_accept_dim_0_and_minus_1():
    x = tg.tensor(2.0, requires_grad=True)
    assert x.sum(0).item() == 2.0 and x.mean(-1).item() == 2.0 and x.sum(0, keepdim=True).shape == ()
    x.sum(0).backward()
    assert x.grad.item() == 1.0
    with pytest.raises(IndexError, match="dim 1 is out of range"):
        x.sum(1)


def test_no_grad_works_as_a_decorator_with_and_without_parentheses():
    w = tg.tensor([1.0], requires_grad=True)

    @tg.no_grad
    def bare():
        return w * 2

    @tg.no_grad()
    def called():
        return w * 2

    assert not bare().requires_grad and not called().requires_grad
    assert (w * 2).requires_grad and bare.__name__ == "bare"


def test_numpy_protocols():
    t = tg.tensor([1.0, 2.0])
    assert np.asarray(t).dtype == np.float32 and np.asarray(t).tolist() == [1.0, 2.0]
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    z = tg.tensor(3.0).numpy()
    assert isinstance(z, np.ndarray) and z.shape == ()


def test_bad_operands_get_clear_errors():
    with pytest.raises(ValueError, match=r"add: shapes \(2, 3\), \(4,\) cannot be broadcast"):
        tg.ones(2, 3) + tg.ones(4)
    with pytest.raises(TypeError, match="matmul: both operands must have the same dtype"):
        tg.ones(2, 2) @ tg.ones(2, 2, dtype=tg.float64)
    with pytest.raises(TypeError, match="unsupported operand of type str"):
        tg.ones(2) + "a"
