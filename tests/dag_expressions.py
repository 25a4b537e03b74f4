"""Random expression DAGs, the same program run here and in PyTorch (``lib`` is ``tinygrad_rnn``
or ``torch``).

A program is made from a seed with numpy's generator, so ``tests/fixtures/make_dag_fixtures.py``
(which stores PyTorch's answers) and ``tests/test_dag.py`` build the very same graphs. Each graph
has 1–3 float64 inputs of broadcast-compatible shapes (0-d included), 4–12 ops, and reuses
values often: every op picks its operands among *all* earlier values, so a node feeding 2–5 later
ops (fan-out) is common, and `op(a, a)` happens. The root adds up every value no op used.
"""
from __future__ import annotations

import numpy as np

# Every op is safe on any real input: domains are kept by construction (1 + x², tanh first).
UNARY = {
    "tanh": lambda lib, x: x.tanh(),
    "sigmoid": lambda lib, x: x.sigmoid(),
    "exp_tanh": lambda lib, x: x.tanh().exp(),
    "relu": lambda lib, x: x.relu(),
    "abs": lambda lib, x: x.abs(),
    "neg": lambda lib, x: -x,
    "square": lambda lib, x: x * x,
    "log1p_sq": lambda lib, x: (x * x + 1).log(),
    "sqrt1p_sq": lambda lib, x: (1 + x * x).sqrt(),
    "pow_scalar": lambda lib, x: (x * x + 0.5) ** 1.5,
    "scale": lambda lib, x: 0.5 * x - 2,
    "sum_last": lambda lib, x: x.sum(-1, keepdim=True) if x.dim() else x * 1.0,
    "mean_all": lambda lib, x: x.mean(),
    "max_all": lambda lib, x: x.max(),
    "softmax_last": lambda lib, x: x.softmax(-1) if x.dim() else x.sigmoid(),
    "clamp": lambda lib, x: x.clamp(-0.5, 0.5),
}
BINARY = {
    "add": lambda lib, a, b: a + b,
    "sub": lambda lib, a, b: a - b,
    "mul": lambda lib, a, b: a * b,
    "div": lambda lib, a, b: a / (b * b + 1),
    "pow": lambda lib, a, b: (a * a + 0.5) ** b.tanh(),
    "maximum": lambda lib, a, b: lib.maximum(a, b),
    "minimum": lambda lib, a, b: lib.minimum(a, b),
    "where": lambda lib, a, b: lib.where(a > b, a, b * 2),
}


def make_program(seed):
    """(input shapes, ops) for graph ``seed``; ops are (name, operand indices)."""
    rng = np.random.default_rng(seed)
    base = [int(n) for n in rng.integers(1, 4, size=rng.integers(0, 4))]
    n_inputs = int(rng.integers(1, 4))
    shapes = []
    for _ in range(n_inputs):
        shape = [n if rng.random() < 0.7 else 1 for n in base]
        shapes.append(tuple(shape[int(rng.integers(0, len(shape) + 1)):] if rng.random() < 0.3
                            else shape))
    ops, n_values = [], n_inputs
    unary, binary = sorted(UNARY), sorted(BINARY)
    for _ in range(int(rng.integers(4, 13))):
        if rng.random() < 0.55:
            ops.append((binary[rng.integers(len(binary))],
                        (int(rng.integers(n_values)), int(rng.integers(n_values)))))
        else:
            ops.append((unary[rng.integers(len(unary))], (int(rng.integers(n_values)),)))
        n_values += 1
    return shapes, ops


def make_inputs(seed, shapes):
    rng = np.random.default_rng(10_000 + seed)
    return [rng.standard_normal(s) for s in shapes]


def run(lib, shapes, ops, inputs):
    """Evaluate the program on ``inputs`` (lib Tensors); returns the scalar root."""
    values = list(inputs)
    used = [False] * (len(inputs) + len(ops))
    for name, args in ops:
        fn = UNARY.get(name) or BINARY[name]
        values.append(fn(lib, *[values[i] for i in args]))
        for i in args:
            used[i] = True
    sinks = [v for v, u in zip(values, used) if not u]
    root = sinks[0].sum()
    for v in sinks[1:]:
        root = root + v.sum()
    return root


def fan_out(ops, n_inputs):
    """How many ops use each value (for the test that checks reuse really happens)."""
    counts = [0] * (n_inputs + len(ops))
    for _, args in ops:
        for i in args:
            counts[i] += 1
    return counts
