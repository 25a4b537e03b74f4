"""Every tutorial runs as a script in fast mode (small sizes) and writes its figures."""
from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

TUTORIALS = sorted((pathlib.Path(__file__).resolve().parents[1] / "tutorials").glob("0*.py"))


def test_there_are_eight_tutorials_in_order():
    assert [p.name[:2] for p in TUTORIALS] == [f"0{i}" for i in range(1, 10)]


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_runs_in_fast_mode(path, tmp_path):
    env = {**os.environ, "TUTORIAL_FAST": "1", "TUTORIAL_OUT": str(tmp_path),
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
