"""gradcheck passes on correct gradients and fails, clearly, on wrong ones."""
from __future__ import annotations

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import ops
from tinygrad_rnn.engine import apply as _apply


class WrongSquare(ops.Function):
    """x² with a backward that forgets the factor 2."""

    name = "wrong_square"

    @staticmethod
    def forward(ctx, a):
        ctx.save(a)
        return a * a

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved
        return g * a


def test_passes_on_a_correct_function():
    x = tg.Tensor(np.array([[0.3, -1.2], [2.0, 0.5]]), requires_grad=True)
    w = tg.Tensor(np.array([0.7, -0.4]), requires_grad=True)
    assert tg.gradcheck(lambda x, w: (x @ w).tanh() * x.sum(), [x, w])


def test_fails_on_a_wrong_backward_with_a_clear_message():
    x = tg.Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    with pytest.raises(tg.GradcheckError, match=r"input 0 \(shape \(3,\)\) at index \(0,\): "
                                                r"analytic .* vs numeric"):
        tg.gradcheck(lambda x: _apply(WrongSquare, x), [x])


def test_reports_the_failing_input_and_element():
    a = tg.Tensor(np.array([1.0]), requires_grad=True)
    b = tg.Tensor(np.array([[0.0, 2.0]]), requires_grad=True)
    with pytest.raises(tg.GradcheckError, match=r"input 1 \(shape \(1, 2\)\) at index \(0, 1\)"):
        tg.gradcheck(lambda a, b: a * 1.0 + _apply(WrongSquare, b), [a, b])


def test_checks_several_outputs():
    x = tg.Tensor(np.array([0.5, -0.5]), requires_grad=True)
    assert tg.gradcheck(lambda x: (x.exp(), x.tanh()), [x])


def test_rejects_float32_inputs():
    with pytest.raises(TypeError, match="float64"):
        tg.gradcheck(lambda x: x * 2, [tg.Tensor([1.0], requires_grad=True)])


def test_needs_an_input_that_requires_grad():
    with pytest.raises(ValueError, match="no input requires grad"):
        tg.gradcheck(lambda x: x * 2, [tg.Tensor(np.array([1.0]))])


def test_leaves_inputs_unchanged():
    data = np.array([0.1, 0.2, 0.3])
    x = tg.Tensor(data.copy(), requires_grad=True)
    tg.gradcheck(lambda x: x.exp(), [x])
    np.testing.assert_array_equal(x.array, data)
