"""tg.jit: a captured and replayed step gives the eager step's losses, gradients and parameters
bit for bit; it captures again when it must, and refuses, naming the line, what it cannot
replay."""
from __future__ import annotations

import re

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import nn, optim
from tinygrad_rnn.jit import CaptureError
from tinygrad_rnn.nn import functional as F
from tinygrad_rnn.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

I, H, C = 3, 5, 4  # input features, hidden size, classes


class Model(nn.Module):
    """A recurrent layer and a linear head; ``packed`` runs it on a packed batch."""

    def __init__(self, kind, packed=False, **kwargs):
        super().__init__()
        layer = {"rnn": nn.RNN, "rnn_relu": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[kind]
        if kind == "rnn_relu":
            kwargs["nonlinearity"] = "relu"
        self.rnn = layer(I, H, **kwargs)
        D = 2 if kwargs.get("bidirectional") else 1
        self.head = nn.Linear(D * H, C)
        self.packed = packed

    def forward(self, x, lengths=None):
        if self.packed:
            out, _ = self.rnn(pack_padded_sequence(x, lengths, enforce_sorted=False))
            out, _ = pad_packed_sequence(out)
        else:
            out, _ = self.rnn(x)
        return self.head(out)


def loss_fn(model):
    def loss(x, y, lengths=None):
        logits = model(x, lengths)
        return F.cross_entropy(logits.reshape(-1, C), y.reshape(-1))
    return loss


def twins(kind, seed=0, **kwargs):
    """Two models with the same weights: one for eager steps, one for jitted steps."""
    tg.manual_seed(seed)
    a = Model(kind, **kwargs)
    tg.manual_seed(seed)
    b = Model(kind, **kwargs)
    return a, b


def batch(rng, T=4, B=3):
    x = tg.Tensor(rng.standard_normal((T, B, I)).astype(np.float32))
    y = tg.Tensor(rng.integers(0, C, (T, B)))
    return x, y


def eager_step(model, opt, args, set_to_none=True):
    opt.zero_grad(set_to_none=set_to_none)
    loss = loss_fn(model)(*args)
    loss.backward()
    opt.step()
    return loss.numpy().copy()


def jit_step(step, opt, args, set_to_none=True):
    opt.zero_grad(set_to_none=set_to_none)
    loss = step(*args)
    opt.step()
    return loss.numpy().copy()


def assert_same(a, b):
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        assert np.array_equal(p.numpy(), q.numpy()), name
        if p.grad is None:
            assert q.grad is None, name
        else:
            assert np.array_equal(p.grad.numpy(), q.grad.numpy()), name


OPTIMIZERS = [("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)), ("Adam", dict(lr=0.01)),
              ("AdamW", dict(lr=0.01, amsgrad=True)), ("RMSprop", dict(lr=0.01, centered=True)),
              ("Adagrad", dict(lr=0.1))]
MODELS = [("rnn", {}), ("rnn_relu", {}), ("lstm", {}), ("gru", {}),
          ("lstm", dict(num_layers=2, bidirectional=True)),
          ("gru", dict(batch_first=True)),
          ("lstm", dict(packed=True)), ("gru", dict(packed=True, bidirectional=True)),
          ("rnn", dict(packed=True, num_layers=2))]


def _args(rng, kind, kwargs, T=4, B=3):
    x, y = batch(rng, T, B)
    if kwargs.get("batch_first"):
        x = tg.Tensor(x.numpy().transpose(1, 0, 2).copy())
        y = tg.Tensor(y.numpy().T.copy())
    if kwargs.get("packed"):
        return x, y, [T, T - 2, T - 1][:B]
    return x, y


@pytest.mark.parametrize("kind, kwargs", MODELS, ids=[f"{k}-{'-'.join(a) or 'plain'}"
                                                      for k, a in MODELS])
@pytest.mark.parametrize("opt_name, opt_kwargs", OPTIMIZERS, ids=[o for o, _ in OPTIMIZERS])
def test_replay_equals_eager_bit_for_bit_over_several_steps(kind, kwargs, opt_name, opt_kwargs):
    eager, jitted = twins(kind, **kwargs)
    opt_e = getattr(optim, opt_name)(eager.parameters(), max_grad_norm=1.0, **opt_kwargs)
    opt_j = getattr(optim, opt_name)(jitted.parameters(), max_grad_norm=1.0, **opt_kwargs)
    step = tg.jit(loss_fn(jitted))
    rng = np.random.default_rng(1)
    for i in range(4):
        args = _args(rng, kind, kwargs)  # new data at every step (new targets: a new record)
        set_to_none = i % 2 == 0  # zero_grad both ways: grads None, or zeros in place
        le = eager_step(eager, opt_e, args, set_to_none)
        lj = jit_step(step, opt_j, args, set_to_none)
        assert np.array_equal(le, lj), i
        assert_same(eager, jitted)
    assert step.replays >= 0 and step.captures >= 1


@pytest.mark.parametrize("norms", [False, True])
def test_replay_equals_eager_with_and_without_a_backward_hook(norms):
    """With a backward hook (per-node gradient norms for the renderer) the engine sums a
    weight's products node by node, without it as one product: the replay follows each."""
    eager, jitted = twins("lstm", num_layers=2)
    step = tg.jit(loss_fn(jitted))
    rng = np.random.default_rng(12)
    _, y = batch(rng)
    with tg.track_grad_norms(norms):
        for _ in range(3):
            x, _ = batch(rng)
            eager.zero_grad(), jitted.zero_grad()
            le = loss_fn(eager)(x, y)
            le.backward()
            assert np.array_equal(le.numpy(), step(x, y).numpy())
            assert_same(eager, jitted)
    assert step.replays == 2
    with tg.track_grad_norms(not norms):  # switching captures again
        step(x, y)
    assert step.captures == 2


def test_a_replay_runs_when_only_float_data_changes():
    eager, jitted = twins("lstm")
    opt_e, opt_j = optim.Adam(eager.parameters(), lr=0.01), optim.Adam(jitted.parameters(), lr=0.01)
    step = tg.jit(loss_fn(jitted))
    rng = np.random.default_rng(2)
    _, y = batch(rng)
    for _ in range(5):
        x, _ = batch(rng)
        assert np.array_equal(eager_step(eager, opt_e, (x, y)), jit_step(step, opt_j, (x, y)))
        assert_same(eager, jitted)
    assert (step.captures, step.replays) == (1, 4)


def test_new_shapes_capture_again_and_old_ones_replay_from_the_cache():
    eager, jitted = twins("gru")
    opt_e, opt_j = optim.SGD(eager.parameters(), lr=0.1), optim.SGD(jitted.parameters(), lr=0.1)
    step = tg.jit(loss_fn(jitted))
    rng = np.random.default_rng(3)
    shapes = [(4, 3), (6, 2), (4, 3), (6, 2), (4, 3)]
    ys = {s: batch(rng, *s)[1] for s in set(shapes)}
    for s in shapes:
        x = batch(rng, *s)[0]
        assert np.array_equal(eager_step(eager, opt_e, (x, ys[s])),
                              jit_step(step, opt_j, (x, ys[s])))
        assert_same(eager, jitted)
    assert (step.captures, step.replays) == (2, 3)


# ---------------------------------------------------------------- integer inputs

V, E = 7, 4  # a character language model: vocabulary, embedding size


class CharLM(nn.Module):
    """Token ids (T, B) through nn.Embedding (padding row 0) or F.one_hot, or one-hot floats
    (T, B, V) made outside, into an LSTM and a linear head over the vocabulary."""

    def __init__(self, embed="embedding"):
        super().__init__()
        self.embed = nn.Embedding(V, E, padding_idx=0) if embed == "embedding" else None
        self.one_hot = embed == "one_hot_in_step"
        self.rnn = nn.LSTM(E if self.embed else V, H)
        self.head = nn.Linear(H, V)

    def forward(self, x):
        if self.embed:
            x = self.embed(x)
        elif self.one_hot:
            x = F.one_hot(x, V).float()
        out, _ = self.rnn(x)
        return self.head(out)


def lm_twins(seed=0, **kwargs):
    tg.manual_seed(seed)
    a = CharLM(**kwargs)
    tg.manual_seed(seed)
    return a, CharLM(**kwargs)


def lm_loss(model, **ce):
    def loss(x, y):
        return F.cross_entropy(model(x).reshape(-1, V), y.reshape(-1), **ce)
    return loss


def run_twins(eager, jitted, step_fn, batches, opt="Adam"):
    """The same batches through an eager step and a jitted one, an optimizer step after each:
    every loss, gradient and parameter equal bit for bit. Returns the Jit."""
    opt_e = getattr(optim, opt)(eager.parameters(), lr=0.05)
    opt_j = getattr(optim, opt)(jitted.parameters(), lr=0.05)
    step = tg.jit(step_fn(jitted))
    for i, args in enumerate(batches):
        opt_e.zero_grad()
        loss = step_fn(eager)(*args)
        loss.backward()
        opt_e.step()
        opt_j.zero_grad()
        lj = step(*args)
        opt_j.step()
        assert np.array_equal(loss.numpy(), lj.numpy(), equal_nan=True), i
        assert_same(eager, jitted)
    return step


def lm_batches(rng, n, T=5, B=3, embed="embedding", dtype=np.int64):
    out = []
    for _ in range(n):
        ids = rng.integers(0, V, (T + 1, B))  # some 0s: the padding row is hit
        x = tg.tensor(np.eye(V, dtype=np.float32)[ids[:-1]]) if embed == "one_hot" else \
            tg.tensor(ids[:-1])
        out.append((x, tg.tensor(ids[1:].astype(dtype))))
    return out


@pytest.mark.parametrize("embed", ["embedding", "one_hot", "one_hot_in_step"])
def test_a_char_lm_replays_when_only_the_targets_and_token_ids_change(embed):
    rng = np.random.default_rng(5)
    batches = lm_batches(rng, 5, embed=embed)
    assert len({y.numpy().tobytes() for _, y in batches}) == 5  # new targets at every step
    step = run_twins(*lm_twins(embed=embed), lm_loss, batches)
    assert (step.captures, step.replays) == (1, 4) and step.static_inputs == ()
    assert "x1" in step.source and "nll_loss" in step.source  # the targets: a replay variable


def test_ignored_targets_class_weights_and_label_smoothing_replay():
    rng = np.random.default_rng(6)
    weight = tg.tensor(rng.uniform(0.5, 2.0, V).astype(np.float32))
    batches = lm_batches(rng, 4)
    batches = [(x, tg.tensor(np.where(rng.random(y.shape) < 0.3, -1, y.numpy())))
               for x, y in batches]
    batches.append((batches[0][0], tg.tensor(np.full(batches[0][1].shape, -1))))  # all ignored
    assert all((y.numpy() == -1).any() for _, y in batches)
    for ce in (dict(weight=weight, ignore_index=-1),
               dict(weight=weight, ignore_index=-1, label_smoothing=0.2, reduction="sum")):
        step = run_twins(*lm_twins(), lambda m: lm_loss(m, **ce), batches, opt="SGD")
        assert (step.captures, step.replays) == (1, 4)


def test_a_target_of_another_dtype_captures_again():
    rng = np.random.default_rng(7)
    batches = lm_batches(rng, 2) + lm_batches(rng, 2, dtype=np.int32)
    step = run_twins(*lm_twins(), lm_loss, batches)
    assert (step.captures, step.replays) == (2, 2)


def test_lengths_read_in_python_become_static_and_only_they():
    eager, jitted = twins("lstm", packed=True)
    rng = np.random.default_rng(8)
    short, long = tg.tensor(np.array([4, 2, 3])), tg.tensor(np.array([3, 4, 1]))
    batches = [(*batch(rng), lengths) for lengths in (short, short, long, short, long)]
    step = run_twins(eager, jitted, loss_fn, batches)
    # the first call finds that pack_padded_sequence reads the lengths and captures again;
    # the targets (position 1) stay variables although they change at every call
    assert step.static_inputs == (2,)
    assert (step.captures, step.replays) == (2, 3)


def test_a_value_read_from_a_target_makes_it_static():
    def step_fn(model):
        def loss(x, y):
            counts = np.bincount(y.reshape(-1).tolist(), minlength=C)  # values, in Python
            return F.cross_entropy(model(x), y) * float(counts.max())
        return loss
    rng = np.random.default_rng(9)
    y1, y2 = tg.tensor(rng.integers(0, C, 6)), tg.tensor(rng.integers(0, C, 6))
    xs = [tg.tensor(rng.standard_normal((6, I)).astype(np.float32)) for _ in range(4)]
    tg.manual_seed(0)
    eager = nn.Linear(I, C)
    tg.manual_seed(0)
    jitted = nn.Linear(I, C)
    step = run_twins(eager, jitted, step_fn, [(xs[0], y1), (xs[1], y1), (xs[2], y2),
                                              (xs[3], y1)])
    assert step.static_inputs == (1,) and (step.captures, step.replays) == (2, 2)
    assert type(y1) is tg.Tensor and type(y2) is tg.Tensor  # traced while capturing, not after
    step.reset()
    assert step.static_inputs == ()


def test_a_read_of_a_float_computed_from_an_integer_input_is_still_refused():
    emb = nn.Embedding(V, E)

    def fn(ids):
        h = emb(ids)
        if h.sum() > 0:  # depends on the weights: no static input can make this honest
            h = h * 2
        return h.sum()
    step = tg.jit(fn)
    with pytest.raises(CaptureError, match="comparing") as info:
        step(tg.tensor(np.array([1, 2, 3])))
    assert "if h.sum() > 0:" in str(info.value) and step.static_inputs == (0,)


def test_index_tensors_and_boolean_masks_are_replay_variables():
    def step_fn(model):
        def loss(x, idx, cols, mask):
            h = model(x)  # (6, C)
            picked = (h[idx] + h.index_select(0, idx)).sum() + h.gather(1, cols).sum()
            kept = tg.where(mask, h, h * 0.5).sum() + h.masked_fill(mask, 0.0).pow(2).sum()
            return picked.pow(2) + kept
        return loss
    rng = np.random.default_rng(10)
    batches = [(tg.tensor(rng.standard_normal((6, I)).astype(np.float32)),
                tg.tensor(rng.integers(0, 6, 4)), tg.tensor(rng.integers(0, C, (6, 2))),
                tg.tensor(rng.random((6, C)) < 0.5))
               for _ in range(4)]
    tg.manual_seed(0)
    eager = nn.Linear(I, C)
    tg.manual_seed(0)
    step = run_twins(eager, nn.Linear(I, C), step_fn, batches)
    assert (step.captures, step.replays) == (1, 3) and step.static_inputs == ()


def test_parameters_are_read_at_every_replay_even_when_reassigned():
    eager, jitted = twins("lstm")
    step = tg.jit(loss_fn(jitted))
    x, y = batch(np.random.default_rng(5))
    step(x, y)
    for m in (eager, jitted):  # replace the array behind a parameter, as p.data = ... does
        m.head.weight.data = np.full((C, H), 0.25, np.float32)
        m.zero_grad()
    le = loss_fn(eager)(x, y)
    le.backward()
    lj = step(x, y)
    assert step.replays == 1 and np.array_equal(le.numpy(), lj.numpy())
    assert_same(eager, jitted)


def test_a_parameter_of_another_shape_or_frozen_captures_again():
    _, model = twins("rnn")
    step = tg.jit(loss_fn(model))
    x, y = batch(np.random.default_rng(6))
    step(x, y)
    model.rnn.weight_hh_l0.requires_grad_(False)
    model.zero_grad()
    step(x, y)
    assert step.captures == 2 and model.rnn.weight_hh_l0.grad is None
    assert model.rnn.weight_ih_l0.grad is not None


def test_an_input_that_requires_grad_gets_its_gradient():
    w = tg.Tensor(np.array([1.0, -2.0, 0.5], np.float32), requires_grad=True)
    step = tg.jit(lambda x: ((x * w).tanh() * x).sum())
    for k in range(3):
        x = tg.Tensor(np.array([0.3, 0.1, -0.7], np.float32) * (k + 1), requires_grad=True)
        w.grad = None
        step(x)
        ge = [np.asarray(w.grad).copy(), np.asarray(x.grad).copy()]
        w.grad = None
        x2 = tg.Tensor(x.numpy(), requires_grad=True)
        ((x2 * w).tanh() * x2).sum().backward()
        assert np.array_equal(ge[0], np.asarray(w.grad))
        assert np.array_equal(ge[1], np.asarray(x2.grad))
    assert step.replays == 2


def test_detach_inside_the_step_is_replayed_truncated_bptt():
    eager, jitted = twins("lstm")

    def tbptt(model):
        def loss(x, y):
            out1, (h, c) = model.rnn(x[:2])
            out2, _ = model.rnn(x[2:], (h.detach(), c.detach()))
            return F.cross_entropy(model.head(tg.cat([out1, out2], 0)).reshape(-1, C),
                                   y.reshape(-1))
        return loss
    step = tg.jit(tbptt(jitted))
    rng = np.random.default_rng(7)
    _, y = batch(rng)
    for _ in range(3):
        x, _ = batch(rng)
        eager.zero_grad(), jitted.zero_grad()
        le = tbptt(eager)(x, y)
        le.backward()
        assert np.array_equal(le.numpy(), step(x, y).numpy())
        assert_same(eager, jitted)
    assert step.replays == 2


def test_the_replay_is_flat_code_without_unused_ops():
    _, model = twins("lstm")
    step = tg.jit(loss_fn(model))
    step(*batch(np.random.default_rng(8)))
    assert step.source.startswith("def replay(")
    assert "linear(" in step.source and "linear_vjp(" in step.source
    # three stacks ran eagerly: the output, h_n and c_n; the loss reads only the output
    assert step.source.count(" = stack(") == 1
    assert "Node" not in step.source and "Tensor" not in step.source


def test_the_captured_step_draws_as_the_eager_one():
    viz = pytest.importorskip("tinygrad_rnn.viz")
    eager, jitted = twins("gru")
    args = batch(np.random.default_rng(9))
    le = loss_fn(eager)(*args)
    le.backward()
    step = tg.jit(loss_fn(jitted))
    step(*args)

    def canonical(loss, model):
        src = viz.draw_graph(loss, params=dict(model.named_parameters())).source
        names = {}
        return re.sub(r"(?<![A-Za-z])n\d+", lambda m: names.setdefault(m.group(), f"n{len(names)}"), src)
    assert canonical(le, eager) == canonical(step.captured_loss, jitted)


def test_no_grad_and_keep_values_run_the_step_eagerly():
    _, model = twins("rnn")
    step = tg.jit(loss_fn(model))
    args = batch(np.random.default_rng(10))
    with tg.no_grad():
        loss = step(*args)
    assert model.head.weight.grad is None and step.captures == 0
    with tg.keep_values():
        assert np.array_equal(step(*args).numpy(), loss.numpy())
    assert model.head.weight.grad is not None and step.captures == 0


# ---------------------------------------------------------------- what a capture refuses

def _refused(fn, *args, match):
    step = tg.jit(fn)
    with pytest.raises(CaptureError, match=match) as info:
        step(*args)
    return str(info.value)


w = tg.Tensor(np.array([0.5, -1.0, 2.0], np.float32), requires_grad=True)
X = tg.Tensor(np.array([1.0, 2.0, 3.0], np.float32))


def test_a_python_branch_on_a_value_is_refused_naming_the_line():
    def fn(x):
        loss = (x * w).sum()
        if loss > 0:  # the branch taken would be baked in
            loss = loss * 2
        return loss
    msg = _refused(fn, X, match="comparing")
    assert "test_jit.py" in msg and "if loss > 0:" in msg


@pytest.mark.parametrize("read, what", [
    (lambda t: float(t.sum()), "float"), (lambda t: t.sum().item(), "item"),
    (lambda t: t.numpy(), "numpy"), (lambda t: np.asarray(t), "numpy array"),
    (lambda t: t.tolist(), "tolist"), (lambda t: [1, 2, 3][t.sum()], "index"),
    (lambda t: bool(t.sum()), "bool"), (lambda t: t.sum().long(), "astype"),
    (lambda t: int(t.sum()), "int"), (lambda t: t.array + 1, "values"),
    (lambda t: t.to(tg.int64), "astype")])
def test_reading_a_traced_value_is_refused(read, what):
    def fn(x):
        y = x * w
        read(y)
        return y.sum()
    msg = _refused(fn, X, match=what)
    assert "test_jit.py:" in msg and "lambda t:" in msg  # the line of the read


def test_a_value_read_inside_the_package_names_both_lines():
    def fn(x):
        return F.leaky_relu(x * w).sum()  # leaky_relu compares the values in numpy
    msg = _refused(fn, X, match="functional.py")
    assert "return F.leaky_relu" in msg


def test_dropout_is_refused():
    drop = nn.Dropout(0.5)
    msg = _refused(lambda x: drop(x * w).sum(), X, match="random")
    assert "drop(x * w)" in msg
    drop.eval()
    assert tg.jit(lambda x: drop(x * w).sum())(X).shape == ()
    _refused(lambda x: (x * w)[tg.randint(0, 3, (2,))].sum(), X, match="random")


def test_an_in_place_write_is_refused():
    buf = tg.zeros(3)

    def fn(x):
        with tg.no_grad():
            buf.add_(x)
        return (x * w).sum()
    assert "buf.add_(x)" in _refused(fn, X, match="in-place op")

    def fn2(x):
        with tg.no_grad():
            buf[0] = 1.0
        return (x * w).sum()
    assert "buf[0] = 1.0" in _refused(fn2, X, match="in-place write")


def test_hooks_inside_the_step_are_refused():
    def fn(x):
        y = x * w
        y.register_hook(lambda g: g * 2)
        return y.sum()
    _refused(fn, X, match="register_hook")


def test_a_refused_capture_leaves_no_traced_tensors_behind():
    def fn(x):
        y = x * w
        fn.kept = y
        return float(y.sum())
    _refused(fn, X, match="float")
    assert type(fn.kept) is tg.Tensor and type(X) is tg.Tensor
    assert fn.kept.node.fn is tg.ops.Mul  # the node has its primitive back, not the stand-in
    assert np.array_equal(fn.kept.numpy(), X.numpy() * w.numpy())
    assert tg.get_rng() is not None and tg.randn(2).shape == (2,)


def test_what_a_step_must_return():
    with pytest.raises(CaptureError, match="one-element loss"):
        tg.jit(lambda x: x * w)(X)
    with pytest.raises(CaptureError, match="depends on no parameter"):
        tg.jit(lambda x: x.sum())(X)
    with pytest.raises(TypeError, match="from_numpy"):
        tg.jit(lambda x: (w * 1).sum())(np.ones(3))


def test_the_readme_example_runs(capsys):
    import pathlib
    readme = (pathlib.Path(__file__).resolve().parents[1] / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    loop = next(b for b in blocks if "opt.step()" in b)
    jitted = next(b for b in blocks if "tg.jit(" in b)
    namespace = {}
    for block in (loop, jitted):
        exec(compile(block.replace("range(1000)", "range(3)"), "README.md", "exec"), namespace)
    step = namespace["loss_of"]
    assert (step.captures, step.replays) == (1, 2) and namespace["loss"].item() >= 0


def test_a_replay_holds_no_more_memory_than_the_eager_step():
    """Values and gradients are dropped after their last use, as the eager graph drops them."""
    import tracemalloc
    tg.manual_seed(0)
    lstm, head = nn.LSTM(I, 64), nn.Linear(64, C)  # arrays large enough to outweigh the Nodes

    def fn(x, y):
        return F.cross_entropy(head(lstm(x)[0]).reshape(-1, C), y.reshape(-1))
    step = tg.jit(fn)
    x, y = batch(np.random.default_rng(13), T=24, B=32)
    step(x, y)

    def peak(run):
        lstm.zero_grad(), head.zero_grad()
        tracemalloc.start()
        run()
        used = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return used
    eager = peak(lambda: fn(x, y).backward())
    replay = peak(lambda: step(x, y))
    assert replay <= eager, (replay, eager)
