# %% [markdown]
# # 2. The RNN and backpropagation through time
#
# A recurrent net applies the same weights at every step:
#
#     s_t = f(U x_t + W s_{t-1})        o_t = g(V s_t)
#
# Unrolled over T steps it is an ordinary (deep) feed-forward graph in which U, W and V are
# *shared*. Backpropagation through time (BPTT) is nothing more than backpropagation through
# that unrolled graph — and because W is used at every step, ∂L/∂W is a **sum over time steps**.

# %%
import numpy as np

import tinygrad_rnn as tg
from tinygrad_rnn import nn, viz
from common import OUT, SEED, check_exercise, pick, plt, savefig, show

rng = np.random.default_rng(SEED)
I, H, O, T = 2, 3, 1, 4
U0, W0, V0 = (rng.standard_normal(s) * 0.5 for s in [(H, I), (H, H), (O, H)])
xs = rng.standard_normal((T, I))
targets = rng.standard_normal((T, O))

# %% [markdown]
# ## The unrolled graph, one cluster per time step
#
# `tg.scope(f"t{t}")` names the nodes each step records, and the renderer groups them;
# `.named("x_1")` names a tensor in the picture (we keep the input tensors, so the renderer can
# still show them).

# %%
def run(U, W, V, xs, targets, last_only=False):
    """Many-to-many: an output at every step, L = Σ_t ½‖o_t - y_t‖², f = tanh, g = identity.
    ``last_only``: many-to-one, L = ½‖o_T - y_T‖². xs, targets: lists of Tensors, one per step.
    Returns L and the states s_1..s_T."""
    s, loss, states = s_0, None, []
    for t in range(len(xs)):
        with tg.scope("rnn"), tg.scope(f"t{t + 1}"):
            s = (U @ xs[t] + W @ s).tanh().named(f"s_{t + 1}")
            if not last_only or t == len(xs) - 1:
                o = (V @ s).named(f"o_{t + 1}")
                step_loss = 0.5 * ((o - targets[t]) ** 2).sum()
                loss = step_loss if loss is None else loss + step_loss
        states.append(s)
    return loss, states


s_0 = tg.Tensor(np.zeros(H)).named("s_0")  # the initial state (held, so the picture names it)


def as_tensors(arrays, name):
    return [tg.Tensor(a).named(f"{name}_{t + 1}") for t, a in enumerate(arrays)]


x_ts, y_ts = as_tensors(xs, "x"), as_tensors(targets, "y")
U, W, V = (tg.Tensor(a.copy(), requires_grad=True) for a in (U0, W0, V0))
loss, states = run(U, W, V, x_ts, y_ts)
for s in states:
    s.retain_grad()
with tg.track_grad_norms():  # record ‖∂L/∂node‖ on every node: the drawing's gradient heat
    loss.backward()
graph = viz.draw_graph(loss.named("L"), params={"U": U, "W": W, "V": V},
                       title=f"02: the RNN unrolled over T = {T} steps")
print("graph:", viz.render(graph, OUT / "02_unrolled_rnn", format="svg"))
show(graph)  # inline in a notebook
(OUT / "02_unrolled_rnn.gv").write_text(graph.source)
assert len(tg.graph_nodes(loss)) > T, "one group of nodes per step"

# %% [markdown]
# **What you should see:** four boxes t1 … t4, each with the same U, W, V drawn beside it (one
# weight, used at every step), the state s_t leaving box t into box t+1, and the four step
# losses added into L at the bottom.

# %% [markdown]
# ## BPTT by hand
#
# Let δ_t = ∂L/∂(U x_t + W s_{t-1}), the error at the pre-activation of step t. The total
# gradient reaching s_t comes from its own output *and* from step t+1:
#
#     ∂L/∂s_t = Vᵀ (o_t - y_t) + Wᵀ δ_{t+1}        δ_t = ∂L/∂s_t ⊙ (1 - s_t²)
#
# and the shared weights collect one term per step:
#
#     ∂L/∂W = Σ_t δ_t s_{t-1}ᵀ        ∂L/∂U = Σ_t δ_t x_tᵀ        ∂L/∂V = Σ_t (o_t - y_t) s_tᵀ

# %%
s = np.zeros((T + 1, H))  # s[0] is the initial state
for t in range(T):
    s[t + 1] = np.tanh(U0 @ xs[t] + W0 @ s[t])
o = s[1:] @ V0.T
dU, dW, dV = np.zeros_like(U0), np.zeros_like(W0), np.zeros_like(V0)
dW_per_step = []
delta_next = np.zeros(H)
for t in reversed(range(T)):
    ds = V0.T @ (o[t] - targets[t]) + W0.T @ delta_next
    delta = ds * (1 - s[t + 1] ** 2)
    dW_per_step.append(np.outer(delta, s[t]))
    dW += dW_per_step[-1]
    dU += np.outer(delta, xs[t])
    dV += np.outer(o[t] - targets[t], s[t + 1])
    delta_next = delta
    assert np.allclose(ds, states[t].grad), "∂L/∂s_t by hand = what backward() left on s_t"

for name, mine, theirs in (("U", dU, U.grad), ("W", dW, W.grad), ("V", dV, V.grad)):
    print(f"∂L/∂{name}: hand vs backward() max difference {np.abs(mine - theirs).max():.1e}")
    assert np.allclose(mine, theirs, atol=1e-12)

# %% [markdown]
# **What you should see:** differences of order 1e-16: the hand-written BPTT and `backward()`
# agree, and the gradient `backward()` left on every state s_t (kept by `retain_grad()`) is the
# ∂L/∂s_t of the recursion above.

# %% [markdown]
# ## … and checked numerically
#
# Central differences of L with respect to every element of U, W and V, in float64:

# %%
assert tg.gradcheck(lambda U, W, V: run(U, W, V, x_ts, y_ts)[0],
                    [tg.Tensor(a.copy(), requires_grad=True) for a in (U0, W0, V0)])
print("gradcheck passed")

# %% [markdown]
# ## ∂L/∂W is a sum over time steps: which steps contribute?
#
# Each step adds δ_t s_{t-1}ᵀ to ∂L/∂W. We take a longer sequence (T = 30) and a loss on the
# *last* output only (many-to-one), with W scaled to spectral norm 0.8. Then the error reaching
# state s_k has passed T - k factors Wᵀ diag(1 - s_t²), each of norm ≤ 0.8, and δ_k is at most
# as large as ∂L/∂s_k, so
#
#     ‖δ_k s_{k-1}ᵀ‖ ≤ 0.8^{T-k} ‖∂L/∂s_T‖ ‖s_{k-1}‖,   with ‖s_{k-1}‖ ≤ √H (tanh ∈ (-1, 1)).
#
# The per-step terms are computed from the ∂L/∂s_t that `backward()` leaves on the states; their
# sum must be autograd's ∂L/∂W. With an output at every step (many-to-many) each step also has
# its own error, and the early terms no longer fade.
#
# The plot starts at t = 2; the term of t = 1 is the subject of exercise 1.

# %%
T_long = 30
rng_long = np.random.default_rng(SEED + 1)
xs_long = as_tensors(rng_long.standard_normal((T_long, I)), "x")
ys_long = as_tensors(rng_long.standard_normal((T_long, O)), "y")
W_contract = W0 / np.linalg.norm(W0, 2) * 0.8   # spectral norm exactly 0.8


def per_step_terms(last_only):
    """‖δ_t s_{t-1}ᵀ‖ for t = 1..T, their sum (a matrix), autograd's ∂L/∂W, and the states."""
    U_, W_, V_ = (tg.Tensor(a.copy(), requires_grad=True) for a in (U0, W_contract, V0))
    L, states = run(U_, W_, V_, xs_long, ys_long, last_only=last_only)
    for s in states:
        s.retain_grad()
    L.backward()
    prev = [np.zeros(H)] + [s.numpy() for s in states[:-1]]               # s_0 … s_{T-1}
    deltas = [s.grad * (1 - s.numpy() ** 2) for s in states]              # δ_t = ∂L/∂s_t ⊙ tanh'
    terms = [np.outer(d, p) for d, p in zip(deltas, prev)]
    return np.array([np.linalg.norm(m) for m in terms]), sum(terms), W_.grad, states


fig, ax = plt().subplots(figsize=(7, 4))
steps = np.arange(1, T_long + 1)
for last_only, label, color in ((True, "loss on the last step only", "C0"),
                                (False, "loss on every step", "C1")):
    norms, total, autograd_dW, states_long = per_step_terms(last_only)
    assert np.allclose(total, autograd_dW, atol=1e-12), "Σ_t δ_t s_{t-1}ᵀ = autograd's ∂L/∂W"
    ax.semilogy(steps[1:], norms[1:], "o-", color=color, ms=3, label=label)
    print(f"{label}: ‖term_t‖ for t = 1, 2, 3, …, T-1, T:",
          " ".join(f"{v:.1e}" for v in (*norms[:3], *norms[-2:])))
    if last_only:
        g_T = np.linalg.norm(states_long[-1].grad)
        bound = 0.8 ** (T_long - steps) * g_T * np.sqrt(H)
        assert (norms <= bound + 1e-15).all(), "each term within the geometric bound"
        ax.semilogy(steps[1:], bound[1:], ":", color=color,
                    label="bound 0.8^(T-k)·‖∂L/∂s_T‖·√H")
        last_only_norms = norms
    else:
        every_step_norms = norms
ax.set(title=f"per-step terms δ_t s_(t-1)ᵀ of ∂L/∂W, T = {T_long}", xlabel="time step t",
       ylabel="‖δ_t s_(t-1)ᵀ‖ (log)", xlim=(1.5, T_long + 0.5))
ax.legend(fontsize=8, loc="lower right")
savefig(fig, "02_per_step_contributions.png")
early = slice(1, 10)  # t = 2 … 10
assert np.median(every_step_norms[early]) > 100 * np.median(last_only_norms[early]), \
    "with an error at every step, the early terms do not fade"

# %% [markdown]
# **What you should see:** with the loss on the last step only (blue), the terms fall
# geometrically as t moves away from T — under the dotted bound, so at least as fast as 0.8 per
# step — and the first ten steps add almost nothing to ∂L/∂W: BPTT "sees" mostly the recent
# past.
# With a loss at every step (orange), every step brings its own fresh error: the terms vary
# but do not fade along the sequence. In both, the 30 terms sum to the gradient `backward()`
# computed (asserted).

# %% [markdown]
# ## The four ways to use a recurrent net
#
# `nn.RNN` takes a sequence (T, B, I) and returns every state (T, B, H) and the last one.
#
# - **many-to-many** (tagging, language models): a head on every output;
# - **many-to-one** (classifying or summing a sequence): a head on the last output;
# - **one-to-many** (generation): one input, then feed each output back in as the next input;
# - **encoder–decoder**: a many-to-one encoder hands its last state to a one-to-many decoder.

# %%
tg.manual_seed(SEED)
rnn, head = nn.RNN(I, H), nn.Linear(H, I)
seq = tg.Tensor(rng.standard_normal((T, 5, I)).astype(np.float32))

out, h_n = rnn(seq)
print("many-to-many:", head(out).shape)          # (T, B, I)
print("many-to-one: ", head(out[-1]).shape)      # (B, I)

x, h, generated = seq[0:1], None, []             # one-to-many: feed outputs back
for _ in range(pick(6, 3)):
    out, h = rnn(x, h)
    x = head(out)
    generated.append(x)
print("one-to-many: ", tg.cat(generated, 0).shape)

decoder = nn.RNN(I, H)                           # encoder–decoder
_, summary = rnn(seq)
dec_out, _ = decoder(tg.Tensor(np.zeros((3, 5, I), np.float32)), summary)
print("encoder–decoder:", dec_out.shape)
assert dec_out.shape == (3, 5, H) and tg.cat(generated, 0).shape == (pick(6, 3), 5, I)

# %% [markdown]
# **What you should see:** (T, B, I) = (4, 5, 2) for many-to-many, (5, 2) for many-to-one, one
# generated step per loop iteration for one-to-many, and the decoder's (3, 5, 3) states.
#
# ## Exercises
#
# 1. In the T = 30 experiment, one per-step term of ∂L/∂W is exactly zero for every seed and
#    every W. Which step t is it?
# 2. Truncate the graph: in `run`, put `s = s.detach()` just before the last step (many-to-one
#    loss). How many of the T per-step terms of ∂L/∂W stay nonzero?
# 3. With the loss on every step, at which step t does ∂L/∂s_t have only one term (no gradient
#    arriving from the future)? Give t as a number, 1 … T.

# %%
answer_1 = None
answer_2 = None
answer_3 = None

check_exercise(1, answer_1, 1 + int(np.flatnonzero(last_only_norms == 0)[0]),
               "look at the formula δ_t s_{t-1}ᵀ and at the initial state")
U_, W_, V_ = (tg.Tensor(a.copy(), requires_grad=True) for a in (U0, W_contract, V0))
s, cut_states = tg.Tensor(np.zeros(H)), []
for t in range(T_long):
    if t == T_long - 1:
        s = s.detach()                              # the cut: no gradient flows to earlier steps
    s = (U_ @ xs_long[t] + W_ @ s).tanh()
    s.retain_grad()
    cut_states.append(s)
(0.5 * ((V_ @ s - ys_long[-1]) ** 2).sum()).backward()
reached = [st for st in cut_states if st.grad is not None]   # δ_t ≠ 0 only where ∂L/∂s_t arrived
check_exercise(2, answer_2, len(reached),
               "after the cut only the last step's W @ s is in the graph")
check_exercise(3, answer_3, T_long, "the future of the last step is empty")
