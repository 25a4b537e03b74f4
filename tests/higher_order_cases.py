"""Second-derivative cases for every primitive, evaluated here and in PyTorch (``lib`` is
``tinygrad_rnn`` or ``torch``), and small recurrent losses whose Hessians and Jacobians are
compared.

Shared by ``tests/fixtures/make_higher_order_fixtures.py`` (which stores PyTorch's double
backward) and ``tests/test_higher_order.py`` / ``tests/test_autograd_functional.py``.

A case is ``fn(lib, *tensors)``. Ops whose VJP does not use their inputs (add, reshape, split, …)
are squared, so the second derivative also runs through the VJP's own recorded ops.
"""
import numpy as np


def _sq(y):
    return y * y


def _softplus(lib, x):
    return lib.nn.functional.softplus(x)


# name -> (fn, primitives it exercises, input shapes for the fixture, value range)
CASES = {
    "add": (lambda lib, a, b: _sq(a + b), ("add", "mul"), [(3, 1), (4,)], (-2, 2)),
    "sub": (lambda lib, a, b: _sq(a - b), ("sub",), [(2, 3), ()], (-2, 2)),
    "mul": (lambda lib, a, b: a * b * a, ("mul",), [(3, 4), (1, 4)], (-2, 2)),
    "div": (lambda lib, a, b: a / b, ("div",), [(3,), (2, 1)], (0.5, 2)),
    "pow": (lambda lib, a, b: a ** b, ("pow",), [(2, 3), (3,)], (0.5, 2)),
    "where": (lambda lib, a, b: _sq(lib.where(a > 0, a, b)), ("where",), [(3, 2), (2,)], (-2, 2)),
    "lerp": (lambda lib, a, b: lib.lerp(a, b, a * 0.5), ("lerp",), [(2, 3), (3,)], (-2, 2)),
    "maximum": (lambda lib, a, b: _sq(lib.maximum(a, b)), ("maximum",), [(3,), (2, 3)], (-2, 2)),
    "minimum": (lambda lib, a, b: _sq(lib.minimum(a, b)), ("minimum",), [(2, 2), ()], (-2, 2)),
    "clone": (lambda lib, a: _sq(a.clone()), ("clone",), [(3,)], (-2, 2)),
    "clamp": (lambda lib, a: _sq(a.clamp(-0.5, 0.7)), ("clamp",), [(2, 3)], (-2, 2)),
    "neg": (lambda lib, a: _sq(-a), ("neg",), [()], (-2, 2)),
    "exp": (lambda lib, a: a.exp(), ("exp",), [(2, 3)], (-2, 2)),
    "log": (lambda lib, a: a.log(), ("log",), [(3,)], (0.3, 2)),
    "sin": (lambda lib, a: a.sin() * a, ("sin",), [(2, 3)], (-3, 3)),
    "cos": (lambda lib, a: a.cos() * a, ("cos",), [(3,)], (-3, 3)),
    "tanh": (lambda lib, a: a.tanh(), ("tanh",), [(2, 2)], (-2, 2)),
    "sigmoid": (lambda lib, a: a.sigmoid(), ("sigmoid",), [(3,)], (-3, 3)),
    "softplus": (lambda lib, a: _softplus(lib, a), ("softplus",), [(2, 3)], (-3, 3)),
    "relu": (lambda lib, a: _sq(a.relu()), ("relu",), [(2, 3)], (-2, 2)),
    "sqrt": (lambda lib, a: a.sqrt(), ("sqrt",), [(3,)], (0.3, 2)),
    "std": (lambda lib, a: a.std(1), ("sqrt", "sum"), [(2, 3)], (-2, 2)),
    "abs": (lambda lib, a: _sq(a.abs()) * a, ("abs",), [(4,)], (-2, 2)),
    "cast": (lambda lib, a: _sq(a.float()).double() * a, ("cast",), [(3,)], (-2, 2)),
    "matmul": (lambda lib, a, b: _sq(a @ b), ("matmul",), [(2, 3), (3, 2)], (-2, 2)),
    "matmul_batched": (lambda lib, a, b: _sq(a @ b), ("matmul",), [(2, 2, 3), (3,)], (-2, 2)),
    "matmul_dot": (lambda lib, a, b: _sq(a @ b), ("matmul",), [(3,), (3,)], (-2, 2)),
    "linear": (lambda lib, x, w, b: _sq(lib.nn.functional.linear(x, w, b)), ("linear",),
               [(2, 3, 4), (2, 4), (2,)], (-2, 2)),
    "linear_reused": (lambda lib, x, w: _linear(lib, _linear(lib, x, w).tanh(), w), ("linear",),
                      [(2, 3), (3, 3)], (-1, 1)),  # a weight used twice: two deferred products
    "sum": (lambda lib, a: _sq(a.sum(1, keepdim=True)) + _sq(a.sum()), ("sum", "expand"),
            [(2, 3)], (-2, 2)),
    "norm": (lambda lib, a: a.norm(dim=1) + a.norm(), ("norm",), [(2, 3)], (-2, 2)),
    "max": (lambda lib, a: _sq(a.amax(1)).sum() + _sq(a.max(0).values).sum() + _sq(a.max()),
            ("max",), [(3, 4)], (-2, 2)),
    "log_softmax": (lambda lib, a: a.log_softmax(1), ("log_softmax",), [(2, 3)], (-2, 2)),
    "softmax": (lambda lib, a: a.softmax(0), ("softmax",), [(3, 2)], (-2, 2)),
    "reshape": (lambda lib, a: _sq(a.reshape(3, 2)), ("reshape",), [(2, 3)], (-2, 2)),
    "permute": (lambda lib, a: _sq(a.permute(2, 0, 1)), ("permute",), [(2, 1, 3)], (-2, 2)),
    "getitem": (lambda lib, a: _sq(a[1:, ::2]), ("getitem", "index_add"), [(3, 4)], (-2, 2)),
    "getitem_repeated": (lambda lib, a: _sq(a[[0, 2, 0], [1, 1, 1]]), ("getitem", "index_add"),
                         [(3, 4)], (-2, 2)),
    "expand": (lambda lib, a: _sq(a.expand(2, 3, 4)), ("expand",), [(3, 1)], (-2, 2)),
    "gather": (lambda lib, a: _sq(a.gather(1, lib.tensor(np.array([[0, 0], [2, 1]])))),
               ("gather", "index_add"), [(2, 3)], (-2, 2)),
    "cat": (lambda lib, a, b: _sq(lib.cat([a, b, a], 1)), ("cat", "split"), [(2, 1), (2, 3)],
            (-2, 2)),
    "stack": (lambda lib, a, b: _sq(lib.stack([a, b], 1)), ("stack", "unbind"), [(3,), (3,)],
              (-2, 2)),
    "split": (lambda lib, a: _sq(a.split([1, 2], 1)[1]) + a.chunk(3, 1)[0], ("split", "cat"),
              [(2, 3)], (-2, 2)),
    "unbind": (lambda lib, a: _sq(a.unbind(0)[2]) * a.unbind(0)[0], ("unbind", "stack"),
               [(3, 2)], (-2, 2)),
    "setitem": (lambda lib, a, v: _sq(_put(a, v)), ("setitem", "getitem"), [(3, 4), (4,)],
                (-2, 2)),
    # integer tensors as op inputs: targets, token ids, an index tensor
    "getitem_tensor": (lambda lib, a: _sq(a[lib.tensor(np.array([0, 2, 0])), 1:]),
                       ("getitem", "index_add"), [(3, 4)], (-2, 2)),
    "cross_entropy": (lambda lib, a: lib.nn.functional.cross_entropy(
        a * a, lib.tensor(np.array([1, -1, 2, 0])), weight=lib.tensor(np.array([0.5, 2.0, 1.5])),
        ignore_index=-1, label_smoothing=0.3), ("nll_loss", "smooth_loss"), [(4, 3)], (-2, 2)),
    "nll_loss_none": (lambda lib, a: lib.nn.functional.nll_loss(
        (a * a).log_softmax(1), lib.tensor(np.array([2, 0, 2])), reduction="none"),
        ("nll_loss",), [(3, 4)], (-2, 2)),
    "embedding": (lambda lib, a: _sq(lib.nn.functional.embedding(
        lib.tensor(np.array([[0, 2], [2, 3], [3, 0]])), a, padding_idx=3)), ("embedding",),
        [(4, 3)], (-2, 2)),
    "one_hot": (lambda lib, a: _sq(a * lib.nn.functional.one_hot(lib.tensor(np.array([2, 0, 1])),
                                                                 3).double()),
                ("one_hot",), [(3, 3)], (-2, 2)),
}


def _linear(lib, x, w):
    return lib.nn.functional.linear(x, w)


def _put(a, v):
    out = a * 1.0
    out[1] = v
    return out


def case_inputs(name, seed=0):
    """Fixed float64 inputs for case ``name`` (maximum/minimum and clamp kept off their kinks)."""
    _, _, shapes, (lo, hi) = CASES[name]
    rng = np.random.default_rng(seed + sum(map(ord, name)))
    arrays = [rng.uniform(lo, hi, s) for s in shapes]
    if name in ("maximum", "minimum"):
        arrays[1] = arrays[1] + 0.37  # no ties
    return arrays


# ---------------------------------------------------------------- recurrent losses

RNN_SIZES = dict(T=3, B=2, I=2, H=3)


def rnn_parameters(kind, seed=0):
    """PyTorch-layout float64 weights of a one-layer ``kind`` ("rnn", "lstm", "gru")."""
    gates = {"rnn": 1, "lstm": 4, "gru": 3}[kind]
    rng = np.random.default_rng(seed)
    H, I = RNN_SIZES["H"], RNN_SIZES["I"]
    return {"weight_ih_l0": rng.uniform(-0.6, 0.6, (gates * H, I)),
            "weight_hh_l0": rng.uniform(-0.6, 0.6, (gates * H, H)),
            "bias_ih_l0": rng.uniform(-0.3, 0.3, (gates * H,)),
            "bias_hh_l0": rng.uniform(-0.3, 0.3, (gates * H,))}


def rnn_data(seed=0):
    rng = np.random.default_rng(seed + 1)
    T, B, I, H = (RNN_SIZES[k] for k in "TBIH")
    return {"x": rng.standard_normal((T, B, I)), "target": rng.standard_normal((B, H)),
            "v_hh": rng.standard_normal((H * 4, H)), "v_x": rng.standard_normal((T, B, I))}


def rnn_loss(lib, kind, x, w_ih, w_hh, b_ih, b_hh, target, output=False):
    """A scalar loss of a one-layer ``kind`` run through ``lib``'s module with the given weights
    (functional in the weights, so Hessians can be taken with respect to them); with
    ``output=True`` the last step's output (B, H) instead."""
    layer = {"rnn": lib.nn.RNN, "lstm": lib.nn.LSTM, "gru": lib.nn.GRU}[kind]
    H, I = RNN_SIZES["H"], RNN_SIZES["I"]
    module = layer(I, H).double()
    for name, value in zip(("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"),
                           (w_ih, w_hh, b_ih, b_hh)):
        delattr(module, name)
        setattr(module, name, value)
    out, _ = module(x)
    if output:
        return out[-1]
    return ((out[-1] - target) ** 2).sum() + (out * out).mean()


# float32 inside: finite differences need a larger step, and PyTorch agrees to float32 precision
TOLERANCES = {"cast": dict(eps=1e-2, atol=1e-3, compare=1e-5)}


def double_backward(lib, name, arrays, seed=7):
    """For case ``name`` at ``arrays``: the first gradients uᵀ ∂f/∂x (``create_graph=True``, u
    random) and the gradients of Σ wᵢ · (first gradient)ᵢ (w random) with respect to every
    input and to u. Returns numpy arrays: firsts, seconds (zeros where no gradient flows)."""
    fn = CASES[name][0]
    xs = [lib.tensor(a, requires_grad=True) for a in arrays]
    out = fn(lib, *xs)
    rng = np.random.default_rng(seed)
    u = lib.tensor(np.asarray(rng.standard_normal(tuple(out.shape))), requires_grad=True)
    firsts = lib.autograd.grad(out, xs, u, create_graph=True, allow_unused=True)
    weights = [np.asarray(rng.standard_normal(a.shape)) for a in arrays]
    total = sum((g * lib.tensor(w)).sum() for g, w in zip(firsts, weights) if g is not None)
    seconds = lib.autograd.grad(total, xs + [u], allow_unused=True)
    like = [*arrays, np.zeros(tuple(out.shape))]
    return ([np.zeros(a.shape) if g is None else g.detach().numpy() for g, a in zip(firsts, arrays)],
            [np.zeros(a.shape) if g is None else g.detach().numpy() for g, a in zip(seconds, like)])


WEIGHTS = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")


def rnn_functional(lib, kind, seed=0):
    """What the recurrent fixtures hold, computed with ``lib``: for each kind, the Hessian of
    :func:`rnn_loss` in all four weights (blocks ``hessian.i.j``), its product with a vector
    (``hvp.i``, ``vhp.i``), the Jacobian of the last output in the input ``x``
    (``jacobian``) and the Jacobian-vector product with ``v_x`` (``jvp``)."""
    F = lib.autograd.functional
    p, d = rnn_parameters(kind, seed), rnn_data(seed)
    x, target = lib.tensor(d["x"]), lib.tensor(d["target"])
    weights = tuple(lib.tensor(p[n]) for n in WEIGHTS)
    rng = np.random.default_rng(seed + 2)
    v = tuple(lib.tensor(rng.standard_normal(tuple(w.shape))) for w in weights)

    def loss(*w):
        return rnn_loss(lib, kind, x, *w, target)

    def last_output(inp):
        return rnn_loss(lib, kind, inp, *weights, target, output=True)

    result = {}
    hess = F.hessian(loss, weights)
    for i in range(4):
        for j in range(4):
            result[f"hessian.{i}.{j}"] = hess[i][j].detach().numpy()
    for name in ("hvp", "vhp"):
        value, prod = getattr(F, name)(loss, weights, v)
        result["loss"] = value.detach().numpy()
        for i in range(4):
            result[f"{name}.{i}"] = prod[i].detach().numpy()
    result["jacobian"] = F.jacobian(last_output, lib.tensor(d["x"])).detach().numpy()
    result["jvp"] = F.jvp(last_output, lib.tensor(d["x"]), lib.tensor(d["v_x"]))[1].detach().numpy()
    return result
