"""Optimizers with PyTorch's update rules, and gradient clipping built into ``step()``.

Each rule is written in its docstring as the code computes it (g: gradient, p: parameter,
t: step count). Updates are in place on ``p.data``, in the parameter's dtype.
"""
from __future__ import annotations

import math

import numpy as np

from ..tensor import Tensor, as_numpy
from ..clip_grad import clip_grad_norm_, total_grad_norm


class Optimizer:
    """Base: parameter groups, ``zero_grad``, clipping, state (de)serialisation.

    ``params``: a list of leaf Tensors, or a list of dicts ``{"params": [...], "lr": ...}`` with
    per-group options (missing options come from the constructor's defaults).
    ``max_grad_norm``: if set, ``step()`` first clips the global gradient norm over all groups
    (see ``clip_grad_norm_``) and records ``last_grad_norm`` and ``last_clipped``.
    """

    def __init__(self, params, defaults, max_grad_norm=None):
        name = type(self).__name__
        if isinstance(params, Tensor):
            raise TypeError(f"{name}: params must be an iterable of Tensors or of dicts, "
                            f"got a single Tensor (wrap it in a list)")
        params = list(params)
        if not params:
            raise ValueError(f"{name}: got an empty parameter list")
        if max_grad_norm is not None and not max_grad_norm > 0:
            raise ValueError(f"{name}: max_grad_norm must be positive (or None), got "
                             f"{max_grad_norm}")
        self.defaults = defaults
        self.max_grad_norm = max_grad_norm
        self.last_grad_norm = None
        self.last_clipped = False
        self.state = {}  # id(param) -> dict of arrays
        self.param_groups = []
        for group in (params if isinstance(params[0], dict) else [{"params": params}]):
            self.add_param_group(group)

    def add_param_group(self, param_group):
        """Add a group ``{"params": [...], option: value, …}``; options it leaves out come from
        the constructor's defaults. A parameter may belong to one group only."""
        name = type(self).__name__
        group = dict(param_group)
        params = group["params"]
        group["params"] = [params] if isinstance(params, Tensor) else list(params)
        seen = {id(p) for p in self._params()}
        for p in group["params"]:
            if not isinstance(p, Tensor) or not p.is_leaf:
                raise ValueError(f"{name}: can only optimize leaf Tensors, got "
                                 + (type(p).__name__ if not isinstance(p, Tensor) else
                                    f"a non-leaf of shape {p.shape} (made by {p.node.name})"))
            if id(p) in seen:
                raise ValueError(f"{name}: a parameter of shape {p.shape} appears in more than "
                                 f"one place (parameter groups must not overlap)")
            seen.add(id(p))
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self._check_group(group)
        self.param_groups.append(group)

    def _check_group(self, group):
        name = type(self).__name__
        for key in ("lr", "eps", "weight_decay", "momentum", "alpha", "lr_decay"):
            if key in group and group[key] < 0:
                raise ValueError(f"{name}: {key} must be non-negative, got {group[key]}")
        if "betas" in group:
            b1, b2 = group["betas"]
            if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
                raise ValueError(f"{name}: betas must lie in [0, 1), got {group['betas']}")

    def _params(self):
        for group in self.param_groups:
            yield from group["params"]

    def zero_grad(self, set_to_none=True):
        """Set every gradient to None (PyTorch's default), or to zeros in place."""
        for p in self._params():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.array[...] = 0

    def step(self):
        """Clip (if ``max_grad_norm``), then apply the update rule to every parameter with a
        gradient."""
        params = [p for p in self._params() if p.grad is not None]  # frozen ones have none
        if self.max_grad_norm is not None:
            norm = clip_grad_norm_(params, self.max_grad_norm)
            self.last_grad_norm, self.last_clipped = norm, bool(norm > self.max_grad_norm)
        else:
            self.last_grad_norm = total_grad_norm([p.grad.array for p in params])
            self.last_clipped = False
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self._update(p, p.grad.array, self.state.setdefault(id(p), {}), group)

    def _update(self, p, g, state, group):  # pragma: no cover - interface
        raise NotImplementedError

    # ------------------------------------------------------------ state
    def state_dict(self):
        """{"state": {index: {name: array or number}}, "param_groups": [options + "params":
        indices]}: PyTorch's layout, with numpy arrays; parameters are numbered in order."""
        index = {id(p): i for i, p in enumerate(self._params())}
        state = {index[k]: {n: (v.copy() if isinstance(v, np.ndarray) else v) for n, v in s.items()}
                 for k, s in self.state.items() if k in index}
        groups = [{**{k: v for k, v in g.items() if k != "params"},
                   "params": [index[id(p)] for p in g["params"]]} for g in self.param_groups]
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore from :meth:`state_dict` — ours, or a PyTorch optimizer's of the same kind
        (its tensors become arrays, its ``step`` an int). Everything is checked here, so a state
        that doesn't fit fails now, not at the next ``step()``."""
        name = type(self).__name__
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups) or any(
                len(a["params"]) != len(b["params"]) for a, b in zip(groups, self.param_groups)):
            raise ValueError(f"{name}.load_state_dict: the saved parameter groups do not match "
                             f"this optimizer's")
        params = list(self._params())
        options = []
        for saved in groups:
            options.append({k: self._restore_option(k, v) for k, v in saved.items()
                            if k != "params"})
        state = {}
        for key, saved in state_dict["state"].items():
            p = params[int(key)]
            group = next(dict(self.defaults, **o) for o, g in zip(options, self.param_groups)
                         if any(q is p for q in g["params"]))
            state[id(p)] = self._restore_state(saved, p, key)
            needed = self._state_needed(group)
            if state[id(p)] and set(state[id(p)]) != needed:
                raise ValueError(f"{name}.load_state_dict: the state of parameter {key} has "
                                 f"{sorted(state[id(p)])}; {name} with these options needs "
                                 f"{sorted(needed)}")
        self.state = state
        for restored, group in zip(options, self.param_groups):
            group.update(restored)

    def _restore_state(self, saved, p, key):
        name = type(self).__name__
        restored = {}
        for n, v in saved.items():
            if v is None:  # PyTorch's SGD keeps momentum_buffer=None without momentum
                continue
            if n not in self.state_keys:
                raise ValueError(f"{name}.load_state_dict: parameter {key} has state {n!r}, which "
                                 f"{name} does not use (is the state from another optimizer?); "
                                 f"expected {sorted(self.state_keys)}")
            v = as_numpy(v)
            if n == "step":
                restored[n] = int(np.asarray(v).item())
                continue
            if v.shape != p.shape:
                raise ValueError(f"{name}.load_state_dict: state {n!r} of parameter {key} has "
                                 f"shape {v.shape}, the parameter {p.shape}")
            restored[n] = np.array(v, dtype=p.dtype, copy=True)
        return restored

    def _state_needed(self, group):
        """The state entries this optimizer keeps for a parameter under ``group``'s options."""
        return set(self.state_keys)

    def _restore_option(self, key, value):
        name = type(self).__name__
        if key == "decoupled_weight_decay":  # PyTorch 2.x writes it for Adam (False), AdamW (True)
            if bool(value) != getattr(self, "decoupled", False):
                owner = "AdamW" if value else "Adam"
                raise ValueError(f"{name}.load_state_dict: the state was saved with "
                                 f"decoupled_weight_decay={value}, so it belongs to {owner}, "
                                 f"not {name}")
            return value
        if key in self.defaults or key == "initial_lr":
            return tuple(value) if key == "betas" else value
        if key in _IGNORED_OPTIONS and value in _IGNORED_OPTIONS[key]:
            return value  # PyTorch implementation switches that change no numbers
        raise ValueError(f"{name}.load_state_dict: option {key}={value!r} is not supported "
                         f"here")

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(g.items()) if k != "params"]
        return "\n".join(lines + [")"])


_IGNORED_OPTIONS = {"foreach": (None, False, True), "fused": (None, False),
                    "capturable": (False,), "differentiable": (False,), "maximize": (False,)}


def _weight_decayed(p, g, wd):
    return g + wd * p.array if wd else g


class SGD(Optimizer):
    """g ← g + λp;  b ← μb + (1-τ)g (b = g on the first step);  g ← g + μb (Nesterov) or b;
    p ← p - lr·g."""

    state_keys = {"momentum_buffer"}

    def _state_needed(self, group):
        return {"momentum_buffer"} if group["momentum"] else set()

    def __init__(self, params, lr, momentum=0, dampening=0, weight_decay=0, nesterov=False,
                 max_grad_norm=None):
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum needs momentum > 0 and dampening = 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov),
                         max_grad_norm)

    def _update(self, p, g, state, group):
        g = _weight_decayed(p, g, group["weight_decay"])
        mu = group["momentum"]
        if mu:
            if "momentum_buffer" not in state:
                buf = state["momentum_buffer"] = np.array(g, copy=True)
            else:
                buf = state["momentum_buffer"]
                buf *= mu
                buf += (1 - group["dampening"]) * g
            g = g + mu * buf if group["nesterov"] else buf
        p.array -= group["lr"] * g


class Adam(Optimizer):
    """t ← t+1;  g ← g + λp;  m ← m + (1-β₁)(g - m);  v ← β₂v + (1-β₂)g²;
    (AMSGrad: v̂ ← max(v̂, v), used in place of v)
    p ← p - (lr / (1-β₁ᵗ)) · m / (√v / √(1-β₂ᵗ) + ε)."""

    decoupled = False
    state_keys = {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}

    def _state_needed(self, group):
        return {"step", "exp_avg", "exp_avg_sq"} | ({"max_exp_avg_sq"} if group["amsgrad"] else set())

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, max_grad_norm=None):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad), max_grad_norm)

    def _update(self, p, g, state, group):
        lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        if self.decoupled:
            p.array *= 1 - lr * wd
        else:
            g = _weight_decayed(p, g, wd)
        if not state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(p.array)
            state["exp_avg_sq"] = np.zeros_like(p.array)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = np.zeros_like(p.array)
        state["step"] += 1
        t = state["step"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m += (1 - b1) * (g - m)
        v *= b2
        v += (1 - b2) * g * g
        if group["amsgrad"]:
            np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
            v = state["max_exp_avg_sq"]
        denom = np.sqrt(v) / math.sqrt(1 - b2 ** t) + eps
        p.array -= (lr / (1 - b1 ** t)) * (m / denom)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): p ← p·(1 - lr·λ) before the Adam
    step, and λ does not enter the gradient."""

    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, max_grad_norm=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, max_grad_norm)


class RMSprop(Optimizer):
    """g ← g + λp;  s ← αs + (1-α)g²;  centred: a ← a + (1-α)(g - a), d = √(s - a²) + ε,
    else d = √s + ε;  momentum: b ← μb + g/d, p ← p - lr·b;  else p ← p - lr·g/d."""

    state_keys = {"step", "square_avg", "momentum_buffer", "grad_avg"}

    def _state_needed(self, group):
        return ({"step", "square_avg"} | ({"momentum_buffer"} if group["momentum"] else set())
                | ({"grad_avg"} if group["centered"] else set()))

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, max_grad_norm=None):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered), max_grad_norm)

    def _update(self, p, g, state, group):
        alpha, eps, mu = group["alpha"], group["eps"], group["momentum"]
        g = _weight_decayed(p, g, group["weight_decay"])
        if not state:
            state["step"] = 0
            state["square_avg"] = np.zeros_like(p.array)
            if mu:
                state["momentum_buffer"] = np.zeros_like(p.array)
            if group["centered"]:
                state["grad_avg"] = np.zeros_like(p.array)
        state["step"] += 1
        s = state["square_avg"]
        s *= alpha
        s += (1 - alpha) * g * g
        if group["centered"]:
            a = state["grad_avg"]
            a += (1 - alpha) * (g - a)
            denom = np.sqrt(s - a * a) + eps
        else:
            denom = np.sqrt(s) + eps
        if mu:
            buf = state["momentum_buffer"]
            buf *= mu
            buf += g / denom
            p.array -= group["lr"] * buf
        else:
            p.array -= group["lr"] * (g / denom)


class Adagrad(Optimizer):
    """t ← t+1;  g ← g + λp;  lr_t = lr / (1 + (t-1)·decay);  s ← s + g² (s starts at
    ``initial_accumulator_value``);  p ← p - lr_t · g / (√s + ε)."""

    state_keys = {"step", "sum"}

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
                 eps=1e-10, max_grad_norm=None):
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      eps=eps), max_grad_norm)

    def _update(self, p, g, state, group):
        g = _weight_decayed(p, g, group["weight_decay"])
        if not state:
            state["step"] = 0
            state["sum"] = np.full_like(p.array, group["initial_accumulator_value"])
        state["step"] += 1
        lr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        state["sum"] += g * g
        p.array -= lr * (g / (np.sqrt(state["sum"]) + group["eps"]))
