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
        with tg.track_grad_norms():  # the per-op norms the gradient heat shows
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
    assert "‖g" not in src and "‖grad‖" not in src and "bgcolor" not in src
    assert set(re.findall(r'fillcolor="(#[0-9a-f]{6})"', src)) <= {"#ffffff", "#e8f0fe", "#f4f4f4"}
    after, params = lstm_loss(3)
    src = viz.draw_graph(after, params=params).source
    assert "‖g‖" in src and "legend [" in src


def test_importing_the_pictures_switches_nothing_on():
    """Recording per-op gradient norms is asked for (tg.track_grad_norms()), never a side
    effect of importing the renderer (it once slowed every backward in the process)."""
    import subprocess
    import sys
    code = ("import tinygrad_rnn as tg, tinygrad_rnn.engine as e\n"
            "before = list(e._backward_hooks)\n"
            "from tinygrad_rnn import viz, graphview, diagnostics\n"
            "assert e._backward_hooks == before, e._backward_hooks\n"
            "x = tg.Tensor([1.0, 2.0], requires_grad=True)\n"
            "y = (x * x).sum(); y.backward()\n"
            "assert y.node.grad_norm is None\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_without_recorded_norms_the_drawing_says_how_to_get_the_heat():
    loss, params = lstm_loss(3, backward=False)
    loss.backward()  # not under tg.track_grad_norms()
    src = viz.draw_graph(loss, params=params).source
    assert "tg.track_grad_norms()" in src
    assert not re.search(r'\bn\d+ \[label="[^"]*‖g‖', src)  # no op coloured or annotated
    with tg.track_grad_norms():
        lstm_loss(3)  # recorded: no such note
    assert "tg.track_grad_norms()" not in viz.draw_graph(*lstm_loss(3)).source


def test_summaries_of_unrecorded_norms_say_how_to_record_them():
    loss, _ = lstm_loss(3, backward=False)
    loss.backward()
    for summary in (viz.time_step_grad_norms, viz.grad_norms_by_scope):
        with pytest.raises(ValueError, match="track_grad_norms"):
            summary(loss)


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
        rnn.weight_hh_l0.array *= 0.3
    x = tg.Tensor(np.ones((6, 1, 1), np.float32))
    out, _ = rnn(x)
    with tg.track_grad_norms():
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
    with np.errstate(all="ignore"), tg.track_grad_norms():
        y.backward()
    assert viz.NONFINITE_COLOR in viz.draw_graph(y).source


@pytest.mark.parametrize("collapse", [None, "time"])
def test_the_same_program_run_twice_draws_byte_identical_dot_and_svg(collapse):
    """Node names come from the drawing's own walk (first op drawn = n0), not from a
    process-wide counter: a second identical program draws the same bytes."""
    a = viz.draw_graph(*lstm_loss(3)[:1], collapse=collapse)
    b = viz.draw_graph(*lstm_loss(3)[:1], collapse=collapse)
    assert a.source == b.source
    assert a.pipe(format="svg") == b.pipe(format="svg")
    assert re.search(r"^\s*n0 \[", a.source, flags=re.M) or collapse


def cell_loop(kind, steps, seed=0):
    """The textbook unrolled net as learners write it: a loop over a cell."""
    tg.manual_seed(seed)
    cell = getattr(nn, kind)(2, 3)
    x = tg.Tensor(np.random.default_rng(seed).standard_normal((steps, 1, 2)).astype(np.float32))
    h = tg.zeros(1, 3)
    c = tg.zeros(1, 3)
    for t in range(steps):
        if kind == "LSTMCell":
            h, c = cell(x[t], (h, c))
        else:
            h = cell(x[t], h)
    return h.sum(), dict(cell.named_parameters())


CELL_LOOPS = [(k, T) for k in ("RNNCell", "LSTMCell", "GRUCell") for T in (3, 50, 300)]


@pytest.mark.parametrize("kind, steps", CELL_LOOPS)
def test_a_loop_over_a_cell_draws_with_the_default_call(kind, steps):
    loss, _ = cell_loop(kind, steps)
    g = viz.draw_graph(loss)  # past max_nodes this once crashed on the cell's scope name
    assert node_count(g.source) <= 400 + 20


@pytest.mark.parametrize("kind, steps", CELL_LOOPS)
def test_collapse_time_folds_a_cell_loop_into_the_textbook_grid(kind, steps):
    loss, params = cell_loop(kind, steps)
    src = viz.draw_graph(loss, params=params, collapse="time").source
    ranks = re.findall(r"\{\s*rank=same\s*([^}]*)\}", src)
    assert [len(r.split()) for r in ranks] == [steps]  # one row, one node per step
    for name in params:  # each weight once, "used at T steps", one edge into the row
        labels = re.findall(rf'label="{name}\\n[^"]*"', src)
        assert len(labels) == 1 and f"used at {steps} steps" in labels[0], name
        leaf = re.search(rf'(leaf\d+) \[label="{name}\\n', src).group(1)
        assert len(re.findall(rf"^\s*{leaf} -> ", src, flags=re.M)) == 1, name
    assert src.count("->") < 2 * steps + 20  # 300 RNNCell steps kept 895 edges before


def test_a_cell_loop_folds_like_the_layer_that_runs_the_same_steps():
    T = 5
    loss, params = cell_loop("LSTMCell", T)
    tg.manual_seed(0)
    lstm = nn.LSTM(2, 3)
    out, _ = lstm(tg.Tensor(np.ones((T, 1, 2), np.float32)))
    layer = viz.draw_graph(out[-1].sum(), params=dict(lstm.named_parameters()), collapse="time")
    cell = viz.draw_graph(loss, params=params, collapse="time")
    for src, names in ((layer.source, dict(lstm.named_parameters())), (cell.source, params)):
        assert [len(r.split()) for r in re.findall(r"\{\s*rank=same\s*([^}]*)\}", src)] == [T]
        for name in names:  # every weight drawn once
            assert len(re.findall(rf'label="{name}\\n', src)) == 1, name
        assert 'label="weight_hh\\n(12, 3)\\nused at 5 steps' in src.replace("_l0", "")


def test_time_steps_come_from_what_the_cell_records_not_from_names():
    """A module that happens to be called "t1" is not a time step; a cell whose loop restarts
    from a fresh state counts from step 0 again."""
    model = nn.Sequential()
    model.t1 = nn.Linear(2, 2)
    y = model.t1(tg.Tensor(np.ones((1, 2), np.float32))).sum()
    assert "rank=same" not in viz.draw_graph(y, collapse="time").source
    cell = nn.RNNCell(2, 3)
    x = tg.Tensor(np.ones((1, 2), np.float32))
    for _ in range(4):
        h = cell(x)
    h = cell(x, h)
    assert [p for p in h.node.scope] == ["rnncell", "t1"]


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
    no_steps = viz.draw_graph(y, max_nodes=300, collapse="time")  # no time steps: no grid
    assert "showing the 300 ops nearest the output" in no_steps.source


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


# ---------------------------------------------------------------- named gates, the textbook grid

def bilstm_loss(steps, hidden=4, c0_name=None, seed=0):
    """A 2-layer bidirectional LSTM over ``steps`` steps, backward done; ``c0_name``: start
    from a learned initial cell state of that name."""
    tg.manual_seed(seed)
    lstm, head = nn.LSTM(2, hidden, num_layers=2, bidirectional=True), nn.Linear(2 * hidden, 1)
    x = tg.Tensor(np.random.default_rng(seed).standard_normal((steps, 2, 2)).astype(np.float32))
    hx = None
    if c0_name:
        zeros = np.zeros((4, 2, hidden), np.float32)
        hx = (tg.Tensor(zeros), tg.Tensor(zeros, requires_grad=True).named(c0_name))
    out, _ = lstm(x, hx)
    loss = F.mse_loss(head(out[-1]), tg.Tensor(np.ones((2, 1), np.float32)))
    with tg.track_grad_norms():
        loss.backward()
    return loss, {f"lstm.{k}": v for k, v in lstm.named_parameters()}


def svg_positions(svg):
    """{label's first two lines: (x, y)} of every node drawn in an SVG Graphviz made."""
    out = {}
    for block in re.findall(r'<g id="node\d+" class="node">(.*?)</g>', svg, flags=re.S):
        texts = re.findall(r'<text[^>]* x="([-\d.]+)" y="([-\d.]+)"[^>]*>([^<]*)</text>', block)
        if texts:
            x, y, first = texts[0]
            out[first] = out[(first, texts[1][2] if len(texts) > 1 else "")] = (float(x),
                                                                               float(y))
    return out


def test_grid_puts_each_layer_and_direction_on_one_rank_in_time_order():
    T = 6
    loss, params = bilstm_loss(T)
    g = viz.draw_graph(loss, params=params, collapse="time")
    ranks = re.findall(r"\{\s*rank=same\s*([^}]*)\}", g.source)
    assert len(ranks) == 4  # l0, l0_reverse, l1, l1_reverse
    assert sorted(len(r.split()) for r in ranks) == [T] * 4
    pos = svg_positions(g.pipe(format="svg").decode())
    rows = ["l0", "l0_reverse", "l1", "l1_reverse"]
    for row in rows:
        xs = [pos[f"{row} t{t}"][0] for t in range(T)]
        ys = {pos[f"{row} t{t}"][1] for t in range(T)}
        assert len(ys) == 1, f"{row}: one rank"
        assert xs == sorted(xs), f"{row}: time runs left to right"
    heights = [pos[f"{row} t0"][1] for row in rows]
    assert heights == sorted(heights, reverse=True)  # bottom → top (SVG y grows downwards)
    assert pos[("linear", "(2, 1)")][1] < heights[-1]  # the head above the grid …
    assert pos[("input", f"({T}, 2, 2)")][1] > heights[0]  # … the input sequence below it


def test_grid_draws_each_weight_once_per_layer_used_at_every_step():
    T = 7
    loss, params = bilstm_loss(T)
    src = viz.draw_graph(loss, params=params, collapse="time").source
    for name in ("weight_hh_l0", "weight_hh_l0_reverse", "weight_hh_l1", "weight_hh_l1_reverse"):
        labels = re.findall(rf'label="lstm\.{name}\\n[^"]*"', src)
        assert len(labels) == 1, name
        assert f"used at {T} steps" in labels[0]
    # the weight feeds its row through one edge to the row's box, not one edge per step
    leaf = re.search(r'(leaf\d+) \[label="lstm\.weight_hh_l0\\n', src).group(1)
    edges = re.findall(rf"{leaf} -> \w+ \[([^\]]*)\]", src)
    assert len(edges) == 1 and f"×{T}" in edges[0] and "lhead=cluster_" in edges[0]


def test_grid_cells_fade_with_the_gradient_of_h_t():
    loss, params = lstm_loss(8, hidden=4)
    g = viz.draw_graph(loss, params=params, collapse="time")
    cells = dict(re.findall(r'label="l0 (t\d+)\\n[^"]*‖∂L/∂h_t‖ ([\d.e+-]+)"', g.source))
    assert len(cells) == 8
    norms = [float(cells[f"t{t}"]) for t in range(8)]
    h_norms = {n.scope[-1]: n.grad_norm for n in tg.graph_nodes(loss) if n.label == "h_t"}
    assert norms == pytest.approx([h_norms[f"t{t}"] for t in range(8)], rel=1e-2)
    assert norms[0] < norms[-1]


def test_named_gates_and_states_lead_their_node_labels():
    loss, params = lstm_loss(2)
    svg = viz.draw_graph(loss, params=params).pipe(format="svg").decode()
    for first in ("input gate σ", "forget gate σ", "cell candidate tanh", "output gate σ",
                  "c_t +", "h_t ×"):
        assert svg.count(f">{first}</text>") == 2, first  # one per step
    tg.manual_seed(0)
    gru = nn.GRU(2, 3)
    out, _ = gru(tg.Tensor(np.ones((2, 1, 2), np.float32)))
    src = viz.draw_graph(out.sum()).source
    for first in ("reset gate σ", "update gate σ", "candidate n tanh", "h_t lerp"):
        assert src.count(f'label="{first}\\n') == 2, first


def test_leaf_tensor_name_comes_before_the_parameter_name():
    w = tg.Tensor(np.ones((2, 2)), requires_grad=True).named("W_hh")
    x = tg.Tensor(np.ones((1, 2)))
    src = viz.draw_graph((x @ w).sum(), params={"rnn.weight": w}).source
    assert "W_hh\\n(2, 2)" in src and "rnn.weight" not in src and "input\\n(1, 2)" in src


def bold_edges(source):
    return re.findall(r"^\s*(\w+) -> (\w+) \[[^\]]*penwidth=2.5", source, flags=re.M)


def test_highlight_cell_traces_the_cell_state_in_bold():
    T = 5
    loss, params = lstm_loss(T)
    grid = viz.draw_graph(loss, params=params, collapse="time", highlight="cell").source
    # the layer's zero initial state is named c_0, so the path starts there: c_0 → t0 → … → t4
    assert len(bold_edges(grid)) == T
    assert sum(not a.startswith("g_") for a, b in bold_edges(grid)) == 1  # only c_0 → t0
    assert all(b.startswith("g_") for a, b in bold_edges(grid))
    flat = viz.draw_graph(loss, params=params, highlight="cell").source
    names = dict(re.findall(r'^\s*(\w+) \[label="([^"\\]+)', flat, flags=re.M))
    bold = bold_edges(flat)
    assert len(bold) == 2 * T  # c_{t-1} → f·c_{t-1} → c_t, from c_0
    assert sorted(names[a] for a, _ in bold) == ["c_0"] + ["c_t +"] * (T - 1) + ["mul"] * T
    assert flat.count("penwidth=2.5 shape=box") == T  # the c_t nodes themselves
    assert not bold_edges(viz.draw_graph(loss, params=params).source)


def test_highlight_cell_starts_at_a_tensor_named_c_0():
    T = 4
    loss, params = bilstm_loss(T, c0_name="c_0")
    src = viz.draw_graph(loss, params=params, collapse="time", highlight="cell").source
    bold = bold_edges(src)
    c0 = re.search(r'(leaf\d+) \[label="c_0\\n', src).group(1)
    (split,) = [b for a, b in bold if a == c0]  # c_0 (L·D, B, H) → one slice per row …
    firsts = sorted(b for a, b in bold if a == split)
    assert firsts == ["g_lstm_l0_reverse_t3", "g_lstm_l0_t0", "g_lstm_l1_reverse_t3",
                      "g_lstm_l1_t0"]  # … into each row's first step (a reverse row's is t3)
    assert len(bold) == 1 + 4 + 4 * (T - 1)
    svg = viz.draw_graph(loss, params=params, collapse="time", highlight="cell").pipe(
        format="svg").decode()
    assert svg.count('stroke-width="2.5"') >= 4 * T


def test_highlight_takes_cell_and_tensors_together_and_refuses_other_things():
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    loss = (x * 2).sum()
    assert len(bold_edges(viz.draw_graph(loss, highlight=["cell", x]).source)) == 2
    with pytest.raises(TypeError, match="draw_graph: highlight takes a Tensor.*got 'gates'"):
        viz.draw_graph(loss, highlight="gates")


def test_the_drawing_says_which_engine_nodes_and_leaves_each_dot_node_stands_for():
    loss, params = lstm_loss(3)
    nodes = tg.graph_nodes(loss)
    flat = viz.draw_graph(loss, params=params, duplicate_shared_leaves=False)
    for k, node in enumerate(nodes):  # named in the drawing's order, oldest op first
        assert flat.tg_nodes[f"n{k}"] == [node] and flat.tg_kinds[f"n{k}"] == "op"
    assert {id(t) for t in flat.tg_leaves.values()} >= {id(p) for p in params.values()}
    assert all(flat.tg_nodes[name] == [] for name in flat.tg_leaves)
    grid = viz.draw_graph(loss, params=params, collapse="time")
    members = [n for name, ns in grid.tg_nodes.items() if name.startswith("g_") for n in ns]
    assert len(grid.tg_nodes["g_lstm_l0_t1"]) > 5
    assert all(n.scope[:3] == ("lstm", "l0", "t1") for n in grid.tg_nodes["g_lstm_l0_t1"])
    drawn = [n for ns in grid.tg_nodes.values() for n in ns]
    assert sorted(n.id for n in drawn) == sorted(n.id for n in nodes)  # each op exactly once
    assert len(members) == sum(len(n.scope) > 2 for n in nodes)
    for name in list(grid.tg_nodes) + list(grid.tg_leaves):
        assert re.search(rf"^\s*{name} \[", grid.source, flags=re.M), name


def legend_of(src):
    m = re.search(r"legend \[label=<(<table.*?</table>)>", src, flags=re.S)
    return m.group(1) if m else None


def test_legend_has_a_bin_for_zero_and_explains_the_edge_labels():
    loss, params = lstm_loss(3)
    legend = legend_of(viz.draw_graph(loss, params=params).source)
    heat, edges = re.findall(r"<tr>(.*?)</tr>", legend)
    # title, exactly 0, six decades, NaN/Inf, "white: no gradient"
    assert heat.count("<td") == 10 and viz.ZERO_COLOR in heat and viz.NONFINITE_COLOR in heat
    assert "1e-8" in heat and "1e2" in heat
    assert "argument position" in edges and "[k] output k" in edges and "×k" not in edges
    grid = legend_of(viz.draw_graph(loss, params=params, collapse="time").source)
    assert "×k one edge for k time steps" in grid


def test_an_exactly_zero_gradient_is_not_drawn_as_a_small_one():
    assert viz.heat_color(0.0) == viz.ZERO_COLOR != viz.heat_color(1e-30)
    w = tg.Tensor([1.0, 2.0], requires_grad=True)
    y = (w * 0.0).sum()
    with tg.track_grad_norms():
        y.backward()
    src = viz.draw_graph(y).source
    assert f'fillcolor="{viz.ZERO_COLOR}"' in src  # w's gradient is exactly 0


def test_a_weight_used_at_a_few_steps_is_drawn_once_and_many_uses_are_marked_copies():
    loss, params = lstm_loss(3)
    src = viz.draw_graph(loss, params=params).source
    assert len(re.findall(r'label="lstm\.weight_hh_l0\\n', src)) == 1
    loss, params = lstm_loss(12)
    src = viz.draw_graph(loss, params=params, max_nodes=10_000).source
    copies = re.findall(r'label="lstm\.weight_hh_l0\\n[^"]*"', src)
    assert len(copies) == 12 and all("same tensor, 12 uses" in c for c in copies)


def test_a_grid_whose_intermediates_are_gone_still_draws_scopes_shapes_and_heat():
    import gc
    loss, params = bilstm_loss(3)
    gc.collect()
    g = viz.draw_graph(loss, params=params, collapse="time")
    assert "cluster_lstm_l1_reverse_steps" in g.source and "(3, 2, 8)" in g.source
    fills = re.findall(r'label="l\d\S* t\d\\n[^"]*" fillcolor="(#[0-9a-f]{6})"', g.source)
    assert len(fills) == 12 and len(set(fills) - {"#ffffff"}) >= 6
    assert g.pipe(format="svg")


def test_the_renderer_reads_the_graph_only_through_the_graph_view():
    """viz neither imports the explorer nor walks node.edges itself."""
    import ast
    import inspect
    tree = ast.parse(inspect.getsource(viz))
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert "explorer" not in imported and not hasattr(viz, "explore")
    assert ".edges" not in inspect.getsource(viz)
