# %% [markdown]
# # 1. Autograd from scratch
#
# A small feed-forward network, its forward pass, its error and its backward pass — first by
# hand, with the chain rule written out, then by `backward()`. Both must agree to the last digit.
# Then we draw the graph `backward()` walked and open the engine: one op's forward and VJP,
# how broadcasting is undone, and the order in which the backward loop visits the nodes.
#
# The network: input x (2 numbers), a hidden layer of 3 sigmoid units, one linear output.
#
#     a = W₁ x + b₁        h = σ(a)        y = W₂ h + b₂        E = ½ (y - t)²

# %%
import inspect

import numpy as np

import tinygrad_rnn
import tinygrad_rnn as tg
from tinygrad_rnn import viz
from common import OUT, SEED, check_exercise, pick, show

rng = np.random.default_rng(SEED)
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
assert ((0 < h) & (h < 1)).all(), "a sigmoid output lies strictly between 0 and 1"

# %% [markdown]
# **What you should see:** three hidden values strictly between 0 and 1 (a sigmoid cannot leave
# that interval), one output y and the error E = ½(y - t)², which is ≥ 0 and is 0 only if y = t.

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
print("∂E/∂W₂ =", dW2, " ∂E/∂W₁ =", dW1, sep="\n")
assert np.allclose(dW1[:, 0] / dW1[:, 1], x[0] / x[1]), "each row of ∂E/∂W₁ is δ_h[i]·xᵀ"

# %% [markdown]
# **What you should see:** ∂E/∂W₁ is an outer product δ_h xᵀ, so its two columns are
# proportional, in the ratio x₁ : x₂ = 0.5 : -1 — every row is a multiple of xᵀ.

# %% [markdown]
# ## The same with `backward()`
#
# Each operation below records a node; `backward()` visits the nodes from E back to the
# parameters and applies each op's vector–Jacobian product — exactly the steps above.
# `.named("…")` gives a tensor the name the graph picture shows, and `tg.keep_values()` asks the
# nodes to keep their output arrays so the picture can show intermediate values too (normally
# the graph keeps only what the backward needs).

# %%
def forward(P, x, t):
    """The network on Tensors x, t: the error E (0-d), every tensor named for the picture."""
    a = ((P["W1"] @ x).named("W1·x") + P["b1"]).named("a")
    h = a.sigmoid().named("h")
    y = ((P["W2"] @ h).named("W2·h") + P["b2"]).named("y")
    return (0.5 * ((y - t) ** 2).sum()).named("E")


x_t, t_t = tg.Tensor(x).named("x"), tg.Tensor(t).named("t")  # held: the picture shows their values


P = {name: tg.Tensor(v.copy(), requires_grad=True).named(name) for name, v in
     dict(W1=W1, b1=b1, W2=W2, b2=b2).items()}
with tg.keep_values():
    E_t = forward(P, x_t, t_t)
with tg.track_grad_norms():   # also record ‖∂E/∂(each op's output)‖, for the picture below
    E_t.backward()

for name, by_hand in dict(W1=dW1, b1=db1, W2=dW2, b2=db2).items():
    diff = np.abs(P[name].grad - by_hand).max()
    print(f"∂E/∂{name}: largest difference hand vs backward() = {diff:.2e}")
    assert diff < 1e-12

# %% [markdown]
# **What you should see:** differences of order 1e-16 or exactly 0 — the same floating-point
# operations in nearly the same order. Hand-written backprop and `backward()` are one algorithm.
#
# ## The graph `backward()` walked
#
# Drawn now, right after this one forward and backward: parameter leaves (ellipses) show
# their values and ‖∂E/∂θ‖, op nodes show their output value and the norm of the gradient that
# reached them, coloured by it (darker = larger). Every number in the picture comes from the
# same pass.

# %%
graph = viz.draw_graph(E_t, params=P, show_values=True, title="01: E = ½(W₂σ(W₁x + b₁) + b₂ - t)²")
(OUT / "01_mlp_graph.gv").write_text(graph.source)   # the DOT text, read by the tests
print("graph:", viz.render(graph, OUT / "01_mlp_graph", format="svg"))
show(graph)  # inline in a notebook
assert np.isclose(P["W2"].grad, dW2).all(), "the leaves drawn still hold this pass's gradients"

# %% [markdown]
# **What you should see:** x (grey: data, no gradient) and W₁ enter the matmul `W1·x`, b₁ is
# added to give `a`; then `h` (sigmoid), `y`, and `E` at the bottom with ‖g‖ 1 (∂E/∂E = 1).
# The value shown on `a` is W₁x + b₁ computed from the W₁ and b₁ drawn above it, and the ‖g‖
# on W₂ is ‖δ_out hᵀ‖ from the hand computation.

# %% [markdown]
# ## Inside the engine: an op is a forward and a VJP, side by side
#
# `tinygrad_rnn.ops` holds one class per primitive. `forward` computes the output and saves what
# the backward will need; `backward` receives g = ∂E/∂(output) and returns ∂E/∂(input) — the
# vector–Jacobian product. For the sigmoid that is the `h ⊙ (1 - h)` of the hand computation:

# %%
print(inspect.getsource(tinygrad_rnn.ops.Sigmoid))
probe = tg.Tensor(np.array([-2.0, 0.0, 3.0]), requires_grad=True)
probe.sigmoid().backward(np.ones(3))
sig = 1 / (1 + np.exp(-probe.numpy()))
assert np.allclose(probe.grad, sig * (1 - sig)), "Sigmoid's VJP with g = 1 is σ(a)(1 - σ(a))"

# %% [markdown]
# ### Broadcasting, undone: `unbroadcast`
#
# `W₁x + b₁` with a *batch* of inputs adds b₁ (shape (3,)) to every row of a (B, 3) array: numpy
# broadcasting copies b₁ B times. The VJP of a copy is a sum, so ∂E/∂b₁ sums the incoming
# gradient over the copied axis. One shared function does that for every op:

# %%
from tinygrad_rnn.ops import unbroadcast

g = np.arange(12.0).reshape(4, 3)        # a gradient of shape (4, 3), e.g. for a batch of 4
print("g =", g, sep="\n")
print("unbroadcast(g, (3,))   =", unbroadcast(g, (3,)))       # b was (3,): sum the rows
print("unbroadcast(g, (4, 1)) =", unbroadcast(g, (4, 1)).ravel())  # b was (4, 1): sum across
bias = tg.Tensor(np.zeros(3), requires_grad=True)
(tg.Tensor(np.zeros((4, 3))) + bias).backward(g)
assert np.array_equal(bias.grad, unbroadcast(g, (3,))) and np.array_equal(bias.grad, g.sum(0))

# %% [markdown]
# **What you should see:** `(3,)` gives the column sums [18, 22, 26], `(4, 1)` the row sums
# [3, 12, 21, 30]; the bias of a broadcast add receives exactly the column sums.
#
# ### The backward loop, node by node
#
# `backward()` keeps the gradients that have reached each node and takes the nodes newest
# first: a node is created after the nodes that made its inputs, so when it is taken every node
# that *uses* its output has already sent its share. `tg.register_backward_hook(fn)` calls
# `fn(node, grad_outputs, grad_inputs)` for each node as it is visited; here it just lists them
# for a small graph in which `u` is used twice.

# %%
w = tg.Tensor(np.array([0.5, -1.5]), requires_grad=True).named("w")
u = (w * 2.0).named("u")
v = u.sigmoid().named("v")
loss = ((u + v) ** 2).sum().named("loss")

visited = []
handle = tg.register_backward_hook(lambda node, g_out, g_in: visited.append(node))
loss.backward()
handle.remove()
for k, node in enumerate(visited):
    print(f"visit {k}: node {node.id:>3} {node.name:<8} {node.label or ''}")

# reverse topological order: every node comes after all nodes that consume its output
position = {node: k for k, node in enumerate(visited)}
for node in tg.graph_nodes(loss):
    for source, _ in node.edges:
        if isinstance(source, tg.Node):
            assert position[node] < position[source], f"{source} visited before its user {node}"
assert len(visited) == len(tg.graph_nodes(loss)), "each node is visited exactly once"
print("the visit order is a reverse topological order ✓")

# %% [markdown]
# **What you should see:** `loss` (the sum) first, `w`'s multiply last, and `u` (used by both
# the sigmoid and the add) visited only after *both* users — once, with the two gradients
# already added together. Node ids only grow, so "largest id first" is such an order.

# %% [markdown]
# ## The updates
#
# Gradient descent moves every parameter against its gradient: θ ← θ - η ∂E/∂θ. A few steps
# on this one example drive the error down. (On copies: the graph above keeps its values.)

# %%
lr = 0.5
Q = {name: tg.Tensor(p.numpy().copy(), requires_grad=True) for name, p in P.items()}
errors = []
for step in range(pick(10, 5)):
    for p in Q.values():
        p.grad = None
    err = forward(Q, x_t, t_t)
    err.backward()
    with tg.no_grad():
        for p in Q.values():
            p.data -= lr * p.grad
    errors.append(err.item())
    print(f"step {step}: error {err.item():.2e}")
assert np.isclose(errors[0], E) and all(b < a for a, b in zip(errors, errors[1:])), "E falls"

# %% [markdown]
# **What you should see:** step 0 prints the E of the hand computation, then E falls at every
# step — here by orders of magnitude per step: with a single example, even the output bias alone
# could hit the target exactly, so nothing keeps E away from 0 (run more steps and it stalls
# near 1e-30, where float64 rounding of y - t takes over).
#
# ## Exercises
#
# Replace each `None` by your answer, then run the cell.
#
# 1. The sigmoid's derivative σ'(a) = σ(a)(1 - σ(a)) has one largest value. What is it? (This
#    number bounds how much a sigmoid layer can pass back.)
# 2. `q = tg.Tensor(3.0, requires_grad=True)`; `(q * q + q).backward()`. What is `q.grad`?
#    Predict it from how backward *adds* the gradients of every use of q.
# 3. In the little graph of the backward-loop section, predict which op `backward()` visits
#    *last* (its node name, e.g. "add").

# %%
answer_1 = None
answer_2 = None
answer_3 = None

z = tg.Tensor(0.0, requires_grad=True)
z.sigmoid().backward()
check_exercise(1, answer_1, z.grad.item(), "σ' is largest where σ(a) = ½, at a = 0")
q = tg.Tensor(3.0, requires_grad=True)
(q * q + q).backward()
check_exercise(2, answer_2, q.grad.item(), "q*q gives q + q (two uses), and + q adds 1")
check_exercise(3, answer_3, visited[-1].name, "the op nearest the leaf w is the first one made")
