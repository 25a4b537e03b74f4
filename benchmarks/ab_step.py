"""Same-process A/B of a training step between two copies of the package: this checkout and a
base commit (extract it with ``git archive <commit> tinygrad_rnn | tar -x -C /tmp/base``).

    .venv/bin/python benchmarks/ab_step.py --base /tmp/base [--sizes learning,work] [--rounds 15]

Both packages are imported side by side under different names; a step is ``nn.LSTM`` (or
``nn.GRU``) forward over one-hot characters, a linear head, cross-entropy, backward and Adam,
from the same weights and data. Rounds interleave the variants (in alternating order) and the
figures are medians, so load on a shared machine hits both alike; ``--cpu`` times CPU seconds of
this process (``time.process_time``; with ``OPENBLAS_NUM_THREADS=1`` waiting for a core does not
count). Prints ms/step and new/base.
"""
from __future__ import annotations

import argparse
import importlib.util
import pathlib
import statistics
import sys
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
SIZES = {"work": (32, 64, 256), "learning": (16, 32, 64), "quick": (4, 5, 8)}
V = 65


def load(directory, alias):
    """Import the ``tinygrad_rnn`` package found in ``directory`` as module ``alias``."""
    root = pathlib.Path(directory) / "tinygrad_rnn"
    spec = importlib.util.spec_from_file_location(alias, root / "__init__.py",
                                                  submodule_search_locations=[str(root)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[alias] = module
    spec.loader.exec_module(module)
    for sub in ("nn", "nn.functional", "optim"):
        importlib.import_module(f"{alias}.{sub}")
    return module


clock = time.perf_counter


def make_step(tg, model, B, T, H, seed=0, backward_only=False):
    rng = np.random.default_rng(seed)
    x = np.eye(V, dtype=np.float32)[rng.integers(0, V, (T, B))]
    y = tg.Tensor(rng.integers(0, V, T * B))
    tg.manual_seed(seed)
    rnn = (tg.nn.LSTM if model == "lstm" else tg.nn.GRU)(V, H)
    head = tg.nn.Linear(H, V)
    opt = tg.optim.Adam([*rnn.parameters(), *head.parameters()], lr=1e-3, max_grad_norm=1.0)
    xt = tg.Tensor(x)

    def step():
        opt.zero_grad()
        out, _ = rnn(xt)
        loss = tg.nn.functional.cross_entropy(head(out).reshape(T * B, V), y)
        loss.backward()
        opt.step()
        return loss.item()

    def backward_step():  # the forward untimed: returns the seconds backward() took
        out, _ = rnn(xt)
        loss = tg.nn.functional.cross_entropy(head(out).reshape(T * B, V), y)
        start = clock()
        loss.backward()
        return clock() - start
    return backward_step if backward_only else step


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--base", required=True, help="directory holding the base tinygrad_rnn/")
    p.add_argument("--sizes", default="learning,work")
    p.add_argument("--models", default="lstm")
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--steps", type=int, default=3, help="steps timed per round")
    p.add_argument("--backward-only", action="store_true", help="time loss.backward() alone")
    p.add_argument("--cpu", action="store_true", help="CPU time of the process, not wall time")
    args = p.parse_args(argv)
    global clock
    clock = time.process_time if args.cpu else time.perf_counter
    variants = {"base": load(args.base, "tg_base"), "new": load(HERE.parent, "tg_new")}
    for v in variants.values():
        v.track_grad_norms(False)
    for model in args.models.split(","):
        for size in args.sizes.split(","):
            B, T, H = SIZES[size]
            steps = {name: make_step(tg, model, B, T, H, backward_only=args.backward_only)
                     for name, tg in variants.items()}
            losses = {name: step() for name, step in steps.items()}  # warm up; same work?
            assert args.backward_only or abs(losses["base"] - losses["new"]) < 1e-4, losses
            times = {name: [] for name in steps}
            for r in range(args.rounds):
                order = list(steps) if r % 2 == 0 else list(steps)[::-1]
                for name in order:
                    start = clock()
                    inside = sum(steps[name]() for _ in range(args.steps))
                    total = inside if args.backward_only else clock() - start
                    times[name].append(total / args.steps)
            base, new = (statistics.median(times[n]) * 1e3 for n in ("base", "new"))
            what = ("backward" if args.backward_only else "step") + (" cpu" if args.cpu else "")
            print(f"{model} {what} {size} B={B} T={T} H={H}: base {base:.2f} ms, new {new:.2f} ms, "
                  f"new/base {new / base:.3f}  (medians of {args.rounds} interleaved rounds of "
                  f"{args.steps} steps)", flush=True)


if __name__ == "__main__":
    main()
