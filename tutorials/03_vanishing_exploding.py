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
from common import OUT, pick, plt, savefig

T, H = pick(60, 20), 32


def rnn_with_radius(rho, nonlinearity="tanh", seed=0):
    """An RNN whose W_hh is ρ·Q, Q orthogonal: every eigenvalue has modulus exactly ρ."""
    tg.manual_seed(seed)
    rnn = nn.RNN(1, H, nonlinearity=nonlinearity, bias=False).double()
    nn.init.orthogonal_(rnn.weight_hh_l0, gain=rho)
    nn.init.normal_(rnn.weight_ih_l0, 0, 0.5)
    return rnn


def grad_profile(rnn, T, seed=0):
    x = tg.Tensor(np.random.default_rng(seed).standard_normal((T, 4, 1)))
    out, _ = rnn(x)
    states = diagnostics.hidden_states(out)
    out[-1].sum().backward()       # the loss sees only the last step
    return diagnostics.grad_norms(states), out


# %% [markdown]
# ## A linear RNN first: the product is a matrix power
#
# With f the identity, ∂L/∂s_k = (Wᵀ)^{T-k} ∂L/∂s_T. With W = ρQ (Q orthogonal, so ‖Qv‖ = ‖v‖)
# the norm is *exactly* ρ^{T-k}·‖∂L/∂s_T‖ — checked here on a hand-written loop.

# %%
for rho in (0.8, 1.0, 1.25):
    W = nn.init.orthogonal_(nn.Parameter(np.zeros((H, H))), gain=rho)
    s, states = tg.Tensor(np.ones(H)), []
    for _ in range(T):
        s = W @ s + 0.1
        s.retain_grad()
        states.append(s)
    s.sum().backward()
    norms = diagnostics.grad_norms(states)
    predicted = rho ** (T - 1 - np.arange(T)) * norms[-1]
    assert np.allclose(norms, predicted, rtol=1e-9)
    print(f"linear, ρ = {rho}: ‖∂L/∂s_1‖ = {norms[0]:.3e} = ρ^(T-1)·‖∂L/∂s_T‖ ✓")

# %% [markdown]
# ## The tanh RNN
#
# Now f = tanh and the diag(f'(a_t)) factors (each ≤ 1) join in.

# %%
fig, ax = plt().subplots(figsize=(6, 4))
profiles = {}
for rho in (0.5, 0.9, 1.0, 1.1, 1.5):
    norms, _ = grad_profile(rnn_with_radius(rho), T)
    profiles[rho] = norms
    ax.semilogy(np.arange(1, T + 1), norms, label=f"ρ = {rho}")
ax.set_xlabel("time step k")
ax.set_ylabel("‖∂L/∂s_k‖")
ax.set_title("tanh RNN: gradient reaching each step")
ax.legend()
savefig(fig, "03_grad_vs_k.png")

for rho, norms in profiles.items():
    ratio = norms[0] / norms[-1]
    print(f"ρ = {rho}: ‖∂L/∂s_1‖ / ‖∂L/∂s_T‖ = {ratio:.2e}")
assert profiles[0.5][0] < 1e-6 * profiles[0.5][-1], "ρ = 0.5 vanishes geometrically"

# %% [markdown]
# With tanh, f'(a) ≤ 1, so even ρ slightly above 1 is tamed once the units saturate: tanh nets
# mostly *vanish*. A ReLU net has f' ∈ {0, 1} and nothing to tame it: with ρ > 1 it explodes.

# %%
for rho in (0.9, 2.5):
    norms, _ = grad_profile(rnn_with_radius(rho, "relu"), T)
    print(f"ReLU RNN, ρ = {rho}: ‖∂L/∂s_1‖ / ‖∂L/∂s_T‖ = {norms[0] / norms[-1]:.2e}")

# %% [markdown]
# ## The gradient-heat graph
#
# Collapsing each time step into one node and colouring it by the gradient it hands on makes the
# fading visible at a glance.

# %%
rnn = rnn_with_radius(0.6)
_, out = grad_profile(rnn, pick(20, 8))
graph = viz.draw_graph(out[-1], collapse="time", params=dict(rnn.named_parameters()))
print("graph:", viz.render(graph, OUT / "03_heat", format="svg"))
print("per-step norms read from the graph:",
      [f"{v:.1e}" for v in viz.time_step_grad_norms(out)["rnn/l0"][:5]], "…")

# %% [markdown]
# ## Detecting an explosion
#
# Three tools: the **norm** (what clipping reports), a **NaN/Inf check** on the loss, and the
# **anomaly mode**, which stops at the first op that produces a non-finite value and names it.

# %%
rnn = rnn_with_radius(3.0, "relu").float()  # float32 overflows past ~3.4e38
x = tg.Tensor(np.full((pick(400, 200), 1, 1), 1.0, dtype=np.float32))
with np.errstate(all="ignore"):
    out, _ = rnn(x)
    loss = (out[-1] ** 2).sum()
print("loss:", loss.item())
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
