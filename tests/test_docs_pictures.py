"""The README's pictures are current: each is made by the command printed beside it (the same
command `make pictures` runs), and redrawing it now gives the DOT source kept beside the
picture, which is the source the picture was rendered from."""
from __future__ import annotations

import html
import pathlib
import re
import shlex

import pytest

from tinygrad_rnn.__main__ import main

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def readme_pictures():
    """[(picture path, the render options printed in its caption)] for every docs/*.svg."""
    out = []
    for m in re.finditer(r"!\[[^\]]*\]\((docs/[\w.]+\.svg)\)\s*\n\s*\n\*`python -m tinygrad_rnn "
                         r"render ([^`]*)`", README):
        out.append((m.group(1), " ".join(m.group(2).split())))
    return out


PICTURES = readme_pictures()


def test_every_svg_in_the_readme_prints_its_command():
    shown = set(re.findall(r"\]\((docs/[\w.]+\.svg)\)", README))
    assert shown and shown == {path for path, _ in PICTURES}
    for path, args in PICTURES:
        assert f"--out {path[:-4]}" in args, f"{path}: its command must write it"


def test_make_pictures_runs_the_commands_the_readme_prints():
    makefile = (ROOT / "Makefile").read_text()
    listed = re.search(r"^PICTURES := (.*?)\n\n", makefile, flags=re.M | re.S).group(1)
    in_make = {" ".join(a.split()) for a in re.findall(r'"([^"]*)"', listed)}
    assert in_make == {" ".join(args.split()) for _, args in PICTURES}
    assert re.search(r"^pictures:", makefile, flags=re.M)


def _dot_names(source):
    nodes = set(re.findall(r"^\s*(\w+) \[", source, flags=re.M)) - {"graph", "node", "edge"}
    edges = {(a, b) for a, b, rest in re.findall(r"^\s*(\w+) -> (\w+)(.*)$", source, flags=re.M)
             if "invis" not in rest}  # invisible edges (layout only) are not drawn
    return nodes, edges


def _svg_names(svg):
    titles = [html.unescape(t) for t in re.findall(r'class="(?:node|edge)">\s*<title>([^<]*)'
                                                   r'</title>', svg)]
    nodes = {t for t in titles if "->" not in t}
    edges = {tuple(t.split("->")) for t in titles if "->" in t}
    return nodes, edges


@pytest.mark.parametrize("path, args", PICTURES, ids=[p for p, _ in PICTURES])
def test_each_picture_is_what_its_command_draws_now(path, args, tmp_path):
    """Fails when the drawing code (or the model behind the command) changed since the picture
    was made: run `make pictures` and commit the pictures with their .dot sources."""
    argv = shlex.split(args)
    out = argv.index("--out")
    argv[out + 1] = str(tmp_path / "picture")
    assert main(["render", *argv, "--format", "dot"]) == 0
    now = (tmp_path / "picture.dot").read_text()
    kept = ROOT / path.replace(".svg", ".dot")
    assert kept.exists(), f"{kept.name} is missing: run `make pictures`"
    assert kept.read_text() == now, f"{path} is older than what its command draws: run " \
                                    f"`make pictures`"
    # ... and the SVG was rendered from that source: the same nodes and edges
    assert _svg_names((ROOT / path).read_text()) == _dot_names(now), \
        f"{path} was not rendered from {kept.name}: run `make pictures`"
