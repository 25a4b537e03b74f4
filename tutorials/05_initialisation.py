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
import warnings

import numpy as np

import tinygrad_rnn as tg
from tinygrad_rnn import diagnostics, nn, optim
from common import SEED, check_exercise, pick, plt, savefig

SEEDS = range(SEED, SEED + 4)
a = tg.Tensor(np.linspace(-4, 4, 161), requires_grad=True)
fig, axes = plt().subplots(1, 2, figsize=(9, 3.5))
derivs = {}
for name in ("sigmoid", "tanh", "relu"):
    a.grad = None
    y = getattr(a, name)()
    y.sum().backward()  # d(Σ f(a_i))/da_i = f'(a_i): the derivative, by autograd
    derivs[name] = a.grad.numpy().copy()
    axes[0].plot(a.numpy(), y.numpy(), label=name)
    axes[1].plot(a.numpy(), a.grad, label=f"{name}'")
axes[0].set(title="activations f(a)", xlabel="a", ylabel="f(a)")
axes[1].set(title="derivatives f'(a), from backward()", xlabel="a", ylabel="f'(a)")
for ax in axes:
    ax.legend()
savefig(fig, "05_activations.png")
assert np.isclose(derivs["sigmoid"].max(), 0.25) and np.isclose(derivs["tanh"].max(), 1.0)
assert set(np.unique(derivs["relu"])) == {0.0, 1.0}

# %% [markdown]
# **What you should see:** the sigmoid's derivative peaks at 1/4 at a = 0, tanh's at 1, and
# ReLU's is a step: 0 for a < 0, 1 for a > 0. Far from 0, sigmoid and tanh pass back almost
# nothing (they saturate); ReLU passes everything — or, for a negative input, nothing at all.
#
# ## Why orthogonal: the singular values of Wⁿ
#
# A recurrent step multiplies the backward signal by Wᵀ (times f'), so n steps apply (Wᵀ)ⁿ.
# How a matrix scales vectors is told by its **singular values**: ‖Wⁿ v‖ lies between the
# smallest and the largest singular value of Wⁿ times ‖v‖, depending on v's direction.
#
# - Orthogonal Q: QᵀQ = I, so Qⁿ is orthogonal too and **every** singular value of Qⁿ is 1: no
#   direction grows, none shrinks, for any n.
# - Gaussian W with entries N(0, 1/H): its eigenvalues fill the unit disc, a few of modulus
#   near 1 and most well inside. Wⁿ keeps the few and kills the rest: the largest singular value
#   stays ≳ 1 and usually grows (the largest |λ| is often a little above 1, and a non-normal W
#   can stretch more than its eigenvalues say), the median one falls geometrically. One
#   vector's ‖Wⁿv‖ follows the largest, so it says nothing about the *spread*: Wⁿ explodes in a
#   few directions and vanishes in most. That spread is what we plot, for several seeds.

# %%
H, n_max = 64, pick(50, 20)
ns = np.arange(1, n_max + 1)
gauss_sv, gauss_W = {}, {}  # seed -> (n_max, H) singular values of Wⁿ, n = 1..n_max; seed -> W
for seed in SEEDS:
    W = gauss_W[seed] = np.random.default_rng(seed).standard_normal((H, H)) / np.sqrt(H)
    Wn, svs = np.eye(H), []
    for n in ns:
        Wn = Wn @ W
        svs.append(np.linalg.svd(Wn, compute_uv=False))
    gauss_sv[seed] = np.array(svs)
Q = nn.init.orthogonal_(nn.Parameter(np.zeros((H, H)))).numpy()
Qn, ortho_sv = np.eye(H), []
for n in ns:
    Qn = Qn @ Q
    ortho_sv.append(np.linalg.svd(Qn, compute_uv=False))
ortho_sv = np.array(ortho_sv)

fig, axes = plt().subplots(1, 2, figsize=(11, 4))
ax = axes[0]
for seed, sv in gauss_sv.items():
    kw = dict(color="C0", alpha=0.8, label="N(0, 1/H): largest σ" if seed == SEED else None)
    ax.semilogy(ns, sv[:, 0], **kw)
    kw = dict(color="C1", alpha=0.8, label="N(0, 1/H): median σ" if seed == SEED else None)
    ax.semilogy(ns, np.median(sv, axis=1), **kw)
ax.semilogy(ns, ortho_sv.max(1), "k-", lw=2, label="orthogonal: every σ (all = 1)")
ax.set(title=f"singular values of Wⁿ, H = {H}, {len(SEEDS)} seeds", xlabel="n (steps)",
       ylabel="singular value of Wⁿ")
ax.legend(fontsize=8)

v = np.random.default_rng(SEED + 99).standard_normal(H)
tiny = np.random.default_rng(SEED + 50).standard_normal((H, H)) * 0.01
ax = axes[1]
for name, W, style in (("orthogonal", Q, "k-"),
                       (f"N(0, 1/H), seed {SEED}", gauss_W[SEED], "C0-"),
                       ("0.01·randn", tiny, "C3--")):
    x, norms = v.copy(), []
    for n in ns:
        x = W @ x
        norms.append(np.linalg.norm(x) / np.linalg.norm(v))
    ax.semilogy(ns, norms, style, label=name)
ax.set(title="one vector: ‖Wⁿ v‖ / ‖v‖", xlabel="n (steps)", ylabel="‖Wⁿ v‖ / ‖v‖")
ax.legend(fontsize=8)
savefig(fig, "05_matrix_powers.png")

assert np.allclose(ortho_sv, 1.0, atol=1e-9), "every singular value of Qⁿ is 1"
checkpoints = [0, n_max // 2 - 1, n_max - 1]  # n = 1, n_max/2, n_max
for seed, sv in gauss_sv.items():
    spread = sv[:, 0] / np.median(sv, axis=1)  # largest / median singular value
    print(f"N(0, 1/H), seed {seed}: σ_max / σ_median of Wⁿ at n = 1, {n_max // 2}, {n_max}: "
          + ", ".join(f"{spread[k]:.1e}" for k in checkpoints)
          + f"   (σ_max {sv[-1, 0]:.1e}, median {np.median(sv[-1]):.1e} at n = {n_max})")
    assert spread[checkpoints[0]] < spread[checkpoints[1]] < spread[checkpoints[2]], \
        "the Gaussian's spread grows with n"
    assert sv[-1, 0] > 1, "explodes in a few directions…"
    assert np.median(sv[-1]) < 0.8 ** n_max, "…and vanishes geometrically in most"

# %% [markdown]
# **What you should see:** left, the orthogonal matrix is a flat line at 1. For every seed the
# Gaussian's largest singular value *grows* (to between ~5 and a few hundred at n = 50) while
# its median falls geometrically (to 1e-9 … 1e-6): a ratio of 10⁸ or more between directions,
# and it widens with every step. Right, one vector
# through the first seed's matrix follows the largest singular value and looks harmless; the
# 0.01·randn matrix (eigenvalues of modulus up to about 0.01·√64 = 0.08) shrinks a vector about
# tenfold per step, to ~1e-55 at n = 50 — it gets this panel so as not to flatten the left one.
#
# ## Measured: the gradient flow of an RNN at initialisation
#
# One RNN, five recipes for the recurrent matrix, the gradient of a loss on the last step
# measured at every step: the ratio ‖∂L/∂h_1‖ / ‖∂L/∂h_T‖ says how much of the loss reaches the
# start of the sequence. Each recipe is drawn with four seeds, because the Gaussian ones depend
# on which few directions their draw keeps.
#
# - `0.01·randn`: tiny weights — the signal dies immediately;
# - `randn·sqrt(1/n)`: variance 1/n, singular values of Wⁿ spread as above;
# - Xavier (Glorot): variance 2/(n_in + n_out) — for a square W exactly 1/n, the same
#   distribution as the recipe above (drawn here with other seeds: eight Gaussian draws in all);
# - orthogonal: every singular value 1;
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
x = tg.Tensor(np.abs(np.random.default_rng(SEED + 1).standard_normal((T, 8, 1))) * 0.5)
fig, axes = plt().subplots(1, 2, figsize=(11, 4), gridspec_kw=dict(width_ratios=[3, 2]))
ratios = {name: [] for name in recipes}
for k, (name, (act, init_fn)) in enumerate(recipes.items()):
    ax = axes[1] if name == "0.01·randn" else axes[0]  # its 1e-55 would flatten the others
    for seed in SEEDS:
        tg.manual_seed(seed + 10 * k)  # recipes draw different matrices
        rnn = nn.RNN(1, H, nonlinearity=act).double()
        init_fn(rnn.weight_hh_l0)
        nn.init.zeros_(rnn.bias_hh_l0)
        nn.init.zeros_(rnn.bias_ih_l0)
        out, _ = rnn(x)
        states = diagnostics.hidden_states(out)
        out[-1].sum().backward()
        norms = diagnostics.grad_norms(states)
        assert np.isfinite(norms).all() and (norms > 0).all()
        ratios[name].append(norms[0] / norms[-1])
        ax.semilogy(range(1, T + 1), norms / norms[-1], color=f"C{k}", alpha=0.7,
                    label=name if seed == SEED else None)
    print(f"{name:>16}: ‖∂L/∂h_1‖ / ‖∂L/∂h_T‖ over {len(SEEDS)} seeds: "
          f"{min(ratios[name]):.1e} … {max(ratios[name]):.1e}")
axes[0].set(title=f"RNN at initialisation: gradient reaching each step ({len(SEEDS)} seeds)")
axes[1].set(title="0.01·randn (note the axis)")
for ax in axes:
    ax.set(xlabel="time step t", ylabel="‖∂L/∂h_t‖ / ‖∂L/∂h_T‖")
    ax.legend(fontsize=8)
savefig(fig, "05_init_gradient_flow.png")
assert min(ratios["orthogonal"]) > 1000 * max(ratios["0.01·randn"])
assert min(ratios["identity+relu"]) > 0.1
gauss = ratios["randn·sqrt(1/n)"] + ratios["xavier"]
orth = ratios["orthogonal"]
print(f"spread over seeds (max/min): Gaussian {max(gauss) / min(gauss):.1f}×, "
      f"orthogonal {max(orth) / min(orth):.1f}×")
assert max(gauss) / min(gauss) > max(orth) / min(orth), "Gaussian recipes depend more on the seed"

# %% [markdown]
# **What you should see:** right, the 0.01·randn curves fall by ~10⁻¹ per step (to ~1e-55 at
# T = 50); left, the identity+ReLU curves stay flat (about 0.7 of the last step's gradient)
# and the orthogonal ones fall slowly and alike (tanh's f' < 1 is the only loss). The eight
# Gaussian curves scatter: some grow towards t = 1 (the gradient at t = 1 several times the one
# at T), others shrink — a single seed can make the Gaussian look better or worse than
# orthogonal. The singular values above are the reliable difference: orthogonal W treats every
# direction alike.
#
# ## Zero (or any constant) initialisation: the units never become different
#
# If every hidden unit starts with the same weights, every unit computes the same value, gets
# the same gradient and takes the same step — forever. Training then fits the data with one
# unit copied H times. Random initialisation is what *breaks the symmetry*. Below, one RNN is
# trained from all-constant weights (0.1) and one from the default random ones.

# %%
def train_tiny_rnn(init, steps, seed=SEED):
    """A tanh RNN (H = 8) + linear head regressing the sum of a sequence; returns the model,
    the hidden states on the training batch after training, and the losses."""
    tg.manual_seed(seed)
    rnn, head = nn.RNN(1, 8).double(), nn.Linear(8, 1).double()
    params = list(rnn.parameters()) + list(head.parameters())
    if init in ("constant", "zeros"):
        for p in params:
            nn.init.constant_(p, 0.1 if init == "constant" else 0.0)
    xs = np.random.default_rng(seed).standard_normal((10, 32, 1)) * 0.5
    xb, yb = tg.Tensor(xs), tg.Tensor(xs.sum(0))
    opt, losses = optim.SGD(params, lr=0.05), []
    for _ in range(steps):
        opt.zero_grad()
        out, _ = rnn(xb)
        loss = ((head(out[-1]) - yb) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    with tg.no_grad():
        out, _ = rnn(xb)
    return rnn, head, out.numpy(), losses


steps = pick(300, 60)
fig, axes = plt().subplots(1, 2, figsize=(10, 3.8))
for ax, init in zip(axes, ("constant", "random")):
    rnn, head, hidden, losses = train_tiny_rnn(init, steps)
    ax.plot(range(1, 11), hidden[:, 0, :], marker=".")
    ax.set(title=f"{init} init: the 8 hidden units after {steps} steps",
           xlabel="time step t", ylabel="h_t (sequence 0)")
    print(f"{init:>8} init: loss {losses[0]:.3f} → {losses[-1]:.3f}")
    W_hh, W_ih = rnn.weight_hh_l0.numpy(), rnn.weight_ih_l0.numpy()
    identical = (np.allclose(hidden, hidden[..., :1]) and np.allclose(W_hh, W_hh[0])
                 and np.allclose(W_ih, W_ih[0])
                 and np.allclose(head.weight.numpy(), head.weight.numpy()[0, 0]))
    if init == "constant":
        assert losses[-1] < losses[0], "it does learn…"
        assert identical, "…but every hidden unit stays a copy of the first"
    else:
        assert not identical and np.std(hidden[-1, 0]) > 1e-3
savefig(fig, "05_symmetry.png")

rnn, head, hidden, losses = train_tiny_rnn("zeros", steps)
print(f"   zeros init: loss {losses[0]:.3f} → {losses[-1]:.3f}, output bias {head.bias.numpy()}")
assert all((p.numpy() == 0).all() for p in [*rnn.parameters(), head.weight]) and (hidden == 0).all()
assert head.bias.numpy()[0] != 0, "only the output bias learns"

# %% [markdown]
# **What you should see:** on the left a single line — the 8 units lie exactly on top of each
# other, and every row of W_hh, W_ih and the head's weights is still identical after training,
# although the loss went down. On the right, 8 different curves. All-zero weights are the
# extreme case: h stays 0, so the head's weight gets the gradient δ hᵀ = 0, and, being 0, it
# passes nothing back to h — after training every weight is still exactly 0 and only the
# output bias has moved (printed above).
#
# ## Dead ReLU units
#
# A ReLU unit whose pre-activation is negative for *every* input outputs 0 and has gradient 0:
# nothing ever moves it again. Too large a learning-rate step can push many units there. We
# train a one-hidden-layer ReLU net (64 units) with SGD at a small and a large learning rate
# and count, over the whole data set, the units that never activate.

# %%
def dead_fraction_after_training(lr, seed, steps=100):
    tg.manual_seed(seed)
    rng = np.random.default_rng(seed)
    X = tg.Tensor(rng.standard_normal((256, 4)))
    Y = tg.Tensor(np.sin(X.numpy().sum(1, keepdims=True)))
    l1, l2 = nn.Linear(4, 64).double(), nn.Linear(64, 1).double()
    dead_at_init = (l1(X).numpy() <= 0).all(0).mean()
    opt = optim.SGD(list(l1.parameters()) + list(l2.parameters()), lr=lr)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for _ in range(steps):
            opt.zero_grad()
            loss = ((l2(l1(X).relu()) - Y) ** 2).mean()
            loss.backward()
            opt.step()
    pre = l1(X).numpy()
    if not np.isfinite(pre).all():
        return dead_at_init, np.nan, None  # diverged: no honest count
    return dead_at_init, (pre <= 0).all(0).mean(), (pre > 0).mean(0)


lrs = (0.05, 0.3)
fig, axes = plt().subplots(1, 2, figsize=(10, 3.8))
dead = {lr: [] for lr in lrs}
for lr, color in zip(lrs, ("C0", "C3")):
    for seed in SEEDS:
        at_init, frac, active = dead_fraction_after_training(lr, seed)
        assert at_init == 0, "no unit is dead at initialisation"
        dead[lr].append(frac)
        if active is not None:
            axes[0].plot(np.sort(active), color=color, alpha=0.7,
                         label=f"lr = {lr}" if seed == SEED else None)
    print(f"lr = {lr}: fraction of dead units per seed", [f"{f:.2f}" for f in dead[lr]])
axes[0].set(title="after training: how often each unit fires", xlabel="unit (sorted)",
            ylabel="fraction of inputs with a > 0")
axes[0].legend()
for k, lr in enumerate(lrs):
    fr = np.array(dead[lr])
    axes[1].plot(np.full(len(fr), k), np.nan_to_num(fr), "o", color="C0", alpha=0.7)
    if np.isnan(fr).any():  # a diverged run: marked, not given a made-up value
        axes[1].plot(np.full(np.isnan(fr).sum(), k), np.zeros(np.isnan(fr).sum()), "x",
                     color="m", ms=10, label="diverged (NaN)")
axes[1].set(title=f"dead units after training ({len(SEEDS)} seeds)", xticks=range(len(lrs)),
            xticklabels=[f"lr = {lr}" for lr in lrs], xlabel="SGD learning rate",
            ylabel="fraction of units never active",
            ylim=(-0.05, 1.05), xlim=(-0.5, len(lrs) - 0.5))
savefig(fig, "05_dead_relu.png")
assert all(f <= 0.05 for f in dead[lrs[0]]), "a small step kills (almost) no unit"
assert all(f >= 0.2 for f in dead[lrs[1]]), "a large step kills many (and never diverged here)"

# %% [markdown]
# **What you should see:** no unit is dead at initialisation. With lr = 0.05 every unit fires
# on some inputs (left: the blue curves start above 0). With lr = 0.3 roughly a third to over
# half of the units never fire again — the red curves start with a flat run at 0: those units'
# parameters are wasted, since no gradient reaches them any more. (Fixes: a smaller step,
# clipping, leaky ReLU, or a small positive bias at initialisation.)
#
# ## Exercises
#
# 1. Q is orthogonal. What is the largest singular value of Q¹⁰⁰? (No computing: reason.)
# 2. For the `0.01·randn` matrix (64 × 64), predict log₁₀(‖W¹⁰v‖ / ‖v‖): how many orders of
#    magnitude does one vector lose in 10 steps? (A negative number, e.g. -3.)
# 3. In the constant-initialisation experiment, how many *different* hidden units does the
#    trained network effectively have?

# %%
answer_1 = None
answer_2 = None
answer_3 = None

Q100 = np.linalg.matrix_power(Q, 100)
check_exercise(1, answer_1, np.linalg.svd(Q100, compute_uv=False).max(),
               "Qᵀ Q = I for every power of an orthogonal Q")
drop = np.log10(np.linalg.norm(np.linalg.matrix_power(tiny, 10) @ v) / np.linalg.norm(v))
check_exercise(2, answer_2, drop, "its eigenvalues have modulus up to 0.01·√64; raise that to "
               "the 10th power", rtol=0.15)
rnn, _, hidden, _ = train_tiny_rnn("constant", 10)
check_exercise(3, answer_3, len(np.unique(hidden[-1, 0].round(12))),
               "identical units count once")
