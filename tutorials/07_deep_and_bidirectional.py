# %% [markdown]
# # 7. Deep and bidirectional RNNs
#
# ## Stacking layers, and what it does to the gradient
#
# A deep RNN feeds each layer's output sequence to the next. The gradient reaching the first
# layer now crosses every layer above it, one more product of Jacobians per layer. Two classic
# helps, measured below at initialisation:
#
# - a **residual** (skip) connection: y = x + RNN(x), so ∂y/∂x = I + … always has an identity path;
# - **normalisation** between layers (LayerNorm), which keeps each layer's input at unit scale.
#
# We measure ‖∂L/∂x‖ at the input and ‖∂L/∂W_ih‖ of the first layer for 1, 2, 4 and 8 layers.

# %%
import numpy as np

import tinygrad_rnn as tg
from tinygrad_rnn import data, nn, optim
from tinygrad_rnn.nn import functional as F
from common import FAST, SEED, check_exercise, pick, plt, savefig

H, T = 32, pick(30, 8)


class DeepRNN(nn.Module):
    def __init__(self, depth, residual=False, norm=False):
        super().__init__()
        self.inp = nn.Linear(4, H)
        self.layers = nn.Sequential(*[nn.RNN(H, H) for _ in range(depth)])
        self.norms = nn.Sequential(*[nn.LayerNorm(H) for _ in range(depth)]) if norm else None
        self.residual = residual

    def forward(self, x):
        h = self.inp(x)
        for k, layer in enumerate(self.layers):
            y, _ = layer(h)
            h = h + y if self.residual else y
            if self.norms is not None:
                h = self.norms[k](h)
        return h


def first_layer_gradients(depth, residual, norm, seed=SEED):
    tg.manual_seed(seed)
    model = DeepRNN(depth, residual, norm).double()
    rng = np.random.default_rng(seed)
    x = tg.Tensor(rng.standard_normal((T, 8, 4)), requires_grad=True)
    # a random projection of the last step (a plain sum would vanish through LayerNorm,
    # whose outputs always sum to zero)
    (model(x)[-1] * tg.Tensor(rng.standard_normal((8, H)))).sum().backward()
    return np.linalg.norm(x.grad), np.linalg.norm(model.layers[0].weight_ih_l0.grad)


depths = [1, 2, 4, 8]
variants = {"plain": (False, False), "residual": (True, False), "residual + LayerNorm": (True, True)}
fig, ax = plt().subplots(figsize=(6, 4))
table = {}
for name, (res, norm) in variants.items():
    table[name] = [first_layer_gradients(d, res, norm) for d in depths]
    ax.semilogy(depths, [g[1] for g in table[name]], "o-", label=name)
ax.set_xlabel("layers")
ax.set_ylabel("‖∂L/∂W_ih‖ of layer 1")
ax.set_title("Gradient reaching the first layer, at initialisation")
ax.legend()
savefig(fig, "07_depth.png")
print("‖∂L/∂x‖ at the input:")
for name, rows in table.items():
    print(f"  {name:<22}" + "  ".join(f"{d} layers: {g[0]:.2e}" for d, g in zip(depths, rows)))
assert table["residual"][-1][0] > table["plain"][-1][0]

# %% [markdown]
# ### What you should see
#
# The *plain* stack's curve falls as layers are added: each layer multiplies the gradient by
# its Jacobian, and tanh layers at this initialisation shrink it. With *residual* connections
# the identity path carries the gradient past every layer, so the curves stay roughly level; the
# printed ‖∂L/∂x‖ at 8 layers is larger with residuals than without (asserted above).

# %% [markdown]
# ## Bidirectional: when the answer lies in the future
#
# The fill-in-the-blank task: one position holds a mask token and the answer is the symbol
# right *after* it. A left-to-right RNN reads the mask before the answer, so at that position
# it can only guess (accuracy 1/8). A bidirectional RNN runs a second RNN right to left and
# concatenates both states: at the mask, the backward direction has already read the answer.

# %%
def fill_in(bidirectional, steps, seed=SEED, T=10, V=8):
    tg.manual_seed(seed)
    emb, rnn = nn.Embedding(V + 2, 16), nn.GRU(16, 32, bidirectional=bidirectional)
    head = nn.Linear(64 if bidirectional else 32, V + 1)
    params = [*emb.parameters(), *rnn.parameters(), *head.parameters()]
    opt = optim.Adam(params, lr=1e-2, max_grad_norm=1.0)
    rng = np.random.default_rng(seed)

    def logits_at_mask(tokens, pos):
        out, _ = rnn(emb(tokens))
        return head(out[pos, np.arange(len(pos))])

    for _ in range(steps):
        tokens, target, pos = data.fill_in_blank_task(32, T, n_symbols=V, rng=rng)
        loss = F.cross_entropy(logits_at_mask(tokens, pos), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    tokens, target, pos = data.fill_in_blank_task(500, T, n_symbols=V,
                                                  rng=np.random.default_rng(SEED + 9))
    with tg.no_grad():
        pred = logits_at_mask(tokens, pos).numpy().argmax(1)
    return float((pred == target).mean())


steps = pick(400, 15)
one_way, both_ways = fill_in(False, steps), fill_in(True, steps)
print(f"accuracy at the blank after {steps} steps (chance 0.125):")
print(f"  one-way GRU:       {one_way:.3f}")
print(f"  bidirectional GRU: {both_ways:.3f}")
if steps >= 200:
    assert both_ways > 0.9 and one_way < 0.3

# %% [markdown]
# ### What you should see
#
# After the full run the bidirectional GRU answers almost every blank (above 0.9, asserted),
# while the one-way GRU stays near chance, 1/8 = 0.125 (below 0.3, asserted): no amount of
# training lets it see a symbol it has not read yet. (Fast mode trains too briefly to show it.)

# %% [markdown]
# ## BatchNorm or LayerNorm inside a recurrence?
#
# Both subtract a mean and divide by a standard deviation; they differ in *what they average
# over*. For an activation a of shape (B, H) at one time step:
#
# - **BatchNorm** (Ioffe & Szegedy 2015) normalises each unit over the **batch**: B examples
#   share one mean and variance per unit. In eval mode it uses running averages gathered during
#   training instead.
# - **LayerNorm** (Ba, Kiros & Hinton 2016) normalises each example over its **H units**: one
#   mean and variance per example and step, the same in training and evaluation.
#
# In a feed-forward net each BatchNorm layer sees one kind of input, and large batches make its
# statistics good estimates. In an RNN the *same* layer runs at every time step, and the
# statistics differ from step to step (the state starts at zero and grows); one set of running
# averages for all steps fits none of them well. Batches are small (long sequences fill memory)
# and generation runs with B = 1. Cooijmans et al. (2016) made BatchNorm work in LSTMs only by
# keeping *separate* statistics per time step; LayerNorm needs nothing of the kind.
#
# Below: a tanh RNN (orthogonal W_hh) whose pre-activation is normalised at every step,
# h_t = tanh(norm(x_t W_ihᵀ + b + h_{t-1} W_hhᵀ)), with `nn.BatchNorm1d(H)` or `nn.LayerNorm(H)`
# as the norm (one module shared by all steps, as one would first write it).

# %%
class NormRNN(nn.Module):
    def __init__(self, norm, input_size=4, hidden_size=32):
        super().__init__()
        self.ih = nn.Linear(input_size, hidden_size)
        self.hh = nn.Linear(hidden_size, hidden_size, bias=False)
        self.norm = norm
        nn.init.orthogonal_(self.hh.weight)   # a common RNN initialisation (tutorial 5)

    def forward(self, x, record=None):
        """x (T, B, I) → the last state (B, H); ``record`` collects each step's pre-activation."""
        h = tg.zeros(x.shape[1], self.hh.in_features, dtype=x.dtype)
        for t in range(x.shape[0]):
            a = self.ih(x[t]) + self.hh(h)
            if record is not None:
                record.append(a.numpy())
            h = self.norm(a).tanh()
        return h


T_norm, I_norm = 20, 4
rng = np.random.default_rng(SEED)
tg.manual_seed(SEED)
bn_rnn = NormRNN(nn.BatchNorm1d(32)).double()
tg.manual_seed(SEED)
ln_rnn = NormRNN(nn.LayerNorm(32)).double()

# 1. Statistics per time step. Warm BatchNorm's running averages up on 50 training batches.
with tg.no_grad():
    for _ in range(pick(50, 10)):
        bn_rnn(tg.Tensor(rng.standard_normal((T_norm, 64, I_norm))))
    steps_seen = []   # a large batch, so that the measured spread is not sampling noise
    bn_rnn(tg.Tensor(rng.standard_normal((T_norm, 256, I_norm))), record=steps_seen)
batch_std = np.array([a.std(0).mean() for a in steps_seen])   # per step, averaged over units
running_std = np.sqrt(bn_rnn.norm.running_var).mean()
print("per-step batch std of the pre-activation:", batch_std.round(3))
print(f"the one running std eval mode divides by:  {running_std:.3f}")

# 2. Does example 0's result depend on the rest of the batch? (training mode)
def batch_dependence(model, B, repeats):
    change = []
    with tg.no_grad():
        for _ in range(repeats):
            x = rng.standard_normal((T_norm, B, I_norm))
            other = x.copy()
            other[:, 1:] = rng.standard_normal((T_norm, B - 1, I_norm))  # same example 0
            h1, h2 = model(tg.Tensor(x)).numpy()[0], model(tg.Tensor(other)).numpy()[0]
            change.append(np.abs(h1 - h2).mean())
    return float(np.mean(change))


sizes = pick([2, 4, 8, 16, 32, 64, 128], [2, 8, 32])
repeats = pick(10, 3)
dependence = {name: [batch_dependence(m, B, repeats) for B in sizes]
              for name, m in [("BatchNorm1d", bn_rnn), ("LayerNorm", ln_rnn)]}
for name, values in dependence.items():
    print(f"{name:<12} mean |Δh_T| of example 0 when the others change:",
          "  ".join(f"B={B}: {v:.4f}" for B, v in zip(sizes, values)))

# 3. Training mode vs eval mode on the same batch.
x = tg.Tensor(rng.standard_normal((T_norm, 64, I_norm)))
mismatch = {}
with tg.no_grad():
    for name, m in [("BatchNorm1d", bn_rnn), ("LayerNorm", ln_rnn)]:
        train_out = m.train()(x).numpy()
        eval_out = m.eval()(x).numpy()
        mismatch[name] = float(np.abs(train_out - eval_out).mean())
        m.train()
print("mean |h_T(train mode) - h_T(eval mode)|:",
      ", ".join(f"{k} {v:.4f}" for k, v in mismatch.items()))

fig, (a1, a2) = plt().subplots(1, 2, figsize=(10, 3.8))
a1.plot(batch_std, "o-", label="batch std at step t (training mode)")
a1.axhline(running_std, color="C3", ls="--", label="running std (what eval mode uses)")
a1.set(title="BatchNorm in an RNN: the statistics change with t", xlabel="time step t",
       ylabel="std of pre-activation (mean over units)")
a1.legend(fontsize=8)
for name, values in dependence.items():
    a2.plot(sizes, values, "o-", label=name)
a2.set_xscale("log", base=2)
a2.set(title="Example 0's final state depends on its batch-mates",
       xlabel="batch size B", ylabel="mean |Δh_T| of example 0")
a2.legend()
savefig(fig, "07_batchnorm_vs_layernorm.png")

assert batch_std[1:].mean() > 1.25 * batch_std[0]     # step 0 (h = 0) is not like the others
assert running_std > 1.25 * batch_std[0]              # and the running statistics miss it
assert max(dependence["LayerNorm"]) < 1e-12            # LayerNorm: each example on its own
assert min(dependence["BatchNorm1d"]) > 1e-3
assert dependence["BatchNorm1d"][0] > 2 * dependence["BatchNorm1d"][-1]
assert mismatch["LayerNorm"] < 1e-12 < 1e-3 < mismatch["BatchNorm1d"]

# %% [markdown]
# ### What you should see
#
# **Left**: the pre-activation's spread at step 0 (where h = 0, only the input contributes) is
# clearly smaller than at the later steps (by more than 1.25×, asserted). The dashed running
# average, gathered over all steps, matches the later steps and misses step 0: in eval mode
# step 0 is divided by a standard deviation that is too large, so it is not normalised to unit
# variance. **Right**: with BatchNorm, changing the *other* examples of the batch changes
# example 0's final state — a lot at B = 2, less as B grows (the batch mean and variance
# become better estimates). LayerNorm's curve is exactly 0: each example is normalised over
# its own units. The printed train/eval difference tells the same story: BatchNorm's final
# states differ between the two modes, LayerNorm's are identical (all asserted above).

# %% [markdown]
# ## Variable-length sequences: pack, don't pad
#
# Real batches hold sequences of different lengths. Padding them to the longest one and running
# the layer over the padded batch has two costs: every short sequence's *final state* is taken
# after its padding steps (the state drifts through zeros it was never meant to read), and a
# bidirectional layer's reverse direction *starts* in the padding. PyTorch's answer, and ours, is
# to **pack** the batch: `pack_padded_sequence(x, lengths)` keeps, for each time step t, only
# the `batch_sizes[t]` sequences still running, and the layer runs exactly those rows. `h_n` then
# holds each sequence's state at its own last step, and the reverse direction starts at each
# sequence's own end.
#
# The task: the adding problem with lengths from 4 to T_max per sequence (sum the two marked
# numbers). We train the same bidirectional GRU twice, on the same batches: once packed (answer
# read from `h_n`), once naively padded (answer read from the padded output's last step).

# %%
from tinygrad_rnn.nn.utils import rnn as rnn_utils

T_MAX, VL_STEPS = pick(30, 12), pick(400, 40)


def variable_adding(batch, rng):
    """Adding-problem sequences of random lengths, zero-padded to T_MAX, longest first or not."""
    lengths = rng.integers(4, T_MAX + 1, size=batch)
    x = np.zeros((T_MAX, batch, 2))
    y = np.zeros((batch, 1))
    for b, n in enumerate(lengths):
        x[:n, b, 0] = rng.uniform(0, 1, n)
        marks = rng.choice(n, 2, replace=False)
        x[marks, b, 1] = 1
        y[b, 0] = x[marks, b, 0].sum()
    return x, y, lengths


class VarLenModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(2, 24, bidirectional=True)
        self.head = nn.Linear(48, 1)

    def forward(self, x, lengths, packed):
        if packed:
            _, h_n = self.rnn(rnn_utils.pack_padded_sequence(x, lengths, enforce_sorted=False))
            last = tg.cat([h_n[0], h_n[1]], -1)        # each sequence's own last states
        else:
            out, _ = self.rnn(x)
            last = out[-1]                              # the last *padded* step
        return self.head(last)


def train_variable(packed, seed=SEED):
    tg.manual_seed(seed)
    model = VarLenModel().double()
    opt = optim.Adam(model.parameters(), lr=1e-2, max_grad_norm=1.0)
    rng, losses = np.random.default_rng(seed + 5), []
    for _ in range(VL_STEPS):
        x, y, lengths = variable_adding(32, rng)
        loss = F.mse_loss(model(tg.Tensor(x), lengths, packed), tg.Tensor(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return model, np.array(losses)


packed_model, packed_losses = train_variable(True)
_, padded_losses = train_variable(False)

# Padding never reaches a packed model: change the padding to garbage and nothing moves.
x, y, lengths = variable_adding(8, np.random.default_rng(SEED + 99))
garbage = x.copy()
for b, n in enumerate(lengths):
    garbage[n:, b] = 1e3
clean = packed_model(tg.Tensor(x), lengths, True).numpy()
assert np.array_equal(clean, packed_model(tg.Tensor(garbage), lengths, True).numpy())
# ... and each answer equals the one for that sequence alone, unpadded.
for b, n in enumerate(lengths):
    alone = packed_model(tg.Tensor(x[:n, b:b + 1]), [n], True).numpy()
    np.testing.assert_allclose(alone[0], clean[b], rtol=1e-12)

window = max(VL_STEPS // 10, 1)
smooth = lambda v: np.convolve(v, np.ones(window) / window, mode="valid")  # noqa: E731
fig, ax = plt().subplots(figsize=(6, 3.5))
steps = np.arange(window, VL_STEPS + 1)
ax.plot(steps, smooth(packed_losses), label="packed (h_n at each sequence's end)")
ax.plot(steps, smooth(padded_losses), label="padded (output at the last padded step)")
ax.axhline(1 / 6, color="grey", ls=":", label="guess the mean (1/6)")
ax.set_yscale("log")
ax.set_xlabel("training step")
ax.set_ylabel(f"MSE, moving average of {window}")
ax.set_title(f"Lengths 4–{T_MAX}: packed vs padded (bidirectional GRU)")
ax.legend(fontsize=8)
savefig(fig, "07_packed_vs_padded.png")
tail = max(VL_STEPS // 5, 1)
print(f"last {tail} steps: packed MSE {packed_losses[-tail:].mean():.4f}, "
      f"padded MSE {padded_losses[-tail:].mean():.4f}")
if not FAST:
    assert packed_losses[-tail:].mean() < padded_losses[-tail:].mean()

# %% [markdown]
# ### What you should see
#
# Changing the padding to 1000 changes nothing the packed model
# computes, and each sequence's answer equals its answer run alone (both asserted above): the
# padding is simply not in the graph. In the figure the packed model learns faster and ends
# lower (asserted in full mode): the padded model must first learn to carry its answer through
# up to 26 steps of zeros, and its reverse direction starts reading in the padding.

# %% [markdown]
# **Exercise 4 (packing).** For a batch with lengths [5, 3, 3, 1], what is `batch_sizes` — how
# many sequences are still running at each step? Write it as a list, then check it by packing
# a zero batch of shape (5, 4, 1) with these lengths.

# %%
answer_packing = None  # e.g. [4, 3, ...]
expected = rnn_utils.pack_padded_sequence(tg.zeros(5, 4, 1), [5, 3, 3, 1]).batch_sizes.numpy()
check_exercise(4, answer_packing, list(expected),
               "at step t, count the lengths greater than t")

# %% [markdown]
# ## Exercises
#
# 1. BatchNorm1d in training mode on a batch of B = 1: what is the normalised value
#    (x - mean) / sqrt(var + eps) of every unit? Put the number in `answer_1`.
# 2. LayerNorm over H on an activation of shape (T, B, H) = (20, 8, 32): how many
#    (mean, variance) pairs does it compute? Put the number in `answer_2`.
# 3. In the fill-in-the-blank task, which direction of the bidirectional GRU has read the
#    answer when it reaches the mask: `"forward"` or `"backward"`? Put it in `answer_3`.

# %%
answer_1 = None   # a number
answer_2 = None   # a number
answer_3 = None   # "forward" or "backward"


check_exercise(1, answer_1, 0.0, "with one example, the example *is* the batch mean")
check_exercise(2, answer_2, 20 * 8, "one pair per vector of H units: per time step and per example",
               rtol=1e-9)
check_exercise(3, answer_3, "backward", "the answer sits one position to the right of the mask")
