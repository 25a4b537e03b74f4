"""L-BFGS cases shared by tests/fixtures/make_lbfgs_fixtures.py and tests/test_lbfgs.py.

Every problem is written once over ``lib`` (``torch`` or ``tinygrad_rnn``), so both frameworks run
the same closure from the same float64 starting point.
"""
import numpy as np

HIDDEN = 6

# (name, problem, optimizer options, number of step() calls). The histories are short, so they
# wrap (the oldest pair is dropped) within the run.
CASES = [
    ("rosen_plain", "rosenbrock", dict(lr=1, max_iter=5, history_size=3), 8),
    ("rosen_plain_lr", "rosenbrock", dict(lr=0.5, max_iter=7, history_size=2), 6),
    ("rosen_wolfe", "rosenbrock", dict(max_iter=6, history_size=3, line_search_fn="strong_wolfe"), 4),
    ("rosen_far_long", "rosenbrock_far", dict(max_iter=40, line_search_fn="strong_wolfe"), 3),
    ("rosen_far_wolfe", "rosenbrock_far", dict(max_iter=8, history_size=4,
                                               line_search_fn="strong_wolfe"), 4),
    ("rosen_max_eval", "rosenbrock", dict(max_iter=10, max_eval=4, history_size=2,
                                          line_search_fn="strong_wolfe"), 5),
    ("quad_tol_change", "quadratic", dict(max_iter=30, history_size=3, tolerance_change=1e-6), 3),
    ("quad_tol_grad", "quadratic", dict(max_iter=30, tolerance_grad=1e-5,
                                        line_search_fn="strong_wolfe"), 3),
    ("lstm_plain", "lstm", dict(lr=0.8, max_iter=6, history_size=4), 3),
    ("lstm_wolfe", "lstm", dict(lr=0.8, max_iter=6, history_size=3,
                                line_search_fn="strong_wolfe"), 3),
    # the same network as nn.LSTMCell / nn.Linear modules, the way the example writes it
    ("lstm_module", "lstm_module", dict(lr=0.8, max_iter=5, history_size=4), 2),
]

# Rosenbrock from (-1.2, 1, …) with lr=1 and no line search: losses jump by 100x and back, so a
# difference of one rounding error grows to ~1e-4 within 60 evaluations, in PyTorch itself (started
# one ulp away). This case is compared to PyTorch's own spread instead of a fixed tolerance. (Long
# runs from that start are sensitive with the line search too: ~4e-8 after 50 evaluations.)
CHAOTIC = ("rosen_default", "rosenbrock", dict(), 3)


def quadratic_matrix():
    """M with MᵀM well conditioned, and c: f(x) = ½‖Mx‖² + cᵀx."""
    rng = np.random.default_rng(3)
    q, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    return q * np.linspace(1.0, 2.5, 6), rng.standard_normal(6)


def start(problem):
    """The starting parameters (float64 arrays), by name."""
    rng = np.random.default_rng(0)
    if problem == "rosenbrock":
        return {"a": np.array([-1.2, 1.0, -0.5]), "b": np.array([0.3, 1.1, 0.8])}
    if problem == "rosenbrock_far":
        return {"a": np.array([-3.0, 4.0, 2.5]), "b": np.array([-2.0, 0.1, 3.0])}
    if problem == "quadratic":
        return {"a": np.array([1.0, -2.0, 0.5]), "b": np.array([3.0, 0.0, -1.0])}
    # an LSTMCell pair and a Linear readout, as in PyTorch's time_sequence_prediction example
    # (lstm, lstm_module)
    h = HIDDEN
    shapes = {"lstm1.weight_ih": (4 * h, 1), "lstm1.weight_hh": (4 * h, h),
              "lstm1.bias_ih": (4 * h,), "lstm1.bias_hh": (4 * h,),
              "lstm2.weight_ih": (4 * h, h), "lstm2.weight_hh": (4 * h, h),
              "lstm2.bias_ih": (4 * h,), "lstm2.bias_hh": (4 * h,),
              "linear.weight": (1, h), "linear.bias": (1,)}
    bound = 1 / np.sqrt(h)
    return {k: rng.uniform(-bound, bound, s) for k, s in shapes.items()}


def sine_data():
    """Shifted sine waves: input (3, 10) and the target one step ahead."""
    t = np.arange(11)[None, :] + np.array([[0.0], [7.0], [-4.0]])
    waves = np.sin(t / 3.0)
    return waves[:, :-1], waves[:, 1:]


def sequence_model(lib):
    """PyTorch's time_sequence_prediction model (two LSTMCells and a Linear), over ``lib``."""
    nn = lib.nn

    class Sequence(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm1 = nn.LSTMCell(1, HIDDEN)
            self.lstm2 = nn.LSTMCell(HIDDEN, HIDDEN)
            self.linear = nn.Linear(HIDDEN, 1)

        def forward(self, input):
            outputs = []
            h_t = lib.zeros(input.size(0), HIDDEN, dtype=lib.float64)
            c_t = lib.zeros(input.size(0), HIDDEN, dtype=lib.float64)
            h_t2 = lib.zeros(input.size(0), HIDDEN, dtype=lib.float64)
            c_t2 = lib.zeros(input.size(0), HIDDEN, dtype=lib.float64)
            for input_t in input.split(1, dim=1):
                h_t, c_t = self.lstm1(input_t, (h_t, c_t))
                h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
                outputs += [self.linear(h_t2)]
            return lib.cat(outputs, dim=1)

    return Sequence().double()


def make_closure(lib, problem, params, optimizer, losses, model=None):
    """A closure for ``optimizer.step``: zero_grad, forward, backward, record, return loss.
    ``params`` maps the names of :func:`start` to leaf tensors of ``lib``; ``model`` is the
    module of the ``lstm_module`` problem."""
    dtype = next(iter(params.values())).dtype
    if model is not None:
        inp, target = (lib.tensor(v, dtype=dtype) for v in sine_data())

        def loss_fn():
            return lib.nn.functional.mse_loss(model(inp), target)
    elif problem.startswith("rosenbrock"):
        def loss_fn():
            x = lib.cat([params["a"], params["b"]])
            return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()
    elif problem == "quadratic":
        M, c = (lib.tensor(v, dtype=dtype) for v in quadratic_matrix())

        def loss_fn():
            x = lib.cat([params["a"], params["b"]])
            y = M @ x
            return 0.5 * (y * y).sum() + (c * x).sum()
    else:
        inp, target = (lib.tensor(v, dtype=dtype) for v in sine_data())
        F = lib.nn.functional

        def cell(prefix, x, h, c):
            gates = (F.linear(x, params[prefix + ".weight_ih"], params[prefix + ".bias_ih"])
                     + F.linear(h, params[prefix + ".weight_hh"], params[prefix + ".bias_hh"]))
            i, f, g, o = gates.chunk(4, 1)
            c = f.sigmoid() * c + i.sigmoid() * g.tanh()
            return o.sigmoid() * c.tanh(), c

        def loss_fn():
            n = inp.shape[0]
            h1 = c1 = h2 = c2 = lib.zeros(n, HIDDEN, dtype=dtype)
            outputs = []
            for x in inp.split(1, dim=1):
                h1, c1 = cell("lstm1", x, h1, c1)
                h2, c2 = cell("lstm2", h1, h2, c2)
                outputs.append(F.linear(h2, params["linear.weight"], params["linear.bias"]))
            return F.mse_loss(lib.cat(outputs, dim=1), target)

    def closure():
        optimizer.zero_grad()
        loss = loss_fn()
        loss.backward()
        losses.append(loss.item())
        return loss
    return closure


def run(lib, problem, options, steps, start=None, dtype="float64"):
    """Run ``steps`` calls of ``LBFGS.step``; returns (what each step returned, the loss of every
    closure evaluation, final parameters by name, final optimizer state summary)."""
    first = globals()["start"](problem) if start is None else start
    model = None
    if problem == "lstm_module":
        model = sequence_model(lib)
        model.load_state_dict({k: lib.tensor(v) for k, v in first.items()})
        params = dict(model.named_parameters())
    else:
        params = {k: lib.tensor(v.astype(dtype), requires_grad=True) for k, v in first.items()}
    opt = lib.optim.LBFGS(list(params.values()), **options)
    evaluated = []
    closure = make_closure(lib, problem, params, opt, evaluated, model)
    returned = [opt.step(closure).item() for _ in range(steps)]
    state = opt.state_dict()["state"][0]
    summary = np.array([state["func_evals"], state["n_iter"], float(state["t"]),
                        float(state["H_diag"]), len(state["old_dirs"])])
    final = {k: np.array(p.detach().numpy() if hasattr(p, "detach") else p.numpy(), copy=True)
             for k, p in params.items()}
    return np.array(returned), np.array(evaluated), final, summary
