"""Differential test: random expression DAGs (broadcasting, 0-d tensors, fan-out 2–5) give
PyTorch's value and every input's gradient — from stored fixtures, and live when PyTorch is
installed (with hypothesis drawing the programs and the input values)."""
from __future__ import annotations

import pathlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_rnn as tg
from dag_expressions import fan_out, make_inputs, make_program, run
from strategies import values

FIXTURES = np.load(pathlib.Path(__file__).with_name("fixtures") / "dag_expressions.npz")
N_GRAPHS = len([k for k in FIXTURES.files if k.endswith(".value")])


def ours(shapes, ops, inputs):
    ts = [tg.Tensor(x, requires_grad=True) for x in inputs]
    root = run(tg, shapes, ops, ts)
    root.backward()
    return root.array, [np.zeros_like(x) if t.grad is None else t.grad for t, x in zip(ts, inputs)]


def test_the_fixture_graphs_exercise_fan_out_0d_and_broadcasting():
    programs = [make_program(seed) for seed in range(N_GRAPHS)]
    most_uses = [max(fan_out(ops, len(shapes))) for shapes, ops in programs]
    assert N_GRAPHS >= 200
    assert sum(2 <= m <= 5 for m in most_uses) > N_GRAPHS // 2
    assert any(() in shapes for shapes, _ in programs)
    assert any(len({s for s in shapes}) > 1 for shapes, _ in programs)  # mixed shapes broadcast
    assert any(args[0] == args[-1] and len(args) == 2 for _, ops in programs for _, args in ops)


@pytest.mark.parametrize("seed", range(N_GRAPHS))
def test_random_dag_matches_pytorch_fixture(seed):
    shapes, ops = make_program(seed)
    value, grads = ours(shapes, ops, make_inputs(seed, shapes))
    np.testing.assert_allclose(value, FIXTURES[f"{seed}.value"], rtol=1e-10, atol=1e-12)
    for i, g in enumerate(grads):
        assert g.shape == shapes[i]
        np.testing.assert_allclose(g, FIXTURES[f"{seed}.grad{i}"], rtol=1e-9, atol=1e-12,
                                   err_msg=f"graph {seed}, input {i}, ops {ops}")


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(10_000, 10**6), data=st.data())
def test_random_dag_matches_live_pytorch(seed, data):
    torch = pytest.importorskip("torch")
    shapes, ops = make_program(seed)
    inputs = [data.draw(values(s, -3.0, 3.0)) for s in shapes]
    value, grads = ours(shapes, ops, inputs)
    ts = [torch.tensor(x, requires_grad=True) for x in inputs]
    root = run(torch, shapes, ops, ts)
    root.backward()
    np.testing.assert_allclose(value, root.detach().numpy(), rtol=1e-10, atol=1e-12)
    for i, (g, t) in enumerate(zip(grads, ts)):
        expected = np.zeros(shapes[i]) if t.grad is None else t.grad.numpy()
        np.testing.assert_allclose(g, expected, rtol=1e-9, atol=1e-12,
                                   err_msg=f"input {i}, ops {ops}, inputs {inputs}")
