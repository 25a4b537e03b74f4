"""What the live training page costs: training speed with and without it, at the learning size.

    python benchmarks/live_overhead.py                 # B16 T32 H64 LSTM, 2000 steps × 4 rounds
    python benchmarks/live_overhead.py --steps 200 --rounds 3
    python benchmarks/live_overhead.py --quick         # tiny, to check the script runs

Each round trains the same model from the same seed twice — plain, and with ``live.serve`` and a
page polling it once a second (a thread standing in for a browser tab: it fetches ``state.json``
and each new graph picture) — in alternating order, each run in a fresh process (after 20
warm-up steps). Times are the process's CPU time (``time.process_time``: the server's threads
included, other programs on a shared machine not) over the training loop only (the server's
start and stop are outside). It prints steps/s of each run, the median of the per-round ratios,
and how many steps were sampled and pictures drawn; and, since on a shared machine two whole runs
can differ by more than 5% from one minute to the next, the board's own account of its cost in
the live run (the training thread's CPU time: the samples, each with what its step took beyond
the next plain one, and the pictures) plus the server's answers to the tab (timed again
afterwards), as a fraction of the loop's CPU time. The target is ≤ 5% (the board's default
budget is 3% of the run's time).

The runs get one BLAS thread and glibc's allocator settings of ``benchmarks/bench.py``: on a busy
2-core machine a multi-threaded BLAS makes the step's few large products (backward sums a
weight's per-step terms as one product) several times slower or faster from one run to the next,
which drowns the page's cost; and a sampled step, whose backward runs a hook, takes its products
one step at a time.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the package of this checkout, not another installed one

import tinygrad_rnn as tg  # noqa: E402
from tinygrad_rnn import live  # noqa: E402
from tinygrad_rnn.train import TrainConfig, build  # noqa: E402


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
    # No clock in the loop: on this kind of busy virtual machine a CPU-clock call now and then
    # takes milliseconds, which would charge the live run for its own measuring.
    t0, cpu0 = time.thread_time(), time.process_time()
    for step in range(1, steps + 1):
        x, y = next(batches)
        opt.zero_grad()
        loss, _ = task.train_step(model, x, y, None)
        opt.step()
        if board is not None:
            board.log(loss, step=step, graph=task.last_loss)
            task.last_loss = None
    seconds, loop = time.process_time() - cpu0, time.thread_time() - t0
    if board is None:
        quiet.__exit__()
        return seconds, None
    stop.set()
    tab.join(10)
    heat = board.heat
    polls = board.polls
    board.close(linger=0)
    quiet.__exit__()
    # The board's own account (training thread's CPU: the samples, each with what its step took
    # beyond the next plain one, and the pictures), plus the server's answers timed again here
    # (state() and its JSON, as many as the tab asked for, each the points since the last one)
    a = time.thread_time()
    per_poll = max(1, steps // max(polls, 1))
    for k in range(polls):
        json.dumps(board.state(since=max(0, steps - per_poll * (k + 1))), separators=(",", ":"))
    serving = time.thread_time() - a
    sampling = board._spent + board._spent_heat
    accounted = (sampling + serving) / (loop - sampling)
    return seconds, {"samples": board.samples, "pictures": heat["version"] if heat else 0,
                     "accounted": accounted, "sampling": sampling, "serving": serving}


STEADY_ENV = {
    # one BLAS thread (see the module's docstring) and glibc's allocator kept from returning
    # memory between steps, as benchmarks/bench.py runs every backend
    "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
    "GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824",
}


def _one(args):
    """One run in this (fresh) process; prints its result as JSON."""
    cfg = TrainConfig(task="adding", model=args.model, batch=args.batch, seq_len=args.seq_len,
                      hidden=args.hidden, out="unused")
    run(cfg, 20, False)  # warm up
    seconds, info = run(cfg, args.steps, args.one == "live")
    print(json.dumps({"seconds": seconds, **(info or {})}))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--seq-len", type=int, default=32)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--model", default="lstm", choices=["rnn", "lstm", "gru"])
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--quick", action="store_true", help="tiny sizes, one round")
    p.add_argument("--one", choices=["plain", "live"], help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.batch, args.seq_len, args.hidden, args.steps, args.rounds = 2, 4, 4, 20, 1
    if args.one:
        return _one(args)
    print(f"{args.model.upper()} B{args.batch} T{args.seq_len} H{args.hidden}, "
          f"{args.steps} steps × {args.rounds} rounds, each run in a fresh process", flush=True)
    env = {**os.environ, **STEADY_ENV}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    common = [sys.executable, __file__, "--batch", str(args.batch), "--seq-len",
              str(args.seq_len), "--hidden", str(args.hidden), "--model", args.model,
              "--steps", str(args.steps)]
    ratios, accounted = [], []
    for k in range(args.rounds):
        order = ("plain", "live") if k % 2 == 0 else ("live", "plain")
        result = {}
        for mode in order:
            out = subprocess.run([*common, "--one", mode], env=env, capture_output=True,
                                 text=True, check=True).stdout
            result[mode] = json.loads(out.strip().splitlines()[-1])
        plain, lived, info = result["plain"]["seconds"], result["live"]["seconds"], result["live"]
        ratios.append(plain / lived)
        accounted.append(info["accounted"])
        print(f"round {k + 1}: plain {args.steps / plain:6.1f} steps/s  live "
              f"{args.steps / lived:6.1f} steps/s  speed kept {plain / lived:6.1%} | board's "
              f"account {info['accounted']:5.2%} (sampling {info['sampling']:.3f} s, serving "
              f"{info['serving']:.3f} s; {info['samples']} steps sampled, {info['pictures']} "
              f"pictures)", flush=True)
    kept, cost = statistics.median(ratios), statistics.median(accounted)
    print(f"median speed kept with the live page (A/B of whole runs): {kept:.1%}")
    print(f"median cost of the board by its own account: {cost:.2%} of the training thread's "
          f"CPU time (plus about 20 µs a step for log()'s bookkeeping)")
    return cost


if __name__ == "__main__":
    main()
