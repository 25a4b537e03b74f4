"""`python -m tinygrad_rnn run SCRIPT`: the script runs as `python SCRIPT` would, with torch
resolving to this package; refusals exit 2 with one paragraph; --graph/--explore draw the first
backward; and the four programs of tests/programs/ give PyTorch's loss at every step."""
from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import textwrap

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PROGRAMS = ROOT / "tests" / "programs"
FIXTURES = ROOT / "tests" / "fixtures" / "programs"
LOSS_LINE = re.compile(r"^(step \d+|valid|test) loss (\S+)", re.M)
NAMES = ("word_lm", "time_series", "char_classifier", "seq2seq_attention")


def run(args, cwd, timeout=600):
    """`python -m tinygrad_rnn run ARGS` in ``cwd`` with this checkout's package."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "tinygrad_rnn", "run", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def script(tmp_path, body, name="prog.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


# ---------------------------------------------------------------- as python would

def test_the_script_sees_what_python_gives_a_script(tmp_path):
    (tmp_path / "lib").mkdir()
    script(tmp_path / "lib", "VALUE = 42\n", name="sibling.py")
    path = script(tmp_path / "lib", """
        import os, sys
        import sibling                        # the script's folder is on sys.path
        import torch
        print("name", __name__)
        print("file", __file__)
        print("argv", sys.argv)
        print("sibling", sibling.VALUE)
        print("torch", torch.nn.Linear.__module__)
    """)
    done = run([str(path), "--lr", "3", "x"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "name __main__\n" in done.stdout
    assert f"file {path}\n" in done.stdout
    assert f"argv [{str(path)!r}, '--lr', '3', 'x']\n" in done.stdout
    assert "sibling 42\n" in done.stdout and "torch tinygrad_rnn.nn.layers" in done.stdout


@pytest.mark.parametrize("body, status", [("import sys; sys.exit(3)", 3),
                                          ("import sys; sys.exit()", 0),
                                          ("raise SystemExit('bye')", 1)])
def test_exit_status_is_the_scripts(tmp_path, body, status):
    done = run([str(script(tmp_path, body))], cwd=tmp_path)
    assert done.returncode == status
    if status == 1:
        assert done.stderr.strip() == "bye"


def test_an_uncaught_exception_prints_as_python_prints_it(tmp_path):
    path = script(tmp_path, """
        def f():
            raise ValueError("boom")
        f()
    """)
    done = run([str(path)], cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.startswith("Traceback (most recent call last):\n")
    assert f'File "{path}", line 4, in <module>' in done.stderr
    assert f'File "{path}", line 3, in f' in done.stderr
    assert done.stderr.rstrip().endswith("ValueError: boom")
    assert "script.py" not in done.stderr and "runpy" not in done.stderr  # none of ours


def test_a_syntax_error_and_a_missing_script(tmp_path):
    done = run([str(script(tmp_path, "def f(:\n"))], cwd=tmp_path)
    assert done.returncode == 1 and "SyntaxError" in done.stderr
    done = run([str(tmp_path / "nope.py")], cwd=tmp_path)
    assert done.returncode == 2 and "nope.py" in done.stderr


# ---------------------------------------------------------------- refusals: status 2

def _one_paragraph(stderr):
    assert "Traceback" not in stderr
    assert stderr.strip() and "\n\n" not in stderr.strip()
    return stderr


def test_an_unsupported_torch_call_exits_2_naming_the_api_and_the_line(tmp_path):
    path = script(tmp_path, """
        import torch
        model = torch.nn.Linear(2, 2)
        print("trained")
        torch.onnx.export(model, torch.zeros(1, 2), "model.onnx")
    """)
    done = run([str(path)], cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == "trained\n"
    err = _one_paragraph(done.stderr)
    assert "line 5" in err and "torch.onnx.export(model" in err
    assert "torch.onnx.export is not available" in err and "state_dict" in err
    assert not (tmp_path / "model.onnx").exists()


def test_a_tensor_method_this_engine_lacks_exits_2_naming_it_and_the_nearest(tmp_path):
    path = script(tmp_path, """
        import torch
        x = torch.ones(3)
        y = x.sinh()
    """)
    done = run([str(path)], cwd=tmp_path)
    assert done.returncode == 2
    err = _one_paragraph(done.stderr)
    assert "line 4" in err and "x.sinh()" in err
    assert "Tensor.sinh is not available in tinygrad_rnn; the nearest: sin" in err


def test_an_attribute_error_of_the_program_itself_stays_a_traceback(tmp_path):
    path = script(tmp_path, """
        import torch
        class Model: pass
        Model().forward
    """)
    done = run([str(path)], cwd=tmp_path)
    assert done.returncode == 1
    assert "Traceback" in done.stderr and "AttributeError" in done.stderr


def test_a_script_that_needs_cuda_exits_2_saying_so(tmp_path):
    path = script(tmp_path, """
        import torch
        x = torch.zeros(3)
        x = x.cuda()
    """)
    done = run([str(path)], cwd=tmp_path)
    assert done.returncode == 2
    err = _one_paragraph(done.stderr)
    assert "line 4" in err and "cuda" in err.lower() and "cpu" in err.lower()


def test_a_cuda_device_keyword_exits_2_saying_so(tmp_path):
    path = script(tmp_path, """
        import torch
        x = torch.zeros(3, device="cuda")
    """)
    done = run([str(path)], cwd=tmp_path)
    assert done.returncode == 2
    assert "line 3" in _one_paragraph(done.stderr)


def test_torch_load_of_a_pickle_with_foreign_classes_exits_2_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "weights.pt"
    command = f"touch {marker}".encode()
    evil.write_bytes(b"\x80\x04\x8c\x02os\x8c\x06system\x93\x8c" + bytes([len(command)])
                     + command + b"\x85R.")
    path = script(tmp_path, """
        import torch
        state = torch.load("weights.pt")
        print("loaded", state)
    """)
    done = run([str(path)], cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    err = _one_paragraph(done.stderr)
    assert "os.system" in err and "line 3" in err
    assert not marker.exists()


def test_a_script_s_own_not_implemented_error_is_an_ordinary_exception(tmp_path):
    path = script(tmp_path, "raise NotImplementedError('todo')\n")
    done = run([str(path)], cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" in done.stderr


def test_a_model_class_of_the_script_saves_and_loads_within_the_run(tmp_path):
    path = script(tmp_path, """
        import torch
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.lin = nn.Linear(2, 3)

            def forward(self, x):
                return self.lin(x).tanh()

        net = Net()
        with open("net.pt", "wb") as f:
            torch.save(net, f)
        with open("net.pt", "rb") as f:
            back = torch.load(f)
        x = torch.ones(1, 2)
        print(type(back).__name__, (back(x).numpy() == net(x).numpy()).all())
    """)
    done = run([str(path)], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Net True\n"


# ---------------------------------------------------------------- the first backward, drawn

GRAPH_SCRIPT = """
    import torch
    import torch.nn as nn

    model = nn.LSTM(2, 3)
    head = nn.Linear(3, 1)
    for step in range(2):
        out, _ = model(torch.ones(4, 1, 2))
        loss = (head(out[-1]) ** 2).sum()
        loss.backward()
    print("grad", model.weight_ih_l0.grad is not None)
"""


def test_graph_and_explore_draw_the_first_backward(tmp_path):
    path = script(tmp_path, GRAPH_SCRIPT)
    done = run(["--graph", "g.svg", "--explore", "g.html", str(path)], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "grad True\n"
    svg = (tmp_path / "g.svg").read_text()
    assert svg.lstrip().startswith("<?xml") or "<svg" in svg
    assert "model.weight_ih_l0" in svg and "head.weight" in svg  # named from the script
    page = (tmp_path / "g.html").read_text()
    assert "<html" in page.lower() and "model.weight_hh_l0" in page
    done = run(["--graph", "g.dot", str(path)], cwd=tmp_path)
    assert done.returncode == 0 and (tmp_path / "g.dot").read_text().startswith("digraph")


def test_graph_without_any_backward_exits_2_saying_so(tmp_path):
    path = script(tmp_path, "import torch\nprint(torch.ones(2).sum().item())\n")
    done = run(["--graph", "g.svg", str(path)], cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == "2.0\n"
    assert "no backward()" in done.stderr and not (tmp_path / "g.svg").exists()


# ---------------------------------------------------------------- the programs vs PyTorch

def losses(output):
    return [(label, float(value)) for label, value in LOSS_LINE.findall(output)]


def assert_same_losses(ours, theirs, name):
    assert [label for label, _ in ours] == [label for label, _ in theirs], name
    for (label, a), (_, b) in zip(ours, theirs):
        assert abs(a - b) <= 1e-5 * abs(b), f"{name}, {label}: {a!r} here, {b!r} in PyTorch"


_ours = {}  # name -> losses printed under run (each program runs once per session)


def ours(name, tmp_path_factory):
    if name not in _ours:
        work = tmp_path_factory.mktemp(name)
        init = FIXTURES / f"{name}_init.npz"
        done = run([str(PROGRAMS / f"{name}.py"), "--init", str(init)], cwd=work, timeout=900)
        _ours[name] = done
    done = _ours[name]
    assert done.returncode == 0, f"{name} under run failed:\n{done.stderr[-3000:]}"
    return losses(done.stdout)


@pytest.mark.parametrize("name", NAMES)
def test_program_gives_pytorchs_losses_from_the_fixture(name, tmp_path_factory):
    expected = [tuple(x) for x in json.loads((FIXTURES / "losses.json").read_text())[name]]
    assert len(expected) >= 10
    assert_same_losses(ours(name, tmp_path_factory), expected, name)


@pytest.mark.parametrize("name", NAMES)
def test_program_gives_pytorchs_losses_live(name, tmp_path, tmp_path_factory):
    pytest.importorskip("torch")
    init = FIXTURES / f"{name}_init.npz"
    done = subprocess.run([sys.executable, str(PROGRAMS / f"{name}.py"), "--init", str(init)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    assert_same_losses(ours(name, tmp_path_factory), losses(done.stdout), name)


def test_explore_of_the_word_lm_opens_in_chromium(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no chromium on PATH (Debian: apt-get install chromium)")
    done = run(["--explore", "lm.html", str(PROGRAMS / "word_lm.py"), "--epochs", "1",
                "--init", str(FIXTURES / "word_lm_init.npz")], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    errors = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 800})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto((tmp_path / "lm.html").resolve().as_uri())
            page.wait_for_function("window.tgExplorer !== undefined")
            nodes = page.locator("g.node").count()
            text = page.content()
        finally:
            browser.close()
    assert not errors, errors
    assert nodes > 20
    assert "model.rnn.weight_ih_l0" in text and "model.encoder.weight" in text
