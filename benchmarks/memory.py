"""Memory per time step of a recurrent layer's graph, measured with tracemalloc.

The memory a recurrent network needs for backpropagation through time grows with the sequence
length: every step leaves behind the arrays its backward will read. This measures that growth
directly: run the forward of ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN`` at two sequence lengths, and
with the whole graph still alive (before ``backward``) read how much memory is held (numpy
reports its array buffers to tracemalloc). The slope between the two lengths is the cost of one
time step; constant costs (weights, the input, the first step) cancel out.

    from memory import memory_per_step
    memory_per_step("LSTM", B=32, H=256)        # → {"bytes_per_step": ..., "held": {T: bytes}}

What backward must keep, at least, per LSTM step (float32, B×H each): the gate activations
σ(i), σ(f), tanh(g), σ(o) (4), the previous cell state c (for ∂/∂f) and tanh(c) (for ∂/∂o and
∂/∂c), and the previous h for dW_hh: about 7·B·H·4 bytes. ``minimum_bytes_per_step`` gives those
counts for each layer.
"""
from __future__ import annotations

import gc
import tracemalloc

import numpy as np

# Arrays of B×H that the backward of one step needs at least (see the module docstring):
# LSTM: σ(i), σ(f), tanh(g), σ(o), c_prev, tanh(c), h_prev; GRU: r, z, n, h_prev, h W_hn + b_hn;
# RNN: h (tanh' = 1 - h², and the next step's h_prev). Each step's h_t is the next one's h_prev.
MIN_ARRAYS = {"LSTM": 7, "GRU": 5, "RNN": 1}


def minimum_bytes_per_step(kind, B, H, itemsize=4):
    """Bytes per time step of the arrays the backward of one step cannot do without."""
    return MIN_ARRAYS[kind] * B * H * itemsize


def _held_by_graph(layer, x):
    """Bytes allocated (and still held) from before the forward to just before backward."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        out, _ = layer(x)
        loss = out.sum()
        held = tracemalloc.get_traced_memory()[0] - before
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    loss.backward()  # the graph was a real one: it must backpropagate
    return held, peak


def memory_per_step(kind, B=32, H=256, lengths=(32, 64), input_size=65, seed=0):
    """Memory per time step of ``nn.<kind>`` (kind: "LSTM", "GRU" or "RNN"), float32.

    For each T in ``lengths`` the forward runs on a (T, B, input_size) input and the bytes the
    graph holds before backward are measured; the slope between the first and the last length
    is returned as ``bytes_per_step`` (with ``mib_per_step``), together with each length's held
    bytes and the peak during the forward."""
    import tinygrad_rnn as tg
    from tinygrad_rnn import nn

    if kind not in MIN_ARRAYS:
        raise ValueError(f"memory_per_step: kind must be one of {sorted(MIN_ARRAYS)}, got {kind!r}")
    T1, T2 = lengths[0], lengths[-1]
    if not (isinstance(T1, int) and isinstance(T2, int) and 0 < T1 < T2):
        raise ValueError(f"memory_per_step: lengths must be two increasing positive ints, got "
                         f"{lengths!r}")
    layer = getattr(nn, kind)(input_size, H)
    rng = np.random.default_rng(seed)
    held, peak = {}, {}
    for T in (T1, T2):
        x = tg.Tensor(rng.standard_normal((T, B, input_size)).astype(np.float32))
        layer.zero_grad()
        held[T], peak[T] = _held_by_graph(layer, x)
    per_step = (held[T2] - held[T1]) / (T2 - T1)
    return {"kind": kind, "B": B, "H": H, "lengths": [T1, T2], "held": held, "peak": peak,
            "bytes_per_step": per_step, "mib_per_step": per_step / 2**20,
            "minimum_bytes_per_step": minimum_bytes_per_step(kind, B, H)}


# ---------------------------------------------------------------- checkpointed BPTT

def _graph_bytes(layer, x):
    """Bytes held before backward by the graph of ``layer(x).sum()`` alone: the output and final
    state are dropped (``sum`` keeps none of them), so what stays is what backward will read."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        out, _ = layer(x)
        loss = out.sum()
        del out, _
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    return loss, held


def checkpoint_memory_and_time(kind="LSTM", T=1000, B=32, H=256, every=32, input_size=65,
                               repeats=3, seed=0):
    """Plain BPTT against ``nn.<kind>(..., checkpoint_every=every)`` on the same weights and input
    (float32): the graph's bytes before backward (tracemalloc, :func:`_graph_bytes`), the time of
    a training step (forward + backward; the two run alternately, ``repeats`` times each, so load
    from other processes hits both alike; the fastest run and the median are reported, and the
    fastest in CPU seconds of this process), and
    whether every parameter's gradient is the same to the last bit (``np.array_equal``)."""
    import time

    import tinygrad_rnn as tg
    from tinygrad_rnn import nn

    if kind not in MIN_ARRAYS:
        raise ValueError(f"checkpoint_memory_and_time: kind must be one of {sorted(MIN_ARRAYS)}, "
                         f"got {kind!r}")
    tg.manual_seed(seed)
    plain = getattr(nn, kind)(input_size, H)
    ckpt = getattr(nn, kind)(input_size, H, checkpoint_every=every)
    ckpt.load_state_dict(plain.state_dict())
    rng = np.random.default_rng(seed)
    x = tg.Tensor(rng.standard_normal((T, B, input_size)).astype(np.float32))
    result = {"kind": kind, "T": T, "B": B, "H": H, "every": every}
    layers = {"plain": plain, "checkpointed": ckpt}
    grads, times, cpu = {}, {name: [] for name in layers}, {name: [] for name in layers}
    for name, layer in layers.items():
        layer.zero_grad()
        loss, held = _graph_bytes(layer, x)
        loss.backward()
        grads[name] = {n: p.grad.numpy().copy() for n, p in layer.named_parameters()}
        result[name] = {"graph_bytes": held, "graph_mib": held / 2**20}
    for _ in range(repeats):
        for name, layer in layers.items():
            layer.zero_grad()
            start, start_cpu = time.perf_counter(), time.process_time()
            out, _ = layer(x)
            out.sum().backward()
            times[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    for name in layers:
        result[name]["step_seconds"] = min(times[name])
        result[name]["median_step_seconds"] = float(np.median(times[name]))
        result[name]["cpu_step_seconds"] = min(cpu[name])
    result["memory_ratio"] = result["checkpointed"]["graph_bytes"] / result["plain"]["graph_bytes"]
    result["time_ratio"] = (result["checkpointed"]["step_seconds"]
                            / result["plain"]["step_seconds"])
    result["median_time_ratio"] = (result["checkpointed"]["median_step_seconds"]
                                   / result["plain"]["median_step_seconds"])
    # CPU time of this process: with one BLAS thread, time spent waiting for a core while other
    # processes run does not count (the wall-clock figures above include it)
    result["cpu_time_ratio"] = (result["checkpointed"]["cpu_step_seconds"]
                                / result["plain"]["cpu_step_seconds"])
    result["gradients_bit_equal"] = all(np.array_equal(grads["plain"][n], grads["checkpointed"][n])
                                        for n in grads["plain"])
    return result


def main(argv=None):
    """``python benchmarks/memory.py [--T 1000 --B 32 --H 256 --every 32 --kind LSTM]``: the
    checkpointed-BPTT comparison, printed as JSON (and written to ``--json`` if given)."""
    import argparse
    import json
    import pathlib

    p = argparse.ArgumentParser(description="plain against checkpointed BPTT: graph memory, "
                                            "step time, bit-equal gradients")
    p.add_argument("--kind", default="LSTM", choices=sorted(MIN_ARRAYS))
    for name, default in (("T", 1000), ("B", 32), ("H", 256), ("every", 32), ("repeats", 3)):
        p.add_argument(f"--{name}", type=int, default=default)
    p.add_argument("--json", default=None, help="also write the result here")
    args = p.parse_args(argv)
    result = checkpoint_memory_and_time(args.kind, T=args.T, B=args.B, H=args.H,
                                        every=args.every, repeats=args.repeats)
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        path = pathlib.Path(args.json)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text + "\n")
        tmp.replace(path)
    return result


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))
    main()
