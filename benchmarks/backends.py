"""One LSTM language-model training step, written for each backend the benchmark compares.

Every backend does the same work from the same starting weights and data:

    one-hot characters x (T, B, V=65) → 1-layer LSTM (hidden H, gates i, f, g, o) → linear head
    → cross-entropy averaged over the B×T positions → backward → global gradient norm clipped to
    1.0 → one Adam step (lr 1e-3, betas 0.9 / 0.999, eps 1e-8)

A factory ``name(B, T, H)`` builds the model and returns ``step()``, which runs one training step
and returns the loss it computed *before* the update (so the first call's loss is the loss at
the shared starting weights, and every backend's first loss must agree). ``step.compile_seconds``
is set by backends that compile ahead of time (JAX). The "numpy floor" does no real training
step and returns None.

Optional libraries are imported inside the factories; a missing one raises ImportError, which the
runner reports as "not installed".
"""
from __future__ import annotations

import os
import time

import numpy as np

V = 65
LR, BETA1, BETA2, EPS, MAX_NORM = 1e-3, 0.9, 0.999, 1e-8, 1.0
NAMES = ("w_ih", "w_hh", "b_ih", "b_hh", "w_out", "b_out")


def make_data(B, T, seed=0):
    """One-hot inputs (T, B, V) float32 and next-character targets (T·B,) int64."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, V, size=(T + 1, B))
    x = np.eye(V, dtype=np.float32)[tokens[:-1]]
    return x, tokens[1:].reshape(-1).astype(np.int64)


def init_weights(H, seed=0):
    """The same starting weights for every backend (PyTorch's layout and U(-1/√H, 1/√H))."""
    rng = np.random.default_rng(seed)
    k = 1 / np.sqrt(H)

    def u(*shape):
        return rng.uniform(-k, k, shape).astype(np.float32)
    return {"w_ih": u(4 * H, V), "w_hh": u(4 * H, H), "b_ih": u(4 * H), "b_hh": u(4 * H),
            "w_out": u(V, H), "b_out": u(V)}


# ---------------------------------------------------------------- this project

def _batches(B, T, n):
    """``n`` batches (make_data with seeds 0, 1, …) as Tensors, handed out in turn: with n > 1
    the targets change at every step, as in a real training loop (``interleaved.py --batches``)."""
    import itertools

    import tinygrad_rnn as tg
    return itertools.cycle([(tg.Tensor(x), tg.Tensor(y)) for x, y in
                            (make_data(B, T, seed=k) for k in range(n))])


def ours_layer(B, T, H, batches=1):
    import tinygrad_rnn as tg
    from tinygrad_rnn import nn, optim
    from tinygrad_rnn.nn import functional as F

    x, y = make_data(B, T)
    lstm, head = nn.LSTM(V, H), nn.Linear(H, V)
    w = init_weights(H)
    lstm.load_state_dict({"weight_ih_l0": w["w_ih"], "weight_hh_l0": w["w_hh"],
                          "bias_ih_l0": w["b_ih"], "bias_hh_l0": w["b_hh"]})
    head.load_state_dict({"weight": w["w_out"], "bias": w["b_out"]})
    opt = optim.Adam([*lstm.parameters(), *head.parameters()], lr=LR, max_grad_norm=MAX_NORM)
    xt = tg.Tensor(x)
    data = _batches(B, T, batches) if batches > 1 else None

    def step():
        opt.zero_grad()
        xb, yb = next(data) if data else (xt, y)
        out, _ = lstm(xb)
        loss = F.cross_entropy(head(out).reshape(T * B, V), yb)
        loss.backward()
        opt.step()
        return loss.item()
    return step


def ours_jit(B, T, H, batches=1):
    """ours-lstm's step with the forward and backward captured by ``tg.jit`` on the first call
    and replayed afterwards; zero_grad, clipping and Adam stay outside, as in eager code. (New
    targets at every step, ``batches`` > 1, replay too: they are a replay variable.)"""
    import tinygrad_rnn as tg
    from tinygrad_rnn import nn, optim
    from tinygrad_rnn.nn import functional as F

    x, y = make_data(B, T)
    lstm, head = nn.LSTM(V, H), nn.Linear(H, V)
    w = init_weights(H)
    lstm.load_state_dict({"weight_ih_l0": w["w_ih"], "weight_hh_l0": w["w_hh"],
                          "bias_ih_l0": w["b_ih"], "bias_hh_l0": w["b_hh"]})
    head.load_state_dict({"weight": w["w_out"], "bias": w["b_out"]})
    opt = optim.Adam([*lstm.parameters(), *head.parameters()], lr=LR, max_grad_norm=MAX_NORM)
    xt, yt = tg.Tensor(x), tg.Tensor(y)
    data = _batches(B, T, batches) if batches > 1 else None

    @tg.jit
    def loss_of(x, y):
        out, _ = lstm(x)
        return F.cross_entropy(head(out).reshape(T * B, V), y)

    def step():
        opt.zero_grad()
        loss = loss_of(*(next(data) if data else (xt, yt)))
        opt.step()
        return loss.item()
    step.jit = loss_of  # its captures and replays
    return step


def ours_cell(B, T, H):
    import tinygrad_rnn as tg
    from tinygrad_rnn import nn, optim
    from tinygrad_rnn.nn import functional as F

    x, y = make_data(B, T)
    cell, head = nn.LSTMCell(V, H), nn.Linear(H, V)
    w = init_weights(H)
    cell.load_state_dict({"weight_ih": w["w_ih"], "weight_hh": w["w_hh"], "bias_ih": w["b_ih"],
                          "bias_hh": w["b_hh"]})
    head.load_state_dict({"weight": w["w_out"], "bias": w["b_out"]})
    opt = optim.Adam([*cell.parameters(), *head.parameters()], lr=LR, max_grad_norm=MAX_NORM)
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


# ---------------------------------------------------------------- numpy

def numpy_floor(B, T, H):
    """The matrix products any LSTM training step must do, and nothing else (no elementwise
    work, no loss, no update). Forward: the input projection of all steps at once
    (T·B×V)·(V×4H), T recurrent products (B×H)·(H×4H), the head (T·B×H)·(H×V). Backward: the head's
    dW_out (H×T·B)·(T·B×V) and dH (T·B×V)·(V×H); T products dh = dgates·W_hh (B×4H)·(4H×H); and
    the weight gradients batched over time, one product each: dW_hh = Hᵀ·dG (H×T·B)·(T·B×4H)
    and dW_ih = Xᵀ·dG (V×T·B)·(T·B×4H)."""
    rng = np.random.default_rng(0)

    def f32(*s):
        return rng.standard_normal(s).astype(np.float32)
    X, W_ih, W_hh, W_out = f32(T * B, V), f32(V, 4 * H), f32(H, 4 * H), f32(H, V)
    h, dg, Hs, dG, dY = f32(B, H), f32(B, 4 * H), f32(T * B, H), f32(T * B, 4 * H), f32(T * B, V)

    def step():
        X @ W_ih
        for _ in range(T):
            h @ W_hh
        Hs @ W_out
        Hs.T @ dY
        dY @ W_out.T
        for _ in range(T):
            dg @ W_hh.T
        Hs.T @ dG
        X.T @ dG
        return None
    return step


def _sigmoid(v):
    return 0.5 * (np.tanh(0.5 * v) + 1)  # = 1/(1+e^-v) without overflow warnings


def numpy_loss_and_grads(w, x, y, row_product=False):
    """Forward and backward of the LSTM language model written by hand in numpy: the realistic
    lower bound for a framework that runs numpy one op at a time (the same products and
    elementwise passes, no graph, no per-op bookkeeping). Returns (loss, {name: gradient}).

    ``row_product``: the recurrent product h W_hhᵀ computed as (W_hh hᵀ)ᵀ, the layout our
    ``ops.Linear`` uses when there are few rows (OpenBLAS runs it faster; see ``ops._times_t``),
    so the comparison can be made with and without that advantage."""
    T, B, _ = x.shape
    H = w["w_hh"].shape[1]
    N = T * B
    dt = x.dtype
    gx = (x.reshape(N, V) @ w["w_ih"].T + (w["b_ih"] + w["b_hh"])).reshape(T, B, 4 * H)
    hs = np.zeros((T + 1, B, H), dt)  # hs[0] = h_0 = 0
    cs = np.zeros((T + 1, B, H), dt)
    acts = np.empty((T, B, 4 * H), dt)  # σ(i), σ(f), tanh(g), σ(o)
    tcs = np.empty((T, B, H), dt)
    w_hh_t = w["w_hh"].T
    for t in range(T):
        a = acts[t]
        np.add(gx[t], (w["w_hh"] @ hs[t].T).T if row_product else hs[t] @ w_hh_t, out=a)
        a[:, :2 * H] = _sigmoid(a[:, :2 * H])
        a[:, 2 * H:3 * H] = np.tanh(a[:, 2 * H:3 * H])
        a[:, 3 * H:] = _sigmoid(a[:, 3 * H:])
        i, f, g, o = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
        np.add(f * cs[t], i * g, out=cs[t + 1])
        np.tanh(cs[t + 1], out=tcs[t])
        np.multiply(o, tcs[t], out=hs[t + 1])
    Hs = hs[1:].reshape(N, H)
    logits = Hs @ w["w_out"].T + w["b_out"]
    shifted = logits - logits.max(1, keepdims=True)
    expd = np.exp(shifted)
    total = expd.sum(1, keepdims=True)
    rows = np.arange(N)
    loss = float(np.mean(np.log(total[:, 0]) - shifted[rows, y]))

    dlogits = expd / total
    dlogits[rows, y] -= 1
    dlogits /= N
    grads = {"w_out": dlogits.T @ Hs, "b_out": dlogits.sum(0)}
    dHs = (dlogits @ w["w_out"]).reshape(T, B, H)
    dG = np.empty((T, B, 4 * H), dt)
    dh_next = np.zeros((B, H), dt)
    dc_next = np.zeros((B, H), dt)
    for t in range(T - 1, -1, -1):
        a = acts[t]
        i, f, g, o = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
        dh = dHs[t] + dh_next
        tc = tcs[t]
        dc = dh * o * (1 - tc * tc) + dc_next
        d = dG[t]
        d[:, :H] = dc * g * i * (1 - i)
        d[:, H:2 * H] = dc * cs[t] * f * (1 - f)
        d[:, 2 * H:3 * H] = dc * i * (1 - g * g)
        d[:, 3 * H:] = dh * tc * o * (1 - o)
        dc_next = dc * f
        dh_next = d @ w["w_hh"]
    dG2 = dG.reshape(N, 4 * H)
    grads["w_hh"] = dG2.T @ hs[:-1].reshape(N, H)
    grads["w_ih"] = dG2.T @ x.reshape(N, V)
    grads["b_ih"] = grads["b_hh"] = dG2.sum(0)
    return loss, grads


def numpy_inplace_loss_and_grads(w, x, y, bufs):
    """The same forward and backward as :func:`numpy_loss_and_grads`, written for speed: every
    array preallocated (``bufs``, made once by :func:`numpy_lstm_inplace`), every elementwise op
    with ``out=`` into it, the gates' gradients written straight into one (T, B, 4H) array. It
    shows how low op-by-op numpy goes: no faster than the plain version on the development
    machine — the elementwise passes themselves cost, not the temporaries."""
    T, B, _ = x.shape
    H = w["w_hh"].shape[1]
    N = T * B
    gx, acts, hs, cs, tcs, dG, tmp = (bufs[k] for k in
                                      ("gx", "acts", "hs", "cs", "tcs", "dG", "tmp"))
    np.matmul(x.reshape(N, V), w["w_ih"].T, out=gx.reshape(N, 4 * H))
    gx += w["b_ih"] + w["b_hh"]
    w_hh_t = w["w_hh"].T
    for t in range(T):
        a = acts[t]
        np.matmul(hs[t], w_hh_t, out=a)
        a += gx[t]
        for s in (a[:, :2 * H], a[:, 3 * H:]):  # σ(v) = ½ tanh(v/2) + ½, in place
            s *= 0.5
            np.tanh(s, out=s)
            s *= 0.5
            s += 0.5
        np.tanh(a[:, 2 * H:3 * H], out=a[:, 2 * H:3 * H])
        i, f, g, o = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
        np.multiply(f, cs[t], out=cs[t + 1])
        np.multiply(i, g, out=tmp)
        cs[t + 1] += tmp
        np.tanh(cs[t + 1], out=tcs[t])
        np.multiply(o, tcs[t], out=hs[t + 1])
    Hs = hs[1:].reshape(N, H)
    logits = Hs @ w["w_out"].T
    logits += w["b_out"]
    logits -= logits.max(1, keepdims=True)
    np.exp(logits, out=logits)
    total = logits.sum(1, keepdims=True)
    rows = np.arange(N)
    loss = float(np.mean(np.log(total[:, 0]) - np.log(logits[rows, y])))
    logits /= total
    logits[rows, y] -= 1
    logits /= N
    grads = {"w_out": logits.T @ Hs, "b_out": logits.sum(0)}
    dHs = (logits @ w["w_out"]).reshape(T, B, H)
    dh, dc = np.zeros((B, H), x.dtype), np.zeros((B, H), x.dtype)
    for t in range(T - 1, -1, -1):
        a = acts[t]
        i, f, g, o = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
        d = dG[t]
        di, df, dg, do = d[:, :H], d[:, H:2 * H], d[:, 2 * H:3 * H], d[:, 3 * H:]
        dh += dHs[t]
        tc = tcs[t]
        np.multiply(o, o, out=do)  # do = dh·tanh(c)·o(1 - o)
        np.subtract(o, do, out=do)
        do *= tc
        do *= dh
        np.multiply(tc, tc, out=tmp)  # dc += dh·o·(1 - tanh²(c))
        np.subtract(1, tmp, out=tmp)
        tmp *= o
        tmp *= dh
        dc += tmp
        for dz, z, other in ((di, i, g), (df, f, cs[t])):  # dz = dc·other·z(1 - z)
            np.multiply(z, z, out=dz)
            np.subtract(z, dz, out=dz)
            dz *= other
            dz *= dc
        np.multiply(g, g, out=dg)  # dg = dc·i·(1 - g²)
        np.subtract(1, dg, out=dg)
        dg *= i
        dg *= dc
        dc *= f
        np.matmul(d, w["w_hh"], out=dh)
    dG2 = dG.reshape(N, 4 * H)
    grads["w_hh"] = dG2.T @ hs[:-1].reshape(N, H)
    grads["w_ih"] = dG2.T @ x.reshape(N, V)
    grads["b_ih"] = grads["b_hh"] = dG2.sum(0)
    return loss, grads


def numpy_adam(params, grads, m, v, t):
    """Clip the global gradient norm to MAX_NORM, then one Adam step in place (PyTorch's rule)."""
    norm = np.sqrt(sum(float(np.vdot(g, g)) for g in grads.values()))
    scale = np.float32(min(1.0, MAX_NORM / (norm + 1e-6)))
    c1, c2 = 1 - BETA1 ** t, 1 - BETA2 ** t
    for k, p in params.items():
        g = grads[k] * scale
        m[k] = BETA1 * m[k] + (1 - BETA1) * g
        v[k] = BETA2 * v[k] + (1 - BETA2) * g * g
        p -= LR * (m[k] / c1) / (np.sqrt(v[k] / c2) + EPS)


def numpy_lstm(B, T, H, row_product=False):
    x, y = make_data(B, T)
    params = init_weights(H)
    m = {k: np.zeros_like(p) for k, p in params.items()}
    v = {k: np.zeros_like(p) for k, p in params.items()}
    state = {"t": 0}

    def step():
        loss, grads = numpy_loss_and_grads(params, x, y, row_product)
        state["t"] += 1
        numpy_adam(params, grads, m, v, state["t"])
        return loss
    return step


def numpy_lstm_row_product(B, T, H):
    """numpy-lstm with h W_hhᵀ in the layout ours uses for few rows (``row_product``)."""
    return numpy_lstm(B, T, H, row_product=True)


def numpy_lstm_inplace(B, T, H):
    x, y = make_data(B, T)
    params = init_weights(H)
    m = {k: np.zeros_like(p) for k, p in params.items()}
    v = {k: np.zeros_like(p) for k, p in params.items()}
    dt = x.dtype
    bufs = {"gx": np.empty((T, B, 4 * H), dt), "acts": np.empty((T, B, 4 * H), dt),
            "hs": np.zeros((T + 1, B, H), dt), "cs": np.zeros((T + 1, B, H), dt),
            "tcs": np.empty((T, B, H), dt), "dG": np.empty((T, B, 4 * H), dt),
            "tmp": np.empty((B, H), dt)}
    state = {"t": 0}

    def step():
        loss, grads = numpy_inplace_loss_and_grads(params, x, y, bufs)
        state["t"] += 1
        numpy_adam(params, grads, m, v, state["t"])
        return loss
    return step


# ---------------------------------------------------------------- PyTorch

def _torch_params(H):
    import torch
    return {k: torch.from_numpy(a).requires_grad_() for k, a in init_weights(H).items()}


def _torch_finish(torch, logits, yt, params, opt, T, B):
    loss = torch.nn.functional.cross_entropy(logits.reshape(T * B, V), yt)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, MAX_NORM)
    opt.step()
    return loss.item()


def torch_layer(B, T, H):
    """PyTorch's nn.LSTM (its fused CPU kernel)."""
    import torch

    x, y = make_data(B, T)
    lstm, head = torch.nn.LSTM(V, H), torch.nn.Linear(H, V)
    w = init_weights(H)
    with torch.no_grad():
        for p, k in zip((lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0,
                         head.weight, head.bias), NAMES):
            p.copy_(torch.from_numpy(w[k]))
    params = [*lstm.parameters(), *head.parameters()]
    opt = torch.optim.Adam(params, lr=LR)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def step():
        opt.zero_grad()
        out, _ = lstm(xt)
        return _torch_finish(torch, head(out), yt, params, opt, T, B)
    return step


def torch_linear(B, T, H):
    """The cell in PyTorch primitive ops, as PyTorch's LSTMCell formula reads: per step
    linear(x_t, W_ih, b_ih) + linear(h, W_hh, b_hh), chunk, σ/tanh, products."""
    import torch
    lin = torch.nn.functional.linear

    x, y = make_data(B, T)
    w = _torch_params(H)
    params = list(w.values())
    opt = torch.optim.Adam(params, lr=LR)
    xs, yt = [torch.from_numpy(x[t]) for t in range(T)], torch.from_numpy(y)

    def step():
        opt.zero_grad()
        h = c = torch.zeros(B, H)
        outs = []
        for t in range(T):
            gates = lin(xs[t], w["w_ih"], w["b_ih"]) + lin(h, w["w_hh"], w["b_hh"])
            i, f, g, o = gates.chunk(4, 1)
            c = f.sigmoid() * c + i.sigmoid() * g.tanh()
            h = o.sigmoid() * c.tanh()
            outs.append(h)
        return _torch_finish(torch, lin(torch.stack(outs), w["w_out"], w["b_out"]), yt, params,
                             opt, T, B)
    return step


def torch_cat(B, T, H):
    """The cell in PyTorch primitive ops with one matrix product a step: [x_t, h]·Wᵀ + b, where
    W = [W_ih | W_hh] (4H × (V+H)) and b = b_ih + b_hh are the parameters. Same function and
    starting point; the merged bias makes later Adam steps differ slightly from the others."""
    import torch

    x, y = make_data(B, T)
    w0 = init_weights(H)
    W = torch.from_numpy(np.concatenate([w0["w_ih"], w0["w_hh"]], 1)).requires_grad_()
    b = torch.from_numpy(w0["b_ih"] + w0["b_hh"]).requires_grad_()
    w_out = torch.from_numpy(w0["w_out"]).requires_grad_()
    b_out = torch.from_numpy(w0["b_out"]).requires_grad_()
    params = [W, b, w_out, b_out]
    opt = torch.optim.Adam(params, lr=LR)
    xs, yt = [torch.from_numpy(x[t]) for t in range(T)], torch.from_numpy(y)

    def step():
        opt.zero_grad()
        h = c = torch.zeros(B, H)
        outs = []
        for t in range(T):
            gates = torch.addmm(b, torch.cat([xs[t], h], 1), W.T)
            i, f, g, o = gates.chunk(4, 1)
            c = f.sigmoid() * c + i.sigmoid() * g.tanh()
            h = o.sigmoid() * c.tanh()
            outs.append(h)
        logits = torch.stack(outs) @ w_out.T + b_out
        return _torch_finish(torch, logits, yt, params, opt, T, B)
    return step


# ---------------------------------------------------------------- HIPS autograd

def autograd_cell(B, T, H):
    """The same cell in HIPS autograd (numpy ops traced each call), clip + Adam in numpy."""
    import autograd.numpy as anp
    from autograd import value_and_grad

    x, y = make_data(B, T)
    params = init_weights(H)

    def sig(v):
        return 0.5 * (anp.tanh(0.5 * v) + 1)

    def loss_fn(p):
        h = c = np.zeros((B, H), np.float32)
        outs = []
        for t in range(T):
            gates = anp.dot(x[t], p["w_ih"].T) + p["b_ih"] + anp.dot(h, p["w_hh"].T) + p["b_hh"]
            i, f, g, o = gates[:, :H], gates[:, H:2 * H], gates[:, 2 * H:3 * H], gates[:, 3 * H:]
            c = sig(f) * c + sig(i) * anp.tanh(g)
            h = sig(o) * anp.tanh(c)
            outs.append(h)
        logits = anp.dot(anp.concatenate(outs, 0), p["w_out"].T) + p["b_out"]
        shifted = logits - anp.max(logits, axis=1, keepdims=True)
        logp = shifted - anp.log(anp.sum(anp.exp(shifted), axis=1, keepdims=True))
        return -anp.mean(logp[np.arange(T * B), y])

    vg = value_and_grad(loss_fn)
    m = {k: np.zeros_like(p) for k, p in params.items()}
    v = {k: np.zeros_like(p) for k, p in params.items()}
    state = {"t": 0}

    def step():
        loss, grads = vg(params)
        state["t"] += 1
        numpy_adam(params, grads, m, v, state["t"])
        return float(loss)
    return step


# ---------------------------------------------------------------- JAX

def jax_scan(B, T, H):
    """JAX: the whole step (forward as lax.scan over time, value_and_grad, clip, Adam) in one
    jit-compiled function. Compiled ahead of time; step.compile_seconds is that compilation."""
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax
    import jax.numpy as jnp

    x, y = make_data(B, T)
    params = {k: jnp.asarray(a) for k, a in init_weights(H).items()}

    def loss_fn(p, x, y):
        gx = x @ p["w_ih"].T + (p["b_ih"] + p["b_hh"])

        def cell(carry, g_t):
            h, c = carry
            i, f, g, o = jnp.split(g_t + h @ p["w_hh"].T, 4, axis=-1)
            c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
            h = jax.nn.sigmoid(o) * jnp.tanh(c)
            return (h, c), h
        zeros = jnp.zeros((B, H), jnp.float32)
        _, hs = jax.lax.scan(cell, (zeros, zeros), gx)
        logits = hs.reshape(T * B, H) @ p["w_out"].T + p["b_out"]
        logp = jax.nn.log_softmax(logits, axis=-1)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    def train_step(p, m, v, t, x, y):
        loss, g = jax.value_and_grad(loss_fn)(p, x, y)
        norm = jnp.sqrt(sum(jnp.sum(gi * gi) for gi in jax.tree_util.tree_leaves(g)))
        scale = jnp.minimum(1.0, MAX_NORM / (norm + 1e-6))
        c1, c2 = 1 - BETA1 ** t, 1 - BETA2 ** t
        new_p, new_m, new_v = {}, {}, {}
        for k in p:
            gk = g[k] * scale
            new_m[k] = BETA1 * m[k] + (1 - BETA1) * gk
            new_v[k] = BETA2 * v[k] + (1 - BETA2) * gk * gk
            new_p[k] = p[k] - LR * (new_m[k] / c1) / (jnp.sqrt(new_v[k] / c2) + EPS)
        return new_p, new_m, new_v, loss

    m = {k: jnp.zeros_like(a) for k, a in params.items()}
    v = {k: jnp.zeros_like(a) for k, a in params.items()}
    xj, yj = jnp.asarray(x), jnp.asarray(y.astype(np.int32))
    t0 = time.perf_counter()
    compiled = jax.jit(train_step, donate_argnums=(0, 1, 2)).lower(
        params, m, v, jnp.float32(1), xj, yj).compile()
    compile_seconds = time.perf_counter() - t0
    state = {"p": params, "m": m, "v": v, "t": 0}

    def step():
        state["t"] += 1
        state["p"], state["m"], state["v"], loss = compiled(
            state["p"], state["m"], state["v"], jnp.float32(state["t"]), xj, yj)
        return float(loss)  # blocks until the step is done
    step.compile_seconds = compile_seconds
    return step


# ---------------------------------------------------------------- tinygrad

def tinygrad_loop(B, T, H):
    """tinygrad (CPU device, C kernels through clang): the cell unrolled over T in tinygrad
    Tensor ops, gradients by ``loss.gradient(*params)``, clip + Adam as Tensor ops, the whole
    step captured by TinyJit. Its first steps compile every kernel (a minute or more)."""
    import shutil
    if shutil.which("clang") is None:
        raise ImportError("clang (tinygrad's CPU device compiles with it)", name="clang")
    from tinygrad import Tensor, TinyJit

    x, y = make_data(B, T)
    w = init_weights(H)
    params = [Tensor(w[k]).realize() for k in NAMES]
    ms = [Tensor.zeros(*w[k].shape).contiguous().realize() for k in NAMES]
    vs = [Tensor.zeros(*w[k].shape).contiguous().realize() for k in NAMES]
    xt = Tensor(x).realize()
    onehot_y = Tensor(np.eye(V, dtype=np.float32)[y]).realize()

    def loss_fn():
        w_ih, w_hh, b_ih, b_hh, w_out, b_out = params
        gx = xt.reshape(T * B, V).linear(w_ih.T, b_ih + b_hh).reshape(T, B, 4 * H)
        h = c = Tensor.zeros(B, H)
        outs = []
        for t in range(T):
            gates = gx[t] + h.matmul(w_hh.T)
            i, f, g, o = gates.chunk(4, dim=1)
            c = f.sigmoid() * c + i.sigmoid() * g.tanh()
            h = o.sigmoid() * c.tanh()
            outs.append(h)
        logits = Tensor.stack(*outs).reshape(T * B, H).linear(w_out.T, b_out)
        return -(logits.log_softmax(axis=1) * onehot_y).sum() / (T * B)

    @TinyJit
    def jit_step(bias_correction):
        loss = loss_fn()
        grads = loss.gradient(*params)
        Tensor.realize(loss, *grads)  # the loss of the weights before this update
        norm = Tensor.stack(*[(g * g).sum() for g in grads]).sum().sqrt()
        scale = (MAX_NORM / (norm + 1e-6)).minimum(1.0)
        c1, c2 = bias_correction[0], bias_correction[1]
        for p, g, m, v in zip(params, grads, ms, vs):
            g = g * scale
            m.assign(m * BETA1 + g * (1 - BETA1))
            v.assign(v * BETA2 + g * g * (1 - BETA2))
            p.assign(p - LR * (m / c1) / ((v / c2).sqrt() + EPS))
        Tensor.realize(*params, *ms, *vs)
        return loss

    state = {"t": 0}

    def step():
        state["t"] += 1
        t = state["t"]
        bc = Tensor([1 - BETA1 ** t, 1 - BETA2 ** t], dtype="float32")
        return float(jit_step(bc).item())
    return step


# Short names (for --only) → (label in the table, factory).
BACKENDS = {
    "ours-lstm": ("ours nn.LSTM", ours_layer),
    "ours-jit": ("ours nn.LSTM, tg.jit replay", ours_jit),
    "ours-cell": ("ours LSTMCell loop", ours_cell),
    "numpy-floor": ("numpy floor (GEMMs only)", numpy_floor),
    "numpy-lstm": ("numpy hand-written LSTM", numpy_lstm),
    "numpy-lstm-rows": ("numpy hand-written LSTM, (W hᵀ)ᵀ", numpy_lstm_row_product),
    "numpy-inplace": ("numpy hand-written LSTM, in place", numpy_lstm_inplace),
    "torch-lstm": ("PyTorch nn.LSTM", torch_layer),
    "torch-cat": ("PyTorch cat + one matmul loop", torch_cat),
    "torch-linear": ("PyTorch two-linear loop", torch_linear),
    "autograd": ("HIPS autograd loop", autograd_cell),
    "jax": ("JAX jit + lax.scan", jax_scan),
    "tinygrad": ("tinygrad TinyJit loop", tinygrad_loop),
}
