"""Side-by-side benchmarks: this project vs numpy by hand, PyTorch, HIPS autograd, JAX, tinygrad.

    make bench                                  # installs the optional backends, runs all
    .venv/bin/python benchmarks/bench.py [--rounds 5] [--reps 3] [--threads 2]
    .venv/bin/python benchmarks/bench.py --quick                 # tiny sizes, 1 round
    .venv/bin/python benchmarks/bench.py --only ours-lstm,jax,memory

Sections (``--only`` takes section names and/or backend names, comma-separated):

lstm      the LSTM language-model training step (benchmarks/backends.py) in every backend, at the
          work size (B=32, T=64, H=256) and the learning size (B=16, T=32, H=64), float32. Every
          backend runs in its own process (no library's thread pool disturbs another's), rounds
          interleave the backends (a slow spell of the machine hits all of them), the time is
          the median. Each backend's first-step loss is printed: they did the same work iff
          they agree (to ~1e-5). Backends: ours-lstm, ours-jit (the same step through tg.jit:
          captured on the first call, replayed after), ours-cell, numpy-floor, numpy-lstm,
          numpy-lstm-rows (numpy-lstm with h W_hhᵀ computed as (W_hh hᵀ)ᵀ, as ours does for few
          rows), numpy-inplace, torch-lstm, torch-cat, torch-linear, autograd, jax, tinygrad. A backend whose library
          is missing is skipped with a note. tinygrad (minutes of kernel compilation) runs one
          round, at the learning size only unless named in --only, and under --quick only when
          named.
overhead  µs per small op: a 16×64 float32 multiply, forward and backward (ours, PyTorch, numpy).
memory    memory per time step of nn.LSTM / nn.GRU / nn.RNN (B=32, H=256): tracemalloc, graph
          alive before backward, slope between T=32 and T=64 (benchmarks/memory.py).
depth     a tanh RNN over 10,000 steps: backward completes; time and memory against T.
leak      resident memory over 1,000 training steps.

Every backend's process runs with the same glibc allocator setting (--malloc steady, the
default: no mmap below 32 MiB and no heap trimming, see STEADY_MALLOC); --malloc default keeps
glibc's own. Results print as tables and go to JSON (benchmarks/results/bench-<time>.json or --json).
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import subprocess
import sys
import time

SECTIONS = ("lstm", "overhead", "memory", "depth", "leak")
# Backends whose first steps compile for minutes: one round only, not in --quick unless named,
# and only at the sizes listed unless named in --only (tinygrad's first step took 6-7 minutes at
# T=32 on the development machine, and grows with T: the unrolled graph is compiled whole).
SLOW_COMPILE = {"tinygrad": {"learning"}}
# Extra untimed steps after the first: tinygrad's TinyJit captures its kernels on the second call.
EXTRA_WARMUP = {"tinygrad": 1}


# glibc hands out large blocks with mmap and gives freed memory back to the OS eagerly; the next
# training step then faults the pages in again (about 1,000 page faults per work-size step of
# ours and 2,300 of the hand-written numpy LSTM on the development VM, a different number on every
# run: 10-20% of the step, and much of the run-to-run spread). Every backend's process gets the
# same steadier setting (blocks below 32 MiB come from the heap, which is not trimmed);
# --malloc default keeps glibc's defaults.
STEADY_MALLOC = "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824"


def _set_malloc(kind):
    if kind == "steady" and "GLIBC_TUNABLES" not in os.environ:
        os.environ["GLIBC_TUNABLES"] = STEADY_MALLOC  # read by each worker process at its start


def _pin_threads(n):
    # Must happen before numpy/torch load their thread pools; workers inherit the environment.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUM_CPU_THREADS"):
        os.environ[var] = str(n)


def _args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--reps", type=int, default=3, help="timed training steps per process (median)")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds over the backends")
    p.add_argument("--threads", type=int, default=2, help="threads for every backend")
    p.add_argument("--malloc", choices=("steady", "default"), default="steady",
                   help="glibc allocator settings for every backend (see STEADY_MALLOC)")
    p.add_argument("--only", default=None,
                   help="comma-separated sections (" + ",".join(SECTIONS) + ") and/or backends")
    p.add_argument("--sizes", default="work,learning", help="comma-separated: work, learning")
    p.add_argument("--json", default=None, help="where to write results (default "
                   "benchmarks/results/bench-<time>.json)")
    p.add_argument("--quick", "--smoke", action="store_true",
                   help="tiny sizes, one round, one step: checks that every path runs")
    p.add_argument("--worker", nargs=3, metavar=("BACKEND", "SIZE", "REPS"),
                   help=argparse.SUPPRESS)
    return p.parse_args(argv)


ARGS = _args() if __name__ == "__main__" else None
if ARGS is not None:
    _pin_threads(ARGS.threads)
    _set_malloc(ARGS.malloc)

import numpy as np  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
import tinygrad_rnn as tg  # noqa: E402
from tinygrad_rnn import nn  # noqa: E402

from backends import BACKENDS, V, ours_layer  # noqa: E402
from memory import memory_per_step  # noqa: E402

SIZES = {"learning": dict(B=16, T=32, H=64), "work": dict(B=32, T=64, H=256),
         "quick": dict(B=2, T=3, H=4)}
LSTM_TARGET_MIB = 0.45  # memory per LSTM step the engine aims at (B=32, H=256)


def median_time(fn, reps, warmup=1):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def median_times(fn, reps):
    """(wall, CPU) seconds of ``fn``, each the median over ``reps`` calls. The process's CPU time
    counts only the time it ran: on a machine shared with other work it is the steadier figure
    (with one thread; BLAS threads that spin add to it)."""
    wall, cpu = [], []
    for _ in range(reps):
        t, c = time.perf_counter(), time.process_time()
        fn()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - t)
    return float(np.median(wall)), float(np.median(cpu))


def parse_only(only):
    """--only tokens → (sections, backends); unknown names are an error listing the valid ones."""
    if not only:
        return set(SECTIONS), list(BACKENDS)
    tokens = [t.strip() for t in only.split(",") if t.strip()]
    unknown = [t for t in tokens if t not in SECTIONS and t not in BACKENDS]
    if unknown:
        raise SystemExit(f"--only: unknown name(s) {unknown}; sections: {', '.join(SECTIONS)}; "
                         f"backends: {', '.join(BACKENDS)}")
    sections = {t for t in tokens if t in SECTIONS}
    backends = [b for b in BACKENDS if b in tokens]
    if backends:
        sections.add("lstm")
    return sections, backends or list(BACKENDS)


# ---------------------------------------------------------------- the training step

def _worker(name, size, reps, threads):
    """Runs in its own process: build one backend, time its steps, print one JSON line."""
    if name.startswith("torch"):  # only then: loading PyTorch alone slows numpy's BLAS here
        try:
            import torch
            torch.set_num_threads(threads)
        except ImportError:
            pass
    try:
        step = BACKENDS[name][1](**SIZES[size])
    except ImportError as err:
        print(f"{err.name or err} not installed", file=sys.stderr)
        sys.exit(3)
    t = time.perf_counter()
    first_loss = step()
    first = time.perf_counter() - t
    extra = []
    for _ in range(EXTRA_WARMUP.get(name, 0)):
        t = time.perf_counter()
        step()
        extra.append(time.perf_counter() - t)
    seconds, cpu_seconds = median_times(step, reps)
    compile_s = getattr(step, "compile_seconds", None)
    if compile_s is None and name in SLOW_COMPILE:  # its compilation happens in the first steps
        compile_s = first + sum(extra) - (1 + len(extra)) * seconds
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds, "first_seconds": first,
                      "first_loss": first_loss, "compile_seconds": compile_s}))


def _run_worker(name, size, reps, threads):
    """One backend in a fresh process. Returns (result dict, None) or (None, why skipped)."""
    cmd = [sys.executable, __file__, "--worker", name, size, str(reps), "--threads", str(threads),
           "--malloc", ARGS.malloc if ARGS else "steady"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["failed"])[-1]
        return None, last if proc.returncode == 3 else f"failed: {last}"
    return json.loads(proc.stdout.strip().splitlines()[-1]), None


def bench_lstm(names, sizes, reps, rounds, threads, explicit, results):
    for size in sizes:
        cfg = SIZES[size]
        print(f"\nLSTM language-model training step, {size} size (B={cfg['B']}, T={cfg['T']}, "
              f"H={cfg['H']}, V={V}, float32, {threads} threads); each backend in its own "
              f"process, {rounds} interleaved round(s) of {reps} step(s), median")
        samples = {n: [] for n in names}
        cpu_samples = {n: [] for n in names}
        first, skipped = {}, {}
        for r in range(rounds):
            for name in names:
                if name in skipped or (r > 0 and name in SLOW_COMPILE):
                    continue
                if name in SLOW_COMPILE and size not in SLOW_COMPILE[name] | {"quick"} \
                        and name not in explicit:
                    skipped[name] = (f"its first step compiles for many minutes at this size; "
                                     f"run it with --only {name} --sizes {size}")
                    continue
                res, why = _run_worker(name, size, reps, threads)
                if res is None:
                    skipped[name] = why
                    continue
                samples[name].append(res["seconds"])
                cpu_samples[name].append(res["cpu_seconds"])
                first.setdefault(name, res)
        row = {}
        print(f"  {'backend':<32} {'step':>10} {'spread':>7} {'CPU time':>10} {'first step':>11} "
              f"{'compile':>8}  first-step loss")
        for name in names:
            label = BACKENDS[name][0]
            if name in skipped:
                print(f"  {label:<32} skipped: {skipped[name]}")
                row[name] = {"label": label, "skipped": skipped[name]}
                continue
            s = samples[name]
            med = float(np.median(s))
            spread = (max(s) - min(s)) / med if med > 0 else 0.0
            cpu = float(np.median(cpu_samples[name]))
            f = first[name]
            loss = f["first_loss"]
            comp = f["compile_seconds"]
            print(f"  {label:<32} {med * 1e3:7.2f} ms {spread:6.0%} {cpu * 1e3:7.2f} ms "
                  f"{f['first_seconds']:9.2f} s "
                  f"{'' if comp is None else f'{comp:6.1f} s':>8}  "
                  f"{'—' if loss is None else f'{loss:.7f}'}")
            row[name] = {"label": label, "seconds": med, "samples": s, "spread": spread,
                         "cpu_seconds": cpu, "cpu_samples": cpu_samples[name],
                         "first_seconds": f["first_seconds"], "compile_seconds": comp,
                         "first_loss": loss}
        results["lstm"][size] = row
        _check_losses(row, results, size)
        _print_ratios(row, results, size)


def _check_losses(row, results, size):
    """Every backend's loss at the shared starting weights must be the same number."""
    losses = {n: r["first_loss"] for n, r in row.items() if r.get("first_loss") is not None}
    if not losses:
        return
    ref_name = "numpy-lstm" if "numpy-lstm" in losses else next(iter(losses))
    ref = losses[ref_name]
    worst = max(abs(v - ref) for v in losses.values())
    bad = [BACKENDS[n][0] for n, v in losses.items() if abs(v - ref) > 1e-5]
    print(f"  first-step losses: largest difference {worst:.1e} from "
          f"{BACKENDS[ref_name][0]}" + (f"; DIFFER (> 1e-5): {', '.join(bad)}" if bad else
                                        " (all within 1e-5: the same work)"))
    results["lstm"][size + "_loss_check"] = {"reference": ref_name, "max_abs_diff": worst,
                                             "differ": bad}


RATIOS = [("ours nn.LSTM / numpy floor", "ours-lstm", "numpy-floor"),
          ("ours nn.LSTM / numpy hand-written LSTM", "ours-lstm", "numpy-lstm"),
          ("ours-jit / numpy hand-written LSTM", "ours-jit", "numpy-lstm"),
          ("ours nn.LSTM / numpy hand-written, (W hᵀ)ᵀ", "ours-lstm", "numpy-lstm-rows"),
          ("ours-jit / numpy hand-written, (W hᵀ)ᵀ", "ours-jit", "numpy-lstm-rows"),
          ("ours-jit / ours nn.LSTM (eager)", "ours-jit", "ours-lstm"),
          ("ours-jit / PyTorch two-linear loop", "ours-jit", "torch-linear"),
          ("ours-jit / JAX", "ours-jit", "jax"),
          ("numpy hand-written LSTM, in place / numpy floor", "numpy-inplace", "numpy-floor"),
          ("ours nn.LSTM / PyTorch nn.LSTM", "ours-lstm", "torch-lstm"),
          ("ours nn.LSTM / JAX", "ours-lstm", "jax"),
          ("ours nn.LSTM / tinygrad", "ours-lstm", "tinygrad"),
          ("ours LSTMCell loop / PyTorch two-linear loop", "ours-cell", "torch-linear"),
          ("ours LSTMCell loop / PyTorch cat + one matmul loop", "ours-cell", "torch-cat"),
          ("HIPS autograd / ours nn.LSTM", "autograd", "ours-lstm")]


def _print_ratios(row, results, size):
    ratios, cpu_ratios = {}, {}
    print(f"  {'ratio of medians':<52} {'wall':>7} {'CPU':>7}")
    for label, a, b in RATIOS:
        ta, tb = row.get(a, {}).get("seconds"), row.get(b, {}).get("seconds")
        if ta and tb:
            ratios[label] = ta / tb
            ca, cb = row[a]["cpu_seconds"], row[b]["cpu_seconds"]
            cpu_ratios[label] = ca / cb if cb else None
            cpu = f"{ca / cb:6.2f}×" if cb else "    —"
            print(f"  {label:<52} {ta / tb:6.2f}× {cpu}")
    results["lstm"][size + "_ratios"] = ratios
    results["lstm"][size + "_cpu_ratios"] = cpu_ratios


# ---------------------------------------------------------------- other sections

def bench_overhead(reps, results):
    """µs per small elementwise op (16×64 float32 multiply) and per op's backward."""
    n = 200
    a = tg.Tensor(np.full((16, 64), 1.0001, np.float32), requires_grad=True)
    b = tg.Tensor(np.full((16, 64), 0.9999, np.float32), requires_grad=True)

    def forward():
        y = a
        for _ in range(n):
            y = y * b
        return y
    fwd = median_time(forward, reps * 4) / n
    ones = np.ones((16, 64), np.float32)
    both = median_time(lambda: forward().backward(tg.Tensor(ones)), reps * 4) / n
    A, B = a.numpy(), b.numpy()
    bare = median_time(lambda: [A * B for _ in range(n)], reps * 4) / n
    row = {"ours forward us": fwd * 1e6, "ours backward us": (both - fwd) * 1e6,
           "numpy multiply us": bare * 1e6}
    try:
        import torch
        ta = torch.from_numpy(A.copy()).requires_grad_()
        tb = torch.from_numpy(B.copy()).requires_grad_()

        def tforward():
            y = ta
            for _ in range(n):
                y = y * tb
            return y
        tf = median_time(tforward, reps * 4) / n
        tboth = median_time(lambda: tforward().backward(torch.from_numpy(ones)), reps * 4) / n
        row.update({"torch forward us": tf * 1e6, "torch backward us": (tboth - tf) * 1e6})
    except ImportError:
        print("note: PyTorch not installed; its per-op overhead is skipped")
    results["overhead"] = row
    print("\nPer-op overhead (16×64 float32 multiply, µs per op, median)")
    for k, v in row.items():
        print(f"  {k:<22} {v:8.2f}")


def bench_memory(quick, results):
    """Memory per time step of LSTM, GRU and RNN (graph alive before backward), in MiB."""
    B, H, lengths = (4, 8, (4, 8)) if quick else (32, 256, (32, 64))
    print(f"\nMemory per time step (tracemalloc, graph alive before backward, slope between "
          f"T={lengths[0]} and T={lengths[1]}; B={B}, H={H}, float32)")
    print(f"  {'layer':<8} {'MiB/step':>9} {'B×H arrays':>11} {'needed at least':>16}")
    row = {}
    for kind in ("LSTM", "GRU", "RNN"):
        r = memory_per_step(kind, B=B, H=H, lengths=lengths)
        arrays = r["bytes_per_step"] / (B * H * 4)
        target = f"   target ≤ {LSTM_TARGET_MIB} MiB/step" if kind == "LSTM" and not quick else ""
        print(f"  nn.{kind:<5} {r['mib_per_step']:9.3f} {arrays:11.1f} "
              f"{r['minimum_bytes_per_step'] / 2**20:12.3f} MiB{target}")
        row[kind] = r
    results["memory"] = row


def _traced_peak(fn):
    import tracemalloc
    tracemalloc.start()
    tracemalloc.reset_peak()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def bench_depth(quick, results):
    """An RNN over T = 10,000 steps: backward completes; time and memory against T."""
    row = {}
    steps = (50, 100, 200) if quick else (2500, 5000, 10_000)
    print("\nBPTT depth: tanh RNN (B=1, H=32), forward + backward")
    for T in steps:
        rnn = nn.RNN(1, 32)
        x = tg.Tensor(np.random.default_rng(0).standard_normal((T, 1, 1)).astype(np.float32))

        def run():
            _, h = rnn(x)
            h.sum().backward()
        t0 = time.perf_counter()
        peak = _traced_peak(run)
        seconds = time.perf_counter() - t0
        row[T] = {"seconds": seconds, "peak_bytes": peak, "bytes_per_step": peak / T}
        print(f"  T={T:>6}: {seconds:6.2f} s, peak traced memory {peak / 2**20:7.1f} MiB "
              f"({peak / T / 1024:.1f} KiB per step)")
    results["depth"] = row


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def bench_leak(quick, results):
    """Resident memory of a 1,000-step training run at start and end."""
    steps = 50 if quick else 1000
    step = ours_layer(2, 3, 4) if quick else ours_layer(16, 32, 64)
    for _ in range(10):
        step()
    start = _rss_bytes()
    for _ in range(steps):
        step()
    end = _rss_bytes()
    growth = (end - start) / start
    results["leak"] = {"steps": steps, "rss_start": start, "rss_end": end, "growth": growth}
    print(f"\n{steps} training steps: resident memory {start / 2**20:.1f} MiB → "
          f"{end / 2**20:.1f} MiB ({growth:+.1%})")


# ---------------------------------------------------------------- the run

SUMMARY = [("work", "ours nn.LSTM / numpy floor"), ("work", "ours nn.LSTM / PyTorch nn.LSTM"),
           ("work", "ours-jit / numpy hand-written LSTM"),
           ("learning", "ours-jit / numpy hand-written LSTM"),
           ("learning", "ours nn.LSTM / numpy hand-written LSTM"),
           ("work", "ours nn.LSTM / JAX"),
           ("work", "ours LSTMCell loop / PyTorch two-linear loop"),
           ("work", "ours LSTMCell loop / PyTorch cat + one matmul loop"),
           ("learning", "ours nn.LSTM / JAX"), ("learning", "ours nn.LSTM / PyTorch nn.LSTM")]


def print_summary(results):
    """The headline numbers in one place (those that were measured in this run)."""
    lines = []
    for size, label in SUMMARY:
        ratio = results["lstm"].get(size + "_ratios", {}).get(label)
        if ratio is not None:
            lines.append(f"  {size + ':':<10} {label:<52} {ratio:6.2f}×")
    lstm = results.get("memory", {}).get("LSTM")
    if lstm and lstm["B"] == 32 and lstm["H"] == 256:
        lines.append(f"  memory:    nn.LSTM {lstm['mib_per_step']:.3f} MiB per time step "
                     f"(target ≤ {LSTM_TARGET_MIB})")
    if lines:
        print("\nSummary")
        print("\n".join(lines))

def machine_info(threads):
    import importlib.metadata
    info = {"python": platform.python_version(), "numpy": np.__version__,
            "cpu": _cpu_name(), "cores": os.cpu_count(), "threads": threads,
            "load_at_start": _load(),
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
            "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE"),
            "GLIBC_TUNABLES": os.environ.get("GLIBC_TUNABLES")}
    try:  # which BLAS kernel numpy runs (OPENBLAS_CORETYPE forces an older one)
        from threadpoolctl import threadpool_info
        blas = [d for d in threadpool_info() if d.get("user_api") == "blas"]
        if blas:
            info["blas"] = f"{blas[0].get('internal_api')} {blas[0].get('version')} " \
                           f"{blas[0].get('architecture')}"
    except ImportError:
        pass
    for lib in ("torch", "jax", "jaxlib", "autograd", "tinygrad"):
        try:
            info[lib] = importlib.metadata.version(lib)
        except importlib.metadata.PackageNotFoundError:
            pass
    return info


def _load():
    """1-minute load average: other work on the machine slows every backend."""
    try:
        return round(os.getloadavg()[0], 1)
    except OSError:
        return None


def _cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(args):
    sections, names = parse_only(args.only)
    quick = args.quick
    explicit = set((args.only or "").split(","))
    if quick:
        dropped = [n for n in names if n in SLOW_COMPILE and n not in explicit]
        if dropped:
            print(f"note: --quick leaves out {', '.join(dropped)} (minutes of compilation); "
                  f"name it in --only to include it")
        names = [n for n in names if n not in dropped]
    sizes = ["quick"] if quick else args.sizes.split(",")
    reps, rounds = (1, 1) if quick else (args.reps, args.rounds)
    results = {"machine": machine_info(args.threads), "time": time.strftime("%Y-%m-%d %H:%M:%S"),
               "args": vars(args), "lstm": {}}
    print("machine: " + ", ".join(f"{k}={v}" for k, v in results["machine"].items()))
    load = results["machine"]["load_at_start"]
    if load is not None and load > (os.cpu_count() or 1):
        print(f"warning: load average {load} on {os.cpu_count()} cores: other work is running, "
              f"and multi-threaded BLAS suffers most from it; timings will be slow and noisy")
    if "lstm" in sections:
        bench_lstm(names, sizes, reps, rounds, args.threads, explicit, results)
    if "overhead" in sections:
        bench_overhead(reps, results)
    if "memory" in sections:
        bench_memory(quick, results)
    if "depth" in sections:
        bench_depth(quick, results)
    if "leak" in sections:
        bench_leak(quick, results)
    print_summary(results)
    results["machine"]["load_at_end"] = _load()
    print(f"\nload average at the end: {_load()} (on {os.cpu_count()} cores)")
    path = pathlib.Path(args.json) if args.json else (
        HERE / "results" / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1, default=str))
    print(f"\nwrote {path}")
    return results


if __name__ == "__main__":
    if ARGS.worker:
        _worker(ARGS.worker[0], ARGS.worker[1], int(ARGS.worker[2]), ARGS.threads)
    else:
        main(ARGS)
