"""Hypothesis strategies shared by the test files (as minitorch's ``tensor_strategies``).

Shapes include 0-d and 1-element shapes; broadcasting pairs drop leading dims and set dims to 1;
*values* are drawn by hypothesis too, so a failure shrinks to small, simple numbers — not only to
small shapes.
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_rnn as tg

dims = st.integers(1, 4)
shapes = st.lists(dims, min_size=0, max_size=3).map(tuple)  # () is a 0-d tensor


@st.composite
def broadcast_pairs(draw, max_dims=3):
    """Two shapes that broadcast together: some dims of either side set to 1, and leading dims
    of the second dropped (down to 0-d)."""
    shape = draw(st.lists(dims, min_size=0, max_size=max_dims))
    a = [n if draw(st.booleans()) else 1 for n in shape]
    b = [n if draw(st.booleans()) else 1 for n in shape]
    cut = draw(st.integers(0, len(b)))
    pair = (tuple(a), tuple(b[cut:]))
    return pair if draw(st.booleans()) else pair[::-1]


def values(shape, low=-2.0, high=2.0, avoid_zero=False):
    """float64 arrays of ``shape`` whose elements hypothesis chooses (and shrinks)."""
    elements = st.floats(low, high, allow_nan=False, allow_infinity=False, width=64)
    if avoid_zero:  # away from kinks (relu, abs) and poles
        elements = elements.filter(lambda v: abs(v) > 0.05)
    return hnp.arrays(np.float64, shape, elements=elements)


@st.composite
def tensors(draw, shape=None, low=-2.0, high=2.0, avoid_zero=False, requires_grad=True):
    """A float64 Tensor with a drawn shape (0-d included) and drawn values."""
    shape = draw(shapes) if shape is None else shape
    data = draw(values(shape, low, high, avoid_zero))
    return tg.Tensor(data, requires_grad=requires_grad)


@st.composite
def tensor_pairs(draw, low=-2.0, high=2.0, avoid_zero=False):
    """Two float64 Tensors whose shapes broadcast together, values drawn."""
    sa, sb = draw(broadcast_pairs())
    return (draw(tensors(sa, low, high, avoid_zero)), draw(tensors(sb, low, high, avoid_zero)))
