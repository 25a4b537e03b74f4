"""Draw docs/explorer.png: the explorer page of the README's graph, as a browser shows it.

    python docs/make_explorer_png.py [--out docs/explorer.png]

It writes the page ``python -m tinygrad_rnn render --cell lstm --steps 3 --hidden 4 --format
html`` writes (``make demo``'s ``bptt_explorer.html``), opens it in headless Chromium (the
system's, through playwright) in a 1400×900 window, steps the backward replay to the t1 output
gate, selects that gate (its details fill the side panel) and takes the screenshot.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import shutil
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


def make(out=HERE / "explorer.png", width=1400, height=900):
    """Write the screenshot to ``out``; returns its path."""
    from playwright.sync_api import sync_playwright

    from tinygrad_rnn.demo import explore_unrolled

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise RuntimeError("make_explorer_png: no chromium on PATH (Debian: apt-get install "
                           "chromium)")
    out = pathlib.Path(out)
    with tempfile.TemporaryDirectory() as tmp:
        page_path = explore_unrolled(pathlib.Path(tmp) / "graph.html", "lstm", steps=3, hidden=4)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(page_path.resolve().as_uri())
            page.wait_for_function("window.tgExplorer !== undefined")
            title = page.evaluate("""() => { const D = tgExplorer.data;
                return Object.entries(D.elements).find(([t, e]) => e.kind === 'op' &&
                  D.nodes[e.nodes[0]].label === 'output gate' &&
                  D.nodes[e.nodes[0]].scope.endsWith('/t1'))[0]; }""")
            visit = page.evaluate(f"tgExplorer.data.nodes[tgExplorer.data.elements"
                                  f"[{title!r}].nodes[0]].visit")
            page.evaluate(f"tgExplorer.setStep({visit + 1})")
            page.evaluate(f"tgExplorer.centre({title!r})")
            node = page.locator("g.node", has=page.locator(f"title:text-is('{title}')"))
            node.click()
            page.mouse.move(width - 5, 40)  # no hover tip in the picture
            out.parent.mkdir(parents=True, exist_ok=True)
            partial = out.with_name(f".{out.name}.partial.png")
            page.screenshot(path=str(partial))
            browser.close()
        os.replace(partial, out)  # whole or not at all
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=str(HERE / "explorer.png"))
    args = p.parse_args(argv)
    print("wrote", make(args.out))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))  # the package of this checkout
    sys.exit(main())
