"""The engine: ``Tensor``, the graph ``Node`` it records, and reverse-mode ``backward``.

Every operation on Tensors that require grad records a :class:`Node`: the primitive that ran
(from ``ops.py``), its ordered parent Tensors, the arrays saved for the backward, which inputs
need a gradient, and the *scope path* in force (module names and time steps), so that backward,
the renderer and the gradient diagnostics all read one graph.

``backward()`` orders the nodes topologically with an explicit stack (no recursion, so a
100,000-step chain is fine), calls each node's VJP exactly once with the sum of the gradients
of its outputs, adds leaf gradients into ``.grad`` (PyTorch semantics) and frees saved arrays.
"""
from __future__ import annotations

import heapq
import itertools
import math
import weakref
from collections import namedtuple
from contextlib import contextmanager

import numpy as np

from . import ops
from .random import get_rng

# ---------------------------------------------------------------- global modes

_state = {"grad": True, "anomaly": False, "scope": (), "grad_norms": True}
_new_object = object.__new__
_node_ids = itertools.count()
_DEFAULT_FLOAT = np.dtype(np.float32)


class no_grad:
    """Context manager (and decorator): ops inside record no graph, as ``torch.no_grad``."""

    def __init__(self, enabled=False):
        self.enabled = enabled

    def __enter__(self):
        self.prev = _state["grad"]
        _state["grad"] = self.enabled

    def __exit__(self, *exc):
        _state["grad"] = self.prev

    def __call__(self, fn):
        def wrapper(*args, **kwargs):
            with type(self)():
                return fn(*args, **kwargs)
        wrapper.__name__, wrapper.__doc__ = fn.__name__, fn.__doc__
        return wrapper


class enable_grad(no_grad):
    """Turn recording back on inside a ``no_grad`` block."""

    def __init__(self):
        super().__init__(enabled=True)


def is_grad_enabled() -> bool:
    return _state["grad"]


class track_grad_norms:
    """Whether ``backward()`` records ‖dL/d(output)‖ on every node (``node.grad_norm``), which the
    renderer's gradient heat and ``viz.time_step_grad_norms`` read. On by default; it costs about
    a microsecond per node, so long training loops may turn it off:

        tg.track_grad_norms(False)          # from now on
        with tg.track_grad_norms(False):    # or only inside the block
            ...
    """

    def __init__(self, enabled=True):
        self.prev = _state["grad_norms"]
        _state["grad_norms"] = bool(enabled)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _state["grad_norms"] = self.prev


_backward_hooks = []


class _HookHandle:
    def __init__(self, hooks, fn):
        self.hooks, self.fn = hooks, fn

    def remove(self):
        if self.fn in self.hooks:
            self.hooks.remove(self.fn)


def register_backward_hook(fn):
    """Call ``fn(node, grad_outputs, grad_inputs)`` for every node each ``backward()`` visits, in
    visit order, right after the node's VJP ran. ``grad_outputs``: the summed gradient of each of
    the node's outputs (None where none arrived); ``grad_inputs``: what the VJP returned per input
    (None where the input needs no gradient). Returns a handle; ``handle.remove()`` uninstalls it.
    Renderers and diagnostics use this; the hooks must not modify the arrays."""
    _backward_hooks.append(fn)
    return _HookHandle(_backward_hooks, fn)


class AnomalyError(RuntimeError):
    """Raised under :func:`detect_anomaly` by the first op whose result is NaN or Inf."""


@contextmanager
def detect_anomaly():
    """Check every op's output (forward) and every VJP's result (backward) for NaN/Inf.

    The first op that *produces* a non-finite value from finite inputs raises
    :class:`AnomalyError` naming the op, its scope and its input shapes. Slow; for debugging.
    """
    prev = _state["anomaly"]
    _state["anomaly"] = True
    try:
        yield
    finally:
        _state["anomaly"] = prev


@contextmanager
def scope(name: str):
    """Name the nodes recorded inside: ``with scope("encoder"): ...``. Scopes nest into a path."""
    prev = _state["scope"]
    _state["scope"] = prev + (str(name),)
    try:
        yield
    finally:
        _state["scope"] = prev


def current_scope() -> tuple:
    return _state["scope"]


# ---------------------------------------------------------------- the graph record

class Node:
    """One recorded op. ``parents`` are the input Tensors, in argument order."""

    __slots__ = ("id", "fn", "parents", "saved", "needs_input_grad", "scope", "n_outputs",
                 "released", "retained", "grad_norm", "label", "__weakref__")

    def __init__(self, fn, parents, needs_input_grad):
        self.id = next(_node_ids)
        self.fn = fn
        self.parents = parents
        self.needs_input_grad = needs_input_grad
        self.scope = _state["scope"]
        self.saved = ()
        self.n_outputs = 1
        self.released = False
        self.retained = None
        self.grad_norm = None  # ‖dL/d(outputs)‖ of the last backward, for diagnostics and viz
        self.label = None  # a name for the renderer (Tensor.name of an op's output)

    def save(self, *values):
        """Keep what the backward needs (ctx.save_for_backward in PyTorch)."""
        self.saved = values

    @property
    def name(self) -> str:
        return self.fn.name

    def __repr__(self):
        where = "/".join(self.scope) or "-"
        return f"<Node {self.id} {self.name} scope={where}>"


class _Discard:
    """Stand-in ctx when nothing is recorded: saving is a no-op."""

    __slots__ = ()
    needs_input_grad = ()

    def save(self, *values):
        pass


_DISCARD = _Discard()


def _shapes(arrays) -> str:
    return ", ".join(str(tuple(a.shape)) for a in arrays)


def _forward_error(fn, arrays, err):
    """Turn an error raised inside a primitive's forward into one that names the op and shapes."""
    msg = str(err)
    if msg.startswith(fn.name + ":"):
        return err
    if fn.broadcasts and isinstance(err, ValueError):
        return ValueError(f"{fn.name}: shapes {_shapes(arrays[:2])} cannot be broadcast together "
                          f"(trailing dimensions must be equal or 1)")
    return type(err)(f"{fn.name}: failed on inputs of shapes {_shapes(arrays)}: {msg}")


def _apply(fn, *inputs, **params):
    """Run primitive ``fn`` on Tensors ``inputs`` and record a Node if a gradient may flow.

    This runs for every op, so it is kept lean: one pass over the inputs, no work for the graph
    when nothing needs a gradient.
    """
    arrays = [t.data for t in inputs]
    node = None
    if _state["grad"]:
        needs = tuple([t.requires_grad for t in inputs])
        if True in needs:
            node = Node(fn, inputs, needs)
    try:
        out = fn.forward(node or _DISCARD, *arrays, **params)
    except (ValueError, IndexError, TypeError) as err:
        raise _forward_error(fn, arrays, err) from None
    if _state["anomaly"]:
        _check_finite(fn, node, arrays, out if isinstance(out, tuple) else (out,), "forward")
    if type(out) is tuple:
        if node is not None:
            node.n_outputs = len(out)
        return tuple([Tensor._make(o, node, i) for i, o in enumerate(out)])
    return Tensor._make(out, node, 0)


def _check_finite(fn, ctx, inputs, outputs, phase):
    inputs_ok = all(np.isfinite(a).all() for a in inputs
                    if a is not None and a.dtype.kind in "fc")
    bad = [o for o in outputs if o is not None and o.dtype.kind in "fc" and not np.isfinite(o).all()]
    if bad and inputs_ok:
        where = "/".join(getattr(ctx, "scope", ()) or _state["scope"]) or "(top level)"
        raise AnomalyError(
            f"{fn.name} {phase} produced NaN/Inf in scope {where}; input shapes "
            f"[{_shapes([a for a in inputs if a is not None])}]")


# ---------------------------------------------------------------- Tensor

def _to_array(data, dtype):
    if isinstance(data, Tensor):
        data = data.data
    from_numpy = isinstance(data, (np.ndarray, np.generic))
    arr = np.asarray(data, dtype=dtype)
    if dtype is None and arr.dtype.kind == "f" and not from_numpy:
        arr = arr.astype(_DEFAULT_FLOAT)  # Python floats become float32, as in PyTorch
    if arr.dtype.kind not in "fbiuc":
        raise TypeError(f"Tensor: cannot make a tensor from data of dtype {arr.dtype}")
    return arr


MaxResult = namedtuple("MaxResult", "values indices")


class Tensor:
    """An n-dimensional array that records the operations applied to it.

    ``Tensor(data, requires_grad=False, dtype=None)``: ``data`` is an array, list or scalar. Python
    floats become float32 (as PyTorch); numpy arrays keep their dtype (float64 stays float64).
    """

    __slots__ = ("data", "grad", "requires_grad", "_node", "_idx", "_name", "__weakref__")
    __array_priority__ = 1000  # so ndarray + Tensor calls Tensor.__radd__

    def __init__(self, data, requires_grad=False, dtype=None):
        self.data = _to_array(data, None if dtype is None else np.dtype(dtype))
        self._name = None
        self.grad = None
        self._node = None
        self._idx = 0
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _make(cls, data, node, idx):
        """Fast internal constructor: ``data`` is already an array; a node means a gradient."""
        t = _new_object(cls)
        t.data, t.grad, t._node, t._idx, t.requires_grad = data, None, node, idx, node is not None
        t._name = None
        return t

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
        """Set ``name`` and return self, for chaining: ``f = gates[1].sigmoid().named("forget gate")``."""
        self.name = name
        return self

    # ------------------------------------------------------------ basic attributes
    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def node(self):
        """The Node that produced this tensor (None for leaves)."""
        return self._node

    @property
    def is_leaf(self) -> bool:
        return self._node is None

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

    def numpy(self) -> np.ndarray:
        return self.data

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item: only one-element tensors can be converted, got shape {self.shape}")
        return self.data.item()

    def tolist(self):
        return self.data.tolist()

    def __float__(self):
        return float(self.item())

    def __repr__(self):
        body = np.array2string(self.data, precision=4, threshold=20, edgeitems=2,
                               separator=", ", prefix="Tensor(")
        extra = [f"dtype={self.dtype}"]
        if self._node is not None:
            extra.append(f"op={self._node.name}")
        elif self.requires_grad:
            extra.append("requires_grad=True")
        return f"Tensor({body}, {', '.join(extra)})"

    # ------------------------------------------------------------ grad bookkeeping
    def requires_grad_(self, requires_grad=True):
        if requires_grad and self.data.dtype.kind not in "fc":
            raise TypeError(f"requires_grad: only floating point tensors can require grad, "
                            f"this one has dtype {self.data.dtype}")
        if self._node is not None and not requires_grad:
            raise RuntimeError("requires_grad_: cannot turn off grad on a non-leaf tensor; "
                               "use detach()")
        self.requires_grad = bool(requires_grad)
        return self

    def detach(self) -> "Tensor":
        """A new leaf sharing the data, cut from the graph (how truncated BPTT stops gradients)."""
        return Tensor._make(self.data, None, 0)

    def retain_grad(self):
        """Keep ``.grad`` on this non-leaf after backward (leaves always keep it)."""
        if self._node is None:
            return self
        if self._node.retained is None:
            self._node.retained = []
        self._node.retained.append(weakref.ref(self))
        return self

    # ------------------------------------------------------------ backward
    def backward(self, gradient=None, retain_graph=False):
        """Accumulate dself/dleaf into ``leaf.grad`` for every leaf that requires grad.

        ``gradient`` is dL/dself (needed unless self has one element). Saved arrays are freed
        afterwards unless ``retain_graph=True``.
        """
        if not self.requires_grad:
            raise RuntimeError("backward: this tensor does not require grad and has no graph "
                               "(was it made under no_grad(), or from tensors without requires_grad?)")
        if gradient is None:
            if self.data.size != 1:
                raise RuntimeError(f"backward: gradient can be implied only for a one-element "
                                   f"tensor, this one has shape {self.shape}; pass backward(gradient)")
            gradient = np.ones(self.shape, dtype=self.dtype)
        else:
            gradient = np.asarray(gradient.data if isinstance(gradient, Tensor) else gradient,
                                  dtype=self.dtype)
            if gradient.shape != self.shape:
                raise ValueError(f"backward: gradient of shape {gradient.shape} does not match "
                                 f"the tensor's shape {self.shape}")
        if self._node is None:
            _accumulate_leaf(self, gradient)
            return
        _run_backward(self._node, self._idx, gradient, retain_graph)

    # ------------------------------------------------------------ operators
    def __add__(self, other): return _apply(ops.Add, self, _lift(other, self))
    def __radd__(self, other): return _apply(ops.Add, _lift(other, self), self)
    def __sub__(self, other): return _apply(ops.Sub, self, _lift(other, self))
    def __rsub__(self, other): return _apply(ops.Sub, _lift(other, self), self)
    def __mul__(self, other): return _apply(ops.Mul, self, _lift(other, self))
    def __rmul__(self, other): return _apply(ops.Mul, _lift(other, self), self)
    def __truediv__(self, other): return _apply(ops.Div, self, _lift(other, self))
    def __rtruediv__(self, other): return _apply(ops.Div, _lift(other, self), self)
    def __pow__(self, other): return _apply(ops.Pow, self, _lift(other, self))
    def __rpow__(self, other): return _apply(ops.Pow, _lift(other, self), self)
    def __matmul__(self, other): return _apply(ops.MatMul, self, _lift(other, self))
    def __rmatmul__(self, other): return _apply(ops.MatMul, _lift(other, self), self)
    def __neg__(self): return _apply(ops.Neg, self)
    def __pos__(self): return self

    # Comparisons give boolean tensors with no gradient.
    def __lt__(self, other): return Tensor(self.data < _raw(other))
    def __le__(self, other): return Tensor(self.data <= _raw(other))
    def __gt__(self, other): return Tensor(self.data > _raw(other))
    def __ge__(self, other): return Tensor(self.data >= _raw(other))
    def __eq__(self, other): return Tensor(self.data == _raw(other))
    def __ne__(self, other): return Tensor(self.data != _raw(other))
    __hash__ = object.__hash__

    def __bool__(self):
        if self.data.size != 1:
            raise RuntimeError(f"bool: the truth value of a tensor of shape {self.shape} is ambiguous")
        return bool(self.data)

    # ------------------------------------------------------------ elementwise
    def exp(self): return _apply(ops.Exp, self)
    def log(self): return _apply(ops.Log, self)
    def tanh(self): return _apply(ops.Tanh, self)
    def sigmoid(self): return _apply(ops.Sigmoid, self)
    def relu(self): return _apply(ops.Relu, self)
    def sqrt(self): return _apply(ops.Sqrt, self)
    def abs(self): return _apply(ops.Abs, self)

    def to(self, dtype):
        dtype = np.dtype(dtype)
        return self if dtype == self.dtype else _apply(ops.Cast, self, dtype=dtype)

    def float(self): return self.to(np.float32)
    def double(self): return self.to(np.float64)

    # ------------------------------------------------------------ reductions
    def sum(self, dim=None, keepdim=False):
        return _apply(ops.Sum, self, axis=_axes(dim, self.ndim, "sum"), keepdims=keepdim)

    def mean(self, dim=None, keepdim=False):
        """Composite: sum / count (two primitives; no stability to gain from a fused op)."""
        axes = _axes(dim, self.ndim, "mean")
        count = self.data.size if axes is None else int(np.prod([self.shape[a] for a in axes]))
        return self.sum(dim, keepdim) * (1.0 / max(count, 1))

    def var(self, dim=None, keepdim=False, unbiased=True):
        """Composite: mean of squared deviations (divides by n-1 when ``unbiased``, as PyTorch)."""
        axes = _axes(dim, self.ndim, "var")
        count = self.data.size if axes is None else int(np.prod([self.shape[a] for a in axes]))
        dev = self - self.mean(dim, keepdim=True)
        return (dev * dev).sum(dim, keepdim) * (1.0 / max(count - int(unbiased), 1))

    def max(self, dim=None, keepdim=False):
        """``max()`` → Tensor, ties share the gradient equally; ``max(dim)`` → (values, indices),
        the gradient going to the first arg-max (both as in PyTorch)."""
        if dim is None:
            return _apply(ops.Max, self, axis=None, keepdims=False, split_ties=True)
        axis = _axis(dim, self.ndim, "max")
        values = _apply(ops.Max, self, axis=axis, keepdims=keepdim, split_ties=False)
        idx = np.argmax(self.data, axis=axis)
        return MaxResult(values, Tensor(np.expand_dims(idx, axis) if keepdim else idx))

    def amax(self, dim=None, keepdim=False):
        return _apply(ops.Max, self, axis=_axes(dim, self.ndim, "amax"), keepdims=keepdim,
                      split_ties=True)

    def min(self, dim=None, keepdim=False):
        if dim is None:
            return -((-self).max())
        values, idx = (-self).max(dim, keepdim)
        return MaxResult(-values, idx)

    def argmax(self, dim=None, keepdim=False):
        if dim is None:
            return Tensor(np.argmax(self.data))
        axis = _axis(dim, self.ndim, "argmax")
        return Tensor(np.argmax(self.data, axis=axis, keepdims=keepdim))

    def softmax(self, dim):
        return _apply(ops.Softmax, self, axis=_axis(dim, self.ndim, "softmax"))

    def log_softmax(self, dim):
        return _apply(ops.LogSoftmax, self, axis=_axis(dim, self.ndim, "log_softmax"))

    # ------------------------------------------------------------ shape
    def reshape(self, *shape):
        shape = _sizes(shape)
        try:
            target = _infer_shape(shape, self.data.size)
        except ValueError as err:
            raise ValueError(f"reshape: cannot reshape {self.shape} ({self.data.size} elements) "
                             f"into {shape}: {err}") from None
        return self if target == self.shape else _apply(ops.Reshape, self, shape=target)

    view = reshape

    def flatten(self, start_dim=0, end_dim=-1):
        s, e = _axis(start_dim, self.ndim, "flatten"), _axis(end_dim, self.ndim, "flatten")
        return self.reshape(self.shape[:s] + (-1,) + self.shape[e + 1:])

    def unsqueeze(self, dim):
        axis = _axis(dim, self.ndim + 1, "unsqueeze")
        return self.reshape(self.shape[:axis] + (1,) + self.shape[axis:])

    def squeeze(self, dim=None):
        if dim is None:
            return self.reshape(tuple(n for n in self.shape if n != 1))
        axis = _axis(dim, self.ndim, "squeeze")
        if self.shape[axis] != 1:
            return self
        return self.reshape(self.shape[:axis] + self.shape[axis + 1:])

    def permute(self, *dims):
        dims = _sizes(dims)
        axes = tuple(_axis(d, self.ndim, "permute") for d in dims)
        if sorted(axes) != list(range(self.ndim)):
            raise ValueError(f"permute: {dims} is not a permutation of the {self.ndim} dims "
                             f"of a tensor of shape {self.shape}")
        return _apply(ops.Permute, self, axes=axes)

    def transpose(self, dim0, dim1):
        axes = list(range(self.ndim))
        a, b = _axis(dim0, self.ndim, "transpose"), _axis(dim1, self.ndim, "transpose")
        axes[a], axes[b] = axes[b], axes[a]
        return _apply(ops.Permute, self, axes=tuple(axes))

    @property
    def T(self):
        return _apply(ops.Permute, self, axes=tuple(reversed(range(self.ndim))))

    def __getitem__(self, index):
        index, advanced = _normalize_index(index)
        return _apply(ops.GetItem, self, index=index, advanced=advanced)

    def split(self, split_size_or_sections, dim=0):
        """As PyTorch: an int is the size of each piece (the last may be smaller); a list gives
        the sizes, which must add up to the dimension."""
        axis = _axis(dim, self.ndim, "split")
        n = self.shape[axis]
        if isinstance(split_size_or_sections, (int, np.integer)):
            step = int(split_size_or_sections)
            if step <= 0:
                raise ValueError(f"split: split size must be positive, got {step}")
            sizes = [step] * (n // step) + ([n % step] if n % step else [])
        else:
            sizes = [int(s) for s in split_size_or_sections]
            if sum(sizes) != n or any(s < 0 for s in sizes):
                raise ValueError(f"split: sizes {sizes} do not add up to dim {dim} of shape "
                                 f"{self.shape} ({n})")
        if len(sizes) == 1:
            return (self,)
        return _apply(ops.Split, self, sizes=sizes, axis=axis)

    def unbind(self, dim=0):
        """All slices along ``dim`` as a tuple, that dimension removed (as PyTorch)."""
        return _apply(ops.Unbind, self, axis=_axis(dim, self.ndim, "unbind"))

    def chunk(self, chunks, dim=0):
        """As PyTorch: pieces of size ceil(n / chunks) (so there may be fewer than ``chunks``)."""
        if chunks <= 0:
            raise ValueError(f"chunk: number of chunks must be positive, got {chunks}")
        n = self.shape[_axis(dim, self.ndim, "chunk")]
        return self.split(max(-(-n // chunks), 1), dim)


# ---------------------------------------------------------------- functions on tensors

def cat(tensors, dim=0) -> Tensor:
    """Concatenate along an existing dimension ``dim``."""
    tensors = [_lift(t) for t in tensors]
    if not tensors:
        raise ValueError("cat: expected a non-empty list of tensors")
    ref = tensors[0]
    axis = _axis(dim, ref.ndim, "cat")
    for t in tensors[1:]:
        if t.ndim != ref.ndim or any(a != b for i, (a, b) in enumerate(zip(t.shape, ref.shape))
                                     if i != axis):
            raise ValueError(f"cat: shapes {_shapes(tensors)} must match except in dim {dim}")
    return _apply(ops.Cat, *tensors, axis=axis)


def stack(tensors, dim=0) -> Tensor:
    """Stack along a new dimension ``dim``; all shapes must be equal."""
    tensors = [_lift(t) for t in tensors]
    if not tensors:
        raise ValueError("stack: expected a non-empty list of tensors")
    if any(t.shape != tensors[0].shape for t in tensors):
        raise ValueError(f"stack: all tensors must have the same shape, got {_shapes(tensors)}")
    return _apply(ops.Stack, *tensors, axis=_axis(dim, tensors[0].ndim + 1, "stack"))


def where(condition, x, y) -> Tensor:
    """Elementwise ``x if condition else y``; the gradient flows to the branch that was taken."""
    cond = np.asarray(_raw(condition), dtype=bool)
    ref = x if isinstance(x, Tensor) else y if isinstance(y, Tensor) else None
    x, y = _lift(x, ref), _lift(y, ref)
    try:
        np.broadcast_shapes(cond.shape, x.shape, y.shape)
    except ValueError:
        raise ValueError(f"where: condition {cond.shape}, x {x.shape} and y {y.shape} cannot be "
                         f"broadcast together") from None
    return _apply(ops.Where, x, y, cond=cond)


# ---------------------------------------------------------------- helpers

def graph_nodes(root) -> list:
    """Every Node that ``root`` (a Tensor or a list of them) was computed from, oldest first.
    Iterative, so it works on graphs of any depth."""
    roots = root if isinstance(root, (list, tuple)) else [root]
    seen, stack = {}, [t._node for t in roots if t._node is not None]
    while stack:
        node = stack.pop()
        if node.id in seen:
            continue
        seen[node.id] = node
        stack.extend(p._node for p in node.parents if p._node is not None)
    return [seen[k] for k in sorted(seen)]


def _raw(x):
    return x.data if isinstance(x, Tensor) else x


def _lift(x, like: Tensor | None = None) -> Tensor:
    """Wrap a constant (scalar, list, array) as a Tensor; Python numbers take ``like``'s float dtype."""
    if isinstance(x, Tensor):
        return x
    if like is not None and isinstance(x, (int, float, bool)) and like.dtype.kind == "f":
        return Tensor._make(np.asarray(x, dtype=like.dtype), None, 0)
    if isinstance(x, np.ndarray):
        return Tensor._make(x, None, 0)
    return Tensor(x)


def _axis(dim, ndim, op) -> int:
    try:
        d = int(dim)
    except (TypeError, ValueError):
        raise TypeError(f"{op}: dim must be an integer, got {dim!r}") from None
    if not -max(ndim, 1) <= d < max(ndim, 1):
        raise IndexError(f"{op}: dim {dim} is out of range for a tensor with {ndim} dims")
    return d % max(ndim, 1)


def _axes(dim, ndim, op):
    if dim is None:
        return None
    if isinstance(dim, (tuple, list)):
        return tuple(_axis(d, ndim, op) for d in dim)
    return (_axis(dim, ndim, op),)


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
    """Tensors in an index become arrays; report whether numpy will use advanced indexing."""
    parts = index if isinstance(index, tuple) else (index,)
    parts = tuple(p.data if isinstance(p, Tensor) else p for p in parts)
    advanced = False
    fixed = []
    for p in parts:
        if isinstance(p, list):
            p = np.asarray(p)
        if isinstance(p, np.ndarray):
            advanced = True
            if p.dtype.kind not in "biu":
                raise IndexError(f"getitem: index arrays must be integers or booleans, got {p.dtype}")
        fixed.append(p)
    return (tuple(fixed) if isinstance(index, tuple) or len(fixed) != 1 else fixed[0]), advanced


def _accumulate_leaf(t: Tensor, g: np.ndarray):
    if t.grad is None:
        t.grad = np.array(g, dtype=t.dtype, copy=True)  # own it: g may be shared or read-only
    else:
        t.grad += g


def _run_backward(root: Node, root_idx: int, gradient: np.ndarray, retain_graph: bool):
    """Reverse-mode sweep from ``root``.

    Order: a node is always created after the nodes that made its inputs, so its id is larger
    than theirs. Taking nodes from a max-heap of ids therefore reaches each node only after
    every node that uses its outputs has sent it a gradient: a reverse topological order with
    no recursion and no separate sort. Only nodes that actually receive a gradient are visited.
    """
    anomaly, norms = _state["anomaly"], _state["grad_norms"]
    # pending[node]: the summed gradient of each of the node's outputs so far
    pending = {root: [None] * root.n_outputs}
    pending[root][root_idx] = gradient
    heap = [(-root.id, root)]
    owned = set()  # ids of sums allocated here: safe to add into in place
    while heap:
        node = heapq.heappop(heap)[1]
        grads = pending.pop(node)
        if node.released:
            raise RuntimeError(
                f"backward: trying to backward through the graph a second time (node "
                f"{node.name} in scope {'/'.join(node.scope) or '-'}): its saved arrays were "
                f"freed; call backward(retain_graph=True) the first time")
        if owned:
            for g in grads:
                owned.discard(id(g))
        if node.retained:
            for ref in node.retained:
                t = ref()
                if t is not None and grads[t._idx] is not None:
                    _accumulate_leaf(t, grads[t._idx])
        if norms:
            total = 0.0
            for g in grads:
                if g is not None:
                    total += abs(np.vdot(g, g))
            node.grad_norm = math.sqrt(total)
        input_grads = node.fn.backward(node, *grads)
        if not isinstance(input_grads, (tuple, list)):
            input_grads = (input_grads,)
        if anomaly:
            _check_finite(node.fn, node, [g for g in grads if g is not None],
                          input_grads, "backward")
        for hook in _backward_hooks:
            hook(node, grads, input_grads)
        for p, gp, need in zip(node.parents, input_grads, node.needs_input_grad):
            if gp is None or not need:
                continue
            if gp.shape != p.data.shape:
                raise RuntimeError(f"{node.name} backward returned a gradient of shape {gp.shape} "
                                   f"for an input of shape {p.data.shape}")
            if gp.dtype != p.data.dtype:
                gp = gp.astype(p.data.dtype)
            parent = p._node
            if parent is None:
                _accumulate_leaf(p, gp)
                continue
            slot = pending.get(parent)
            if slot is None:
                slot = pending[parent] = [None] * parent.n_outputs
                heapq.heappush(heap, (-parent.id, parent))
            prev = slot[p._idx]
            if prev is None:
                slot[p._idx] = gp  # may alias another array: never written into
            elif id(prev) in owned:
                prev += gp
            else:
                total = slot[p._idx] = prev + gp
                owned.add(id(total))
        if not retain_graph:
            node.saved = None
            node.released = True


# ---------------------------------------------------------------- creation

def _new(array, requires_grad):
    return Tensor(array, requires_grad=requires_grad)


def tensor(data, requires_grad=False, dtype=None) -> Tensor:
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def zeros(*size, dtype=np.float32, requires_grad=False) -> Tensor:
    return _new(np.zeros(_sizes(size), dtype=dtype), requires_grad)


def ones(*size, dtype=np.float32, requires_grad=False) -> Tensor:
    return _new(np.ones(_sizes(size), dtype=dtype), requires_grad)


def zeros_like(t: Tensor, requires_grad=False) -> Tensor:
    return _new(np.zeros_like(t.data), requires_grad)


def ones_like(t: Tensor, requires_grad=False) -> Tensor:
    return _new(np.ones_like(t.data), requires_grad)


def randn(*size, dtype=np.float32, requires_grad=False) -> Tensor:
    """Standard normal samples from the package generator (see ``manual_seed``)."""
    return _new(get_rng().standard_normal(_sizes(size)).astype(dtype), requires_grad)


def rand(*size, dtype=np.float32, requires_grad=False) -> Tensor:
    """Uniform [0, 1) samples from the package generator (see ``manual_seed``)."""
    return _new(get_rng().random(_sizes(size)).astype(dtype), requires_grad)


def arange(*args, dtype=None) -> Tensor:
    return Tensor(np.arange(*args, dtype=dtype))
