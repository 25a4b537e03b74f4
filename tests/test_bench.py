"""The benchmark harness: every path runs, every backend does the same work, memory per step.

No timing is asserted anywhere (timings belong to the benchmark's output, not to pass/fail)."""
from __future__ import annotations

import importlib
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"


@pytest.fixture(scope="module")
def bench_modules():
    """benchmarks/backends.py and benchmarks/memory.py, imported as the runner imports them."""
    sys.path.insert(0, str(BENCH))
    try:
        yield importlib.import_module("backends"), importlib.import_module("memory")
    finally:
        sys.path.remove(str(BENCH))


def test_quick_run_every_section_writes_json_and_losses_agree(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, str(BENCH / "bench.py"), "--quick", "--json", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    results = json.loads(out.read_text())
    row = results["lstm"]["quick"]
    for name in ("ours-lstm", "ours-cell", "numpy-floor", "numpy-lstm", "numpy-inplace"):
        assert "seconds" in row[name], row[name]
        assert row[name]["seconds"] > 0
    assert "tinygrad" not in row  # --quick leaves the minutes-long compile out unless named
    losses = {n: r["first_loss"] for n, r in row.items() if r.get("first_loss") is not None}
    assert len(losses) >= 3
    ref = losses["numpy-lstm"]
    assert ref == pytest.approx(np.log(65), abs=0.3)  # near-uniform prediction at the start
    for name, loss in losses.items():
        assert loss == pytest.approx(ref, abs=1e-5), name
    assert results["lstm"]["quick_loss_check"]["differ"] == []
    if "GLIBC_TUNABLES" not in os.environ:  # every backend ran with the same steady allocator
        assert "glibc.malloc.trim_threshold" in results["machine"]["GLIBC_TUNABLES"]
    for label in ("ours nn.LSTM / numpy floor", "ours nn.LSTM / numpy hand-written LSTM"):
        assert results["lstm"]["quick_ratios"][label] > 0
    for kind in ("LSTM", "GRU", "RNN"):
        assert results["memory"][kind]["bytes_per_step"] > 0
    for section in ("overhead", "depth", "leak"):
        assert section in results
    table = subprocess.run([sys.executable, str(BENCH / "to_markdown.py"), str(out)],
                           capture_output=True, text=True, timeout=60)
    assert table.returncode == 0, table.stderr
    assert "| nn.LSTM |" in table.stdout and "per-op overhead" in table.stdout


def test_only_selects_backends_and_sections(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, str(BENCH / "bench.py"), "--quick", "--only",
                           "numpy-lstm,ours-lstm", "--json", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    results = json.loads(out.read_text())
    assert set(results["lstm"]["quick"]) == {"numpy-lstm", "ours-lstm"}
    assert not {"overhead", "memory", "depth", "leak"} & set(results)


def test_only_rejects_unknown_names():
    proc = subprocess.run([sys.executable, str(BENCH / "bench.py"), "--quick", "--only",
                           "lstm,pytorch"], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "unknown name(s) ['pytorch']" in proc.stderr
    assert "torch-lstm" in proc.stderr  # lists the valid backends


def test_hand_written_numpy_lstm_gradients_match_ours(bench_modules):
    """The numpy lower bound computes the same loss and gradients as our nn.LSTM + Linear."""
    import tinygrad_rnn as tg
    from tinygrad_rnn import nn
    from tinygrad_rnn.nn import functional as F

    backends, _ = bench_modules
    B, T, H, V = 3, 5, 6, backends.V
    x, y = backends.make_data(B, T, seed=1)
    w = {k: a.astype(np.float64) for k, a in backends.init_weights(H, seed=2).items()}
    loss, grads = backends.numpy_loss_and_grads(w, x.astype(np.float64), y)

    lstm, head = nn.LSTM(V, H).double(), nn.Linear(H, V).double()
    lstm.load_state_dict({"weight_ih_l0": w["w_ih"], "weight_hh_l0": w["w_hh"],
                          "bias_ih_l0": w["b_ih"], "bias_hh_l0": w["b_hh"]})
    head.load_state_dict({"weight": w["w_out"], "bias": w["b_out"]})
    out, _ = lstm(tg.Tensor(x.astype(np.float64)))
    ours = F.cross_entropy(head(out).reshape(T * B, V), y)
    ours.backward()
    assert loss == pytest.approx(ours.item(), rel=1e-12)
    pairs = {"w_ih": lstm.weight_ih_l0, "w_hh": lstm.weight_hh_l0, "b_ih": lstm.bias_ih_l0,
             "b_hh": lstm.bias_hh_l0, "w_out": head.weight, "b_out": head.bias}
    for k, p in pairs.items():
        np.testing.assert_allclose(grads[k], p.grad, rtol=1e-9, atol=1e-12, err_msg=k)


def test_row_product_numpy_lstm_computes_the_same_step(bench_modules):
    """numpy-lstm-rows only changes the layout of h W_hhᵀ: same loss and gradients (float64,
    to rounding), and the recurrent product really is taken the other way round."""
    backends, _ = bench_modules
    B, T, H = 3, 5, 16  # 8·B ≤ 4H: the layout ours switches to
    x, y = backends.make_data(B, T, seed=1)
    w = {k: a.astype(np.float64) for k, a in backends.init_weights(H, seed=2).items()}
    x = x.astype(np.float64)
    loss, grads = backends.numpy_loss_and_grads(w, x, y)
    loss_r, grads_r = backends.numpy_loss_and_grads(w, x, y, row_product=True)
    assert loss_r == pytest.approx(loss, rel=1e-13)
    for k in grads:
        np.testing.assert_allclose(grads_r[k], grads[k], rtol=1e-10, atol=1e-13, err_msg=k)
    assert "numpy-lstm-rows" in backends.BACKENDS
    assert backends.BACKENDS["numpy-lstm-rows"][1](2, 3, 8)() == pytest.approx(
        backends.numpy_lstm(2, 3, 8)(), rel=1e-6)


def test_in_place_numpy_lstm_matches_the_plain_one_twice(bench_modules):
    """The speed-written numpy LSTM (preallocated buffers, out=) gives the plain version's loss
    and gradients, also on its second call, when its buffers hold the first call's values."""
    backends, _ = bench_modules
    B, T, H = 3, 5, 6
    x, y = backends.make_data(B, T, seed=1)
    w = {k: a.astype(np.float64) for k, a in backends.init_weights(H, seed=2).items()}
    x = x.astype(np.float64)
    loss, grads = backends.numpy_loss_and_grads(w, x, y)
    bufs = {k: np.full(shape, np.nan) for k, shape in (
        ("gx", (T, B, 4 * H)), ("acts", (T, B, 4 * H)), ("tcs", (T, B, H)),
        ("dG", (T, B, 4 * H)), ("tmp", (B, H)))}
    bufs.update(hs=np.zeros((T + 1, B, H)), cs=np.zeros((T + 1, B, H)))
    for _ in range(2):
        loss2, grads2 = backends.numpy_inplace_loss_and_grads(w, x, y, bufs)
        assert loss2 == pytest.approx(loss, rel=1e-12)
        for k in grads:
            np.testing.assert_allclose(grads2[k], grads[k], rtol=1e-10, atol=1e-13, err_msg=k)


def test_op_profile_times_every_primitive_of_a_step(bench_modules, capsys):
    op_profile = importlib.import_module("op_profile")
    from tinygrad_rnn import ops
    saved = {cls: (cls.__dict__["forward"], cls.__dict__["backward"])
             for cls in ops.Function.__subclasses__()}
    from tinygrad_rnn.products import ProductSum
    close_group = ProductSum.__dict__["_close_group"]
    try:
        seconds, calls = op_profile.main(["--size", "quick", "--steps", "2"])
    finally:  # the profiler wraps the primitives in place: put them back for the other tests
        for cls, (fwd, bwd) in saved.items():
            cls.forward, cls.backward = fwd, bwd
        ProductSum._close_group = close_group
    T = op_profile.SIZES["quick"][1]
    assert calls[("sigmoid", "forward")] == 2 * 3 * T  # three gates a step, two steps
    assert calls[("linear", "backward")] == calls[("linear", "forward")] == 2 * (T + 2)
    assert calls[("leaf products", "summed")] > 0
    assert all(s > 0 for s in seconds.values())
    assert "outside ops" in capsys.readouterr().out


def test_numpy_adam_matches_ours(bench_modules):
    """Clipping + Adam of the numpy backends is our optim.Adam(max_grad_norm=1.0)."""
    import tinygrad_rnn as tg
    from tinygrad_rnn import optim

    backends, _ = bench_modules
    rng = np.random.default_rng(0)
    params = {k: rng.standard_normal((3, 4)) for k in ("a", "b")}
    ours = {k: tg.Tensor(p.copy(), requires_grad=True) for k, p in params.items()}
    opt = optim.Adam(list(ours.values()), lr=backends.LR, max_grad_norm=backends.MAX_NORM)
    m = {k: np.zeros_like(p) for k, p in params.items()}
    v = {k: np.zeros_like(p) for k, p in params.items()}
    for t in (1, 2, 3):
        grads = {k: rng.standard_normal((3, 4)) * 2 for k in params}  # norm > 1: clipping acts
        backends.numpy_adam(params, grads, m, v, t)
        for k, p in ours.items():
            p.grad = tg.tensor(grads[k])
        opt.step()
    for k in params:
        np.testing.assert_allclose(params[k], ours[k].numpy(), rtol=1e-6, atol=1e-9)


def test_memory_per_step_positive_and_below_what_backward_needs_twice(bench_modules):
    _, memory = bench_modules
    B, H = 32, 128
    for kind in ("LSTM", "GRU", "RNN"):
        r = memory.memory_per_step(kind, B=B, H=H, lengths=(8, 16))
        assert r["bytes_per_step"] > 0, kind
        assert r["held"][16] > r["held"][8] > 0
        assert r["mib_per_step"] == r["bytes_per_step"] / 2**20
    # The LSTM graph must not hold much more than backward needs: twice the arrays it cannot do
    # without (7 of B×H) plus the output it returns, and 32 KiB a step for the node objects.
    lstm = memory.memory_per_step("LSTM", B=B, H=H, lengths=(8, 16))
    bound = 2 * (memory.minimum_bytes_per_step("LSTM", B, H) + B * H * 4) + 32 * 1024
    assert lstm["bytes_per_step"] < bound, (lstm["bytes_per_step"], bound)


def test_memory_per_step_rejects_bad_arguments(bench_modules):
    _, memory = bench_modules
    with pytest.raises(ValueError, match="memory_per_step: kind must be one of"):
        memory.memory_per_step("Transformer", B=2, H=4)
    with pytest.raises(ValueError, match="lengths must be two increasing"):
        memory.memory_per_step("LSTM", B=2, H=4, lengths=(8, 4))


def test_checkpointed_bptt_keeps_a_fraction_of_the_graph_with_bit_equal_gradients(bench_modules):
    """memory.checkpoint_memory_and_time at a small size: the checkpointed LSTM's graph holds
    the states every k steps, not every step's activations; the gradients are the same bits.
    (Its times are reported, never asserted.)"""
    _, memory = bench_modules
    r = memory.checkpoint_memory_and_time("LSTM", T=96, B=16, H=64, every=16, repeats=1)
    assert r["gradients_bit_equal"]
    assert 0 < r["checkpointed"]["graph_bytes"] < r["plain"]["graph_bytes"] / 8, r
    assert r["plain"]["step_seconds"] > 0 and r["checkpointed"]["step_seconds"] > 0
    assert r["cpu_time_ratio"] == pytest.approx(r["checkpointed"]["cpu_step_seconds"]
                                                / r["plain"]["cpu_step_seconds"])
    gru = memory.checkpoint_memory_and_time("GRU", T=40, B=4, H=16, every=8, repeats=1)
    assert gru["gradients_bit_equal"] and gru["memory_ratio"] < 0.5, gru


def test_checkpoint_benchmark_command_line_writes_json(tmp_path):
    out = tmp_path / "ckpt.json"
    proc = subprocess.run([sys.executable, str(BENCH / "memory.py"), "--T", "12", "--B", "2",
                           "--H", "8", "--every", "4", "--repeats", "1", "--json", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert result["every"] == 4 and result["gradients_bit_equal"] is True
    assert result["checkpointed"]["graph_bytes"] < result["plain"]["graph_bytes"]


def test_interleaved_ab_runs_every_backend(bench_modules, capsys):
    interleaved = importlib.import_module("interleaved")
    results = interleaved.main(["--size", "quick", "--steps", "2",
                                "--backends", "ours-lstm,ours-jit,numpy-lstm"])
    assert set(results) == {"ours-lstm", "ours-jit", "numpy-lstm"}
    assert all(r["cpu_ms"] >= 0 and r["wall_min_ms"] > 0 for r in results.values())
    assert "/ numpy-lstm" in capsys.readouterr().out
