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


def _reading_order_rows():
    section = README.split("## Reading order", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[1].replace(",", "").isdigit():
            names = re.findall(r"`([^`]+\.py)`", cells[0])
            first = names[0]
            folder = first.rsplit("/", 1)[0] if "/" in first else ""
            paths = [n if "/" in n else f"{folder}/{n}" for n in names]
            rows.append((paths, int(cells[1].replace(",", ""))))
    return rows


def test_the_reading_order_table_names_real_files_with_true_line_counts():
    rows = _reading_order_rows()
    assert len(rows) >= 8 and rows[0][0] == ["tinygrad_rnn/ops.py"]
    for paths, stated in rows:
        actual = sum((ROOT / p).read_text().count("\n") for p in paths)
        assert abs(actual - stated) <= 0.1 * actual, (
            f"README's reading order says {paths} has {stated} lines; it has {actual}")


def test_the_reading_order_check_catches_a_wrong_count():
    global README
    saved = README
    try:
        README = saved.replace("| `tinygrad_rnn/engine.py` | ", "| `tinygrad_rnn/engine.py` | 9", 1)
        rows = dict((tuple(p), n) for p, n in _reading_order_rows())
        stated = rows[("tinygrad_rnn/engine.py",)]
        actual = (ROOT / "tinygrad_rnn/engine.py").read_text().count("\n")
        assert abs(actual - stated) > 0.1 * actual
    finally:
        README = saved
