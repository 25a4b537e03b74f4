# %% [markdown]
# # 5. Initialisation and activations
#
# ## The activations and their derivatives
#
#     σ(a) = 1/(1+e^{-a}),  σ' = σ(1-σ) ≤ 1/4
#     tanh(a),              tanh' = 1 - tanh² ≤ 1
#     relu(a) = max(a, 0),  relu' ∈ {0, 1}
#
# Every recurrent step multiplies the backward signal by f'·W, so f' ≤ 1/4 (sigmoid) shrinks it
# fast, tanh less, ReLU not at all — which is why ReLU nets need a careful W.

# %%
import numpy as np

import tinygrad_rnn as tg
from tinygrad_rnn import diagnostics, nn
from common import pick, plt, savefig

a = tg.Tensor(np.linspace(-4, 4, 161), requires_grad=True)
fig, axes = plt().subplots(1, 2, figsize=(9, 3.5))
for name in ("sigmoid", "tanh", "relu"):
    a.grad = None
    y = getattr(a, name)()
    y.sum().backward()  # d(Σ f(a_i))/da_i = f'(a_i): the derivative, by autograd
    axes[0].plot(a.data, y.data, label=name)
    axes[1].plot(a.data, a.grad, label=f"{name}'")
axes[0].set_title("f(a)")
axes[1].set_title("f'(a), from backward()")
for ax in axes:
    ax.legend()
savefig(fig, "05_activations.png")
sig = a.sigmoid().data
assert np.isclose(sig * (1 - sig), 0.25).any() and (sig * (1 - sig) <= 0.25).all()

# %% [markdown]
# ## Why orthogonal: Wⁿ through the eigendecomposition
#
# Diagonalise W = Q Λ Q⁻¹. Then Wⁿ = Q Λⁿ Q⁻¹: each eigen-direction is scaled by λⁿ, which
# vanishes if |λ| < 1 and explodes if |λ| > 1. An orthogonal matrix has every |λ| = 1, so Wⁿ
# keeps norms for every n. A Gaussian matrix N(0, 1/n) has a spread of |λ| (up to about 1), so
# its powers shrink in most directions.

# %%
H, n_max = 64, pick(60, 20)
rng = np.random.default_rng(0)
mats = {"orthogonal": nn.init.orthogonal_(nn.Parameter(np.zeros((H, H)))).data,
        "N(0, 1/H)": rng.standard_normal((H, H)) / np.sqrt(H),
        "0.01·randn": rng.standard_normal((H, H)) * 0.01}
v = rng.standard_normal(H)
fig, ax = plt().subplots(figsize=(6, 4))
for name, W in mats.items():
    lam, Q = np.linalg.eig(W)
    print(f"{name:>11}: |λ| from {np.abs(lam).min():.3f} to {np.abs(lam).max():.3f}")
    norms = []
    for n in range(1, n_max + 1):
        Wn = (Q * lam ** n) @ np.linalg.inv(Q)  # Q Λⁿ Q⁻¹
        norms.append(np.linalg.norm(Wn.real @ v) / np.linalg.norm(v))
    assert np.allclose(Wn.real, np.linalg.matrix_power(W, n_max), atol=1e-8)
    ax.semilogy(range(1, n_max + 1), norms, label=name)
ax.set_xlabel("n")
ax.set_ylabel("‖Wⁿ v‖ / ‖v‖")
ax.legend()
savefig(fig, "05_matrix_powers.png")

# %% [markdown]
# ## Measured: the gradient flow of an RNN at initialisation
#
# One RNN, five recipes for the recurrent matrix, the gradient of a loss on the last step
# measured at every step: the ratio ‖∂L/∂h_1‖ / ‖∂L/∂h_T‖ says how much of the loss reaches the
# start of the sequence.
#
# - `0.01·randn`: tiny weights — the signal dies immediately;
# - `randn·sqrt(1/n)`: variance 1/n, |λ| spread up to ~1;
# - Xavier (Glorot): variance 2/(n_in + n_out) — for a square W exactly 1/n, so it draws the
#   same matrix as the recipe above here;
# - orthogonal: all |λ| = 1;
# - identity + ReLU (IRNN, Le et al. 2015): W = I, and ReLU passes gradients through unchanged
#   while the units are active.

# %%
T = pick(50, 15)
recipes = {
    "0.01·randn": ("tanh", lambda w: nn.init.normal_(w, 0, 0.01)),
    "randn·sqrt(1/n)": ("tanh", lambda w: nn.init.normal_(w, 0, np.sqrt(1 / H))),
    "xavier": ("tanh", lambda w: nn.init.xavier_normal_(w)),
    "orthogonal": ("tanh", lambda w: nn.init.orthogonal_(w)),
    "identity+relu": ("relu", lambda w: nn.init.eye_(w)),
}
x = tg.Tensor(np.abs(np.random.default_rng(1).standard_normal((T, 8, 1))) * 0.5)
fig, ax = plt().subplots(figsize=(6, 4))
ratios = {}
for name, (act, init_fn) in recipes.items():
    tg.manual_seed(0)
    rnn = nn.RNN(1, H, nonlinearity=act).double()
    init_fn(rnn.weight_hh_l0)
    nn.init.zeros_(rnn.bias_hh_l0)
    nn.init.zeros_(rnn.bias_ih_l0)
    out, _ = rnn(x)
    states = diagnostics.hidden_states(out)
    out[-1].sum().backward()
    norms = diagnostics.grad_norms(states)
    ratios[name] = norms[0] / norms[-1]
    ax.semilogy(range(1, T + 1), np.maximum(norms, 1e-300), label=name)
    print(f"{name:>16}: ‖∂L/∂h_1‖ / ‖∂L/∂h_T‖ = {ratios[name]:.2e}")
ax.set_xlabel("time step")
ax.set_ylabel("‖∂L/∂h_t‖")
ax.legend()
savefig(fig, "05_init_gradient_flow.png")
assert ratios["orthogonal"] > 1000 * ratios["0.01·randn"]
assert ratios["identity+relu"] > 0.1
