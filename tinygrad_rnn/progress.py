"""A tiny progress line for training loops: steps/s, loss, gradient norm, clip rate.

    progress = Progress(total=1000, every=50)
    for step in range(1000):
        ...
        progress.update(loss=loss.item(), grad_norm=opt.last_grad_norm, clipped=opt.last_clipped)

Prints one line every ``every`` steps (to stdout by default) and keeps the history.
"""
from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, total=None, every=50, prefix="", stream=None, quiet=False):
        self.total, self.every, self.prefix = total, max(int(every), 1), prefix
        self.stream = sys.stdout if stream is None else stream
        self.quiet = quiet
        self.step = 0
        self.history = []  # one dict per step
        self._window_start = time.perf_counter()
        self._window_clips = 0

    def update(self, loss, grad_norm=None, clipped=None, **extra):
        """Record one step; print a line every ``every`` steps. Returns the printed line or None."""
        self.step += 1
        record = {"step": self.step, "loss": float(loss)}
        if grad_norm is not None:
            record["grad_norm"] = float(grad_norm)
        if clipped is not None:
            record["clipped"] = bool(clipped)
            self._window_clips += bool(clipped)
        record.update(extra)
        self.history.append(record)
        if self.step % self.every and self.step != self.total:
            return None
        now = time.perf_counter()
        steps = (self.step - 1) % self.every + 1
        rate = steps / max(now - self._window_start, 1e-9)
        parts = [f"{self.prefix}step {self.step}" + (f"/{self.total}" if self.total else ""),
                 f"loss {record['loss']:.4f}"]
        if grad_norm is not None:
            parts.append(f"|g| {record['grad_norm']:.3g}")
        if clipped is not None:
            parts.append(f"clipped {'yes' if clipped else 'no'} ({self._window_clips}/{steps})")
        parts += [f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in extra.items()]
        parts.append(f"{rate:.1f} steps/s")
        line = " | ".join(parts)
        if not self.quiet:
            print(line, file=self.stream, flush=True)
        self._window_start, self._window_clips = now, 0
        return line
