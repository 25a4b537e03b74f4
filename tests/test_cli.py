"""The command line: train, resume bit for bit, sample, render, demo, bad arguments, Ctrl-C."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import train as train_module
from tinygrad_rnn.__main__ import main


def run(*args):
    return main([str(a) for a in args])


def test_train_writes_checkpoint_and_metrics(tmp_path, capsys):
    assert run("train", "--steps", 6, "--seq-len", 6, "--hidden", 8, "--batch", 4,
               "--log-every", 3, "--out", tmp_path) == 0
    out = capsys.readouterr().out
    assert "step 3/6" in out and "|g|" in out and "steps/s" in out
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["steps"] == 6 and len(metrics["log"]) == 6 and "eval_mse" in metrics
    assert tg.load(tmp_path / "checkpoint.npz")["step"] == 6


@pytest.mark.parametrize("task, extra", [("adding", ["--model", "gru"]),
                                         ("copy", ["--model", "rnn", "--tbptt", "4"]),
                                         ("text", ["--tbptt", "8"])])
def test_resume_continues_bit_for_bit(tmp_path, task, extra):
    common = ["train", "--task", task, "--seq-len", 6, "--hidden", 8, "--batch", 4,
              "--log-every", 100, *extra]
    run(*common, "--steps", 8, "--out", tmp_path / "straight")
    run(*common, "--steps", 4, "--out", tmp_path / "half")
    run("train", "--resume", tmp_path / "half" / "checkpoint.npz", "--steps", 8,
        "--out", tmp_path / "resumed")
    a = tg.load(tmp_path / "straight" / "checkpoint.npz")
    b = tg.load(tmp_path / "resumed" / "checkpoint.npz")
    assert a["step"] == b["step"] == 8
    for k in a["model"]:
        np.testing.assert_array_equal(a["model"][k], b["model"][k], err_msg=k)


def test_sample_from_a_character_model(tmp_path, capsys):
    run("train", "--task", "text", "--steps", 3, "--hidden", 8, "--batch", 4, "--seq-len", 8,
        "--out", tmp_path)
    capsys.readouterr()
    assert run("sample", "--checkpoint", tmp_path / "checkpoint.npz", "--prompt", "The",
               "--length", 40) == 0
    text = capsys.readouterr().out
    assert text.startswith("The") and len(text.rstrip("\n")) == 43


def test_sample_refuses_a_non_text_checkpoint(tmp_path, capsys):
    run("train", "--steps", 2, "--hidden", 4, "--seq-len", 4, "--out", tmp_path)
    assert run("sample", "--checkpoint", tmp_path / "checkpoint.npz") == 2
    assert "sampling needs a character model" in capsys.readouterr().err


def test_render_writes_an_svg(tmp_path):
    assert run("render", "--cell", "gru", "--steps", 3, "--out", tmp_path / "g") == 0
    assert (tmp_path / "g.svg").read_text().startswith("<?xml")
    assert run("render", "--steps", 20, "--layers", 2, "--collapse", "time", "--format", "dot",
               "--out", tmp_path / "c") == 0
    assert "l1 t19" in (tmp_path / "c.dot").read_text()


def test_every_option_has_a_help_line_that_shows_its_default():
    import argparse
    from tinygrad_rnn.__main__ import _parser
    parser = _parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for name, command in sub.choices.items():
        text = command.format_help()
        for action in command._actions:
            if not action.option_strings or action.default is argparse.SUPPRESS:
                continue
            assert action.help, f"{name} {action.option_strings[0]}: no help line"
            shown = command._get_formatter()._expand_help(action)  # the line --help prints
            assert "default" in shown or "required" in shown, (name, shown)
        assert "training steps per model (default: 1500)" in text or name != "demo"


def test_render_commands_do_not_overwrite_each_other(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run("render", "--cell", "gru", "--steps", 2, "--format", "dot") == 0
    assert run("render", "--cell", "gru", "--steps", 3, "--format", "dot") == 0
    assert run("render", "--cell", "gru", "--steps", 3, "--format", "dot", "--collapse",
               "time") == 0
    written = sorted(p.name for p in (tmp_path / "out" / "render").iterdir())
    assert written == ["gru_T2_L1_H8.dot", "gru_T3_L1_H8.dot", "gru_T3_L1_H8_time.dot"]


def test_plateau_exit_is_the_step_after_which_the_loss_stays_below_half_the_baseline():
    from tinygrad_rnn.demo import plateau_exit
    steps = np.arange(10, 70, 10)
    assert plateau_exit(steps, [0.2, 0.2, 0.01, 0.2, 0.01, 0.01], 1 / 6) == 50  # left, came back
    assert plateau_exit(steps[:3], [0.01] * 3, 1 / 6) == 10
    assert plateau_exit(steps[:3], [0.01, 0.01, 0.2], 1 / 6) is None  # not below at the end


def test_demo_in_a_fast_mode_writes_every_output(tmp_path, capsys):
    assert run("demo", "--steps", 4, "--seq-len", 5, "--out", tmp_path, "--quiet") == 0
    out = capsys.readouterr().out
    assert "held-out MSE" in out and "lstm" in out
    table = out[out.index("held-out MSE"):].splitlines()[2:6]
    # the table follows the training order (the forget-bias-1 LSTM trains right after the
    # LSTM), and each row says what its MSE means
    assert [row.split("  ")[0].strip() for row in table] == ["rnn", "lstm",
                                                            "lstm, forget bias 1", "gru"]
    assert all("learned" in row for row in table)
    for name in ("bptt_graph.svg", "grad_flow.png", "loss_curves.png", "metrics.json"):
        assert (tmp_path / name).exists(), name
    svg = (tmp_path / "bptt_graph.svg").read_text()
    # a title, the loss named, a key with a bin for exactly 0 and the edge labels explained,
    # and the recurrent weight drawn once
    assert "LSTM unrolled over 3 steps" in svg and "loss L (MSE)" in svg
    from tinygrad_rnn.viz import ZERO_COLOR
    assert "‖grad‖" in svg and "argument position" in svg and ZERO_COLOR in svg
    assert svg.count("rnn.weight_hh_l0") == 1
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert set(metrics) == {"rnn", "lstm", "gru"}
    assert len(metrics["gru"]["grad_flow_trained"]) == 5


@pytest.mark.parametrize("args, message", [
    (["train", "--model", "transformer"], "invalid choice: 'transformer'"),
    (["train", "--lr", "-1"], "expected a positive number"),
    (["train", "--steps", "0"], "expected a positive integer"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_arguments_exit_2_with_a_message(args, message):
    proc = subprocess.run([sys.executable, "-m", "tinygrad_rnn", *args], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2
    assert message in proc.stderr


def test_missing_checkpoint_is_a_clear_error(tmp_path, capsys):
    assert run("train", "--resume", tmp_path / "nope.npz") == 2
    assert "no checkpoint at" in capsys.readouterr().err


def test_ctrl_c_saves_a_checkpoint_first(tmp_path, monkeypatch, capsys):
    calls = {"n": 0}
    original = train_module._forward_backward

    def interrupted(*args):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(*args)
    monkeypatch.setattr(train_module, "_forward_backward", interrupted)
    assert run("train", "--steps", 10, "--hidden", 4, "--seq-len", 4, "--out", tmp_path) == 130
    saved = tg.load(tmp_path / "interrupted.npz")
    assert saved["step"] == 2
    assert "checkpoint saved" in capsys.readouterr().out


def test_resume_with_more_steps_extends_the_run(tmp_path):
    common = ["--seq-len", 6, "--hidden", 8, "--batch", 4, "--log-every", 100]
    run("train", *common, "--steps", 3, "--out", tmp_path / "a")
    assert run("train", "--resume", tmp_path / "a" / "checkpoint.npz", "--steps", 1000 // 100,
               "--out", tmp_path / "b") == 0
    assert tg.load(tmp_path / "b" / "checkpoint.npz")["step"] == 10
    # --steps 1000 is not mistaken for "not given" (it used to be the default)
    assert run("train", "--resume", tmp_path / "b" / "checkpoint.npz", "--steps", 12,
               "--out", tmp_path / "c") == 0
    assert tg.load(tmp_path / "c" / "checkpoint.npz")["step"] == 12
    # without --steps: the checkpoint's own total, so nothing more happens
    assert run("train", "--resume", tmp_path / "c" / "checkpoint.npz", "--out", tmp_path / "d") == 0
    assert tg.load(tmp_path / "d" / "checkpoint.npz")["step"] == 12


def test_the_default_1000_steps_when_resuming_is_honoured(tmp_path, monkeypatch):
    seen = {}
    monkeypatch.setattr(train_module, "train", lambda cfg, resume=None: seen.update(
        steps=cfg.steps) or {"log": [], "config": {}})
    ckpt = tmp_path / "ckpt.npz"
    train_module._checkpoint(ckpt, train_module.TrainConfig(steps=20, out=str(tmp_path)), 20,
                             *train_module.build(train_module.TrainConfig(steps=20))[:3], [])
    run("train", "--resume", ckpt, "--steps", 1000)
    assert seen["steps"] == 1000


def test_sample_refuses_a_checkpoint_not_written_by_train(tmp_path, capsys):
    path = tg.save({"model": {"w": np.ones(2)}}, tmp_path / "weights.npz")
    assert run("sample", "--checkpoint", path) == 2
    assert "not one written by `python -m tinygrad_rnn train`" in capsys.readouterr().err


def test_a_bidirectional_character_model_is_refused(tmp_path, capsys):
    assert run("train", "--task", "text", "--bidirectional", "--steps", 2, "--out", tmp_path) == 2
    err = capsys.readouterr().err
    assert "--bidirectional does not fit --task text" in err
    assert not (tmp_path / "checkpoint.npz").exists()
