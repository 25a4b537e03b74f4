"""What the live training page costs: training speed with and without it, at the learning size.

    python benchmarks/live_overhead.py                 # B16 T32 H64 LSTM, 300 steps × 8 rounds
    python benchmarks/live_overhead.py --steps 200 --rounds 3
    python benchmarks/live_overhead.py --quick         # tiny, to check the script runs

Each round trains the same model from the same seed twice — plain, and with ``live.serve`` and a
page polling it once a second (a thread standing in for a browser tab: it fetches ``state.json``
and each new graph picture) — in alternating order, in this process. Times are the process's CPU
time (``time.process_time``: the server's threads included, other programs on a shared machine
not) over the training loop only (the server's start and stop are outside). It prints steps/s of each run, the median
of the per-round ratios, and how many steps were sampled and pictures drawn. The target is an
overhead ≤ 5% (the board's default budget is 3% of the run's time).

numpy's BLAS runs on one thread here (``OPENBLAS_NUM_THREADS=1`` etc. unless set): on a busy
2-core machine a multi-threaded BLAS makes the step's few large products (backward sums a
weight's per-step terms as one product) several times slower or faster from one run to the next,
which drowns the page's cost; and a sampled step, whose backward runs a hook, takes its products
one step at a time.
"""
from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import json
import statistics
import sys
import threading
import time
import urllib.request

import tinygrad_rnn as tg
from tinygrad_rnn import live
from tinygrad_rnn.train import TrainConfig, build


def _tab(board, stop):
    """A page's polling: state.json every second, heat.svg when a new picture is there."""
    since = version = 0
    while not stop.wait(1.0):
        try:
            with urllib.request.urlopen(f"{board.url}state.json?since={since}", timeout=5) as r:
                st = json.loads(r.read())
            since = st["count"]
            if st["heat"] and st["heat"]["version"] != version:
                version = st["heat"]["version"]
                with urllib.request.urlopen(f"{board.url}heat.svg", timeout=5) as r:
                    r.read()
        except OSError:
            return


def run(cfg, steps, with_live):
    """Seconds for ``steps`` training steps; with the live page: also (samples, pictures)."""
    task, model, opt = build(cfg)
    batches = task.batches()
    board = stop = tab = None
    quiet = tg.track_grad_norms(False)  # as train() does, before the board starts
    if with_live:
        board = live.serve(model, opt, quiet=True)
        task.keep_loss = True
        stop = threading.Event()
        tab = threading.Thread(target=_tab, args=(board, stop), daemon=True)
        tab.start()
    t0 = time.process_time()
    for step in range(1, steps + 1):
        x, y = next(batches)
        opt.zero_grad()
        loss, _ = task.train_step(model, x, y, None)
        opt.step()
        if board is not None:
            board.log(loss, step=step, graph=task.last_loss)
            task.last_loss = None
    seconds = time.process_time() - t0
    if board is None:
        quiet.__exit__()
        return seconds, None
    stop.set()
    tab.join(10)
    heat = board.heat
    board.close(linger=0)
    quiet.__exit__()
    return seconds, {"samples": board.samples, "pictures": heat["version"] if heat else 0}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--seq-len", type=int, default=32)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--model", default="lstm", choices=["rnn", "lstm", "gru"])
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--quick", action="store_true", help="tiny sizes, one round")
    args = p.parse_args(argv)
    if args.quick:
        args.batch, args.seq_len, args.hidden, args.steps, args.rounds = 2, 4, 4, 20, 1
    cfg = TrainConfig(task="adding", model=args.model, batch=args.batch, seq_len=args.seq_len,
                      hidden=args.hidden, out="unused")
    print(f"{args.model.upper()} B{args.batch} T{args.seq_len} H{args.hidden}, "
          f"{args.steps} steps × {args.rounds} rounds")
    run(cfg, min(args.steps, 20), False)  # warm up
    ratios = []
    for k in range(args.rounds):
        order = (False, True) if k % 2 == 0 else (True, False)
        result = {}
        for with_live in order:
            result[with_live] = run(cfg, args.steps, with_live)
        plain, (lived, info) = result[False][0], result[True]
        ratios.append(plain / lived)
        print(f"round {k + 1}: plain {args.steps / plain:7.1f} steps/s   live "
              f"{args.steps / lived:7.1f} steps/s   speed kept {plain / lived:6.1%}   "
              f"({info['samples']} steps sampled, {info['pictures']} pictures)", flush=True)
    kept = statistics.median(ratios)
    print(f"median speed kept with the live page: {kept:.1%} (overhead {1 - kept:+.1%})")
    return kept


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
