"""The demo behind ``make demo``: a tanh RNN, an LSTM and a GRU learn the adding problem.

Writes into the output folder:
- ``bptt_graph.svg``: the unrolled graph of a few LSTM steps, coloured by gradient size;
- ``grad_flow.png``: ‖∂L/∂h_t‖ against t for the three models, at initialisation and trained;
- ``loss_curves.png`` and ``metrics.json`` (every logged step of every model).
"""
from __future__ import annotations

import json
import pathlib

import numpy as np

from . import data, diagnostics, explorer, viz
from .models import SequenceModel
from .nn import functional as F
from .random import manual_seed
from .engine import Tensor, keep_values
from .train import TrainConfig, build, train

MODELS = ("rnn", "lstm", "gru")


def gradient_flow(model, seq_len, seed=0):
    """‖∂L/∂h_t‖ for t = 1..T on a batch of the adding problem (the model is not updated)."""
    x, y = data.adding_problem(64, seq_len, rng=np.random.default_rng(seed))
    out, _ = model.rnn(Tensor(x.astype(model.head.weight.dtype)))
    states = diagnostics.hidden_states(out)
    loss = F.mse_loss(model.head(out[-1]), Tensor(y))
    model.zero_grad()
    loss.backward()
    norms = diagnostics.grad_norms(states)
    model.zero_grad()
    return norms


def run_demo(out="out/demo", steps=1500, seq_len=30, seed=0, quiet=False):
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results, flows = {}, {}
    for name in MODELS:
        cfg = TrainConfig(task="adding", model=name, hidden=64, seq_len=seq_len, batch=32,
                          steps=steps, optimizer="adam", lr=1e-2 if name != "rnn" else 3e-3,
                          clip=1.0, seed=seed, out=str(out / name),
                          log_every=max(steps // 6, 1))
        _, initial, _ = build(cfg)
        flows[name] = {"init": gradient_flow(initial, seq_len)}
        print(f"== {name.upper()} on the adding problem, T={seq_len}", flush=True)
        metrics = train(cfg, quiet=quiet, progress_prefix=f"[{name}] ")
        trained = _load_trained(cfg)
        flows[name]["trained"] = gradient_flow(trained, seq_len)
        results[name] = metrics

    _print_table(results, seq_len)
    graph_path = _render_graph(out, seed)
    pictures = _plots(out, results, flows)
    summary = {name: {k: v for k, v in m.items() if k != "config"} for name, m in results.items()}
    for name in MODELS:
        summary[name]["grad_flow_init"] = flows[name]["init"].tolist()
        summary[name]["grad_flow_trained"] = flows[name]["trained"].tolist()
    (out / "metrics.json").write_text(json.dumps(summary, indent=1))
    print(f"wrote {graph_path}, {', '.join(str(p) for p in pictures)} and "
          f"{out / 'metrics.json'}")
    return results


def _load_trained(cfg):
    from . import checkpoint

    _, model, _ = build(cfg)
    model.load_state_dict(checkpoint.load(pathlib.Path(cfg.out) / "checkpoint.npz")["model"])
    return model


def _print_table(results, seq_len):
    print()
    print(f"adding problem, T={seq_len}: held-out MSE (always answering 1 scores 0.167)")
    print(f"{'model':<6} {'steps':>6} {'final MSE':>10} {'vs 0.167':>9} {'clipped':>8} {'time':>7}")
    for name, m in results.items():
        print(f"{name:<6} {m['steps']:>6} {m['eval_mse']:>10.4f} "
              f"{m['eval_mse'] / m['baseline_mse']:>8.1%} {m['clip_rate']:>8.0%} "
              f"{m['seconds']:>6.1f}s")
    print()


def _unrolled(cell, steps, layers, hidden, seed):
    """A small recurrent model unrolled ``steps`` steps on an adding-problem batch, forward
    (values kept for the explorer) and backward (visit order recorded)."""
    manual_seed(seed)
    model = SequenceModel(cell, hidden, 1, input_size=2, num_layers=layers, many_to_one=True)
    x, y = data.adding_problem(2, max(steps, 2), rng=np.random.default_rng(seed))
    with keep_values():
        pred, _ = model(Tensor(x))
        loss = F.mse_loss(pred, Tensor(y))
    with explorer.record_backward() as record:
        loss.backward()
    return loss, dict(model.named_parameters()), record


def render_unrolled(cell="lstm", steps=4, layers=1, hidden=8, collapse=None, seed=0):
    """Build a small recurrent model, unroll it ``steps`` steps on an adding-problem batch,
    backpropagate, and return the graphviz Digraph with gradient colours."""
    loss, params, _ = _unrolled(cell, steps, layers, hidden, seed)
    return viz.draw_graph(loss, params=params, collapse=collapse)


def explore_unrolled(path, cell="lstm", steps=4, layers=1, hidden=8, collapse=None, seed=0):
    """The same graph as :func:`render_unrolled` as an interactive explorer page with the
    backward replay (``explorer.explore``); returns the path written."""
    loss, params, record = _unrolled(cell, steps, layers, hidden, seed)
    title = f"{cell.upper()}, {steps} steps, hidden {hidden}: the graph and its backward"
    return explorer.explore(loss, path, collapse=collapse, params=params, record=record,
                            title=title)


def _render_graph(out, seed):
    graph = render_unrolled("lstm", steps=3, hidden=4, seed=seed)
    try:
        return viz.render(graph, out / "bptt_graph", format="svg")
    except RuntimeError as err:  # no Graphviz: keep the DOT source and say why
        path = out / "bptt_graph.dot"
        path.write_text(graph.source)
        print(f"note: {err}")
        return path


def _plots(out, results, flows):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("note: matplotlib is not installed; skipping the PNG plots")
        return []
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, when in zip(axes, ("init", "trained")):
        for name in MODELS:
            norms = flows[name][when]
            ax.semilogy(np.arange(1, len(norms) + 1), np.maximum(norms, 1e-30), label=name)
        ax.set_title(f"‖∂L/∂h_t‖ ({'at initialisation' if when == 'init' else 'trained'})")
        ax.set_xlabel("time step t")
        ax.legend()
    fig.tight_layout()
    flow_path = out / "grad_flow.png"
    fig.savefig(flow_path, dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, m in results.items():
        losses = np.array([r["loss"] for r in m["log"]])
        k = max(len(losses) // 50, 1)
        smooth = np.convolve(losses, np.ones(k) / k, mode="valid")
        ax.semilogy(np.arange(len(smooth)) + k, smooth, label=name)
    ax.axhline(1 / 6, color="grey", linestyle="--", label="always 1 (0.167)")
    ax.set_xlabel("step")
    ax.set_ylabel("training MSE")
    ax.legend()
    fig.tight_layout()
    loss_path = out / "loss_curves.png"
    fig.savefig(loss_path, dpi=100)
    plt.close(fig)
    return [flow_path, loss_path]
