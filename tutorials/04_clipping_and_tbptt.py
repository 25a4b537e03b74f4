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
from common import pick, plt, savefig

g = np.array([30.0, 1.0, -2.0])
by_norm = tg.Tensor(np.zeros(3), requires_grad=True)
by_value = tg.Tensor(np.zeros(3), requires_grad=True)
by_norm.grad, by_value.grad = g.copy(), g.copy()
norm = optim.clip_grad_norm_([by_norm], max_norm=5.0)
optim.clip_grad_value_([by_value], clip_value=5.0)
cos = lambda a, b: a @ b / np.linalg.norm(a) / np.linalg.norm(b)  # noqa: E731
print(f"‖g‖ = {norm:.2f}")
print("clipped by norm: ", by_norm.grad.round(3), f"cos to g = {cos(by_norm.grad, g):.4f}")
print("clipped by value:", by_value.grad, f"cos to g = {cos(by_value.grad, g):.4f}")
assert np.isclose(cos(by_norm.grad, g), 1.0) and cos(by_value.grad, g) < 0.99

# %% [markdown]
# ## Training in an exploding regime, with and without clipping
#
# A ReLU RNN whose recurrent matrix starts with spectral radius 1.8 on the adding problem, with
# plain SGD. Without clipping a single huge step throws the weights far away (the loss goes to
# NaN or stalls high); with clipping at 1.0 every step has bounded length.

# %%
def train_adding(clip, steps, seed=0, T=20):
    tg.manual_seed(seed)
    rnn, head = nn.RNN(2, 32, nonlinearity="relu"), nn.Linear(32, 1)
    nn.init.orthogonal_(rnn.weight_hh_l0, gain=1.8)
    opt = optim.SGD([*rnn.parameters(), *head.parameters()], lr=0.05, max_grad_norm=clip)
    rng, losses, clipped = np.random.default_rng(seed), [], 0
    for _ in range(steps):
        x, y = data.adding_problem(32, T, rng=rng)
        with np.errstate(all="ignore"):
            out, _ = rnn(tg.Tensor(x))
            loss = F.mse_loss(head(out[-1]), tg.Tensor(y))
            opt.zero_grad()
            loss.backward()
            opt.step()
        losses.append(loss.item())
        clipped += opt.last_clipped
        if not np.isfinite(losses[-1]):
            break
    return np.array(losses), clipped


steps = pick(300, 40)
plain, _ = train_adding(None, steps)
clipped_run, n_clipped = train_adding(1.0, steps)
print(f"without clipping: last loss {plain[-1]:.3g} after {len(plain)} steps")
print(f"with clipping:    last loss {clipped_run[-1]:.3g}; {n_clipped} of {steps} steps clipped")
fig, ax = plt().subplots(figsize=(6, 4))
ax.semilogy(np.nan_to_num(plain, nan=1e6, posinf=1e6), label="no clipping")
ax.semilogy(clipped_run, label="clip ‖g‖ at 1.0")
ax.axhline(1 / 6, color="grey", ls="--", label="always answer 1")
ax.set_xlabel("step")
ax.set_ylabel("MSE")
ax.legend()
savefig(fig, "04_clipping.png")

# %% [markdown]
# ## Truncated BPTT is `detach()`
#
# For a long stream we cannot backpropagate through everything. Truncated BPTT runs windows of
# K steps, carries the state forward (the forward pass sees the whole history) but `detach()`es
# it, so the backward pass stops at the window edge. Here: two windows of a GRU, and the
# gradient reaching each step of the *first* window.

# %%
tg.manual_seed(0)
gru = nn.GRU(1, 8).double()
x = tg.Tensor(np.random.default_rng(0).standard_normal((12, 1, 1)))
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
# The data helper `tinygrad_rnn.data.tbptt_windows` cuts a token stream into such windows (each
# window's targets are its inputs shifted by one), and `python -m tinygrad_rnn train --task text
# --tbptt 32` trains a character model this way; tutorial 8 does it step by step.
