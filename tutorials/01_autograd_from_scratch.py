# %% [markdown]
# # 1. Autograd from scratch
#
# A small feed-forward network, its forward pass, its error and its backward pass — first by
# hand, with the chain rule written out, then by `backward()`. Both must agree to the last digit,
# and the graph that `backward()` walked is rendered at the end.
#
# The network: input x (2 numbers), a hidden layer of 3 sigmoid units, one linear output.
#
#     a = W₁ x + b₁        h = σ(a)        y = W₂ h + b₂        E = ½ (y - t)²

# %%
import numpy as np

import tinygrad_rnn as tg
from tinygrad_rnn import viz
from common import OUT, pick

rng = np.random.default_rng(0)
W1, b1 = rng.standard_normal((3, 2)), np.zeros(3)
W2, b2 = rng.standard_normal((1, 3)), np.zeros(1)
x, t = np.array([0.5, -1.0]), np.array([0.0])

# %% [markdown]
# ## Forward pass, by hand

# %%
def sigmoid(z):
    return 1 / (1 + np.exp(-z))


a = W1 @ x + b1          # a = W₁x + b₁
h = sigmoid(a)           # h = σ(a)
y = W2 @ h + b2          # y = W₂h + b₂
E = 0.5 * np.sum((y - t) ** 2)
print("hidden", h, "output", y, "error", E)

# %% [markdown]
# ## Backward pass, by hand
#
# Hidden → output first. With δ_out = ∂E/∂y = y - t:
#
#     ∂E/∂W₂ = δ_out hᵀ        ∂E/∂b₂ = δ_out
#
# Then input → hidden. The error reaches h through W₂, and σ'(a) = h(1 - h):
#
#     δ_h = (W₂ᵀ δ_out) ⊙ h ⊙ (1 - h)        ∂E/∂W₁ = δ_h xᵀ        ∂E/∂b₁ = δ_h

# %%
delta_out = y - t
dW2, db2 = np.outer(delta_out, h), delta_out
delta_h = (W2.T @ delta_out) * h * (1 - h)
dW1, db1 = np.outer(delta_h, x), delta_h

# %% [markdown]
# ## The same with `backward()`
#
# Each operation below records a node; `backward()` visits the nodes from E back to the
# parameters and applies each op's vector–Jacobian product — exactly the steps above.

# %%
P = {name: tg.Tensor(v.copy(), requires_grad=True) for name, v in
     dict(W1=W1, b1=b1, W2=W2, b2=b2).items()}
h_t = (P["W1"] @ tg.Tensor(x) + P["b1"]).sigmoid()
y_t = P["W2"] @ h_t + P["b2"]
E_t = 0.5 * ((y_t - tg.Tensor(t)) ** 2).sum()
E_t.backward()

for name, by_hand in dict(W1=dW1, b1=db1, W2=dW2, b2=db2).items():
    diff = np.abs(P[name].grad - by_hand).max()
    print(f"∂E/∂{name}: largest difference hand vs backward() = {diff:.2e}")
    assert diff < 1e-12

# %% [markdown]
# ## The updates
#
# Gradient descent moves every parameter against its gradient: θ ← θ - η ∂E/∂θ. A few steps
# on this one example drive the error down.

# %%
lr = 0.5
for step in range(pick(20, 5)):
    for p in P.values():
        p.grad = None
    out = P["W2"] @ (P["W1"] @ tg.Tensor(x) + P["b1"]).sigmoid() + P["b2"]
    err = 0.5 * ((out - tg.Tensor(t)) ** 2).sum()
    err.backward()
    with tg.no_grad():
        for p in P.values():
            p.data -= lr * p.grad
    if step % 4 == 0:
        print(f"step {step}: error {err.item():.5f}")
assert err.item() < E

# %% [markdown]
# ## The graph `backward()` walked
#
# Leaves carry the parameter names; after backward every node shows ‖grad‖ and is coloured by
# it (darker = larger).

# %%
graph = viz.draw_graph(E_t, params=P, show_values=True)
print("graph:", viz.render(graph, OUT / "01_mlp_graph", format="svg"))
