"""Expressions evaluated both here and in PyTorch (``lib`` is ``tinygrad_rnn`` or ``torch``).

Shared by ``tests/fixtures/make_engine_fixtures.py`` (which stores PyTorch's values and
gradients) and ``tests/test_engine.py`` (which compares ours to them).
"""
import numpy as np

INPUTS = {"x": (3, 4), "w": (4, 5), "b": (5,), "v": (6,), "m": (2, 8), "t": (3, 4)}


def make_inputs(seed=0):
    rng = np.random.default_rng(seed)
    out = {k: rng.standard_normal(s) for k, s in INPUTS.items()}
    out["t"] = np.round(out["t"])  # ties for max
    out["p"] = rng.uniform(0.5, 2.0, (3, 4))  # positive
    return out


def _ce(lib, logits, target):
    logp = logits.log_softmax(1)
    return -(logp[np.arange(len(target)), target]).mean()


EXPRESSIONS = {
    "tanh_affine": lambda lib, a: ((a["x"] @ a["w"] + a["b"]).tanh() ** 2).sum(),
    "sigmoid_mean": lambda lib, a: (a["x"].sigmoid() * a["t"]).mean(),
    "exp_log": lambda lib, a: (a["p"].log() * a["x"].exp()).sum(1),
    "div_sqrt": lambda lib, a: (a["x"] / a["p"].sqrt() - a["p"] / 3.0).sum(0),
    "pow_tensor": lambda lib, a: (a["p"] ** a["x"]).sum() + (a["x"] ** 2).sum(),
    "softmax_weighted": lambda lib, a: (a["x"].softmax(1) * a["x"]).sum(),
    "cross_entropy": lambda lib, a: _ce(lib, a["x"] @ a["w"], np.array([0, 4, 2])),
    "where_relu_abs": lambda lib, a: lib.where(a["x"] > 0, a["x"].relu(), a["t"].abs() * a["x"]),
    "max_ties_full": lambda lib, a: a["t"].max() * 2.0,
    "max_ties_dim": lambda lib, a: a["t"].max(1)[0].sum() + a["t"].max(0)[0].sum(),
    "lstm_gates": lambda lib, a: _lstm_step(lib, a),
    "normalise": lambda lib, a: ((a["x"] - a["x"].mean(1, keepdim=True))
                                 / (a["x"].var(1, keepdim=True) + 1e-5).sqrt()).tanh().sum(),
    "cat_stack_index": lambda lib, a: (lib.stack([a["v"][::2], a["v"][1::2]], 0)
                                       * lib.cat([a["v"][:3], a["v"][3:]], 0).reshape(2, 3)).sum(),
    "permute_matmul": lambda lib, a: (a["m"].reshape(2, 2, 4).permute(2, 0, 1)
                                      @ a["x"][:2, :2]).sum(),
    "getitem_repeat": lambda lib, a: (a["v"][np.array([0, 0, 3, 5, 5, 5])] ** 2).sum(),
}


def _lstm_step(lib, a):
    gates = a["m"] @ a["m"].T
    i, f, g, o = gates.reshape(1, 4).chunk(4, 1)
    c = f.sigmoid() * a["v"][:1] + i.sigmoid() * g.tanh()
    return (o.sigmoid() * c.tanh()).sum()
