"""The explorer page driven in a real browser: headless Chromium (the system's, e.g. Debian's
``chromium`` package) through playwright (the ``browser`` extra). Skips where either is missing."""
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


def _write_page(path, collapse=None, steps=3):
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
    explorer.explore(loss, path, collapse=collapse, params=params, record=rec)
    return rec, params


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


def _open(browser, path):
    page = browser.new_page(viewport={"width": 1200, "height": 800})
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


def test_hover_shows_op_shapes_and_statistics(browser, full):
    path, rec, _ = full
    page, errors = _open(browser, path)
    root = page.evaluate("Object.entries(tgExplorer.data.elements)"
                         ".find(([t, e]) => e.kind === 'op' && tgExplorer.data.nodes[e.nodes[0]]"
                         ".op === 'sigmoid')[0]")
    node = page.locator("g.node", has=page.locator(f"title:text-is('{root}')"))
    node.hover()
    tip = page.locator("#tip")
    assert tip.is_visible()
    text = tip.inner_text()
    assert "sigmoid" in text and "lstm/l0/t" in text
    assert "(2, 4) → (2, 4)" in text
    assert "grad" in text and "mean" in text and "‖·‖" in text
    assert tip.locator("svg.hist rect").count() > 0  # a histogram
    page.mouse.move(2, 2)
    assert tip.is_hidden()
    assert errors == []
    page.close()


def test_click_highlights_ancestors_and_descendants(browser, full):
    page, errors = _open(browser, full[0])
    title = page.evaluate("Object.entries(tgExplorer.data.elements)"
                          ".find(([t, e]) => e.kind === 'op' && tgExplorer.data.nodes[e.nodes[0]]"
                          ".scope === 'lstm/l0/t1' && tgExplorer.data.nodes[e.nodes[0]].op === "
                          "'tanh')[0]")
    page.locator("g.node", has=page.locator(f"title:text-is('{title}')")).click()
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
    page.mouse.move(600, 300)
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
    with explorer.record_backward():
        loss.backward()
    host = tmp_path / "notebook.html"
    host.write_text("<!DOCTYPE html><html><body>" + explorer.show(loss)._repr_html_() +
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
