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
from common import OUT, pick

rng = np.random.default_rng(0)
I, H, O, T = 2, 3, 1, 4
U0, W0, V0 = (rng.standard_normal(s) * 0.5 for s in [(H, I), (H, H), (O, H)])
xs = rng.standard_normal((T, I))
targets = rng.standard_normal((T, O))

# %% [markdown]
# ## The unrolled graph, one cluster per time step
#
# `tg.scope(f"t{t}")` names the nodes each step records, and the renderer groups them.

# %%
def run(U, W, V, xs, targets):
    """Many-to-many: an output at every step, L = Σ_t ½‖o_t - y_t‖², f = tanh, g = identity."""
    s = tg.Tensor(np.zeros(H))
    loss, states = 0.0, []
    for t in range(len(xs)):
        with tg.scope("rnn"), tg.scope(f"t{t}"):
            s = (U @ tg.Tensor(xs[t]) + W @ s).tanh()
            o = V @ s
            loss = loss + 0.5 * ((o - tg.Tensor(targets[t])) ** 2).sum()
        states.append(s)
    return loss, states


U, W, V = (tg.Tensor(a.copy(), requires_grad=True) for a in (U0, W0, V0))
loss, states = run(U, W, V, xs, targets)
for s in states:
    s.retain_grad()
loss.backward()
graph = viz.draw_graph(loss, params={"U": U, "W": W, "V": V})
print("graph:", viz.render(graph, OUT / "02_unrolled_rnn", format="svg"))

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
print("‖per-step terms of ∂L/∂W‖, t = T..1:", [f"{np.linalg.norm(d):.3f}" for d in dW_per_step])

# %% [markdown]
# ## … and checked numerically
#
# Central differences of L with respect to every element of U, W and V, in float64:

# %%
assert tg.gradcheck(lambda U, W, V: run(U, W, V, xs, targets)[0],
                    [tg.Tensor(a.copy(), requires_grad=True) for a in (U0, W0, V0)])
print("gradcheck passed")

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
tg.manual_seed(0)
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
