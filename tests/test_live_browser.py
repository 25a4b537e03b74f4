"""The live training page in headless Chromium (the system's; playwright from the ``browser``
extra), while a small LSTM trains in a thread of this process. Skips without either."""
import shutil
import threading
import time

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import data, live, nn, optim
from tinygrad_rnn.nn import functional as F

sync_api = pytest.importorskip("playwright.sync_api",
                               reason="playwright is not installed (pip install -e '.[browser]')")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None,
                                reason="no chromium on PATH (Debian: apt-get install chromium)")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
T = 8  # time steps of the model being trained


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


class _Training:
    """Trains in a thread, logging to a board, a step every ``pause`` s until stopped."""

    def __init__(self, board_kw=None, pause=0.02, steps=100_000):
        tg.manual_seed(0)
        self.rnn, self.head = nn.LSTM(2, 6), nn.Linear(6, 1)
        self.params = {**dict(self.rnn.named_parameters()),
                       **{f"head.{k}": v for k, v in self.head.named_parameters()}}
        self.opt = optim.Adam(list(self.params.values()), lr=1e-2, max_grad_norm=0.3)
        self.board = live.serve(self.params, self.opt, quiet=True,
                                **{"every": 3, "heat_seconds": 0.5, "budget": 1,
                                   **(board_kw or {})})
        self.pause, self.steps, self.done = pause, steps, 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        rng = np.random.default_rng(0)
        for _ in range(self.steps):
            if self.stop.is_set():
                break
            x, y = data.adding_problem(4, T, rng=rng)
            out, _ = self.rnn(tg.Tensor(x))
            loss = F.mse_loss(self.head(out[-1]), tg.Tensor(y))
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
            self.board.log(loss)
            self.done += 1
            time.sleep(self.pause)

    def finish(self):
        self.stop.set()
        self.thread.join(30)
        assert not self.thread.is_alive()
        self.board.close(linger=3)


def _open(browser, url):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    seen = {"errors": [], "requests": []}
    page.on("console", lambda m: seen["errors"].append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    page.on("request", lambda r: seen["requests"].append(r.url))
    page.goto(url)
    page.wait_for_function("window.tgLive !== undefined")
    return page, seen


def test_the_page_updates_while_it_trains(browser):
    run = _Training()
    try:
        page, seen = _open(browser, run.board.url)
        page.wait_for_function("tgLive.lossCount() >= 5", timeout=30000)
        first = page.evaluate("tgLive.lossCount()")
        page.wait_for_function(f"tgLive.lossCount() >= {first + 10}", timeout=30000)
        assert page.evaluate("tgLive.drawnPoints()") > first  # the curve is drawn, not only held
        assert "step" in page.inner_text("#status") and "loss" in page.inner_text("#status")
        # ‖∂L/∂h_t‖ at one point per time step; the weights' norms; clipping; the picture
        page.wait_for_function("document.querySelectorAll('#hgrad circle').length >= "
                               f"{T}", timeout=30000)
        assert "lstm/l0 at step" in page.inner_text("#hgrad")
        page.wait_for_function("tgLive.state.weights.length >= 2", timeout=30000)
        legend = page.inner_text("#weights")
        assert all(name in legend for name in run.params)
        assert page.locator("#loss line.clip").count() > 0  # clipping events marked
        assert "steps clipped" in page.inner_text("#clip-note")
        page.wait_for_function("(() => { const i = document.querySelector('#heat img'); "
                               "return i && i.complete && i.naturalWidth > 0; })()",
                               timeout=30000)
        assert "drawn from the graph of step" in page.inner_text("#heat-note")
        # everything came from the board's own server
        assert seen["requests"] and all(u.startswith(run.board.url) for u in seen["requests"])
        assert seen["errors"] == []
        page.close()
    finally:
        run.finish()


def test_two_tabs_follow_the_same_run(browser):
    run = _Training()
    try:
        one, seen_one = _open(browser, run.board.url)
        two, seen_two = _open(browser, run.board.url)
        for page in (one, two):
            page.wait_for_function("tgLive.lossCount() >= 10", timeout=30000)
        run.stop.set()
        run.thread.join(30)
        n = run.done
        for page in (one, two):
            page.wait_for_function(f"tgLive.lossCount() === {n}", timeout=30000)
        assert one.evaluate("tgLive.state.losses") == two.evaluate("tgLive.state.losses")
        assert seen_one["errors"] == seen_two["errors"] == []
        one.close()
        two.close()
    finally:
        run.finish()


def test_a_closed_tab_does_not_stop_the_training(browser):
    run = _Training(pause=0.01)
    try:
        page, _ = _open(browser, run.board.url)
        page.wait_for_function("tgLive.lossCount() >= 3", timeout=30000)
        page.close()  # mid-run
        before = run.done
        deadline = time.monotonic() + 30
        while run.done < before + 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert run.done >= before + 20
    finally:
        run.finish()


def test_the_page_says_when_the_run_has_ended(browser):
    run = _Training()
    page, seen = _open(browser, run.board.url)
    page.wait_for_function("tgLive.lossCount() >= 3", timeout=30000)
    run.finish()  # close() waits for the watching page to see the end
    page.wait_for_function("document.getElementById('status').textContent"
                           ".includes('training ended')", timeout=10000)
    assert seen["errors"] == []
    page.close()
