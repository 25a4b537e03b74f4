"""utils.checkpoint: recompute in backward instead of keeping the graph — same values, the same
gradients to the bit, dropout masks replayed, and BPTT checkpointed every k steps."""
import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import nn
from tinygrad_rnn.nn import functional as F
from tinygrad_rnn.utils.checkpoint import checkpoint, checkpoint_sequence


def _x(shape, seed=0, requires_grad=True, dtype=np.float64):
    data = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    return tg.Tensor(data, requires_grad=requires_grad)


def _block(lin1, lin2, p=0.0):
    def fn(a, b):
        h = F.dropout(lin1(a).tanh(), p, p > 0) * b
        return lin2(h).sigmoid(), h.sum()
    return fn


def _grads(*tensors):
    return [None if t.grad is None else t.grad.numpy().copy() for t in tensors]


@pytest.mark.parametrize("p", [0.0, 0.4], ids=["no dropout", "dropout"])
def test_checkpoint_gives_the_same_values_and_gradients_to_the_bit(p):
    tg.manual_seed(0)
    lin1, lin2 = nn.Linear(4, 6).double(), nn.Linear(6, 3).double()
    params = list(lin1.parameters()) + list(lin2.parameters())
    a, b = _x((5, 4)), _x((5, 6), seed=1)
    results = []
    for wrap in (lambda f, *args: f(*args), checkpoint):
        for t in [a, b, *params]:
            t.grad = None
        tg.manual_seed(3)
        y, s = wrap(_block(lin1, lin2, p), a, b)
        after = tg.get_rng().random()  # the recompute must not move the generator
        (y * y).sum().backward()
        results.append((y.numpy().copy(), s.item(), after, _grads(a, b, *params)))
    (y0, s0, r0, g0), (y1, s1, r1, g1) = results
    np.testing.assert_array_equal(y0, y1)
    assert s0 == s1 and r0 == r1
    for plain, ckpt in zip(g0, g1):
        assert np.array_equal(plain, ckpt)


def test_checkpoint_records_one_node_that_keeps_only_the_inputs():
    lin = nn.Linear(3, 3).double()
    x = _x((2, 3))
    y = checkpoint(lambda a: lin(lin(a).tanh()).tanh(), x)
    (node,) = tg.graph_nodes(y)
    assert node.name == "Checkpoint"
    ctx, *arrays = node.saved
    assert len(arrays) == 1 and arrays[0] is x.array  # the input, shared, and nothing else


def test_dropout_mask_replays_in_the_recompute():
    """With preserve_rng_state=False the recompute draws a fresh mask, and the gradient is
    then wrong (it belongs to another function): the replay is what makes it right."""
    x = _x((200,))

    def fn(a):
        return F.dropout(a, 0.5, True) * 3.0

    tg.manual_seed(1)
    y = checkpoint(fn, x)
    kept = y.numpy() != 0
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy() != 0, kept)
    x.grad = None
    tg.manual_seed(1)
    y = checkpoint(fn, x, preserve_rng_state=False)
    y.sum().backward()
    assert not np.array_equal(x.grad.numpy() != 0, y.numpy() != 0)


def test_parameters_get_gradients_when_no_input_requires_grad():
    lin = nn.Linear(3, 2).double()
    x = _x((4, 3), requires_grad=False)
    checkpoint(lambda a: lin(a).tanh(), x).sum().backward()
    expect = nn.Linear(3, 2).double()
    expect.load_state_dict(lin.state_dict())
    expect(x).tanh().sum().backward()
    assert np.array_equal(lin.weight.grad.numpy(), expect.weight.grad.numpy())
    with pytest.warns(UserWarning, match="none of the inputs have requires_grad=True"):
        y = checkpoint(lambda a: lin(a), x, use_reentrant=True)
    assert not y.requires_grad


def test_checkpoint_of_a_weight_passed_as_an_argument():
    """An argument used as a matmul's weight receives a deferred product: it must still come
    back from the node (not be summed at the end of the outer sweep)."""
    w, x = _x((3, 4)), _x((5, 4), seed=1)
    checkpoint(lambda w_, x_: F.linear(x_, w_).tanh(), w, x).sum().backward()
    gw, gx = _grads(w, x)
    w.grad = x.grad = None
    F.linear(x, w).tanh().sum().backward()
    np.testing.assert_allclose(gw, w.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(gx, x.grad.numpy(), rtol=1e-12)


def test_checkpoint_gradchecks_and_passes_kwargs_and_non_tensors():
    def fn(a, scale, b=None):
        return (a * scale).tanh() * b

    b = _x((3,), seed=2)
    assert tg.gradcheck(lambda a, c: checkpoint(fn, a, 2.0, b=c), [_x((3,)), b])


def test_checkpoint_under_no_grad_just_runs():
    with tg.no_grad():
        y = checkpoint(lambda a: a * 2.0, _x((2,)))
    assert y.node is None


def test_checkpoint_rejects_a_non_callable():
    with pytest.raises(TypeError, match="checkpoint: function must be callable"):
        checkpoint(3, _x((2,)))


# ---------------------------------------------------------------- checkpointed BPTT

def _run_layer(kind, every, T=11, B=3, I=4, H=5, seed=0, hn_weight=0.5, **kw):
    tg.manual_seed(seed)
    m = getattr(nn, kind)(I, H, checkpoint_every=every, **kw)
    x = tg.Tensor(np.random.default_rng(seed + 1).standard_normal((T, B, I)).astype(np.float32),
                  requires_grad=True)
    out, state = m(x)
    h_n = state[0] if isinstance(state, tuple) else state
    loss = (out * out).sum() + (h_n * hn_weight).sum()
    loss.backward()
    grads = {n: p.grad.numpy().copy() for n, p in m.named_parameters()}
    grads["input"] = x.grad.numpy().copy()
    return out.numpy(), h_n.numpy(), grads


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("every", [1, 3, 4, 11, 50])
@pytest.mark.parametrize("kw", [{}, {"num_layers": 2, "bidirectional": True}],
                         ids=["one layer", "two layers bidirectional"])
def test_checkpointed_layer_gradients_equal_plain_to_the_last_bit(kind, every, kw):
    out0, hn0, g0 = _run_layer(kind, None, **kw)
    out1, hn1, g1 = _run_layer(kind, every, **kw)
    assert np.array_equal(out0, out1) and np.array_equal(hn0, hn1)
    assert g0.keys() == g1.keys()
    for name in g0:
        assert np.array_equal(g0[name], g1[name]), (name, np.abs(g0[name] - g1[name]).max())


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_checkpointed_gradients_stay_bit_equal_when_weight_products_are_summed_in_groups(
        kind, monkeypatch):
    """Groups of a few steps' products that end in the middle of a segment: the grouping follows
    the sequence of products only, so a checkpointed backward still gives the plain one's bits."""
    from tinygrad_rnn import products
    monkeypatch.setattr(products, "GROUP_BYTES", 3 * 3 * 5 * 4 * 4)  # ~3 steps of one product
    out0, hn0, g0 = _run_layer(kind, None, T=23)
    out1, hn1, g1 = _run_layer(kind, 5, T=23)
    for name in g0:
        assert np.array_equal(g0[name], g1[name]), (name, np.abs(g0[name] - g1[name]).max())


def test_checkpointed_layer_with_unused_final_state_and_batch_first():
    tg.manual_seed(0)
    plain = nn.LSTM(3, 4, batch_first=True)
    ckpt = nn.LSTM(3, 4, batch_first=True, checkpoint_every=2)
    ckpt.load_state_dict(plain.state_dict())
    x = tg.Tensor(np.random.default_rng(2).standard_normal((2, 7, 3)).astype(np.float32))
    for m in (plain, ckpt):
        m(x)[0][:, 3].sum().backward()  # one time step's output only
    for (n, p), q in zip(plain.named_parameters(), ckpt.parameters()):
        assert np.array_equal(p.grad.numpy(), q.grad.numpy()), n


def test_checkpointed_layer_graph_keeps_states_not_activations():
    tg.manual_seed(0)
    m = nn.LSTM(3, 4, checkpoint_every=4)
    x = tg.Tensor(np.random.default_rng(0).standard_normal((10, 2, 3)).astype(np.float32))
    out, _ = m(x)
    names = [n.name for n in tg.graph_nodes(out)]
    assert names.count("CheckpointedSequence") == 1
    assert "sigmoid" not in names and "tanh" not in names
    (node,) = [n for n in tg.graph_nodes(out) if n.name == "CheckpointedSequence"]
    ctx = node.saved[0]
    assert len(node.saved) == 1  # no input saved: the projection is recomputed
    assert [len(states) for states, _ in ctx.starts] == [2, 2, 2]  # (h, c) at t = 0, 4, 8


def test_checkpointed_layer_rejects_packed_input():
    from tinygrad_rnn.nn.utils.rnn import pack_padded_sequence
    m = nn.GRU(3, 4, checkpoint_every=2)
    packed = pack_padded_sequence(tg.Tensor(np.zeros((4, 2, 3), np.float32)), [4, 2])
    with pytest.raises(NotImplementedError, match="GRU: checkpoint_every is not supported for a "
                                                  "PackedSequence"):
        m(packed)


def test_checkpoint_sequence_replays_dropout_inside_steps_and_gradchecks():
    w = _x((3, 3), seed=4)

    def step(x, state):
        h = F.dropout(F.linear(state[0], w, x).tanh(), 0.3, True)
        return (h,)

    xs = [_x((2, 3), seed=10 + t) for t in range(7)]
    h0 = _x((2, 3), seed=20)
    results = []
    for every in (None, 3):
        for t in [w, h0, *xs]:
            t.grad = None
        tg.manual_seed(5)
        if every is None:
            state, outs = (h0,), []
            for x in xs:
                state = step(x, state)
                outs.append(state[0])
        else:
            outs, state = checkpoint_sequence(step, xs, (h0,), every)
        (tg.stack(outs).sum() + state[0].sum()).backward()
        results.append((tg.stack(outs).numpy(), _grads(w, h0, *xs)))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    for a, b in zip(results[0][1], results[1][1]):
        assert np.array_equal(a, b)

    def fn(w_, h, *x):
        tg.manual_seed(5)
        outs, state = checkpoint_sequence(lambda xt, s: (F.linear(s[0], w_, xt).tanh(),),
                                          list(x), (h,), 2)
        return tg.stack(outs)

    assert tg.gradcheck(fn, [w, h0, *xs[:5]])


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("recompute", [False, True], ids=["kept", "recomputed"])
@pytest.mark.parametrize("as_list", [False, True], ids=["one tensor", "a list"])
def test_checkpoint_sequence_of_one_time_major_tensor(reverse, recompute, as_list):
    """Inputs as one (T, B, n) Tensor: one input of the node, whose gradient is one array written
    a segment at a time — equal to the plain loop's to the bit, in either direction, with the
    inputs kept or recomputed (and the same as a list of T Tensors)."""
    w = _x((3, 3), seed=4)
    base = _x((7, 2, 3), seed=10)

    def step(x, state):
        return (F.linear(state[0], w, x).tanh(),)

    def run(every):
        w.grad = base.grad = None
        xs = base * 1.5  # a Tensor on the graph: its gradient reaches base through the node
        h0 = _x((2, 3), seed=20)
        order = range(6, -1, -1) if reverse else range(7)
        if every is None:
            state, outs, steps = (h0,), [None] * 7, xs.unbind(0)
            for t in order:
                state = step(steps[t], state)
                outs[t] = state[0]
        else:
            again = (lambda: base.array * np.float64(1.5)) if recompute else None
            if as_list:
                xs = list(xs.unbind(0))
                again = again and (lambda f=again: list(f()))
            outs, state = checkpoint_sequence(step, xs, (h0,), every, again, reverse=reverse)
        # steps 2 and 3 get no gradient from outside; the last step's output is the state too
        loss = sum((o * (t + 1)).sum() for t, o in enumerate(outs) if t not in (2, 3))
        (loss + state[0].sum() * 2).backward()
        return tg.stack(outs).numpy(), w.grad.numpy(), base.grad.numpy()

    plain = run(None)
    for every in (1, 3, 7):
        for a, b in zip(plain, run(every)):
            assert np.array_equal(a, b), every
    assert tg.gradcheck(lambda w_, x: tg.stack(checkpoint_sequence(
        lambda xt, s: (F.linear(s[0], w_, xt).tanh(),), x, (x[0] * 0,), 2,
        reverse=reverse)[0]), [w, _x((5, 2, 3), seed=3)])


def test_a_recomputed_time_major_array_takes_the_gradient_but_the_input_itself_is_never_written():
    """Backward writes the inputs' gradient over the array recompute_inputs gave (no second
    (T, …) array); an array that is, or views, the forward's input is left as it was."""
    w = _x((3, 3), seed=4)

    def run(recompute_of):
        base = _x((6, 2, 3), seed=11)
        xs = base * 1.0
        kept = xs.array.copy()
        given = []

        def again():
            given.append(recompute_of(xs))
            return given[-1]
        outs, state = checkpoint_sequence(lambda xt, s: (F.linear(s[0], w, xt).tanh(),), xs,
                                          (_x((2, 3), seed=2),), 4, again)
        tg.stack(outs).sum().backward()
        return base.grad.numpy(), given[0], xs.array, kept

    fresh = run(lambda xs: xs.array.copy())
    np.testing.assert_array_equal(fresh[1], fresh[0])  # the recomputed array now holds the gradient
    for same in (lambda xs: xs.array, lambda xs: xs.array[:]):  # the input, and a view of it
        grad, _, data, kept = run(same)
        np.testing.assert_array_equal(data, kept)
        np.testing.assert_array_equal(grad, fresh[0])


def test_a_recomputed_input_that_a_weight_product_still_reads_is_not_written_over():
    """A step whose input meets a weight in a product (x W_inᵀ): that product waits in its leaf's
    sum, holding the input's rows, after the segment is done — so the gradient must not go over
    the recomputed array there. Gradients equal the plain loop's to the bit."""
    w_in, w = _x((3, 4), seed=5), _x((3, 3), seed=4)

    def step(x, s):
        return ((F.linear(x, w_in) + F.linear(s[0], w)).tanh(),)

    def run(every):
        w_in.grad = w.grad = None
        base = _x((9, 2, 4), seed=12)
        xs = base * 2.0
        h0 = _x((2, 3), seed=2)
        if every is None:
            state, outs = (h0,), []
            for x in xs.unbind(0):
                state = step(x, state)
                outs.append(state[0])
        else:
            outs, state = checkpoint_sequence(step, xs, (h0,), every,
                                              lambda: base.array * np.float64(2.0))
        tg.stack(outs).sum().backward()
        return w_in.grad.numpy(), w.grad.numpy(), base.grad.numpy()

    plain = run(None)
    for every in (2, 4):
        for a, b in zip(plain, run(every)):
            assert np.array_equal(a, b), (every, np.abs(a - b).max())


def test_checkpoint_sequence_rejects_bad_arguments():
    step = lambda x, s: (x + s[0],)  # noqa: E731
    with pytest.raises(ValueError, match="every must be a positive int, got 0"):
        checkpoint_sequence(step, [_x((2,))], (_x((2,)),), 0)
    with pytest.raises(ValueError, match="no inputs"):
        checkpoint_sequence(step, [], (_x((2,)),), 2)
    with pytest.raises(ValueError, match="inputs is a 0-d Tensor"):
        checkpoint_sequence(step, _x(()), (_x((2,)),), 2)
    with pytest.raises(TypeError, match="state entry 0 is a ndarray"):
        checkpoint_sequence(step, [_x((2,))], (np.zeros(2),), 2)


def test_checkpoint_refuses_create_graph_and_autograd_grad():
    x = _x((3,))
    y = checkpoint(lambda a: (a * a).tanh(), x).sum()
    with pytest.raises(RuntimeError, match="checkpointing is not compatible with create_graph"):
        tg.autograd.grad(y, x, retain_graph=True)
    with pytest.raises(RuntimeError, match="checkpointing is not compatible with create_graph"):
        y.backward(create_graph=True)
