# %% [markdown]
# # 4. Gradient clipping and truncated BPTT
#
# ## The norm-threshold rule
#
# Pascanu, Mikolov & Bengio (2013): when the gradient's norm exceeds a threshold v, rescale it:
#
#     if ‖g‖ > v:  g ← g · v / ‖g‖
#
# over all parameters together. The step keeps its **direction** and only loses length — unlike
# clipping each element to [-v, v], which bends the direction towards the diagonal.

# %%
import numpy as np

import tinygrad_rnn as tg
from tinygrad_rnn import data, diagnostics, nn, optim
from tinygrad_rnn.nn import functional as F
from common import FAST, SEED, check_exercise, pick, plt, savefig

g = np.array([30.0, 1.0, -2.0])
by_norm = tg.Tensor(np.zeros(3), requires_grad=True)
by_value = tg.Tensor(np.zeros(3), requires_grad=True)
by_norm.grad, by_value.grad = tg.tensor(g), tg.tensor(g)
norm = optim.clip_grad_norm_([by_norm], max_norm=5.0)
optim.clip_grad_value_([by_value], clip_value=5.0)
cos = lambda a, b: a @ b / np.linalg.norm(a) / np.linalg.norm(b)  # noqa: E731
print(f"‖g‖ = {norm:.2f}")
g_norm, g_value = by_norm.grad.numpy(), by_value.grad.numpy()
print("clipped by norm: ", g_norm.round(3), f"cos to g = {cos(g_norm, g):.4f}")
print("clipped by value:", g_value, f"cos to g = {cos(g_value, g):.4f}")
assert np.isclose(cos(g_norm, g), 1.0) and cos(g_value, g) < 0.99

# %% [markdown]
# ### What you should see
#
# ‖g‖ ≈ 30.1, so clipping by norm multiplies g by 5/30.1: the direction is unchanged (cosine 1,
# asserted). Clipping by value turns (30, 1, -2) into (5, 1, -2): cosine 0.94, a different
# direction.

# %% [markdown]
# ## A learning rate that explodes without clipping, and learns with it
#
# The task: read a stream of random symbols (4 kinds) and output, at every step, the symbol
# seen d = 3 steps earlier (chance: 25% right, cross-entropy ln 4 ≈ 1.39). The model is a ReLU
# RNN whose recurrent matrix starts orthogonal with gain 1.5 — spectral radius 1.5, the
# exploding regime of tutorial 3 — trained with plain SGD for 300 steps, three ways:
#
# - learning rate 1.0, no clipping;
# - learning rate 1.0, gradient norm clipped at 1.0;
# - learning rate 0.1, no clipping (the usual cure without clipping: smaller steps).
#
# A run whose loss overflows to NaN stops; the plot marks where with a cross.

# %%
def delay_batch(rng, T=20, batch=32, d=3, V=4):
    x = rng.integers(0, V, (T, batch))
    return x, x[:-d]          # the target at step t ≥ d is the input at t - d


def train_delay(lr, clip, steps, seed=SEED, d=3, V=4):
    tg.manual_seed(seed)
    emb, rnn, head = nn.Embedding(V, 8), nn.RNN(8, 32, nonlinearity="relu"), nn.Linear(32, V)
    nn.init.orthogonal_(rnn.weight_hh_l0, gain=1.5)
    params = [*emb.parameters(), *rnn.parameters(), *head.parameters()]
    opt = optim.SGD(params, lr=lr, max_grad_norm=clip)
    rng, losses, accuracy, clipped = np.random.default_rng(seed), [], [], 0
    for _ in range(steps):
        x, y = delay_batch(rng, d=d, V=V)
        with np.errstate(all="ignore"):       # an exploding run overflows on purpose
            out, _ = rnn(emb(x))
            logits = head(out[d:])
            loss = F.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
        losses.append(loss.item())
        accuracy.append(float((logits.numpy().argmax(-1) == y).mean()))
        clipped += opt.last_clipped
        if not np.isfinite(losses[-1]):
            break
    return {"loss": np.array(losses), "acc": np.array(accuracy), "clipped": clipped}


steps = pick(300, 40)
runs = {"lr 1.0, no clipping": train_delay(1.0, None, steps),
        "lr 1.0, clip ‖g‖ at 1.0": train_delay(1.0, 1.0, steps),
        "lr 0.1, no clipping": train_delay(0.1, None, steps)}


def tail_mean(v, n=25):
    return float(np.mean(v[-n:]))


fig, (a1, a2) = plt().subplots(1, 2, figsize=(11, 4))
for n, (name, r) in enumerate(runs.items()):
    loss = r["loss"]
    a1.semilogy(np.arange(1, len(loss) + 1), loss, color=f"C{n}", lw=1, label=name)
    a2.plot(np.arange(1, len(r["acc"]) + 1), r["acc"], color=f"C{n}", lw=1, label=name)
    if not np.isfinite(loss[-1]):   # mark the step where it overflowed, at the top edge
        a1.plot(len(loss), 30, "x", color=f"C{n}", ms=12, mew=3, clip_on=False)
        a1.annotate(f"NaN at step {len(loss)}", (len(loss), 30), textcoords="offset points",
                    xytext=(8, -12), color=f"C{n}")
    state = "NaN" if not np.isfinite(loss[-1]) else f"{tail_mean(loss):.3g}"
    print(f"{name:<24} steps run {len(loss):>3}, clipped {r['clipped']:>3}, "
          f"final loss {state}, final accuracy {tail_mean(r['acc']):.2f}")
a1.axhline(np.log(4), color="grey", ls="--", label="chance, ln 4")
a1.set(title="Delay-3 recall, ReLU RNN (gain 1.5), plain SGD: loss",
       xlabel="step", ylabel="cross-entropy (nats)", ylim=(None, 30))
a1.legend(fontsize=8)
a2.axhline(0.25, color="grey", ls="--", label="chance")
a2.set(title="Accuracy on the training batch", xlabel="step", ylabel="accuracy", ylim=(0, 1.02))
a2.legend(fontsize=8)
savefig(fig, "04_clipping.png")

wild, tamed, small = runs.values()
if not FAST:
    assert tail_mean(tamed["loss"]) < 0.1 and tail_mean(tamed["acc"]) > 0.95
    assert not np.isfinite(wild["loss"][-1]) or tail_mean(wild["loss"]) > 0.5
    assert tail_mean(small["loss"]) > tail_mean(tamed["loss"])
assert np.isfinite(tamed["loss"]).all() and tamed["clipped"] > 0

# %% [markdown]
# ### What you should see
#
# **Without clipping at learning rate 1.0** the run blows up: its loss shoots up past the top of
# the plot and overflows to NaN after a few steps (the cross), or one huge step throws the
# weights into a region where the loss stays high and the accuracy near chance. **The same
# learning rate with clipping** reaches almost perfect recall (loss below 0.1, accuracy above
# 95%, asserted in the full run): every step whose gradient is longer than 1 (their number is
# printed) is cut to length lr · 1.0, so no single step can jump far, but its direction is the
# gradient's. **Learning rate 0.1 without clipping** is stable but slower — after the same 300
# steps its loss is still higher than the clipped run's (asserted). Clipping lets one use the
# learning rate that makes fast progress on the ordinary steps, and survive the rare huge
# gradient where the loss surface has a cliff.



# %% [markdown]
# ## Truncated BPTT is `detach()`
#
# For a long stream we cannot backpropagate through everything. Truncated BPTT runs windows of
# K steps, carries the state forward (the forward pass sees the whole history) but `detach()`es
# it, so the backward pass stops at the window edge. Here: two windows of a GRU, and the
# gradient reaching each step of the *first* window.

# %%
tg.manual_seed(SEED)
gru = nn.GRU(1, 8).double()
x = tg.Tensor(np.random.default_rng(SEED).standard_normal((12, 1, 1)))
K = 6
out1, h = gru(x[:K])
states1 = diagnostics.hidden_states(out1)
out2, _ = gru(x[K:], h.detach())       # truncated: the graph is cut here
(out2[-1] ** 2).sum().backward()
print("‖∂L/∂h_t‖ in window 1 with detach:   ", diagnostics.grad_norms(states1))
assert not diagnostics.grad_norms(states1).any()

gru.zero_grad()
out1, h = gru(x[:K])
states1 = diagnostics.hidden_states(out1)
out2, _ = gru(x[K:], h)                # full BPTT across the edge
(out2[-1] ** 2).sum().backward()
print("‖∂L/∂h_t‖ in window 1 without detach:", diagnostics.grad_norms(states1).round(5))

# %% [markdown]
# ### What you should see
#
# With `detach()` every ‖∂L/∂h_t‖ in the first window is exactly 0 (asserted): the loss is in
# window 2 and the backward pass stops at the edge. Without it they are non-zero, shrinking
# with the distance from the loss.

# %% [markdown]
# ## What truncation costs: a dependency longer than the window
#
# Truncated BPTT cannot *teach* a dependency longer than its window K: the gradient from a
# target never reaches an input more than K - 1 steps back. Same delay task, now as one long
# stream (so the state is carried across windows): the target at t is the input at t - d, with
# d = 5, and a GRU trained with windows of K = 10 (d < K) or K = 4 (d > K). Both see the same
# data; only where the backward pass stops differs.

# %%
def train_tbptt(K, d, steps, seed=SEED, V=4, batch=32):
    tg.manual_seed(seed)
    emb, gru, head = nn.Embedding(V, 8), nn.GRU(8, 32), nn.Linear(32, V)
    opt = optim.Adam([*emb.parameters(), *gru.parameters(), *head.parameters()], lr=1e-2,
                     max_grad_norm=1.0)
    stream = np.random.default_rng(seed).integers(0, V, (steps * K + d, batch))
    state, accuracy = None, []
    for s in range(steps):
        x = stream[d + s * K: d + (s + 1) * K]   # inputs at t
        y = stream[s * K:(s + 1) * K]            # targets: the inputs at t - d
        out, state = gru(emb(x), state)
        logits = head(out)
        loss = F.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        state = state.detach()                   # truncated BPTT
        accuracy.append(float((logits.numpy().argmax(-1) == y).mean()))
    return np.array(accuracy)


d = 5
tbptt_steps = pick(400, 30)
long_window, short_window = train_tbptt(10, d, tbptt_steps), train_tbptt(4, d, tbptt_steps)
k = min(20, tbptt_steps)
fig, ax = plt().subplots(figsize=(6, 4))
for acc, label in [(long_window, "K = 10 > d"), (short_window, "K = 4 < d")]:
    ax.plot(np.arange(k, len(acc) + 1), np.convolve(acc, np.ones(k) / k, mode="valid"),
            label=f"window {label}")
ax.axhline(0.25, color="grey", ls="--", label="chance")
ax.set(title=f"Recall the symbol from d = {d} steps back, truncated BPTT",
       xlabel="training window", ylabel=f"accuracy (moving average of {k})", ylim=(0, 1.02))
ax.legend()
savefig(fig, "04_tbptt_window.png")
print(f"final accuracy: K = 10: {tail_mean(long_window, 20):.2f}, "
      f"K = 4: {tail_mean(short_window, 20):.2f} (chance 0.25)")
if not FAST:
    assert tail_mean(long_window, 20) > 0.85 and tail_mean(short_window, 20) < 0.5

# %% [markdown]
# ### What you should see
#
# With K = 10 the accuracy climbs towards 100%: inside each window most targets have their
# source in the same window, so the gradient can teach the GRU to hold a symbol for 5 steps —
# and once learned, the memory works across window edges too (the forward pass carries the
# state). With K = 4 no target's source is ever inside the window, so no gradient ever says
# "keep this symbol". The accuracy stays near chance; the little it gains above 0.25 is what
# the head learns to read out of whatever the untrained dynamics happen to keep — not a memory
# the network was taught (asserted: below 0.5, against above 0.85 for K = 10).
#
# The data helper `tinygrad_rnn.data.tbptt_windows` cuts a token stream into such windows (each
# window's targets are its inputs shifted by one), and `python -m tinygrad_rnn train --task text
# --tbptt 32` trains a character model this way; tutorial 8 does it step by step.

# %% [markdown]
# ## Exercises
#
# 1. Clip g = (3, 4) by norm at max_norm 1: what is the clipped vector? Put it in `answer_1`
#    as a pair.
# 2. Plain SGD with lr 1.0 and clipping at 1.0: what is the largest length a single update
#    can have? Put the number in `answer_2`.
# 3. Truncated BPTT with windows of K = 32: what is the longest delay d (in steps, target at t,
#    source at t - d) for which some targets in a window still get a gradient from their
#    source? Put the number in `answer_3`.

# %%
answer_1 = None   # e.g. (0.1, 0.2)
answer_2 = None   # a number
answer_3 = None   # a number


check_exercise(1, answer_1, (0.6, 0.8), "‖g‖ = 5, so g is multiplied by 1/5", rtol=1e-3)
check_exercise(2, answer_2, 1.0, "an update is lr · g, and ‖g‖ ≤ max_norm after clipping",
               rtol=1e-9)
check_exercise(3, answer_3, 31, "the source and the target must both lie inside one window of K "
               "steps", rtol=1e-9)
