"""Capture a training step once, replay it without the graph's Python tax (tinygrad's TinyJit
idea, the engine's way).

    step = tg.jit(lambda x, y: F.cross_entropy(head(lstm(x)[0]).reshape(-1, V), y))
    for x, y in batches:
        opt.zero_grad()
        loss = step(x, y)   # the loss, and every parameter's .grad accumulated as by backward()
        opt.step()

**Capture.** The first call for a given signature (the shapes and dtypes of the Tensor
arguments, the values of the others — and of the integer inputs the step reads in Python, see
below) runs ``fn`` eagerly — real Tensors, Nodes and a real
``loss.backward()``. Meanwhile :func:`engine.apply` hands every op to a recorder
(``engine.mode.recorder``, the engine's one hook), which runs it, notes its inputs, parameters
and outputs, and lets a stand-in for each new node's primitive note what its VJP returns when
backward calls it — so the record has every forward and every VJP, in the order they ran.

**Compile.** The record becomes one flat Python function: a line per primitive's forward, a
line per VJP, a line per gradient sum and per leaf accumulation, in exactly the order the engine
ran them, calling the same ``ops.py`` functions on the same arrays — so the replay's loss and
gradients equal the eager ones to the last bit. ``step.source`` shows the function. Ops whose
results nothing uses (say an LSTM's final state when the loss reads only the outputs) are left
out. No Node, no Tensor, no heap and no gradient dictionary remain; the arrays of the
parameters (every Tensor the step did not make from its inputs) are read afresh at every
replay, so an optimizer that updates them in place — or assigns ``p.data`` — is seen.

**Replay.** Later calls with the same signature run that function. Its guards check that the
parameters still have the shapes, dtypes and ``requires_grad`` they had; if not, it captures
again. So does a new signature (a few records are kept per step).

**Honest by construction** (JAX's tracer does the same). While capturing, the step's inputs
and every op result are *traced*: their values exist, but reading one as a value — ``bool()``,
``float()``, ``int()``, ``item()``, ``__index__``, ``numpy()``, ``tolist()``, ``np.asarray``, a
comparison (``if loss > 3``), an in-place write — would bake this call's value into the record,
so it raises :class:`CaptureError` naming the line. Random numbers (dropout, ``randn``) are
refused while capturing: a record would replay the same mask at every step. Python state the
step reads (``module.training``, a learning rate in a closure) is read at capture only: call
:meth:`Jit.reset` after changing it.

**Integer and boolean inputs: static by need.** Class targets, token ids, index tensors and
masks are replay variables like float inputs, and the key holds only their shape and dtype,
as long as the step uses their values inside ops only — ``F.cross_entropy``/``nll_loss``,
``F.embedding``/``nn.Embedding``, ``F.one_hot`` (given ``num_classes``), ``x[idx]``,
``gather``, ``index_select``, ``tg.where`` and ``masked_fill`` take them as op inputs, so a char-LM's new targets at every batch replay. If the
step reads such an input's values in Python (``lengths`` for ``pack_padded_sequence``,
``int(n)``, ``.tolist()``, ``np.asarray``; or the value of anything computed from it), the
capture stops, that input becomes *static* — keyed by its values, as JAX's static arguments —
and the step is captured again (``fn`` runs twice that time). Only that input: the others stay
variables. The choice is kept for the step's life (``static_inputs`` lists the positions;
:meth:`Jit.reset` forgets it). Integer inputs given as Python lists or numbers are static.

Under ``detect_anomaly()``, ``keep_values()`` or ``no_grad()`` the step runs eagerly.
"""
from __future__ import annotations

import importlib
import linecache
import os
import sys
from collections import OrderedDict

import numpy as np

from . import engine
from .engine import Deferred, mode
from .grad_mode import no_grad
from .ops import Function
from .tensor import Tensor, _tensor

__all__ = ["jit", "Jit", "CaptureError"]

# The modules whose globals a capture swaps for guards: the package's random generators and the
# `note_change` that in-place writes call. (Imported by name: the package attribute `tensor` is
# the function tg.tensor.)
_tensor_module = sys.modules[Tensor.__module__]
_seeding = importlib.import_module(".seeding", __package__)
_random = importlib.import_module(".random", __package__)


class CaptureError(RuntimeError):
    """Raised while capturing a step when it does something a replay could not repeat."""


_HERE = os.path.abspath(__file__)
_PACKAGE = os.path.dirname(_HERE)
_NUMPY = os.path.dirname(os.path.abspath(np.__file__))


def _where():
    """'file:line (`code`)' of the user's line that is running, and the package function that
    was running inside it, if any."""
    frame, inner = sys._getframe(1), None
    while frame is not None:
        path = os.path.abspath(frame.f_code.co_filename)
        if not (path.startswith(_PACKAGE) or path.startswith(_NUMPY)):
            code = linecache.getline(frame.f_code.co_filename, frame.f_lineno,
                                     frame.f_globals).strip()
            line = f"{frame.f_code.co_filename}:{frame.f_lineno}" + (f" (`{code}`)" if code else "")
            return line, inner
        if path != _HERE and inner is None and not path.startswith(_NUMPY):
            inner = f"{os.path.relpath(path, _PACKAGE)}:{frame.f_lineno} in {frame.f_code.co_name}"
        frame = frame.f_back
    return "(unknown line)", inner


class _NeedsStatic(CaptureError):
    """A capture read the values of an integer input: it becomes static and the step is captured
    again (caught by :meth:`Jit._capture`; it reaches the user only if something else fails)."""


_active = None  # the _Recorder of the capture under way


def _refuse(what, why=None, tensor=None):
    wanted = _active.depends.get(id(tensor)) if tensor is not None and _active else None
    if wanted:
        _active.need_static.update(wanted)
        raise _NeedsStatic(f"jit: {what} reads the values of the step's integer input(s) at "
                           f"position {sorted(wanted)}: they become static (keyed by value) and "
                           f"the step is captured again")
    line, inner = _where()
    if inner and inner.endswith(" in _in_place"):
        what, why = "an in-place op", "the replay would not repeat the write; use an " \
            "out-of-place op (x = x + y), or do it outside the step"
    via = f", inside tinygrad_rnn/{inner}" if inner else ""
    why = why or ("while a step is captured, its tensors stand for the values of every later "
                  "call: a value read now would be baked into the record and replayed for "
                  "other data. Read it from the loss the step returns, or keep it a tensor op "
                  "(tg.where instead of an `if`)")
    raise CaptureError(f"jit: {what} at {line}{via}: {why}")


# ================================================================= traced tensors

_REAL = Tensor.array  # the slot behind Tensor.array: the array itself
_APPLY = engine.apply.__code__


class _Shape:
    """What a traced tensor's ``.array`` is outside ``engine.apply``: its shape and dtype,
    and no values — any other use raises :class:`CaptureError`."""

    __slots__ = ("shape", "dtype", "ndim", "size", "itemsize", "owner")

    def __init__(self, array, owner):
        self.shape, self.dtype, self.ndim = array.shape, array.dtype, array.ndim
        self.size, self.itemsize, self.owner = array.size, array.itemsize, owner

    def __getattr__(self, name):
        if name.startswith("__"):  # protocol probes (numpy's, copy's): not there
            raise AttributeError(name)
        _refuse(f"reading `.{name}` of a traced tensor's array", tensor=self.owner)

    def _values(self, *args, **kwargs):
        _refuse("using the values of a traced tensor's array", tensor=self.owner)

    __array__ = __array_ufunc__ = __array_function__ = __bool__ = __float__ = __int__ = \
        __index__ = __iter__ = __len__ = __getitem__ = __setitem__ = __lt__ = __le__ = \
        __gt__ = __ge__ = __eq__ = __ne__ = __add__ = __radd__ = __sub__ = __rsub__ = \
        __mul__ = __rmul__ = __truediv__ = __rtruediv__ = __pow__ = __neg__ = __matmul__ = \
        __iadd__ = __isub__ = __imul__ = __itruediv__ = _values
    __hash__ = object.__hash__

    def __repr__(self):
        return f"<traced array {self.shape} {self.dtype}: no values while capturing>"


class _Traced(Tensor):
    """A Tensor during a capture: a step input or an op's result. ``engine.apply`` reads its
    array; everything else sees a :class:`_Shape`, and the value conversions raise."""

    __slots__ = ()

    @property
    def array(self):
        frame = sys._getframe(1)
        code = frame.f_code
        if code is _APPLY or (code.co_name == "<listcomp>" and frame.f_back.f_code is _APPLY):
            return _REAL.__get__(self)
        return _Shape(_REAL.__get__(self), self)

    @array.setter
    def array(self, value):
        _refuse("assigning the data of a traced tensor")

    def item(self):
        _refuse("item() of a traced tensor", tensor=self)

    def numpy(self):
        _refuse("numpy() of a traced tensor", tensor=self)

    def tolist(self):
        _refuse("tolist() of a traced tensor", tensor=self)

    def __array__(self, dtype=None, copy=None):
        _refuse("converting a traced tensor to a numpy array", tensor=self)

    def __bool__(self):
        _refuse("bool() of a traced tensor (a Python `if`/`while` on a value?)", tensor=self)

    def __float__(self):
        _refuse("float() of a traced tensor", tensor=self)

    def __int__(self):
        _refuse("int() of a traced tensor", tensor=self)

    def __index__(self):
        _refuse("using a traced tensor as an index or size (__index__)", tensor=self)

    def _compare(self, other):
        _refuse("comparing a traced tensor (a Python `if` on a value?)", tensor=self)

    __lt__ = __le__ = __gt__ = __ge__ = __eq__ = __ne__ = _compare
    __hash__ = Tensor.__hash__

    def register_hook(self, fn):
        _refuse("register_hook on a traced tensor", "the replay has no graph to call hooks from")

    def retain_grad(self):
        _refuse("retain_grad on a traced tensor", "the replay keeps only parameters' gradients")

    def detach(self):
        """The same array, cut from the graph: recorded as an op, so the replay passes the
        replayed array on (truncated BPTT inside a step works)."""
        with no_grad():
            return engine.apply(_Alias, self)

    data = property(detach, Tensor.data.fset)

    def __repr__(self):
        shape, dtype = _REAL.__get__(self).shape, _REAL.__get__(self).dtype
        return f"Tensor(<traced {shape} {dtype}>)"


class _Alias(Function):
    """The input's own array, no gradient: ``detach()`` of a traced tensor."""

    name = "detach"

    @staticmethod
    def forward(ctx, a):
        return a

    @staticmethod
    def backward(ctx, g):  # never reached: it runs under no_grad
        return g


class _NoRandom:
    """Stands in for the package's random generator while capturing."""

    def __getattr__(self, name):
        _refuse("drawing random numbers (dropout, randn, an initializer)",
                "a record would replay this call's numbers at every step; put the model in "
                "eval() or use p=0 for dropout inside a jitted step, or run it eagerly")


def _no_in_place(array):
    _refuse("an in-place write into a tensor", "the replay would not repeat the write; do it "
            "outside the step")


# ================================================================= the recorder

class _Ctx:
    """The ``ctx`` a primitive gets in the replay: what a Node offers ops, and nothing else."""

    __slots__ = ("saved", "needs_input_grad")

    def __init__(self, needs_input_grad):
        self.saved, self.needs_input_grad = (), needs_input_grad

    def save(self, *values):
        self.saved = values


class _Op:
    __slots__ = ("index", "fn", "inputs", "params", "node", "outputs", "zero_d", "single")


class _Spy:
    """Stands in for a captured node's primitive (``node.fn``) until the capture ends, so the
    capture sees what each VJP returns, in the order backward calls them; everything else is
    the primitive's own."""

    __slots__ = ("fn", "node", "recorder")

    def __init__(self, fn, node, recorder):
        self.fn, self.node, self.recorder = fn, node, recorder

    def __getattr__(self, name):
        return getattr(self.fn, name)

    def backward(self, ctx, *grads):
        out = self.fn.backward(ctx, *grads)
        self.recorder.vjp(self.node, out if type(out) is tuple else (out,))
        return out


class _Recorder:
    """``engine.apply`` hands it every op while a step is captured (``mode.recorder``); the
    nodes' :class:`_Spy` tell it every VJP that backward runs."""

    def __init__(self):
        self.ops = []          # _Op, in the order they ran
        self.var_of = {}       # id(Tensor) -> variable name in the replay
        self.keep = []         # every Tensor named in var_of (kept alive: ids stay unique)
        self.externals = {}    # id(Tensor) -> index, for Tensors the step did not make
        self.external_list = []
        self.op_of_node = {}   # Node -> its _Op
        self.visits = []       # (node, [(kind, shape, dtype) per input gradient])
        self.in_backward = False
        self.depends = {}      # id(Tensor) -> positions of the variable integer inputs it is from
        self.need_static = set()  # positions of integer inputs whose values the step read

    def apply(self, fn, inputs, params):
        """Run the op as ``engine.apply`` does (with the recorder off), then record it."""
        if self.in_backward:
            _refuse(f"an op ({fn.name}) run by backward (checkpoint's recompute, or a "
                    f"Function's backward on Tensors)", "the record replays VJPs on arrays only")
        mode.recorder = None
        try:
            result = engine.apply(fn, *inputs, **params)
        finally:
            mode.recorder = self
        first = result[0] if type(result) is tuple else result
        self.op(fn, inputs, params, first._node, result)
        return result

    def restore(self):
        """Give every captured node its primitive back."""
        for node in self.op_of_node:
            if type(node.fn) is _Spy:
                node.fn = node.fn.fn

    def name(self, t, var, depends=None):
        """Give ``t`` a variable of the replay; a float tensor, or one computed from variable
        integer inputs (``depends``: their positions), is traced from now on."""
        self.var_of[id(t)] = var
        self.keep.append(t)
        if depends:
            self.depends[id(t)] = depends
        if type(t) is Tensor and (depends or _REAL.__get__(t).dtype.kind in "fc"):
            t.__class__ = _Traced

    def op(self, fn, inputs, params, node, result):
        op = _Op()
        op.index, op.fn, op.node, op.params = len(self.ops), fn, node, params
        op.inputs = [self._input(t) for t in inputs]
        depends = frozenset().union(*[self.depends.get(id(t), ()) for t in inputs])
        outs = result if type(result) is tuple else (result,)
        op.single = type(result) is not tuple
        op.outputs = [f"v{op.index}_{i}" if len(outs) > 1 else f"v{op.index}"
                      for i in range(len(outs))]
        # numpy reductions to 0-d may give numpy scalars, which apply turns into arrays
        op.zero_d = any(_REAL.__get__(t).ndim == 0 for t in outs)
        for t, var in zip(outs, op.outputs):
            self.name(t, var, depends)
        for key in params:
            if not key.isidentifier():
                raise CaptureError(f"jit: {fn.name} has a parameter named {key!r}")
        self.ops.append(op)
        if node is not None:
            self.op_of_node[node] = op
            node.fn = _Spy(fn, node, self)

    def _input(self, t):
        var = self.var_of.get(id(t))
        if var is not None:
            return var
        k = self.externals.get(id(t))
        if k is None:
            k = self.externals[id(t)] = len(self.external_list)
            self.external_list.append(t)
        return f"e{k}"

    def vjp(self, node, input_grads):
        if node.hooks:
            _refuse("a tensor hook in the step", "the replay has no graph to call hooks from")
        seen = []
        for g in input_grads:
            if engine._backward_hooks:  # backward turns every product into an array for them
                g = engine._value(g)
            if g is None:
                seen.append((None, None, None))
            elif type(g) is Deferred:
                seen.append(("deferred", None, None))
            elif type(g) is np.ndarray:
                seen.append(("array", g.shape, g.dtype))
            else:
                seen.append(("other", None, None))
        self.visits.append((node, seen))


# ================================================================= compiling the record

class _Program:
    """Writes the replay function's source, line by line, with its constants."""

    def __init__(self):
        self.lines, self.consts, self.names = [], {}, {}

    def const(self, value, hint):
        """A global name for ``value`` in the generated function."""
        key = id(value)
        if key not in self.names:
            name = f"{hint}{len(self.names)}" if not hint.endswith("_") else hint[:-1]
            while name in self.consts:
                name += "_"
            self.names[key] = name
            self.consts[name] = value
        return self.names[key]

    def emit(self, line):
        self.lines.append("    " + line)


def _conform_to(g, dtype):
    """As ``engine._conform`` without the shape check (shapes were checked at capture)."""
    if type(g) is not np.ndarray:
        g = np.asarray(engine._value(g))
    return g if g.dtype == dtype else g.astype(dtype)


class _Stale(Exception):
    """A replay's guard failed: capture again."""


def _compile(rec, inputs, loss, hooks_converted):
    """The flat replay function for one record. Returns (function, source)."""
    prog = _Program()
    prog.consts.update(np=np, type=type, ACC=engine._accumulate_leaf, PRODUCTS=engine.ProductSum,
                       VALUE=engine._value, CONFORM=_conform_to, NO=engine._NO_GRAPH,
                       STALE=_Stale)
    input_var = {id(t): f"x{i}" for i, t in enumerate(inputs)}
    loss_var = rec.var_of[id(loss)]

    # which ops the replay needs: the loss's, those any needed op reads, and those backward visits
    visited = {rec.op_of_node[node].index for node, _ in rec.visits}
    needed_vars = {loss_var}
    live = []
    for op in reversed(rec.ops):
        if op.index in visited or any(v in needed_vars for v in op.outputs):
            live.append(op)
            needed_vars.update(op.inputs)
    live.reverse()

    prog.emit(f"{', '.join(input_var.values())}{',' if len(inputs) == 1 else ''} = X"
              if inputs else "pass")
    for k, t in enumerate(rec.external_list):  # parameters and constants, read afresh, guarded
        if f"e{k}" not in needed_vars:
            continue
        a = _REAL.__get__(t)
        shape, dtype = prog.const(a.shape, "shape"), prog.const(a.dtype, "dtype")
        prog.emit(f"e{k} = E[{k}].array")
        prog.emit(f"if e{k}.shape != {shape} or e{k}.dtype != {dtype} or "
                  f"E[{k}].requires_grad is not {t.requires_grad}: raise STALE")

    # forward: one line per primitive, forgetting each value after its last use
    last_use = {}
    for op in live:
        for v in op.inputs:
            last_use[v] = op.index
    ctx_of = {}
    for op in live:
        if op.node is None:
            ctx = "NO"
        else:
            ctx = prog.const(_Ctx(op.node.needs_input_grad), f"c{op.index}_")
            ctx_of[op.node] = ctx
        fwd = prog.const(op.fn.forward, f"{op.fn.name}_")
        args = [ctx, *op.inputs] + [f"{k}={prog.const(v, 'k')}" for k, v in op.params.items()]
        call = f"{fwd}({', '.join(args)})"
        if op.single:
            out = op.outputs[0]
            prog.emit(f"{out} = {call}")
            if op.zero_d:
                prog.emit(f"if type({out}) is not np.ndarray: {out} = np.asarray({out})")
        elif op.zero_d:
            prog.emit(f"{', '.join(op.outputs)}, = [np.asarray(o) for o in {call}]")
        else:
            prog.emit(f"{', '.join(op.outputs)}, = {call}")
        dead = [v for v in dict.fromkeys(op.inputs) if last_use.get(v) == op.index
                and v != loss_var and v[0] == "v"]
        dead += [v for v in op.outputs if v not in last_use and v != loss_var]  # never read
        if dead:
            prog.emit(f"del {', '.join(dead)}")

    # backward: the engine's sweep, unrolled in the order it ran
    root = loss._node
    seed = prog.const(np.ones(loss.shape, loss.dtype), "seed")
    prog.emit(f"g_seed = {seed}.copy()")
    pending = {root: [None] * len(root.output_meta)}
    pending[root][loss._idx] = "g_seed"
    owned = set()
    deferred = {}  # leaf variable -> the variable of its ProductSum
    leaf_var = {}
    counter = [0]

    def new_var():
        counter[0] += 1
        return f"g{counter[0]}"

    def leaf(source):
        if id(source) in input_var:
            return f"T[{list(input_var).index(id(source))}]"
        if source._hooks:
            _refuse("a hook on a leaf tensor used by the step",
                    "the replay accumulates gradients without calling hooks")
        return leaf_var.setdefault(id(source), prog.const(source, "leaf"))

    for node, seen in rec.visits:
        grads = pending.pop(node)
        outs = [new_var() if kind is not None else "_" for kind, _, _ in seen]
        fn = rec.op_of_node[node].fn
        call = f"{prog.const(fn.backward, fn.name + '_vjp_')}({ctx_of[node]}, " \
               f"{', '.join(g or 'None' for g in grads)})"
        if len(node.edges) > 1:
            prog.emit(f"{', '.join(outs)}, = {call}")
        else:  # a one-input op's VJP returns its gradient bare, or as a 1-tuple
            prog.emit(f"{outs[0]} = {call}")
            if outs[0] != "_":
                prog.emit(f"if type({outs[0]}) is tuple: {outs[0]}, = {outs[0]}")
        prog.emit(f"{ctx_of[node]}.saved = None")
        consumed = [g for g in grads if g is not None]
        if consumed:
            prog.emit(f"del {', '.join(consumed)}")
        for i, ((source, index), (kind, shape, dtype), need, q) in enumerate(
                zip(node.edges, seen, node.needs_input_grad, outs)):
            if kind is None or not need:
                continue
            if hooks_converted:
                prog.emit(f"{q} = VALUE({q})")
            if type(source) is not engine.Node:  # a leaf
                if kind == "deferred" and not source._hooks:  # into the leaf's sum, as eager
                    if leaf(source) not in deferred:
                        deferred[leaf(source)] = new_var()
                        prog.emit(f"{deferred[leaf(source)]} = PRODUCTS()")
                    prog.emit(f"{deferred[leaf(source)]}.add({q})")
                    prog.emit(f"del {q}")
                    continue
                target = _REAL.__get__(source)
                if kind != "array" or shape != target.shape or dtype is not target.dtype:
                    prog.emit(f"{q} = CONFORM({q}, {prog.const(target.dtype, 'dtype')})")
                prog.emit(f"ACC({leaf(source)}, {q})")
                prog.emit(f"del {q}")
                continue
            t_shape, t_dtype = source.output_meta[index]
            if kind != "array" or shape != t_shape or dtype is not t_dtype:
                prog.emit(f"{q} = CONFORM({q}, {prog.const(t_dtype, 'dtype')})")
            slot = pending.get(source)
            if slot is None:
                slot = pending[source] = [None] * len(source.output_meta)
            if slot[index] is None:
                slot[index] = q
            elif slot[index] in owned:
                prog.emit(f"{slot[index]} += {q}")
                prog.emit(f"del {q}")
            else:
                total = new_var()
                prog.emit(f"{total} = np.asarray({slot[index]} + {q})")
                prog.emit(f"del {slot[index]}, {q}")
                slot[index] = total
                owned.add(total)
    for target, products in deferred.items():
        prog.emit(f"ACC({target}, {products}.value())")
        prog.emit(f"del {products}")
    prog.emit(f"return {loss_var}")
    source = "def replay(T, X, E):\n" + "\n".join(prog.lines) + "\n"
    namespace = dict(prog.consts)
    exec(compile(source, "<tinygrad_rnn.jit replay>", "exec"), namespace)
    return namespace["replay"], source


# ================================================================= the step

class _Record:
    __slots__ = ("replay", "source", "externals", "n_ops", "n_lines")


def _signature(args, static):
    """The cache key: shapes and dtypes of Tensors (and whether a float one requires grad), the
    values of integer Tensors at the positions in ``static`` and of everything else."""
    key = []
    for i, a in enumerate(args):
        if isinstance(a, Tensor):
            arr = _REAL.__get__(a)
            if arr.dtype.kind in "fc":
                key.append((arr.shape, arr.dtype.str, a.requires_grad))
            elif i in static:
                key.append((arr.shape, arr.dtype.str, arr.tobytes()))
            else:
                key.append((arr.shape, arr.dtype.str))
        elif isinstance(a, np.ndarray):
            raise TypeError("jit: pass arrays as Tensors (tg.from_numpy(a)); the step's "
                            "arguments are Tensors and Python values")
        else:
            key.append(("static", _hashable(a)))
    return tuple(key)


def _hashable(v):
    if isinstance(v, (list, tuple)):
        return tuple(_hashable(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, _hashable(x)) for k, x in v.items()))
    try:
        hash(v)
    except TypeError:
        raise TypeError(f"jit: a non-Tensor argument must be hashable (it is part of the "
                        f"record's key), got {type(v).__name__}") from None
    return v


class Jit:
    """``Jit(fn)``, usually made by :func:`jit`: call it as you would call ``fn``; it returns
    the loss as a Tensor without a graph and accumulates the gradients into ``.grad``.

    Attributes: ``captured_loss`` (the eager loss of the last capture, with its graph, for
    ``viz.draw_graph``), ``source`` (the last record as Python), ``captures`` and ``replays``
    (counts), ``max_records`` (signatures kept, least recently used dropped),
    ``static_inputs`` (positions of the integer inputs keyed by value: the step reads them).
    """

    def __init__(self, fn, max_records=8):
        self.fn, self.max_records = fn, max_records
        self.records = OrderedDict()
        self.static = set()
        self.captured_loss = None
        self.source = None
        self.captures = self.replays = 0

    def reset(self):
        """Forget every record: the next call captures again (after changing Python state the
        step reads, such as ``module.train()``/``eval()``) and which inputs are static."""
        self.records.clear()
        self.static = set()

    @property
    def static_inputs(self):
        return tuple(sorted(self.static))

    def __call__(self, *args):
        if mode.recorder is not None:
            raise CaptureError("jit: a jitted step called inside another one's capture")
        if mode.anomaly or mode.keep_values or not mode.grad:
            return self._eager(args)
        # a backward hook (tg.track_grad_norms) changes how leaf products are summed
        key = (bool(engine._backward_hooks), *_signature(args, self.static))
        record = self.records.get(key)
        if record is not None:
            tensors = [a for a in args if isinstance(a, Tensor)]
            try:
                value = record.replay(tensors, [_REAL.__get__(t) for t in tensors],
                                      record.externals)
            except _Stale:
                del self.records[key]
            else:
                self.records.move_to_end(key)
                self.replays += 1
                return _tensor(value)
        return self._capture(key, args)

    def _eager(self, args):
        loss = self.fn(*args)
        if mode.grad:
            _check_loss(loss).backward()
        return loss.detach()

    def _capture(self, key, args):
        global _active
        rec = _Recorder()
        tensors = [a for a in args if isinstance(a, Tensor)]
        generators = _seeding._generator, _random.default_generator
        note_change = _tensor_module.note_change
        mode.recorder = _active = rec
        _seeding._generator = _random.default_generator = _NoRandom()
        _tensor_module.note_change = _no_in_place
        try:
            k = 0
            for i, a in enumerate(args):
                if isinstance(a, Tensor):
                    variable = i not in self.static and _REAL.__get__(a).dtype.kind in "biu"
                    rec.name(a, f"x{k}", frozenset((i,)) if variable else None)
                    k += 1
            loss = _check_loss(self.fn(*args))
            if rec.need_static:  # a refusal the step caught: capture again all the same
                raise _NeedsStatic("jit: the step read an integer input's values")
            if rec.var_of.get(id(loss), "x")[0] != "v":
                raise CaptureError("jit: the step returned one of its inputs as the loss")
            hooks_converted = bool(engine._backward_hooks)
            rec.in_backward = True
            loss.backward()
            replay, source = _compile(rec, tensors, loss, hooks_converted)
        except Exception:
            if not rec.need_static:
                raise
        finally:
            mode.recorder = _active = None
            rec.restore()
            _seeding._generator, _random.default_generator = generators
            _tensor_module.note_change = note_change
            for t in rec.keep:
                if type(t) is _Traced:
                    t.__class__ = Tensor
        if rec.need_static:  # those inputs are keyed by value from now on: capture again
            if rec.in_backward:  # gradients are accumulated already: a second run would add
                raise CaptureError(f"jit: backward read the values of the integer input(s) at "
                                   f"position {sorted(rec.need_static)}")
            self.static |= rec.need_static
            return self(*args)
        record = _Record()
        record.replay, record.source, record.externals = replay, source, rec.external_list
        record.n_ops = len(rec.ops)
        self.records[key] = record
        while len(self.records) > self.max_records:
            self.records.popitem(last=False)
        self.captures += 1
        self.captured_loss, self.source = loss, source
        return loss.detach()


def _check_loss(loss):
    if not isinstance(loss, Tensor) or _REAL.__get__(loss).size != 1:
        what = f"a Tensor of shape {loss.shape}" if isinstance(loss, Tensor) else \
            type(loss).__name__
        raise CaptureError(f"jit: the step must return a one-element loss Tensor, got {what}")
    if not loss.requires_grad:
        raise CaptureError("jit: the loss does not require grad: it depends on no parameter")
    return loss


def jit(fn=None, *, max_records=8):
    """Capture ``fn`` (Tensors → a one-element loss) on its first call, replay it afterwards;
    each call returns the loss and accumulates gradients as ``loss.backward()`` would. Also a
    decorator: ``@tg.jit``. See the module docstring for what it refuses and why."""
    if fn is None:
        return lambda f: Jit(f, max_records)
    return Jit(fn, max_records)
