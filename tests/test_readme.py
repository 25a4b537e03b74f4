"""README.md stays true: its training-loop example runs (with fewer steps), and its two
set-up commands are the Makefile's targets."""
from __future__ import annotations

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_training_loop_example_runs(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    loop = next(b for b in blocks if "opt.step()" in b)
    code = loop.replace("range(1000)", "range(3)")
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["loss"].item() >= 0
    assert "0 " in capsys.readouterr().out  # the step-0 progress print


def test_the_two_commands_come_first_and_exist():
    first_block = re.search(r"```sh\n(.*?)```", README, flags=re.S).group(1)
    commands = [line.split("#")[0].strip() for line in first_block.splitlines() if line.strip()]
    assert commands == ["make demo", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^demo:", makefile, flags=re.M) and re.search(r"^test:", makefile, flags=re.M)
