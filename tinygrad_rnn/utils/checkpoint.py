"""Trade compute for memory: recompute a forward during backward instead of keeping its graph.

``checkpoint(fn, *args)`` runs ``fn`` without recording anything and records ONE node, a
:class:`~tinygrad_rnn.autograd.Function` that saves only ``fn``'s inputs. When backward reaches
it, the node runs ``fn`` again, this time recording, on detached copies of the inputs, and
backpropagates the output gradients through that fresh graph: the inputs get their gradients
back from the node, the parameters ``fn`` uses get theirs as usual. The random generator
(``tinygrad_rnn.random.get_rng()``, which ``nn.Dropout`` draws from) is put back where it was
before the first run, so the recompute draws the same dropout masks (PyTorch's
``preserve_rng_state``).

``checkpoint_sequence(step, inputs, state, every)`` does the same for backpropagation through
time: a recurrent loop keeps its state every ``every`` steps and nothing else; backward
recomputes one segment of ``every`` steps at a time, last segment first. That is what
``nn.LSTM(..., checkpoint_every=k)`` uses. Memory: the states at the segment starts; time: one
extra forward of every step.

Gradients are the same bits as without checkpointing: the recompute does the same operations on
the same arrays, and the sweep run inside the node hands the parameters' gradient products to the
enclosing backward (``engine.backward``), so W_hh still gets one product over all time steps.
"""
from __future__ import annotations

import warnings
import weakref

import numpy as np

from ..autograd.function import Function
from .. import engine
from ..grad_mode import enable_grad, is_grad_enabled
from ..random import get_rng
from ..tensor import Tensor, _tensor

__all__ = ["checkpoint", "checkpoint_sequence"]


# ---------------------------------------------------------------- one sweep from several tensors

def _backward_from(tensors, grads):
    """One sweep from several tensors at once, each with its gradient (arrays; None: skipped)."""
    if engine.mode.products is None:  # inside a sweep with create_graph or autograd.grad(inputs)
        raise RuntimeError("checkpoint: checkpointing is not compatible with create_graph=True or "
                           "autograd.grad(); use backward() (it recomputes with a plain sweep)")
    pairs = [(t, np.asarray(g)) for t, g in zip(tensors, grads)
             if g is not None and isinstance(t, Tensor) and t.requires_grad]
    if pairs:
        engine.backward([t for t, _ in pairs], [g for _, g in pairs])


def _leaf(array, requires_grad):
    """A leaf sharing ``array``. With a gradient wanted it gets a (no-op) hook: a leaf with hooks
    receives its gradient at once, where the recompute reads it, rather than at the end of the
    enclosing sweep (``engine.backward``)."""
    t = _tensor(array)
    if requires_grad:
        t.requires_grad_(True)
        t.register_hook(lambda g: None)
    return t


class _rng_restored:
    """Inside the block the package generator is in ``state`` (if not None); afterwards where it
    was."""

    def __init__(self, state):
        self.state = state

    def __enter__(self):
        if self.state is not None:
            self.rng = get_rng()
            self.prev, self.rng.bit_generator.state = self.rng.bit_generator.state, self.state

    def __exit__(self, *exc):
        if self.state is not None:
            self.rng.bit_generator.state = self.prev


def _rng_state(preserve):
    return get_rng().bit_generator.state if preserve else None


# ---------------------------------------------------------------- checkpoint(fn, *args)

class Checkpoint(Function):
    """The node :func:`checkpoint` records (drawn as ``Checkpoint``)."""

    @staticmethod
    def forward(ctx, run_function, preserve_rng_state, kwargs, _anchor, *args):
        ctx.set_materialize_grads(False)
        ctx.run_function, ctx.kwargs = run_function, kwargs
        ctx.rng_state = _rng_state(preserve_rng_state)
        ctx.args = [None if isinstance(a, Tensor) else a for a in args]  # Tensors: saved below
        ctx.save_for_backward(*[a for a in args if isinstance(a, Tensor)])
        return run_function(*args, **kwargs)

    @staticmethod
    def backward(ctx, *grad_outputs):
        saved, args = iter(ctx.saved_tensors), []
        for a, need in zip(ctx.args, ctx.needs_input_grad[4:]):
            args.append(_leaf(next(saved).array, need) if a is None else a)
        with _rng_restored(ctx.rng_state), enable_grad():
            outputs = ctx.run_function(*args, **ctx.kwargs)
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        _backward_from(outputs, [None if g is None else g.array for g in grad_outputs])
        grads = [a.grad if isinstance(a, Tensor) and a.requires_grad else None for a in args]
        return (None, None, None, None, *grads)


def checkpoint(function, *args, use_reentrant=False, preserve_rng_state=True, **kwargs):
    """``function(*args, **kwargs)``, recomputed during backward instead of keeping its graph
    (``torch.utils.checkpoint.checkpoint``).

    Returns what ``function`` returns (a Tensor or a tuple). Only the Tensor arguments are kept
    for backward. ``preserve_rng_state``: replay the same random draws (dropout masks) in the
    recompute. ``use_reentrant=False`` (default): parameters used inside ``function`` get their
    gradients even when no argument requires grad; ``True`` follows PyTorch's older variant,
    which then warns that no gradient will flow. ``function`` must compute the same thing when
    run twice: no in-place changes of its inputs, no state of its own that changes.
    """
    if not callable(function):
        raise TypeError(f"checkpoint: function must be callable, got {type(function).__name__}")
    if not is_grad_enabled():
        return function(*args, **kwargs)  # nothing recorded anyway
    if use_reentrant and not any(isinstance(a, Tensor) and a.requires_grad for a in args):
        warnings.warn("checkpoint: none of the inputs have requires_grad=True; gradients will be "
                      "None (use_reentrant=True)", UserWarning, stacklevel=2)
    # A 0-d anchor that requires grad makes the node be recorded even when no argument does, so
    # the parameters inside `function` still get gradients (PyTorch's non-reentrant variant).
    anchor = None if use_reentrant else _ANCHOR
    return Checkpoint.apply(function, preserve_rng_state, kwargs, anchor, *args)


_ANCHOR = Tensor(0.0, requires_grad=True).named("checkpoint anchor")  # its gradient stays None


# ---------------------------------------------------------------- checkpointed BPTT

class CheckpointedSequence(Function):
    """The node :func:`checkpoint_sequence` records: a whole recurrent loop (drawn as
    ``CheckpointedSequence``)."""

    @staticmethod
    def forward(ctx, step, every, recompute_inputs, preserve_rng_state, layout, *tensors):
        ctx.set_materialize_grads(False)
        n, stacked, reverse = layout  # T steps; one (T, …) Tensor or T Tensors; the run order
        k = 1 if stacked else n
        inputs, state = tensors[:k], tuple(tensors[k:])
        xs = [_tensor(a) for a in inputs[0].array] if stacked else inputs
        ctx.step, ctx.every, ctx.recompute, ctx.layout = step, every, recompute_inputs, layout
        ctx.starts = []  # per segment: (the state arrays it starts from, the generator's state)
        outputs = [None] * n
        for j, t in enumerate(_run_order(n, reverse)):
            if j % every == 0:
                ctx.starts.append(([s.array for s in state], _rng_state(preserve_rng_state)))
            state = tuple(step(xs[t], state))
            outputs[t] = state[0]
        if recompute_inputs is None:
            ctx.save_for_backward(*inputs)
        elif stacked:  # to tell a recomputed array from the forward's own (see backward)
            ctx.input_ref = weakref.ref(inputs[0].array)
        return (*outputs, *state)

    @staticmethod
    def backward(ctx, *grads):
        n, stacked, reverse = ctx.layout
        k = 1 if stacked else n
        if ctx.recompute is None:
            xs = [t.array for t in ctx.saved_tensors]
        else:
            xs = ctx.recompute()
            xs = [xs] if stacked else xs
        whole = np.asarray(xs[0]) if stacked else None
        xs = list(whole) if stacked else [np.asarray(x) for x in xs]  # one per step
        if len(xs) != n:
            raise RuntimeError(f"checkpoint_sequence: recompute_inputs gave {len(xs)} inputs, "
                               f"the forward had {n}")
        order = _run_order(n, reverse)
        needs_x = [ctx.needs_input_grad[5]] * n if stacked else ctx.needs_input_grad[5:5 + n]
        needs_s = ctx.needs_input_grad[5 + k:]
        run_grads = [None if grads[t] is None else grads[t].array for t in order]
        g_state = [None if g is None else g.array for g in grads[n:]]
        last = run_grads[-1]  # the last step's output is the final state's first entry too
        if last is not None:
            g_state[0] = last if g_state[0] is None else g_state[0] + last
        # the inputs' gradients: one (T, …) array (written a segment at a time), or one per step
        g_inputs = [None] * n
        if stacked and needs_x[0]:
            # A recomputed array is ours: each segment's rows are overwritten by their gradients
            # once the segment is done with them, so no second (T, …) array is allocated (for a
            # 1,000-step LSTM, 128 MB of fresh pages). Not if it could be the forward's input,
            # nor once a weight product waiting to be summed reads it (below).
            g_inputs = whole if _ours(whole, ctx) else np.zeros_like(whole)
        for seg in range(len(ctx.starts) - 1, -1, -1):
            begin, stop = seg * ctx.every, min((seg + 1) * ctx.every, n)
            arrays, rng_state = ctx.starts[seg]
            start = tuple(_leaf(a, a.dtype.kind in "fc") for a in arrays)
            xl = [_leaf(xs[order[j]], needs_x[order[j]]) for j in range(begin, stop)]
            with _rng_restored(rng_state), enable_grad():
                state, outputs = start, []
                for x in xl:
                    state = tuple(ctx.step(x, state))
                    outputs.append(state[0])
            # Gradients from outside: each output but the last (the state handed on, whose
            # gradient came from the later segment), the final state, and — sent first, as the
            # plain loop's sum does — the output the segment starts from.
            roots = outputs[:-1] + list(state)
            gs = run_grads[begin:stop - 1] + g_state
            if begin > 0 and run_grads[begin - 1] is not None:
                roots.insert(0, start[0])
                gs.insert(0, run_grads[begin - 1])
            _backward_from(roots, gs)
            g_state = [s.grad.array if s.requires_grad and s.grad is not None else None
                       for s in start]
            if g_inputs is whole and _still_read(whole):  # keep it: write the rest elsewhere
                g_inputs = np.zeros_like(whole)
                done = [order[j] for j in range(stop, n)]
                g_inputs[done] = whole[done]
            for j, x in zip(range(begin, stop), xl):
                if x.requires_grad and x.grad is not None:
                    g_inputs[order[j]] = x.grad.array if stacked else x.grad
                elif stacked and needs_x[0]:
                    g_inputs[order[j]] = 0
        g_state = [g if need else None for g, need in zip(g_state, needs_s)]
        g_inputs = [g_inputs] if stacked else g_inputs
        return (None, None, None, None, None, *g_inputs, *g_state)


def _ours(array, ctx):
    """May backward write into ``array``, what ``recompute_inputs`` returned? Only if it can be
    written and shares no memory with the forward's input (a recompute that returns the input
    itself is no recomputation)."""
    if ctx.recompute is None or not array.flags.writeable:
        return False
    original = ctx.input_ref()
    return original is None or not np.may_share_memory(array, original)


def _still_read(array):
    """Is ``array`` read by a weight product of the enclosing sweep that is not summed yet? (A
    step whose input meets a weight, x W_inᵀ, leaves one holding the input's rows.)"""
    return any(s.reads(array) for s in engine.mode.products.values())


def _run_order(n, reverse):
    return range(n - 1, -1, -1) if reverse else range(n)


def checkpoint_sequence(step, inputs, state, every, recompute_inputs=None,
                        preserve_rng_state=True, reverse=False):
    """Backpropagation through time that keeps the state every ``every`` steps and nothing else.

    Runs ``state = step(inputs[t], state)`` for t = 0 … T-1 (``state``: a tuple of Tensors, e.g.
    (h, c); ``step`` returns the new tuple, whose first entry is the step's output), or for
    t = T-1 … 0 with ``reverse`` (the backward direction of a bidirectional layer). Returns
    (the list of the T outputs in time order, the final state tuple), as the plain loop would,
    recorded as one node. Backward recomputes the steps segment by segment from the kept states.

    ``inputs``: a list of T Tensors, or one Tensor whose first dimension is time — its gradient
    is then one array, written a segment at a time (a recurrent layer passes its input projection
    so). ``recompute_inputs``: a function giving the inputs again in backward (the list, or the
    one array); with it the inputs are not kept — a recurrent layer recomputes its projection, so
    the graph holds neither it nor any step's activations. A recomputed time-major array is the
    node's own: backward writes the inputs' gradient over it, a segment at a time (unless it
    shares memory with the forward's input, which is left alone).
    """
    stacked = isinstance(inputs, Tensor)
    if stacked and inputs.ndim == 0:
        raise ValueError("checkpoint_sequence: inputs is a 0-d Tensor; expected time as its first "
                         "dimension")
    n = inputs.shape[0] if stacked else len(inputs)
    inputs, state = ([inputs] if stacked else list(inputs)), tuple(state)
    if not isinstance(every, int) or isinstance(every, bool) or every < 1:
        raise ValueError(f"checkpoint_sequence: every must be a positive int, got {every!r}")
    if not n:
        raise ValueError("checkpoint_sequence: no inputs (a sequence needs at least one step)")
    for i, s in enumerate(state):
        if not isinstance(s, Tensor):
            raise TypeError(f"checkpoint_sequence: state entry {i} is a "
                            f"{type(s).__name__}, expected a Tensor")
    if not is_grad_enabled():
        outputs, xs = [None] * n, inputs[0].unbind(0) if stacked else inputs
        for t in _run_order(n, reverse):
            state = tuple(step(xs[t], state))
            outputs[t] = state[0]
        return outputs, state
    out = CheckpointedSequence.apply(step, every, recompute_inputs, preserve_rng_state,
                                     (n, stacked, reverse), *inputs, *state)
    return list(out[:n]), tuple(out[n:])
