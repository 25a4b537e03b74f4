"""Grad modes: what recording does inside a block — ``no_grad``, ``enable_grad``,
``detect_anomaly``, ``keep_values``, ``scope`` — and ``track_grad_norms`` for the renderer.

Each is a context manager that changes :data:`engine.mode` and restores it on exit; ``no_grad``
and the settings also work as decorators.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from .engine import _Handle, _backward_hooks, mode

class no_grad:
    """Ops inside record no graph (``torch.no_grad``). A context manager, and a decorator with
    or without parentheses: ``@no_grad`` and ``@no_grad()`` both work."""

    _enabled = False

    def __new__(cls, fn=None):
        self = super().__new__(cls)
        return self(fn) if callable(fn) else self

    def __enter__(self):
        self.prev = mode.grad
        mode.grad = self._enabled

    def __exit__(self, *exc):
        mode.grad = self.prev

    def __call__(self, fn):
        def wrapper(*args, **kwargs):
            with type(self)():
                return fn(*args, **kwargs)
        wrapper.__name__, wrapper.__doc__, wrapper.__wrapped__ = fn.__name__, fn.__doc__, fn
        return wrapper


class enable_grad(no_grad):
    """Turn recording back on inside a ``no_grad`` block."""

    _enabled = True


def is_grad_enabled() -> bool:
    return mode.grad


class set_grad_enabled:
    """``torch.set_grad_enabled(flag)``: switches recording on or off at once, and, used as a
    context manager, restores the previous setting on exit."""

    def __init__(self, enabled):
        self.prev = mode.grad
        mode.grad = bool(enabled)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        mode.grad = self.prev


class inference_mode(no_grad):
    """``torch.inference_mode``: here the same as ``no_grad`` (nothing is recorded)."""

    def __new__(cls, mode=True):
        self = super().__new__(cls, mode if callable(mode) else None)
        if not callable(mode):
            self._enabled = not mode
        return self


class _setting:
    """Set ``mode.<name>`` inside a ``with`` block (or a decorated function), then restore it.
    A small class, not a generator: recurrent layers enter a scope at every time step."""

    __slots__ = ("name", "value", "prev")

    def __init__(self, name, value):
        self.name, self.value = name, value

    def __enter__(self):
        self.prev = getattr(mode, self.name)
        setattr(mode, self.name, self.value)
        return self

    def __exit__(self, *exc):
        setattr(mode, self.name, self.prev)

    def __call__(self, fn):
        """As a decorator: a fresh setting per call, so the function may be re-entered."""
        name, value = self.name, self.value

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with _setting(name, value):
                return fn(*args, **kwargs)
        return wrapper


def detect_anomaly():
    """Check every op's output (forward) and every VJP's result (backward) for NaN/Inf; the first
    op that *produces* one from finite inputs raises :class:`AnomalyError` naming the op, its
    scope and its input shapes. Slow; for debugging."""
    return _setting("anomaly", True)


def keep_values():
    """Nodes recorded inside keep their output arrays (``node.values``) so the renderer can show
    the values of intermediates the program no longer holds. Costs the memory the saved-tensors
    graph saves; use it for the graphs you draw, not for training."""
    return _setting("keep_values", True)


def scope(name: str):
    """Name the nodes recorded inside: ``with scope("encoder"): ...``. Scopes nest into a path."""
    return _setting("scope", mode.scope + (str(name),))


def current_scope() -> tuple:
    return mode.scope


# ---------------------------------------------------------------- gradient norms for pictures

def _record_grad_norm(node, grads, input_grads):
    node.grad_norm = math.sqrt(sum(float(np.vdot(g, g).real) for g in grads if g is not None))


class track_grad_norms:
    """Record ‖dL/d(outputs)‖ on every node backward visits (``node.grad_norm``), which the
    renderer's gradient heat and ``viz.time_step_grad_norms`` read. A backward hook, off unless
    asked for (importing the renderer switches nothing on); it costs about a microsecond a node.

        with tg.track_grad_norms():          # only inside the block
            loss.backward()
        tg.track_grad_norms(True)            # or from now on
    """

    def __init__(self, enabled=True):
        self.prev = _record_grad_norm in _backward_hooks
        _set_grad_norms(bool(enabled))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _set_grad_norms(self.prev)


def _set_grad_norms(enabled):
    if enabled and _record_grad_norm not in _backward_hooks:
        _backward_hooks.append(_record_grad_norm)
    elif not enabled and _record_grad_norm in _backward_hooks:
        _backward_hooks.remove(_record_grad_norm)
