"""Optimizers and schedulers step by step against PyTorch; clipping; bad input."""
from __future__ import annotations

import math
import pathlib

import numpy as np
import pytest

import optim_cases as C
import tinygrad_rnn as tg
from conftest import fixture_script
from tinygrad_rnn import optim
from tinygrad_rnn.optim import lr_scheduler

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
REF = np.load(FIXTURES / "optim_trajectories.npz")


def our_trajectory(name, kwargs, dtype):
    params, grads = C.make_problem(dtype)
    ps = [tg.Tensor(p.copy(), requires_grad=True) for p in params]
    opt = getattr(optim, name)(ps, max_grad_norm=C.MAX_NORM, **kwargs)
    out, norms = [], []
    for step_grads in grads:
        for p, g in zip(ps, step_grads):
            p.grad = tg.tensor(g)
        opt.step()
        norms.append(opt.last_grad_norm)
        out.append([p.numpy().copy() for p in ps])
        assert opt.last_clipped == (norms[-1] > C.MAX_NORM)
    return out, norms


CASE_IDS = [(i, name, kwargs, dtype) for i, (name, kwargs) in enumerate(C.OPTIMIZERS)
            for dtype in ("float64", "float32")]


@pytest.mark.parametrize("i, name, kwargs, dtype", CASE_IDS,
                         ids=[C.case_name(i, n, d) for i, n, _, d in CASE_IDS])
def test_optimizer_matches_pytorch_step_by_step(i, name, kwargs, dtype):
    traj, norms = our_trajectory(name, kwargs, dtype)
    key = C.case_name(i, name, dtype)
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == "float64" else dict(rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(norms, REF[f"{key}/norms"], **tol)
    for step, params in enumerate(traj):
        assert params[0].dtype == np.dtype(dtype)
        np.testing.assert_allclose(params[0], REF[f"{key}/p0"][step], **tol, err_msg=f"step {step}")
        np.testing.assert_allclose(params[1], REF[f"{key}/p1"][step], **tol, err_msg=f"step {step}")


@pytest.mark.parametrize("name, kwargs", C.OPTIMIZERS[::2])
def test_optimizer_matches_live_pytorch(name, kwargs):
    torch = pytest.importorskip("torch")
    mk = fixture_script("make_optim_fixtures")
    theirs, _ = mk.torch_trajectory(torch, name, kwargs, "float64")
    ours, _ = our_trajectory(name, kwargs, "float64")
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a[0], b[0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name, kwargs", C.SCHEDULERS)
def test_scheduler_matches_pytorch(name, kwargs):
    p = tg.Tensor(np.zeros(1), requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    kw = dict(kwargs)
    if kw.get("lr_lambda") == "warmup":
        kw["lr_lambda"] = C.warmup
    sched = getattr(lr_scheduler, name)(opt, **kw)
    lrs = [sched.get_last_lr()[0]]
    for _ in range(30):
        p.grad = tg.tensor(np.zeros(1))
        opt.step()
        sched.step()
        lrs.append(sched.get_last_lr()[0])
    np.testing.assert_allclose(lrs, REF[f"sched/{name}"], rtol=1e-12, atol=1e-15)
    assert opt.param_groups[0]["lr"] == lrs[-1]


def test_scheduler_state_dict_round_trip():
    p = tg.Tensor(np.zeros(1), requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    sched = lr_scheduler.StepLR(opt, 3, 0.5)
    for _ in range(4):
        sched.step()
    state = sched.state_dict()
    other = lr_scheduler.StepLR(optim.SGD([tg.Tensor(np.zeros(1), requires_grad=True)], lr=0.1), 3)
    other.load_state_dict(state)
    assert other.last_epoch == 4 and other.gamma == 0.5


def test_param_groups_with_their_own_options():
    a = tg.Tensor(np.ones(2), requires_grad=True)
    b = tg.Tensor(np.ones(2), requires_grad=True)
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 1.0}], lr=0.1)
    a.grad, b.grad = tg.tensor(np.ones(2)), tg.tensor(np.ones(2))
    opt.step()
    np.testing.assert_allclose(a.array, 0.9)
    np.testing.assert_allclose(b.array, 0.0)
    opt.zero_grad()
    assert a.grad is None and b.grad is None


def test_parameters_without_grad_are_skipped():
    a = tg.Tensor(np.ones(2), requires_grad=True)
    b = tg.Tensor(np.ones(2), requires_grad=True)
    opt = optim.Adam([a, b], lr=0.1, max_grad_norm=1.0)
    a.grad = tg.tensor(np.ones(2))
    opt.step()
    np.testing.assert_array_equal(b.array, 1.0)
    assert not np.allclose(a.array, 1.0)


def test_optimizer_state_dict_round_trip_continues_identically():
    def run(steps, resume_at=None):
        p = tg.Tensor(np.linspace(-1, 1, 4), requires_grad=True)
        opt = optim.Adam([p], lr=0.1, amsgrad=True)
        for k in range(steps):
            if k == resume_at:
                state = opt.state_dict()
                q = tg.Tensor(p.numpy().copy(), requires_grad=True)
                opt = optim.Adam([q], lr=0.5)
                opt.load_state_dict(state)
                p = q
            p.grad = tg.tensor(np.sin(p.numpy() * (k + 1)))
            opt.step()
        return p.array
    np.testing.assert_array_equal(run(10), run(10, resume_at=5))


# ---------------------------------------------------------------- clipping

def grads_of(*arrays):
    ps = [tg.Tensor(np.zeros_like(a), requires_grad=True) for a in arrays]
    for p, a in zip(ps, arrays):
        p.grad = tg.tensor(np.array(a, dtype=np.float64))
    return ps


def test_clip_below_threshold_leaves_grads_unchanged():
    ps = grads_of([3.0, 0.0], [0.0, 4.0])
    assert optim.clip_grad_norm_(ps, 10.0) == pytest.approx(5.0)
    np.testing.assert_array_equal(ps[0].grad, [3.0, 0.0])


def test_clip_above_threshold_scales_to_the_threshold():
    ps = grads_of([3.0, 0.0], [0.0, 4.0])
    assert optim.clip_grad_norm_(ps, 1.0) == pytest.approx(5.0)
    np.testing.assert_allclose(ps[0].grad, [3.0 / (5 + 1e-6), 0.0])
    total = np.sqrt(sum((p.grad ** 2).sum() for p in ps))
    assert total == pytest.approx(1.0, abs=1e-6)


def test_clip_at_threshold_barely_changes():
    ps = grads_of([3.0, 4.0])
    optim.clip_grad_norm_(ps, 5.0)
    np.testing.assert_allclose(ps[0].grad, [3.0, 4.0], rtol=1e-6)


def test_clip_inf_and_one_norms():
    ps = grads_of([3.0, -7.0], [2.0])
    assert optim.clip_grad_norm_(ps, 100.0, norm_type=float("inf")) == 7.0
    assert optim.clip_grad_norm_(ps, 100.0, norm_type=1) == 12.0
    optim.clip_grad_norm_(ps, 3.5, norm_type="inf")
    np.testing.assert_allclose(ps[0].grad, [1.5, -3.5], rtol=1e-6)


def test_clip_nan_norm_with_and_without_error():
    ps = grads_of([np.nan, 1.0])
    with pytest.raises(RuntimeError, match="total norm of order 2.0 .* is nan"):
        optim.clip_grad_norm_(ps, 1.0, error_if_nonfinite=True)
    assert math.isnan(optim.clip_grad_norm_(ps, 1.0))
    assert np.isnan(ps[0].grad).all()


def test_clip_with_no_grads_and_single_tensor():
    p = tg.Tensor(np.zeros(2), requires_grad=True)
    assert optim.clip_grad_norm_([p], 1.0) == 0.0
    p.grad = tg.tensor(np.array([6.0, 8.0]))
    assert optim.clip_grad_norm_(p, 1.0) == pytest.approx(10.0)


def test_clip_grad_value():
    ps = grads_of([-3.0, 0.5, 2.0])
    optim.clip_grad_value_(ps, 1.0)
    np.testing.assert_array_equal(ps[0].grad, [-1.0, 0.5, 1.0])


def test_optimizer_clipping_reports_norm_and_whether_it_clipped():
    p = tg.Tensor(np.zeros(2), requires_grad=True)
    opt = optim.SGD([p], lr=1.0, max_grad_norm=1.0)
    p.grad = tg.tensor(np.array([0.3, 0.4]))
    opt.step()
    assert opt.last_grad_norm == pytest.approx(0.5) and not opt.last_clipped
    p.grad = tg.tensor(np.array([3.0, 4.0]))
    opt.step()
    assert opt.last_grad_norm == pytest.approx(5.0) and opt.last_clipped
    np.testing.assert_allclose(p.array, [-0.3 - 0.6, -0.4 - 0.8], rtol=1e-6)


# ---------------------------------------------------------------- bad input

def _p():
    return tg.Tensor(np.zeros(2), requires_grad=True)


@pytest.mark.parametrize("make, match", [
    (lambda: optim.SGD([_p()], lr=-0.1), r"SGD: lr must be non-negative, got -0.1"),
    (lambda: optim.Adam([_p()], betas=(0.9, 1.0)), r"Adam: betas must lie in \[0, 1\)"),
    (lambda: optim.Adam([_p()], betas=(-0.1, 0.9)), r"Adam: betas must lie in \[0, 1\)"),
    (lambda: optim.RMSprop([_p()], eps=-1), r"RMSprop: eps must be non-negative"),
    (lambda: optim.Adagrad([], lr=0.1), r"Adagrad: got an empty parameter list"),
    (lambda: optim.SGD([_p()] * 2, lr=0.1), r"SGD: a parameter of shape \(2,\) appears in more than one place"),
    (lambda: optim.Adam([_p()], max_grad_norm=0), r"Adam: max_grad_norm must be positive"),
    (lambda: optim.SGD([tg.Tensor(np.zeros(2), requires_grad=True) * 2], lr=0.1),
     r"SGD: can only optimize leaf Tensors, got a non-leaf of shape \(2,\) \(made by mul\)"),
    (lambda: optim.SGD([_p()], lr=0.1, nesterov=True), r"SGD: Nesterov momentum needs momentum"),
])
def test_bad_arguments_raise_clear_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_same_parameter_in_two_groups_is_rejected():
    p = _p()
    with pytest.raises(ValueError, match="appears in more than one place"):
        optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)


# ---------------------------------------------------------------- the pieces PyTorch users reach for

@pytest.mark.parametrize("i", range(len(C.PLATEAU)))
def test_reduce_lr_on_plateau_matches_pytorch(i):
    p = tg.Tensor(np.zeros(1), requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    sched = lr_scheduler.ReduceLROnPlateau(opt, **C.PLATEAU[i])
    lrs = []
    for metric in C.PLATEAU_METRICS:
        sched.step(metric)
        lrs.append(opt.param_groups[0]["lr"])
    np.testing.assert_allclose(lrs, REF[f"plateau/{i}"], rtol=1e-12)
    assert len(set(lrs)) > 1  # the case does reduce


def test_frozen_parameters_are_accepted_and_skipped():
    w = tg.Tensor(np.ones(2), requires_grad=True)
    frozen = tg.Tensor(np.ones(2))  # requires_grad=False, as after requires_grad_(False)
    opt = optim.Adam([w, frozen], lr=0.1, max_grad_norm=1.0)
    (w * 2).sum().backward()
    opt.step()
    np.testing.assert_array_equal(frozen.array, [1, 1])
    assert (w.array < 1).all() and opt.last_grad_norm == pytest.approx(np.sqrt(8))


def test_zero_grad_set_to_none_or_zeros_on_optimizer_and_module():
    from tinygrad_rnn import nn
    layer = nn.Linear(2, 2)
    opt = optim.SGD(layer.parameters(), lr=0.1)
    layer(tg.Tensor(np.ones((1, 2), np.float32))).sum().backward()
    kept = layer.weight.grad
    opt.zero_grad(set_to_none=False)
    assert layer.weight.grad is kept and (kept == 0).all()
    opt.zero_grad()
    assert layer.weight.grad is None
    layer(tg.Tensor(np.ones((1, 2), np.float32))).sum().backward()
    layer.zero_grad(set_to_none=False)
    assert (layer.bias.grad == 0).all()
    layer.zero_grad(set_to_none=True)
    assert layer.bias.grad is None


def test_add_param_group_uses_defaults_and_refuses_overlap():
    a, b = tg.Tensor(np.ones(1), requires_grad=True), tg.Tensor(np.ones(1), requires_grad=True)
    opt = optim.SGD([a], lr=0.1, momentum=0.9)
    opt.add_param_group({"params": [b], "lr": 0.5})
    assert opt.param_groups[1]["lr"] == 0.5 and opt.param_groups[1]["momentum"] == 0.9
    a.grad, b.grad = tg.tensor(np.ones(1)), tg.tensor(np.ones(1))
    opt.step()
    assert a.array[0] == pytest.approx(0.9) and b.array[0] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="more than one place"):
        opt.add_param_group({"params": [a]})


def test_loading_a_pytorch_adam_state_dict_continues_like_pytorch():
    torch = pytest.importorskip("torch")
    params, grads = C.make_problem("float64")
    theirs = [torch.tensor(p.copy(), requires_grad=True) for p in params]
    topt = torch.optim.Adam(theirs, lr=0.01, amsgrad=True)
    for step_grads in grads[:5]:
        for p, g in zip(theirs, step_grads):
            p.grad = torch.tensor(g)
        topt.step()
    ours = [tg.Tensor(p.detach().numpy().copy(), requires_grad=True) for p in theirs]
    opt = optim.Adam(ours, lr=0.01, amsgrad=True)
    opt.load_state_dict(topt.state_dict())
    for step_grads in grads[5:10]:
        for p, q, g in zip(theirs, ours, step_grads):
            p.grad, q.grad = torch.tensor(g), tg.tensor(g)
        topt.step()
        opt.step()
    for p, q in zip(theirs, ours):
        np.testing.assert_allclose(q.array, p.detach().numpy(), rtol=1e-12)


def test_a_foreign_optimizer_state_fails_at_load_time():
    p = tg.Tensor(np.ones(3), requires_grad=True)
    adam = {"state": {0: {"step": 3, "exp_avg": np.zeros(3), "exp_avg_sq": np.zeros(3)}},
            "param_groups": [{"lr": 0.1, "params": [0]}]}
    with pytest.raises(ValueError, match=r"SGD.load_state_dict: parameter 0 has state 'step'"):
        optim.SGD([p], lr=0.1).load_state_dict(adam)
    bad_shape = {"state": {0: {"momentum_buffer": np.zeros(4)}},
                 "param_groups": [{"lr": 0.1, "params": [0]}]}
    with pytest.raises(ValueError, match=r"has shape \(4,\), the parameter \(3,\)"):
        optim.SGD([p], lr=0.1, momentum=0.9).load_state_dict(bad_shape)
    maximize = {"state": {}, "param_groups": [{"lr": 0.1, "maximize": True, "params": [0]}]}
    with pytest.raises(ValueError, match="option maximize=True is not supported"):
        optim.SGD([p], lr=0.1).load_state_dict(maximize)


def test_loading_a_pytorch_sgd_state_dict_with_momentum():
    torch = pytest.importorskip("torch")
    t = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    topt = torch.optim.SGD([t], lr=0.1, momentum=0.9, nesterov=True)
    t.grad = torch.tensor([0.5, -1.0], dtype=torch.float64)
    topt.step()
    p = tg.Tensor(t.detach().numpy().copy(), requires_grad=True)
    opt = optim.SGD([p], lr=0.1, momentum=0.9, nesterov=True)
    opt.load_state_dict(topt.state_dict())
    t.grad, p.grad = torch.tensor([0.1, 0.1], dtype=torch.float64), tg.tensor(np.array([0.1, 0.1]))
    topt.step()
    opt.step()
    np.testing.assert_allclose(p.array, t.detach().numpy(), rtol=1e-14)


TORCH_STATES = [("Adam", dict(lr=0.01, amsgrad=True)), ("AdamW", dict(lr=0.01)),
                ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)), ("SGD", dict(lr=0.1)),
                ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5)),
                ("Adagrad", dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1))]


@pytest.mark.parametrize("name, kwargs", TORCH_STATES)
def test_every_pytorch_optimizer_state_loads_and_continues_like_pytorch(name, kwargs):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal((3, 2)) for _ in range(6)]
    tp = torch.tensor(rng.standard_normal((3, 2)), requires_grad=True)
    t_opt = getattr(torch.optim, name)([tp], **kwargs)
    for g in grads[:3]:
        tp.grad = torch.tensor(g)
        t_opt.step()
    ours = tg.Tensor(tp.detach().numpy().copy(), requires_grad=True)
    opt = getattr(optim, name)([ours], lr=1.0)  # the options come from the state dict
    opt.load_state_dict(t_opt.state_dict())
    for g in grads[3:]:
        tp.grad, ours.grad = torch.tensor(g), tg.tensor(g)
        t_opt.step()
        opt.step()
    np.testing.assert_allclose(ours.array, tp.detach().numpy(), rtol=1e-12, atol=1e-15)


def _torch_like_adam_state(**options):
    """What torch.optim.Adam([p of shape (2,)]).state_dict() holds after one step, as numpy."""
    group = dict(lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False,
                 maximize=False, foreach=None, capturable=False, differentiable=False,
                 fused=None, decoupled_weight_decay=False, params=[0])
    group.update(options)
    state = {0: {"step": np.array(1.0, np.float32), "exp_avg": np.full(2, 0.1),
                 "exp_avg_sq": np.full(2, 1e-3)}}
    return {"state": state, "param_groups": [group]}


@pytest.mark.parametrize("make, state, match", [
    (optim.AdamW, _torch_like_adam_state(), r"AdamW.load_state_dict: the state was saved with "
                                            r"decoupled_weight_decay=False, so it belongs to Adam"),
    (optim.Adam, _torch_like_adam_state(decoupled_weight_decay=True), r"belongs to AdamW, not Adam"),
    (optim.Adam, _torch_like_adam_state(amsgrad=True),
     r"Adam.load_state_dict: the state of parameter 0 has \['exp_avg', 'exp_avg_sq', 'step'\]; "
     r"Adam with these options needs \['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq', 'step'\]"),
    (optim.SGD, _torch_like_adam_state(), r"SGD.load_state_dict: option betas=.* is not supported"),
])
def test_a_pytorch_state_that_does_not_fit_fails_at_load_time(make, state, match):
    p = _p()
    opt = make([p], lr=0.1)
    with pytest.raises(ValueError, match=match):
        opt.load_state_dict(state)
    assert opt.state == {} and opt.param_groups[0]["lr"] == 0.1  # nothing half-loaded
