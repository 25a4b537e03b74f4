"""A/B of training-step backends in one process, interleaved step by step.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/interleaved.py --size learning \\
        --backends ours-lstm,ours-jit,numpy-lstm --steps 200

``bench.py`` runs each backend in its own process, a few steps at a time; on a machine shared
with other work the load changes between those windows. Here every backend takes one step in
turn, so a busy spell hits all of them alike, and the ratios are steadier (the price: the
backends share one process — do not mix in PyTorch, whose loading slows numpy's BLAS). Prints
per backend the median CPU time of this process per step (with the 10th and 90th percentiles)
and the median and fastest wall time, and the ratios to the last backend named.

``--batches N`` (ours-lstm and ours-jit only) cycles through N batches, so the targets change at
every step as in a real training loop; the jitted step still replays (and says how often it
captured):

    .venv/bin/python benchmarks/interleaved.py --backends ours-jit,ours-lstm --batches 8
"""
from __future__ import annotations

import argparse
import pathlib
import sys
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
SIZES = {"learning": dict(B=16, T=32, H=64), "work": dict(B=32, T=64, H=256),
         "quick": dict(B=2, T=3, H=4)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", choices=sorted(SIZES), default="learning")
    p.add_argument("--backends", default="ours-lstm,ours-jit,numpy-lstm",
                   help="comma-separated backend names of backends.py; ratios are to the last")
    p.add_argument("--steps", type=int, default=200, help="timed steps per backend")
    p.add_argument("--batches", type=int, default=1,
                   help="new data (and targets) at every step, cycling through this many batches")
    args = p.parse_args(argv)
    sys.path.insert(0, str(HERE.parent))
    sys.path.insert(0, str(HERE))
    from backends import BACKENDS

    names = args.backends.split(",")
    extra = {"batches": args.batches} if args.batches > 1 else {}
    if extra and not set(names) <= {"ours-lstm", "ours-jit"}:
        p.error("--batches: only the backends ours-lstm and ours-jit take new batches")
    steps = {n: BACKENDS[n][1](**SIZES[args.size], **extra) for n in names}
    for n in names:  # the first steps: a capture, first allocations
        for _ in range(3):
            steps[n]()
    cpu, wall = {n: [] for n in names}, {n: [] for n in names}
    for _ in range(args.steps):
        for n in names:
            t, c = time.perf_counter(), time.process_time()
            steps[n]()
            cpu[n].append(time.process_time() - c)
            wall[n].append(time.perf_counter() - t)
    ref = names[-1]
    results = {}
    print(f"{args.size} size {SIZES[args.size]}, {args.steps} steps each, interleaved"
          + (f", {args.batches} batches in turn" if extra else ""))
    for n in names:
        c, w = np.array(cpu[n]) * 1e3, np.array(wall[n]) * 1e3
        results[n] = {"cpu_ms": float(np.median(c)), "wall_ms": float(np.median(w)),
                      "wall_min_ms": float(w.min())}
        print(f"  {n:<14} CPU {np.median(c):8.2f} ms (p10 {np.percentile(c, 10):7.2f}, p90 "
              f"{np.percentile(c, 90):7.2f})   wall {np.median(w):8.2f} ms (fastest "
              f"{w.min():7.2f})   / {ref}: CPU {np.median(c) / np.median(cpu[ref]) / 1e3:.2f}×, "
              f"fastest wall {w.min() / min(wall[ref]) / 1e3:.2f}×")
        if hasattr(steps[n], "jit"):
            print(f"  {'':<14} {steps[n].jit.captures} capture(s), {steps[n].jit.replays} replays")
    return results


if __name__ == "__main__":
    main()
