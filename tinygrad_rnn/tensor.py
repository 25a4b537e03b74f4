"""``Tensor``: the array users hold, with PyTorch's names and semantics, and the functions on
tensors (``cat``, ``stack``, ``where``, ``lerp``, ``maximum``, ``minimum``).

Every method that computes something calls :func:`engine.apply` with a primitive from ``ops.py``;
the engine records the graph and wraps the result with :func:`_tensor`. The numpy array behind a
Tensor is ``t.array``; ``t.data`` is PyTorch's: a Tensor sharing that array, cut from the graph.
"""
from __future__ import annotations

import weakref
from collections import namedtuple

import numpy as np

from . import engine, ops
from . import devices as _device
from .dtypes import get_default_dtype, result_type
from .engine import _Handle, _accumulate_leaf, _shapes, apply, backward, mode
from .grad_mode import _setting
from .seeding import get_rng
from .versions import note_change

MaxResult = namedtuple("MaxResult", "values indices")


class Tensor:
    """An n-dimensional array that records the operations applied to it.

    ``Tensor(data, requires_grad=False, dtype=None)`` copies ``data`` (an array, list or number),
    as ``torch.tensor``; :func:`from_numpy` shares the array instead. Python floats become
    float32 and Python ints int64 (as PyTorch); numpy arrays keep their dtype. Only floating
    point tensors can require grad.
    """

    __slots__ = ("array", "_grad", "requires_grad", "_node", "_idx", "_edge", "_name", "_hooks",
                 "_retains_grad", "__weakref__")
    __array_priority__ = 1000  # so ndarray + Tensor calls Tensor.__radd__

    def __init__(self, data, requires_grad=False, dtype=None):
        # the same fields as _tensor sets, for a leaf
        self.array, self._grad, self._node, self._idx, self._edge = \
            _to_array(data, dtype, copy=True), None, None, 0, None
        self._name, self._hooks, self._retains_grad = None, None, False
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    # No __getattr__ (a friendlier error for a missing method): in CPython 3.11 it turns off the
    # fast path of *every* attribute read on a Tensor (6% of an LSTM step's instructions). Python's
    # own AttributeError suggests the nearest name, and `run` reports a PyTorch method this
    # engine lacks as a missing torch API (errors.missing_tensor_attribute).

    # ------------------------------------------------------------ data and grad, as PyTorch's
    @property
    def data(self) -> "Tensor":
        """A Tensor sharing this one's array, cut from the graph (PyTorch's ``.data``): what a
        hand-written update writes into, ``p.data.add_(p.grad, alpha=-lr)``. Assigning
        ``t.data = other`` replaces the array behind ``t``."""
        return self.detach()

    @data.setter
    def data(self, value):
        array = _to_array(value, None)
        if self.requires_grad and array.dtype.kind not in "fc":
            raise TypeError(f"data: a tensor that requires grad cannot hold data of dtype "
                            f"{array.dtype}")
        self.array = array

    @property
    def grad(self):
        """dL/d(self) as a Tensor after ``backward()`` (None before): leaves and tensors that
        ``retain_grad()`` keep it; backward adds into it, ``zero_grad`` clears it."""
        return self._grad

    @grad.setter
    def grad(self, value):
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"grad: assigned grad expected to be a Tensor or None, got "
                                f"{type(value).__name__}")
            if value.shape != self.shape:
                raise RuntimeError(f"grad: assigned grad has shape {value.shape}, but the "
                                   f"tensor has shape {self.shape}")
        self._grad = value

    # ------------------------------------------------------------ attributes
    shape = property(lambda self: self.array.shape)
    ndim = property(lambda self: self.array.ndim)
    dtype = property(lambda self: self.array.dtype)
    node = property(lambda self: self._node, doc="The Node that produced this tensor (None for leaves).")
    output_index = property(lambda self: self._idx, doc="Which output of ``node`` this tensor is.")
    is_leaf = property(lambda self: self._node is None)

    @property
    def name(self):
        """A name the renderer shows (micrograd's ``label``): ``x_t``, ``h_0``, ``forget gate``.
        On an op's output it also names the op's node, so it outlives this Tensor object; an
        in-place op moves it to the node that now holds the tensor."""
        if self._name is None and self._node is not None:
            return self._node.label
        return self._name

    @name.setter
    def name(self, value):
        self._name = value
        if self._node is not None:
            self._node.label = value

    def named(self, name):
        """Set ``name`` and return self: ``f = z_f.sigmoid().named("forget gate")``."""
        self.name = name
        return self

    def size(self, dim=None):
        return self.shape if dim is None else self.shape[_axis(dim, self.ndim, "size")]

    def dim(self) -> int:
        return self.ndim

    def numel(self) -> int:
        return self.array.size

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return iter(self.unbind(0))

    def numpy(self) -> np.ndarray:
        return self.array

    def __array__(self, dtype=None, copy=None):
        return self.array if dtype is None else self.array.astype(dtype, copy=False)

    def item(self):
        if self.array.size != 1:
            raise ValueError(f"item: only one-element tensors can be converted to Python "
                             f"numbers, got shape {self.shape}")
        return self.array.item()

    def tolist(self):
        return self.array.tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.array.size != 1 or self.dtype.kind not in "iub":
            raise TypeError(f"only integer tensors of a single element can be converted to an "
                            f"index, got dtype {self.dtype} and shape {self.shape}")
        return int(self.array.item())

    def __bool__(self):
        if self.array.size != 1:
            raise RuntimeError(f"bool: the truth value of a tensor of shape {self.shape} is "
                               f"ambiguous")
        return bool(self.array)

    def __repr__(self):
        body = np.array2string(self.array, precision=4, threshold=20, edgeitems=2,
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
        if requires_grad and self.array.dtype.kind not in "fc":
            raise TypeError(f"requires_grad: only floating point tensors can require grad, this "
                            f"one has dtype {self.array.dtype}")
        if self._node is not None and not requires_grad:
            raise RuntimeError("requires_grad_: cannot turn off grad on a non-leaf tensor; use "
                               "detach()")
        self.requires_grad = bool(requires_grad)
        return self

    def detach(self) -> "Tensor":
        """A new leaf sharing the data, cut from the graph: how truncated BPTT stops gradients."""
        return _tensor(self.array)

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
                _accumulate_leaf(t, g, isinstance(g, Tensor))  # a Tensor under create_graph
        self._node.register_hook(self._idx, keep)
        return self

    @property
    def retains_grad(self) -> bool:
        return self._retains_grad

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf that requires grad (only
        into ``inputs``' ``.grad`` if given, as PyTorch).

        ``gradient`` is dL/d(self) (needed unless self has one element). Saved arrays are freed
        afterwards unless ``retain_graph=True`` (default: ``create_graph``). With
        ``create_graph=True`` the backward pass is itself recorded: ``.grad`` is a Tensor with
        its own graph, which can be differentiated again (Hessian-vector products, …).
        """
        if not self.requires_grad:
            raise RuntimeError("backward: this tensor does not require grad and has no graph (was "
                               "it made under no_grad(), or from tensors without requires_grad?)")
        if gradient is None:
            if self.array.size != 1:
                raise RuntimeError(f"backward: gradient can be implied only for a one-element "
                                   f"tensor, this one has shape {self.shape}; pass "
                                   f"backward(gradient)")
            gradient = np.ones(self.shape, dtype=self.dtype)
        elif not (create_graph and isinstance(gradient, Tensor)):  # a Tensor may carry a graph
            gradient = np.asarray(_raw(gradient), dtype=self.dtype)
        if gradient.shape != self.shape:
            raise ValueError(f"backward: gradient of shape {gradient.shape} does not match "
                             f"the tensor's shape {self.shape}")
        retain = create_graph if retain_graph is None else retain_graph
        if create_graph and not isinstance(gradient, Tensor):
            gradient = _tensor(gradient)  # the sweep runs on Tensors
        if inputs is None:
            backward([self], [gradient], retain, create_graph)
            return
        inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
        for t, g in zip(inputs, backward([self], [gradient], retain, create_graph, inputs)):
            if g is not None:
                _accumulate_leaf(t, g, create_graph)

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
    def __lt__(self, other): return _tensor(np.asarray(self.array < _raw(other)))
    def __le__(self, other): return _tensor(np.asarray(self.array <= _raw(other)))
    def __gt__(self, other): return _tensor(np.asarray(self.array > _raw(other)))
    def __ge__(self, other): return _tensor(np.asarray(self.array >= _raw(other)))
    def __eq__(self, other): return _tensor(np.asarray(self.array == _raw(other)))
    def __ne__(self, other): return _tensor(np.asarray(self.array != _raw(other)))
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
        ``versions.note_change``).

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
        if recording and self.requires_grad and self.array.base is not None:
            raise RuntimeError("in-place operation on a view (a slice, reshape, split …) of a "
                               "tensor that requires grad is not supported: it would change the "
                               "base tensor behind the graph's back; use an out-of-place op")
        compute = fn if not isinstance(fn, type) else (lambda t, *a: _binary(fn, t, *a))
        # The op sees a copy: whatever its backward saves of the old value stays valid after
        # the array is overwritten below.
        source = _tensor(self.array.copy(), self._node, self._idx) if recording else self
        with _setting("grad", recording):
            result = compute(source, *args)
        if result.shape != self.shape:
            raise RuntimeError(f"in-place operation: the result's shape {result.shape} does not "
                               f"match the tensor's shape {self.shape} it is written into")
        if not np.can_cast(result.dtype, self.dtype, "same_kind"):
            raise TypeError(f"in-place operation: result type {result.dtype} cannot be written "
                            f"into a tensor of dtype {self.dtype}")
        np.copyto(self.array, result.array, casting="same_kind")
        note_change(self.array)
        if recording:
            self._node, self._idx, self._edge = result._node, result._idx, result._edge
            self.requires_grad = True
            if self._name is not None:
                self._node.label = self._name
        return self

    def __setitem__(self, index, value):
        """``x[index] = value`` writes in place. When ``value`` or ``x`` carries a gradient, the
        write is recorded (``ops.IndexPut``): ``value`` gets the gradient of the part it
        overwrote, ``x`` the rest — as PyTorch does; ``x`` moves to the new node."""
        index, advanced = _normalize_index(index)
        if mode.grad and (self.requires_grad or
                          (isinstance(value, Tensor) and value.requires_grad)):
            if self.array.base is not None:
                raise RuntimeError(
                    f"setitem: writing a value that carries a gradient into a view (a slice, "
                    f"reshape, split …) of shape {self.shape} is not supported: the tensor it "
                    f"views would change behind the graph's back; write into the base tensor, "
                    f"or clone() the view first")
            value = _lift(value, dtype=self.dtype)
            return self._in_place(lambda t, v: apply(ops.IndexPut, t, v, index=index,
                                                     advanced=advanced), value)
        try:
            self.array[index] = _raw(value)
        except (IndexError, ValueError) as err:
            raise type(err)(f"setitem: cannot write {np.shape(_raw(value))} into index "
                            f"{index!r} of a tensor of shape {self.shape}: {err}") from err
        note_change(self.array)

    # ------------------------------------------------------------ elementwise
    def exp(self): return apply(ops.Exp, self._as_float())
    def log(self): return apply(ops.Log, self._as_float())
    def tanh(self): return apply(ops.Tanh, self._as_float())
    def sin(self): return apply(ops.Sin, self._as_float())
    def cos(self): return apply(ops.Cos, self._as_float())
    def sigmoid(self): return apply(ops.Sigmoid, self._as_float())
    def sqrt(self): return apply(ops.Sqrt, self._as_float())
    def relu(self): return apply(ops.Relu, self)
    def abs(self): return apply(ops.Abs, self)

    def clamp(self, min=None, max=None):
        """Limit to [min, max]; the gradient passes where min ≤ x ≤ max (as PyTorch)."""
        if min is None and max is None:
            raise ValueError("clamp: at least one of min and max must be given")
        return apply(ops.Clamp, self, lo=min, hi=max)

    clip = clamp  # PyTorch's alias (gradient clipping is optim.clip_grad_norm_)

    def lerp(self, end, weight):
        """self + weight·(end - self) (see :func:`lerp`)."""
        return lerp(self, end, weight)

    def masked_fill(self, mask, value):
        """``value`` where ``mask`` is True, else self (no gradient where filled)."""
        return where(mask, _lift(value, self), self)

    def _as_float(self):
        return self if self.array.dtype.kind in "fc" else self.to(get_default_dtype())

    def to(self, *args, dtype=None, device=None, non_blocking=False, copy=False,
           memory_format=None):
        """``to(dtype)``, ``to(device)``, ``to(device, dtype)``, ``to(other_tensor)``, as PyTorch.
        The only device is the CPU (see ``tinygrad_rnn.device``). A cast to an integer or bool
        type cuts the graph: such tensors never require grad."""
        for a in args:
            if isinstance(a, Tensor):
                dtype = a.dtype
            elif _device.is_device(a):
                device = a
            else:
                dtype = a
        _device.check("to", device)
        if dtype is None:
            return self.clone() if copy else self
        dtype = np.dtype(dtype)
        if dtype == self.dtype:
            return self.clone() if copy else self
        if dtype.kind not in "fc":
            return _tensor(self.array.astype(dtype))
        return apply(ops.Cast, self, dtype=dtype)

    def float(self): return self.to(np.float32)
    def double(self): return self.to(np.float64)
    def half(self): return self.to(np.float16)
    def long(self): return self.to(np.int64)
    def int(self): return self.to(np.int32)
    def bool(self): return self.to(np.bool_)
    def type_as(self, other): return self.to(other.dtype)
    def cpu(self): return self
    def cuda(self, device=None, non_blocking=False):
        _device.check("cuda", "cuda" if device is None else device)
    def contiguous(self, memory_format=None): return self
    def is_contiguous(self, memory_format=None): return True
    device = property(lambda self: _device.CPU, doc="Always the CPU here (``tinygrad_rnn.devices``).")
    is_cuda = property(lambda self: False)

    def type(self, dtype=None):
        """``type()`` names the dtype as PyTorch does (``'torch.FloatTensor'``); ``type(dtype)``
        casts."""
        if dtype is None:
            names = {"float32": "Float", "float64": "Double", "float16": "Half", "int64": "Long",
                     "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte",
                     "bool": "Bool"}
            return f"torch.{names.get(self.dtype.name, self.dtype.name)}Tensor"
        return self.to(dtype)

    # ------------------------------------------------------------ PyTorch's other names
    def pow(self, exponent): return self ** exponent
    def neg(self): return -self
    def mul(self, other): return self * other
    def div(self, other): return self / other
    def square(self): return self * self
    def rsqrt(self): return 1.0 / self.sqrt()
    def eq(self, other): return self == other
    def ne(self, other): return self != other
    def lt(self, other): return self < other
    def le(self, other): return self <= other
    def gt(self, other): return self > other
    def ge(self, other): return self >= other
    def nelement(self): return self.array.size
    def ndimension(self): return self.ndim
    def view_as(self, other): return self.reshape(other.shape)
    def reshape_as(self, other): return self.reshape(other.shape)
    def expand_as(self, other): return self.expand(other.shape)
    def masked_fill_(self, mask, value): return self._in_place(lambda t: t.masked_fill(mask, value))

    def add(self, other, alpha=1):
        return self + (other if alpha == 1 else _lift(other, self) * alpha)

    def sub(self, other, alpha=1):
        return self - (other if alpha == 1 else _lift(other, self) * alpha)

    def matmul(self, other): return _matmul(self, other)

    def mm(self, other):
        """Matrix product of two 2-D tensors (``torch.mm``)."""
        other = _lift(other)
        if self.ndim != 2 or other.ndim != 2:
            raise ValueError(f"mm: expects two 2-D tensors, got shapes {self.shape} and "
                             f"{other.shape}")
        return _matmul(self, other)

    def bmm(self, other):
        """Batched matrix product: (b, n, m) @ (b, m, p) → (b, n, p) (``torch.bmm``)."""
        other = _lift(other)
        if self.ndim != 3 or other.ndim != 3 or self.shape[0] != other.shape[0] or \
                self.shape[2] != other.shape[1]:
            raise ValueError(f"bmm: expects (b, n, m) and (b, m, p) tensors, got shapes "
                             f"{self.shape} and {other.shape}")
        return _matmul(self, other)

    def baddbmm(self, batch1, batch2, *, beta=1, alpha=1):
        """beta·self + alpha·bmm(batch1, batch2); with beta = 0 self is ignored (``torch.baddbmm``)."""
        product = _lift(batch1).bmm(batch2)
        product = product if alpha == 1 else product * alpha
        return product if beta == 0 else (self if beta == 1 else self * beta) + product

    def addmm(self, mat1, mat2, *, beta=1, alpha=1):
        """beta·self + alpha·(mat1 @ mat2) (``torch.addmm``)."""
        product = _lift(mat1).mm(mat2)
        product = product if alpha == 1 else product * alpha
        return product if beta == 0 else (self if beta == 1 else self * beta) + product

    def topk(self, k, dim=-1, largest=True, sorted=True):
        """The ``k`` largest (or smallest) elements along ``dim`` and their indices, as
        ``torch.topk``; the values are gathered, so the gradient flows back to where they were.
        Ties are broken by position (PyTorch leaves their order unspecified)."""
        axis = _axis(dim, self.ndim, "topk")
        n = self.shape[axis] if self.ndim else 1
        if not 0 <= int(k) <= n:
            raise ValueError(f"topk: k ({k}) is out of range for dim {dim} of size {n} "
                             f"(shape {self.shape})")
        if self.ndim == 0:
            return MaxResult(self, _tensor(np.zeros((), np.int64)))
        keys = -self.array if largest else self.array
        if keys.dtype.kind == "b":
            keys = keys.astype(np.int8) if not largest else -self.array.astype(np.int8)
        order = np.argsort(keys, axis=axis, kind="stable")
        idx = np.take(order, np.arange(int(k)), axis=axis).astype(np.int64)
        return MaxResult(self.gather(axis, idx), _tensor(idx))

    def sort(self, dim=-1, descending=False, stable=False):
        """(values, indices) sorted along ``dim`` (``torch.sort``); values carry the gradient."""
        axis = _axis(dim, self.ndim, "sort")
        return self.topk(self.shape[axis] if self.ndim else 1, axis, largest=descending)

    def tril(self, diagonal=0):
        """The lower triangle of the last two dims (the rest 0), as ``torch.tril``; the gradient
        passes where the values are kept."""
        return self._triangle(np.tri(*self.shape[-2:], k=diagonal, dtype=bool), "tril")

    def triu(self, diagonal=0):
        """The upper triangle of the last two dims (the rest 0), as ``torch.triu``."""
        return self._triangle(~np.tri(*self.shape[-2:], k=diagonal - 1, dtype=bool), "triu")

    def _triangle(self, keep, op):
        if self.ndim < 2:
            raise ValueError(f"{op}: expects a tensor with at least 2 dims, got shape {self.shape}")
        return where(keep, self, _lift(0, self))

    def narrow(self, dim, start, length):
        """The slice ``start : start + length`` along ``dim``, sharing memory (``torch.narrow``)."""
        axis = _axis(dim, self.ndim, "narrow")
        n = self.shape[axis]
        start = int(start) + (n if int(start) < 0 else 0)
        if not (0 <= start and length >= 0 and start + length <= n):
            raise IndexError(f"narrow: start {start} and length {length} do not fit in dim "
                             f"{dim} of size {n} (shape {self.shape})")
        return self[(slice(None),) * axis + (slice(start, start + int(length)),)]

    def index_select(self, dim, index):
        """The entries at integer ``index`` (1-D) along ``dim`` (``torch.index_select``)."""
        axis = _axis(dim, self.ndim, "index_select")
        idx = index if isinstance(index, Tensor) else np.asarray(index)
        if idx.ndim != 1 or idx.dtype.kind not in "iu":
            raise ValueError(f"index_select: index must be a 1-D integer tensor, got dtype "
                             f"{idx.dtype} and shape {idx.shape}")
        return self[(slice(None),) * axis + (idx,)]

    def repeat(self, *sizes):
        """Tile the tensor ``sizes[i]`` times along dim i (``torch.repeat``), as an expand of a
        reshaped view: the gradient is summed over the copies."""
        sizes = _sizes(sizes)
        if len(sizes) < self.ndim:
            raise ValueError(f"repeat: needs at least {self.ndim} repeat counts for shape "
                             f"{self.shape}, got {sizes}")
        shape = (1,) * (len(sizes) - self.ndim) + self.shape
        x = self.reshape(tuple(d for n in shape for d in (1, n)))
        x = x.expand(tuple(d for r, n in zip(sizes, shape) for d in (r, n)))
        return x.reshape(tuple(r * n for r, n in zip(sizes, shape)))

    def new_tensor(self, data, dtype=None, device=None, requires_grad=False):
        _device.check("new_tensor", device)
        return Tensor(data, requires_grad=requires_grad, dtype=dtype or self.dtype)

    def new_full(self, size, fill_value, dtype=None, device=None, requires_grad=False):
        _device.check("new_full", device)
        array = np.full(_sizes((size,)), fill_value, dtype=dtype or self.dtype)
        return _tensor(array).requires_grad_(requires_grad)

    def new_zeros(self, *size, dtype=None, device=None, requires_grad=False):
        return self.new_full(_sizes(size), 0, dtype, device, requires_grad)

    def new_ones(self, *size, dtype=None, device=None, requires_grad=False):
        return self.new_full(_sizes(size), 1, dtype, device, requires_grad)

    new_empty = new_zeros

    def detach_(self):
        """Cut this tensor from the graph in place: it becomes a leaf."""
        self._node, self._idx, self._edge, self.requires_grad = None, 0, None, False
        return self

    def uniform_(self, a=0.0, b=1.0, generator=None):
        """Fill with samples from U(a, b) (the package generator; under no_grad in PyTorch's
        sense: an initialisation, not an op)."""
        return self._fill_random(lambda rng: rng.uniform(a, b, self.shape))

    def normal_(self, mean=0.0, std=1.0, generator=None):
        return self._fill_random(lambda rng: rng.normal(mean, std, self.shape))

    def _fill_random(self, draw):
        if mode.grad and self.requires_grad and self._node is None:
            raise RuntimeError("in-place operation: a leaf tensor that requires grad is being "
                               "used in an in-place operation; use `with tg.no_grad():` or "
                               "write into p.data")
        self.array[...] = draw(get_rng())
        note_change(self.array)
        return self

    # ------------------------------------------------------------ reductions
    def sum(self, dim=None, keepdim=False):
        x = self if self.dtype.kind in "fc" else _tensor(self.array.astype(np.int64))
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
        return self.array.size if axes is None else int(np.prod([self.shape[a] for a in axes]))

    def max(self, dim=None, keepdim=False):
        """``max()`` → Tensor, ties share the gradient equally; ``max(dim)`` → (values, indices),
        the gradient going to the first arg-max (both as in PyTorch)."""
        if dim is None:
            return apply(ops.Max, self, axis=None, keepdims=False, split_ties=True)
        axis = _axis(dim, self.ndim, "max")
        if self.ndim == 0:
            return MaxResult(self, _tensor(np.zeros((), np.int64)))
        values = apply(ops.Max, self, axis=axis, keepdims=keepdim, split_ties=False)
        idx = np.argmax(self.array, axis=axis)
        return MaxResult(values, _tensor(np.expand_dims(idx, axis) if keepdim else idx))

    def amax(self, dim=None, keepdim=False):
        return apply(ops.Max, self, axis=_axes(dim, self.ndim, "amax"), keepdims=keepdim,
                     split_ties=True)

    def min(self, dim=None, keepdim=False):
        if dim is None:
            return -((-self).max())
        values, idx = (-self).max(dim, keepdim)
        return MaxResult(-values, idx)

    def all(self, dim=None, keepdim=False):
        """True where every element (along ``dim``) is non-zero; a bool tensor, no gradient."""
        return self._logical(np.all, dim, keepdim, "all")

    def any(self, dim=None, keepdim=False):
        """True where some element (along ``dim``) is non-zero; a bool tensor, no gradient."""
        return self._logical(np.any, dim, keepdim, "any")

    def _logical(self, fn, dim, keepdim, op):
        axes = _axes(dim, self.ndim, op)
        return _tensor(np.asarray(fn(self.array, axis=axes, keepdims=keepdim and axes is not None)))

    def argmax(self, dim=None, keepdim=False):
        return self._arg(np.argmax, dim, keepdim, "argmax")

    def argmin(self, dim=None, keepdim=False):
        return self._arg(np.argmin, dim, keepdim, "argmin")

    def _arg(self, fn, dim, keepdim, op):
        if dim is None or self.ndim == 0:
            return _tensor(np.asarray(fn(self.array), dtype=np.int64))
        axis = _axis(dim, self.ndim, op)
        return _tensor(np.asarray(fn(self.array, axis=axis, keepdims=keepdim), dtype=np.int64))

    def softmax(self, dim):
        return apply(ops.Softmax, self, axis=_axis(dim, self.ndim, "softmax"))

    def log_softmax(self, dim):
        return apply(ops.LogSoftmax, self, axis=_axis(dim, self.ndim, "log_softmax"))

    # ------------------------------------------------------------ shape
    def reshape(self, *shape):
        shape = _sizes(shape)
        try:
            target = _infer_shape(shape, self.array.size)
        except ValueError as err:
            raise ValueError(f"reshape: cannot reshape {self.shape} ({self.array.size} elements) "
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
        if isinstance(index, Tensor) or (type(index) is tuple and
                                         any(isinstance(p, Tensor) for p in index)):
            return _index_by(self, index)
        index, advanced = _normalize_index(index)
        return apply(ops.GetItem, self, index=index, advanced=advanced)

    def gather(self, dim, index):
        """``out[i][j] = self[i][index[i][j]]`` along ``dim`` (PyTorch's gather); the gradient
        is scattered back, repeated indices adding up."""
        axis = _axis(dim, self.ndim, "gather")
        idx = index if isinstance(index, Tensor) else _tensor(np.asarray(index))
        if idx.dtype.kind not in "iu" or idx.ndim != self.ndim:
            raise ValueError(f"gather: index must be an integer tensor with {self.ndim} dims like "
                             f"the input {self.shape}, got dtype {idx.dtype} shape {idx.shape}")
        return apply(ops.Gather, self, idx, axis=axis)  # the index an input: jit replays it

    def split(self, split_size_or_sections, dim=0):
        """As PyTorch: an int is the size of each piece (the last may be smaller); a list gives
        the sizes, which must add up to the dimension."""
        axis = _axis(dim, self.ndim, "split")
        n = self.array.shape[axis]
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
        n = self.array.shape[axis]
        return self._pieces(_even_sizes(n, max(-(-n // chunks), 1)), axis)


def _even_sizes(n, step):
    """Pieces of ``step`` along a dimension of ``n``, the last one smaller if need be."""
    return [step] * (n // step) + ([n % step] if n % step else [])



def _tensor(array, node=None, idx=0):
    """The engine's constructor: ``array`` is used as is; a node means a gradient flows."""
    t = _new(Tensor)
    t.array, t._grad, t._node, t._idx, t.requires_grad = array, None, node, idx, node is not None
    t._edge = None if node is None else (node, idx)  # where this tensor's gradient goes
    t._name, t._hooks, t._retains_grad = None, None, False
    return t


_new = object.__new__


def _binary(fn, a, b):
    """Promote both operands to PyTorch's result dtype, then apply ``fn``."""
    if isinstance(a, Tensor) and isinstance(b, Tensor) and a.array.dtype == b.array.dtype and (
            fn is not ops.Div or a.array.dtype.kind in "fc"):
        return apply(fn, a, b)  # the common case, kept free of the promotion rules
    dtype = result_type(a, b)
    if fn is ops.Div and dtype.kind in "biu":
        dtype = get_default_dtype()  # true division of integers gives the default float
    return apply(fn, _lift(a, dtype=dtype), _lift(b, dtype=dtype))


def _matmul(a, b):
    a, b = _lift(a), _lift(b)
    if a.dtype != b.dtype:
        raise TypeError(f"matmul: both operands must have the same dtype, got {a.dtype} {a.shape} "
                        f"and {b.dtype} {b.shape}; convert one with .float() or .double()")
    return apply(ops.MatMul, a, b)


# ---------------------------------------------------------------- functions on tensors

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
    """Elementwise ``x if condition else y``; the gradient flows to the branch that was taken.
    A Tensor condition is an input of the op (a jit record replays it), an array a constant."""
    cond = condition if isinstance(condition, Tensor) else np.asarray(condition, dtype=bool)
    dtype = result_type(x, y)
    x, y = _lift(x, dtype=dtype), _lift(y, dtype=dtype)
    try:
        np.broadcast_shapes(cond.shape, x.shape, y.shape)
    except ValueError:
        raise ValueError(f"where: condition {cond.shape}, x {x.shape} and y {y.shape} cannot be "
                         f"broadcast together") from None
    if isinstance(cond, Tensor):
        return apply(ops.Select, cond, x, y)
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

def as_numpy(value) -> np.ndarray:
    """The ndarray behind ``value``: a Tensor's array, a torch tensor's (detached), or
    ``np.asarray`` of anything else — how state dicts and optimizer states are read in."""
    if isinstance(value, Tensor):
        return value.array
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch tensor
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _raw(x):
    return x.array if isinstance(x, Tensor) else x


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
        data = data.array
    dtype = None if dtype is None else np.dtype(dtype)
    from_numpy = isinstance(data, (np.ndarray, np.generic))
    try:
        arr = np.array(data, dtype=dtype, copy=True) if copy else np.asarray(data, dtype=dtype)
    except (ValueError, TypeError) as err:
        raise TypeError(f"Tensor: cannot make a tensor from {type(data).__name__}: {err}") from None
    if dtype is None and arr.dtype.kind == "f" and not from_numpy:
        arr = arr.astype(get_default_dtype())  # Python floats: float32 unless set otherwise
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


def _index_by(x, index):
    """x[index] where integer Tensors (not 0-d) in the index are inputs of the op (``IndexBy``),
    so that a jit record replays them as variables; other parts as :func:`_normalize_index`."""
    parts = list(index) if type(index) is tuple else [index]
    tensors, slots = [], []
    for i, p in enumerate(parts):
        if isinstance(p, Tensor) and p.ndim and p.dtype.kind in "iu":
            tensors.append(p)
            slots.append(i)
            parts[i] = None
    if not tensors:
        index, advanced = _normalize_index(index)
        return apply(ops.GetItem, x, index=index, advanced=advanced)
    rest, _ = _normalize_index(tuple(parts))
    return apply(ops.IndexBy, x, *tensors, index=rest, slots=tuple(slots))


def _normalize_index(index):
    """Tensors in an index become arrays (0-d integer tensors plain ints); report whether numpy
    will use advanced indexing."""
    parts = index if isinstance(index, tuple) else (index,)
    fixed, advanced = [], False
    for p in parts:
        p = p.array if isinstance(p, Tensor) else p
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


engine.set_tensor_type(_tensor)
