"""What the live training page costs: training speed with and without it, at the learning size.

    python benchmarks/live_overhead.py                 # B16 T32 H64 LSTM, 600 steps × 6 rounds
    python benchmarks/live_overhead.py --steps 200 --rounds 3
    python benchmarks/live_overhead.py --quick         # tiny, to check the script runs

Each round trains the same model from the same seed twice — plain, and with ``live.serve`` and a
page polling it once a second (a thread standing in for a browser tab: it fetches ``state.json``
and each new graph picture) — in alternating order, each run in a fresh process (after 20
warm-up steps). Times are the process's CPU time (``time.process_time``: the server's threads
included, other programs on a shared machine not) over the training loop only (the server's
start and stop are outside). It prints steps/s of each run, the median of the per-round ratios,
and how many steps were sampled and pictures drawn; and, since on a shared machine two whole runs
differ by more than 5% from one minute to the next, the board's cost accounted step by step
inside the live run (in the training thread's CPU time, as a fraction of the loop's): the time
in ``log()``, what each sampled step took beyond the median unsampled step, and the server's
answers to the tab (timed again afterwards, as many as it gave). The target is ≤ 5% (the board's default
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
    # per step: this thread's CPU time (wall-clock time on a busy machine is mostly waiting for a
    # core; process_time can cost milliseconds a call on a busy VM, thread_time microseconds)
    clock = time.thread_time
    log_time = 0.0
    step_times, sampled = [], []
    t0, cpu0 = clock(), time.process_time()  # (two calls: their cost does not matter)
    for step in range(1, steps + 1):
        a = clock()
        x, y = next(batches)
        opt.zero_grad()
        loss, _ = task.train_step(model, x, y, None)
        opt.step()
        b = clock()
        step_times.append(b - a)
        if board is not None:
            before = board.samples
            board.log(loss, step=step, graph=task.last_loss)
            task.last_loss = None
            sampled.append(board.samples > before)  # this step's backward was sampled
            log_time += clock() - b
    seconds, loop = time.process_time() - cpu0, clock() - t0
    if board is None:
        quiet.__exit__()
        return seconds, None
    stop.set()
    tab.join(10)
    heat = board.heat
    polls = board.polls
    board.close(linger=0)
    quiet.__exit__()
    # The board's cost as accounted here, robust to a busy machine: log()'s time, what each
    # sampled step took beyond the median of the unsampled ones, and the server's answers
    # (timed again here: state() and its JSON, as many times as the tab polled)
    plain = statistics.median(t for t, s in zip(step_times, sampled) if not s)
    extra = sum(max(0.0, t - plain) for t, s in zip(step_times, sampled) if s)
    a = clock()
    per_poll = max(1, steps // max(polls, 1))  # each poll fetches the points since the last
    for k in range(polls):
        json.dumps(board.state(since=max(0, steps - per_poll * (k + 1))), separators=(",", ":"))
    serving = clock() - a
    accounted = (log_time + extra + serving) / (loop - log_time - extra)
    return seconds, {"samples": board.samples, "pictures": heat["version"] if heat else 0,
                     "accounted": accounted, "log": log_time, "extra": extra,
                     "serving": serving}


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
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--rounds", type=int, default=6)
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
              f"cost {info['accounted']:5.2%} (log {info['log']:.3f} s, sampled steps' extra "
              f"{info['extra']:.3f} s, serving {info['serving']:.3f} s; {info['samples']} steps "
              f"sampled, {info['pictures']} pictures)", flush=True)
    kept, cost = statistics.median(ratios), statistics.median(accounted)
    print(f"median speed kept with the live page (A/B of whole runs): {kept:.1%}")
    print(f"median cost of the board, accounted step by step: {cost:.2%} of training time")
    return cost


if __name__ == "__main__":
    main()
