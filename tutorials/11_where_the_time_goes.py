# %% [markdown]
# # 11. Where the time of a training step goes — and what capture/replay removes
#
# A training step of a small LSTM language model does three kinds of work:
#
# 1. **numpy work** — the matrix products and elementwise passes of every primitive's forward
#    and VJP (`ops.py`): what any implementation on numpy must do;
# 2. **the graph's Python** — making a `Tensor` and a `Node` per op, checking shapes and dtypes,
#    module code, and in `backward()` the heap, the gradient dictionary and the routing of each
#    gradient to its parents;
# 3. **the optimizer** — clipping and Adam, outside the graph.
#
# At the sizes people learn with (batch 16, 32 steps, 64 hidden units) each numpy call works on a
# few thousand numbers, a microsecond or so — about what the Python around it costs. This lesson
# measures the three parts, then removes the second with `tg.jit`: run the step once, record what
# it did, and replay the record as a flat list of numpy calls (tinygrad's TinyJit idea).
#
# Timings depend on the machine and on what else runs on it: they are shown, never asserted.
# What *is* asserted: the replay computes the same numbers, to the last bit.

# %%
import pathlib
import sys
import time

import numpy as np

import tinygrad_rnn as tg
from tinygrad_rnn import nn, ops, optim
from tinygrad_rnn.nn import functional as F
from common import SEED, check_exercise, pick, plt, savefig

sys.path.insert(0, str(pathlib.Path.cwd().parent / "benchmarks"))
import backends  # noqa: E402  the benchmark's data, weights and hand-written numpy LSTM

tg.track_grad_norms(False)  # a training script does not need per-node statistics
B, T, H, V = pick(16, 4), pick(32, 6), pick(64, 8), backends.V
REPS = pick(30, 3)
x_np, y_np = backends.make_data(B, T, seed=SEED)
weights = backends.init_weights(H, seed=SEED)


def make_model():
    """The benchmark's model: one-hot characters → LSTM → linear head, Adam with clipping."""
    lstm, head = nn.LSTM(V, H), nn.Linear(H, V)
    lstm.load_state_dict({"weight_ih_l0": weights["w_ih"], "weight_hh_l0": weights["w_hh"],
                          "bias_ih_l0": weights["b_ih"], "bias_hh_l0": weights["b_hh"]})
    head.load_state_dict({"weight": weights["w_out"], "bias": weights["b_out"]})
    params = [*lstm.parameters(), *head.parameters()]
    opt = optim.Adam(params, lr=1e-3, max_grad_norm=1.0)

    def loss_fn(x, y):
        out, _ = lstm(x)
        return F.cross_entropy(head(out).reshape(T * B, V), y)
    return loss_fn, params, opt


x, y = tg.Tensor(x_np), tg.Tensor(y_np)


def median_ms(fn, reps=REPS):
    """CPU time of this process per call of ``fn`` (median): on a machine busy with other
    work it is steadier than the wall clock, which also counts the time spent waiting."""
    fn()  # warm up
    times = []
    for _ in range(reps):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return 1e3 * float(np.median(times))

# %% [markdown]
# ## Measuring the three parts of an eager step
#
# The numpy work is timed by wrapping every primitive's `forward` and `backward` with a timer
# (the wrapper's own cost lands on the numpy side, so that side is slightly overstated). The
# optimizer is `opt.step()`. The graph's Python is what is left of the step. These splits use
# the wall clock (a CPU-time clock costs microseconds per reading); the whole-step comparison
# further down uses the CPU time of this process.

# %%
class timed_primitives:
    """Inside the block, every primitive's forward and VJP adds its time to ``self.seconds``."""

    def __enter__(self):
        self.seconds, self.saved = 0.0, []
        for cls in ops.Function.__subclasses__():
            for name in ("forward", "backward"):
                inner = cls.__dict__[name]
                self.saved.append((cls, name, inner))
                setattr(cls, name, staticmethod(self._timed(inner.__func__)))
        return self

    def _timed(self, fn):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start
        return timed

    def __exit__(self, *exc):
        for cls, name, inner in self.saved:
            setattr(cls, name, inner)


def parts_of(forward_backward, opt, timer=None, reps=REPS):
    """(total, numpy work, optimizer) in ms per step, medians over ``reps`` steps."""
    totals, inside, optimizer = [], [], []
    with timer or timed_primitives() as timer:
        forward_backward(), opt.step()  # warm up
        for _ in range(reps):
            timer.seconds = 0.0
            start = time.perf_counter()
            opt.zero_grad()
            forward_backward()
            middle = time.perf_counter()
            opt.step()
            end = time.perf_counter()
            totals.append(end - start), inside.append(timer.seconds)
            optimizer.append(end - middle)
    return [1e3 * float(np.median(v)) for v in (totals, inside, optimizer)]


loss_fn, params, opt = make_model()
eager_total, eager_numpy, eager_opt = parts_of(lambda: loss_fn(x, y).backward(), opt)
eager_python = eager_total - eager_numpy - eager_opt
print(f"eager step {eager_total:.2f} ms: numpy work {eager_numpy:.2f} ms, graph's Python "
      f"{eager_python:.2f} ms, optimizer {eager_opt:.2f} ms")

# %% [markdown]
# ### What you should see
#
# At the learning size a large share of the step — about half on the development machine — is
# the graph's Python, not numpy: the step makes about 700 primitive calls (11 per time step
# forward, as many VJPs back), and each costs a few microseconds of bookkeeping beside a few
# microseconds of numpy. The optimizer is small: six parameters, a handful of numpy calls each.

# %% [markdown]
# ## Capture once, replay the record
#
# `tg.jit(loss_fn)` returns a step. Its first call runs `loss_fn` eagerly and calls
# `backward()` — real Tensors, real Nodes — while the engine reports every primitive that runs
# forward and every VJP that runs backward to a recorder. The record becomes one flat Python
# function; later calls with inputs of the same shapes and dtypes run that function. The
# optimizer stays outside: `opt.zero_grad(); loss = step(x, y); opt.step()`.

# %%
jit_fn, jit_params, jit_opt = make_model()
step = tg.jit(jit_fn)
eager_fn, eager_params, eager_opt_ = make_model()
for i in range(3):  # capture, then two replays, each against an eager step on a twin model
    jit_opt.zero_grad()
    replayed = step(x, y)
    jit_opt.step()
    eager_opt_.zero_grad()
    eager_loss = eager_fn(x, y)
    eager_loss.backward()
    eager_opt_.step()
    assert np.array_equal(replayed.numpy(), eager_loss.numpy())
    assert all(np.array_equal(p.numpy(), q.numpy()) for p, q in zip(jit_params, eager_params))
    assert all(np.array_equal(np.asarray(p.grad), np.asarray(q.grad))
               for p, q in zip(jit_params, eager_params))
assert (step.captures, step.replays) == (1, 2)
print(f"3 steps: losses and parameters equal bit for bit; {step.captures} capture, "
      f"{step.replays} replays")
print("\n".join(step.source.splitlines()[:4] + ["    ..."] +
                [line for line in step.source.splitlines() if "lstm" not in line and
                 ("sigmoid(" in line or "sigmoid_vjp(" in line)][:2] + ["    ..."]))

# %% [markdown]
# The record is plain Python you can read: each line calls a primitive's `forward` (or its
# VJP, `…_vjp`) from `ops.py` on the arrays the eager step used, in the order the engine ran
# them, so the numbers cannot differ. What is gone: Tensors, Nodes, the heap, the gradient
# dictionary, shape checks, module code — and ops nobody reads (the LSTM's final state, which
# this loss never uses). The parameters are read afresh at every replay, so the optimizer's
# in-place updates are seen.
#
# The capture is **honest**: while it runs, the step's tensors stand for the values of every
# later call, so a step that reads a value — a Python `if` on the loss, `float()`, `.item()`,
# `.numpy()` — would bake this call's value into the record. It raises instead, naming the line.

# %%
def greedy(x, y):
    loss = jit_fn(x, y)
    if loss > 3:  # a Python branch on a value: which branch would the record keep?
        loss = loss * 0.5
    return loss


try:
    tg.jit(greedy)(x, y)
    raise AssertionError("the capture should have refused the branch")
except tg.CaptureError as err:
    print(str(err)[:200], "…")
    assert "if loss > 3" in str(err)

# %% [markdown]
# ## The replayed step, part by part

# %%
timed_fn, _, timed_opt = make_model()
timer = timed_primitives()
with timer:
    timed_step = tg.jit(timed_fn)  # captured with the timers in: the replay calls them too
    timed_step(x, y)
jit_total, jit_numpy, jit_opt_ms = parts_of(lambda: timed_step(x, y), timed_opt, timer)
jit_python = jit_total - jit_numpy - jit_opt_ms

hand_w = {k: v.copy() for k, v in weights.items()}
m = {k: np.zeros_like(v) for k, v in hand_w.items()}
v = {k: np.zeros_like(a) for k, a in hand_w.items()}


def hand_step():
    loss, grads = backends.numpy_loss_and_grads(hand_w, x_np, y_np)
    backends.numpy_adam(hand_w, grads, m, v, 1)


clean_fn, _, clean_opt = make_model()
clean_step = tg.jit(clean_fn)


def jit_train_step():
    clean_opt.zero_grad()
    clean_step(x, y)
    clean_opt.step()


def eager_train_step():
    opt.zero_grad()
    loss_fn(x, y).backward()
    opt.step()


# interleave the three, so a busy spell of the machine hits each of them
rounds = {"eager": [], "jit": [], "hand": []}
for _ in range(pick(5, 1)):
    rounds["eager"].append(median_ms(eager_train_step))
    rounds["jit"].append(median_ms(jit_train_step))
    rounds["hand"].append(median_ms(hand_step))
eager_ms, jit_ms, hand_ms = (float(np.median(rounds[k])) for k in ("eager", "jit", "hand"))
print(f"replayed step {jit_total:.2f} ms (timers in): numpy work {jit_numpy:.2f} ms, "
      f"the replay's Python {jit_python:.2f} ms, optimizer {jit_opt_ms:.2f} ms")
print(f"without timers (CPU time per step): eager {eager_ms:.2f} ms, jit {jit_ms:.2f} ms, numpy by hand "
      f"{hand_ms:.2f} ms → eager/jit {eager_ms / jit_ms:.2f}×, jit/by hand "
      f"{jit_ms / hand_ms:.2f}×")

# %%
fig, ax = plt().subplots(figsize=(7, 3.2))
bars = [("eager", eager_numpy, eager_python, eager_opt), ("tg.jit replay", jit_numpy,
                                                          jit_python, jit_opt_ms)]
for row, (label, work, python, optimizer) in enumerate(bars):
    ax.barh(row, work, color="#4c72b0", label="numpy work (forward + VJPs)" if row == 0 else None)
    ax.barh(row, python, left=work, color="#dd8452",
            label="Python around it (graph, routing, modules)" if row == 0 else None)
    ax.barh(row, optimizer, left=work + python, color="#55a868",
            label="optimizer (clip + Adam)" if row == 0 else None)
ax.barh(2, hand_ms, color="#8c8c8c", label="numpy written by hand (whole step)")
ax.set_yticks([0, 1, 2], ["eager", "tg.jit replay", "numpy by hand"])
ax.set_xlabel("ms per training step (median)")
ax.set_title(f"Where a step's time goes: LSTM LM, B={B} T={T} H={H}")
ax.legend(fontsize=7, loc="lower right")
savefig(fig, "11_where_the_time_goes.png")

# %% [markdown]
# ### What you should see
#
# The replay keeps the numpy work and the optimizer and drops most of the orange bar: on the
# development machine (CPU time, one BLAS thread, a busy machine) the step ran about 1.5× faster
# than eager and 1.03–1.07× the time of the hand-written numpy LSTM (the benchmark,
# `benchmarks/bench.py --only ours-lstm,ours-jit,numpy-lstm,numpy-lstm-rows`, measures it in
# separate processes; `numpy-lstm-rows` is the hand-written LSTM with the recurrent product in
# the faster memory layout our `linear` picks for few rows, see `ops._times_t`). What remains is the
# Python inside the primitives themselves — a function call, `ctx.save`, `unbroadcast`'s shape
# checks, `split`'s loop over the gates — about 25 µs per time step for 11 forwards and 11
# VJPs. It does not shrink with the arrays: with B = 1 and H = 1, where numpy's work vanishes,
# the replay still takes about 0.8 ms per step more than the hand-written code. The numpy calls
# themselves are about as many as the hand-written LSTM makes; fusing them (a compiler, as JAX
# and tinygrad have) is what would go further.
#
# **When to use it**: a fixed-shape training step, called many times. A new shape or dtype
# captures again (a few records are kept). Integer inputs such as class targets and token ids
# are replay variables like `x`, as long as only ops read them (`cross_entropy`, `embedding`,
# indexing take them as op inputs); one the step reads in Python — `lengths` for
# `pack_padded_sequence` — becomes *static*: keyed by its values, captured again when they
# change. Dropout and other random draws are refused while capturing (the record would replay
# the same mask), and so is anything that reads a float value. `step.captured_loss` is the
# eager loss of the capture, graph and all, for `viz.draw_graph`.

# %% [markdown]
# ## Exercises
#
# 1. Count in `step.source` how many times the replay calls the `sigmoid` forward, and divide
#    by the number of time steps T: how many sigmoids does one LSTM step compute? Put the
#    number into `answer_1`.
# 2. Training on a new batch calls `step(x2, y2)` with arrays of the same shapes but new
#    characters. Does the step capture again? Answer `"yes"` or `"no"` in `answer_2`.
#    (Read how the record is keyed in `tinygrad_rnn/jit.py`, then try it.)

# %%
answer_1 = None   # a number
answer_2 = None   # "yes" or "no"

sigmoids = sum(1 for line in step.source.splitlines() if " = sigmoid(" in line)
check_exercise(1, answer_1, sigmoids / T, "the input, forget and output gates")
check_exercise(2, answer_2, "no", "y holds integer class targets, but cross_entropy reads them "
               "inside its op (nll_loss): they are a replay variable, keyed by shape and dtype")
