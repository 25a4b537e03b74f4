"""The engine: the graph ``Node``, recording an op, and the reverse sweep.

Read it top to bottom, in the order one learns it:

1. **Node** — what one recorded op keeps: the primitive that ran (``ops.py``), an *edge* per input
   (where that input's gradient must go), the arrays its VJP saved, and metadata for the renderer
   (shapes, dtypes, the scope it ran in). A node points at its parents' *nodes*, never at their
   data: an intermediate array stays alive only if some VJP saved it or the user holds the Tensor.
2. **Recording** — :func:`apply` runs an op's forward and records a Node if a gradient may flow.
3. **Backward** — :func:`backward` walks the nodes in reverse, calls each VJP once with the
   summed gradient of its outputs and adds the results into the parents; hooks let the renderer
   watch without touching the loop. With ``create_graph=True`` the same VJPs run on Tensors, so
   the backward pass is itself a recorded graph (gradients of gradients).

The engine never imports the Tensor (``tensor.py``): it reads a few of its fields (``array``,
``requires_grad``, ``_edge``, ``_grad``, ``_hooks``), and the Tensor module tells it once, with
:func:`set_tensor_type`, how to wrap an array into a Tensor.
"""
from __future__ import annotations

from heapq import heappop, heappush
import weakref

import numpy as np

from .op_errors import AnomalyError, check_backward_allowed as _check_backward_allowed
from .op_errors import check_finite, forward_error, shapes as _shapes  # noqa: F401 (tensor.py)
from . import versions
from .products import Deferred, ProductSum  # noqa: F401 (ops.py, jit.py import it from here)
from .versions import tick


class _Mode:
    """What recording does right now (changed only through the context managers below)."""
    grad = True          # record graphs at all (no_grad turns it off)
    scope = ()           # the scope path new nodes record, e.g. ("lstm", "l0", "t3")
    anomaly = False      # check every op's result for NaN/Inf (detect_anomaly)
    keep_values = False  # nodes keep their output arrays for the renderer (keep_values)
    products = None      # leaf -> ProductSum of the plain sweep running now (see backward)
    recorder = None      # tinygrad_rnn.jit's capture, which apply hands every op to


mode = _Mode()


def _wrap(array, node=None, index=0):
    """Make the Tensor for output ``index`` of ``node`` (set by :func:`set_tensor_type`)."""
    raise RuntimeError("engine: no Tensor type registered (import tinygrad_rnn)")


def set_tensor_type(wrap):
    """``tensor.py`` registers ``wrap(array, node=None, index=0) -> Tensor`` here, once."""
    global _wrap
    _wrap = wrap


# ================================================================= 1. the graph record

class Node:
    """One recorded op.

    For backward: ``fn`` (the primitive), ``edges`` — per input, in argument order, a pair
    ``(source, output_index)``: the Node that produced the input, or the leaf Tensor to accumulate
    into (index 0), or for an input that needs no gradient a weak reference to it with its (shape,
    dtype) (a constant of at most one element is kept as is, for the renderer) —,
    ``needs_input_grad`` and ``saved`` (what the VJP keeps; ``ctx.save`` in ``ops.py``).
    For the renderer and diagnostics: ``id`` (creation order), ``scope``, ``label`` (a Tensor's
    ``name``), ``output_meta`` (shape, dtype) per output, ``values`` (output arrays, only under
    :func:`keep_values`) and ``grad_norm`` (set by :func:`track_grad_norms`).
    """

    __slots__ = ("id", "fn", "edges", "needs_input_grad", "saved", "hooks", "scope", "label",
                 "output_meta", "values", "grad_norm", "__weakref__")

    def __init__(self, fn, edges, needs_input_grad):
        self.id = tick()  # creation order, on the clock in-place writes use too (versions.py)
        self.fn, self.edges, self.needs_input_grad = fn, edges, needs_input_grad
        self.saved = ()
        self.hooks = self.label = self.output_meta = self.values = self.grad_norm = None
        self.scope = mode.scope

    def input_meta(self, i):
        """(shape, dtype) of input ``i``."""
        source, index = self.edges[i]
        if type(source) is Node:
            return source.output_meta[index]
        if type(source) is weakref.ref:
            return index
        return source.array.shape, source.array.dtype

    def save(self, *values):
        """Keep what the backward needs (``ctx.save_for_backward`` in PyTorch)."""
        self.saved = values

    @property
    def name(self) -> str:
        return self.fn.name

    @property
    def released(self) -> bool:
        """True after a backward without ``retain_graph`` freed the saved arrays."""
        return self.saved is None

    def register_hook(self, output_index, fn):
        """Call ``fn(grad)`` with the gradient of output ``output_index`` when backward reaches
        this node; a non-None result replaces that gradient. (``Tensor.register_hook`` uses it.)"""
        if self.hooks is None:
            self.hooks = []
        self.hooks.append((output_index, fn))
        return _Handle(self.hooks, (output_index, fn))

    def __repr__(self):
        return f"<Node {self.id} {self.name} scope={'/'.join(self.scope) or '-'}>"


def _edge(t):
    """Where the gradient of input ``t`` goes: an op's output carries its edge, (node, index),
    made once when it was made; a leaf's is made here."""
    return t._edge or _leaf_edge(t)


def _leaf_edge(t):
    """The edge to a leaf: the Tensor itself if its gradient is wanted (kept on it: a parameter is
    used by many ops), a small constant or named data; otherwise a weak reference, so the graph
    keeps no data alive that only the renderer would show. (``needs_input_grad`` decides whether
    a gradient flows, so a kept edge stays right if requires_grad changes.)"""
    if t.requires_grad:
        t._edge = (t, 0)
        return t._edge
    if t.array.size <= 1 or t._name is not None:  # a constant, or data the user named
        return (t, 0)
    return (weakref.ref(t), (t.array.shape, t.array.dtype))


class _Handle:
    """Returned by the ``register_*hook`` functions; ``remove()`` uninstalls the hook."""

    def __init__(self, hooks, entry):
        self.hooks, self.entry = hooks, entry

    def remove(self):
        if self.entry in self.hooks:
            self.hooks.remove(self.entry)


class _NoGraph:
    """The ``ctx`` a primitive gets when nothing is recorded: saving is a no-op."""

    __slots__ = ()
    needs_input_grad = ()

    def save(self, *values):
        pass


_NO_GRAPH = _NoGraph()


# ================================================================= 2. recording an op

def apply(fn, *inputs, **params):
    """Run primitive ``fn`` (from ``ops.py``) on Tensors ``inputs``; record a Node if any input
    requires grad and grad mode is on. Returns a Tensor, or a tuple for several outputs."""
    if mode.recorder is not None:  # a step is being captured (jit.py): it runs and records the op
        return mode.recorder.apply(fn, inputs, params)
    node = None
    # One and two inputs spelled out: a comprehension costs more than the rest of this (per op).
    if len(inputs) == 1:
        a = inputs[0]
        arrays = (a.array,)
        if a.requires_grad and mode.grad:
            node = Node(fn, (a._edge or _leaf_edge(a),), (True,))
    elif len(inputs) == 2:
        a, b = inputs
        arrays = (a.array, b.array)
        if (a.requires_grad or b.requires_grad) and mode.grad:
            node = Node(fn, (a._edge or _leaf_edge(a), b._edge or _leaf_edge(b)),
                        (a.requires_grad, b.requires_grad))
    else:
        arrays = [t.array for t in inputs]
        needs = tuple([t.requires_grad for t in inputs])
        if True in needs and mode.grad:
            node = Node(fn, tuple([_edge(t) for t in inputs]), needs)
    try:
        out = fn.forward(node or _NO_GRAPH, *arrays, **params)
    except (ValueError, IndexError, TypeError) as err:
        named = forward_error(fn, arrays, err)  # names the op; the cause keeps its traceback
        if named is err:
            raise
        raise named from err
    if type(out) is not tuple:  # the common case, spelled out: one output
        if type(out) is not np.ndarray:  # numpy reductions of 0-d data give numpy scalars
            out = np.asarray(out)
        if node is not None:
            node.output_meta = ((out.shape, out.dtype),)
            if mode.keep_values:
                node.values = (out,)
        if mode.anomaly:
            check_finite(fn, node.scope if node else mode.scope, arrays, (out,), "forward")
        return _wrap(out, node, 0)
    outs = tuple([np.asarray(o) for o in out])
    if node is not None:
        node.output_meta = tuple([(o.shape, o.dtype) for o in outs])
        if mode.keep_values:
            node.values = outs
    if mode.anomaly:
        check_finite(fn, node.scope if node else mode.scope, arrays, outs, "forward")
    return tuple([_wrap(o, node, i) for i, o in enumerate(outs)])


# ================================================================= 3. backward

def backward(roots, gradients, retain_graph=False, create_graph=False, inputs=None):
    """The reverse sweep from Tensors ``roots`` whose gradients are ``gradients``.

    Order: a node is always created after the nodes that made its inputs, so its id is larger.
    Taking nodes from a max-heap of ids reaches each node only after every node that uses its
    outputs has sent it a gradient — a reverse topological order with no recursion and no
    separate sort. Only nodes that receive a gradient are visited; each VJP runs exactly once.
    (The heap holds the ids, negated, and ``queued`` maps them to their nodes: plain ints compare
    faster than (id, node) pairs.)

    ``create_graph``: the gradients are Tensors and each VJP runs on Tensors (:class:`_OnGraph`),
    so the sweep is recorded and its result can be differentiated again. ``inputs``: return their
    gradients (None where none arrived) instead of adding into leaves' ``.grad``. A plain sweep
    run in a VJP (checkpoint's recompute) leaves its Deferreds to the enclosing one (same bits).
    """
    wanted = None if inputs is None else {_key(t): None for t in inputs}
    outer, plain = mode.products, inputs is None and not create_graph  # leaf -> ProductSum
    pending, heap, queued = {}, [], {}  # node -> its output grads; -ids; -id -> node
    deferred = outer if plain and outer is not None else {}
    watched = mode.anomaly or bool(_backward_hooks) or wanted is not None  # the slower checks
    previous, mode.grad, mode.products = mode.grad, create_graph, deferred if plain else None
    try:
        for root, g in zip(roots, gradients):  # (Tensors under create_graph)
            if root._node is None:
                _accumulate_leaf(root, g, create_graph, wanted)
                continue
            if root._node not in pending:
                pending[root._node] = [None] * len(root._node.output_meta)
                heappush(heap, -root._node.id)
                queued[-root._node.id] = root._node
            _add_into(pending[root._node], root._idx, g)
        while heap:
            node = queued.pop(heappop(heap))
            grads = pending.pop(node)
            # released, or written into since it was recorded (a write anywhere after it: check)
            if node.saved is None or (node.id < versions.last_change and node.saved):
                _check_backward_allowed(node)
            if node.hooks:
                grads = _run_tensor_hooks(node, grads)
            if create_graph:
                input_grads = node.fn.backward(_OnGraph(node), *grads)
            else:
                input_grads = node.fn.backward(node, *grads)
            if type(input_grads) is not tuple:
                input_grads = (input_grads,)
            if watched:
                input_grads = _watch(node, grads, input_grads, wanted)
            for i, (source, index) in enumerate(node.edges):
                g = input_grads[i]
                if g is None or not node.needs_input_grad[i]:
                    continue
                if type(source) is not Node:  # a leaf
                    if type(g) is Deferred and not (source._hooks or create_graph):
                        # summed with the leaf's other products, many rows at a time (products.py)
                        (deferred.get(source) or deferred.setdefault(source, ProductSum())).add(g)
                        continue
                    data = source.array
                    # `is not`: equal dtypes are almost always the same object; _conform decides.
                    if type(g) is not np.ndarray or g.shape != data.shape or \
                            g.dtype is not data.dtype or create_graph:
                        g = _conform(g, node, i, create_graph)
                    _accumulate_leaf(source, g, create_graph, wanted)
                    continue
                shape, dtype = source.output_meta[index]
                if type(g) is not np.ndarray or g.shape != shape or g.dtype is not dtype or \
                        create_graph:
                    g = _conform(g, node, i, create_graph)
                slot = pending.get(source)
                if slot is None:  # the first gradient to reach this node
                    slot = pending[source] = [None] * len(source.output_meta)
                    heappush(heap, -source.id)
                    queued[-source.id] = source
                    slot[index] = g
                else:
                    _add_into(slot, index, g)
            if not retain_graph:
                node.saved = None
        for leaf, products in (deferred.items() if deferred is not outer else ()):
            total = products.value()
            if total.shape != leaf.array.shape:
                raise RuntimeError(f"backward: gradient products of shape {total.shape} reached a "
                                   f"leaf of shape {leaf.array.shape}")
            _accumulate_leaf(leaf, total, create_graph, wanted)
    finally:
        mode.grad, mode.products = previous, outer
    return None if wanted is None else [wanted[_key(t)] for t in inputs]


def _watch(node, grads, input_grads, wanted):
    """What a sweep does per node only when asked: note gradients ``autograd.grad`` wants (an
    input may be an output of this node), check for NaN/Inf (detect_anomaly), and show the
    node's gradients to the backward hooks (as arrays: Deferred products computed)."""
    if wanted is not None:
        wanted.update({(id(node), k): g for k, g in enumerate(grads) if (id(node), k) in wanted})
    if mode.anomaly:
        check_finite(node.fn, node.scope, [g for g in grads if g is not None], input_grads,
                     "backward")
    if _backward_hooks:
        input_grads = tuple([_value(g) for g in input_grads])
        for hook in _backward_hooks:  # hooks see arrays (a Tensor's under create_graph)
            hook(node, [getattr(g, "array", g) for g in grads],
                 [getattr(g, "array", g) for g in input_grads])
    return input_grads


def _key(t):  # where Tensor t's gradient is found during a sweep: (node, output) or the leaf
    return (id(t), 0) if t._node is None else (id(t._node), t._idx)


class _OnGraph:
    """The ``ctx`` a VJP gets under ``create_graph``: ``saved`` with every saved input and output
    of the op (``fn.saved_as`` says which values those are) as a Tensor on the graph — an input
    on its edge, the output on this node — so what the VJP computes from them is recorded."""

    __slots__ = ("saved", "needs_input_grad")

    def __init__(self, node):
        if not node.fn.twice_differentiable:
            raise RuntimeError(f"{node.name} (scope {'/'.join(node.scope) or '-'}) is not twice "
                               f"differentiable: backward(create_graph=True) cannot go through it")
        saved = list(node.saved)
        for j, role in enumerate(node.fn.saved_as):
            if role is None:
                continue
            source, index = (node, 0) if role == "out" else node.edges[role]
            if type(source) is Node:
                saved[j] = _wrap(np.asarray(saved[j]), source, index)
            else:  # a leaf: itself if it wants a gradient, else a constant
                saved[j] = source if node.needs_input_grad[role] else _wrap(np.asarray(saved[j]))
        self.saved, self.needs_input_grad = tuple(saved), node.needs_input_grad


def _add_into(slot, index, g):
    """Gradient routing: add ``g`` to ``slot[index]``. The first gradient is stored as it is (an
    array someone else may hold, or a read-only broadcast view: never written into); a sum is a
    new array — or, under create_graph, a recorded Tensor sum."""
    prev = slot[index]
    if prev is None:
        slot[index] = g
    else:
        total = slot[index] = prev + g
        if isinstance(total, np.generic):  # numpy sums 0-d arrays into a scalar
            slot[index] = np.asarray(total)


def _value(g):
    return g.value() if type(g) is Deferred else g


def _conform(g, node, i, create_graph=False):
    """A VJP's result for input ``i`` with that input's shape and dtype: an ndarray, or under
    ``create_graph`` a Tensor (a plain array there means the VJP left the graph)."""
    shape, dtype = node.input_meta(i)
    g = _value(g)
    if create_graph != hasattr(g, "_edge"):
        if create_graph:
            raise RuntimeError(f"{node.name}: its backward computed the gradient of input {i} "
                               f"on arrays, outside the graph, so it is not twice differentiable")
        g = np.asarray(g)
    if g.shape != shape:
        raise RuntimeError(f"{node.name} backward returned a gradient of shape {g.shape} for "
                           f"input {i} of shape {shape}")
    if g.dtype == dtype:
        return g
    return g.to(dtype) if create_graph else g.astype(dtype)


def _accumulate_leaf(t, g, create_graph=False, wanted=None):
    """A gradient reaching leaf ``t``: into ``wanted`` (``autograd.grad``) or into ``t.grad``."""
    if wanted is not None:
        if (id(t), 0) in wanted:
            wanted[id(t), 0] = g if wanted[id(t), 0] is None else wanted[id(t), 0] + g
        return
    if t._hooks:
        for fn in t._hooks:
            g = _hook_result(fn(g), g)
    if create_graph:  # .grad carries the gradient's graph
        t._grad = g if t._grad is None else t._grad + g
    elif t._grad is None:  # own the array: g may be shared or read-only
        t._grad = _wrap(np.array(g, dtype=t.array.dtype, copy=True))
    elif t._grad._node is not None:  # a .grad from create_graph: its array belongs to a graph
        t._grad = _wrap(t._grad.array + g)
    else:
        t._grad.array += g


def _run_tensor_hooks(node, grads):
    grads = list(grads)
    for index, fn in node.hooks:
        if grads[index] is not None:
            grads[index] = _hook_result(fn(grads[index]), grads[index])
    return grads


def _hook_result(result, g):
    if result is None or hasattr(g, "_edge"):  # under create_graph a hook gets and gives Tensors
        return g if result is None else result
    return np.asarray(result, dtype=g.dtype)  # a Tensor converts through __array__


# ---------------------------------------------------------------- hooks on every node

_backward_hooks = []


def register_backward_hook(fn):
    """Call ``fn(node, grad_outputs, grad_inputs)`` for every node each ``backward()`` visits, in
    visit order, right after the node's VJP ran. ``grad_outputs``: the summed gradient of each of
    the node's outputs (None where none arrived); ``grad_inputs``: what the VJP returned per input
    (None where the input needs no gradient). Returns a handle with ``remove()``. The renderer's
    gradient heat and the explorer's backward replay use this; hooks must not modify the arrays."""
    _backward_hooks.append(fn)
    return _Handle(_backward_hooks, fn)
