"""Primitive operations: each forward (on numpy arrays) sits beside its backward (VJP).

A primitive is a class with two static methods, as in PyTorch's ``torch.autograd.Function``:

    forward(ctx, *arrays, **params) -> array            (a tuple of arrays for several outputs)
    backward(ctx, *grads)           -> one grad per input (a bare array when there is one input)

``ctx`` is the graph :class:`~tinygrad_rnn.engine.Node` being recorded. ``ctx.save(...)`` keeps the
arrays the backward needs (released after backward unless ``retain_graph=True``) and
``ctx.needs_input_grad`` tells which inputs want a gradient, so a backward can skip work.
Non-array arguments (axes, shapes, indices) arrive as keyword ``params``.

**Each VJP is written once, for arrays and for Tensors.** A plain ``backward()`` calls it with
arrays. Under ``create_graph=True`` the engine calls the same VJP with Tensors — the gradient,
and every saved value that is one of the op's inputs or its output (``saved_as`` says which) — so
each operation in it is itself recorded and the gradient can be differentiated again (HIPS
autograd's and JAX's idea). VJPs therefore use arithmetic (``* + - / ** @``, ``.reshape``,
``.T``), which both types share, and the small helpers below (``_sum``, ``_where``, ``_exp``, …)
that run numpy on arrays and the matching primitive on Tensors. Masks (``a > 0``, ``sign(a)``)
are constants: their derivative is zero almost everywhere. Broadcasting is undone in one place,
:func:`unbroadcast`. Nothing here imports ``Tensor``.
"""
from __future__ import annotations

import numpy as np

from . import engine
from .engine import _NO_GRAPH, Deferred, apply


# ---------------------------------------------------------------- running a VJP on arrays or Tensors

def _traced(x) -> bool:
    """True for a Tensor: the VJP is running under ``create_graph`` (arrays: False)."""
    return type(x) is not np.ndarray and hasattr(x, "_edge")


def _raw(x):
    """The array of a Tensor (for masks and tests on values, which carry no gradient)."""
    return x.array if _traced(x) else x


def _op(fn, *xs, **params):
    """Primitive ``fn`` applied inside a VJP: on arrays its forward alone (nothing recorded); on
    Tensors through :func:`engine.apply`, recorded like any op (arrays among them are constants)."""
    if any(map(_traced, xs)):
        return apply(fn, *[x if _traced(x) else engine._wrap(np.asarray(x)) for x in xs],
                     **params)
    return fn.forward(_NO_GRAPH, *xs, **params)


def _sum(x, axis, keepdims=False):
    # the array method, not np.sum: its dispatch costs microseconds on small arrays
    return _op(Sum, x, axis=axis, keepdims=keepdims) if _traced(x) else \
        x.sum(axis=axis, keepdims=keepdims)


def _exp(x):
    return _op(Exp, x)


def _log(x):
    return _op(Log, x)


def _sigmoid(x):
    return _op(Sigmoid, x)


def _where(cond, x, y):
    """where(cond, x, y) for a constant boolean ``cond``; a number becomes x's or y's dtype."""
    if not (_traced(x) or _traced(y)):
        return np.where(cond, x, y)
    like = x if _traced(x) else y
    return _op(Where, *[v if _traced(v) else np.asarray(v, like.dtype) for v in (x, y)],
               cond=cond)


def _cast(x, dtype):
    return _op(Cast, x, dtype=dtype)


def _permute(x, axes):
    return _op(Permute, x, axes=tuple(axes))


def _swap_last(x):
    """Swap the last two axes (a batched transpose)."""
    axes = list(range(x.ndim))
    axes[-1], axes[-2] = axes[-2], axes[-1]
    return _permute(x, axes)


def _cat(xs, axis):
    """Concatenate (a VJP on the hot path: numpy itself on arrays, the cat primitive on Tensors)."""
    return _op(Cat, *xs, axis=axis) if any(map(_traced, xs)) else np.concatenate(xs, axis=axis)


def _stack(xs, axis):
    return _op(Stack, *xs, axis=axis) if any(map(_traced, xs)) else np.stack(xs, axis=axis)


def _broadcast_to(x, shape):
    return _op(Expand, x, shape=shape) if _traced(x) else np.broadcast_to(x, shape)


def unbroadcast(grad, shape: tuple):
    """Sum ``grad`` down to ``shape``: the VJP of numpy broadcasting.

    Broadcasting (1) prepends dimensions and (2) stretches dimensions of size 1, so the gradient
    sums over (1) the leading extra axes and (2) the stretched axes, keeping them.
    """
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra:
        grad = _sum(grad, tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = _sum(grad, stretched, keepdims=True)
    return grad.reshape(shape)


class Function:
    """Base of every primitive. ``name`` is what the graph and error messages show.

    ``saved_as`` tells, for each value the forward saves (in order), what it is: the index of the
    input it is, ``"out"`` for the op's output, or None (a shape, an axis, a mask: a constant to
    the gradient). Under ``create_graph`` those inputs and outputs reach the VJP as Tensors on the
    graph, so the second derivative flows through them. A primitive whose VJP cannot run on
    Tensors sets ``twice_differentiable = False``.
    """

    name = "function"
    # Elementwise ops with numpy broadcasting get a broadcasting-specific error message.
    broadcasts = False
    saved_as = ()
    twice_differentiable = True

    @staticmethod
    def forward(ctx, *arrays, **params):  # pragma: no cover - interface
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grads):  # pragma: no cover - interface
        raise NotImplementedError


# ---------------------------------------------------------------- elementwise, two inputs

class Add(Function):
    name, broadcasts = "add", True

    @staticmethod
    def forward(ctx, a, b):
        ctx.save(a.shape, b.shape)
        return a + b

    @staticmethod
    def backward(ctx, g):
        sa, sb = ctx.saved
        return unbroadcast(g, sa), unbroadcast(g, sb)


class Sub(Function):
    name, broadcasts = "sub", True

    @staticmethod
    def forward(ctx, a, b):
        ctx.save(a.shape, b.shape)
        return a - b

    @staticmethod
    def backward(ctx, g):
        sa, sb = ctx.saved
        return unbroadcast(g, sa), unbroadcast(-g, sb) if ctx.needs_input_grad[1] else None


class Mul(Function):
    name, broadcasts, saved_as = "mul", True, (0, 1)

    @staticmethod
    def forward(ctx, a, b):
        ctx.save(a, b)
        return a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        need_a, need_b = ctx.needs_input_grad
        return (unbroadcast(g * b, a.shape) if need_a else None,
                unbroadcast(g * a, b.shape) if need_b else None)


class Div(Function):
    name, broadcasts, saved_as = "div", True, (0, 1)

    @staticmethod
    def forward(ctx, a, b):
        ctx.save(a, b)
        return a / b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        need_a, need_b = ctx.needs_input_grad
        return (unbroadcast(g / b, a.shape) if need_a else None,
                unbroadcast(-g * a / (b * b), b.shape) if need_b else None)


class Pow(Function):
    """a ** b. d/da = b·a^(b-1), taken as 0 where b = 0 (so x**0 has gradient 0 at x = 0);
    d/db = a^b·log(a), taken as 0 where a = 0 and b ≥ 0 (PyTorch's conventions)."""

    name, broadcasts, saved_as = "pow", True, (0, 1, "out")

    @staticmethod
    def forward(ctx, a, b):
        with np.errstate(divide="ignore", invalid="ignore"):  # 0 ** -1 = inf, as PyTorch, quietly
            out = a ** b
        ctx.save(a, b, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, b, out = ctx.saved
        need_a, need_b = ctx.needs_input_grad
        ga = gb = None
        with np.errstate(divide="ignore", invalid="ignore"):
            if need_a:
                ga = unbroadcast(_where(_raw(b) == 0, 0, g * b * a ** (b - 1)), a.shape)
            if need_b:
                gb = _where((_raw(a) == 0) & (_raw(b) >= 0), 0, g * out * _log(a))
                gb = unbroadcast(gb, b.shape)
        return ga, gb


class Where(Function):
    """where(cond, a, b); ``cond`` is a boolean array parameter, not a graph input."""

    name, broadcasts = "where", True

    @staticmethod
    def forward(ctx, a, b, cond):
        ctx.save(cond, a.shape, b.shape)
        return np.where(cond, a, b)

    @staticmethod
    def backward(ctx, g):
        cond, sa, sb = ctx.saved
        need_a, need_b = ctx.needs_input_grad
        return (unbroadcast(_where(cond, g, 0), sa) if need_a else None,
                unbroadcast(_where(cond, 0, g), sb) if need_b else None)


class Lerp(Function):
    """lerp(a, b, w) = a + w·(b - a), PyTorch's ``torch.lerp``: a weighted mean in one op (the
    GRU's h' = (1 - z)·n + z·h is lerp(n, h, z)). d/da = g(1 - w), d/db = g·w, d/dw = g(b - a).
    It saves a and b, not b - a: a derived array would be a constant to a second derivative."""

    name, broadcasts, saved_as = "lerp", True, (0, 1, 2)

    @staticmethod
    def forward(ctx, a, b, w):
        ctx.save(a, b, w)
        return a + w * (b - a)

    @staticmethod
    def backward(ctx, g):
        a, b, w = ctx.saved
        need_a, need_b, need_w = ctx.needs_input_grad
        gb = g * w if need_a or need_b else None
        return (unbroadcast(g - gb, a.shape) if need_a else None,
                unbroadcast(gb, b.shape) if need_b else None,
                unbroadcast(g * (b - a), w.shape) if need_w else None)


class Maximum(Function):
    """max(a, b) elementwise; where a == b each input gets half the gradient (as PyTorch)."""

    name, broadcasts = "maximum", True

    @staticmethod
    def forward(ctx, a, b):
        ctx.save(a, b)
        return np.maximum(a, b)

    @staticmethod
    def backward(ctx, g):
        return _pick_backward(ctx, g, np.greater)


class Minimum(Function):
    """min(a, b) elementwise; where a == b each input gets half the gradient (as PyTorch)."""

    name, broadcasts = "minimum", True

    @staticmethod
    def forward(ctx, a, b):
        ctx.save(a, b)
        return np.minimum(a, b)

    @staticmethod
    def backward(ctx, g):
        return _pick_backward(ctx, g, np.less)


def _pick_backward(ctx, g, wins):
    """The gradient of picking one of a, b: all to the winner, half each on a tie."""
    a, b = ctx.saved  # masks only: the second derivative of a pick is zero
    share = np.where(a == b, 0.5, 1.0).astype(g.dtype) * g
    need_a, need_b = ctx.needs_input_grad
    return (unbroadcast(share * ~wins(b, a), a.shape) if need_a else None,
            unbroadcast(share * ~wins(a, b), b.shape) if need_b else None)


# ---------------------------------------------------------------- elementwise, one input

class Clone(Function):
    """A copy of the data; the gradient passes through unchanged."""

    name = "clone"

    @staticmethod
    def forward(ctx, a):
        return a.copy()

    @staticmethod
    def backward(ctx, g):
        return g


class Clamp(Function):
    """Limit a to [lo, hi] (either may be None); the gradient passes where lo ≤ a ≤ hi,
    boundaries included, as PyTorch."""

    name = "clamp"

    @staticmethod
    def forward(ctx, a, lo=None, hi=None):
        inside = np.ones(a.shape, dtype=bool)
        if lo is not None:
            inside &= a >= lo
        if hi is not None:
            inside &= a <= hi
        ctx.save(inside)
        return np.clip(a, lo, hi).astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        (inside,) = ctx.saved
        return g * inside

class Neg(Function):
    name = "neg"

    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, g):
        return -g


class Exp(Function):
    name, saved_as = "exp", ("out",)

    @staticmethod
    def forward(ctx, a):
        out = np.exp(a)
        ctx.save(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved
        return g * out


class Sin(Function):
    """y = sin a; dy/da = cos a (a primitive too, so the VJP stays on the graph)."""

    name, saved_as = "sin", (0,)

    @staticmethod
    def forward(ctx, a):
        ctx.save(a)
        return np.sin(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved
        return g * _op(Cos, a)


class Cos(Function):
    """y = cos a; dy/da = -sin a."""

    name, saved_as = "cos", (0,)

    @staticmethod
    def forward(ctx, a):
        ctx.save(a)
        return np.cos(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved
        return -(g * _op(Sin, a))


class Log(Function):
    name, saved_as = "log", (0,)

    @staticmethod
    def forward(ctx, a):
        ctx.save(a)
        with np.errstate(divide="ignore"):  # log 0 = -inf without a warning, as in PyTorch
            return np.log(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved
        return g / a


class Tanh(Function):
    """y = tanh(a); dy/da = 1 - y²."""

    name, saved_as = "tanh", ("out",)

    @staticmethod
    def forward(ctx, a):
        out = np.tanh(a)
        ctx.save(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved
        return g * (1 - y * y)


_HALF_ONE = {}  # dtype -> (0.5, 1) as scalars of that dtype


def _half_one(dtype):
    """In-place numpy ops with a Python number take about twice as long as with a scalar of the
    array's dtype; making the scalar takes as long again, so it is made once per dtype."""
    _HALF_ONE[dtype] = dtype.type(0.5), dtype.type(1)
    return _HALF_ONE[dtype]


class Sigmoid(Function):
    """y = σ(a) = ½(1 + tanh(a/2)): one ufunc call, and no overflow for large |a|. dy/da = y(1-y)."""

    name, saved_as = "sigmoid", ("out",)

    @staticmethod
    def forward(ctx, a):
        half, one = _HALF_ONE.get(a.dtype) or _half_one(a.dtype)
        out = np.tanh(a * half)
        out += one
        out *= half
        ctx.save(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved
        return g * y * (1 - y)


class Softplus(Function):
    """y = log(1 + eˣ), computed as logaddexp(0, x) (no overflow); dy/dx = σ(x)."""

    name, saved_as = "softplus", (0,)

    @staticmethod
    def forward(ctx, a):
        ctx.save(a)
        return np.logaddexp(0, a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved
        return g * _sigmoid(a)


class Relu(Function):
    """max(a, 0); the gradient at exactly 0 is 0, as in PyTorch."""

    name = "relu"

    @staticmethod
    def forward(ctx, a):
        out = np.maximum(a, 0)
        ctx.save(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved
        return g * (out > 0)


class Sqrt(Function):
    """√a; dy/da = 1 / (2√a), infinite at 0 — except for a standard deviation
    (``zero_at_zero=True``), whose gradient is 0 where it is 0, as PyTorch's ``std``."""

    name, saved_as = "sqrt", ("out",)

    @staticmethod
    def forward(ctx, a, zero_at_zero=False):
        out = np.sqrt(a)
        ctx.save(out, zero_at_zero)
        return out

    @staticmethod
    def backward(ctx, g):
        out, zero_at_zero = ctx.saved
        if not zero_at_zero:
            return g / (2 * out)
        with np.errstate(divide="ignore", invalid="ignore"):
            return _where(_raw(out) == 0, 0, g / (2 * out))


class Abs(Function):
    """|a|; the gradient at 0 is 0 (sign(0) = 0), as in PyTorch."""

    name = "abs"

    @staticmethod
    def forward(ctx, a):
        ctx.save(a)
        return np.abs(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved
        return g * np.sign(a)


class Cast(Function):
    """Change dtype; the gradient is cast back to the input's dtype."""

    name = "cast"

    @staticmethod
    def forward(ctx, a, dtype):
        ctx.save(a.dtype)
        return a.astype(dtype)

    @staticmethod
    def backward(ctx, g):
        (dtype,) = ctx.saved
        return _cast(g, dtype)


# ---------------------------------------------------------------- linear algebra

def _times_t(x, w, b=None):
    """x @ wᵀ (+ b) for 2-D x (r, k) and w (n, k): the product of a linear layer and of a
    recurrent step (h W_hhᵀ + b). With few rows against many outputs (8r ≤ n) the product is
    computed as (w xᵀ)ᵀ — the same sums in another memory layout — because OpenBLAS runs that
    one up to twice as fast there (float32, one thread: h W_hhᵀ + b takes 12 µs instead of 15
    at B=16, H=64 and 227 µs instead of 313 at B=32, H=256; with many rows the plain form is the
    faster). The result is written back in row order by the pass that adds b (or a copy): left
    transposed, it made the elementwise ops after it slower than the product saved."""
    if type(w) is np.ndarray and 8 * x.shape[0] <= w.shape[0] and w.flags.c_contiguous:
        product = (w @ x.T).T
        if b is None:
            return np.ascontiguousarray(product)
        return np.add(product, b, out=np.empty(product.shape, product.dtype))
    y = x @ w.T
    if b is not None:
        y += b
    return y


class MatMul(Function):
    """a @ b with numpy's rules (1-D operands, batched leading dimensions).

    For 2-D operands: dL/da = g @ bᵀ and dL/db = aᵀ @ g. 1-D operands are promoted to matrices for
    the backward and the batch dimensions that broadcast are summed away by ``unbroadcast``.
    """

    name, saved_as = "matmul", (0, 1)

    @staticmethod
    def forward(ctx, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(f"matmul: both operands need at least 1 dimension, got shapes "
                             f"{a.shape} and {b.shape}")
        k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
        if a.shape[-1] != k_b:
            raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not align "
                             f"({a.shape[-1]} != {k_b})")
        ctx.save(a, b)
        if a.ndim == 2 and b.ndim == 2 and b.flags.f_contiguous:  # h @ W.T (a transposed view)
            return _times_t(a, b.T)
        return a @ b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        need_a, need_b = ctx.needs_input_grad
        if a.ndim == 2 and b.ndim == 2:  # the common case, kept free of extra numpy calls
            return (_times_t(g, b) if need_a else None), (Deferred(a, g) if need_b else None)
        if a.ndim == 1 and b.ndim == 1:  # a dot product
            return (g * b if need_a else None), (g * a if need_b else None)
        a2 = a.reshape((1,) + a.shape) if a.ndim == 1 else a
        b2 = b.reshape(b.shape + (1,)) if b.ndim == 1 else b
        if a.ndim == 1:
            g = g.reshape(g.shape[:-1] + (1,) + g.shape[-1:])
        if b.ndim == 1:
            g = g.reshape(g.shape + (1,))
        ga = gb = None
        if need_a:
            ga = unbroadcast(g @ _swap_last(b2), a2.shape).reshape(a.shape)
        if need_b:
            if b2.ndim == 2 and a2.ndim > 2:
                # (..., m, k) @ (k, n): fold the batch into the rows instead of forming a
                # (..., k, n) product per batch element and summing it away.
                k, n = b2.shape
                gb = (a2.reshape(-1, k).T @ g.reshape(-1, n)).reshape(b.shape)
            else:
                gb = unbroadcast(_swap_last(a2) @ g, b2.shape).reshape(b.shape)
        return ga, gb


class Linear(Function):
    """y = x Wᵀ + b for x of shape (..., in), W (out, in) — PyTorch's ``F.linear``. One node
    instead of three (transpose, matmul, add):

        dL/dx = g W        dL/dW = gᵀ x (leading dims folded into rows)        dL/db = Σ g

    b is optional; as in PyTorch it is usually (out,) but may be any array that broadcasts to the
    output (addmm's form): a recurrent step computes h W_hhᵀ + (x_t W_ihᵀ + b) as one op.
    dL/dW is returned :class:`Deferred`: a weight used at every time step gets one product.
    """

    name, saved_as = "linear", (0, 1, None)

    @staticmethod
    def forward(ctx, x, w, b=None):
        if x.ndim == 0 or w.ndim != 2 or x.shape[-1] != w.shape[1]:
            raise ValueError(f"linear: input of shape {x.shape} has {x.shape[-1] if x.ndim else 0} "
                             f"features, the weight {w.shape} expects "
                             f"{w.shape[1] if w.ndim == 2 else 'a 2-d weight'}")
        shape = x.shape[:-1] + w.shape[:1]
        # the two usual bias shapes first: this runs at every time step
        if b is not None and b.shape != shape and b.shape != w.shape[:1] and \
                not _broadcasts_to(b.shape, shape):
            raise ValueError(f"linear: bias of shape {b.shape} does not fit the output {shape} "
                             f"(expected ({w.shape[0]},) or a shape that broadcasts to it)")
        ctx.save(x, w, None if b is None else b.shape)
        # Leading dimensions folded into rows: one matrix product, not one per leading index.
        if x.ndim == 2:
            return _times_t(x, w, b)
        y = x @ w.T if x.ndim == 1 else (x.reshape(-1, x.shape[-1]) @ w.T).reshape(shape)
        if b is not None:
            y += b
        return y

    @staticmethod
    def backward(ctx, g):
        x, w, b_shape = ctx.saved
        need = ctx.needs_input_grad
        rows = g if g.ndim == 2 else g.reshape(-1, g.shape[-1])  # leading dims folded
        gx = gw = gb = None
        if need[0]:
            gx = rows @ w if g.ndim == 2 else (rows @ w).reshape(x.shape)
        if need[1]:
            gw = Deferred(rows, x if x.ndim == 2 else x.reshape(-1, x.shape[-1]))
        if len(need) > 2 and need[2]:
            gb = unbroadcast(g, b_shape)
        return (gx, gw, gb)[:len(need)]


def _broadcasts_to(shape, target):
    """True if an array of ``shape`` broadcasts to ``target`` without changing it."""
    return len(shape) <= len(target) and all(
        n == 1 or n == m for n, m in zip(reversed(shape), reversed(target)))


# ---------------------------------------------------------------- reductions

def _expand_reduced(g, shape, axis, keepdims):
    """Give a reduced gradient back its reduced axes (size 1) so it broadcasts against ``shape``."""
    if axis is None:
        return g.reshape((1,) * len(shape))
    if keepdims:
        return g
    axes = axis if isinstance(axis, tuple) else (axis,)
    axes = [a % len(shape) for a in axes]
    return g.reshape(tuple(1 if i in axes else n for i, n in enumerate(shape)))


class Sum(Function):
    name = "sum"

    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        ctx.save(a.shape, axis, keepdims)
        return np.sum(a, axis=axis, keepdims=keepdims)

    @staticmethod
    def backward(ctx, g):
        shape, axis, keepdims = ctx.saved
        return _broadcast_to(_expand_reduced(g, shape, axis, keepdims), shape)


class Norm(Function):
    """The 2-norm over ``axis``: n = sqrt(Σ a²); dn/da = a / n, taken as 0 where n = 0."""

    name, saved_as = "norm", (0, "out")

    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        out = np.sqrt(np.sum(a * a, axis=axis, keepdims=keepdims))
        ctx.save(a, out, axis, keepdims)
        return out

    @staticmethod
    def backward(ctx, g):
        a, out, axis, keepdims = ctx.saved
        n = _expand_reduced(out, a.shape, axis, keepdims)
        scale = _expand_reduced(g, a.shape, axis, keepdims)
        with np.errstate(divide="ignore", invalid="ignore"):
            return _where(_raw(n) == 0, 0, a * (scale / n))


class Max(Function):
    """Maximum over ``axis``.

    Ties: with ``split_ties=True`` the gradient is shared equally by all maximal elements (what
    PyTorch does for ``x.max()`` and ``amax``); with ``split_ties=False`` it all goes to the first
    arg-max (what PyTorch does for ``x.max(dim)``, whose backward scatters to the returned index).
    """

    name = "max"

    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False, split_ties=True):
        out = np.max(a, axis=axis, keepdims=keepdims)
        if split_ties:
            mask = a == _expand_reduced(out, a.shape, axis, keepdims)
        else:
            idx = np.argmax(a, axis=axis)
            mask = np.zeros(a.shape, dtype=bool)
            if axis is None:
                mask.flat[idx] = True
            else:
                np.put_along_axis(mask, np.expand_dims(idx, axis), True, axis=axis)
        ctx.save(mask, axis, keepdims)
        return out

    @staticmethod
    def backward(ctx, g):
        mask, axis, keepdims = ctx.saved
        count = mask.sum(axis=axis, keepdims=True)
        return mask * (_expand_reduced(g, mask.shape, axis, keepdims) / count)


class LogSoftmax(Function):
    """y = x - max(x) - log Σ exp(x - max(x)) along ``axis`` (stable); dL/dx = g - softmax(x)·Σg."""

    name, saved_as = "log_softmax", ("out",)

    @staticmethod
    def forward(ctx, a, axis):
        out = a - a.max(axis=axis, keepdims=True)
        out -= np.log(np.exp(out).sum(axis=axis, keepdims=True))
        ctx.save(out, axis)
        return out

    @staticmethod
    def backward(ctx, g):
        out, axis = ctx.saved
        if _traced(g) or g.ndim == 0:
            return g - _exp(out) * _sum(g, axis, keepdims=True)
        p = np.exp(out)  # the same products and difference, written into one new array
        p *= g.sum(axis=axis, keepdims=True)
        return np.subtract(g, p, out=p)


class Softmax(Function):
    """y = exp(x - max x) / Σ exp(x - max x) along ``axis``; dL/dx = y·(g - Σ g·y)."""

    name, saved_as = "softmax", ("out",)

    @staticmethod
    def forward(ctx, a, axis):
        e = np.exp(a - a.max(axis=axis, keepdims=True))
        out = e / e.sum(axis=axis, keepdims=True)
        ctx.save(out, axis)
        return out

    @staticmethod
    def backward(ctx, g):
        y, axis = ctx.saved
        return y * (g - _sum(g * y, axis, keepdims=True))


# ---------------------------------------------------------------- shape and indexing

class Reshape(Function):
    name = "reshape"

    @staticmethod
    def forward(ctx, a, shape):
        ctx.save(a.shape)
        return a.reshape(shape)

    @staticmethod
    def backward(ctx, g):
        (shape,) = ctx.saved
        return g.reshape(shape)


class Permute(Function):
    name = "permute"

    @staticmethod
    def forward(ctx, a, axes):
        ctx.save(axes)
        return a.transpose(axes)

    @staticmethod
    def backward(ctx, g):
        (axes,) = ctx.saved
        inverse = [0] * len(axes)
        for i, axis in enumerate(axes):
            inverse[axis] = i
        return _permute(g, inverse)


class GetItem(Function):
    """a[index]. Basic indexing scatters the gradient with one assignment; advanced (integer array)
    indexing uses ``np.add.at`` so that repeated indices accumulate."""

    name = "getitem"

    @staticmethod
    def forward(ctx, a, index, advanced):
        try:
            out = a[index]
        except IndexError as err:
            raise IndexError(f"getitem: index {_show_index(index)} is out of range for a tensor "
                             f"of shape {a.shape} ({err})") from None
        ctx.save(a.shape, index, advanced)
        return out

    @staticmethod
    def backward(ctx, g):
        shape, index, advanced = ctx.saved
        return _op(IndexAdd, g, shape=shape, index=index, advanced=advanced)


class IndexAdd(Function):
    """A zero array of ``shape`` with ``g`` added at ``index``: the VJP of :class:`GetItem`
    (repeated advanced indices accumulate, through ``np.add.at``), whose VJP is GetItem again."""

    name = "index_add"

    @staticmethod
    def forward(ctx, g, shape, index, advanced):
        ctx.save(index, advanced)
        out = np.zeros(shape, dtype=g.dtype)
        if advanced:
            np.add.at(out, index, g)
        else:
            out[index] = g
        return out

    @staticmethod
    def backward(ctx, g):
        index, advanced = ctx.saved
        return _op(GetItem, g, index=index, advanced=advanced)


def _show_index(index) -> str:
    parts = index if isinstance(index, tuple) else (index,)
    return "[" + ", ".join(f"array{p.shape}" if isinstance(p, np.ndarray) else repr(p)
                           for p in parts) + "]"


class Expand(Function):
    """Broadcast a to ``shape`` (a read-only view); the gradient is summed back by unbroadcast."""

    name = "expand"

    @staticmethod
    def forward(ctx, a, shape):
        ctx.save(a.shape)
        try:
            return np.broadcast_to(a, shape)
        except ValueError:
            raise ValueError(f"expand: cannot expand shape {a.shape} to {shape} (only dimensions "
                             f"of size 1 can grow)") from None

    @staticmethod
    def backward(ctx, g):
        (shape,) = ctx.saved
        return unbroadcast(g, shape)


class Gather(Function):
    """out[..., j, ...] = a[..., index[..., j, ...], ...] along ``axis`` (``index``: an integer
    input, no gradient); the backward adds each gradient back at the index it came from
    (repeated indices accumulate)."""

    name = "gather"

    @staticmethod
    def forward(ctx, a, index, axis):
        other = [n for i, n in enumerate(index.shape) if i != axis]
        if any(n > m for n, m in zip(other, [n for i, n in enumerate(a.shape) if i != axis])):
            raise ValueError(f"gather: index of shape {index.shape} is larger than the input "
                             f"{a.shape} outside dim {axis}")
        if index.size and (index.min() < -a.shape[axis] or index.max() >= a.shape[axis]):
            raise IndexError(f"gather: index out of range for dim {axis} of size {a.shape[axis]}")
        full = _full_index(index, axis)
        ctx.save(a.shape, full)
        return a[full]

    @staticmethod
    def backward(ctx, g):
        shape, full = ctx.saved
        return _op(IndexAdd, g, shape=shape, index=full, advanced=True), None  # index: an input


def _full_index(index, axis):
    """Index arrays for every axis that pick, at each position of ``index``, the element whose
    coordinate along ``axis`` is the index value and along the other axes the position itself."""
    grids = list(np.indices(index.shape, sparse=True))
    grids[axis] = index
    return tuple(grids)


class Cat(Function):
    name = "cat"

    @staticmethod
    def forward(ctx, *arrays, axis):
        ctx.save([x.shape[axis] for x in arrays], axis)
        return np.concatenate(arrays, axis=axis)

    @staticmethod
    def backward(ctx, g):
        sizes, axis = ctx.saved
        return _op(Split, g, sizes=sizes, axis=axis) if len(sizes) > 1 else (g,)


class Stack(Function):
    name = "stack"

    @staticmethod
    def forward(ctx, *arrays, axis):
        ctx.save(axis)
        return np.stack(arrays, axis=axis)

    @staticmethod
    def backward(ctx, g):
        (axis,) = ctx.saved
        return _op(Unbind, g, axis=axis)


class Split(Function):
    """Split along ``axis`` into pieces of the given ``sizes`` (several outputs, views of the input).

    The backward writes every piece's gradient into one array (zeros for pieces that got none),
    so e.g. the four LSTM gate gradients flow back to the fused gate matmul in one piece.
    """

    name = "split"

    @staticmethod
    def forward(ctx, a, sizes, axis):
        index, pieces, start, bounds = [slice(None)] * a.ndim, [], 0, []
        for n in sizes:  # plain slicing: np.split is several times slower for small arrays
            index[axis] = slice(start, start + n)
            pieces.append(a[tuple(index)])
            start += n
            bounds.append(start)
        ctx.save(a.shape, bounds[:-1], axis)
        return tuple(pieces)

    @staticmethod
    def backward(ctx, *grads):
        shape, bounds, axis = ctx.saved
        if any(g is None for g in grads):  # zeros for the pieces that got no gradient
            dtype = next(g.dtype for g in grads if g is not None)
            ends = bounds + [shape[axis]]
            grads = [np.zeros(shape[:axis] + (end - start,) + shape[axis + 1:], dtype)
                     if g is None else g for g, start, end in zip(grads, [0] + bounds, ends)]
        return _cat(grads, axis)


class Unbind(Function):
    """Remove dimension ``axis``, returning every slice along it (several outputs, views).

    The inverse of ``stack``: the backward stacks the slices' gradients (zeros where a slice got
    none) into one array. Recurrent layers use it to hand out the time steps of the input
    projection, so its gradient is written once, not once per step.
    """

    name = "unbind"

    @staticmethod
    def forward(ctx, a, axis):
        ctx.save(a.shape, axis)
        return tuple(np.moveaxis(a, axis, 0))

    @staticmethod
    def backward(ctx, *grads):
        shape, axis = ctx.saved
        if any(g is None for g in grads):
            like = next(g for g in grads if g is not None)
            zero = np.zeros(like.shape, like.dtype)
            grads = [zero if g is None else g for g in grads]
        return _stack(grads, axis)


class IndexPut(Function):
    """out = a with out[index] = v (``a[index] = v``; v broadcast to a[index]'s shape, cast to
    a's dtype). The gradient of a is g with the overwritten part zeroed; v gets g[index], summed
    back over its broadcast dimensions."""

    name = "setitem"

    @staticmethod
    def forward(ctx, a, v, index, advanced):
        out = a.copy()
        target = np.shape(a[index]) if advanced else out[index].shape
        value = v
        while value.ndim > len(target) and value.shape[0] == 1:  # PyTorch drops leading 1s
            value = value.reshape(value.shape[1:])
        try:
            out[index] = value
        except (IndexError, ValueError) as err:
            raise type(err)(f"setitem: cannot write a value of shape {v.shape} into "
                            f"{_show_index(index)} of a tensor of shape {a.shape} ({err})") from err
        if advanced and ctx.needs_input_grad[1:] == (True,):
            hits = np.zeros(a.shape, np.int8)
            np.add.at(hits, index, 1)
            if hits.max(initial=0) > 1:  # which of the repeated writes lands is not defined
                raise RuntimeError(f"setitem: index {_show_index(index)} writes some elements "
                                   f"more than once; the gradient of the value is then "
                                   f"ambiguous (PyTorch leaves the result undefined)")
        ctx.save(index, advanced, value.shape, v.shape)
        return out

    @staticmethod
    def backward(ctx, g):
        index, advanced, value_shape, v_shape = ctx.saved
        need_a, need_v = ctx.needs_input_grad
        ga = gv = None
        if need_a:  # g with the overwritten part zeroed: itself an indexed write
            ga = _op(IndexPut, g, np.zeros((), g.dtype), index=index, advanced=advanced)
        if need_v:
            gv = _op(GetItem, g, index=index, advanced=advanced)
            gv = unbroadcast(gv, value_shape).reshape(v_shape)
        return ga, gv


# ---------------------------------------------------------------- integer tensors as inputs
# Class targets, token ids, index tensors and boolean masks arrive as (non-differentiable) inputs
# of these primitives, not as parameters, and the forward reads their values: so a jit record
# (jit.py) replays them as variables and later calls may bring other values.

def _class_weights(target, n_classes, weight, ignore_index, dtype, op):
    """For class targets (n,): the targets safe to index with (ignored ones set to 0), each
    target's weight in ``dtype`` (0 where ignored) and the float64 total of the weights (what
    ``mean`` divides by) — PyTorch's definition."""
    valid = target != ignore_index
    safe = np.where(valid, target, 0)
    if safe.size and (safe.min() < 0 or safe.max() >= n_classes):
        bad = (safe < 0) | (safe >= n_classes)
        raise IndexError(f"{op}: target {int(safe[bad][0])} is out of range for {n_classes} "
                         f"classes")
    if weight is None:  # every counted target weighs 1 (the same values as below, made directly)
        return valid, safe, valid.astype(dtype), float(np.count_nonzero(valid))
    per = weight[safe]
    total = float(np.where(valid, per, 0).astype(np.float64).sum())
    return valid, safe, np.where(valid, per, 0).astype(dtype), total


def _mean_scale(total, dtype):
    """What a ``mean`` multiplies the summed loss by, and adds to it: 1/total, or 0 and NaN when
    nothing counted (every target ignored: NaN with zero gradients, as PyTorch)."""
    if total == 0:
        return np.asarray(0.0, dtype), np.asarray(np.nan, dtype)
    return np.asarray(1.0 / total, dtype), None


def _reduce_loss(per_sample, reduction, total):
    """Sum or mean of the per-sample losses (n,); returns it and the scale the backward
    multiplies by (None for sum and none)."""
    if reduction == "none":
        return per_sample, None
    out = np.sum(per_sample)
    if reduction == "sum":
        return out, None
    scale, add = _mean_scale(total, per_sample.dtype)
    return (out * scale if add is None else out * scale + add), scale


def _unreduce(g, scale, n):
    """The backward of :func:`_reduce_loss`: the gradient of each of the n samples' losses."""
    if g.shape == (n,):  # reduction="none"
        return g
    if scale is not None:
        g = g * scale
    return _broadcast_to(g.reshape((1,)), (n,))


class NLLLoss(Function):
    """-weight[t]·lp[n, t] for log-probabilities lp (n, C) and class targets t (n,) (an integer
    input, no gradient), 0 where t = ``ignore_index``; reduced by ``reduction``, the mean
    dividing by the summed weights of the counted targets. The gradient puts -g·weight[t] at
    (n, t) and 0 elsewhere. (As the ops it replaces computed it: pick, negate, weigh, reduce.)"""

    name = "nll_loss"

    @staticmethod
    def forward(ctx, lp, target, weight=None, ignore_index=-100, reduction="mean"):
        _, safe, tw, total = _class_weights(target, lp.shape[1], weight, ignore_index,
                                            lp.dtype, "nll_loss")
        index = (np.arange(lp.shape[0]), safe)
        out, scale = _reduce_loss(-lp[index] * tw, reduction, total)
        ctx.save(scale, lp.shape, index, tw)
        return out

    @staticmethod
    def backward(ctx, g):
        scale, shape, index, tw = ctx.saved
        g = -(_unreduce(g, scale, shape[0]) * tw)
        # one entry per row: no index repeats, so a plain assignment (advanced=False) scatters it
        return _op(IndexAdd, g, shape=shape, index=index, advanced=False), None


class SmoothLoss(Function):
    """The uniform part of label smoothing: -Σ_c weight[c]·lp[n, c] for each counted target
    (0 where t = ``ignore_index``), reduced like :class:`NLLLoss`."""

    name = "smooth_loss"

    @staticmethod
    def forward(ctx, lp, target, weight=None, ignore_index=-100, reduction="mean"):
        valid, _, _, total = _class_weights(target, lp.shape[1], weight, ignore_index,
                                            lp.dtype, "cross_entropy")
        spread = lp if weight is None else lp * weight
        valid = valid.astype(lp.dtype)
        out, scale = _reduce_loss(-np.sum(spread, axis=1) * valid, reduction, total)
        ctx.save(scale, lp.shape, valid, weight)
        return out

    @staticmethod
    def backward(ctx, g):
        scale, shape, valid, weight = ctx.saved
        g = -(_unreduce(g, scale, shape[0]) * valid)
        g = _broadcast_to(g.reshape((shape[0], 1)), shape)
        return (g if weight is None else g * weight), None


class Embedding(Function):
    """weight[indices]: rows of ``weight`` (num, dim) picked by integer ``indices`` (...) (an
    input, no gradient), giving (..., dim). The gradient adds each row's gradient back into the
    row it came from, except into row ``padding_idx``."""

    name = "embedding"

    @staticmethod
    def forward(ctx, weight, indices, padding_idx=None):
        num = weight.shape[0]
        if indices.size and (indices.min() < 0 or indices.max() >= num):
            raise IndexError(f"Embedding: indices must lie in [0, {num}), got min "
                             f"{indices.min()} and max {indices.max()}")
        ctx.save(weight.shape, indices, padding_idx)
        return weight[indices]

    @staticmethod
    def backward(ctx, g):
        shape, indices, padding_idx = ctx.saved
        if padding_idx is not None:
            g = _where((indices != padding_idx)[..., None], g, 0)
        return _op(IndexAdd, g, shape=shape, index=indices, advanced=True), None


class IndexBy(Function):
    """a[index] where integer Tensors in the index arrive as inputs (``index`` holds None in
    their places, ``slots`` says which): :class:`GetItem` with the index filled in."""

    name = "getitem"

    @staticmethod
    def forward(ctx, a, *parts, index, slots):
        full = list(index)
        for slot, part in zip(slots, parts):
            full[slot] = part
        full = tuple(full) if len(full) != 1 else full[0]
        try:
            out = a[full]
        except IndexError as err:
            raise IndexError(f"getitem: index {_show_index(full)} is out of range for a tensor "
                             f"of shape {a.shape} ({err})") from None
        ctx.save(a.shape, full, len(parts))
        return out

    @staticmethod
    def backward(ctx, g):
        shape, index, n_parts = ctx.saved
        return (_op(IndexAdd, g, shape=shape, index=index, advanced=True),) + (None,) * n_parts


class Select(Function):
    """where(cond, a, b) with the condition a (boolean) input, no gradient: :class:`Where`."""

    name, broadcasts = "where", True

    @staticmethod
    def forward(ctx, cond, a, b):
        cond = cond if cond.dtype == bool else cond.astype(bool)
        ctx.save(cond, a.shape, b.shape)
        return np.where(cond, a, b)

    @staticmethod
    def backward(ctx, g):
        cond, sa, sb = ctx.saved
        _, need_a, need_b = ctx.needs_input_grad
        return (None, unbroadcast(_where(cond, g, 0), sa) if need_a else None,
                unbroadcast(_where(cond, 0, g), sb) if need_b else None)


class OneHot(Function):
    """int64 (..., num_classes) with a 1 at each class index of the integer input (...). Its
    output is an integer tensor: no gradient flows through it (its VJP is never called)."""

    name = "one_hot"

    @staticmethod
    def forward(ctx, indices, num_classes):
        if indices.size and indices.min() < 0:
            raise ValueError(f"one_hot: class values must be non-negative, got {indices.min()}")
        if indices.size and indices.max() >= num_classes:
            raise ValueError(f"one_hot: class values must be smaller than num_classes="
                             f"{num_classes}, got {indices.max()}")
        return (indices[..., None] == np.arange(num_classes)).astype(np.int64)

    @staticmethod
    def backward(ctx, g):  # never called: an integer output carries no gradient
        return None
