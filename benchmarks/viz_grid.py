"""How long the textbook grid of a long unrolled graph takes to draw, ``dot`` included.

    .venv/bin/python benchmarks/viz_grid.py [--steps 100] [--reps 3]

A 2-layer bidirectional LSTM (hidden 8) over ``--steps`` steps, backward done, then
``viz.draw_graph(loss, collapse="time")`` and Graphviz's layout to SVG, timed separately.
Prints the medians; the target is under 2 s for 100 steps. Not a test: timings vary by machine.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import tinygrad_rnn as tg
from tinygrad_rnn import nn, viz
from tinygrad_rnn.nn import functional as F


def build(steps, hidden=8, seed=0):
    tg.manual_seed(seed)
    lstm, head = nn.LSTM(2, hidden, num_layers=2, bidirectional=True), nn.Linear(2 * hidden, 1)
    x = tg.Tensor(np.random.default_rng(seed).standard_normal((steps, 4, 2)).astype(np.float32))
    out, _ = lstm(x)
    loss = F.mse_loss(head(out[-1]), tg.Tensor(np.ones((4, 1), np.float32)))
    with tg.track_grad_norms():
        loss.backward()
    return loss, {f"lstm.{k}": v for k, v in lstm.named_parameters()}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--reps", type=int, default=3)
    args = p.parse_args()
    loss, params = build(args.steps)
    n_ops = len(tg.graph_nodes(loss))
    draw, layout = [], []
    for _ in range(args.reps):
        t0 = time.perf_counter()
        graph = viz.draw_graph(loss, params=params, collapse="time")
        t1 = time.perf_counter()
        svg = graph.pipe(format="svg")
        t2 = time.perf_counter()
        draw.append(t1 - t0)
        layout.append(t2 - t1)
    total = [a + b for a, b in zip(draw, layout)]
    print(f"{args.steps}-step 2-layer bidirectional LSTM: {n_ops:,} ops, "
          f"{len(graph.tg_nodes)} drawn nodes, SVG {len(svg) / 1024:.0f} KiB")
    print(f"draw_graph {statistics.median(draw):.3f} s, dot {statistics.median(layout):.3f} s, "
          f"total {statistics.median(total):.3f} s (median of {args.reps}; target < 2 s)")


if __name__ == "__main__":
    main()
