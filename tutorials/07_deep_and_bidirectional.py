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
from common import pick, plt, savefig

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


def first_layer_gradients(depth, residual, norm, seed=0):
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
ax.legend()
savefig(fig, "07_depth.png")
print("‖∂L/∂x‖ at the input:")
for name, rows in table.items():
    print(f"  {name:<22}" + "  ".join(f"{d} layers: {g[0]:.2e}" for d, g in zip(depths, rows)))
assert table["residual"][-1][0] > table["plain"][-1][0]

# %% [markdown]
# ## Bidirectional: when the answer lies in the future
#
# The fill-in-the-blank task: one position holds a mask token and the answer is the symbol
# right *after* it. A left-to-right RNN reads the mask before the answer, so at that position
# it can only guess (accuracy 1/8). A bidirectional RNN runs a second RNN right to left and
# concatenates both states: at the mask, the backward direction has already read the answer.

# %%
def fill_in(bidirectional, steps, seed=0, T=10, V=8):
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
    tokens, target, pos = data.fill_in_blank_task(500, T, n_symbols=V, rng=np.random.default_rng(9))
    with tg.no_grad():
        pred = logits_at_mask(tokens, pos).data.argmax(1)
    return float((pred == target).mean())


steps = pick(400, 15)
one_way, both_ways = fill_in(False, steps), fill_in(True, steps)
print(f"accuracy at the blank after {steps} steps (chance 0.125):")
print(f"  one-way GRU:       {one_way:.3f}")
print(f"  bidirectional GRU: {both_ways:.3f}")
if steps >= 200:
    assert both_ways > 0.9 and one_way < 0.3
