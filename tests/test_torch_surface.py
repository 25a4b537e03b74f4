"""The torch surface real recurrent programs use (issue 19): PyTorch's names and semantics for
``.data``/``.grad``, devices, dtype names, factories and the Tensor methods seq2seq and
character-level programs call — checked against live PyTorch where it is installed."""
from __future__ import annotations

import copy

import re

import numpy as np
import pytest

import tinygrad_rnn as tg


def _torch():
    return pytest.importorskip("torch")


# ---------------------------------------------------------------- .data and .grad

def test_data_is_a_detached_tensor_sharing_memory_and_grad_is_a_tensor():
    p = tg.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    (p * p).sum().backward()
    d = p.data
    assert isinstance(d, tg.Tensor) and not d.requires_grad and d.node is None
    assert isinstance(p.grad, tg.Tensor) and not p.grad.requires_grad
    p.data.add_(p.grad, alpha=-0.5)  # the hand-written SGD step of word_language_model
    np.testing.assert_array_equal(p.numpy(), [0.0, 0.0, 0.0])
    assert p.requires_grad and p.is_leaf
    v, i = p.data.topk(1)
    assert i.dtype == np.int64 and v.shape == (1,)


def test_hand_written_sgd_on_data_matches_pytorch():
    torch = _torch()
    w0 = np.linspace(-1, 1, 6).reshape(2, 3)

    def run(lib):
        w = lib.tensor(w0.copy(), requires_grad=True)
        x = lib.tensor(np.arange(3.0))
        for _ in range(3):
            loss = ((w @ x).tanh() ** 2).sum()
            if w.grad is not None:
                w.grad.zero_()
            loss.backward()
            w.data.add_(w.grad, alpha=-0.1)
        return w.detach().numpy(), loss.item()

    (a, la), (b, lb) = run(tg), run(torch)
    np.testing.assert_allclose(a, b, rtol=1e-13)
    assert abs(la - lb) < 1e-13


def test_assigning_grad_checks_type_and_shape():
    p = tg.tensor(np.zeros(3), requires_grad=True)
    with pytest.raises(TypeError, match="Tensor or None"):
        p.grad = np.ones(3)
    with pytest.raises(RuntimeError, match=r"shape \(2,\)"):
        p.grad = tg.tensor(np.ones(2))
    p.grad = tg.tensor(np.ones(3))
    assert p.grad.shape == (3,)


def test_assigning_data_replaces_the_array():
    p = tg.tensor(np.zeros(2), requires_grad=True)
    p.data = tg.tensor(np.array([1.0, 2.0]))
    np.testing.assert_array_equal(p.numpy(), [1, 2])
    with pytest.raises(TypeError, match="requires grad"):
        p.data = np.array([1, 2])


# ---------------------------------------------------------------- devices and dtypes

def test_the_device_idiom_of_the_tutorials_picks_the_cpu():
    dev = tg.device("cuda" if tg.cuda.is_available() else "cpu")
    assert str(dev) == "cpu" and dev == "cpu" and dev.type == "cpu"
    x = tg.zeros(2, 3, device=dev)
    assert x.device == dev and x.to(dev) is x and not x.is_cuda
    assert tg.get_default_device() == "cpu"
    assert repr(tg.device("cuda:1")) == "device(type='cuda', index=1)"


@pytest.mark.parametrize("call", [
    lambda: tg.zeros(2, device="cuda"),
    lambda: tg.tensor([1.0]).to("cuda"),
    lambda: tg.tensor([1.0]).cuda(),
    lambda: tg.nn.Linear(2, 2).cuda(),
    lambda: tg.nn.LSTM(2, 2).to(tg.device("cuda", 0)),
    lambda: tg.set_default_device("cuda"),
])
def test_asking_for_cuda_is_a_clear_error(call):
    with pytest.raises(tg.DeviceError, match="CPU only"):
        call()


def test_a_bad_device_string_is_rejected_as_pytorch_does():
    with pytest.raises(RuntimeError, match="device type"):
        tg.device("gpu")


def test_dtype_names_are_pytorchs():
    torch = _torch()
    for name in ("float", "double", "half", "long", "int", "short", "bool", "float32", "float64",
                 "int64", "int32", "uint8", "int8", "int16", "float16"):
        ours, theirs = getattr(tg, name), getattr(torch, name)
        assert np.dtype(ours) == torch.empty(0, dtype=theirs).numpy().dtype, name
    assert tg.tensor([1, 2], dtype=tg.long).dtype == tg.int64
    assert tg.zeros(2, dtype=tg.double).dtype == np.float64


def test_set_default_dtype_changes_float_factories_and_python_floats():
    torch = _torch()
    try:
        tg.set_default_dtype(tg.float64)
        torch.set_default_dtype(torch.float64)
        for ours, theirs in [(tg.zeros(2), torch.zeros(2)), (tg.tensor([1.5]), torch.tensor([1.5])),
                             (tg.arange(0, 1, 0.5), torch.arange(0, 1, 0.5)),
                             (tg.tensor([1, 2]) / 2, torch.tensor([1, 2]) / 2)]:
            assert ours.dtype == theirs.numpy().dtype
        assert tg.get_default_dtype() == np.float64
    finally:
        tg.set_default_dtype(tg.float32)
        torch.set_default_dtype(torch.float32)
    assert tg.zeros(1).dtype == np.float32
    with pytest.raises(TypeError, match="floating-point"):
        tg.set_default_dtype(tg.int64)


def test_type_names_and_type_as():
    torch = _torch()
    for dt, tdt in [(tg.float32, torch.float32), (tg.int64, torch.int64), (tg.float64, torch.float64)]:
        assert tg.zeros(1, dtype=dt).type() == torch.zeros(1, dtype=tdt).type()
    assert tg.zeros(2).type_as(tg.zeros(1, dtype=tg.float64)).dtype == np.float64


# ---------------------------------------------------------------- factories

def test_factories_match_pytorch_shapes_dtypes_and_values():
    torch = _torch()
    pairs = [
        (tg.full((2, 3), 7), torch.full((2, 3), 7)),
        (tg.full((2,), 1.5), torch.full((2,), 1.5)),
        (tg.full((2,), True), torch.full((2,), True)),
        (tg.empty(2, 3).shape, tuple(torch.empty(2, 3).shape)),
        (tg.arange(5), torch.arange(5)), (tg.arange(1, 7, 2), torch.arange(1, 7, 2)),
        (tg.arange(0.0, 1.0, 0.25), torch.arange(0.0, 1.0, 0.25)),
        (tg.linspace(0, 1, 5), torch.linspace(0, 1, 5)), (tg.eye(3), torch.eye(3)),
        (tg.zeros_like(tg.ones(2, dtype=tg.long)), torch.zeros_like(torch.ones(2, dtype=torch.long))),
        (tg.full_like(tg.ones(2), 3.0), torch.full_like(torch.ones(2), 3.0)),
        (tg.ones(2, 3).new_zeros(4), torch.ones(2, 3).new_zeros(4)),
        (tg.ones(2, dtype=tg.long).new_ones((2, 2)), torch.ones(2, dtype=torch.long).new_ones((2, 2))),
        (tg.ones(2).new_full((3,), 2.5), torch.ones(2).new_full((3,), 2.5)),
        (tg.ones(2).new_tensor([1, 2]), torch.ones(2).new_tensor([1, 2])),
    ]
    for ours, theirs in pairs:
        if isinstance(ours, tuple):
            assert ours == theirs
            continue
        assert ours.dtype == theirs.numpy().dtype and ours.shape == tuple(theirs.shape)
        np.testing.assert_allclose(ours.numpy(), theirs.numpy())


def test_randint_and_multinomial_draw_within_range():
    tg.manual_seed(0)
    r = tg.randint(3, 8, (100,))
    assert r.dtype == np.int64 and r.numpy().min() >= 3 and r.numpy().max() < 8
    p = tg.tensor([0.0, 1.0, 0.0, 3.0])
    draws = tg.multinomial(p, 50, replacement=True).numpy()
    assert set(draws) <= {1, 3} and (draws == 3).sum() > (draws == 1).sum()
    assert sorted(tg.multinomial(p, 2).numpy()) == [1, 3]
    with pytest.raises(ValueError, match="without replacement"):
        tg.multinomial(p, 3)


# ---------------------------------------------------------------- Tensor methods vs PyTorch

def _compare(fn, *arrays, rtol=1e-12):
    """fn(lib, *tensors) -> (out or tuple); compares values, and gradients of every input."""
    torch = _torch()
    results = []
    for lib in (tg, torch):
        ts = [lib.tensor(a, requires_grad=True) for a in arrays]
        out = fn(lib, *ts)
        outs = out if isinstance(out, tuple) else (out,)
        values = [o.detach().numpy() for o in outs]
        floats = [o for o in outs if o.dtype in (np.float64, torch.float64)]
        total = sum((o * o).sum() for o in floats)  # a tensor used twice in the loss
        total.backward()
        results.append((values, [t.grad.numpy() if t.grad is not None else None for t in ts]))
    (v1, g1), (v2, g2) = results
    for a, b in zip(v1, v2):
        np.testing.assert_allclose(a, b, rtol=rtol)
    for a, b in zip(g1, g2):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=rtol)


RNG = np.random.default_rng(3)


@pytest.mark.parametrize("name,fn,shapes", [
    ("topk", lambda L, x: x.topk(2), [(3, 5)]),
    ("topk smallest dim0", lambda L, x: x.topk(2, dim=0, largest=False), [(3, 5)]),
    ("topk 1-d k=1", lambda L, x: x.topk(1), [(4,)]),
    ("sort", lambda L, x: x.sort(dim=1, descending=True), [(2, 4)]),
    ("narrow", lambda L, x: x.narrow(1, 1, 2), [(3, 4)]),
    ("narrow negative start", lambda L, x: x.narrow(0, -2, 2), [(3, 4)]),
    ("bmm", lambda L, a, b: a.bmm(b), [(2, 3, 4), (2, 4, 5)]),
    ("torch.bmm", lambda L, a, b: L.bmm(a, b), [(2, 1, 4), (2, 4, 3)]),
    ("baddbmm", lambda L, c, a, b: L.baddbmm(c, a, b, beta=0.5, alpha=2.0), [(2, 3, 5), (2, 3, 4), (2, 4, 5)]),
    ("baddbmm broadcast", lambda L, c, a, b: c.baddbmm(a, b), [(3, 5), (2, 3, 4), (2, 4, 5)]),
    ("addmm", lambda L, c, a, b: L.addmm(c, a, b, alpha=0.3), [(5,), (3, 4), (4, 5)]),
    ("mm", lambda L, a, b: L.mm(a, b), [(3, 4), (4, 2)]),
    ("repeat", lambda L, x: x.repeat(2, 1, 3), [(2, 3)]),
    ("index_select", lambda L, x: x.index_select(1, L.tensor([2, 0, 2])), [(3, 4)]),
    ("view_as/expand_as", lambda L, x, y: x.view_as(y) + x.reshape(6, 1).expand_as(L.ones(6, 2)).sum(1).view_as(y), [(2, 3), (3, 2)]),
    ("pow/square/rsqrt", lambda L, x: x.abs().add(1).pow(1.5) + x.square() + (x * x + 1).rsqrt(), [(2, 3)]),
    ("add/sub alpha", lambda L, x, y: x.add(y, alpha=2) - x.sub(y, alpha=0.5), [(2, 3), (3,)]),
    ("masked_fill", lambda L, x: x.masked_fill(x > 0, -1.0), [(2, 3)]),
    ("functions", lambda L, x: L.exp(L.tanh(x)).sum() + L.sigmoid(x).mean() + L.softmax(x, 1).max(), [(2, 3)]),
    ("0-d pow", lambda L, x: x.pow(3), [()]),
    ("sin/cos (positional encodings)", lambda L, x: L.sin(x) * L.cos(x * 2) + x.sin().cos(), [(3, 4)]),
    ("0-d sin", lambda L, x: L.sin(x) + L.cos(x), [()]),
    ("tril/triu", lambda L, x: L.tril(x) * 2 + x.triu(1) + L.tril(x, -1) + x.triu(diagonal=-1), [(2, 3, 4)]),
])
def test_tensor_methods_match_live_pytorch(name, fn, shapes):
    _compare(fn, *[RNG.standard_normal(s) for s in shapes])


def test_topk_bad_k_and_bmm_bad_shapes_name_the_op():
    with pytest.raises(ValueError, match=r"topk: k \(6\).*size 5"):
        tg.ones(2, 5).topk(6)
    with pytest.raises(ValueError, match=r"bmm: .*\(2, 3, 4\) and \(3, 4, 5\)"):
        tg.ones(2, 3, 4).bmm(tg.ones(3, 4, 5))
    with pytest.raises(IndexError, match="narrow: start 3 and length 2"):
        tg.ones(2, 4).narrow(1, 3, 2)


def test_state_dict_deepcopy_and_flatten_parameters():
    lstm = tg.nn.LSTM(2, 3, num_layers=2)
    lstm.flatten_parameters()  # cuDNN's weight packing: nothing to do, but programs call it
    best = copy.deepcopy(lstm.state_dict())
    with tg.no_grad():
        for p in lstm.parameters():
            p.zero_()
    lstm.load_state_dict(best)
    assert all(np.abs(p.numpy()).sum() > 0 for p in lstm.parameters())


def test_star_import_and_module_attributes_as_torch_programs_use_them():
    assert tg.nn.Linear and tg.optim.SGD and tg.nn.functional.relu and tg.cuda.device_count() == 0
    with tg.set_grad_enabled(False):
        assert not tg.is_grad_enabled()
    assert tg.is_grad_enabled()
    assert tg.is_tensor(tg.ones(1)) and not tg.is_tensor(np.ones(1))


def test_a_tensor_method_this_engine_lacks_is_a_missing_torch_api_with_the_nearest_names():
    from tinygrad_rnn.errors import MissingTorchAttribute, missing_tensor_attribute

    x = tg.ones(2)
    with pytest.raises(AttributeError) as info:  # Python's own, which suggests "sin" itself
        x.sinh()
    assert not hasattr(x, "sinh") and getattr(x, "sinh", 5) == 5
    missing = missing_tensor_attribute(info.value)  # what `run` reports
    assert isinstance(missing, MissingTorchAttribute) and isinstance(missing, NotImplementedError)
    assert re.search(r"Tensor.sinh is not available.*nearest: .*sin", str(missing))
    try:
        tg.nn.Parameter(tg.ones(2)).sinh()
    except AttributeError as err:  # a Parameter is a Tensor too
        assert "Tensor.sinh is not available" in str(missing_tensor_attribute(err))
    try:
        object().sinh
    except AttributeError as err:  # not a Tensor: not a missing torch API
        assert missing_tensor_attribute(err) is None


def test_a_tensor_has_no_getattr_hook_so_attribute_reads_stay_fast():
    """CPython 3.11 turns off its attribute-read fast path for classes with __getattr__."""
    assert "__getattr__" not in vars(tg.Tensor)
