"""The explorer's recorder and page, without a browser (tests/test_explorer_browser.py drives the
page in Chromium)."""
import json
import re

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import data, explorer, nn
from tinygrad_rnn.nn import functional as F


def _lstm_loss(steps=3, hidden=4, keep=False, seed=0):
    tg.manual_seed(seed)
    rnn, head = nn.LSTM(2, hidden), nn.Linear(hidden, 1)
    x, y = data.adding_problem(2, steps, rng=np.random.default_rng(seed))
    params = {**dict(rnn.named_parameters()),
              **{f"head.{k}": v for k, v in head.named_parameters()}}
    if keep:
        with tg.keep_values():
            out, _ = rnn(tg.Tensor(x))
            loss = F.mse_loss(head(out[-1]), tg.Tensor(y))
    else:
        out, _ = rnn(tg.Tensor(x))
        loss = F.mse_loss(head(out[-1]), tg.Tensor(y))
    return loss, params


def _page_data(page):
    m = re.search(r'<script type="application/json" id="tg-data">(.*?)</script>', page, re.S)
    return json.loads(m.group(1).replace("<\\/", "</"))


def test_visit_order_is_a_reverse_topological_order():
    loss, _ = _lstm_loss()
    nodes = tg.graph_nodes(loss)
    with explorer.record_backward() as rec:
        loss.backward()
    position = {nid: k for k, nid in enumerate(rec.order)}
    assert sorted(rec.order) == sorted(n.id for n in nodes)  # every node once
    assert rec.order[0] == nodes[-1].id  # starts at the loss
    for node in nodes:  # a node comes after every node that uses its outputs
        for source, _ in node.edges:
            if isinstance(source, tg.Node):
                assert position[source.id] > position[node.id], (source, node)


def test_running_sum_of_each_weight_ends_at_its_grad_norm():
    loss, params = _lstm_loss(steps=5)
    with explorer.record_backward() as rec:
        loss.backward()
    for name, p in params.items():
        steps = rec.leaf_steps[id(p)]
        assert steps, name
        assert rec.running_norm(p) == pytest.approx(float(np.linalg.norm(p.grad)), rel=1e-5)
        assert [s for s, _, _ in steps] == sorted(s for s, _, _ in steps)
    # the recurrent weight gets one contribution per time step
    assert len(rec.leaf_steps[id(params["weight_hh_l0"])]) == 5


def test_a_cell_loop_gives_every_weight_one_term_per_step_and_w_hh_a_zero_first():
    # what the README and the page's weights table say about a hand-written loop
    tg.manual_seed(0)
    cell = nn.LSTMCell(2, 3)
    h = c = tg.zeros(1, 3)
    for _ in range(3):
        h, c = cell(tg.randn(1, 2), (h, c))
    with explorer.record_backward() as rec:
        h.sum().backward()
    for name, p in cell.named_parameters():
        terms = [norm for _, norm, _ in rec.leaf_steps[id(p)]]
        assert len(terms) == 3, name
        assert (terms[-1] == 0.0) == (name == "weight_hh"), name  # t0's W_hh term: h_0 = 0


def test_running_sum_starts_from_the_grad_already_there():
    tg.manual_seed(0)
    w = tg.randn(3, 3, requires_grad=True)
    x = tg.randn(2, 3)
    (x @ w).sum().backward()  # a first backward leaves w.grad
    with explorer.record_backward() as rec:
        ((x @ w).tanh() @ w).sum().backward()
    steps = rec.leaf_steps[id(w)]
    assert len(steps) == 2
    assert steps[-1][2] == pytest.approx(float(np.linalg.norm(w.grad)), rel=1e-5)


def test_recording_stops_after_the_block():
    w = tg.Tensor([1.0, 2.0], requires_grad=True)
    with explorer.record_backward() as rec:
        (w * w).sum().backward()
    n = len(rec.order)
    (w * 3).sum().backward()
    assert len(rec.order) == n == 2


def test_gradient_statistics_per_node():
    w = tg.Tensor([[1.0, -2.0], [3.0, 4.0]], requires_grad=True)
    y = w * 2.0
    with explorer.record_backward() as rec:
        (y * y).sum().backward()
    mul2 = y.node.id
    st = rec.grads[mul2]  # d(sum y²)/dy = 2y = 4w
    assert st["min"] == pytest.approx(-8.0) and st["max"] == pytest.approx(16.0)
    assert st["mean"] == pytest.approx(6.0)
    assert st["norm"] == pytest.approx(4 * np.sqrt(30))
    assert sum(st["hist"]) == 4


def test_array_stats_counts_nonfinite_and_skips_none():
    st = explorer.array_stats([np.array([1.0, np.inf, 3.0]), None])
    assert st["nonfinite"] == 1 and st["norm"] is None
    assert st["min"] == 1.0 and st["max"] == 3.0
    assert explorer.array_stats([None]) is None


def test_page_is_self_contained():
    loss, params = _lstm_loss()
    with explorer.record_backward() as rec:
        loss.backward()
    page = explorer.build_html(loss, params=params, record=rec)
    assert "http://" not in page and "https://" not in page
    assert not re.search(r"<(script|link|img)[^>]*\b(src|href)=", page)
    assert "@import" not in page and "<svg" in page


def test_page_maps_every_drawn_op_to_its_node_and_embeds_the_order():
    loss, params = _lstm_loss(keep=True)
    nodes = tg.graph_nodes(loss)
    with explorer.record_backward() as rec:
        loss.backward()
    d = _page_data(explorer.build_html(loss, params=params, record=rec))
    assert d["order"] == rec.order
    ops = [e for e in d["elements"].values() if e["kind"] == "op"]
    assert sorted(e["nodes"][0] for e in ops) == sorted(n.id for n in nodes)
    leaf_names = {d["leaves"][e["leaf"]]["name"] for e in d["elements"].values()
                  if e["kind"] == "leaf"}
    assert set(params) <= leaf_names
    root = d["nodes"][str(loss.node.id)]
    assert root["visit"] == 0 and root["value"]["mean"] == pytest.approx(loss.item(), rel=1e-5)
    w = [v for v in d["leaves"].values() if v["name"] == "weight_hh_l0"][0]
    assert w["steps"][-1][2] == pytest.approx(float(np.linalg.norm(params["weight_hh_l0"].grad)),
                                              rel=1e-5)


def test_values_not_kept_are_marked_missing():
    loss, params = _lstm_loss(keep=False)
    with explorer.record_backward() as rec:
        loss.backward()
    d = _page_data(explorer.build_html(loss, params=params, record=rec))
    inner = [n for nid, n in d["nodes"].items() if int(nid) != loss.node.id]
    assert inner and all(n["value"] is None for n in inner)
    assert all(n["grad"] is not None for n in inner)


def test_collapsed_page_groups_time_steps():
    loss, params = _lstm_loss(steps=3)
    with explorer.record_backward() as rec:
        loss.backward()
    d = _page_data(explorer.build_html(loss, params=params, record=rec, collapse="time"))
    groups = [e for e in d["elements"].values() if e["kind"] == "group"]
    assert len(groups) == 3
    scopes = {d["nodes"][str(e["nodes"][0])]["scope"] for e in groups}
    assert scopes == {"lstm/l0/t0", "lstm/l0/t1", "lstm/l0/t2"}
    members = [nid for e in groups for nid in e["nodes"]]
    assert len(members) == len(set(members))


def test_explore_uses_the_record_it_is_given(tmp_path):
    loss, params = _lstm_loss()
    with explorer.record_backward() as rec:
        loss.backward()
    path = explorer.explore(loss, tmp_path / "g", params=params, record=rec)
    assert path.suffix == ".html" and path.exists()
    assert _page_data(path.read_text())["order"] == rec.order


def test_no_record_is_picked_implicitly():
    w = tg.Tensor([1.0, 2.0], requires_grad=True)
    loss = (w * w).sum()
    with explorer.record_backward() as rec:
        loss.backward()
    assert len(rec.order) == 2
    # a record was made for this very graph, but none was passed: no replay, no hidden state
    d = _page_data(explorer.build_html(loss))
    assert d["recorded"] is False and d["order"] == []
    assert not any(isinstance(v, list) and v and isinstance(v[0], explorer.BackwardRecord)
                   for v in vars(explorer).values())


def test_a_record_of_another_graph_is_refused():
    w = tg.Tensor([1.0, 2.0], requires_grad=True)
    loss, other = (w * w).sum(), (w * 3).sum()
    with explorer.record_backward() as rec:
        other.backward()
    with pytest.raises(ValueError, match="another graph"):
        explorer.build_html(loss, record=rec)


def test_nodes_carry_the_name_and_place_the_page_shows():
    loss, params = _lstm_loss(steps=3)
    with explorer.record_backward() as rec:
        loss.backward()
    d = _page_data(explorer.build_html(loss, params=params, record=rec))
    gates = [n for n in d["nodes"].values() if n["label"] == "output gate"]
    assert sorted((n["name"], n["where"]) for n in gates) == [
        ("output gate σ", "t0"), ("output gate σ", "t1"), ("output gate σ", "t2")]
    outside = [n for n in d["nodes"].values() if n["scope"] and "/t" not in n["scope"]]
    assert outside and all(n["where"] == n["scope"].split("/")[-1] for n in outside)
    assert [n["where"] for n in d["nodes"].values() if not n["scope"]]  # top level: ""
    assert all(n["where"] == "" for n in d["nodes"].values() if not n["scope"])


def test_a_two_layer_page_names_the_layer_with_the_step():
    tg.manual_seed(0)
    rnn = nn.GRU(2, 3, num_layers=2)
    out, _ = rnn(tg.randn(2, 1, 2))
    loss = out.sum()
    with explorer.record_backward() as rec:
        loss.backward()
    d = _page_data(explorer.build_html(loss, record=rec))
    wheres = {n["where"] for n in d["nodes"].values() if n["label"] == "h_t"}
    assert wheres == {"l0 t0", "l0 t1", "l1 t0", "l1 t1"}


def test_page_without_a_record_says_so():
    w = tg.Tensor([1.0, 2.0], requires_grad=True)
    d = _page_data(explorer.build_html((w * w).sum()))
    assert d["recorded"] is False and d["order"] == []


def test_page_files_are_package_data_put_inline():
    from tinygrad_rnn import pages

    w = tg.Tensor([1.0, 2.0], requires_grad=True)
    page = explorer.build_html((w * w).sum())
    for ext in ("css", "js"):
        assert pages.read(f"explorer.{ext}").strip()[:200] in page
    assert "%%" not in page.replace("%%DATA%%", "")  # every placeholder filled
    assert "_TEMPLATE" not in vars(explorer) and "_JS" not in vars(explorer)


def test_pyproject_ships_every_page_file():
    import pathlib
    import tomllib

    root = pathlib.Path(__file__).resolve().parent.parent
    conf = tomllib.loads((root / "pyproject.toml").read_text())
    patterns = conf["tool"]["setuptools"]["package-data"]["tinygrad_rnn.pages"]
    files = [p for p in (root / "tinygrad_rnn" / "pages").iterdir() if p.suffix != ".py"
             and p.is_file()]
    assert files
    for f in files:
        assert any(f.match(pat) for pat in patterns), f.name


def test_explore_writes_atomically(tmp_path, monkeypatch):
    w = tg.Tensor([1.0, 2.0], requires_grad=True)
    loss = (w * w).sum()
    path = explorer.explore(loss, tmp_path / "g.html")
    before = path.read_text()

    def fail(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(explorer.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        explorer.explore(loss * 2, path)
    assert path.read_text() == before and [p.name for p in tmp_path.iterdir()] == ["g.html"]


def test_show_displays_as_an_iframe():
    w = tg.Tensor([1.0, 2.0], requires_grad=True)
    shown = explorer.show((w * w).sum(), height=300)
    html = shown._repr_html_()
    assert html.startswith("<iframe srcdoc=") and "height:300px" in html
    assert "&lt;svg" in html and "<svg" not in html  # the page is escaped into the attribute


def test_bad_arguments_are_refused_clearly():
    with pytest.raises(TypeError, match="explorer: expected a Tensor"):
        explorer.build_html(np.zeros(3))
    w = tg.Tensor([1.0], requires_grad=True)
    with pytest.raises(TypeError, match="explorer: record must be"):
        explorer.build_html(w * 2, record=[1, 2])


def test_cli_render_writes_an_explorer_page(tmp_path):
    from tinygrad_rnn.__main__ import main

    assert main(["render", "--cell", "gru", "--steps", "2", "--hidden", "3", "--format", "html",
                 "--out", str(tmp_path / "g")]) == 0
    d = _page_data((tmp_path / "g.html").read_text())
    assert d["recorded"] and len(d["order"]) == len(d["nodes"])


def test_demo_writes_an_explorer_page_and_the_forget_bias_curve(tmp_path, capsys):
    from tinygrad_rnn.demo import run_demo

    run_demo(out=tmp_path, steps=3, seq_len=5, quiet=True)
    d = _page_data((tmp_path / "bptt_explorer.html").read_text())
    assert d["recorded"] and any(e["kind"] == "op" for e in d["elements"].values())
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert len(metrics["lstm"]["grad_flow_init_forget_bias_1"]) == 5
    assert len(metrics["lstm"]["grad_flow_trained_forget_bias_1"]) == 5
    assert metrics["lstm"]["forget_bias_1"]["steps"] == 3
    assert "bptt_explorer.html" in capsys.readouterr().out


def test_forget_bias_one_keeps_more_of_the_gradient_at_initialisation():
    from tinygrad_rnn.demo import _decades, gradient_flow, set_forget_bias
    from tinygrad_rnn.models import SequenceModel

    tg.manual_seed(0)
    model = SequenceModel("lstm", 16, 1, input_size=2, many_to_one=True)
    before = _decades(gradient_flow(model, 20))
    set_forget_bias(model, 1.0)
    b_ih, b_hh = model.rnn.bias_ih_l0.array, model.rnn.bias_hh_l0.array
    np.testing.assert_allclose((b_ih + b_hh)[16:32], 1.0)
    after = _decades(gradient_flow(model, 20))
    assert 0 < after < before - 1  # at least ten times more gradient reaches t = 1


def test_an_op_feeding_many_others_has_one_op_element_and_copies():
    w = tg.Tensor(np.arange(3.0), requires_grad=True)
    hub = w * 2.0
    loss = sum(((hub * float(k)).sum() for k in range(12)), tg.Tensor(0.0))
    with explorer.record_backward() as rec:
        loss.backward()
    d = _page_data(explorer.build_html(loss, record=rec))
    kinds = {}
    for e in d["elements"].values():
        for nid in e.get("nodes", []):
            kinds.setdefault(nid, []).append(e["kind"])
    assert kinds[hub.node.id].count("op") == 1 and kinds[hub.node.id].count("ref") > 1
    assert all(k.count("op") == 1 for k in kinds.values())  # so lit ops = visited nodes


def test_training_from_a_step_0_checkpoint_is_the_fresh_run(tmp_path):
    # what the demo's forget-bias-1 LSTM relies on: only the bias it changes differs
    from tinygrad_rnn.demo import save_checkpoint
    from tinygrad_rnn.train import TrainConfig, build, train

    cfg = TrainConfig(task="adding", model="lstm", hidden=4, seq_len=5, batch=4, steps=4,
                      seed=3, out=str(tmp_path / "fresh"), log_every=1)
    fresh = [r["loss"] for r in train(cfg, quiet=True)["log"]]
    cfg.out = str(tmp_path / "resumed")
    task, model, opt = build(cfg)
    save_checkpoint(tmp_path / "start.npz", cfg, 0, task, model, opt, [])
    resumed = [r["loss"] for r in train(cfg, resume=tmp_path / "start.npz", quiet=True)["log"]]
    assert resumed == fresh


def test_the_readme_picture_caption_matches_what_the_explorer_replays_now(tmp_path):
    # docs/explorer.png is made by docs/make_explorer_png.py from this page; its caption states
    # the replay step it shows and the number of steps, which change when the graph does
    import pathlib

    from tinygrad_rnn.demo import explore_unrolled

    readme = (pathlib.Path(__file__).resolve().parent.parent / "README.md").read_text()
    m = re.search(r"!\[the explorer: [^\]]*t1 output gate \(step (\d+) of (\d+)\)", readme)
    assert m, "the README's explorer picture caption"
    d = _page_data(explore_unrolled(tmp_path / "g.html", "lstm", steps=3, hidden=4).read_text())
    gate = [n for n in d["nodes"].values() if n["label"] == "output gate" and n["where"] == "t1"]
    assert (int(m.group(1)), int(m.group(2))) == (gate[0]["visit"] + 1, len(d["order"]))
