# %% [markdown]
# # 10. The backward is a graph too
#
# Every tutorial so far ran `backward()` once: the engine walked the recorded graph from the
# loss to the leaves and left numbers in `.grad`. But each step of that walk — a VJP — is made of
# the same operations as the forward: products, sums, a `tanh` here and there. With
# `create_graph=True` the engine runs the VJPs on Tensors and *records* them, so the gradient is
# itself the output of a graph, and can be differentiated again:
#
#     g = ∂L/∂θ                      (first backward, recorded)
#     H v = ∂(g · v)/∂θ              (second backward through the recorded one)
#
# This tutorial draws such a graph, uses it for Hessian-vector products of an RNN's loss, follows
# the Hessian's largest eigenvalue along training next to the gradient norm, writes the
# hand-derived LSTM step of tutorial 6 as a user-defined op (`autograd.Function`), and turns the
# idea around — recomputing the forward *inside* the backward — to make BPTT fit in memory.

# %%
import time
import tracemalloc

import numpy as np

import tinygrad_rnn as tg
from tinygrad_rnn import data, nn, viz
from tinygrad_rnn.autograd import Function, functional
from tinygrad_rnn.nn import functional as F
from common import FAST, OUT, SEED, check_exercise, pick, plt, savefig, show

rng = np.random.default_rng(SEED)
x = tg.Tensor(rng.standard_normal(3), requires_grad=True).named("x")
w = tg.Tensor(rng.standard_normal(3), requires_grad=True).named("w")
y = (w * x).tanh().sum().named("y")                      # y = Σ tanh(wᵢ xᵢ)
(g,) = tg.autograd.grad(y, x, create_graph=True)         # g = ∂y/∂x, itself a recorded graph
g.name = "∂y/∂x"
forward_graph = viz.draw_graph(y, title="10: the forward, y = Σ tanh(w ⊙ x)")
gradient_graph = viz.draw_graph(g, title="10: the gradient ∂y/∂x = w ⊙ (1 - tanh²(w ⊙ x)), "
                                           "recorded by create_graph=True")
for name, graph in (("10_forward_graph", forward_graph), ("10_gradient_graph", gradient_graph)):
    (OUT / f"{name}.gv").write_text(graph.source)
    print("graph:", viz.render(graph, OUT / name, format="svg"))
    show(graph)

forward_ops = [n.name for n in tg.graph_nodes(y)]
gradient_ops = [n.name for n in tg.graph_nodes(g)]
print("forward ops: ", forward_ops)
print("gradient ops:", gradient_ops)
t = np.tanh(w.numpy() * x.numpy())
np.testing.assert_allclose(g.numpy(), w.numpy() * (1 - t ** 2), rtol=1e-6)
# the gradient's graph holds the part of the forward it needs (w x and its tanh, not the sum)
# and the backward's own ops: 1 - tanh² (a mul and a sub), times the incoming gradient, times w
assert gradient_ops[:2] == ["mul", "tanh"] and "sum" not in gradient_ops
assert gradient_ops[2:].count("mul") == 3 and gradient_ops[2:].count("sub") == 1
# ... and it differentiates again: ∂²y/∂x² = -2 w² tanh(wx)(1 - tanh²(wx)) on the diagonal
(h,) = tg.autograd.grad(g.sum(), x)
np.testing.assert_allclose(h.numpy(), -2 * w.numpy() ** 2 * t * (1 - t ** 2), rtol=1e-5)
print("second derivative (diagonal of the Hessian):", h.numpy().round(4))

# %% [markdown]
# ### What you should see
#
# Two drawings. The forward is three ops: `mul`, `tanh`, `sum`. The gradient's graph holds the
# part of the forward it needs — w ⊙ x and its tanh, since the derivative of tanh is computed
# from tanh(w x) itself — but not the sum, whose backward only hands on ones. Then come the ops
# of the backward: tanh's VJP, 1 - tanh² (a `mul` and a `sub`) times the incoming gradient, and
# the product's VJP, times w (asserted: three `mul`, one `sub`). Its value is
# w ⊙ (1 - tanh²(w ⊙ x)), and differentiating it once more gives the second derivative (both
# asserted against the formulas).
# Nothing in the engine was written twice: the VJP that computed numbers in tutorial 1 is the
# one that was recorded here.

# %% [markdown]
# ## A Hessian-vector product of an RNN's loss
#
# The Hessian of a loss over n parameters has n² entries — 10⁸ for a small LSTM — but the
# product H v with one vector costs about two backward passes: differentiate g · v, where g is
# the recorded gradient. `autograd.functional.hvp` does exactly that. We check it against
# finite differences of the gradient, (g(θ + εv) - g(θ - εv)) / 2ε, on a small tanh RNN that
# reads the adding problem (tutorial 6) and answers with a linear read-out of its last state.

# %%
T, B, I, H = pick(30, 12), 16, 2, 8
xs_np, ys_np = data.adding_problem(B, T, rng=np.random.default_rng(SEED + 1), dtype=np.float64)
xs, ys = tg.Tensor(xs_np), tg.Tensor(ys_np)


def init_params(seed, scale=1.0):
    r = np.random.default_rng(seed)
    return (tg.Tensor(r.standard_normal((H, I)) * 0.5, requires_grad=True),          # W_x
            tg.Tensor(r.standard_normal((H, H)) * scale / np.sqrt(H), requires_grad=True),  # W_h
            tg.Tensor(np.zeros(H), requires_grad=True),                               # b
            tg.Tensor(r.standard_normal((1, H)) * 0.5, requires_grad=True))           # w_out


def rnn_loss(W_x, W_h, b, w_out):
    h = tg.zeros((B, H), dtype=tg.float64)
    for t in range(T):
        h = (F.linear(xs[t], W_x) + F.linear(h, W_h, b)).tanh()
    return F.mse_loss(F.linear(h, w_out), ys)


params = init_params(SEED + 2)
v = tuple(tg.Tensor(np.random.default_rng(SEED + 3).standard_normal(p.shape)) for p in params)
loss, Hv = functional.hvp(rnn_loss, params, v)


def gradient_at(shift):
    moved = [tg.Tensor(p.numpy() + shift * vi.numpy(), requires_grad=True)
             for p, vi in zip(params, v)]
    return tg.autograd.grad(rnn_loss(*moved), moved)


eps = 1e-5
plus, minus = gradient_at(eps), gradient_at(-eps)
fd = [(a.numpy() - b.numpy()) / (2 * eps) for a, b in zip(plus, minus)]
rel = max(np.abs(h.numpy() - f).max() for h, f in zip(Hv, fd)) / \
    max(np.abs(f).max() for f in fd)
print(f"loss {loss.item():.4f}; H v against finite differences: largest difference "
      f"{rel:.1e} of the largest entry")
assert rel < 1e-6

# %% [markdown]
# ### What you should see
#
# The Hessian-vector product and the finite differences of the gradient agree to about 10⁻⁸ of
# the largest entry (asserted below 10⁻⁶): two backward passes give H v exactly, where finite
# differences need two gradients and a step size to tune.

# %% [markdown]
# ## The Hessian's top eigenvalue along training: cliffs
#
# Power iteration finds the eigenvalue of H largest in magnitude with Hessian-vector products
# alone: v ← H v / ‖H v‖, and λ = vᵀ H v (negative where the loss curves down, at a saddle).
# Gradient descent with step size η is stable along a direction of curvature λ only while
# η λ < 2; beyond, each step overshoots and grows the error there. Pascanu, Mikolov & Bengio
# (2013) pictured the loss of an RNN as a landscape with *cliffs*: narrow walls of very high
# curvature, where the gradient is huge too, and a plain step throws the parameters far away —
# the reason norm clipping exists (tutorial 4).
#
# We train the RNN above (recurrent weights started large, spectral radius about 1.5) with
# clipped gradient descent and, every few steps, estimate λ_max by power iteration and record
# ‖g‖. At the end, the power-iteration estimate is checked against the eigenvalues of the full
# Hessian, which `functional.hessian` builds (n = 96 parameters here, so it is small).

# %%
def power_iteration(loss_fn, at, iters, seed):
    r = np.random.default_rng(seed)
    u = [r.standard_normal(p.shape) for p in at]
    norm = np.sqrt(sum((a ** 2).sum() for a in u))
    u = [a / norm for a in u]
    lam = 0.0
    for _ in range(iters):
        _, hu = functional.hvp(loss_fn, at, tuple(tg.Tensor(a) for a in u))
        hu = [h.numpy() for h in hu]
        lam = sum((a * h).sum() for a, h in zip(u, hu))        # Rayleigh quotient uᵀ H u
        norm = np.sqrt(sum((h ** 2).sum() for h in hu))
        u = [h / norm for h in hu]
    return lam


lr, clip, steps, every = 0.5, 1.0, pick(300, 60), pick(10, 10)
params = init_params(SEED + 4, scale=1.5)
history = {"step": [], "lambda": [], "grad_norm": [], "loss": []}
for step in range(steps + 1):
    loss = rnn_loss(*params)
    grads = tg.autograd.grad(loss, params)
    gnorm = float(np.sqrt(sum((g.numpy() ** 2).sum() for g in grads)))
    if step % every == 0:
        history["step"].append(step)
        history["lambda"].append(power_iteration(rnn_loss, params, pick(20, 10), SEED + step))
        history["grad_norm"].append(gnorm)
        history["loss"].append(loss.item())
    scale = min(1.0, clip / gnorm)                              # norm clipping, as clip_grad_norm_
    with tg.no_grad():
        for p, g in zip(params, grads):
            p -= lr * scale * g

lams, gnorms = np.array(history["lambda"]), np.array(history["grad_norm"])
blocks = functional.hessian(rnn_loss, params)   # blocks[i][j]: ∂²L/∂θᵢ∂θⱼ, θᵢ.shape + θⱼ.shape
exact = np.linalg.eigvalsh(np.block([[hij.numpy().reshape(pi.numel(), pj.numel())
                                      for hij, pj in zip(row, params)]
                                     for row, pi in zip(blocks, params)]))
top = power_iteration(rnn_loss, params, 60, SEED)
print(f"final point: power iteration λ = {top:.4f}; full Hessian's eigenvalues from "
      f"{exact[0]:.4f} to {exact[-1]:.4f}")
print(f"loss {history['loss'][0]:.4f} → {history['loss'][-1]:.4f}; λ_max from "
      f"{lams.min():.3g} to {lams.max():.3g}; ‖g‖ from {gnorms.min():.3g} to {gnorms.max():.3g}")
# a Rayleigh quotient always lies inside the spectrum; 60 iterations reach the top one
assert exact[0] - 1e-9 <= top <= exact[-1] + 1e-9
assert abs(top - exact[-1]) < 0.05 * abs(exact[-1]) or abs(top - exact[0]) < 0.05 * abs(exact[0])
assert history["loss"][-1] < history["loss"][0]
cliff = int(np.argmax(gnorms))
print(f"steepest gradient at step {history['step'][cliff]}: ‖g‖ = {gnorms[cliff]:.3g} with "
      f"|λ| = {abs(lams[cliff]):.3g} (median |λ| along training {np.median(np.abs(lams)):.3g})")
print(f"at the end λ_max = {exact[-1]:.3f}, against 2/η = {2 / lr:g}")
assert abs(lams[cliff]) > np.median(np.abs(lams))   # the steepest gradient sits on a sharp wall
assert 0.75 * 2 / lr < exact[-1] < 1.5 * 2 / lr     # training ends at the edge of stability

fig, (a1, a2) = plt().subplots(2, 1, figsize=(8, 6), sharex=True)
a1.semilogy(history["step"], np.abs(lams), "-", color="C3")
a1.semilogy(np.array(history["step"])[lams > 0], lams[lams > 0], "o", color="C3",
            label="λ (power iteration), positive")
a1.semilogy(np.array(history["step"])[lams < 0], -lams[lams < 0], "o", color="C3", mfc="white",
            label="|λ|, negative (a direction curving down)")
a1.axhline(2 / lr, color="grey", ls="--", label=f"2/η = {2 / lr:g}: stability limit of a step")
a1.set(title="Largest Hessian eigenvalue (in magnitude) of the RNN's loss along training",
       ylabel="|λ|")
a1.legend()
a2.semilogy(history["step"], gnorms, "o-", color="C0", label="‖∂L/∂θ‖")
a2.axhline(clip, color="grey", ls="--", label=f"clipping threshold {clip:g}")
a2.set(title="Gradient norm at the same points", xlabel="training step", ylabel="‖g‖")
a2.legend()
savefig(fig, "10_curvature_and_gradient_norm.png")

# %% [markdown]
# ### What you should see
#
# At the end of training, the power-iteration estimate lies inside the full Hessian's spectrum
# and within 5 % of its extreme eigenvalue (asserted; 60 Hessian-vector products instead of the
# 96 × 96 matrix). Along training (figure), the early curvature is huge — hundreds or thousands,
# far above 2/η, sometimes negative — and the step where the gradient is steepest is one of
# high curvature (asserted: its |λ| is above the median of the run): a cliff, where a plain step
# of length η‖g‖ would throw the parameters far away; clipping keeps it to η·1 without turning
# it. Then λ_max comes down and settles at 2/η (asserted: within a factor 0.75–1.5 at the end) —
# gradient descent cannot stay where η λ_max > 2, since it overshoots along that direction, and
# hovers at that edge of stability (Cohen et al. 2021). Rerun with `TUTORIAL_SEED=7`: the walls
# come at other steps, the end at 2/η again.

# %% [markdown]
# ## Your own op: the LSTM step with the backward of tutorial 6
#
# `autograd.Function` is PyTorch's way to add an op with a hand-written backward: a static
# `forward(ctx, ...)` that computes the result without recording and keeps what the backward
# needs (`ctx.save_for_backward`, or any attribute of `ctx`), and a static
# `backward(ctx, *grad_outputs)` returning one gradient per input. The engine records it as
# *one* node. Here is the LSTM step, its backward the equations derived by hand in tutorial 6:
#
#     dc  = dh ⊙ o ⊙ (1 - tanh²(c_t)) + dc_next
#     dz = [dc ⊙ g ⊙ i(1-i), dc ⊙ c_{t-1} ⊙ f(1-f), dc ⊙ i ⊙ (1 - g²), dh ⊙ tanh(c_t) ⊙ o(1-o)]
#     dx = dz W_ih     dh_{t-1} = dz W_hh     dc_{t-1} = dc ⊙ f
#     dW_ih = dzᵀ x    dW_hh = dzᵀ h_{t-1}    db = Σ_batch dz

# %%
class LSTMStep(Function):
    """(h', c') = one LSTM step; gates i, f, g, o as PyTorch. b = b_ih + b_hh."""

    @staticmethod
    def forward(ctx, x, h, c, W_ih, W_hh, b):
        xa, ha, ca = x.numpy(), h.numpy(), c.numpy()
        z = xa @ W_ih.numpy().T + ha @ W_hh.numpy().T + b.numpy()
        n = ha.shape[1]
        sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
        i, f = sig(z[:, :n]), sig(z[:, n:2 * n])
        g, o = np.tanh(z[:, 2 * n:3 * n]), sig(z[:, 3 * n:])
        c_new = f * ca + i * g
        tc = np.tanh(c_new)
        ctx.arrays = (xa, ha, ca, i, f, g, o, tc, W_ih.numpy(), W_hh.numpy())
        return tg.Tensor(o * tc), tg.Tensor(c_new)

    @staticmethod
    def backward(ctx, dh, dc_next):
        xa, ha, ca, i, f, g, o, tc, W_ih, W_hh = ctx.arrays
        dh, dc_next = dh.numpy(), dc_next.numpy()
        dc = dh * o * (1 - tc ** 2) + dc_next
        dz = np.concatenate([dc * g * i * (1 - i), dc * ca * f * (1 - f),
                             dc * i * (1 - g ** 2), dh * tc * o * (1 - o)], axis=1)
        return dz @ W_ih, dz @ W_hh, dc * f, dz.T @ xa, dz.T @ ha, dz.sum(0)


tg.manual_seed(SEED + 5)
cell = nn.LSTMCell(3, 4).double()
r = np.random.default_rng(SEED + 6)
x1, h1, c1 = (tg.Tensor(r.standard_normal((2, n)), requires_grad=True) for n in (3, 4, 4))
b = (cell.bias_ih + cell.bias_hh).detach().requires_grad_()
assert tg.gradcheck(lambda *a: LSTMStep.apply(*a), [x1, h1, c1, cell.weight_ih,
                                                    cell.weight_hh, b])
mine = LSTMStep.apply(x1, h1, c1, cell.weight_ih, cell.weight_hh, b)
theirs = cell(x1, (h1, c1))
weights = [tg.Tensor(r.standard_normal((2, 4))) for _ in range(2)]
grads = []
for out in (mine, theirs):
    for tensor in (x1, h1, c1, cell.weight_ih, cell.weight_hh):
        tensor.grad = None
    sum((o * wt).sum() for o, wt in zip(out, weights)).backward()
    grads.append([t.grad.numpy() for t in (x1, h1, c1, cell.weight_ih, cell.weight_hh)])
for a, c in zip(mine, theirs):
    np.testing.assert_allclose(a.numpy(), c.numpy(), rtol=1e-12)
difference = max(np.abs(p - q).max() for p, q in zip(*grads))
print(f"LSTMStep: gradcheck passed; against nn.LSTMCell (primitive ops) the outputs agree and "
      f"the gradients differ by at most {difference:.1e}")
assert difference < 1e-12
nodes_mine = tg.graph_nodes(list(LSTMStep.apply(x1, h1, c1, cell.weight_ih, cell.weight_hh, b)))
nodes_cell = tg.graph_nodes(list(cell(x1, (h1, c1))))
print(f"graph of one step: {len(nodes_mine)} node ({nodes_mine[0].name}) against "
      f"{len(nodes_cell)} primitive ops for nn.LSTMCell")
assert [n.name for n in nodes_mine] == ["LSTMStep"] and len(nodes_cell) > 5
step_graph = viz.draw_graph(list(LSTMStep.apply(x1, h1, c1, cell.weight_ih, cell.weight_hh, b)),
                            title="10: one LSTM step as a user-defined op (autograd.Function)")
print("graph:", viz.render(step_graph, OUT / "10_lstm_step_function", format="svg"))
show(step_graph)

# %% [markdown]
# ### What you should see
#
# `gradcheck` passes (every entry of every input's gradient against central differences), the
# outputs equal those of `nn.LSTMCell` and the gradients agree to rounding (below 10⁻¹²,
# asserted). In the graph the whole step is one node named `LSTMStep`, where the cell built
# from primitives records a dozen ops. That is the trade: fewer nodes and a backward you control,
# against a backward that you must derive — and that `create_graph` cannot differentiate again,
# since this one computes on arrays (write it with Tensor operations and it can).

# %% [markdown]
# ## Recompute instead of remember: checkpointed BPTT
#
# The graph of a T-step LSTM keeps about seven B×H arrays per step for its backward (the
# memory benchmark measures it). `nn.LSTM(..., checkpoint_every=k)` keeps the state (h, c) every
# k steps and nothing else; when backward reaches the loop it recomputes k steps at a time from
# the kept states, with the graph on, and backpropagates through them — one extra forward for
# about 1/k of the memory. It is one node, a `Function` whose backward runs the forward again
# (`utils.checkpoint`), and the gradients are the same bits as without it: the same operations
# on the same arrays. We measure the graph's memory (tracemalloc, before backward) and the time
# of a training step at several lengths.

# %%
Bc, Hc, k = pick(32, 8), pick(128, 32), 16
lengths = pick([64, 128, 256, 512], [32, 64, 128])


def graph_bytes_and_grads(layer, x):
    layer.zero_grad()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    out, _ = layer(x)
    loss = out.sum()
    del out, _
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    loss.backward()
    return held, [p.grad.numpy().copy() for p in layer.parameters()]


def step_seconds(layer, x, repeats=2):
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        out, _ = layer(x)
        out.sum().backward()
        best = min(best, time.perf_counter() - start)
    return best


tg.manual_seed(SEED + 7)
plain = nn.LSTM(8, Hc)
ckpt = nn.LSTM(8, Hc, checkpoint_every=k)
ckpt.load_state_dict(plain.state_dict())
memory = {"plain": [], "checkpointed": []}
seconds = {"plain": [], "checkpointed": []}
for T_ in lengths:
    xc = tg.Tensor(np.random.default_rng(SEED + T_).standard_normal((T_, Bc, 8)).astype(np.float32))
    held_p, grads_p = graph_bytes_and_grads(plain, xc)
    held_c, grads_c = graph_bytes_and_grads(ckpt, xc)
    assert all(np.array_equal(p, q) for p, q in zip(grads_p, grads_c))   # to the last bit
    memory["plain"].append(held_p / 2 ** 20)
    memory["checkpointed"].append(held_c / 2 ** 20)
    seconds["plain"].append(step_seconds(plain, xc))
    seconds["checkpointed"].append(step_seconds(ckpt, xc))
    print(f"T = {T_:4d}: graph {held_p / 2**20:7.2f} MiB plain, {held_c / 2**20:6.2f} MiB "
          f"checkpointed every {k}; step {seconds['plain'][-1]:.3f} s against "
          f"{seconds['checkpointed'][-1]:.3f} s; gradients bit-equal")
ratio = memory["checkpointed"][-1] / memory["plain"][-1]
growth = ((memory["checkpointed"][-1] - memory["checkpointed"][0])
          / (memory["plain"][-1] - memory["plain"][0]))
print(f"checkpointed / plain at T = {lengths[-1]}: {ratio:.3f} of the memory, {growth:.3f} of the "
      f"growth")
assert ratio < 1 / 4 and growth < 1 / 4, (ratio, growth)

fig, (a1, a2) = plt().subplots(1, 2, figsize=(11, 4))
for name, style in (("plain", "o-"), ("checkpointed", "s-")):
    a1.plot(lengths, memory[name], style, label=name if name == "plain" else f"{name} every {k}")
    a2.plot(lengths, seconds[name], style, label=name if name == "plain" else f"{name} every {k}")
a1.set(title=f"Graph memory before backward (B={Bc}, H={Hc})", xlabel="sequence length T",
       ylabel="MiB held (tracemalloc)")
a2.set(title="Time of one training step (forward + backward)", xlabel="sequence length T",
       ylabel="seconds (best of 2)")
a1.legend()
a2.legend()
savefig(fig, "10_checkpointed_bptt.png")

# %% [markdown]
# ### What you should see
#
# **Left**: the plain graph grows with T by the arrays every step leaves for backward; the
# checkpointed one by two B×H states every k steps, a small fraction of it (asserted: below a
# quarter, both in size at the longest sequence and in growth from the shortest to the longest;
# `python benchmarks/memory.py` measures a 1,000-step LSTM, B=32, H=256, every 32 steps: about
# 1/95 of the plain graph). **Right**: the price is one more forward of every step (and of the
# input projection). A no-grad forward costs about a third of a plain training step, so that is
# some +35% by arithmetic; measured at the benchmark's size it is +28–36%, a little less,
# because the recompute works on a few MB that stay in the cache, while the plain forward
# writes its whole graph to memory. Single timings on a shared machine are noisy (best of 2
# here); the README's benchmark section gives the measured ratio at that size. The gradients are
# identical to the last bit at every length (asserted): recomputation is exact, not an
# approximation.

# %% [markdown]
# ## Exercises
#
# 1. Checkpointing every k steps of a T-step sequence keeps T/k states, and backward rebuilds
#    the graph of k steps at a time, so the peak is about T/k + k (in units of one step's
#    arrays). Which k makes it smallest for T = 1000? Put the number in `answer_1`.
# 2. y = x³. With `create_graph=True`, `autograd.grad` of `autograd.grad(y, x)` gives the second
#    derivative. What is it at x = 2? Put the number in `answer_2` (check it with the engine).
# 3. Gradient descent with step size η on L = ½ λ θ² diverges when η λ > 2. At the end of the
#    training above, what is the largest stable step size 2/λ_max? Put the number in `answer_3`.

# %%
answer_1 = None   # a number
answer_2 = None   # a number
answer_3 = None   # a number


check_exercise(1, answer_1, np.sqrt(1000), "d/dk (T/k + k) = 0 gives k = √T", rtol=0.05)
check_exercise(2, answer_2, 12.0, "d²(x³)/dx² = 6x", rtol=1e-9)
check_exercise(3, answer_3, 2 / exact[-1], "2 divided by the largest eigenvalue printed above",
               rtol=0.05)
