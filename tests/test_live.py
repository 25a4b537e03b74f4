"""The live training page's server and data, without a browser (tests/test_live_browser.py drives
the page in Chromium). Servers bind 127.0.0.1 on free ports; nothing leaves the machine."""
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import data, live, nn, optim, viz
from tinygrad_rnn.nn import functional as F

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _get(board, path, host=None):
    req = urllib.request.Request(board.url.rstrip("/") + path)
    if host:
        req.add_header("Host", host)
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, r.headers.get("Content-Type"), r.read()


def _state(board, query=""):
    return json.loads(_get(board, "/state.json" + query)[2])


class _Loop:
    """A small LSTM on the adding problem, one ``step()`` at a time, logging to a board."""

    def __init__(self, steps=6, clip=1.0, seed=0):
        tg.manual_seed(seed)
        self.rnn, self.head = nn.LSTM(2, 5), nn.Linear(5, 1)
        self.params = {**dict(self.rnn.named_parameters()),
                       **{f"head.{k}": v for k, v in self.head.named_parameters()}}
        self.opt = optim.Adam(list(self.params.values()), lr=1e-2, max_grad_norm=clip)
        self.rng, self.steps = np.random.default_rng(seed), steps

    def step(self, board):
        x, y = data.adding_problem(4, self.steps, rng=self.rng)
        out, _ = self.rnn(tg.Tensor(x))
        loss = F.mse_loss(self.head(out[-1]), tg.Tensor(y))
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        board.log(loss)
        return loss


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_is_free(port):
    """Whether a server can listen on the port again (as servers do, with SO_REUSEADDR: a
    connection of the old server's may linger in TIME_WAIT)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            s.listen()
        except OSError:
            return False
        return True


def test_serves_a_self_contained_page_on_localhost_only():
    with live.serve(quiet=True) as board:
        assert board.url.startswith("http://127.0.0.1:") and board.port > 0
        assert board._server.server_address[0] == "127.0.0.1"
        status, kind, body = _get(board, "/")
        page = body.decode()
        assert status == 200 and kind.startswith("text/html")
        assert "http://" not in page and "https://" not in page and "//" not in page.split(
            "<script>")[0].replace("<!DOCTYPE html>", "")
        assert "src=" not in page.split("<script>")[0] and "<link" not in page
        assert live.pages.read("live.js")[:200] in page  # the package file, inline
        with pytest.raises(urllib.error.HTTPError) as err:
            _get(board, "/nothing-here")
        assert err.value.code == 404


def test_prints_its_address_unless_quiet(capsys):
    with live.serve() as board:
        assert f"live: {board.url}" in capsys.readouterr().out
    with live.serve(quiet=True):
        assert capsys.readouterr().out == ""


def test_state_has_what_was_logged_and_only_the_new_points_after_since():
    with live.serve(quiet=True) as board:
        for k, value in enumerate([1.0, 0.5, 0.25]):
            board.log(value, step=10 * (k + 1))
        st = _state(board)
        assert st["steps"] == [10, 20, 30] and st["losses"] == [1.0, 0.5, 0.25]
        assert st["count"] == 3 and not st["done"]
        board.log(0.125)  # the step counts on from the last one
        st = _state(board, "?since=3")
        assert st["since"] == 3 and st["steps"] == [31] and st["losses"] == [0.125]


def test_a_nonfinite_loss_is_sent_as_a_gap():
    with live.serve(quiet=True) as board:
        board.log(float("nan"))
        board.log(float("inf"))
        board.log(2.0)
        assert _state(board)["losses"] == [None, None, 2.0]


def test_a_sampled_step_gives_the_time_step_norms_and_the_graph_picture():
    loop = _Loop(steps=6)
    with live.serve(loop.params, loop.opt, every=1, sample_seconds=0, heat_seconds=0, budget=1,
                    quiet=True) as board:
        loss = loop.step(board)  # the first step is always sampled
        st = _state(board)
        (layer, norms), = st["time_steps"]["layers"].items()
        assert st["time_steps"]["step"] == 1 and len(norms) == 6
        assert norms == pytest.approx(viz.time_step_grad_norms(loss)[layer])
        assert norms[-1] > norms[0] > 0  # earlier steps get less of the gradient
        assert st["first_time_steps"] == st["time_steps"]
        assert st["heat"] == {"step": 1, "version": 1}
        status, kind, svg = _get(board, "/heat.svg")
        assert kind == "image/svg+xml" and b"<svg" in svg and b"l0 t5" in svg
        loop.step(board)
        st = _state(board)
        assert st["time_steps"]["step"] == 2 and st["first_time_steps"]["step"] == 1
        assert st["heat"]["version"] == 2


def test_only_sampled_steps_record_per_node_gradient_norms():
    loop = _Loop()
    tracked = []
    with tg.track_grad_norms(False):
        with live.serve(loop.params, loop.opt, every=3, sample_seconds=0, budget=1,
                        quiet=True) as board:
            for _ in range(7):
                loss = loop.step(board)
                tracked.append(loss.node.grad_norm is not None)
        # the board leaves the switch as it found it
        w = tg.Tensor([1.0, 2.0], requires_grad=True)
        y = w * w
        y.sum().backward()
        assert y.node.grad_norm is None
    assert tracked == [True, False, False, True, False, False, True]


def test_the_board_leaves_the_process_wide_switch_alone():
    loop = _Loop()
    w = tg.Tensor([1.0, 2.0], requires_grad=True)
    with tg.track_grad_norms(False):
        board = live.serve(loop.params, loop.opt, every=1, sample_seconds=0, budget=1,
                           quiet=True)
        with tg.track_grad_norms(False):  # opened while the board waits to sample a step
            for _ in range(3):
                loop.step(board)
        board.close(linger=0)
        y = w * w
        y.sum().backward()
        assert y.node.grad_norm is None  # still off, as the caller set it
    assert board.samples == 3


def test_the_board_keeps_to_its_time_budget():
    loop = _Loop()
    with live.serve(loop.params, loop.opt, every=1, sample_seconds=0, budget=1e-6, heat_seconds=0,
                    quiet=True) as board:
        for _ in range(6):
            loop.step(board)
        st = _state(board)
    assert st["time_steps"]["step"] == 1  # the first sample spent the whole budget
    assert len(st["steps"]) == 6  # the cheap curves go on


def test_weight_norms_and_clipping_are_what_the_optimizer_saw():
    loop = _Loop(clip=1e-3)  # clips every step
    with live.serve(loop.params, loop.opt, every=2, quiet=True) as board:
        for _ in range(4):
            loop.step(board)
            norms = {n: float(np.linalg.norm(np.asarray(p.grad)))
                     for n, p in loop.params.items()}
            last_norm = loop.opt.last_grad_norm
        st = _state(board)
    assert st["clipped"] == [1, 2, 3, 4] and st["clip"] == 1e-3
    assert st["grad_norms"][-1] == pytest.approx(last_norm)
    assert [w[0] for w in st["weights"]] == [1, 3]
    assert set(st["weights"][0][1]) == set(loop.params)
    # the last step's norms (step 4) are not sampled; step 3's were recorded before step 4 ran
    assert st["weights"][-1][1] != norms


def test_without_an_optimizer_the_gradient_norm_comes_from_the_weights():
    loop = _Loop()
    with live.serve(loop.params, quiet=True) as board:
        loop.step(board)
        want = np.sqrt(sum(float(np.linalg.norm(np.asarray(p.grad))) ** 2
                           for p in loop.params.values()))
        st = _state(board)
    assert st["grad_norms"] == [pytest.approx(want, rel=1e-5)] and st["clipped"] == []


def test_a_second_client_sees_the_same_run():
    with live.serve(quiet=True) as board:
        for v in (3.0, 2.0, 1.0):
            board.log(v)
        got = []
        threads = [threading.Thread(target=lambda: got.append(_state(board))) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert len(got) == 2 and got[0]["losses"] == got[1]["losses"] == [3.0, 2.0, 1.0]


def test_a_stalled_client_holds_up_neither_training_nor_close():
    board = live.serve(quiet=True)
    stalled = socket.create_connection(("127.0.0.1", board.port))
    stalled.sendall(b"GET /state.json HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never finished
    done = threading.Event()

    def train():
        for k in range(200):
            board.log(1.0 / (k + 1))
        board.close()
        done.set()

    threading.Thread(target=train, daemon=True).start()
    assert done.wait(20), "log()/close() waited for a client"
    stalled.close()
    assert _port_is_free(board.port)


def test_a_client_gone_mid_answer_leaves_no_trace_and_the_server_serving(capfd):
    with live.serve(quiet=True) as board:
        for k in range(2000):
            board.log(float(k))
        for _ in range(5):  # ask for a long answer and hang up at once (a closed tab)
            s = socket.create_connection(("127.0.0.1", board.port))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.sendall(b"GET /state.json HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            s.close()
        assert _state(board)["count"] == 2000
    assert "Traceback" not in capfd.readouterr().err


def test_only_local_host_names_are_answered():
    with live.serve(quiet=True) as board:
        assert _get(board, "/state.json", host=f"localhost:{board.port}")[0] == 200
        with pytest.raises(urllib.error.HTTPError) as err:
            _get(board, "/state.json", host="attacker.example:80")
        assert err.value.code == 403


def test_a_port_in_use_gives_a_clear_message():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(live.PortInUse, match=f"port {port} on 127.0.0.1 is in use"):
            live.serve(port=port, quiet=True)


def test_close_frees_the_port_and_says_the_run_ended():
    board = live.serve(quiet=True)
    port = board.port
    board.log(1.0)
    assert _state(board)["done"] is False
    board.close(linger=0.2)
    assert _port_is_free(port)
    board.close()  # twice is fine
    with live.serve(port=port, quiet=True):  # the same port again
        pass


def test_a_watching_page_sees_the_end_before_the_server_stops():
    board = live.serve(quiet=True)
    board.log(1.0)
    _state(board)  # a page is watching
    seen = []

    def poll():
        time.sleep(0.3)
        seen.append(_state(board)["done"])

    t = threading.Thread(target=poll)
    t.start()
    board.close(linger=5)
    t.join(10)
    assert seen == [True]


def test_bad_arguments_are_refused_clearly():
    with pytest.raises(ValueError, match="live: port must be"):
        live.Board(port=70000)
    with pytest.raises(ValueError, match="live: every must be"):
        live.Board(every=0)
    with pytest.raises(ValueError, match="live: budget"):
        live.Board(budget=5)


# ---------------------------------------------------------------- the CLI

def test_cli_train_live_trains_exactly_as_without(tmp_path, capsys):
    from tinygrad_rnn.__main__ import main

    args = ["train", "--steps", "12", "--hidden", "6", "--seq-len", "5", "--batch", "4",
            "--log-every", "100"]
    assert main([*args, "--out", str(tmp_path / "plain")]) == 0
    assert main([*args, "--out", str(tmp_path / "live"), "--live"]) == 0
    out = capsys.readouterr().out
    assert "live: http://127.0.0.1:" in out
    plain = json.loads((tmp_path / "plain" / "metrics.json").read_text())
    lived = json.loads((tmp_path / "live" / "metrics.json").read_text())
    # Equal up to float32 rounding: on sampled steps backward runs with a hook (per-node norms),
    # and the engine then sums a weight's per-step gradient terms one by one instead of as one
    # product (the order of additions differs in the last bits).
    assert [r["loss"] for r in lived["log"]] == pytest.approx([r["loss"] for r in plain["log"]],
                                                              rel=1e-5)
    assert (tmp_path / "live" / "checkpoint.npz").exists()


def test_cli_live_with_tbptt_and_text(tmp_path, capsys):
    from tinygrad_rnn.__main__ import main

    assert main(["train", "--task", "copy", "--steps", "3", "--hidden", "4", "--seq-len", "4",
                 "--batch", "2", "--tbptt", "3", "--out", str(tmp_path), "--live",
                 "--log-every", "100"]) == 0


def test_cli_port_in_use_exits_2_with_the_message(tmp_path, capsys):
    from tinygrad_rnn.__main__ import main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["train", "--steps", "2", "--hidden", "4", "--seq-len", "3", "--out",
                     str(tmp_path), "--live", "--port", str(port)])
    assert code == 2
    assert f"error: live: port {port} on 127.0.0.1 is in use" in capsys.readouterr().err


def test_cli_port_without_live_is_refused(tmp_path, capsys):
    from tinygrad_rnn.__main__ import main

    assert main(["train", "--steps", "2", "--out", str(tmp_path), "--port", "8000"]) == 2
    assert "--port is the live page's port: add --live" in capsys.readouterr().err


def test_ctrl_c_stops_a_live_run_cleanly(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tinygrad_rnn", "train", "--live", "--steps", "1000000",
         "--hidden", "8", "--seq-len", "6", "--batch", "4", "--log-every", "1000000",
         "--out", str(tmp_path / "run")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        line = proc.stdout.readline()
        assert line.startswith("live: http://127.0.0.1:"), line + proc.stderr.read()
        url = line.split()[1]
        port = int(url.rsplit(":", 1)[1].strip("/"))
        for _ in range(200):  # until it has trained a few steps
            with urllib.request.urlopen(url + "state.json", timeout=10) as r:
                if json.loads(r.read())["count"] >= 5:
                    break
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted at step" in out and "Traceback" not in err
    saved = tg.load(tmp_path / "run" / "interrupted.npz")
    assert int(saved["step"]) >= 5
    assert _port_is_free(port)


def test_the_readme_loop_runs_as_written(capsys):
    import re

    readme = (ROOT / "README.md").read_text()
    block = next(b for b in re.findall(r"```python\n(.*?)```", readme, flags=re.S)
                 if "live.serve(" in b)
    body = ("x = tg.randn(4, 3)\n"
            "loss = (model(x) ** 2).mean()\n"
            "opt.zero_grad(); loss.backward(); opt.step()\n")
    lines = []
    for line in block.replace("range(1000)", "range(5)").splitlines():
        if line.strip().startswith("..."):
            indent = line[:len(line) - len(line.lstrip())]
            lines += [indent + b for b in body.splitlines()]
        else:
            lines.append(line)
    tg.manual_seed(0)
    model = nn.Linear(3, 2)
    namespace = {"tg": tg, "model": model, "opt": optim.SGD(model.parameters(), lr=0.1)}
    exec(compile("\n".join(lines), "README.md", "exec"), namespace)
    board = namespace["board"]
    assert board.steps == [1, 2, 3, 4, 5] and board.weights
    assert "live: http://127.0.0.1:" in capsys.readouterr().out


def test_the_overhead_benchmark_runs():
    # benchmarks/live_overhead.py measures the cost (a benchmark, not a timed test): here only
    # that its quick mode runs both kinds of run and prints its two figures
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "live_overhead.py"),
                          "--quick"], capture_output=True, text=True, timeout=300, check=True,
                         cwd=ROOT).stdout
    assert "round 1: plain" in out and "steps sampled" in out
    assert "median speed kept with the live page" in out
    assert "median cost of the board by its own account" in out


def test_a_pytorch_script_run_through_the_package_uses_the_same_call(tmp_path):
    script = tmp_path / "train_torch.py"
    script.write_text(
        "import torch\n"
        "from tinygrad_rnn import live\n"
        "model, head = torch.nn.LSTM(2, 4), torch.nn.Linear(4, 1)\n"
        "opt = torch.optim.Adam([*model.parameters(), *head.parameters()], lr=1e-2)\n"
        "with live.serve(model, opt, quiet=True) as board:\n"
        "    for step in range(3):\n"
        "        out, _ = model(torch.randn(5, 2, 2))\n"
        "        loss = ((head(out[-1]) - 1) ** 2).mean()\n"
        "        opt.zero_grad(); loss.backward(); opt.step()\n"
        "        board.log(loss)\n"
        "print(board.steps, sorted(board.time_steps['layers']), len(board.weights[0][1]))\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([sys.executable, "-m", "tinygrad_rnn", "run", str(script)], env=env,
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[1, 2, 3] ['lstm/l0'] 4"
