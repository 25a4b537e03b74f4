"""Indexed writes ``x[i] = v`` record the gradient (issue 19): ``v`` gets the gradient of the
part it overwrote, ``x`` the rest — as PyTorch does — and what cannot be recorded raises."""
from __future__ import annotations

import numpy as np
import pytest

import tinygrad_rnn as tg

# (index, value shape) pairs for a (4, 3) target: basic, advanced, boolean, broadcast, 0-d
CASES = [
    (1, (3,)),
    (1, ()),                                   # a 0-d value broadcast to the row
    ((slice(1, 3), 0), (2,)),
    ((slice(None), 2), (1,)),                  # a 1-element value broadcast down a column
    ((Ellipsis, slice(0, 2)), (4, 2)),
    (np.array([0, 2]), (2, 3)),
    (np.array([3, 0]), (3,)),                  # advanced rows, value broadcast over them
    ((np.array([0, 1, 3]), np.array([2, 0, 1])), (3,)),
    (np.array([True, False, True, False]), (2, 3)),
    ((slice(None), np.array([True, False, True])), (4, 2)),
]


def _write(lib, index, x, v):
    out = x * 1.0  # not a leaf: the write is recorded on it
    out[index] = v
    return out


@pytest.mark.parametrize("index,vshape", CASES, ids=[str(i) for i in range(len(CASES))])
def test_setitem_gradcheck_in_float64(index, vshape):
    rng = np.random.default_rng(0)
    x = tg.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    v = tg.tensor(rng.standard_normal(vshape), requires_grad=True)
    assert tg.gradcheck(lambda x, v: _write(tg, index, x, v).tanh(), [x, v])


@pytest.mark.parametrize("index,vshape", CASES, ids=[str(i) for i in range(len(CASES))])
def test_setitem_matches_live_pytorch_values_and_gradients(index, vshape):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    xa, va = rng.standard_normal((4, 3)), rng.standard_normal(vshape)
    u = rng.standard_normal((4, 3))

    def run(lib, as_index):
        x = lib.tensor(xa, requires_grad=True)
        v = lib.tensor(va, requires_grad=True)
        out = _write(lib, as_index(index), x, v)
        loss = (out.tanh() * lib.tensor(u)).sum() + (v * v).sum()  # v used twice
        loss.backward()
        return out.detach().numpy(), x.grad.numpy(), v.grad.numpy()

    def torch_index(i):
        parts = i if isinstance(i, tuple) else (i,)
        conv = tuple(torch.from_numpy(p) if isinstance(p, np.ndarray) else p for p in parts)
        return conv if isinstance(i, tuple) else conv[0]

    for a, b in zip(run(tg, lambda i: i), run(torch, torch_index)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_encoder_outputs_written_row_by_row_train_like_pytorch():
    # the seq2seq pattern: a preallocated buffer filled in a loop, then used by attention
    torch = pytest.importorskip("torch")

    def run(lib):
        w = lib.tensor(np.linspace(-1, 1, 6).reshape(2, 3), requires_grad=True)
        enc = lib.zeros(4, 3, dtype=lib.float64)
        h = lib.tensor(np.ones((1, 3)) * 0.1)
        for i in range(4):
            h = (h @ w.t() @ w + 0.5).tanh()
            enc[i] = h[0]
        loss = (enc @ enc.t()).softmax(1).sum(0).pow(2).sum()
        loss.backward()
        return loss.item(), w.grad.numpy()

    (l1, g1), (l2, g2) = run(tg), run(torch)
    assert abs(l1 - l2) < 1e-12
    np.testing.assert_allclose(g1, g2, rtol=1e-12)
    assert np.abs(g1).sum() > 0


def test_the_overwritten_part_of_the_target_gets_no_gradient():
    x = tg.tensor(np.ones((3, 2)), requires_grad=True)
    v = tg.tensor(np.full(2, 2.0), requires_grad=True)
    y = x * 3.0
    y[1] = v
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[3, 3], [0, 0], [3, 3]])
    np.testing.assert_array_equal(v.grad.numpy(), [1, 1])


def test_a_plain_write_without_gradients_records_nothing():
    x = tg.zeros(3)
    x[0] = 5.0
    x[1:] = tg.tensor([1.0, 2.0])
    assert x.node is None and not x.requires_grad
    np.testing.assert_array_equal(x.numpy(), [5, 1, 2])


def test_under_no_grad_a_write_into_a_leaf_parameter_is_allowed():
    p = tg.tensor(np.zeros(3), requires_grad=True)
    with tg.no_grad():
        p[1] = 4.0
    np.testing.assert_array_equal(p.numpy(), [0, 4, 0])


def test_writing_into_a_leaf_that_requires_grad_is_refused():
    p = tg.tensor(np.zeros(3), requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        p[0] = 1.0


def test_writing_a_value_with_a_gradient_into_a_view_is_refused():
    base = tg.zeros(4, 3, dtype=tg.float64)
    view = base[1:]
    v = tg.tensor(np.ones(3), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"setitem: .*view.*\(3, 3\)"):
        view[0] = v
    assert not base.requires_grad and (base.numpy() == 0).all()  # nothing half-written


def test_repeated_advanced_indices_with_a_gradient_are_refused():
    x = tg.zeros(4, dtype=tg.float64)
    v = tg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    with pytest.raises(RuntimeError, match="more than once"):
        x[np.array([1, 1])] = v


def test_a_bad_shape_names_the_op_and_shapes():
    x = tg.zeros(4, 3, dtype=tg.float64)
    v = tg.tensor(np.ones(5), requires_grad=True)
    with pytest.raises(ValueError, match=r"setitem: .*\(5,\).*\(4, 3\)"):
        x[0] = v
    with pytest.raises(ValueError, match=r"setitem: .*\(4, 3\)"):
        x[0] = np.ones(5)


def test_a_value_of_another_dtype_is_cast_to_the_target_dtype():
    x = tg.zeros(3)  # float32
    v = tg.tensor(np.array([1.5]), requires_grad=True)  # float64
    y = x * 1.0
    y[2] = v
    y.sum().backward()
    assert y.dtype == np.float32 and v.grad.dtype == np.float64
    np.testing.assert_array_equal(v.grad.numpy(), [1.0])
