"""Side-by-side benchmarks: this project vs PyTorch (CPU) vs HIPS autograd, on the same work.

    make bench                      # installs the optional backends, then runs this
    .venv/bin/python benchmarks/bench.py [--rounds 5] [--reps 3] [--threads 2] [--only lstm,...]

Every backend does the same LSTM language-model training step: one-hot characters (V=65) →
1-layer LSTM → linear → cross-entropy over B×T → backward → global-norm clipping at 1.0 → one
Adam step, at two sizes (learning: B=16, T=32, H=64; work: B=32, T=64, H=256). The "matmul
floor" is the bare numpy matrix products any LSTM training step must do, timed alone.

Also: per-op overhead, BPTT depth (an RNN over 10,000 steps), memory per LSTM time step, and the
resident memory of a 1,000-step training run. Prints a table and writes JSON (for comparing
commits). Missing optional backends are skipped with a note. Timings are medians over --reps.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import sys
import time


def _pin_threads(n):
    # Must happen before numpy/torch load their BLAS.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)


def _args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--reps", type=int, default=3, help="training steps timed per process (median)")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds over the backends")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                   help="BLAS/torch threads for every backend")
    p.add_argument("--only", default="lstm,overhead,depth,memory,leak",
                   help="comma-separated sections")
    p.add_argument("--sizes", default="learning,work")
    p.add_argument("--json", default=None, help="where to write results (default "
                   "benchmarks/results/bench-<time>.json)")
    p.add_argument("--smoke", action="store_true",
                   help="tiny sizes and one repetition: checks that every path runs")
    p.add_argument("--worker", nargs=3, metavar=("BACKEND", "SIZE", "REPS"),
                   help=argparse.SUPPRESS)
    return p.parse_args(argv)


ARGS = _args() if __name__ == "__main__" else None
if ARGS is not None:
    _pin_threads(ARGS.threads)

import numpy as np  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
import tinygrad_rnn as tg  # noqa: E402
from tinygrad_rnn import nn, optim  # noqa: E402
from tinygrad_rnn.nn import functional as F  # noqa: E402

V = 65
SIZES = {"learning": dict(B=16, T=32, H=64), "work": dict(B=32, T=64, H=256),
         "smoke": dict(B=2, T=3, H=4)}


def median_time(fn, reps, warmup=1):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def make_data(B, T, seed=0):
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, V, size=(T + 1, B))
    x = np.eye(V, dtype=np.float32)[tokens[:-1]]  # (T, B, V) one-hot
    y = tokens[1:].reshape(-1)
    return x, y


def init_weights(H, seed=0):
    """The same starting weights for every backend (PyTorch layout, gates i, f, g, o)."""
    rng = np.random.default_rng(seed)
    k = 1 / np.sqrt(H)
    u = lambda *s: rng.uniform(-k, k, s).astype(np.float32)  # noqa: E731
    return {"w_ih": u(4 * H, V), "w_hh": u(4 * H, H), "b_ih": u(4 * H), "b_hh": u(4 * H),
            "w_out": u(V, H), "b_out": u(V)}


# ---------------------------------------------------------------- this project

def ours_layer(B, T, H):
    x, y = make_data(B, T)
    lstm, head = nn.LSTM(V, H), nn.Linear(H, V)
    w = init_weights(H)
    lstm.load_state_dict({"weight_ih_l0": w["w_ih"], "weight_hh_l0": w["w_hh"],
                          "bias_ih_l0": w["b_ih"], "bias_hh_l0": w["b_hh"]})
    head.load_state_dict({"weight": w["w_out"], "bias": w["b_out"]})
    opt = optim.Adam([*lstm.parameters(), *head.parameters()], lr=1e-3, max_grad_norm=1.0)
    xt = tg.Tensor(x)

    def step():
        opt.zero_grad()
        out, _ = lstm(xt)
        loss = F.cross_entropy(head(out).reshape(T * B, V), y)
        loss.backward()
        opt.step()
        return loss.item()
    return step


def ours_cell(B, T, H):
    x, y = make_data(B, T)
    cell, head = nn.LSTMCell(V, H), nn.Linear(H, V)
    w = init_weights(H)
    cell.load_state_dict({"weight_ih": w["w_ih"], "weight_hh": w["w_hh"], "bias_ih": w["b_ih"],
                          "bias_hh": w["b_hh"]})
    head.load_state_dict({"weight": w["w_out"], "bias": w["b_out"]})
    opt = optim.Adam([*cell.parameters(), *head.parameters()], lr=1e-3, max_grad_norm=1.0)
    xs = [tg.Tensor(x[t]) for t in range(T)]

    def step():
        opt.zero_grad()
        h = c = tg.Tensor(np.zeros((B, H), np.float32))
        outs = []
        for t in range(T):
            h, c = cell(xs[t], (h, c))
            outs.append(h)
        loss = F.cross_entropy(head(tg.stack(outs, 0)).reshape(T * B, V), y)
        loss.backward()
        opt.step()
        return loss.item()
    return step


# ---------------------------------------------------------------- PyTorch

def torch_layer(B, T, H):
    import torch

    x, y = make_data(B, T)
    lstm, head = torch.nn.LSTM(V, H), torch.nn.Linear(H, V)
    w = init_weights(H)
    with torch.no_grad():
        for p, k in zip((lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0,
                         head.weight, head.bias), ("w_ih", "w_hh", "b_ih", "b_hh", "w_out", "b_out")):
            p.copy_(torch.from_numpy(w[k]))
    params = [*lstm.parameters(), *head.parameters()]
    opt = torch.optim.Adam(params, lr=1e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def step():
        opt.zero_grad()
        out, _ = lstm(xt)
        loss = torch.nn.functional.cross_entropy(head(out).reshape(T * B, V), yt)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return loss.item()
    return step


def torch_cell(B, T, H):
    import torch

    x, y = make_data(B, T)
    w = {k: torch.from_numpy(v).requires_grad_() for k, v in init_weights(H).items()}
    params = list(w.values())
    opt = torch.optim.Adam(params, lr=1e-3)
    xs, yt = [torch.from_numpy(x[t]) for t in range(T)], torch.from_numpy(y)

    def step():
        opt.zero_grad()
        h = c = torch.zeros(B, H)
        outs = []
        for t in range(T):
            gates = xs[t] @ w["w_ih"].T + w["b_ih"] + h @ w["w_hh"].T + w["b_hh"]
            i, f, g, o = gates.chunk(4, 1)
            c = f.sigmoid() * c + i.sigmoid() * g.tanh()
            h = o.sigmoid() * c.tanh()
            outs.append(h)
        logits = torch.stack(outs) @ w["w_out"].T + w["b_out"]
        loss = torch.nn.functional.cross_entropy(logits.reshape(T * B, V), yt)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return loss.item()
    return step


# ---------------------------------------------------------------- HIPS autograd

def autograd_cell(B, T, H):
    import autograd.numpy as anp
    from autograd import grad

    x, y = make_data(B, T)
    names = ("w_ih", "w_hh", "b_ih", "b_hh", "w_out", "b_out")
    params = [init_weights(H)[k] for k in names]
    sig = lambda v: 0.5 * (anp.tanh(0.5 * v) + 1)  # noqa: E731

    def loss_fn(params):
        w_ih, w_hh, b_ih, b_hh, w_out, b_out = params
        h = c = np.zeros((B, H), np.float32)
        outs = []
        for t in range(T):
            gates = anp.dot(x[t], w_ih.T) + b_ih + anp.dot(h, w_hh.T) + b_hh
            i, f, g, o = gates[:, :H], gates[:, H:2 * H], gates[:, 2 * H:3 * H], gates[:, 3 * H:]
            c = sig(f) * c + sig(i) * anp.tanh(g)
            h = sig(o) * anp.tanh(c)
            outs.append(h)
        logits = anp.dot(anp.concatenate(outs, 0), w_out.T) + b_out
        shifted = logits - anp.max(logits, axis=1, keepdims=True)
        logp = shifted - anp.log(anp.sum(anp.exp(shifted), axis=1, keepdims=True))
        return -anp.mean(logp[np.arange(T * B), y])

    dloss = grad(loss_fn)
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    state = {"t": 0}

    def step():
        g = dloss(params)
        norm = np.sqrt(sum(float((gi * gi).sum()) for gi in g))
        scale = min(1.0, 1.0 / (norm + 1e-6))
        state["t"] += 1
        t = state["t"]
        for k, (p, gi) in enumerate(zip(params, g)):
            gi = gi * scale
            m[k] = 0.9 * m[k] + 0.1 * gi
            v[k] = 0.999 * v[k] + 0.001 * gi * gi
            p -= 1e-3 * (m[k] / (1 - 0.9 ** t)) / (np.sqrt(v[k] / (1 - 0.999 ** t)) + 1e-8)
    return step


# ---------------------------------------------------------------- the floor

def matmul_floor(B, T, H):
    """The matrix products of one training step, nothing else: input projection, T recurrent
    products, the head; and in the backward their weight and input gradients."""
    rng = np.random.default_rng(0)
    f32 = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    X, W_ih, W_hh, W_out = f32(T * B, V), f32(V, 4 * H), f32(H, 4 * H), f32(H, V)
    h, dg, Hs, dG, dY = f32(B, H), f32(B, 4 * H), f32(T * B, H), f32(T * B, 4 * H), f32(T * B, V)

    def step():
        X @ W_ih
        for _ in range(T):
            h @ W_hh
        Hs @ W_out
        X.T @ dG  # dW_ih
        for _ in range(T):
            dg @ W_hh.T  # dh
        Hs.T @ dG  # dW_hh, all steps at once
        Hs.T @ dY  # dW_out
        dY @ W_out.T  # dH
    return step


def ours_layer_untracked(B, T, H):
    """Our nn.LSTM with the per-node gradient norms (for drawing) switched off."""
    tg.track_grad_norms(False)
    return ours_layer(B, T, H)


BACKENDS = {
    "ours nn.LSTM": ours_layer,
    "ours nn.LSTM, no norm tracking": ours_layer_untracked,
    "ours LSTMCell loop": ours_cell,
    "torch nn.LSTM": torch_layer,
    "torch primitive-op loop": torch_cell,
    "autograd primitive-op loop": autograd_cell,
    "numpy matmul floor": matmul_floor,
}


def _time_backend(name, size, reps, threads):
    """Time one backend in a fresh process, so no library's thread pool (PyTorch's OpenMP
    threads keep spinning after each op) slows down another's. Returns seconds or None."""
    import subprocess
    cmd = [sys.executable, __file__, "--worker", name, size, str(reps), "--threads", str(threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["failed"])[-1]
        return None, last
    return json.loads(proc.stdout.strip().splitlines()[-1])["seconds"], None


def _worker(name, size, reps, threads):
    if name.startswith("torch"):  # only then: loading PyTorch alone slows numpy's BLAS here
        try:
            import torch
            torch.set_num_threads(threads)
        except ImportError:
            pass
    cfg = SIZES[size]
    try:
        step = BACKENDS[name](**cfg)
    except ImportError as err:
        print(f"{err.name or err} not installed", file=sys.stderr)
        sys.exit(3)
    print(json.dumps({"seconds": median_time(step, reps)}))


def bench_lstm(sizes, reps, results, threads, rounds):
    for size in sizes:
        cfg = SIZES[size]
        print(f"\nLSTM language-model training step, {size} size "
              f"(B={cfg['B']}, T={cfg['T']}, H={cfg['H']}, V={V}); each backend in its own "
              f"process, {rounds} interleaved rounds of {reps} steps, median")
        samples, skipped = {name: [] for name in BACKENDS}, {}
        # Rounds interleave the backends, so a slow spell of the machine hits all of them.
        for _ in range(rounds):
            for name in BACKENDS:
                if name in skipped:
                    continue
                seconds, why = _time_backend(name, size, reps, threads)
                if seconds is None:
                    skipped[name] = why
                else:
                    samples[name].append(seconds)
        row = {}
        for name in BACKENDS:
            if name in skipped:
                print(f"  {name:<32} skipped ({skipped[name]})")
                continue
            row[name] = float(np.median(samples[name]))
            spread = (max(samples[name]) - min(samples[name])) / row[name]
            print(f"  {name:<32} {row[name] * 1e3:9.2f} ms  (spread {spread:.0%})")
        results["lstm"][size] = row
        ratios = {}
        ours, cell = row.get("ours nn.LSTM"), row.get("ours LSTMCell loop")
        pairs = [("ours nn.LSTM / torch nn.LSTM", ours, row.get("torch nn.LSTM")),
                 ("ours nn.LSTM / numpy matmul floor", ours, row.get("numpy matmul floor")),
                 ("ours LSTMCell loop / torch primitive-op loop", cell,
                  row.get("torch primitive-op loop")),
                 ("autograd / ours LSTMCell loop (speed-up)",
                  row.get("autograd primitive-op loop"), cell),
                 ("autograd / ours nn.LSTM (speed-up)", row.get("autograd primitive-op loop"),
                  ours)]
        for label, a, b in pairs:
            if a and b:
                ratios[label] = a / b
                print(f"  {label:<46} {a / b:6.2f}×")
        results["lstm"][size + "_ratios"] = ratios


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
    both = median_time(lambda: forward().backward(ones), reps * 4) / n
    A, B = a.data, b.data
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
        pass
    results["overhead"] = row
    print("\nPer-op overhead (16×64 float32 multiply)")
    for k, v in row.items():
        print(f"  {k:<22} {v:8.2f}")


def _traced_peak(fn):
    import tracemalloc
    tracemalloc.start()
    tracemalloc.reset_peak()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def bench_depth(smoke, results):
    """An RNN over T = 10,000 steps: backward completes; time and memory against T."""
    row = {}
    steps = (50, 100, 200) if smoke else (2500, 5000, 10_000)
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


def bench_memory(smoke, results):
    """Memory per LSTM time step (forward graph held for backward), from two sequence lengths."""
    B, H = (2, 4) if smoke else (32, 256)
    lstm = nn.LSTM(V, H)
    peaks = {}
    for T in (16, 32):
        x = tg.Tensor(make_data(B, T)[0])

        def run():
            out, _ = lstm(x)
            out.sum().backward()
        peaks[T] = _traced_peak(run)
    per_step = (peaks[32] - peaks[16]) / 16
    results["memory"] = {"B": B, "H": H, "bytes_per_step": per_step}
    print(f"\nLSTM memory per time step (B={B}, H={H}): {per_step / 1024:.1f} KiB "
          f"(the arrays the backward needs: ~{(B * H * 4 * 12) / 1024:.0f} KiB of float32 "
          f"activations)")


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def bench_leak(smoke, results):
    """Resident memory of a 1,000-step training run at start and end."""
    steps = 50 if smoke else 1000
    step = ours_layer(16, 32, 64) if not smoke else ours_layer(2, 3, 4)
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


def main(args):
    sections = set(args.only.split(","))
    sizes = ["smoke"] if args.smoke else args.sizes.split(",")
    reps = 1 if args.smoke else args.reps
    results = {"machine": {"python": platform.python_version(), "numpy": np.__version__,
                           "cpu": platform.processor() or platform.machine(),
                           "cores": os.cpu_count(), "threads": args.threads},
               "time": time.strftime("%Y-%m-%d %H:%M:%S"), "lstm": {}}
    import importlib.metadata
    try:
        results["machine"]["torch"] = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        print("note: PyTorch is not installed; its rows are skipped (make bench installs it)")
    print(f"machine: {results['machine']}")
    if "lstm" in sections:
        bench_lstm(sizes, reps, results, args.threads, 1 if args.smoke else args.rounds)
    if "overhead" in sections:
        bench_overhead(reps, results)
    if "depth" in sections:
        bench_depth(args.smoke, results)
    if "memory" in sections:
        bench_memory(args.smoke, results)
    if "leak" in sections:
        bench_leak(args.smoke, results)
    path = pathlib.Path(args.json) if args.json else (
        pathlib.Path(__file__).parent / "results" / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1, default=str))
    print(f"\nwrote {path}")
    return results


if __name__ == "__main__":
    if ARGS.worker:
        _worker(ARGS.worker[0], ARGS.worker[1], int(ARGS.worker[2]), ARGS.threads)
    else:
        main(ARGS)
