"""The explorer page driven in a real browser: headless Chromium (the system's, e.g. Debian's
``chromium`` package) through playwright (the ``browser`` extra). Skips where either is missing.

The window is 1400×900, a laptop screen; the graph is a 3-step LSTM with hidden size 4 (what
``make demo`` writes), 43 ops."""
import pathlib
import re
import shutil

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import data, explorer, nn
from tinygrad_rnn.nn import functional as F

sync_api = pytest.importorskip("playwright.sync_api",
                               reason="playwright is not installed (pip install -e '.[browser]')")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None,
                                reason="no chromium on PATH (Debian: apt-get install chromium)")


def _write_page(path, collapse=None, steps=3, record=True):
    tg.manual_seed(0)
    rnn, head = nn.LSTM(2, 4), nn.Linear(4, 1)
    x, y = data.adding_problem(2, steps, rng=np.random.default_rng(0))
    with tg.keep_values():
        out, _ = rnn(tg.Tensor(x))
        loss = F.mse_loss(head(out[-1]), tg.Tensor(y))
    with explorer.record_backward() as rec:
        loss.backward()
    params = {**dict(rnn.named_parameters()),
              **{f"head.{k}": v for k, v in head.named_parameters()}}
    explorer.explore(loss, path, collapse=collapse, params=params, record=rec if record else None)
    return rec, params


CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _open(browser, path):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.resolve().as_uri())
    page.wait_for_function("window.tgExplorer !== undefined")
    return page, errors


def _lit(page, kind):
    return page.locator(f"g.node.lit.tg-{kind}").count()


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    path = tmp_path_factory.mktemp("explorer") / "full.html"
    rec, params = _write_page(path)
    return path, rec, params


def test_page_loads_without_console_errors(browser, full):
    page, errors = _open(browser, full[0])
    assert page.locator("g.node.tg-op").count() == len(full[1].order)
    assert errors == []
    page.close()


def _element(page, op, scope=None, label=None):
    """The DOT title of the op element for an op (and scope / label)."""
    return page.evaluate("""([op, scope, label]) => Object.entries(tgExplorer.data.elements).find(
        ([t, e]) => { if (e.kind !== 'op') return false; const n = tgExplorer.data.nodes[e.nodes[0]];
        return n.op === op && (scope === null || n.scope.endsWith(scope)) &&
               (label === null || n.label === label); })[0]""", [op, scope, label])


def _node(page, title):
    return page.locator("g.node", has=page.locator(f"title:text-is('{title}')"))


def _rect(locator):
    return locator.evaluate("g => { const r = g.getBoundingClientRect(); "
                            "return {l: r.left, t: r.top, r: r.right, b: r.bottom}; }")


def test_click_shows_op_shapes_and_statistics_in_the_side_panel(browser, full):
    page, errors = _open(browser, full[0])
    assert "Click a node" in page.inner_text("#panel")
    title = _element(page, "sigmoid", "t1", "output gate")
    node = _node(page, title)
    page.evaluate("t => tgExplorer.centre(t)", title)
    node.click()
    text = page.inner_text("#panel")
    for part in ("sigmoid", "lstm/l0/t1", "output gate", "(2, 4) → (2, 4)", "value", "grad",
                 "mean", "‖·‖", "visited at step"):
        assert part in text, part
    assert page.locator("#panel svg.hist").count() == 2  # value and gradient histograms
    page.keyboard.press("Escape")
    assert "Click a node" in page.inner_text("#panel")
    assert errors == []
    page.close()


def test_hover_names_the_node_beside_it_without_covering_it(browser, full):
    page, errors = _open(browser, full[0])
    inside = page.evaluate("""() => { const v = document.getElementById('view')
        .getBoundingClientRect(); return [...document.querySelectorAll('g.node.tg-op')].filter(g => {
        const r = g.getBoundingClientRect(); return r.left > v.left && r.right < v.right &&
        r.top > v.top && r.bottom < v.bottom; }).map(g => g.querySelector('title').textContent); }""")
    assert len(inside) >= 3
    for title in inside[:4]:
        node = _node(page, title)
        node.hover()
        tip = page.locator("#tip")
        assert tip.is_visible()
        name = page.evaluate("t => { const n = tgExplorer.data.nodes[tgExplorer.data.elements[t]"
                             ".nodes[0]]; return n.name; }", title)
        assert name in tip.inner_text()
        a, b = _rect(node), _rect(tip)
        overlap = min(a["r"], b["r"]) > max(a["l"], b["l"]) and \
            min(a["b"], b["b"]) > max(a["t"], b["t"])
        assert not overlap, (title, a, b)
    page.mouse.move(2, 2)
    assert page.locator("#tip").is_hidden()
    assert errors == []
    page.close()


def test_click_highlights_ancestors_and_descendants(browser, full):
    page, errors = _open(browser, full[0])
    title = page.evaluate("Object.entries(tgExplorer.data.elements)"
                          ".find(([t, e]) => e.kind === 'op' && tgExplorer.data.nodes[e.nodes[0]]"
                          ".scope === 'lstm/l0/t1' && tgExplorer.data.nodes[e.nodes[0]].op === "
                          "'tanh')[0]")
    page.evaluate("t => tgExplorer.centre(t)", title)
    _node(page, title).click()
    assert page.locator("g.node.hl-sel").count() == 1
    anc, desc = page.locator("g.node.hl-anc").count(), page.locator("g.node.hl-desc").count()
    assert anc > 0 and desc > 0
    # the loss is a descendant of a step-1 tanh, the step-0 input projection an ancestor
    loss_title = page.evaluate("Object.entries(tgExplorer.data.elements).find(([t, e]) => "
                               "e.nodes && e.nodes[0] === tgExplorer.data.order[0])[0]")
    loss = page.locator("g.node", has=page.locator(f"title:text-is('{loss_title}')"))
    assert "hl-desc" in loss.get_attribute("class")
    hh = page.locator("g.node.tg-leaf.hl-anc").count()
    assert hh > 0  # weights it was computed from
    page.keyboard.press("Escape")
    assert page.locator("g.node.hl-sel, g.node.hl-anc, g.node.hl-desc").count() == 0
    assert errors == []
    page.close()


def test_replay_slider_lights_the_prefix_of_the_backward_order(browser, full):
    path, rec, params = full
    page, errors = _open(browser, path)
    n = len(rec.order)
    assert page.get_attribute("#step", "max") == str(n)
    for s in (0, 1, 7, n // 2, n):
        page.locator("#step").fill(str(s))  # fires the input event
        assert _lit(page, "op") == s
        assert f"step {s} / {n}" in page.inner_text("#status")
    page.locator("#step").fill(str(n))
    running = page.locator("#weights tr[data-leaf] td.running").all_inner_texts()
    finals = sorted(float(np.linalg.norm(p.grad)) for p in params.values())
    assert sorted(float(t) for t in running) == pytest.approx(finals, rel=2e-3)
    assert errors == []
    page.close()


def test_play_button_runs_the_replay_to_the_end(browser, full):
    path, rec, _ = full
    page, errors = _open(browser, path)
    page.click("#play")
    page.wait_for_function(f"+document.getElementById('step').value === {len(rec.order)}",
                           timeout=20000)
    assert _lit(page, "op") == len(rec.order)
    assert "play" in page.inner_text("#play")  # stopped by itself
    assert errors == []
    page.close()


def test_wheel_zooms_and_drag_pans(browser, full):
    page, errors = _open(browser, full[0])
    before = page.get_attribute("#view svg", "viewBox")
    page.mouse.move(500, 300)
    page.mouse.wheel(0, -400)
    zoomed = page.get_attribute("#view svg", "viewBox")
    assert float(zoomed.split()[2]) < float(before.split()[2])  # narrower view = zoomed in
    page.mouse.down()
    page.mouse.move(700, 350, steps=5)
    page.mouse.up()
    panned = page.get_attribute("#view svg", "viewBox")
    assert panned.split()[:2] != zoomed.split()[:2] and panned.split()[2] == zoomed.split()[2]
    assert errors == []
    page.close()


def test_collapsed_groups_light_with_their_first_member(browser, tmp_path):
    path = tmp_path / "collapsed.html"
    rec, _ = _write_page(path, collapse="time", steps=4)
    page, errors = _open(browser, path)
    groups = page.evaluate("Object.values(tgExplorer.data.elements).filter(e => e.kind === "
                           "'group').map(e => Math.min(...e.nodes.map(i => "
                           "tgExplorer.data.nodes[i].visit)))")
    assert len(groups) == 4
    for s in range(0, len(rec.order) + 1, 5):
        page.evaluate(f"tgExplorer.setStep({s})")
        assert _lit(page, "group") == sum(first < s for first in groups)
    # the last time step is reached by backward before the first one
    page.evaluate(f"tgExplorer.setStep({min(groups) + 1})")
    assert _lit(page, "group") == 1
    assert errors == []
    page.close()


def test_a_weight_copy_lights_when_the_op_it_feeds_is_visited(browser, full):
    path, rec, _ = full
    page, errors = _open(browser, path)
    check = """s => {
      tgExplorer.setStep(s);
      const lit = new Set([...document.querySelectorAll('g.node.lit')]
                          .map(g => g.querySelector('title').textContent));
      const bad = [];
      for (const g of document.querySelectorAll('g.node.tg-leaf')) {
        const name = g.querySelector('title').textContent;
        const fed = [...document.querySelectorAll('g.edge > title')].map(t => t.textContent
          .split('->')).filter(e => e[0] === name).map(e => e[1]);
        if (g.classList.contains('lit') !== fed.some(f => lit.has(f))) bad.push(name);
      }
      return bad;
    }"""
    for s in (3, 10, len(rec.order) // 2, len(rec.order)):
        assert page.evaluate(check, s) == [], s
    assert errors == []
    page.close()


def test_the_notebook_iframe_runs_the_page(browser, tmp_path):
    w = tg.Tensor([1.0, -2.0, 3.0], requires_grad=True)
    loss = (w * w).sum()
    with explorer.record_backward() as rec:
        loss.backward()
    host = tmp_path / "notebook.html"
    host.write_text("<!DOCTYPE html><html><body>" + explorer.show(loss, record=rec)._repr_html_() +
                    "</body></html>")
    page, errors = _open_plain(browser, host)
    frame = page.frames[1]
    frame.wait_for_function("window.tgExplorer !== undefined")
    assert frame.evaluate("tgExplorer.data.order.length") == 2
    frame.evaluate("tgExplorer.setStep(2)")
    assert frame.locator("g.node.lit.tg-op").count() == 2
    assert errors == []
    page.close()


def _open_plain(browser, path):
    page = browser.new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.resolve().as_uri())
    return page, errors


def _font_px(page, where="visible"):
    """Rendered font size in screen px of every node label inside the view (or of all)."""
    return page.evaluate("""where => { const v = document.getElementById('view')
        .getBoundingClientRect(); const out = [];
        for (const t of document.querySelectorAll('g.node text')) {
          const r = t.getBoundingClientRect();
          if (where === 'visible' && !(r.left >= v.left && r.right <= v.right && r.top >= v.top &&
              r.bottom <= v.bottom)) continue;
          out.push(parseFloat(t.getAttribute('font-size')) * t.getScreenCTM().a); }
        return out; }""", where)


def test_first_view_is_legible_and_shows_the_loss(browser, full):
    path, rec, _ = full
    page, errors = _open(browser, path)
    shown = _font_px(page)
    assert len(shown) >= 15  # a good part of the graph, not one node
    assert min(shown) >= 9.0 - 1e-3  # (float rounding of the scale)
    loss = page.evaluate("Object.entries(tgExplorer.data.elements).find(([t, e]) => e.kind === "
                         "'op' && e.nodes[0] === tgExplorer.data.order[0])[0]")
    box, view = _rect(_node(page, loss)), _rect(page.locator("#view"))
    assert view["l"] <= box["l"] and box["r"] <= view["r"]
    assert view["t"] <= box["t"] and box["b"] <= view["b"]
    # fitting the whole graph into the window would make the labels unreadable
    page.click("#fit")
    assert max(_font_px(page, "all")) < 9.0
    assert errors == []
    page.close()


def test_fit_shows_every_node_and_reset_returns_to_the_first_view(browser, full):
    page, errors = _open(browser, full[0])
    first = page.get_attribute("#view svg", "viewBox")
    page.click("#fit")
    view = _rect(page.locator("#view"))
    boxes = page.evaluate("[...document.querySelectorAll('g.node')].map(g => { const r = "
                          "g.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; })")
    assert all(view["l"] - 1 <= l and r <= view["r"] + 1 and view["t"] - 1 <= t
               and b <= view["b"] + 1 for l, t, r, b in boxes)
    page.mouse.move(400, 300)
    page.mouse.wheel(0, -300)
    page.click("#reset")
    assert page.get_attribute("#view svg", "viewBox") == first
    assert errors == []
    page.close()


def test_search_marks_the_matches_and_centres_on_each_in_turn(browser, full):
    page, errors = _open(browser, full[0])
    page.fill("#search", "output gate")
    assert page.locator("g.node.match").count() == 3  # one per time step
    assert page.inner_text("#search-info") == "1 / 3"
    seen = set()
    for k in range(3):
        current = page.locator("g.node.match-current")
        assert current.count() == 1
        title = current.locator("title").text_content()
        seen.add(title)
        box, view = _rect(current), _rect(page.locator("#view"))
        cx, cy = (box["l"] + box["r"]) / 2, (box["t"] + box["b"]) / 2
        assert abs(cx - (view["l"] + view["r"]) / 2) < 5 and abs(cy - (view["t"] + view["b"]) / 2) < 5
        assert min(_font_px(page)) >= 9.0 - 1e-3
        page.press("#search", "Enter")
    assert len(seen) == 3 and page.inner_text("#search-info") == "1 / 3"
    # by scope and op together; by weight name
    page.fill("#search", "t1 sigmoid")
    assert page.locator("g.node.match").count() == 3  # the three gates of step 1
    page.fill("#search", "weight_hh")
    assert page.locator("g.node.match.tg-leaf").count() >= 1
    page.fill("#search", "no such node")
    assert page.locator("g.node.match").count() == 0 and page.inner_text("#search-info") == "no match"
    page.press("#search", "Escape")
    assert page.locator("g.node.match").count() == 0
    assert errors == []
    page.close()


def test_a_time_step_folds_into_one_box_and_unfolds(browser, full):
    page, errors = _open(browser, full[0])
    ops_t1 = page.evaluate("Object.values(tgExplorer.data.nodes).filter(n => n.scope.endsWith"
                           "('/t1')).length")
    page.click("#fit")
    label = page.locator("g.cluster > text", has_text=re.compile(r"^t1$"))
    label.dispatch_event("click")
    fold = page.locator("g.fold:not(.folded-away)")
    assert fold.count() == 1
    assert f"t1 · {ops_t1} ops" in fold.text_content()
    hidden = page.evaluate("[...document.querySelectorAll('g.node.folded-away')].map(g => "
                           "tgExplorer.data.elements[g.querySelector('title').textContent])"
                           ".filter(e => e.kind === 'op').length")
    assert hidden == ops_t1
    # the folded box lights in the replay when backward reaches its first op
    first = page.evaluate("Math.min(...Object.values(tgExplorer.data.nodes).filter(n => "
                          "n.scope.endsWith('/t1')).map(n => n.visit))")
    page.evaluate(f"tgExplorer.setStep({first})")
    assert "lit" not in fold.get_attribute("class")
    page.evaluate(f"tgExplorer.setStep({first + 1})")
    assert "lit" in fold.get_attribute("class")
    fold.dispatch_event("click")
    assert page.locator("g.fold:not(.folded-away)").count() == 0
    assert page.locator("g.node.folded-away").count() == 0
    # every step at once, then the layer around them
    page.click("#fold-steps")
    assert page.locator("g.fold:not(.folded-away)").count() == 3
    page.click("#fold-layers")
    assert page.locator("g.fold:not(.folded-away)").count() == 1
    page.click("#unfold")
    assert page.locator(".folded-away").count() == page.locator("g.fold").count()
    assert errors == []
    page.close()


def test_arrow_keys_step_the_replay(browser, full):
    path, rec, _ = full
    page, errors = _open(browser, path)
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    assert page.input_value("#step") == "3" and _lit(page, "op") == 3
    page.keyboard.press("ArrowLeft")
    assert page.input_value("#step") == "2" and _lit(page, "op") == 2
    page.keyboard.press("End")
    assert page.input_value("#step") == str(len(rec.order))
    page.keyboard.press("ArrowRight")  # stays at the end
    assert page.input_value("#step") == str(len(rec.order))
    page.keyboard.press("Home")
    assert page.input_value("#step") == "0"
    # typing in the search box does not step the replay
    page.click("#search")
    page.keyboard.press("ArrowRight")
    assert page.input_value("#step") == "0"
    assert errors == []
    page.close()


def test_stepping_keeps_the_current_node_in_view(browser, full):
    path, rec, _ = full
    page, errors = _open(browser, path)
    for _ in range(len(rec.order) * 2 // 3):
        page.keyboard.press("ArrowRight")
    current = page.locator("g.node.current:not(.folded-away)").first
    box, view = _rect(current), _rect(page.locator("#view"))
    assert view["l"] <= box["l"] and box["r"] <= view["r"]
    assert view["t"] <= box["t"] and box["b"] <= view["b"]
    assert errors == []
    page.close()


def test_replay_status_names_the_labelled_node(browser, full):
    path, rec, _ = full
    page, errors = _open(browser, path)
    gate = page.evaluate("Object.values(tgExplorer.data.nodes).find(n => n.label === "
                         "'output gate' && n.scope.endsWith('/t1')).visit")
    page.evaluate(f"tgExplorer.setStep({gate + 1})")
    status = page.inner_text("#status")
    assert f"step {gate + 1} / {len(rec.order)}: output gate σ, t1" in status
    assert not re.search(r"\bn\d+\b|id \d", status)  # no engine ids
    page.evaluate("tgExplorer.setStep(1)")
    assert "mul" in page.inner_text("#status")  # the loss's last op (mean's × 1/N), no label
    assert errors == []
    page.close()


def test_weights_table_lists_every_term_of_a_shared_weight_zero_included(browser, full):
    path, rec, params = full
    page, errors = _open(browser, path)
    row = page.locator("#weights tr", has=page.locator("td", has_text=re.compile(r"weight_hh_l0$")))
    terms = row.locator(".term").all_inner_texts()
    want = rec.leaf_steps[id(params["weight_hh_l0"])]
    assert len(terms) == len(want) == 3  # one per time step
    got = {}
    for text in terms:
        m = re.fullmatch(r"linear, (t\d): (\S+)", text)
        assert m, text
        got[m.group(1)] = float(m.group(2))
    assert got["t0"] == 0.0  # h_0 = 0: the first step's term is zero, and it is listed
    assert sorted(got.values()) == pytest.approx(sorted(c for _, c, _ in want), rel=5e-3)  # 3 digits
    assert row.locator(".term.zero").count() == 1
    # the input weight gets one term: the layer projects all steps in one op before the loop
    ih = page.locator("#weights tr", has=page.locator("td", has_text=re.compile(r"weight_ih_l0$")))
    assert ih.locator(".term").count() == 1
    # terms light as backward sums them
    page.evaluate(f"tgExplorer.setStep({want[1][0] + 1})")
    assert row.locator(".term.done").count() == 2 and row.locator(".summed").inner_text() == "2 / 3"
    assert errors == []
    page.close()


def test_what_the_table_says_about_terms_is_what_the_readme_says(browser, full):
    page, errors = _open(browser, full[0])
    about = page.inner_text("#weights .about")
    readme = (pathlib.Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme[readme.index("## Explore the graph"):]
    section = " ".join(section[:section.index("\n## ", 5)].split())
    for claim in ("one gradient term per time step", "t0's is 0 when h_0 = 0",
                  "one term for all time steps"):
        assert claim in " ".join(about.split()), claim
        assert claim in section, claim
    assert errors == []
    page.close()


def _rgb(color):
    return [int(x) for x in re.findall(r"\d+", color)[:3]]


def test_visited_nodes_stay_readable(browser, full):
    path, rec, _ = full
    page, errors = _open(browser, path)
    page.evaluate(f"tgExplorer.setStep({len(rec.order) // 2})")
    looks = page.evaluate("""() => [...document.querySelectorAll('g.node.lit.tg-op')].map(g => {
        const s = getComputedStyle(g.querySelector('polygon, ellipse, path'));
        const t = g.querySelector('text');
        return {stroke: s.stroke, fill: s.fill, opacity: getComputedStyle(g).opacity,
                text: getComputedStyle(t).fill}; })""")
    assert len(looks) == len(rec.order) // 2
    for look in looks:
        stroke, fill, text = _rgb(look["stroke"]), _rgb(look["fill"]), _rgb(look["text"])
        assert float(look["opacity"]) == 1.0
        assert sum(abs(a - b) for a, b in zip(stroke, fill)) >= 200, look  # outline ≠ fill
        assert sum(abs(a - b) for a, b in zip(text, fill)) >= 200, look  # label on its fill
    assert errors == []
    page.close()


def test_page_without_a_record_says_how_to_get_one(browser, tmp_path):
    path = tmp_path / "plain.html"
    _write_page(path, record=False)
    page, errors = _open(browser, path)
    assert "record_backward" in page.inner_text("#status")
    assert page.locator("#step").is_disabled()
    page.keyboard.press("ArrowRight")
    assert page.input_value("#step") == "0"
    # it still opens at the loss, legibly
    loss = page.evaluate("Object.entries(tgExplorer.data.elements).find(([t, e]) => e.kind === "
                         "'op' && e.nodes[0] === tgExplorer.data.roots[0])[0]")
    box, view = _rect(_node(page, loss)), _rect(page.locator("#view"))
    assert view["l"] <= box["l"] and box["r"] <= view["r"]
    assert view["t"] <= box["t"] and box["b"] <= view["b"]
    assert min(_font_px(page)) >= 9.0 - 1e-3
    assert errors == []
    page.close()
