"""Errors that name the op: a primitive's forward failing, NaN/Inf under ``detect_anomaly``, and
a backward through saved arrays that were freed or overwritten. ``engine.py`` raises them; they
live here so the engine stays a one-sitting read."""
from __future__ import annotations

import numpy as np

from .versions import changed_since


class AnomalyError(RuntimeError):
    """Raised under ``detect_anomaly`` by the first op whose result is NaN or Inf."""


def forward_error(fn, arrays, err):
    """Turn an error raised inside a primitive's forward into one that names the op and shapes."""
    msg = str(err)
    if msg.startswith(fn.name + ":"):
        return err
    if fn.broadcasts and isinstance(err, ValueError):
        return ValueError(f"{fn.name}: shapes {shapes(arrays)} cannot be broadcast together "
                          f"(trailing dimensions must be equal or 1)")
    return type(err)(f"{fn.name}: failed on inputs of shapes {shapes(arrays)}: {msg}")


def shapes(arrays) -> str:
    return ", ".join(str(tuple(np.shape(a))) for a in arrays)


def _checkable(x):
    """An ndarray for a gradient as a VJP may return it: an array, a Tensor (under create_graph)
    or a deferred weight product (engine.Deferred, computed here: anomaly mode is for debugging)."""
    if x is None:
        return None
    if hasattr(x, "value") and hasattr(x, "a"):
        x = x.value()
    return np.asarray(getattr(x, "array", x))


def check_finite(fn, scope, inputs, outputs, phase):
    """Raise :class:`AnomalyError` if ``outputs`` hold NaN/Inf although ``inputs`` do not."""
    inputs, outputs = [_checkable(a) for a in inputs], [_checkable(o) for o in outputs]
    inputs_ok = all(np.isfinite(a).all() for a in inputs
                    if a is not None and a.dtype.kind in "fc")
    bad = [o for o in outputs if o is not None and o.dtype.kind in "fc" and not np.isfinite(o).all()]
    if bad and inputs_ok:
        raise AnomalyError(
            f"{fn.name} {phase} produced NaN/Inf in scope {'/'.join(scope) or '(top level)'}; "
            f"input shapes [{shapes([a for a in inputs if a is not None])}]")


def check_backward_allowed(node):
    """A node's saved arrays must still exist and be unchanged since it was recorded."""
    if node.saved is None:
        raise RuntimeError(
            f"backward: trying to backward through the graph a second time (node {node.name} in "
            f"scope {'/'.join(node.scope) or '-'}): its saved arrays were freed; call "
            f"backward(retain_graph=True) the first time")
    for saved in node.saved:
        if type(saved) is np.ndarray and changed_since(saved, node.id):
            raise RuntimeError(
                f"backward: one of the arrays needed for the gradient of {node.name} (scope "
                f"{'/'.join(node.scope) or '-'}, shape {saved.shape}) has been modified by an "
                f"in-place operation after it was saved. Use an out-of-place op (x = x + y "
                f"instead of x += y), or clone() before changing it.")
