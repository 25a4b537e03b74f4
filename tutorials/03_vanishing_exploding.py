# %% [markdown]
# # 3. Vanishing and exploding gradients
#
# How much does the loss at the end of a sequence care about the state k steps earlier? By the
# chain rule through s_t = f(W s_{t-1} + U x_t):
#
#     ∂s_T/∂s_k = Π_{t=k+1..T} diag(f'(a_t)) W
#
# a product of T - k matrices. If the largest singular value of each factor stays below 1 the
# product shrinks geometrically (vanishing); above 1 it can grow geometrically (exploding).
# Here we measure ‖∂L/∂s_k‖ for recurrent matrices of spectral radius ρ below, at and above 1.

# %%
import numpy as np

import tinygrad_rnn as tg
from tinygrad_rnn import diagnostics, nn, optim, viz
from common import OUT, SEED, check_exercise, pick, plt, savefig, show

T, H = pick(60, 20), 32


def rnn_with_radius(rho, nonlinearity="tanh", seed=SEED):
    """An RNN whose W_hh is ρ·Q, Q orthogonal: every eigenvalue has modulus exactly ρ."""
    tg.manual_seed(seed)
    rnn = nn.RNN(1, H, nonlinearity=nonlinearity, bias=False).double()
    nn.init.orthogonal_(rnn.weight_hh_l0, gain=rho)
    nn.init.normal_(rnn.weight_ih_l0, 0, 0.5)
    return rnn


def grad_profile(rnn, T, seed=SEED):
    """‖∂L/∂s_k‖ for k = 1..T with L = Σ s_T (a loss on the last step), the output, the input."""
    x = tg.Tensor(np.random.default_rng(seed).standard_normal((T, 4, 1))).named("x")
    out, _ = rnn(x)
    states = diagnostics.hidden_states(out)
    with tg.track_grad_norms():    # per-node ‖grad‖ for the heat picture below
        out[-1].sum().backward()   # the loss sees only the last step
    return diagnostics.grad_norms(states), out, x


# %% [markdown]
# ## A linear RNN first: the product is a matrix power
#
# With f the identity, ∂L/∂s_k = (Wᵀ)^{T-k} ∂L/∂s_T. With W = ρQ (Q orthogonal, so ‖Qv‖ = ‖v‖)
# the norm is *exactly* ρ^{T-k}·‖∂L/∂s_T‖ — checked here on a hand-written loop.

# %%
def linear_profile(rho, T):
    """‖∂L/∂s_k‖, k = 1..T, for s_k = W s_{k-1} + 0.1 with W = ρQ and L = Σ s_T."""
    W = nn.init.orthogonal_(nn.Parameter(np.zeros((H, H))), gain=rho)
    s, states = tg.Tensor(np.ones(H)).named("s_0"), []
    for k in range(T):
        s = (W @ s + 0.1).named(f"s_{k + 1}")
        s.retain_grad()
        states.append(s)
    s.sum().backward()
    return diagnostics.grad_norms(states)


for rho in (0.8, 1.0, 1.25):
    norms = linear_profile(rho, T)
    predicted = rho ** (T - 1 - np.arange(T)) * norms[-1]
    assert np.allclose(norms, predicted, rtol=1e-9)
    print(f"linear, ρ = {rho}: ‖∂L/∂s_1‖ = {norms[0]:.3e} = ρ^(T-1)·‖∂L/∂s_T‖ ✓")

# %% [markdown]
# **What you should see:** three ✓ — the measured gradients match ρ^(T-k) to nine digits:
# ρ = 0.8 shrinks the gradient at s_1 by 0.8^(T-1), ρ = 1 keeps ‖∂L/∂s_T‖ = √H ≈ 5.657 all the
# way back, ρ = 1.25 multiplies it by 1.25^(T-1).

# %% [markdown]
# ## The tanh RNN
#
# Now f = tanh and the diag(f'(a_t)) factors (each ≤ 1) join in.

# %%
fig, ax = plt().subplots(figsize=(6.5, 4))
ks = np.arange(1, T + 1)
profiles = {}
for rho in (0.5, 0.9, 1.0, 1.1, 1.5):
    norms, _, _ = grad_profile(rnn_with_radius(rho), T)
    profiles[rho] = norms
    ax.semilogy(ks, norms / norms[-1], label=f"ρ = {rho}")
ax.semilogy(ks, 1.5 ** (T - ks), "k:", label="1.5^(T-k): linear, ρ = 1.5")
ax.set(title="tanh RNN: gradient reaching each step", xlabel="time step k",
       ylabel="‖∂L/∂s_k‖ / ‖∂L/∂s_T‖", ylim=(None, 3 * 1.5 ** (T - 1)))  # the dotted line whole
ax.legend(fontsize=8)
savefig(fig, "03_grad_vs_k.png")

for rho, norms in profiles.items():
    ratio = norms[0] / norms[-1]
    print(f"tanh, ρ = {rho}: ‖∂L/∂s_1‖ / ‖∂L/∂s_T‖ = {ratio:.2e}"
          f"   (ρ^(T-1) = {rho ** (T - 1):.1e})")
    assert np.isfinite(norms).all() and (norms > 0).all()
    # each backward step multiplies by diag(tanh')·ρQᵀ, whose norm is ≤ ρ because tanh' ≤ 1
    assert (norms / norms[-1] <= rho ** (T - ks) * (1 + 1e-9)).all(), "never above ρ^(T-k)"
assert profiles[0.5][0] < 1e-6 * profiles[0.5][-1], "ρ = 0.5 vanishes geometrically"
assert profiles[1.0][0] < profiles[1.0][-1], "at ρ = 1 tanh' < 1 makes it vanish"
assert profiles[1.1][0] < profiles[1.1][-1], "ρ = 1.1 still vanishes"
assert profiles[1.5][0] / profiles[1.5][-1] < 1e-2 * 1.5 ** (T - 1), "ρ = 1.5 tamed by tanh"

# %% [markdown]
# **What you should see:** every tanh curve lies *below* its linear counterpart ρ^(T-k) (only
# 1.5^(T-k) is drawn, dotted; all five are asserted): ρ ≤ 1 vanishes (ρ = 0.5 by many orders
# of magnitude), ρ = 1.1 still vanishes, and even ρ = 1.5
# grows far slower than the dotted line 1.5^(T-k): once the units saturate, tanh' ≈ 0 cuts the
# product. tanh nets mostly *vanish*.
#
# A ReLU net has f' ∈ {0, 1} and nothing to tame it: with ρ > 1 it explodes.

# %%
fig, ax = plt().subplots(figsize=(6.5, 4))
relu = {}
for rho in (0.9, 2.5):
    norms, _, _ = grad_profile(rnn_with_radius(rho, "relu"), T)
    relu[rho] = norms
    ax.semilogy(ks, norms / norms[-1], label=f"ReLU, ρ = {rho}")
    ax.semilogy(ks, rho ** (T - ks), ":", color=ax.lines[-1].get_color(), label=f"{rho}^(T-k)")
    print(f"ReLU RNN, ρ = {rho}: ‖∂L/∂s_1‖ / ‖∂L/∂s_T‖ = {norms[0] / norms[-1]:.2e}")
ax.set(title="ReLU RNN: gradient reaching each step", xlabel="time step k",
       ylabel="‖∂L/∂s_k‖ / ‖∂L/∂s_T‖")
ax.legend(fontsize=8)
savefig(fig, "03_relu_grad_vs_k.png")
assert relu[2.5][0] > 100 * relu[2.5][-1], "ReLU with ρ = 2.5 explodes"
assert relu[2.5][0] <= 2.5 ** (T - 1) * relu[2.5][-1] * (1 + 1e-9), "…but never beyond ρ^(T-1)"
assert relu[0.9][0] < relu[0.9][-1], "ReLU with ρ = 0.9 vanishes"

# %% [markdown]
# **What you should see:** the ReLU net with ρ = 2.5 grows by orders of magnitude towards
# early steps (slower than 2.5^(T-k), because inactive units pass 0); with ρ = 0.9 it shrinks.

# %% [markdown]
# ## The gradient-heat graph
#
# Collapsing each time step into one node and colouring it by the gradient it hands on makes the
# fading visible at a glance.

# %%
rnn = rnn_with_radius(0.6)
_, out, x_heat = grad_profile(rnn, pick(20, 8))   # x_heat held: the picture names the input
graph = viz.draw_graph(out[-1].named("s_T"), collapse="time", params=dict(rnn.named_parameters()),
                       title="03: tanh RNN, ρ = 0.6 — one box per time step, coloured by ‖∂L/∂h_t‖")
print("graph:", viz.render(graph, OUT / "03_heat", format="svg"))
(OUT / "03_heat.gv").write_text(graph.source)
show(graph)  # inline in a notebook
per_step = viz.time_step_grad_norms(out)["rnn/l0"]
print("per-step norms read from the graph:", [f"{v:.1e}" for v in per_step[:5]], "…")
assert per_step[0] < per_step[-1], "the early steps are the pale ones"

# %% [markdown]
# **What you should see:** one box per time step; the last steps (near the loss) dark, the first
# ones pale — ρ = 0.6 loses about half the gradient per step, as the printed norms show.

# %% [markdown]
# ## Detecting an explosion
#
# Three tools: the **norm** (what clipping reports), a **NaN/Inf check** on the loss, and the
# **anomaly mode**, which stops at the first op that produces a non-finite value and names it.

# %%
rnn = rnn_with_radius(3.0, "relu").float()  # float32 overflows past ~3.4e38
x = tg.Tensor(np.full((400, 1, 1), 1.0, dtype=np.float32))  # enough steps to overflow
with np.errstate(all="ignore"):
    out, _ = rnn(x)
    loss = (out[-1] ** 2).sum()
print("loss:", loss.item())

with np.errstate(all="ignore"):
    state_norm = np.abs(out.numpy()).max(axis=(1, 2)).astype(np.float64)  # largest |h_t| per step
bad = ~np.isfinite(state_norm)
steps = np.arange(1, len(state_norm) + 1)
fig, ax = plt().subplots(figsize=(6, 3.5))
ax.semilogy(steps[~bad], state_norm[~bad], label="max |h_t| (finite)")
ax.plot(steps[bad], np.full(bad.sum(), 0.97), "x", color="m", ms=4,
        transform=ax.get_xaxis_transform(), label="inf or NaN (no value to plot)")
ax.set(title="ReLU RNN, ρ = 3, float32: the forward overflows", xlabel="time step t",
       ylabel="max |h_t|")
ax.legend(fontsize=8, loc="lower right")
savefig(fig, "03_overflow.png")
first_bad = int(np.argmax(bad)) + 1
assert bad.any() and not bad[:10].any(), "finite at first, overflowing later"
growth = (state_norm[first_bad - 2] / state_norm[9]) ** (1 / (first_bad - 11))  # per step
print(f"first non-finite state at step {first_bad}; "
      f"the last finite one is {state_norm[~bad].max():.1e}; growth ×{growth:.2f} per step")
assert 1 < growth < 3, "geometric growth, slower than ρ = 3 (ReLU zeroes negative parts)"

# %% [markdown]
# **What you should see:** max |h_t| grows as a straight line on the log axis — a fixed factor
# per step, printed above, below ρ = 3 because ReLU zeroes the negative parts — up to float32's
# limit ~3e38, then the crosses: inf, and NaN once inf - inf or 0·inf appear. The loss prints
# `nan`.

# %%
with np.errstate(all="ignore"):
    loss.backward()
total = optim.clip_grad_norm_(rnn.parameters(), max_norm=1.0)
print("gradient norm:", total, "→ finite?", np.isfinite(total))
assert not np.isfinite(total), "the explosion overflowed"
rnn.zero_grad()

try:
    with tg.detect_anomaly(), np.errstate(all="ignore"):
        out, _ = rnn(x)
        (out[-1] ** 2).sum().backward()
except tg.AnomalyError as err:
    print("anomaly mode says:", err)
    anomaly = str(err)
    step = int(anomaly.split("/t")[1].split(";")[0]) + 1   # scopes count from t0, steps from 1
    assert step <= first_bad, "anomaly mode stops no later than the first non-finite state"
else:
    raise AssertionError("anomaly mode should have stopped the overflow")

# %% [markdown]
# **What you should see:** the clipping function returns a non-finite norm (clipping cannot
# rescue a gradient that is already inf/NaN), and anomaly mode names the op that first made a
# non-finite value and the time-step scope it ran in: the step of the first cross above, or one
# earlier (scopes count from t0, the figure from 1): a pre-activation of -inf is already caught
# there, but ReLU turns it into a finite 0 in h_t.
#
# ## Exercises
#
# 1. Linear RNN with ρ = 1.05 and T steps as above: predict log₁₀(‖∂L/∂s_1‖ / ‖∂L/∂s_T‖).
# 2. tanh RNN with ρ = 0.9: can ‖∂L/∂s_1‖ / ‖∂L/∂s_T‖ ever exceed 0.9^(T-1)? Answer "yes" or
#    "no".
# 3. Which op does anomaly mode name as the first to produce a non-finite value?

# %%
answer_1 = None
answer_2 = None
answer_3 = None

norms_105 = linear_profile(1.05, T)
check_exercise(1, answer_1, np.log10(norms_105[0] / norms_105[-1]),
               "the ratio is exactly ρ^(T-1); take log₁₀ of it", rtol=0.02)
tanh_09 = profiles[0.9][0] / profiles[0.9][-1]
check_exercise(2, answer_2, "yes" if tanh_09 > 0.9 ** (T - 1) else "no",
               "each step multiplies by diag(tanh')·ρQᵀ; how large can its norm be?")
check_exercise(3, answer_3, anomaly.split()[0], "read the first word of the anomaly message")
