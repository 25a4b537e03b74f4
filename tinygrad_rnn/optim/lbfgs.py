"""L-BFGS with PyTorch's rules (``torch.optim.LBFGS``): the same directions, step lengths, stopping
tests and state, so a program such as PyTorch's ``time_sequence_prediction`` example follows
PyTorch's losses step by step.

All parameters are seen as one flat vector x with gradient g. One ``step(closure)`` runs up to
``max_iter`` iterations of (Nocedal & Wright, *Numerical Optimization*, 2nd ed., ch. 7 and 3):

    s = t·d (the last step),  y = g - g_prev;  keep (s, y, ρ = 1/(yᵀs)) only if yᵀs > 1e-10,
        dropping the oldest pair beyond ``history_size``;  γ = yᵀs / yᵀy  (H_diag)
    d = -H·g by the two-loop recursion (algorithm 7.4) with H₀ = γ·I:
        q = -g;  for the pairs newest→oldest: α_i = ρ_i·s_iᵀq,  q ← q - α_i·y_i
        r = γ·q; for the pairs oldest→newest: β_i = ρ_i·y_iᵀr,  r ← r + (α_i - β_i)·s_i;  d = r
    (on the very first iteration d = -g)
    t = lr, except on the very first iteration t = min(1, 1/‖g‖₁)·lr
    stop if gᵀd > -tolerance_change (not a descent direction)
    x ← x + t·d, either with that t, or with the t of a strong-Wolfe line search
        (``line_search_fn="strong_wolfe"``: algorithms 3.5/3.6 with c₁ = 1e-4, c₂ = 0.9,
        at most 25 evaluations, trial steps from the minimiser of the cubic through the two
        end points' values and slopes, eq. 3.59)
    stop when: max_iter iterations, or max_eval evaluations of the closure, or
        max|g| ≤ tolerance_grad, or max|t·d| ≤ tolerance_change, or
        |loss - loss_prev| < tolerance_change.

Without a line search the closure is evaluated once per iteration (except after the last), so a
``step`` costs at most ``max_iter`` evaluations. The history, the last direction, step and
gradient live on in ``state`` between calls to ``step``, as in PyTorch.

Scalars (yᵀs, ρ, γ, t, …) stay numpy scalars of the parameters' dtype, so float32 runs round like
PyTorch's 0-d float32 tensors do.
"""
from __future__ import annotations

import numpy as np

from ..grad_mode import enable_grad, no_grad
from ..tensor import as_numpy
from .optimizer import Optimizer


class LBFGS(Optimizer):
    """``LBFGS(params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7,
    tolerance_change=1e-9, history_size=100, line_search_fn=None)``, PyTorch's L-BFGS.

    ``step(closure)`` needs a closure that zeroes the gradients, computes the loss, calls
    ``backward()`` and returns the loss; it returns the closure's first result. One parameter
    group only (as in PyTorch). ``max_eval`` defaults to ``max_iter * 5 // 4``.
    """

    state_keys = {"func_evals", "n_iter", "d", "t", "old_dirs", "old_stps", "ro", "H_diag",
                  "prev_flat_grad", "prev_loss", "al"}

    def __init__(self, params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7,
                 tolerance_change=1e-9, history_size=100, line_search_fn=None):
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        super().__init__(params, dict(lr=lr, max_iter=max_iter, max_eval=max_eval,
                                      tolerance_grad=tolerance_grad,
                                      tolerance_change=tolerance_change,
                                      history_size=history_size, line_search_fn=line_search_fn))
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS: per-parameter options (several parameter groups) are not "
                             "supported, as in PyTorch: pass one list of parameters")
        self._leaves = self.param_groups[0]["params"]

    def _check_group(self, group):
        super()._check_group(group)
        for key in ("max_iter", "max_eval", "history_size"):
            if key in group and (not isinstance(group[key], (int, np.integer)) or group[key] < 1):
                raise ValueError(f"LBFGS: {key} must be a positive int, got {group[key]!r}")
        if group.get("line_search_fn") not in (None, "strong_wolfe"):
            raise ValueError(f"LBFGS: line_search_fn must be None or 'strong_wolfe', got "
                             f"{group['line_search_fn']!r}")

    def add_param_group(self, param_group):
        if self.param_groups:
            raise ValueError("LBFGS: per-parameter options (several parameter groups) are not "
                             "supported, as in PyTorch")
        super().add_param_group(param_group)

    # ------------------------------------------------------------ the flat vector x
    def _flat_grad(self):
        parts = [np.zeros(p.array.size, dtype=p.array.dtype) if p.grad is None
                 else np.asarray(p.grad).reshape(-1) for p in self._leaves]
        return np.concatenate(parts) if len(parts) > 1 else parts[0].copy()

    def _arrays(self):
        return [p.array for p in self._leaves]

    def _move(self, t, d):
        """x ← x + t·d, in place, each parameter in its own dtype."""
        offset = 0
        for a in self._arrays():
            piece = d[offset:offset + a.size].reshape(a.shape)
            a += a.dtype.type(t) * piece
            offset += a.size

    def _evaluate(self, closure):
        with enable_grad():
            loss = closure()
        return loss

    def _try(self, closure, x, t, d):
        """Loss and gradient at x + t·d, leaving the parameters at x."""
        self._move(t, d)
        loss = float(self._evaluate(closure))
        g = self._flat_grad()
        for a, saved in zip(self._arrays(), x):
            a[...] = saved
        return loss, g

    # ------------------------------------------------------------ one step
    def step(self, closure):
        """Up to ``max_iter`` L-BFGS iterations; returns the loss the closure first returned."""
        if closure is None:
            raise ValueError("LBFGS.step: needs a closure that recomputes the loss and its "
                             "gradients (zero_grad, forward, backward, return loss)")
        with no_grad():
            return self._step(closure)

    def _step(self, closure):
        group = self.param_groups[0]
        lr, max_iter, max_eval = group["lr"], group["max_iter"], group["max_eval"]
        tol_grad, tol_change = group["tolerance_grad"], group["tolerance_change"]
        history_size = group["history_size"]
        state = self.state.setdefault(id(self._leaves[0]), {})
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        orig_loss = self._evaluate(closure)
        loss = float(orig_loss)
        evals = 1
        state["func_evals"] += 1
        g = self._flat_grad()
        if np.abs(g).max() <= tol_grad:  # already optimal
            return orig_loss

        d, t = state.get("d"), state.get("t")
        old_dirs, old_stps, ro = state.get("old_dirs"), state.get("old_stps"), state.get("ro")
        H_diag = state.get("H_diag")
        prev_g, prev_loss = state.get("prev_flat_grad"), state.get("prev_loss")

        iters = 0
        while iters < max_iter:
            iters += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:
                d = -g
                old_dirs, old_stps, ro = [], [], []
                H_diag = 1
            else:
                y = g - prev_g
                s = d * t
                ys = np.dot(y, s)
                if ys > 1e-10:  # curvature condition: keep the pair
                    if len(old_dirs) == history_size:
                        del old_dirs[0], old_stps[0], ro[0]
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    H_diag = ys / np.dot(y, y)
                if "al" not in state:
                    state["al"] = [None] * history_size
                d = _two_loop(g, old_dirs, old_stps, ro, H_diag, state["al"])

            prev_g = g.copy()
            prev_loss = loss
            t = min(1.0, 1.0 / np.abs(g).sum()) * lr if state["n_iter"] == 1 else lr
            gtd = np.dot(g, d)
            if gtd > -tol_change:  # not a descent direction
                break

            if group["line_search_fn"] == "strong_wolfe":
                x = [a.copy() for a in self._arrays()]
                loss, g, t, ls_evals = _strong_wolfe(
                    lambda step: self._try(closure, x, step, d), t, d, loss, g, gtd)
                self._move(t, d)
                optimal = np.abs(g).max() <= tol_grad
            else:
                self._move(t, d)
                ls_evals = 0
                optimal = False
                if iters != max_iter:  # the last iteration's point is evaluated by the next step
                    loss = float(self._evaluate(closure))
                    g = self._flat_grad()
                    optimal = np.abs(g).max() <= tol_grad
                    ls_evals = 1
            evals += ls_evals
            state["func_evals"] += ls_evals

            if iters == max_iter or evals >= max_eval or optimal:
                break
            if np.abs(d * t).max() <= tol_change or abs(loss - prev_loss) < tol_change:
                break

        state.update(d=d, t=t, old_dirs=old_dirs, old_stps=old_stps, ro=ro, H_diag=H_diag,
                     prev_flat_grad=prev_g, prev_loss=prev_loss)
        return orig_loss

    # ------------------------------------------------------------ state
    def state_dict(self):
        """PyTorch's layout: ``{"state": {0: {...}}, "param_groups": [...]}``, everything copied;
        vectors are flat numpy arrays, histories lists of them."""
        saved = self.state.get(id(self._leaves[0]))
        state = {0: _copy_state(saved)} if saved else {}
        group = self.param_groups[0]
        groups = [{**{k: v for k, v in group.items() if k != "params"},
                   "params": list(range(len(self._leaves)))}]
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore from :meth:`state_dict`, ours or a PyTorch LBFGS's (tensors become arrays)."""
        groups = state_dict["param_groups"]
        if len(groups) != 1 or len(groups[0]["params"]) != len(self._leaves):
            raise ValueError(f"LBFGS.load_state_dict: the saved state has "
                             f"{[len(g['params']) for g in groups]} parameters per group; this "
                             f"optimizer has one group of {len(self._leaves)}")
        options = {k: self._restore_option(k, v) for k, v in groups[0].items() if k != "params"}
        size = sum(a.size for a in self._arrays())
        dtype = np.result_type(*[a.dtype for a in self._arrays()])
        saved = dict(state_dict["state"])
        if len(saved) > 1 or (saved and next(iter(saved)) not in (0, "0")):
            raise ValueError(f"LBFGS.load_state_dict: expected the state under parameter 0 "
                             f"only, got keys {sorted(saved)}")
        state = {}
        for name, value in (next(iter(saved.values())) if saved else {}).items():
            if name not in self.state_keys:
                raise ValueError(f"LBFGS.load_state_dict: unknown state {name!r} (is the state "
                                 f"from another optimizer?); expected {sorted(self.state_keys)}")
            state[name] = _restore_value(name, value, size, dtype)
        merged = dict(self.param_groups[0], **options)
        self._check_group(merged)
        if len(state.get("old_dirs", ())) > merged["history_size"]:
            raise ValueError(f"LBFGS.load_state_dict: the state holds {len(state['old_dirs'])} "
                             f"history pairs, more than history_size={merged['history_size']}")
        self.state = {id(self._leaves[0]): state} if state else {}
        self.param_groups[0].update(options)


def _two_loop(g, old_dirs, old_stps, ro, H_diag, al):
    """d = -H·g by the two-loop recursion with H₀ = H_diag·I; ``al`` receives the α_i."""
    q = -g
    for i in range(len(old_dirs) - 1, -1, -1):
        al[i] = np.dot(old_stps[i], q) * ro[i]
        q -= q.dtype.type(al[i]) * old_dirs[i]
    r = q * H_diag
    for i in range(len(old_dirs)):
        be_i = np.dot(old_dirs[i], r) * ro[i]
        r += r.dtype.type(al[i] - be_i) * old_stps[i]
    return r


def _cubic_min(a, fa, ga, b, fb, gb, bounds=None):
    """The minimiser of the cubic through (a, fa) and (b, fb) with slopes ga, gb (Nocedal &
    Wright eq. 3.59), clipped into ``bounds`` (default: between a and b); the middle of the
    bounds when the cubic has no minimum."""
    lo, hi = bounds if bounds is not None else ((a, b) if a <= b else (b, a))
    d1 = ga + gb - 3 * (fa - fb) / (a - b)
    disc = d1 ** 2 - ga * gb
    if disc < 0:
        return (lo + hi) / 2.0
    d2 = np.sqrt(disc)
    if a <= b:
        x = b - (b - a) * ((gb + d2 - d1) / (gb - ga + 2 * d2))
    else:
        x = a - (a - b) * ((ga + d2 - d1) / (ga - gb + 2 * d2))
    return min(max(x, lo), hi)


def _strong_wolfe(try_step, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9, max_ls=25):
    """A step t along d satisfying the strong Wolfe conditions
    f(t) ≤ f(0) + c₁·t·f'(0)  and  |f'(t)| ≤ -c₂·f'(0)  (Nocedal & Wright algorithms 3.5, 3.6).

    ``try_step(t)`` returns (loss, gradient) at x + t·d. Returns (loss, gradient, t, number of
    evaluations) at the accepted step."""
    d_norm = np.abs(d).max()
    g = g.copy()
    f_new, g_new = try_step(t)
    evals = 1
    gtd_new = np.dot(g_new, d)

    # bracketing: grow t until [t_prev, t] holds a Wolfe point, or t itself is one
    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    done = False
    tries = 0
    while tries < max_ls:
        if f_new > f + c1 * t * gtd or (tries > 1 and f_new >= f_prev):
            ends = [[t_prev, f_prev, g_prev, gtd_prev], [t, f_new, g_new.copy(), gtd_new]]
            break
        if abs(gtd_new) <= -c2 * gtd:
            ends = [[t, f_new, g_new, gtd_new]]
            done = True
            break
        if gtd_new >= 0:
            ends = [[t_prev, f_prev, g_prev, gtd_prev], [t, f_new, g_new.copy(), gtd_new]]
            break
        # extrapolate: the cubic's minimiser, at least 1% beyond t and at most 10·t
        guess = _cubic_min(t_prev, f_prev, gtd_prev, t, f_new, gtd_new,
                           bounds=(t + 0.01 * (t - t_prev), t * 10))
        t_prev, f_prev, g_prev, gtd_prev = t, f_new, g_new.copy(), gtd_new
        t = guess
        f_new, g_new = try_step(t)
        evals += 1
        gtd_new = np.dot(g_new, d)
        tries += 1
    if tries == max_ls:
        ends = [[0, f, g, None], [t, f_new, g_new, None]]

    # zoom: shrink the bracket; `low` is the end with the lower loss
    low, high = (0, 1) if ends[0][1] <= ends[-1][1] else (1, 0)
    stalled = False
    while not done and tries < max_ls:
        (a, fa, _, ga), (b, fb, _, gb) = ends
        if abs(b - a) * d_norm < tolerance_change:
            break
        t = _cubic_min(a, fa, ga, b, fb, gb)
        # keep trial points off the bracket's ends: not closer than 10% of its width
        top, bottom = max(a, b), min(a, b)
        margin = 0.1 * (top - bottom)
        if min(top - t, t - bottom) < margin:
            if stalled or t >= top or t <= bottom:
                t = top - margin if abs(t - top) < abs(t - bottom) else bottom + margin
                stalled = False
            else:
                stalled = True
        else:
            stalled = False
        f_new, g_new = try_step(t)
        evals += 1
        gtd_new = np.dot(g_new, d)
        tries += 1
        if f_new > f + c1 * t * gtd or f_new >= ends[low][1]:
            ends[high] = [t, f_new, g_new.copy(), gtd_new]
            low, high = (0, 1) if ends[0][1] <= ends[1][1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (ends[high][0] - ends[low][0]) >= 0:
                ends[high] = ends[low]  # the minimiser lies on the other side of t
            ends[low] = [t, f_new, g_new.copy(), gtd_new]

    t, f_new, g_new, _ = ends[low]
    return f_new, g_new, t, evals


def _copy_state(state):
    out = {}
    for k, v in state.items():
        if isinstance(v, list):
            out[k] = [x.copy() if isinstance(x, np.ndarray) else x for x in v]
        else:
            out[k] = v.copy() if isinstance(v, np.ndarray) else v
    return out


def _restore_value(name, value, size, dtype):
    """One saved state entry as numpy values of the parameters' dtype; vectors are checked
    against the number of parameter elements."""
    if name in ("func_evals", "n_iter"):
        return int(as_numpy(value))
    if name == "prev_loss":
        return float(as_numpy(value))
    if name in ("old_dirs", "old_stps"):
        return [_vector(f"{name}[{i}]", v, size, dtype) for i, v in enumerate(value)]
    if name in ("ro", "al"):
        return [None if v is None else _restore_value("t", v, size, dtype) for v in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value  # PyTorch keeps t = lr and H_diag = 1 as plain numbers
    if name in ("d", "prev_flat_grad"):
        return _vector(name, value, size, dtype)
    v = as_numpy(value)
    if v.ndim != 0:
        raise ValueError(f"LBFGS.load_state_dict: state {name!r} must be a number, got an array "
                         f"of shape {v.shape}")
    return v.astype(dtype)[()]


def _vector(name, value, size, dtype):
    v = as_numpy(value)
    if v.shape != (size,):
        raise ValueError(f"LBFGS.load_state_dict: state {name} has shape {v.shape}; the "
                         f"parameters hold {size} numbers in all, so it must be ({size},)")
    return np.array(v, dtype=dtype, copy=True)
