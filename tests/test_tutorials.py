"""Every tutorial runs as a script in fast mode (small sizes) and writes its figures."""
from __future__ import annotations

import os
import re
import pathlib
import subprocess
import sys

import numpy as np
import pytest

TUTORIALS = sorted((pathlib.Path(__file__).resolve().parents[1] / "tutorials").glob("[0-9][0-9]_*.py"))


# the package of this checkout first (a script's own folder is on its path, not the checkout's)
_PYTHONPATH = os.pathsep.join([str(pathlib.Path(__file__).resolve().parents[1]),
                               os.environ.get("PYTHONPATH", "")])


def test_the_tutorials_are_numbered_in_order():
    assert [p.name[:2] for p in TUTORIALS] == [f"{i:02d}" for i in range(1, len(TUTORIALS) + 1)]
    assert len(TUTORIALS) >= 10


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_runs_in_fast_mode(path, tmp_path):
    env = {**os.environ, "PYTHONPATH": _PYTHONPATH,
           "TUTORIAL_FAST": "1", "TUTORIAL_OUT": str(tmp_path),
           "MPLBACKEND": "Agg"}
    proc = subprocess.run([sys.executable, str(path)], cwd=path.parent, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert any(tmp_path.iterdir()), "the tutorial wrote no figure"


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_is_in_percent_format_with_prose(path):
    text = path.read_text()
    assert text.startswith("# %% [markdown]")
    assert text.count("# %% [markdown]") >= 2 and text.count("\n# %%\n") >= 2


def _run_fast(path, out):
    env = {**os.environ, "PYTHONPATH": _PYTHONPATH,
           "TUTORIAL_FAST": "1", "TUTORIAL_OUT": str(out), "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, str(path)], cwd=path.parent, env=env,
                          capture_output=True, text=True, timeout=600)


def _dot_labels(source):
    """{name: [the other lines]} for every node of a DOT text written by viz; a named op's
    first line is "name op" (e.g. "h sigmoid"), keyed by the name."""
    labels = {}
    for match in re.finditer(r'^\s*(\w+) \[label="(.*?)"', source, flags=re.M | re.S):
        lines = match.group(2).split("\\n")
        labels[lines[0].split(" ")[0]] = lines[1:]
    return labels


def _numbers(text):
    return np.array([float(v) for v in re.findall(r"-?\d+\.?\d*(?:e[-+]?\d+)?", text)])


def _grad(lines):
    (line,) = [s for s in lines if s.startswith("‖g‖")]
    return float(line.split()[1])


@pytest.fixture(scope="module")
def mlp_graph_labels(tmp_path_factory):
    out = tmp_path_factory.mktemp("tut01")
    proc = _run_fast(TUTORIALS[0], out)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return _dot_labels((out / "01_mlp_graph.gv").read_text())


def test_tutorial_1_graph_ops_are_computed_from_the_drawn_leaves(mlp_graph_labels):
    """Every op value in the picture follows from the leaf values in the same picture: a graph
    whose leaves were updated after its forward (trained parameters, first-pass ops) fails."""
    lab = mlp_graph_labels
    W1, x = _numbers(lab["W1"][1]).reshape(3, 2), _numbers(lab["x"][1])
    b1, W2 = _numbers(lab["b1"][1]), _numbers(lab["W2"][1]).reshape(1, 3)
    W1x, a, h = (_numbers(lab[k][1]) for k in ("W1·x", "a", "h"))
    close = dict(rtol=2e-2, atol=2e-3)  # the picture shows 3 significant digits
    np.testing.assert_allclose(W1x, W1 @ x, **close)
    np.testing.assert_allclose(a, W1x + b1, **close)
    np.testing.assert_allclose(h, 1 / (1 + np.exp(-a)), **close)
    np.testing.assert_allclose(_numbers(lab["W2·h"][1]), W2 @ h, **close)


def test_tutorial_1_graph_leaf_grads_come_from_the_drawn_backward(mlp_graph_labels):
    """The parameter gradients drawn are outer products of the op gradients and values drawn:
    ∂E/∂W₂ = δ_y hᵀ, ∂E/∂W₁ = δ_a xᵀ (so ‖·‖ multiplies), ∂E/∂b₁ = δ_a."""
    lab = mlp_graph_labels
    h, x = _numbers(lab["h"][1]), _numbers(lab["x"][1])
    g_y, g_a = _grad(lab["y"]), _grad(lab["a"])
    assert _grad(lab["W2"]) == pytest.approx(g_y * np.linalg.norm(h), rel=2e-2)
    assert _grad(lab["W1"]) == pytest.approx(g_a * np.linalg.norm(x), rel=2e-2)
    assert _grad(lab["b1"]) == pytest.approx(g_a, rel=2e-2)
    assert _grad(lab["E"]) == 1.0


def test_make_notebooks_executes_a_tutorial_with_inline_figures(tmp_path, monkeypatch):
    """`make notebooks` (the docs extra): tutorial 1 becomes an executed notebook whose graph
    shows inline and whose cells ran without error."""
    pytest.importorskip("jupytext")
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    import json
    sys.path.insert(0, str(TUTORIALS[0].parent))
    try:
        import make_notebooks
    finally:
        sys.path.pop(0)
    monkeypatch.setenv("TUTORIAL_FAST", "1")
    monkeypatch.setenv("TUTORIAL_OUT", str(tmp_path / "out"))
    nb = json.loads(make_notebooks.build(TUTORIALS[0], out_dir=tmp_path).read_text())
    outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c["outputs"]]
    assert not [o for o in outputs if o["output_type"] == "error"]
    assert any("image/svg+xml" in o.get("data", {}) for o in outputs), "the graph is inline"
    text = "".join("".join(o.get("text", "")) for o in outputs)
    assert "exercise 1: no answer yet" in text, "the placeholder answers run without error"


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_claims_hold_for_another_seed(path, tmp_path):
    """The tutorials assert what their text says; those claims must not depend on the seed."""
    env = {**os.environ, "PYTHONPATH": _PYTHONPATH,
           "TUTORIAL_FAST": "1", "TUTORIAL_OUT": str(tmp_path),
           "TUTORIAL_SEED": "7", "MPLBACKEND": "Agg"}
    proc = subprocess.run([sys.executable, str(path)], cwd=path.parent, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_reads_out_its_results_and_has_checked_exercises(path):
    text = path.read_text()
    assert text.count("**What you should see:**") + text.count("### What you should see") >= 2
    assert "## Exercises" in text and text.count("check_exercise(") >= 2
    assert "answer_1 = None" in text, "placeholders the script runs with"


def test_check_exercise_says_right_wrong_or_not_answered(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TUTORIAL_OUT", str(tmp_path))
    monkeypatch.syspath_prepend(str(TUTORIALS[0].parent))
    import common
    assert common.check_exercise(1, None, 0.25, "hint") is None
    assert "no answer yet" in capsys.readouterr().out
    assert common.check_exercise(1, 0.25, 0.25, "hint") is True
    assert "right" in capsys.readouterr().out
    assert common.check_exercise(1, 0.5, 0.25, "σ' peaks at a = 0") is False
    assert "σ' peaks at a = 0" in capsys.readouterr().out
    assert common.check_exercise(3, " Linear", "linear", "hint") is True


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_markdown_cells_hold_only_comments(path):
    """Code after a markdown cell needs its own `# %%` line, or a notebook shows it as text."""
    in_markdown = False
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.startswith("# %%"):
            in_markdown = line.startswith("# %% [markdown]")
        elif in_markdown and line.strip():
            assert line.startswith("#"), f"{path.name}:{number}: code inside a markdown cell"
