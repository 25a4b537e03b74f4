"""Turn a benchmark run's JSON into the Markdown tables the README shows.

    .venv/bin/python benchmarks/to_markdown.py benchmarks/results/bench-<time>.json
"""
from __future__ import annotations

import json
import sys


def _ms(r):
    if r is None:
        return "—"
    if "skipped" in r:
        return "skipped"
    s = r["seconds"] * 1e3
    text = f"{s:.0f} ms" if s >= 100 else f"{s:.1f} ms" if s >= 1 else f"{s:.2f} ms"
    if r.get("compile_seconds"):
        text += f" (compile {r['compile_seconds']:.0f} s)"
    return text


def markdown(results):
    lstm = results.get("lstm", {})
    sizes = [s for s in ("learning", "work") if s in lstm]
    lines = []
    if sizes:
        names = list(dict.fromkeys(n for s in sizes for n in lstm[s]))
        head = {"learning": "learning (B=16, T=32, H=64)", "work": "work (B=32, T=64, H=256)"}
        lines += ["| training step | " + " | ".join(head[s] for s in sizes) + " | first-step loss |",
                  "|---|" + "---|" * len(sizes) + "---|"]
        for n in names:
            label = next(lstm[s][n]["label"] for s in sizes if n in lstm[s])
            losses = [lstm[s][n].get("first_loss") for s in sizes if n in lstm[s]]
            loss = " / ".join("—" if v is None else f"{v:.6f}" for v in losses)
            lines.append(f"| {label} | " + " | ".join(_ms(lstm[s].get(n)) for s in sizes)
                         + f" | {loss} |")
        lines += ["", "| ratio | " + " | ".join(sizes) + " |", "|---|" + "---|" * len(sizes)]
        labels = list(dict.fromkeys(k for s in sizes for k in lstm.get(s + "_ratios", {})))
        for k in labels:
            cells = [lstm.get(s + "_ratios", {}).get(k) for s in sizes]
            lines.append(f"| {k} | " + " | ".join("—" if c is None else f"{c:.2f}×"
                                                 for c in cells) + " |")
    mem = results.get("memory")
    if mem:
        any_r = next(iter(mem.values()))
        lines += ["", f"| memory per time step (B={any_r['B']}, H={any_r['H']}, T="
                  f"{any_r['lengths'][0]}→{any_r['lengths'][1]}) | MiB/step | backward needs "
                  f"at least |", "|---|---|---|"]
        for kind, r in mem.items():
            lines.append(f"| nn.{kind} | {r['mib_per_step']:.3f} | "
                         f"{r['minimum_bytes_per_step'] / 2**20:.3f} |")
    other = []
    if "overhead" in results:
        o = results["overhead"]
        text = (f"forward {o['ours forward us']:.1f} µs, backward {o['ours backward us']:.1f} µs"
                f"; bare numpy {o['numpy multiply us']:.1f} µs")
        if "torch forward us" in o:
            text += f"; PyTorch {o['torch forward us']:.1f} / {o['torch backward us']:.1f} µs"
        other.append(("per-op overhead, 16×64 multiply (ours)", text))
    if "depth" in results:
        d = results["depth"]
        T = max(d, key=int)
        other.append((f"tanh RNN, T = {T}, forward + backward",
                      f"{d[T]['seconds']:.1f} s; peak {d[T]['bytes_per_step'] / 1024:.1f} KiB "
                      f"per step"))
    if "leak" in results:
        k = results["leak"]
        other.append((f"{k['steps']} training steps, resident memory",
                      f"{k['rss_start'] / 2**20:.0f} MiB → {k['rss_end'] / 2**20:.0f} MiB"))
    if other:
        lines += ["", "| other measures | result |", "|---|---|"]
        lines += [f"| {a} | {b} |" for a, b in other]
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: to_markdown.py RESULTS.json")
    with open(sys.argv[1]) as f:
        print(markdown(json.load(f)))
