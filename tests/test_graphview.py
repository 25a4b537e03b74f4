"""The graph view: the one reader of how nodes link, for the renderer, explorer and diagnostics."""
from __future__ import annotations

import gc

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import nn
from tinygrad_rnn.graphview import Freed, GraphView, array_of, grad_norm_of, group_key
from tinygrad_rnn.nn.labels import C_T, H_T, Layer, Step


def test_nodes_come_oldest_first_with_inputs_in_argument_order():
    a = tg.Tensor([1.0, 2.0], requires_grad=True)
    b = tg.Tensor([3.0, 4.0], requires_grad=True)
    d = a - b
    y = (d / a).sum()
    view = GraphView(y)
    assert [n.name for n in view.order] == ["sub", "div", "sum"]
    sub, div, _ = view.order
    assert view.inputs[sub] == [a, b]  # sub(a, b), not b - a
    assert [p.node for p in view.inputs[div]] == [sub, None] and view.inputs[div][1] is a
    assert [(c.name, i) for p, c, i in view.uses if p is a] in ([("div", 1), ("sub", 0)],
                                                                [("sub", 0), ("div", 1)])
    assert view.leaves[:2] == [a, b] or set(map(id, view.leaves)) == {id(a), id(b)}
    assert view.numbering() == {sub: 0, div: 1, view.order[2]: 2}


def test_a_data_input_the_program_dropped_is_kept_as_its_shape():
    w = tg.Tensor(np.ones(3), requires_grad=True)
    y = (w * tg.Tensor(np.arange(3.0))).sum()  # the data operand is no longer held
    gc.collect()
    (mul,) = [n for n in GraphView(y).order if n.name == "mul"]
    freed = GraphView(y).inputs[mul][1]
    assert isinstance(freed, Freed) and tuple(freed.shape) == (3,)
    assert array_of(freed) is None and freed.node is None


def test_a_deep_chain_is_walked_without_recursion():
    x = tg.Tensor([1.0], requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.0
    assert len(GraphView(y).order) == 5000


@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
def test_time_steps_of_a_cell_loop_and_of_a_layer_are_read_from_their_markers(kind):
    T = 4
    cell = getattr(nn, kind)(2, 3)
    x = tg.Tensor(np.ones((1, 2), np.float32))
    h = c = None
    for _ in range(T):
        if kind == "LSTMCell":
            h, c = cell(x) if h is None else cell(x, (h, c))
        else:
            h = cell(x, h)
    view = GraphView(h)
    steps = view.states(H_T)
    assert list(steps) == [(kind.lower(),)] and sorted(steps[(kind.lower(),)]) == list(range(T))
    assert all(isinstance(view.step(n), Step) for n in view.order)
    assert view.layer(view.order[0]) is None and view.loop(view.order[-1]) == (kind.lower(),)
    if kind == "LSTMCell":
        assert sorted(view.states(C_T)[("lstmcell",)]) == list(range(T))

    lstm = nn.GRU(2, 3, num_layers=2, bidirectional=True)
    out, _ = lstm(tg.Tensor(np.ones((T, 1, 2), np.float32)))
    loops = GraphView(out).states(H_T)
    assert sorted(loops) == [("gru", "l0"), ("gru", "l0_reverse"), ("gru", "l1"),
                             ("gru", "l1_reverse")]
    rev = [loop for loop in loops if loop[-1].reverse]
    assert all(isinstance(loop[-1], Layer) for loop in loops) and len(rev) == 2
    assert sorted({loop[-1].layer for loop in loops}) == [0, 1]


def test_group_key_cuts_after_the_step_marker_or_at_a_depth():
    scope = ("lstm", Layer(0), Step(3), "inner")
    assert group_key(scope, "time") == ("lstm", "l0", "t3")
    assert group_key(("model", "t3"), "time") is None  # a plain name is not a step
    assert group_key(scope, 2) == ("lstm", "l0") and group_key(("a",), 2) is None
    assert group_key(scope, None) is None


def test_markers_survive_tg_scope_and_pickling():
    import pickle
    with tg.scope(Step(7)):
        y = tg.Tensor([1.0], requires_grad=True) * 2.0
    (part,) = y.node.scope
    assert isinstance(part, Step) and part.t == 7 and part == "t7"
    again = pickle.loads(pickle.dumps(Layer(2, True)))
    assert again.layer == 2 and again.reverse and again == "l2_reverse"


def test_gradient_norms_per_node_are_read_only_when_recorded():
    w = tg.Tensor([3.0, 4.0], requires_grad=True)
    y = (w * 2.0).sum()
    y.backward()
    view = GraphView(y)
    assert not view.has_grad_norms() and grad_norm_of(w) == pytest.approx(np.sqrt(8))
    w.grad = None
    y = (w * 2.0).sum()
    with tg.track_grad_norms():
        y.backward()
    view = GraphView(y)
    assert view.has_grad_norms() and grad_norm_of(view.order[0]) == pytest.approx(np.sqrt(2))


def test_time_step_grad_norms_of_a_cell_loop():
    cell = nn.RNNCell(1, 2).double()
    h = None
    for _ in range(5):
        h = cell(tg.Tensor(np.ones((1, 1))), h)
    with tg.track_grad_norms():
        h.sum().backward()
    norms = GraphView(h).time_step_grad_norms()["rnncell"]
    assert len(norms) == 5 and norms[-1] == pytest.approx(np.sqrt(2))


def test_bad_roots_are_a_clear_error():
    with pytest.raises(TypeError, match="expected Tensors, got ndarray"):
        GraphView(np.ones(2))
