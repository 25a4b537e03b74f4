"""Where a training step's time goes, primitive by primitive: every op's forward and backward
(and the engine's summed leaf products) timed inside one LSTM language-model step of
``backends.ours_layer`` (or ``ours_cell``), beside the numpy floor in the same process.

    .venv/bin/python benchmarks/op_profile.py [--size work|learning|quick] [--steps 10] [--cell]

Compare two commits by running it on each (``git stash`` / ``git checkout``); the numbers move
with the machine's load, so look at the ratio to the floor and at the shares, not at single
milliseconds. What is not inside an op ("outside ops") is the engine's bookkeeping, the Tensor
and module code around the ops, the loss's Python and the optimizer.
"""
from __future__ import annotations

import argparse
import collections
import os
import pathlib
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
SIZES = {"work": (32, 64, 256), "learning": (16, 32, 64), "quick": (4, 5, 8)}


def timed_ops(ops):
    """Wrap every primitive's forward and backward and the deferred-product sum with timers.
    Returns (seconds, calls) counters keyed by (op name, phase)."""
    seconds, calls = collections.Counter(), collections.Counter()

    def wrap(owner, attr, key, method=staticmethod):
        inner = getattr(owner, attr)

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                seconds[key] += time.perf_counter() - start
                calls[key] += 1
        setattr(owner, attr, method(timed))

    for cls in ops.Function.__subclasses__():
        wrap(cls, "forward", (cls.name, "forward"))
        wrap(cls, "backward", (cls.name, "backward"))
    # a leaf's products, stacked and multiplied a group at a time (tinygrad_rnn/products.py)
    from tinygrad_rnn.products import ProductSum
    wrap(ProductSum, "_close_group", ("leaf products", "summed"), method=lambda f: f)
    return seconds, calls


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", choices=sorted(SIZES), default="work")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--cell", action="store_true", help="the LSTMCell loop instead of nn.LSTM")
    p.add_argument("--top", type=int, default=15, help="rows to print")
    args = p.parse_args(argv)
    sys.path.insert(0, str(HERE.parent))
    sys.path.insert(0, str(HERE))
    import backends
    import tinygrad_rnn as tg
    from tinygrad_rnn import ops

    B, T, H = SIZES[args.size]
    step = (backends.ours_cell if args.cell else backends.ours_layer)(B, T, H)
    floor = backends.numpy_floor(B, T, H)
    step(), floor()  # warm up before the timers go in
    seconds, calls = timed_ops(ops)
    total = floor_total = 0.0
    for _ in range(args.steps):
        start = time.perf_counter()
        step()
        total += time.perf_counter() - start
        start = time.perf_counter()
        floor()
        floor_total += time.perf_counter() - start
    n = args.steps
    print(f"{'LSTMCell loop' if args.cell else 'nn.LSTM'} step, B={B} T={T} H={H}, "
          f"{os.environ.get('OPENBLAS_NUM_THREADS', 'default')} BLAS threads: "
          f"{total / n * 1e3:.1f} ms; numpy floor {floor_total / n * 1e3:.1f} ms "
          f"({total / floor_total:.2f}×)")
    print(f"  {'op':>14} {'phase':<9} {'ms/step':>8} {'calls/step':>11}")
    for key, s in seconds.most_common(args.top):
        print(f"  {key[0]:>14} {key[1]:<9} {s / n * 1e3:8.2f} {calls[key] / n:11.0f}")
    inside = sum(seconds.values())
    print(f"  inside ops {inside / n * 1e3:.1f} ms/step; outside ops (engine bookkeeping, "
          f"Tensor/module code, optimizer) {(total - inside) / n * 1e3:.1f} ms/step")
    return seconds, calls


if __name__ == "__main__":
    main()
