"""The graph renderer: clusters, collapsing, gradient heat, determinism, big graphs, no dot."""
from __future__ import annotations

import re

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import nn, viz
from tinygrad_rnn.nn import functional as F


def lstm_loss(steps=3, layers=1, hidden=4, backward=True, seed=0):
    tg.manual_seed(seed)
    lstm, head = nn.LSTM(2, hidden, num_layers=layers), nn.Linear(hidden, 1)
    x = tg.Tensor(np.random.default_rng(seed).standard_normal((steps, 2, 2)).astype(np.float32))
    out, _ = lstm(x)
    loss = F.mse_loss(head(out[-1]), tg.Tensor(np.ones((2, 1), np.float32)))
    if backward:
        loss.backward()
    params = {**{f"lstm.{k}": v for k, v in lstm.named_parameters()},
              **{f"head.{k}": v for k, v in head.named_parameters()}}
    return loss, params


def clusters(source):
    return re.findall(r"subgraph (cluster_\w+)", source)


def node_count(source):
    return len(re.findall(r"^\s*\w+ \[label=", source, flags=re.M))


def test_three_step_lstm_has_one_cluster_per_time_step_and_renders():
    loss, params = lstm_loss(3)
    g = viz.draw_graph(loss, params=params)
    names = clusters(g.source)
    for t in range(3):
        assert f"cluster_lstm_l0_t{t}" in names
    assert "cluster_lstm_l0_t3" not in names
    svg = g.pipe(format="svg").decode()
    assert svg.startswith("<?xml") and "t2" in svg


def test_parameter_names_label_the_leaves():
    loss, params = lstm_loss(2)
    src = viz.draw_graph(loss, params=params).source
    for name in ("lstm.weight_ih_l0", "lstm.weight_hh_l0", "head.weight", "head.bias"):
        assert name in src


def test_unnamed_parameters_are_labelled_with_the_module_that_used_them():
    tg.manual_seed(0)
    layer = nn.Linear(2, 1)
    loss = layer(tg.Tensor(np.ones((1, 2), np.float32))).sum()
    assert "linear param" in viz.draw_graph(loss).source


def test_edges_carry_argument_indices_where_order_matters():
    a = tg.Tensor(np.ones((2, 2)), requires_grad=True)
    b = tg.Tensor(np.ones((2, 2)), requires_grad=True)
    src = viz.draw_graph(((a - b) @ b).sum()).source
    assert re.search(r"leaf\w+ -> n\d+ \[label=0\]", src)
    assert re.search(r"leaf\w+ -> n\d+ \[label=1\]", src)
    assert not re.search(r"-> n\d+ \[label=\d\].*\n.*sum", src)
    mul = viz.draw_graph((a * b).sum()).source
    assert "label=0]" not in mul and "label=1]" not in mul


def test_collapsed_50_step_two_layer_lstm_stays_under_budget_and_renders():
    loss, params = lstm_loss(50, layers=2, hidden=8)
    g = viz.draw_graph(loss, params=params, collapse="time")
    assert node_count(g.source) < 450
    assert re.search(r"l0 t49\\n\d+ ops", g.source) and re.search(r"l1 t0\\n\d+ ops", g.source)
    assert g.pipe(format="svg")


def test_collapse_by_depth():
    loss, params = lstm_loss(4)
    g = viz.draw_graph(loss, params=params, collapse=2)
    assert "lstm l0" in g.source and "cluster_lstm_l0_t" not in g.source


def test_gradient_colours_appear_only_after_backward():
    before, params = lstm_loss(3, backward=False)
    src = viz.draw_graph(before, params=params).source
    assert "‖g" not in src and "legend [" not in src
    assert set(re.findall(r'fillcolor="(#[0-9a-f]{6})"', src)) <= {"#ffffff", "#e8f0fe", "#f4f4f4"}
    after, params = lstm_loss(3)
    src = viz.draw_graph(after, params=params).source
    assert "‖g‖" in src and "legend [" in src


def _lightness(hex_color):
    r, g, b = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return 0.299 * r + 0.587 * g + 0.114 * b


def test_heat_colour_darkens_with_the_gradient_norm():
    norms = [1e-9, 1e-7, 1e-5, 1e-3, 1e-1, 10.0, 1e3]
    light = [_lightness(viz.heat_color(n)) for n in norms]
    assert light == sorted(light, reverse=True)
    assert light[0] > light[-1] + 100
    assert viz.heat_color(float("nan")) == viz.heat_color(float("inf")) == viz.NONFINITE_COLOR
    assert viz.heat_color(None) == "#ffffff"


def test_vanishing_gradient_fades_across_time_in_the_drawing():
    tg.manual_seed(0)
    rnn = nn.RNN(1, 4)
    with tg.no_grad():
        rnn.weight_hh_l0.data *= 0.3
    x = tg.Tensor(np.ones((6, 1, 1), np.float32))
    out, _ = rnn(x)
    out[-1].sum().backward()
    src = viz.draw_graph(out, collapse="time").source
    colours = {}
    for t in range(6):
        m = re.search(rf'label="l0 t{t}\\n[^"]*" [^\]]*fillcolor="(#[0-9a-f]{{6}})"', src)
        colours[t] = _lightness(m.group(1))
    assert colours[0] > colours[5]  # early steps got smaller gradients: paler
    norms = viz.time_step_grad_norms(out)["rnn/l0"]
    assert len(norms) == 6 and norms[0] < norms[-1]


def test_non_finite_gradients_get_their_own_colour():
    x = tg.Tensor(np.array([0.0, 1.0]), requires_grad=True)
    y = x.sqrt().sum()
    with np.errstate(all="ignore"):
        y.backward()
    assert viz.NONFINITE_COLOR in viz.draw_graph(y).source


def _renumbered(source):
    """Op nodes are named n<node.id> and ids keep counting: number them by first appearance."""
    names = {}
    return re.sub(r"(?<![A-Za-z0-9\\])n\d+", lambda m: names.setdefault(m.group(), f"n{len(names)}"), source)


def test_dot_source_is_deterministic_up_to_node_ids():
    a = viz.draw_graph(*lstm_loss(3)[:1]).source
    b = viz.draw_graph(*lstm_loss(3)[:1]).source
    assert a != b and _renumbered(a) == _renumbered(b)


def test_big_graph_auto_collapses_and_renders():
    loss, params = lstm_loss(150, layers=2, hidden=4)  # ~5,000 ops
    g = viz.draw_graph(loss, params=params, max_nodes=400)
    assert "collapsed" in g.source and "ops > max_nodes=400" in g.source
    assert node_count(g.source) <= 400 + 20  # + the legend
    assert g.pipe(format="svg")


def test_long_chain_without_scopes_keeps_the_ops_nearest_the_output():
    x = tg.Tensor(np.ones(1), requires_grad=True)
    y = x
    for _ in range(20_000):
        y = y * 1.0
    g = viz.draw_graph(y, max_nodes=300)
    assert "showing the 300 ops nearest the output" in g.source
    assert node_count(g.source) < 700


def test_highlight_bolds_paths_to_the_chosen_parameters():
    loss, params = lstm_loss(2)
    src = viz.draw_graph(loss, params=params, highlight=[params["head.weight"]]).source
    bold = re.findall(r"(\w+) -> (\w+) \[[^\]]*penwidth", src)
    assert bold, "some edges are highlighted"
    names = dict(re.findall(r"(\w+) \[label=\"([^\"\\]+)", src))
    assert any(names.get(a, "").startswith("head.weight") for a, _ in bold)
    assert not any(names.get(a, "").startswith("lstm.") for a, _ in bold)


def test_dim_unused_greys_branches_without_parameters():
    w = tg.Tensor(np.ones(2), requires_grad=True)
    c = tg.Tensor(np.ones(2))
    out = (w * 2).sum() + (c.exp() * 3).sum()
    src = viz.draw_graph(out, dim_unused=True).source
    assert "#cccccc" in src


def test_show_values_summarises_arrays():
    x = tg.Tensor(np.arange(20.0).reshape(4, 5), requires_grad=True)
    src = viz.draw_graph((x * 2).sum(), show_values=True).source
    assert "mean 9.5" in src and "[0, 19]" in src


def test_without_dot_the_source_still_comes_back(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    loss, params = lstm_loss(2)
    g = viz.draw_graph(loss, params=params)
    assert "digraph" in g.source
    with pytest.raises(RuntimeError, match="Graphviz's 'dot' program was not found.*apt-get install "
                                           "graphviz"):
        viz.render(g, tmp_path / "out.svg")


def test_render_writes_a_file(tmp_path):
    loss, params = lstm_loss(2)
    path = viz.render(viz.draw_graph(loss, params=params), tmp_path / "g.svg")
    assert path.exists() and path.suffix == ".svg" and path.read_text().startswith("<?xml")


def test_grad_norms_by_scope():
    loss, _ = lstm_loss(3)
    norms = viz.grad_norms_by_scope(loss, depth=2)
    assert "lstm/l0" in norms and all(v >= 0 for v in norms.values())


# ---------------------------------------------------------------- a graph that keeps no intermediates

def test_a_graph_whose_intermediates_are_gone_still_draws_shapes_scopes_and_heat():
    import gc
    import weakref
    loss, params = lstm_loss(3)  # every intermediate Tensor was local to lstm_loss
    gc.collect()
    kept = [n for n in tg.graph_nodes(loss) if n.values is not None]
    assert kept == []  # nothing recorded their values
    source = viz.draw_graph(loss, params=params).source
    assert "cluster_lstm_l0_t2" in source and "(2, 16)" in source  # scopes and gate shapes
    fills = set(re.findall(r'fillcolor="(#[0-9a-f]{6})"', source)) - {"#ffffff", "#e8f0fe",
                                                                       "#f4f4f4"}
    assert len(fills) >= 3  # gradient heat on the op nodes
    assert viz.draw_graph(loss, show_values=True).source.count("value not kept") > 3
    weak = weakref.ref(loss)
    del loss
    gc.collect()
    assert weak() is None


def test_keep_values_lets_the_renderer_show_intermediate_numbers():
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    with tg.keep_values():
        y = (x * 3).exp()
    z = y * 1.0  # recorded outside keep_values, and not held below
    source = viz.draw_graph(z.sum(), show_values=True).source
    assert "[3., 6.]" in source and "[ 20.086, 403.429]" in source  # x * 3 and its exp
    assert source.count("value not kept") == 1  # the product z, made outside keep_values


def test_draw_graph_of_a_leaf_draws_the_leaf():
    w = tg.Tensor(np.ones((2, 3)), requires_grad=True).named("w")
    source = viz.draw_graph(w).source
    assert node_count(source) == 1 and "w\\n(2, 3)" in source


def test_highlight_takes_one_tensor_or_an_intermediate():
    x = tg.Tensor([1.0, 2.0], requires_grad=True).named("x")
    y = tg.Tensor([3.0, 4.0], requires_grad=True).named("y")
    a = x * 2
    loss = (a + y).sum()
    one = viz.draw_graph(loss, highlight=x).source
    assert one.count("penwidth=2.5") == 3  # x→mul, mul→add, add→sum
    mid = viz.draw_graph(loss, highlight=[a]).source
    assert mid.count("penwidth=2.5") == 2  # mul→add, add→sum


def test_tensor_names_label_leaves_and_ops():
    x = tg.Tensor(np.ones((1, 2)), requires_grad=False).named("x_t")
    w = tg.Tensor(np.ones((3, 2)), requires_grad=True)
    h = F.linear(x, w).tanh().named("h_t")
    source = viz.draw_graph(h.sum()).source
    assert "x_t\\n(1, 2)" in source and "h_t tanh\\n(1, 3)" in source
