"""The engine: the graph ``Node``, recording an op, the reverse sweep, and ``Tensor``.

Read it top to bottom, in the order one learns it:

1. **Node** — what one recorded op keeps: the primitive that ran (``ops.py``), an *edge* per input
   (where that input's gradient must go), the arrays its VJP saved, and metadata for the renderer
   (shapes, dtypes, the scope it ran in). A node points at its parents' *nodes*, never at their
   data: an intermediate array stays alive only if some VJP saved it or the user holds the Tensor.
2. **Recording** — :func:`apply` runs a primitive's forward and, when a gradient may flow,
   records a Node.
3. **Backward** — :func:`backward` walks the nodes in reverse, calls each VJP once with the
   summed gradient of its outputs and adds the results into the parents.
4. **Tensor** — the array users hold, with PyTorch's names and semantics.
5. **Creation helpers** — ``tensor``, ``zeros``, ``arange`` …
"""
from __future__ import annotations

from heapq import heappop, heappush
import itertools
import math
import weakref
from collections import namedtuple
from contextlib import ContextDecorator

import numpy as np

from . import ops
from .ops import Deferred
from .random import get_rng

DEFAULT_FLOAT = np.dtype(np.float32)  # as PyTorch: Python floats become float32


class _Mode:
    """What recording does right now (changed only through the context managers below)."""

    grad = True          # record graphs at all (no_grad turns it off)
    scope = ()           # the scope path new nodes record, e.g. ("lstm", "l0", "t3")
    anomaly = False      # check every op's result for NaN/Inf (detect_anomaly)
    keep_values = False  # nodes keep their output arrays for the renderer (keep_values)


mode = _Mode()


# ================================================================= 1. the graph record

class Node:
    """One recorded op.

    For backward: ``fn`` (the primitive), ``edges`` — per input, in argument order, a pair
    ``(source, output_index)`` where ``source`` is the Node that produced the input, or the leaf
    Tensor to accumulate into (index 0), or, for an input that needs no gradient, a weak reference
    to it paired with its (shape, dtype) (a Tensor of at most one element, a constant, is kept as
    is for the renderer) —, ``needs_input_grad`` and ``saved`` (what the VJP keeps; ``ctx.save``
    in ``ops.py``).

    For the renderer and diagnostics: ``id`` (creation order), ``scope``, ``label`` (a Tensor's
    ``name``), ``output_meta`` (shape, dtype) per output, ``values`` (output arrays, only under
    :func:`keep_values`) and ``grad_norm`` (set by :func:`track_grad_norms`).
    """

    __slots__ = ("id", "fn", "edges", "needs_input_grad", "saved", "hooks", "scope", "label",
                 "output_meta", "values", "grad_norm", "__weakref__")

    _ids = itertools.count()

    def __init__(self, fn, edges, needs_input_grad):
        self.id = _next_id()
        self.fn = fn
        self.edges = edges
        self.needs_input_grad = needs_input_grad
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
        return source.data.shape, source.data.dtype

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


_next_id = Node._ids.__next__


def _edge(t):
    """Where the gradient of input ``t`` goes: an op's output carries its edge, (node, index),
    made once when it was made; a leaf's is made here."""
    return t._edge or _leaf_edge(t)


def _leaf_edge(t):
    """The edge to a leaf: the Tensor itself if its gradient is wanted (kept on it after the first
    time: a parameter is used by many ops), a small constant or named data; otherwise a weak reference,
    so the graph does not keep data alive that only the renderer would show. (Whether a gradient
    flows is decided by ``needs_input_grad``, so a kept edge stays right if requires_grad
    changes.)"""
    if t.requires_grad:
        t._edge = (t, 0)
        return t._edge
    if t.data.size <= 1 or t._name is not None:  # a constant, or data the user named
        return (t, 0)
    return (weakref.ref(t), (t.data.shape, t.data.dtype))


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
    node = None
    # Ops of one and two inputs spelled out: a comprehension would cost more than the rest of
    # the bookkeeping (this runs once per op; a small op's numpy work is about a microsecond).
    if len(inputs) == 2:
        a, b = inputs
        arrays = (a.data, b.data)
        if (a.requires_grad or b.requires_grad) and mode.grad:
            node = Node(fn, (_edge(a), _edge(b)), (a.requires_grad, b.requires_grad))
    elif len(inputs) == 1:
        a = inputs[0]
        arrays = (a.data,)
        if a.requires_grad and mode.grad:
            node = Node(fn, (_edge(a),), (True,))
    else:
        arrays = [t.data for t in inputs]
        needs = tuple([t.requires_grad for t in inputs])
        if True in needs and mode.grad:
            node = Node(fn, tuple([_edge(t) for t in inputs]), needs)
    try:
        out = fn.forward(node or _NO_GRAPH, *arrays, **params)
    except (ValueError, IndexError, TypeError) as err:
        raise _forward_error(fn, arrays, err) from None
    if type(out) is not tuple:  # the common case, spelled out: one output
        if type(out) is not np.ndarray:  # numpy reductions of 0-d data give numpy scalars
            out = np.asarray(out)
        if node is not None:
            node.output_meta = ((out.shape, out.dtype),)
            if mode.keep_values:
                node.values = (out,)
        if mode.anomaly:
            _check_finite(fn, node, arrays, (out,), "forward")
        return _tensor(out, node, 0)
    outs = tuple([np.asarray(o) for o in out])
    if node is not None:
        node.output_meta = tuple([(o.shape, o.dtype) for o in outs])
        if mode.keep_values:
            node.values = outs
    if mode.anomaly:
        _check_finite(fn, node, arrays, outs, "forward")
    return tuple([_tensor(o, node, i) for i, o in enumerate(outs)])


# ---------------------------------------------------------------- in-place changes
# A VJP may save an array that an in-place op overwrites later; its gradient would then be
# silently wrong. So every in-place op notes which memory it changed and when (as a node id:
# nodes recorded before it saw the old values), and backward refuses a node that saved changed
# memory. Views share memory with their base, so a change through any of them counts (PyTorch
# gets the same effect from version counters shared by views).

_changed = {}  # id(array that owns the memory) -> (weak reference to it, node id at the change)


def _owner(array):
    while isinstance(array.base, np.ndarray):
        array = array.base
    return array


def _note_change(array):
    owner = _owner(array)
    _changed[id(owner)] = (weakref.ref(owner), next(Node._ids))
    if len(_changed) > 10_000:  # forget memory that no longer exists
        for key in [k for k, (ref, _) in _changed.items() if ref() is None]:
            del _changed[key]


def _changed_since(array, node_id):
    owner = _owner(array)
    entry = _changed.get(id(owner))
    return entry is not None and entry[1] > node_id and entry[0]() is owner


def _forward_error(fn, arrays, err):
    """Turn an error raised inside a primitive's forward into one that names the op and shapes."""
    msg = str(err)
    if msg.startswith(fn.name + ":"):
        return err
    if fn.broadcasts and isinstance(err, ValueError):
        return ValueError(f"{fn.name}: shapes {_shapes(arrays)} cannot be broadcast together "
                          f"(trailing dimensions must be equal or 1)")
    return type(err)(f"{fn.name}: failed on inputs of shapes {_shapes(arrays)}: {msg}")


def _shapes(arrays) -> str:
    return ", ".join(str(tuple(np.shape(a))) for a in arrays)


def _check_finite(fn, node, inputs, outputs, phase):
    inputs_ok = all(np.isfinite(a).all() for a in inputs
                    if a is not None and a.dtype.kind in "fc")
    bad = [o for o in outputs if o is not None and o.dtype.kind in "fc" and not np.isfinite(o).all()]
    if bad and inputs_ok:
        where = "/".join(node.scope if node is not None else mode.scope) or "(top level)"
        raise AnomalyError(
            f"{fn.name} {phase} produced NaN/Inf in scope {where}; input shapes "
            f"[{_shapes([a for a in inputs if a is not None])}]")


# ================================================================= 3. backward

def backward(root, gradient, retain_graph=False):
    """The reverse sweep from Tensor ``root`` whose gradient is ``gradient`` (an array).

    Order: a node is always created after the nodes that made its inputs, so its id is larger.
    Taking nodes from a max-heap of ids reaches each node only after every node that uses its
    outputs has sent it a gradient — a reverse topological order with no recursion and no
    separate sort. Only nodes that receive a gradient are visited; each VJP runs exactly once.
    """
    if root._node is None:
        _accumulate_leaf(root, gradient)
        return
    start = root._node
    pending = {start: [None] * len(start.output_meta)}  # node -> gradient of each output so far
    pending[start][root._idx] = gradient
    heap = [(-start.id, start)]
    owned = set()  # ids of gradient sums made here: safe to add into in place
    deferred = {}  # leaf -> its gradient products not computed yet (ops.Deferred)
    while heap:
        node = heappop(heap)[1]
        grads = pending.pop(node)
        if node.saved is None or (_changed and node.saved):  # released, or saved arrays changed?
            _check_backward_allowed(node)
        if node.hooks:
            grads = _run_tensor_hooks(node, grads)
        input_grads = node.fn.backward(node, *grads)
        if type(input_grads) is not tuple:
            input_grads = (input_grads,)
        if mode.anomaly:
            _check_finite(node.fn, node, [g for g in grads if g is not None], input_grads,
                          "backward")
        if _backward_hooks:
            input_grads = tuple([_value(g) for g in input_grads])  # hooks see arrays
            for hook in _backward_hooks:
                hook(node, grads, input_grads)
        for i, ((source, index), g, need) in enumerate(zip(node.edges, input_grads,
                                                             node.needs_input_grad)):
            if g is None or not need:
                continue
            if type(source) is not Node:  # a leaf
                if type(g) is Deferred and not source._hooks:
                    deferred.setdefault(source, []).append(g)  # summed as one product at the end
                    continue
                data = source.data
                # `is not`: equal dtypes are almost always the same object; _conform decides.
                if type(g) is not np.ndarray or g.shape != data.shape or g.dtype is not data.dtype:
                    g = _conform(g, node, i)
                _accumulate_leaf(source, g)
                continue
            shape, dtype = source.output_meta[index]
            if type(g) is not np.ndarray or g.shape != shape or g.dtype is not dtype:
                g = _conform(g, node, i)
            slot = pending.get(source)
            if slot is None:  # the first gradient to reach this node
                slot = pending[source] = [None] * len(source.output_meta)
                heappush(heap, (-source.id, source))
            if slot[index] is None:
                slot[index] = g
            else:
                _add_into(slot, index, g, owned)
        if owned:
            for g in grads:
                owned.discard(id(g))
        if not retain_graph:
            node.saved = None
    for leaf, products in deferred.items():
        total = Deferred.total(products)
        if total.shape != leaf.data.shape:
            raise RuntimeError(f"backward: gradient products of shape {total.shape} reached a "
                               f"leaf of shape {leaf.data.shape}")
        _accumulate_leaf(leaf, total)


def _add_into(slot, index, g, owned):
    """Gradient routing: add ``g`` to ``slot[index]``. The first gradient is stored as it is (it
    may be an array someone else holds, or a read-only broadcast view, so it is never written
    into); a sum is a fresh array this backward owns, and later gradients are added into it."""
    prev = slot[index]
    if prev is None:
        slot[index] = g
    elif id(prev) in owned:
        prev += g
    else:
        total = slot[index] = np.asarray(prev + g)  # asarray: 0-d sums would be numpy scalars
        owned.add(id(total))


def _value(g):
    return g.value() if type(g) is Deferred else g


def _conform(g, node, i):
    """A VJP's result for input ``i`` as an ndarray of that input's shape and dtype."""
    shape, dtype = node.input_meta(i)
    if type(g) is not np.ndarray:
        g = np.asarray(_value(g))
    if g.shape != shape:
        raise RuntimeError(f"{node.name} backward returned a gradient of shape {g.shape} for "
                           f"input {i} of shape {shape}")
    return g if g.dtype == dtype else g.astype(dtype)


def _accumulate_leaf(t, g):
    if t._hooks:
        for fn in t._hooks:
            g = _hook_result(fn(g), g)
    if t.grad is None:
        t.grad = np.array(g, dtype=t.data.dtype, copy=True)  # own it: g may be shared or read-only
    else:
        t.grad += g


def _check_backward_allowed(node):
    if node.saved is None:
        raise RuntimeError(
            f"backward: trying to backward through the graph a second time (node {node.name} in "
            f"scope {'/'.join(node.scope) or '-'}): its saved arrays were freed; call "
            f"backward(retain_graph=True) the first time")
    for saved in node.saved:
        if type(saved) is np.ndarray and _changed_since(saved, node.id):
            raise RuntimeError(
                f"backward: one of the arrays needed for the gradient of {node.name} (scope "
                f"{'/'.join(node.scope) or '-'}, shape {saved.shape}) has been modified by an "
                f"in-place operation after it was saved. Use an out-of-place op (x = x + y "
                f"instead of x += y), or clone() before changing it.")


def _run_tensor_hooks(node, grads):
    grads = list(grads)
    for index, fn in node.hooks:
        if grads[index] is not None:
            grads[index] = _hook_result(fn(grads[index]), grads[index])
    return grads


def _hook_result(result, g):
    if result is None:
        return g
    return np.asarray(result.data if isinstance(result, Tensor) else result, dtype=g.dtype)


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


def _record_grad_norm(node, grads, input_grads):
    node.grad_norm = math.sqrt(sum(float(np.vdot(g, g).real) for g in grads if g is not None))


class track_grad_norms:
    """Record ‖dL/d(outputs)‖ on every node backward visits (``node.grad_norm``), which the
    renderer's gradient heat and ``viz.time_step_grad_norms`` read. A backward hook: off by
    default (importing ``tinygrad_rnn.viz`` turns it on); it costs about a microsecond a node.

        tg.track_grad_norms(True)            # from now on
        with tg.track_grad_norms(False):     # or only inside the block
            ...
    """

    def __init__(self, enabled=True):
        self.prev = _record_grad_norm in _backward_hooks
        _set_grad_norms(bool(enabled))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _set_grad_norms(self.prev)


def _set_grad_norms(enabled):
    if enabled and _record_grad_norm not in _backward_hooks:
        _backward_hooks.append(_record_grad_norm)
    elif not enabled and _record_grad_norm in _backward_hooks:
        _backward_hooks.remove(_record_grad_norm)


# ---------------------------------------------------------------- modes

class no_grad:
    """Ops inside record no graph (``torch.no_grad``). A context manager, and a decorator with
    or without parentheses: ``@no_grad`` and ``@no_grad()`` both work."""

    _enabled = False

    def __new__(cls, fn=None):
        self = super().__new__(cls)
        return self(fn) if callable(fn) else self

    def __enter__(self):
        self.prev = mode.grad
        mode.grad = self._enabled

    def __exit__(self, *exc):
        mode.grad = self.prev

    def __call__(self, fn):
        def wrapper(*args, **kwargs):
            with type(self)():
                return fn(*args, **kwargs)
        wrapper.__name__, wrapper.__doc__, wrapper.__wrapped__ = fn.__name__, fn.__doc__, fn
        return wrapper


class enable_grad(no_grad):
    """Turn recording back on inside a ``no_grad`` block."""

    _enabled = True


def is_grad_enabled() -> bool:
    return mode.grad


class _setting(ContextDecorator):
    """Set ``mode.<name>`` inside a ``with`` block (or a decorated function), then restore it.
    A small class, not a generator: recurrent layers enter a scope at every time step."""

    __slots__ = ("name", "value", "prev")

    def __init__(self, name, value):
        self.name, self.value = name, value

    def __enter__(self):
        self.prev = getattr(mode, self.name)
        setattr(mode, self.name, self.value)
        return self

    def __exit__(self, *exc):
        setattr(mode, self.name, self.prev)

    def _recreate_cm(self):  # a decorated function may be re-entered: a fresh one per call
        return _setting(self.name, self.value)


class AnomalyError(RuntimeError):
    """Raised under :func:`detect_anomaly` by the first op whose result is NaN or Inf."""


def detect_anomaly():
    """Check every op's output (forward) and every VJP's result (backward) for NaN/Inf; the first
    op that *produces* one from finite inputs raises :class:`AnomalyError` naming the op, its
    scope and its input shapes. Slow; for debugging."""
    return _setting("anomaly", True)


def keep_values():
    """Nodes recorded inside keep their output arrays (``node.values``) so the renderer can show
    the values of intermediates the program no longer holds. Costs the memory the saved-tensors
    graph saves; use it for the graphs you draw, not for training."""
    return _setting("keep_values", True)


def scope(name: str):
    """Name the nodes recorded inside: ``with scope("encoder"): ...``. Scopes nest into a path."""
    return _setting("scope", mode.scope + (str(name),))


def current_scope() -> tuple:
    return mode.scope


def graph_nodes(root) -> list:
    """Every Node that ``root`` (a Tensor or a list of them) was computed from, oldest first.
    Iterative, so it works on graphs of any depth."""
    roots = root if isinstance(root, (list, tuple)) else [root]
    seen, stack = {}, [t._node for t in roots if t._node is not None]
    while stack:
        node = stack.pop()
        if node.id not in seen:
            seen[node.id] = node
            stack.extend(src for src, _ in node.edges if type(src) is Node)
    return [seen[k] for k in sorted(seen)]


# ================================================================= 4. Tensor

MaxResult = namedtuple("MaxResult", "values indices")


class Tensor:
    """An n-dimensional array that records the operations applied to it.

    ``Tensor(data, requires_grad=False, dtype=None)`` copies ``data`` (an array, list or number),
    as ``torch.tensor``; :func:`from_numpy` shares the array instead. Python floats become
    float32 and Python ints int64 (as PyTorch); numpy arrays keep their dtype. Only floating
    point tensors can require grad.
    """

    __slots__ = ("data", "grad", "requires_grad", "_node", "_idx", "_edge", "_name", "_hooks",
                 "_retains_grad", "__weakref__")
    __array_priority__ = 1000  # so ndarray + Tensor calls Tensor.__radd__

    def __init__(self, data, requires_grad=False, dtype=None):
        # the same fields as _tensor sets, for a leaf
        self.data, self.grad, self._node, self._idx, self._edge = _to_array(data, dtype, copy=True), \
            None, None, 0, None
        self._name, self._hooks, self._retains_grad = None, None, False
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    # ------------------------------------------------------------ attributes
    shape = property(lambda self: self.data.shape)
    ndim = property(lambda self: self.data.ndim)
    dtype = property(lambda self: self.data.dtype)
    node = property(lambda self: self._node, doc="The Node that produced this tensor (None for leaves).")
    output_index = property(lambda self: self._idx, doc="Which output of ``node`` this tensor is.")
    is_leaf = property(lambda self: self._node is None)

    @property
    def name(self):
        """A name the renderer shows (micrograd's ``label``): ``x_t``, ``h_0``, ``forget gate``.
        On an op's output it names the op's node, so it outlives this Tensor object."""
        return self._node.label if self._node is not None else self._name

    @name.setter
    def name(self, value):
        if self._node is not None:
            self._node.label = value
        else:
            self._name = value

    def named(self, name):
        """Set ``name`` and return self: ``f = z_f.sigmoid().named("forget gate")``."""
        self.name = name
        return self

    def size(self, dim=None):
        return self.shape if dim is None else self.shape[_axis(dim, self.ndim, "size")]

    def dim(self) -> int:
        return self.ndim

    def numel(self) -> int:
        return self.data.size

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return iter(self.unbind(0))

    def numpy(self) -> np.ndarray:
        return self.data

    def __array__(self, dtype=None, copy=None):
        return self.data if dtype is None else self.data.astype(dtype, copy=False)

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item: only one-element tensors can be converted to Python "
                             f"numbers, got shape {self.shape}")
        return self.data.item()

    def tolist(self):
        return self.data.tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.data.size != 1 or self.dtype.kind not in "iub":
            raise TypeError(f"only integer tensors of a single element can be converted to an "
                            f"index, got dtype {self.dtype} and shape {self.shape}")
        return int(self.data.item())

    def __bool__(self):
        if self.data.size != 1:
            raise RuntimeError(f"bool: the truth value of a tensor of shape {self.shape} is "
                               f"ambiguous")
        return bool(self.data)

    def __repr__(self):
        body = np.array2string(self.data, precision=4, threshold=20, edgeitems=2,
                               separator=", ", prefix="Tensor(")
        extra = [f"dtype={self.dtype}"]
        if self._node is not None:
            extra.append(f"op={self._node.name}")
        elif self.requires_grad:
            extra.append("requires_grad=True")
        if self.name:
            extra.append(f"name={self.name!r}")
        return f"Tensor({body}, {', '.join(extra)})"

    # ------------------------------------------------------------ gradients
    def requires_grad_(self, requires_grad=True):
        if requires_grad and self.data.dtype.kind not in "fc":
            raise TypeError(f"requires_grad: only floating point tensors can require grad, this "
                            f"one has dtype {self.data.dtype}")
        if self._node is not None and not requires_grad:
            raise RuntimeError("requires_grad_: cannot turn off grad on a non-leaf tensor; use "
                               "detach()")
        self.requires_grad = bool(requires_grad)
        return self

    def detach(self) -> "Tensor":
        """A new leaf sharing the data, cut from the graph: how truncated BPTT stops gradients."""
        return _tensor(self.data)

    def clone(self) -> "Tensor":
        """A copy of the data that stays in the graph (the gradient passes straight through)."""
        return apply(ops.Clone, self)

    def register_hook(self, fn):
        """Call ``fn(grad)`` when the gradient with respect to this tensor is computed; a
        non-None result replaces it (``torch.Tensor.register_hook``). Returns a handle."""
        if not self.requires_grad:
            raise RuntimeError("register_hook: cannot register a hook on a tensor that doesn't "
                               "require gradient")
        if self._node is not None:
            return self._node.register_hook(self._idx, fn)
        if self._hooks is None:
            self._hooks = []
        self._hooks.append(fn)
        return _Handle(self._hooks, fn)

    def retain_grad(self):
        """Keep ``.grad`` on this non-leaf after backward (leaves always keep it). Calling it
        twice changes nothing."""
        if self._node is None or self._retains_grad:
            return self
        self._retains_grad = True
        ref = weakref.ref(self)

        def keep(g):
            t = ref()
            if t is not None:
                _accumulate_leaf(t, g)
        self._node.register_hook(self._idx, keep)
        return self

    @property
    def retains_grad(self) -> bool:
        return self._retains_grad

    def backward(self, gradient=None, retain_graph=False):
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf that requires grad.

        ``gradient`` is dL/d(self) (needed unless self has one element). Saved arrays are freed
        afterwards unless ``retain_graph=True``.
        """
        if not self.requires_grad:
            raise RuntimeError("backward: this tensor does not require grad and has no graph (was "
                               "it made under no_grad(), or from tensors without requires_grad?)")
        if gradient is None:
            if self.data.size != 1:
                raise RuntimeError(f"backward: gradient can be implied only for a one-element "
                                   f"tensor, this one has shape {self.shape}; pass "
                                   f"backward(gradient)")
            gradient = np.ones(self.shape, dtype=self.dtype)
        else:
            gradient = np.asarray(_raw(gradient), dtype=self.dtype)
            if gradient.shape != self.shape:
                raise ValueError(f"backward: gradient of shape {gradient.shape} does not match "
                                 f"the tensor's shape {self.shape}")
        backward(self, gradient, retain_graph)

    # ------------------------------------------------------------ arithmetic (PyTorch promotion)
    def __add__(self, other): return _binary(ops.Add, self, other)
    def __radd__(self, other): return _binary(ops.Add, other, self)
    def __sub__(self, other): return _binary(ops.Sub, self, other)
    def __rsub__(self, other): return _binary(ops.Sub, other, self)
    def __mul__(self, other): return _binary(ops.Mul, self, other)
    def __rmul__(self, other): return _binary(ops.Mul, other, self)
    def __truediv__(self, other): return _binary(ops.Div, self, other)
    def __rtruediv__(self, other): return _binary(ops.Div, other, self)
    def __pow__(self, other): return _binary(ops.Pow, self, other)
    def __rpow__(self, other): return _binary(ops.Pow, other, self)
    def __matmul__(self, other): return _matmul(self, other)
    def __rmatmul__(self, other): return _matmul(other, self)
    def __neg__(self): return apply(ops.Neg, self)
    def __pos__(self): return self
    def __abs__(self): return self.abs()

    def maximum(self, other): return _binary(ops.Maximum, self, other)
    def minimum(self, other): return _binary(ops.Minimum, self, other)

    # Comparisons give boolean tensors with no gradient.
    def __lt__(self, other): return _tensor(np.asarray(self.data < _raw(other)))
    def __le__(self, other): return _tensor(np.asarray(self.data <= _raw(other)))
    def __gt__(self, other): return _tensor(np.asarray(self.data > _raw(other)))
    def __ge__(self, other): return _tensor(np.asarray(self.data >= _raw(other)))
    def __eq__(self, other): return _tensor(np.asarray(self.data == _raw(other)))
    def __ne__(self, other): return _tensor(np.asarray(self.data != _raw(other)))
    __hash__ = object.__hash__

    # ------------------------------------------------------------ in place
    # Python's `p -= x` calls __isub__: it must write into p (an optimizer step by hand), not
    # rebind the name to a new tensor.
    def __iadd__(self, other): return self._in_place(ops.Add, other)
    def __isub__(self, other): return self._in_place(ops.Sub, other)
    def __imul__(self, other): return self._in_place(ops.Mul, other)
    def __itruediv__(self, other): return self._in_place(ops.Div, other)

    def add_(self, other, alpha=1):
        return self._in_place(ops.Add, other if alpha == 1 else _lift(other, self) * alpha)

    def sub_(self, other, alpha=1):
        return self._in_place(ops.Sub, other if alpha == 1 else _lift(other, self) * alpha)

    def mul_(self, other): return self._in_place(ops.Mul, other)
    def div_(self, other): return self._in_place(ops.Div, other)
    def zero_(self): return self.fill_(0)

    def fill_(self, value):
        """Set every element to ``value`` (a number, or a 0-d tensor whose gradient is summed)."""
        return self.copy_(value)

    def copy_(self, src):
        """Write ``src`` (broadcast to this shape) into this tensor; ``src`` gets the gradient."""
        return self._in_place(lambda t: where(np.ones(t.shape, bool), _lift(src, t), t))

    def clamp_(self, min=None, max=None):
        return self._in_place(lambda t: t.clamp(min, max))

    def _in_place(self, fn, *args):
        """Write ``fn(self, *args)`` into this tensor's array (and note the change, see
        ``_note_change``).

        Outside ``no_grad``, an in-place op on a leaf that requires grad is refused (its
        ``.grad`` would belong to values it no longer holds); on a non-leaf it is recorded like
        the out-of-place op, and this tensor moves to the new node, as in PyTorch.
        """
        recording = mode.grad and (self.requires_grad or
                                   any(isinstance(a, Tensor) and a.requires_grad for a in args))
        if recording and self.requires_grad and self._node is None:
            raise RuntimeError("in-place operation: a leaf tensor that requires grad is being "
                               "used in an in-place operation; wrap the update in "
                               "`with tg.no_grad():` (as an optimizer does)")
        if recording and self.requires_grad and self.data.base is not None:
            raise RuntimeError("in-place operation on a view (a slice, reshape, split …) of a "
                               "tensor that requires grad is not supported: it would change the "
                               "base tensor behind the graph's back; use an out-of-place op")
        compute = fn if not isinstance(fn, type) else (lambda t, *a: _binary(fn, t, *a))
        # The op sees a copy: whatever its backward saves of the old value stays valid after
        # the array is overwritten below.
        source = _tensor(self.data.copy(), self._node, self._idx) if recording else self
        with _setting("grad", recording):
            result = compute(source, *args)
        if result.shape != self.shape:
            raise RuntimeError(f"in-place operation: the result's shape {result.shape} does not "
                               f"match the tensor's shape {self.shape} it is written into")
        if not np.can_cast(result.dtype, self.dtype, "same_kind"):
            raise TypeError(f"in-place operation: result type {result.dtype} cannot be written "
                            f"into a tensor of dtype {self.dtype}")
        np.copyto(self.data, result.data, casting="same_kind")
        _note_change(self.data)
        if recording:
            self._node, self._idx, self._edge = result._node, result._idx, result._edge
            self.requires_grad = True
        return self

    def __setitem__(self, index, value):
        """``x[index] = value`` writes in place (outside the graph: not on tensors that
        require grad while grad mode is on)."""
        if mode.grad and self.requires_grad:
            raise RuntimeError("setitem: assigning into a tensor that requires grad is not "
                               "supported while grad mode is on; use torch-style where/cat, or "
                               "do it under no_grad()")
        index, _ = _normalize_index(index)
        self.data[index] = _raw(value)
        _note_change(self.data)

    # ------------------------------------------------------------ elementwise
    def exp(self): return apply(ops.Exp, self._as_float())
    def log(self): return apply(ops.Log, self._as_float())
    def tanh(self): return apply(ops.Tanh, self._as_float())
    def sigmoid(self): return apply(ops.Sigmoid, self._as_float())
    def sqrt(self): return apply(ops.Sqrt, self._as_float())
    def relu(self): return apply(ops.Relu, self)
    def abs(self): return apply(ops.Abs, self)

    def clamp(self, min=None, max=None):
        """Limit to [min, max]; the gradient passes where min ≤ x ≤ max (as PyTorch)."""
        if min is None and max is None:
            raise ValueError("clamp: at least one of min and max must be given")
        return apply(ops.Clamp, self, lo=min, hi=max)

    clip = clamp

    def lerp(self, end, weight):
        """self + weight·(end - self) (see :func:`lerp`)."""
        return lerp(self, end, weight)

    def masked_fill(self, mask, value):
        """``value`` where ``mask`` is True, else self (no gradient where filled)."""
        return where(mask, _lift(value, self), self)

    def _as_float(self):
        return self if self.data.dtype.kind in "fc" else self.to(DEFAULT_FLOAT)

    def to(self, *args, dtype=None, **kwargs):
        """``to(dtype)`` casts (``to("cpu")`` is accepted and changes nothing). A cast to an
        integer or bool type cuts the graph: such tensors never require grad."""
        for a in args:
            if not (isinstance(a, str) and a.startswith("cpu")):
                dtype = a
        if dtype is None:
            return self
        dtype = np.dtype(dtype)
        if dtype == self.dtype:
            return self
        if dtype.kind not in "fc":
            return _tensor(self.data.astype(dtype))
        return apply(ops.Cast, self, dtype=dtype)

    def float(self): return self.to(np.float32)
    def double(self): return self.to(np.float64)
    def long(self): return self.to(np.int64)
    def int(self): return self.to(np.int32)
    def bool(self): return self.to(np.bool_)
    def type(self, dtype): return self.to(dtype)
    def cpu(self): return self
    def contiguous(self): return self

    # ------------------------------------------------------------ reductions
    def sum(self, dim=None, keepdim=False):
        x = self if self.dtype.kind in "fc" else _tensor(self.data.astype(np.int64))
        return apply(ops.Sum, x, axis=_axes(dim, self.ndim, "sum"), keepdims=keepdim)

    def mean(self, dim=None, keepdim=False):
        """Composite: sum / count (two primitives; no stability to gain from a fused op)."""
        if self.dtype.kind not in "fc":
            raise TypeError(f"mean: input dtype should be floating point, got {self.dtype}")
        return self.sum(dim, keepdim) * (1.0 / max(self._count(dim, "mean"), 1))

    def var(self, dim=None, keepdim=False, unbiased=True, correction=None):
        """Composite: mean of squared deviations, divided by n - correction (PyTorch's default
        correction is 1, the unbiased estimate)."""
        correction = int(unbiased) if correction is None else correction
        dev = self - self.mean(dim, keepdim=True)
        return (dev * dev).sum(dim, keepdim) * (1.0 / max(self._count(dim, "var") - correction, 1))

    def std(self, dim=None, keepdim=False, unbiased=True, correction=None):
        """√var; where all values are equal its gradient is 0 (as PyTorch), not NaN."""
        return apply(ops.Sqrt, self.var(dim, keepdim, unbiased, correction), zero_at_zero=True)

    def norm(self, p=2, dim=None, keepdim=False):
        """The p-norm (p = 2 by default) over ``dim`` (all elements if None). Its gradient at
        the zero vector is 0, as PyTorch's."""
        if p == 2:
            return apply(ops.Norm, self, axis=_axes(dim, self.ndim, "norm"), keepdims=keepdim)
        return (self.abs() ** p).sum(dim, keepdim) ** (1.0 / p)

    def _count(self, dim, op):
        axes = _axes(dim, self.ndim, op)
        return self.data.size if axes is None else int(np.prod([self.shape[a] for a in axes]))

    def max(self, dim=None, keepdim=False):
        """``max()`` → Tensor, ties share the gradient equally; ``max(dim)`` → (values, indices),
        the gradient going to the first arg-max (both as in PyTorch)."""
        if dim is None:
            return apply(ops.Max, self, axis=None, keepdims=False, split_ties=True)
        axis = _axis(dim, self.ndim, "max")
        if self.ndim == 0:
            return MaxResult(self, _tensor(np.zeros((), np.int64)))
        values = apply(ops.Max, self, axis=axis, keepdims=keepdim, split_ties=False)
        idx = np.argmax(self.data, axis=axis)
        return MaxResult(values, _tensor(np.expand_dims(idx, axis) if keepdim else idx))

    def amax(self, dim=None, keepdim=False):
        return apply(ops.Max, self, axis=_axes(dim, self.ndim, "amax"), keepdims=keepdim,
                     split_ties=True)

    def min(self, dim=None, keepdim=False):
        if dim is None:
            return -((-self).max())
        values, idx = (-self).max(dim, keepdim)
        return MaxResult(-values, idx)

    def argmax(self, dim=None, keepdim=False):
        return self._arg(np.argmax, dim, keepdim, "argmax")

    def argmin(self, dim=None, keepdim=False):
        return self._arg(np.argmin, dim, keepdim, "argmin")

    def _arg(self, fn, dim, keepdim, op):
        if dim is None or self.ndim == 0:
            return _tensor(np.asarray(fn(self.data), dtype=np.int64))
        axis = _axis(dim, self.ndim, op)
        return _tensor(np.asarray(fn(self.data, axis=axis, keepdims=keepdim), dtype=np.int64))

    def softmax(self, dim):
        return apply(ops.Softmax, self, axis=_axis(dim, self.ndim, "softmax"))

    def log_softmax(self, dim):
        return apply(ops.LogSoftmax, self, axis=_axis(dim, self.ndim, "log_softmax"))

    # ------------------------------------------------------------ shape
    def reshape(self, *shape):
        shape = _sizes(shape)
        try:
            target = _infer_shape(shape, self.data.size)
        except ValueError as err:
            raise ValueError(f"reshape: cannot reshape {self.shape} ({self.data.size} elements) "
                             f"into {shape}: {err}") from None
        return self if target == self.shape else apply(ops.Reshape, self, shape=target)

    view = reshape

    def flatten(self, start_dim=0, end_dim=-1):
        if self.ndim == 0:
            return self.reshape(1)
        s, e = _axis(start_dim, self.ndim, "flatten"), _axis(end_dim, self.ndim, "flatten")
        return self.reshape(self.shape[:s] + (-1,) + self.shape[e + 1:])

    def unsqueeze(self, dim):
        axis = _axis(dim, self.ndim + 1, "unsqueeze")
        return self.reshape(self.shape[:axis] + (1,) + self.shape[axis:])

    def squeeze(self, dim=None):
        """Remove dimensions of size 1: all of them, or those in ``dim`` (an int or a tuple)."""
        if dim is None:
            axes = range(self.ndim)
        else:
            axes = _axes(dim, self.ndim, "squeeze") if self.ndim else ()
        drop = {a for a in axes if self.shape[a] == 1}
        return self.reshape(tuple(n for i, n in enumerate(self.shape) if i not in drop))

    def expand(self, *sizes):
        """Broadcast to ``sizes`` (-1 keeps a dimension), as PyTorch; the gradient is summed back."""
        sizes = _sizes(sizes)
        lead = len(sizes) - self.ndim
        if lead < 0:
            raise ValueError(f"expand: the number of sizes {sizes} must be at least the number "
                             f"of dims of shape {self.shape}")
        target = tuple(self.shape[i - lead] if s == -1 and i >= lead else s
                       for i, s in enumerate(sizes))
        return apply(ops.Expand, self, shape=target)

    def permute(self, *dims):
        dims = _sizes(dims)
        axes = tuple(_axis(d, self.ndim, "permute") for d in dims)
        if sorted(axes) != list(range(self.ndim)):
            raise ValueError(f"permute: {dims} is not a permutation of the {self.ndim} dims of a "
                             f"tensor of shape {self.shape}")
        return apply(ops.Permute, self, axes=axes)

    def transpose(self, dim0, dim1):
        axes = list(range(self.ndim))
        a, b = _axis(dim0, self.ndim, "transpose"), _axis(dim1, self.ndim, "transpose")
        axes[a], axes[b] = axes[b], axes[a]
        return apply(ops.Permute, self, axes=tuple(axes))

    def t(self):
        """Transpose a matrix (a 0-d or 1-d tensor is returned as it is), as ``torch.t``."""
        if self.ndim > 2:
            raise ValueError(f"t: expects a tensor with at most 2 dims, got shape {self.shape}")
        return self if self.ndim < 2 else self.transpose(0, 1)

    @property
    def T(self):
        return apply(ops.Permute, self, axes=tuple(reversed(range(self.ndim))))

    def __getitem__(self, index):
        index, advanced = _normalize_index(index)
        return apply(ops.GetItem, self, index=index, advanced=advanced)

    def gather(self, dim, index):
        """``out[i][j] = self[i][index[i][j]]`` along ``dim`` (PyTorch's gather); the gradient
        is scattered back, repeated indices adding up."""
        axis = _axis(dim, self.ndim, "gather")
        idx = np.asarray(_raw(index))
        if idx.dtype.kind not in "iu" or idx.ndim != self.ndim:
            raise ValueError(f"gather: index must be an integer tensor with {self.ndim} dims like "
                             f"the input {self.shape}, got dtype {idx.dtype} shape {idx.shape}")
        return apply(ops.Gather, self, index=idx, axis=axis)

    def split(self, split_size_or_sections, dim=0):
        """As PyTorch: an int is the size of each piece (the last may be smaller); a list gives
        the sizes, which must add up to the dimension."""
        axis = _axis(dim, self.ndim, "split")
        n = self.data.shape[axis]
        if isinstance(split_size_or_sections, (int, np.integer)):
            step = int(split_size_or_sections)
            if step <= 0:
                raise ValueError(f"split: split size must be positive, got {step}")
            return self._pieces(_even_sizes(n, step), axis)
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != n or any(s < 0 for s in sizes):
            raise ValueError(f"split: sizes {sizes} do not add up to dim {dim} of shape "
                             f"{self.shape} ({n})")
        return self._pieces(sizes, axis)

    def _pieces(self, sizes, axis):
        return (self,) if len(sizes) == 1 else apply(ops.Split, self, sizes=sizes, axis=axis)

    def unbind(self, dim=0):
        """All slices along ``dim`` as a tuple, that dimension removed (as PyTorch)."""
        result = apply(ops.Unbind, self, axis=_axis(dim, self.ndim, "unbind"))
        return result if isinstance(result, tuple) else (result,)

    def chunk(self, chunks, dim=0):
        """As PyTorch: pieces of size ceil(n / chunks) (so there may be fewer than ``chunks``)."""
        if chunks <= 0:
            raise ValueError(f"chunk: number of chunks must be positive, got {chunks}")
        axis = _axis(dim, self.ndim, "chunk")
        n = self.data.shape[axis]
        return self._pieces(_even_sizes(n, max(-(-n // chunks), 1)), axis)


def _even_sizes(n, step):
    """Pieces of ``step`` along a dimension of ``n``, the last one smaller if need be."""
    return [step] * (n // step) + ([n % step] if n % step else [])


# ---------------------------------------------------------------- type promotion

def _category(dtype) -> int:
    return {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}[dtype.kind]


def _promote_types(a, b):
    """PyTorch's table: a higher category wins outright (int64 with float32 is float32, where
    numpy says float64); within a category the wider type."""
    if a == b:
        return a
    ca, cb = _category(a), _category(b)
    if ca != cb:
        return a if ca > cb else b
    return np.promote_types(a, b)


def _combine(higher, lower):
    """Operands of a higher priority (dimensioned > 0-d > Python number) decide the dtype unless a
    lower one is of a higher category (an int tensor times 0.5 is float)."""
    if higher is None:
        return lower
    if lower is None or _category(higher) >= _category(lower):
        return higher
    return _promote_types(higher, lower)


def result_type(*operands):
    """The dtype PyTorch gives an op on ``operands`` (Tensors, arrays, Python numbers)."""
    levels = [None, None, None]  # Python numbers, 0-d tensors, tensors with dimensions
    for x in operands:
        if isinstance(x, (Tensor, np.ndarray)):
            level, dtype = (2 if x.ndim else 1), x.dtype
        else:
            level, dtype = 0, _scalar_dtype(x)
        levels[level] = dtype if levels[level] is None else _promote_types(levels[level], dtype)
    return _combine(levels[2], _combine(levels[1], levels[0]))


def _scalar_dtype(x):
    if isinstance(x, (bool, np.bool_)):
        return np.dtype(bool)
    if isinstance(x, (int, np.integer)):
        return np.dtype(np.int64)
    if isinstance(x, (float, np.floating)):
        return DEFAULT_FLOAT
    if isinstance(x, (complex, np.complexfloating)):
        return np.dtype(np.complex64)
    raise TypeError(f"unsupported operand of type {type(x).__name__}")


def _tensor(array, node=None, idx=0):
    """The engine's constructor: ``array`` is used as is; a node means a gradient flows."""
    t = _new(Tensor)
    t.data, t.grad, t._node, t._idx, t.requires_grad = array, None, node, idx, node is not None
    t._edge = None if node is None else (node, idx)  # where this tensor's gradient goes
    t._name, t._hooks, t._retains_grad = None, None, False
    return t


_new = object.__new__


def _binary(fn, a, b):
    """Promote both operands to PyTorch's result dtype, then apply ``fn``."""
    if isinstance(a, Tensor) and isinstance(b, Tensor) and a.data.dtype == b.data.dtype and (
            fn is not ops.Div or a.data.dtype.kind in "fc"):
        return apply(fn, a, b)  # the common case, kept free of the promotion rules
    dtype = result_type(a, b)
    if fn is ops.Div and dtype.kind in "biu":
        dtype = DEFAULT_FLOAT  # true division of integers gives the default float
    return apply(fn, _lift(a, dtype=dtype), _lift(b, dtype=dtype))


def _matmul(a, b):
    a, b = _lift(a), _lift(b)
    if a.dtype != b.dtype:
        raise TypeError(f"matmul: both operands must have the same dtype, got {a.dtype} {a.shape} "
                        f"and {b.dtype} {b.shape}; convert one with .float() or .double()")
    return apply(ops.MatMul, a, b)


# ================================================================= functions on tensors

def cat(tensors, dim=0) -> Tensor:
    """Concatenate along an existing dimension ``dim``."""
    tensors = _same_dtype([_lift(t) for t in tensors], "cat")
    ref = tensors[0]
    axis = _axis(dim, ref.ndim, "cat")
    for t in tensors[1:]:
        if t.ndim != ref.ndim or any(a != b for i, (a, b) in enumerate(zip(t.shape, ref.shape))
                                     if i != axis):
            raise ValueError(f"cat: shapes {_shapes(tensors)} must match except in dim {dim}")
    return apply(ops.Cat, *tensors, axis=axis)


def stack(tensors, dim=0) -> Tensor:
    """Stack along a new dimension ``dim``; all shapes must be equal."""
    tensors = _same_dtype([_lift(t) for t in tensors], "stack")
    if any(t.shape != tensors[0].shape for t in tensors):
        raise ValueError(f"stack: all tensors must have the same shape, got {_shapes(tensors)}")
    return apply(ops.Stack, *tensors, axis=_axis(dim, tensors[0].ndim + 1, "stack"))


def _same_dtype(tensors, op):
    if not tensors:
        raise ValueError(f"{op}: expected a non-empty list of tensors")
    dtype = result_type(*tensors)
    return [t if t.dtype == dtype else t.to(dtype) for t in tensors]


def where(condition, x, y) -> Tensor:
    """Elementwise ``x if condition else y``; the gradient flows to the branch that was taken."""
    cond = np.asarray(_raw(condition), dtype=bool)
    dtype = result_type(x, y)
    x, y = _lift(x, dtype=dtype), _lift(y, dtype=dtype)
    try:
        np.broadcast_shapes(cond.shape, x.shape, y.shape)
    except ValueError:
        raise ValueError(f"where: condition {cond.shape}, x {x.shape} and y {y.shape} cannot be "
                         f"broadcast together") from None
    return apply(ops.Where, x, y, cond=cond)


def lerp(input, end, weight) -> Tensor:
    """input + weight·(end - input), elementwise with broadcasting (PyTorch's ``torch.lerp``);
    ``weight`` may be a number. One op: the GRU's h' = (1 - z)·n + z·h is lerp(n, h, z)."""
    start = _lift(input)
    dtype = start.dtype
    # numbers take the input's dtype; tensors must have it (PyTorch does not promote here)
    end, weight = [x if isinstance(x, Tensor) else _lift(x, dtype=dtype) for x in (end, weight)]
    if end.dtype != dtype or weight.dtype != dtype or dtype.kind not in "fc":
        raise TypeError(f"lerp: input, end and weight must have one floating dtype, got "
                        f"{start.dtype}, {end.dtype} and {weight.dtype}")
    return apply(ops.Lerp, start, end, weight)


def maximum(a, b) -> Tensor:
    """Elementwise maximum; where a == b each gets half the gradient (as PyTorch)."""
    return _binary(ops.Maximum, a, b)


def minimum(a, b) -> Tensor:
    """Elementwise minimum; where a == b each gets half the gradient (as PyTorch)."""
    return _binary(ops.Minimum, a, b)


# ---------------------------------------------------------------- helpers

def _raw(x):
    return x.data if isinstance(x, Tensor) else x


def _lift(x, like=None, dtype=None) -> Tensor:
    """A Tensor for ``x`` (a Tensor, number, list or array), cast to ``dtype`` if given (or to
    ``like``'s dtype for a Python number). Constants are wrapped, never recorded."""
    if dtype is None and like is not None and not isinstance(x, (Tensor, np.ndarray)):
        dtype = result_type(like, x)
    if isinstance(x, Tensor):
        return x if dtype is None or x.dtype == dtype else x.to(dtype)
    return _tensor(np.asarray(x, dtype=dtype) if dtype is not None else _to_array(x, None))


def _to_array(data, dtype, copy=False):
    if isinstance(data, Tensor):
        data = data.data
    dtype = None if dtype is None else np.dtype(dtype)
    from_numpy = isinstance(data, (np.ndarray, np.generic))
    try:
        arr = np.array(data, dtype=dtype, copy=True) if copy else np.asarray(data, dtype=dtype)
    except (ValueError, TypeError) as err:
        raise TypeError(f"Tensor: cannot make a tensor from {type(data).__name__}: {err}") from None
    if dtype is None and arr.dtype.kind == "f" and not from_numpy:
        arr = arr.astype(DEFAULT_FLOAT)  # Python floats become float32, as in PyTorch
    if arr.dtype.kind not in "fbiuc":
        raise TypeError(f"Tensor: cannot make a tensor from data of dtype {arr.dtype}")
    return arr


def _axis(dim, ndim, op) -> int:
    try:
        d = int(dim)
    except (TypeError, ValueError):
        raise TypeError(f"{op}: dim must be an integer, got {dim!r}") from None
    if not -max(ndim, 1) <= d < max(ndim, 1):
        raise IndexError(f"{op}: dim {dim} is out of range for a tensor with {ndim} dims")
    return d % max(ndim, 1)


def _axes(dim, ndim, op):
    """Reduction axes as a tuple (None: all). On a 0-d tensor dim 0 / -1 reduce nothing."""
    if dim is None:
        return None
    dims = dim if isinstance(dim, (tuple, list)) else (dim,)
    axes = tuple(_axis(d, ndim, op) for d in dims)
    return None if ndim == 0 else axes


def _sizes(args) -> tuple:
    """Accept sizes as separate ints or as one tuple/list, as PyTorch does."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = tuple(args[0])
    return tuple(int(a) for a in args)


def _infer_shape(shape, size) -> tuple:
    if sum(1 for s in shape if s == -1) > 1:
        raise ValueError("only one dimension can be -1")
    known = int(np.prod([s for s in shape if s != -1]))
    if -1 in shape:
        if known == 0 or size % known:
            raise ValueError(f"{size} elements do not divide into {known}")
        shape = tuple(size // known if s == -1 else s for s in shape)
    if int(np.prod(shape)) != size:
        raise ValueError(f"{size} != {int(np.prod(shape))} elements")
    return shape


def _normalize_index(index):
    """Tensors in an index become arrays (0-d integer tensors plain ints); report whether numpy
    will use advanced indexing."""
    parts = index if isinstance(index, tuple) else (index,)
    fixed, advanced = [], False
    for p in parts:
        p = p.data if isinstance(p, Tensor) else p
        if isinstance(p, list):
            p = np.asarray(p)
        if isinstance(p, np.ndarray):
            if p.dtype.kind not in "biu":
                raise IndexError(f"getitem: index arrays must be integers or booleans, got "
                                 f"{p.dtype}")
            if p.ndim == 0 and p.dtype.kind in "iu":
                p = int(p)
            else:
                advanced = True
        fixed.append(p)
    return (tuple(fixed) if isinstance(index, tuple) or len(fixed) != 1 else fixed[0]), advanced


# ================================================================= 5. creation

def tensor(data, requires_grad=False, dtype=None) -> Tensor:
    """A new Tensor holding a copy of ``data`` (``torch.tensor``)."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def from_numpy(array: np.ndarray) -> Tensor:
    """A Tensor sharing ``array``'s memory (``torch.from_numpy``): changes to one show in the other."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy array, got {type(array).__name__}")
    return _tensor(_to_array(array, None))


def _filled(make, size, dtype, requires_grad):
    return _tensor(make(_sizes(size), dtype=dtype)).requires_grad_(requires_grad)


def zeros(*size, dtype=np.float32, requires_grad=False) -> Tensor:
    return _filled(np.zeros, size, dtype, requires_grad)


def ones(*size, dtype=np.float32, requires_grad=False) -> Tensor:
    return _filled(np.ones, size, dtype, requires_grad)


def zeros_like(t: Tensor, requires_grad=False) -> Tensor:
    return _tensor(np.zeros_like(t.data)).requires_grad_(requires_grad)


def ones_like(t: Tensor, requires_grad=False) -> Tensor:
    return _tensor(np.ones_like(t.data)).requires_grad_(requires_grad)


def randn(*size, dtype=np.float32, requires_grad=False) -> Tensor:
    """Standard normal samples from the package generator (see ``manual_seed``)."""
    data = get_rng().standard_normal(_sizes(size)).astype(dtype)
    return _tensor(data).requires_grad_(requires_grad)


def rand(*size, dtype=np.float32, requires_grad=False) -> Tensor:
    """Uniform [0, 1) samples from the package generator (see ``manual_seed``)."""
    return _tensor(get_rng().random(_sizes(size)).astype(dtype)).requires_grad_(requires_grad)


def arange(*args, dtype=None, requires_grad=False) -> Tensor:
    """As ``torch.arange``: int64 for integer arguments, float32 when any is a float."""
    if dtype is None:
        dtype = DEFAULT_FLOAT if any(isinstance(a, (float, np.floating)) for a in args) else np.int64
    return _tensor(np.arange(*args, dtype=dtype)).requires_grad_(requires_grad)
