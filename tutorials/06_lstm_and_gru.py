# %% [markdown]
# # 6. LSTM and GRU
#
# ## The gates, one by one
#
# An LSTM step (PyTorch's gate order i, f, g, o), from one matmul of [x_t, h_{t-1}]:
#
#     z = x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh = [z_i, z_f, z_g, z_o]
#     i = σ(z_i)   input gate: how much of the candidate to write
#     f = σ(z_f)   forget gate: how much of the old cell to keep
#     g = tanh(z_g) candidate values
#     o = σ(z_o)   output gate: how much of the cell to show
#     c_t = f ⊙ c_{t-1} + i ⊙ g          h_t = o ⊙ tanh(c_t)
#
# The cell c is updated *additively*: ∂c_t/∂c_{t-1} = f, with no squashing matrix product, so a
# forget gate near 1 carries the gradient across many steps. The original 1997 LSTM had no f
# (c_t = c_{t-1} + i ⊙ g): a perfect carousel, but it can never erase.
#
# A GRU merges the two states: r = σ(·) resets what the candidate sees of h, z = σ(·) blends:
#
#     n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))        h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}

# %%
import numpy as np

import tinygrad_rnn as tg
from tinygrad_rnn import data, nn, optim
from tinygrad_rnn.nn import functional as F
from common import pick, plt, savefig

tg.manual_seed(0)
cell = nn.LSTMCell(2, 3).double()
x = tg.Tensor(np.array([[0.5, 1.0]]))
h = c = tg.Tensor(np.zeros((1, 3)))
z = x @ cell.weight_ih.T + cell.bias_ih + h @ cell.weight_hh.T + cell.bias_hh
for name, zz in zip("ifgo", z.chunk(4, 1)):
    act = zz.tanh() if name == "g" else zz.sigmoid()
    print(f"{name}: {np.round(act.data[0], 3)}")
h1, c1 = cell(x, (h, c))
print("c_1 =", np.round(c1.data[0], 4), " h_1 =", np.round(h1.data[0], 4))

# %% [markdown]
# ## The 1997 LSTM, the LSTM with forget gate, and the GRU on the adding problem
#
# The adding problem needs two numbers remembered across the whole sequence. Always answering
# 1 scores MSE 0.167; solving it means MSE near 0. Same budget for every model.

# %%
def train(kind, T, steps, seed=0):
    tg.manual_seed(seed)
    layer = {"LSTM 1997 (no forget gate)": lambda: nn.LSTM(2, 32, forget_gate=False),
             "LSTM": lambda: nn.LSTM(2, 32), "GRU": lambda: nn.GRU(2, 32)}[kind]()
    head = nn.Linear(32, 1)
    opt = optim.Adam([*layer.parameters(), *head.parameters()], lr=1e-2, max_grad_norm=1.0)
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        x, y = data.adding_problem(32, T, rng=rng)
        out, _ = layer(tg.Tensor(x))
        loss = F.mse_loss(head(out[-1]), tg.Tensor(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
    x, y = data.adding_problem(500, T, rng=np.random.default_rng(99))
    with tg.no_grad():
        out, _ = layer(tg.Tensor(x))
        return F.mse_loss(head(out[-1]), tg.Tensor(y)).item()


kinds = ["LSTM 1997 (no forget gate)", "LSTM", "GRU"]
lengths = pick([10, 30, 60], [5])
steps = pick(600, 10)
results = {(k, T): train(k, T, steps) for k in kinds for T in lengths}
print(f"held-out MSE after {steps} steps (0.167 = always answering 1)")
print("model".ljust(28) + "".join(f"T={T:<8}" for T in lengths))
for k in kinds:
    print(k.ljust(28) + "".join(f"{results[(k, T)]:<10.4f}" for T in lengths))
fig, ax = plt().subplots(figsize=(6, 4))
width = 0.25
for n, k in enumerate(kinds):
    ax.bar(np.arange(len(lengths)) + n * width, [results[(k, T)] for T in lengths], width, label=k)
ax.axhline(1 / 6, color="grey", ls="--", label="always answer 1")
ax.set_xticks(np.arange(len(lengths)) + width, [f"T={T}" for T in lengths])
ax.set_ylabel("held-out MSE")
ax.legend()
savefig(fig, "06_adding_problem.png")

# %% [markdown]
# ## The LSTM backward, derived by hand
#
# Going back from the last step, with dh_t the gradient arriving at h_t (from the loss at step t
# and from step t+1) and dc_t the one arriving at c_t from step t+1:
#
#     dc  = dh ⊙ o ⊙ (1 - tanh²(c_t)) + dc_next
#     dz_o = dh ⊙ tanh(c_t) ⊙ o(1-o)     dz_i = dc ⊙ g ⊙ i(1-i)
#     dz_g = dc ⊙ i ⊙ (1 - g²)           dz_f = dc ⊙ c_{t-1} ⊙ f(1-f)
#
# Then the error flows *through time* and *to the layer below*, and the weight gradients
# are summed over t:
#
#     dh_{t-1} += dz W_hh       dc_{t-1} = dc ⊙ f       dx_t = dz W_ih
#     dW_ih += dzᵀ x_t          dW_hh += dzᵀ h_{t-1}     db_ih = db_hh += Σ_batch dz
#
# Checked below against autograd through `nn.LSTM` on every parameter and input.

# %%
T, B, I, H = 5, 3, 2, 4
rng = np.random.default_rng(1)
tg.manual_seed(1)
lstm = nn.LSTM(I, H).double()
xs, h0, c0 = rng.standard_normal((T, B, I)), rng.standard_normal((B, H)), rng.standard_normal((B, H))
w = rng.standard_normal((T, B, H))  # L = Σ_t Σ w_t ⊙ h_t
Wih, Whh = lstm.weight_ih_l0.data, lstm.weight_hh_l0.data
b = lstm.bias_ih_l0.data + lstm.bias_hh_l0.data
sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731

hs, cs, gates = [h0], [c0], []
for t in range(T):
    z = xs[t] @ Wih.T + hs[-1] @ Whh.T + b
    i, f, g, o = sig(z[:, :H]), sig(z[:, H:2 * H]), np.tanh(z[:, 2 * H:3 * H]), sig(z[:, 3 * H:])
    cs.append(f * cs[-1] + i * g)
    hs.append(o * np.tanh(cs[-1]))
    gates.append((i, f, g, o))

dWih, dWhh, db = np.zeros_like(Wih), np.zeros_like(Whh), np.zeros_like(b)
dxs = np.zeros_like(xs)
dh_next, dc_next = np.zeros((B, H)), np.zeros((B, H))
for t in reversed(range(T)):
    i, f, g, o = gates[t]
    dh = w[t] + dh_next
    tc = np.tanh(cs[t + 1])
    dc = dh * o * (1 - tc ** 2) + dc_next
    dz = np.concatenate([dc * g * i * (1 - i), dc * cs[t] * f * (1 - f),
                         dc * i * (1 - g ** 2), dh * tc * o * (1 - o)], axis=1)
    dWih += dz.T @ xs[t]
    dWhh += dz.T @ hs[t]
    db += dz.sum(0)
    dxs[t] = dz @ Wih
    dh_next, dc_next = dz @ Whh, dc * f

X, H0, C0 = (tg.Tensor(a, requires_grad=True) for a in (xs, h0[None], c0[None]))
out, _ = lstm(X, (H0, C0))
(out * tg.Tensor(w)).sum().backward()
checks = {"weight_ih": (dWih, lstm.weight_ih_l0.grad), "weight_hh": (dWhh, lstm.weight_hh_l0.grad),
          "bias_ih": (db, lstm.bias_ih_l0.grad), "bias_hh": (db, lstm.bias_hh_l0.grad),
          "input x": (dxs, X.grad), "h_0": (dh_next, H0.grad[0]), "c_0": (dc_next, C0.grad[0])}
for name, (mine, theirs) in checks.items():
    err = np.abs(mine - theirs).max()
    print(f"{name:>10}: hand vs autograd max difference {err:.1e}")
    assert err < 1e-12
