"""User-defined ops: ``Function``, PyTorch's ``torch.autograd.Function``.

Subclass it with two static methods and call ``apply``::

    class Exp(Function):
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, g):
            (y,) = ctx.saved_tensors
            return g * y

    y = Exp.apply(x)

``forward`` receives the arguments as given (Tensors stay Tensors) and runs under ``no_grad``:
whatever it computes is one op for the graph, recorded as ONE node named after the class, so
``viz.draw_graph`` shows ``Exp``. ``backward`` receives one gradient Tensor per output and
returns one gradient per argument of ``forward`` (None for arguments that are not Tensors or
need no gradient); a Tensor, an array or a number, of the argument's shape. A wrong count or
shape is an error naming the Function and the argument.

Underneath, a Function is turned into a primitive of the engine's protocol (``ops.py``):
``forward(node, *arrays, **params)`` / ``backward(node, *grads)`` on arrays. The user's ``ctx``
is kept on the node (``node.save``), so it is released after backward like any saved array, and
the arrays of the saved tensors sit beside it, where the engine's in-place check sees them.
"""
from __future__ import annotations

import weakref

import numpy as np

from ..grad_mode import no_grad
from ..tensor import Tensor, _tensor
from .. import engine


class FunctionCtx:
    """The ``ctx`` a Function's ``forward`` and ``backward`` share. Any attribute may be set on
    it (``ctx.scale = 2.0``) for the backward to read."""

    def __init__(self, needs_input_grad):
        self.needs_input_grad = needs_input_grad  # one bool per forward argument
        self.to_save = ()
        self.materialize_grads = True
        self._non_differentiable = set()

    def save_for_backward(self, *tensors):
        """Keep Tensors (or None) for the backward; read them back as ``ctx.saved_tensors``."""
        for i, t in enumerate(tensors):
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(f"save_for_backward can only save Tensors or None, but argument "
                                f"{i} is of type {type(t).__name__}")
        self.to_save = tensors

    @property
    def saved_tensors(self) -> tuple:
        if self.to_save is None:
            raise RuntimeError("saved_tensors: trying to backward through the graph a second "
                               "time (the saved tensors were freed); use "
                               "backward(retain_graph=True) the first time")
        return tuple(self.to_save)

    def mark_non_differentiable(self, *outputs):
        """These outputs (Tensors ``forward`` returns) get no gradient: they come out with
        ``requires_grad=False`` and their gradient in ``backward`` is None (zeros when
        materialized)."""
        self._non_differentiable.update(id(t) for t in outputs)

    def set_materialize_grads(self, value: bool):
        """True (default): an output that received no gradient passes zeros to ``backward``;
        False: it passes None."""
        self.materialize_grads = bool(value)


class _Primitive:
    """The engine primitive standing for one Function subclass (made once per subclass)."""

    broadcasts = False
    twice_differentiable = True  # a backward written with Tensor ops is recorded under create_graph
    saved_as = ()  # (what the ctx keeps is mapped onto the graph here, in backward)

    def __init__(self, function):
        self.function = function
        self.name = function.__name__

    def forward(self, node, *arrays, _args, _kwargs, _positions):
        """``arrays`` are those of the Tensor arguments at ``_positions``; the user's forward
        gets the arguments themselves (``_args``)."""
        function = self.function
        needs = [False] * len(_args)
        for p, need in zip(_positions, node.needs_input_grad or ()):
            needs[p] = bool(need)
        ctx = FunctionCtx(tuple(needs))
        with no_grad():
            result = function.forward(ctx, *_args, **_kwargs)
        outputs = result if isinstance(result, tuple) else (result,)
        if not outputs:
            raise RuntimeError(f"{self.name}.forward returned an empty tuple; it must return a "
                               f"Tensor or a tuple of them")
        arrays_out, kinds = [], []  # kinds: "grad", "const" (no gradient) or an object as is
        for o in outputs:
            if isinstance(o, Tensor):
                arrays_out.append(o.array)
                differentiable = id(o) not in ctx._non_differentiable and o.dtype.kind in "fc"
                kinds.append("grad" if differentiable else "const")
            elif isinstance(o, np.ndarray):
                arrays_out.append(o)
                kinds.append("grad" if o.dtype.kind in "fc" else "const")
            else:  # a number, a string, None: handed back untouched, no gradient
                arrays_out.append(np.zeros(0))
                kinds.append(("object", o))
        ctx._kinds = kinds
        ctx._out_meta = [(a.shape, a.dtype) for a in arrays_out]
        # Saved outputs are found again on the graph in a recorded (create_graph) backward.
        ids = [id(o) for o in outputs]
        ctx._saved_outputs = [ids.index(id(t)) if t is not None and id(t) in ids else None
                              for t in ctx.to_save]
        ctx._single = not isinstance(result, tuple)
        ctx._positions = _positions
        ctx._shapes = [(a.shape, a.dtype) for a in arrays]
        if type(node) is engine.Node:
            saved = [t.array for t in ctx.to_save if t is not None]
            node.save(ctx, *saved)  # arrays beside ctx: the engine checks them for in-place changes
            ctx._node = weakref.ref(node)
        self.last_ctx = ctx
        return tuple(arrays_out)

    def backward(self, node, *grads):
        ctx = node.saved[0]  # (the engine drops node.saved after this call unless retain_graph)
        # The engine records the sweep (grad mode on, gradients are Tensors) only under
        # create_graph; then a saved output must be the output on the graph, not the constant
        # forward made, for the gradient of this backward to be right.
        recorded = engine.mode.grad
        wrapped = []
        for g, kind, (shape, dtype) in zip(grads, ctx._kinds, ctx._out_meta):
            if kind != "grad":
                g = None
            if g is None and ctx.materialize_grads and kind == "grad":
                g = np.zeros(shape, dtype)
            wrapped.append(g if g is None or isinstance(g, Tensor) else _tensor(g))
        if recorded and any(i is not None for i in ctx._saved_outputs):
            ctx.to_save = tuple(t if i is None else _tensor(t.array, ctx._node(), i)
                                for t, i in zip(ctx.to_save, ctx._saved_outputs))
        result = self.function.backward(ctx, *wrapped)
        if not isinstance(result, tuple):
            result = (result,)
        n_args = len(ctx.needs_input_grad)
        if len(result) != n_args and not (len(result) > n_args and
                                          all(r is None for r in result[n_args:])):
            raise RuntimeError(f"function {self.name}.backward returned an incorrect number of "
                               f"gradients (expected {n_args}, got {len(result)}): one per "
                               f"argument of forward, None for those that need none")
        out = []
        for k, p in enumerate(ctx._positions):
            g = result[p]
            if g is None or not node.needs_input_grad[k]:
                out.append(None)
                continue
            if not (recorded and isinstance(g, Tensor)):  # (an array there: the engine says so)
                g = np.asarray(g.array if isinstance(g, Tensor) else g)
            shape, dtype = ctx._shapes[k]
            if g.shape != shape:
                raise RuntimeError(f"function {self.name}.backward returned an invalid gradient "
                                   f"for argument {p}: got shape {g.shape} but expected the "
                                   f"argument's shape {shape}")
            out.append(g if g.dtype == dtype else g.to(dtype) if recorded and
                       isinstance(g, Tensor) else g.astype(dtype))
        return tuple(out)


class Function:
    """Base class of user-defined ops (see the module docstring). Subclasses define
    ``forward(ctx, *args, **kwargs)`` and ``backward(ctx, *grad_outputs)`` as static methods and
    are called through ``apply``; a Function is never instantiated."""

    _primitive = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._primitive = _Primitive(cls)

    def __init__(self, *args, **kwargs):
        raise RuntimeError(f"{type(self).__name__}: a Function is not instantiated; call "
                           f"{type(self).__name__}.apply(...)")

    @staticmethod
    def forward(ctx, *args, **kwargs):  # pragma: no cover - interface
        raise NotImplementedError("Function.forward: define it in the subclass")

    @staticmethod
    def backward(ctx, *grad_outputs):  # pragma: no cover - interface
        raise NotImplementedError("Function.backward: define it in the subclass")

    @classmethod
    def apply(cls, *args, **kwargs):
        """Run ``forward`` on ``args`` and record one node; returns what ``forward`` returned
        (a Tensor, or a tuple with Tensors in place of its Tensors and other values as they
        were). Keyword arguments reach ``forward`` but get no gradient."""
        if cls._primitive is None:
            raise RuntimeError("Function.apply: call it on a subclass that defines forward and "
                               "backward")
        positions = tuple(i for i, a in enumerate(args) if isinstance(a, Tensor))
        tensors = [args[i] for i in positions]
        outs = engine.apply(cls._primitive, *tensors, _args=args, _kwargs=kwargs,
                            _positions=positions)
        ctx = cls._primitive.last_ctx
        cls._primitive.last_ctx = None
        if type(outs) is not tuple:
            outs = (outs,)
        results = []
        for o, kind in zip(outs, ctx._kinds):
            if kind == "grad":
                results.append(o)
            elif kind == "const":
                results.append(o.detach())
            else:
                results.append(kind[1])
        return results[0] if ctx._single else tuple(results)
