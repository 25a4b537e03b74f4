"""optim.LBFGS against PyTorch's trajectories: every closure evaluation, every step's result, the
final parameters and state, with and without the strong-Wolfe line search."""
import numpy as np
import pytest

import lbfgs_cases as C
import tinygrad_rnn as tg
import tinygrad_rnn.nn.functional  # noqa: F401  (the LSTM case calls lib.nn.functional)
from conftest import FIXTURES, fixture_script
from tinygrad_rnn import optim

REF = np.load(FIXTURES / "lbfgs_trajectories.npz")
LOSS_TOL = dict(rtol=1e-10, atol=1e-14)  # atol: Rosenbrock's losses reach 1e-10 near the optimum
PARAM_TOL = dict(rtol=1e-10, atol=1e-12)


# 68 evaluations down to 1e-12: PyTorch started one ulp away differs from itself by 5.6e-10 here
LOOSER = {"rosen_far_long": dict(rtol=3e-10, atol=1e-14)}


def check_against(run, key):
    returned, evaluated, final, summary = run
    assert len(evaluated) == len(REF[f"{key}/evaluated"]), "a different number of evaluations"
    loss_tol = LOOSER.get(key, LOSS_TOL)
    np.testing.assert_allclose(evaluated, REF[f"{key}/evaluated"], **loss_tol)
    np.testing.assert_allclose(returned, REF[f"{key}/returned"], **loss_tol)
    for name, value in final.items():
        assert value.dtype == np.float64
        np.testing.assert_allclose(value, REF[f"{key}/param/{name}"], **PARAM_TOL, err_msg=name)
    ref_summary = REF[f"{key}/summary"]
    np.testing.assert_array_equal(summary[[0, 1, 4]], ref_summary[[0, 1, 4]])  # counts
    np.testing.assert_allclose(summary[2:4], ref_summary[2:4], rtol=1e-8)  # t, H_diag


@pytest.mark.parametrize("name, problem, options, steps", C.CASES, ids=[c[0] for c in C.CASES])
def test_trajectory_matches_pytorch(name, problem, options, steps):
    check_against(C.run(tg, problem, options, steps), name)


def test_chaotic_trajectory_within_pytorchs_own_rounding_spread():
    name, problem, options, steps = C.CHAOTIC
    _, ours, _, _ = C.run(tg, problem, options, steps)
    theirs, theirs_ulp = REF[f"{name}/evaluated"], REF[f"{name}_ulp/evaluated"]
    assert len(ours) == len(theirs)
    spread = np.abs(theirs_ulp - theirs) / np.abs(theirs)
    ours_off = np.abs(ours - theirs) / np.abs(theirs)
    # while PyTorch's own spread is at rounding level, so is ours; later within 10x of it
    early = spread < 1e-13
    assert early[:15].all()
    assert (ours_off[early] < 1e-12).all()
    assert ours_off.max() < 10 * spread.max()


LIVE = [C.CASES[0], C.CASES[3], C.CASES[-1]]


@pytest.mark.parametrize("name, problem, options, steps", LIVE, ids=[c[0] for c in LIVE])
def test_trajectory_matches_live_pytorch(name, problem, options, steps):
    torch = pytest.importorskip("torch")
    theirs = C.run(torch, problem, options, steps)
    ours = C.run(tg, problem, options, steps)
    np.testing.assert_allclose(ours[1], theirs[1], **LOOSER.get(name, LOSS_TOL))
    for k in ours[2]:
        np.testing.assert_allclose(ours[2][k], theirs[2][k], **PARAM_TOL)


def test_float32_lstm_follows_pytorch_float32():
    torch = pytest.importorskip("torch")
    _, problem, options, steps = next(c for c in C.CASES if c[0] == "lstm_wolfe")
    theirs = C.run(torch, problem, options, steps, dtype="float32")
    ours = C.run(tg, problem, options, steps, dtype="float32")
    assert all(v.dtype == np.float32 for v in ours[2].values())
    assert len(ours[1]) == len(theirs[1])
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-4)


def _optimizer(problem, options):
    params = {k: tg.tensor(v, requires_grad=True) for k, v in C.start(problem).items()}
    opt = optim.LBFGS(list(params.values()), **options)
    losses = []
    return params, opt, C.make_closure(tg, problem, params, opt, losses), losses


def test_state_dict_round_trip_continues_the_same_trajectory():
    options = dict(max_iter=4, history_size=3, line_search_fn="strong_wolfe")
    params, opt, closure, losses = _optimizer("rosenbrock", options)
    for _ in range(3):
        opt.step(closure)
    saved = opt.state_dict()
    n_iter = saved["state"][0]["n_iter"]
    snapshot = {k: p.numpy().copy() for k, p in params.items()}
    state = saved["state"][0]
    assert set(state) == optim.LBFGS.state_keys
    assert len(state["old_dirs"]) == 3 and len(state["al"]) == 3
    n = len(losses)
    opt.step(closure)
    straight = losses[n:]
    params2, opt2, closure2, losses2 = _optimizer("rosenbrock", options)
    for k, p in params2.items():
        p.numpy()[...] = snapshot[k]
    opt2.load_state_dict(saved)
    opt2.step(closure2)
    assert losses2 == straight
    # the saved dict is a copy: stepping did not change it
    assert saved["state"][0]["n_iter"] == n_iter < opt.state_dict()["state"][0]["n_iter"]


def test_state_moves_between_pytorch_and_us():
    torch = pytest.importorskip("torch")
    options = dict(max_iter=4, history_size=3, line_search_fn="strong_wolfe")
    start = C.start("rosenbrock")
    tparams = {k: torch.tensor(v, requires_grad=True) for k, v in start.items()}
    topt = torch.optim.LBFGS(list(tparams.values()), **options)
    tlosses = []
    tclosure = C.make_closure(torch, "rosenbrock", tparams, topt, tlosses)
    for _ in range(2):
        topt.step(tclosure)
    params, opt, closure, losses = _optimizer("rosenbrock", options)
    for k, p in params.items():
        p.numpy()[...] = tparams[k].detach().numpy()
    opt.load_state_dict(topt.state_dict())
    ours_state = opt.state_dict()
    opt.step(closure)
    n = len(tlosses)
    topt.step(tclosure)
    np.testing.assert_allclose(losses, tlosses[n:], rtol=1e-12)
    # and back: our state loaded into PyTorch continues like ours
    topt2 = torch.optim.LBFGS(list(tparams.values()), **options)
    as_torch = {k: ([torch.tensor(x) if isinstance(x, np.ndarray) else x for x in v]
                    if isinstance(v, list) else torch.tensor(v) if isinstance(v, np.ndarray)
                    else v) for k, v in ours_state["state"][0].items()}
    topt2.load_state_dict({"state": {0: as_torch}, "param_groups": ours_state["param_groups"]})
    restored = topt2.state_dict()["state"][0]
    assert restored["n_iter"] == ours_state["state"][0]["n_iter"] > 4
    np.testing.assert_array_equal(restored["d"].numpy(), ours_state["state"][0]["d"])
    assert len(restored["old_dirs"]) == len(ours_state["state"][0]["old_dirs"])


def test_step_returns_the_first_loss_and_leaves_gradients_of_the_last_point():
    params, opt, closure, losses = _optimizer("quadratic", dict(max_iter=3))
    first = opt.step(closure)
    assert isinstance(first, tg.Tensor)
    assert first.item() == losses[0]
    assert len(losses) == 3


def test_already_optimal_step_evaluates_once():
    params, opt, closure, losses = _optimizer("quadratic", dict(max_iter=30, tolerance_grad=1e-5))
    opt.step(closure)
    n = len(losses)
    opt.step(closure)
    assert len(losses) == n + 1
    assert opt.state_dict()["state"][0]["func_evals"] == n + 1


def test_lbfgs_rejects_bad_options():
    p = tg.tensor(np.zeros(3), requires_grad=True)
    q = tg.tensor(np.zeros(2), requires_grad=True)
    with pytest.raises(ValueError, match="line_search_fn must be None or 'strong_wolfe'"):
        optim.LBFGS([p], line_search_fn="backtracking")
    with pytest.raises(ValueError, match="history_size must be a positive int"):
        optim.LBFGS([p], history_size=0)
    with pytest.raises(ValueError, match="lr must be non-negative"):
        optim.LBFGS([p], lr=-1)
    with pytest.raises(ValueError, match="parameter groups"):
        optim.LBFGS([{"params": [p]}, {"params": [q], "lr": 0.1}])
    opt = optim.LBFGS([p])
    with pytest.raises(ValueError, match="parameter groups"):
        opt.add_param_group({"params": [q]})
    with pytest.raises(ValueError, match="needs a closure"):
        opt.step(None)


def test_load_state_dict_checks_sizes_and_names():
    params, opt, closure, _ = _optimizer("rosenbrock", dict(max_iter=3))
    opt.step(closure)
    saved = opt.state_dict()
    bad = {"state": {0: dict(saved["state"][0], d=np.zeros(5))},
           "param_groups": saved["param_groups"]}
    with pytest.raises(ValueError, match=r"state d has shape \(5,\).*must be \(6,\)"):
        opt.load_state_dict(bad)
    bad = {"state": {0: dict(saved["state"][0], momentum_buffer=np.zeros(6))},
           "param_groups": saved["param_groups"]}
    with pytest.raises(ValueError, match="unknown state 'momentum_buffer'"):
        opt.load_state_dict(bad)
    opt.step(closure)
    longer = opt.state_dict()
    assert len(longer["state"][0]["old_dirs"]) > 1
    short = {"state": longer["state"], "param_groups": [dict(longer["param_groups"][0],
                                                             history_size=1)]}
    with pytest.raises(ValueError, match="more than history_size=1"):
        opt.load_state_dict(short)
    with pytest.raises(ValueError, match="one group of 2"):
        opt.load_state_dict({"state": {}, "param_groups": [dict(saved["param_groups"][0],
                                                                 params=[0])]})


def test_missing_gradient_counts_as_zero():
    p = tg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    frozen = tg.tensor(np.array([5.0]), requires_grad=True)
    opt = optim.LBFGS([p, frozen], max_iter=4)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss
    opt.step(closure)
    assert frozen.numpy()[0] == 5.0
    assert np.linalg.norm(p.numpy()) < 1e-8  # the second direction is Newton's on a quadratic


# A program in the shape of PyTorch's time_sequence_prediction example (two LSTMCells, a Linear,
# MSELoss, LBFGS with a closure, float64, a no_grad prediction of the future), written against
# `torch`. INIT, LOG and STEPS are given by the test: INIT loads PyTorch's initial weights.
TIME_SEQUENCE_PROGRAM = '''
import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim

class Sequence(nn.Module):
    def __init__(self):
        super(Sequence, self).__init__()
        self.lstm1 = nn.LSTMCell(1, 51)
        self.lstm2 = nn.LSTMCell(51, 51)
        self.linear = nn.Linear(51, 1)

    def forward(self, input, future=0):
        outputs = []
        h_t = torch.zeros(input.size(0), 51, dtype=torch.double)
        c_t = torch.zeros(input.size(0), 51, dtype=torch.double)
        h_t2 = torch.zeros(input.size(0), 51, dtype=torch.double)
        c_t2 = torch.zeros(input.size(0), 51, dtype=torch.double)
        for input_t in input.split(1, dim=1):
            h_t, c_t = self.lstm1(input_t, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        for i in range(future):  # predicting the future from its own outputs
            h_t, c_t = self.lstm1(output, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        return torch.cat(outputs, dim=1)

np.random.seed(2)
T, L, N = 20, 16, 6
x = np.empty((N, L), 'int64')
x[:] = np.array(range(L)) + np.random.randint(-4 * T, 4 * T, N).reshape(N, 1)
data = np.sin(x / 1.0 / T).astype('float64')
torch.manual_seed(0)
input = torch.from_numpy(data[3:, :-1])
target = torch.from_numpy(data[3:, 1:])
test_input = torch.from_numpy(data[:3, :-1])
test_target = torch.from_numpy(data[:3, 1:])
seq = Sequence()
seq.double()
if INIT is not None:
    seq.load_state_dict(INIT)
criterion = nn.MSELoss()
optimizer = optim.LBFGS(seq.parameters(), lr=0.8)
for i in range(STEPS):
    def closure():
        optimizer.zero_grad()
        out = seq(input)
        loss = criterion(out, target)
        LOG.append(loss.item())
        loss.backward()
        return loss
    optimizer.step(closure)
    with torch.no_grad():
        future = 4
        pred = seq(test_input, future=future)
        loss = criterion(pred[:, :-future], test_target)
        LOG.append(loss.item())
        y = pred.detach().numpy()
'''


def _run_as_torch(module, init, steps):
    """Run TIME_SEQUENCE_PROGRAM with ``import torch`` (and torch.nn, torch.optim) giving
    ``module``."""
    import sys
    names = ("torch", "torch.nn", "torch.optim")
    saved = {k: sys.modules.get(k) for k in names}
    sys.modules.update(zip(names, (module, module.nn, module.optim)))
    namespace = {"INIT": init, "LOG": [], "STEPS": steps}
    try:
        exec(compile(TIME_SEQUENCE_PROGRAM, "time_sequence_program", "exec"), namespace)
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
    return namespace


def test_time_sequence_prediction_program_follows_pytorch_with_torch_renamed():
    torch = pytest.importorskip("torch")
    start = {k: v.clone() for k, v in _run_as_torch(torch, None, 0)["seq"].state_dict().items()}
    theirs = _run_as_torch(torch, start, 1)
    ours = _run_as_torch(tg, {k: tg.tensor(v.numpy()) for k, v in start.items()}, 1)
    assert len(ours["LOG"]) == len(theirs["LOG"]) == 21  # 20 closure calls, then the test loss
    np.testing.assert_allclose(ours["LOG"], theirs["LOG"], rtol=1e-10)
    np.testing.assert_allclose(ours["y"], theirs["y"], rtol=1e-9, atol=1e-12)
    assert ours["y"].shape == (3, 15 + 4)  # L - 1 steps of input, then `future` predicted ones
