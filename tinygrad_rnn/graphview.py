"""The graph view: the recorded graph behind some Tensors, read once, as plain lists.

The one place that knows how the engine links its nodes (``node.edges``, weak references to data
inputs, ``input_meta``/``output_meta``, ``Tensor.node``/``output_index``) and what the recurrent
layers record (``nn.labels``: the ``Step`` and ``Layer`` scope markers, the ``h_t``/``c_t``
labels). The renderer (``viz``), the explorer, the live page and ``diagnostics`` read the graph
through it; none of them walks ``node.edges`` itself. It only reads: nothing here changes the
graph or switches anything on.

    view = GraphView(loss)            # or GraphView([out, loss])
    view.order                        # op nodes, oldest first
    view.inputs[node]                 # its inputs in argument order (values, see below)
    view.uses                         # (input value, consumer node, argument index)
    view.leaves                       # leaf Tensors (and Freed inputs), in the order met

A *value* is what flows along an edge: a leaf ``Tensor``, an op's output (:class:`OpOutput`:
``node``, ``output_index``, ``shape``, ``dtype``) or a data input the program no longer holds
(:class:`Freed`: shape and dtype only). Every value has ``node`` (None for leaves and freed
inputs), ``shape``, ``dtype`` and ``requires_grad``; :func:`array_of` gives its numbers when they
are known and :func:`grad_of` a leaf's gradient.
"""
from __future__ import annotations

import math
import weakref
from collections import defaultdict

import numpy as np

from .engine import Node
from .tensor import Tensor
from .nn.labels import C_0, C_T, H_T, Layer, Step, step_of


class OpOutput:
    """An op's output as a reader sees it. The graph keeps no intermediate arrays, so the shape
    and dtype come from the node; the numbers only if the program still holds the Tensor (a
    root, a tensor asked for by name) or the graph was recorded under ``tg.keep_values()``."""

    requires_grad, name = True, None

    def __init__(self, node, index, tensor=None):
        self.node, self.output_index, self.tensor = node, index, tensor
        self.shape, self.dtype = node.output_meta[index]

    @property
    def array(self):
        if self.tensor is not None:
            return np.asarray(self.tensor)
        return None if self.node.values is None else self.node.values[self.output_index]


class Freed:
    """A data input (no gradient) the program no longer holds: only its shape and dtype."""

    node, requires_grad, array, name = None, False, None, None

    def __init__(self, shape, dtype):
        self.shape, self.dtype = shape, dtype


def array_of(value):
    """The numbers of a value as a numpy array, or None when they are not kept."""
    return np.asarray(value) if isinstance(value, Tensor) else value.array


def grad_of(value):
    """A leaf's accumulated gradient as a numpy array (None for no gradient or a non-leaf)."""
    if not isinstance(value, Tensor) or value.grad is None:
        return None
    return np.asarray(value.grad)


def grad_norm_of(value):
    """‖grad‖ of a leaf (its ``.grad``), or of an op's output (recorded by backward under
    ``tg.track_grad_norms()``); None when there is none."""
    if isinstance(value, Tensor) and value.node is None:
        g = grad_of(value)
        return None if g is None else float(np.linalg.norm(g))
    node = value.node if not isinstance(value, Node) else value
    return None if node is None else node.grad_norm


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


def as_roots(root) -> list:
    """A Tensor or a list/tuple of Tensors as a list; anything else is a clear error."""
    roots = list(root) if isinstance(root, (list, tuple)) else [root]
    for r in roots:
        if not isinstance(r, Tensor):
            raise TypeError(f"graph view: expected Tensors, got {type(r).__name__}")
    return roots


class GraphView:
    """The part of the recorded graph reachable from ``root`` (a Tensor or a list of them).

    ``known``: more Tensors the caller holds (their numbers can be shown). Attributes:
    ``order`` (op nodes, oldest first), ``inputs`` (node → its input values in argument order),
    ``uses`` ((input value, consumer node, argument index), in the order the walk met them),
    ``leaves`` (leaf Tensors, and ``Freed`` data inputs), ``outputs`` (node → {output index: value} for the outputs some
    node or root uses), ``roots``.
    """

    def __init__(self, root, known=()):
        self.roots = as_roots(root)
        self.nodes = {}  # Node -> True, in the order the walk met them
        self.outputs = defaultdict(dict)
        self.leaves, self.uses, self.inputs = [], [], {}
        self._values = {}
        for t in (*self.roots, *known):  # Tensors the caller holds: their numbers can be shown
            if t.node is not None:
                self._values[(t.node.id, t.output_index)] = OpOutput(t.node, t.output_index, t)
        seen_leaves, stack, freed = set(), [], {}

        def found(t):
            if t.node is None:
                if id(t) not in seen_leaves:
                    seen_leaves.add(id(t))
                    self.leaves.append(t)
                return
            self.outputs[t.node][t.output_index] = t
            if t.node not in self.nodes:
                stack.append(t.node)

        for r in self.roots:
            found(r if r.node is None else self.value(r.node, r.output_index))
        while stack:  # iterative: a graph of any depth
            node = stack.pop()
            if node in self.nodes:
                continue
            self.nodes[node] = True
            args = self.inputs[node] = []
            for i, (source, index) in enumerate(node.edges):
                if isinstance(source, weakref.ref):
                    held = source()
                    if held is None:  # one Freed per data input, however often it is used
                        held = freed.setdefault(id(source), Freed(*node.input_meta(i)))
                    source = held
                p = self.value(source, index) if isinstance(source, Node) else source
                args.append(p)
                self.uses.append((p, node, i))
                found(p)
        self.order = sorted(self.nodes, key=lambda n: n.id)

    # ------------------------------------------------------------ values and nodes
    @staticmethod
    def key(t):
        """Identity of a leaf (the Tensor object) or of an op's output (node id, output index)."""
        return id(t) if t.node is None else (t.node.id, t.output_index)

    def value(self, node, index):
        """The value for output ``index`` of ``node`` (one object per output)."""
        key = (node.id, index)
        if key not in self._values:
            self._values[key] = OpOutput(node, index)
        return self._values[key]

    @staticmethod
    def shapes(node):
        """The shapes of a node's outputs."""
        return [tuple(shape) for shape, _ in node.output_meta]

    @staticmethod
    def dtypes(node):
        return [dtype for _, dtype in node.output_meta]

    @staticmethod
    def input_shapes(node):
        return [tuple(node.input_meta(i)[0]) for i in range(len(node.edges))]

    @staticmethod
    def leaf_inputs(node):
        """Per input of ``node`` (argument order), the leaf Tensor its gradient accumulates into,
        or None (an op's output, or a data input): what a backward hook needs to follow where
        ``grad_inputs`` go."""
        return [source if isinstance(source, Tensor) else None for source, _ in node.edges]

    def parents(self, node):
        """The op nodes whose outputs ``node`` takes, in argument order (repeats kept)."""
        return [p.node for p in self.inputs[node] if p.node is not None]

    def consumers(self):
        """{node: [consumer nodes in the order the walk met them]}."""
        out = defaultdict(list)
        for p, consumer, _ in self.uses:
            if p.node is not None:
                out[p.node].append(consumer)
        return out

    def numbering(self):
        """{node: k}, k the node's place in ``order``: names that depend only on the program
        (the same program gives the same numbers), not on a process-wide counter."""
        return {node: k for k, node in enumerate(self.order)}

    def has_grad_norms(self) -> bool:
        """Did a backward recorded under ``tg.track_grad_norms()`` visit any of these nodes?"""
        return any(n.grad_norm is not None for n in self.order)

    # ------------------------------------------------------------ what recurrent layers record
    @staticmethod
    def step(node):
        """The time step (``nn.labels.Step``) a node was recorded in, or None."""
        i = step_of(node.scope)
        return None if i is None else node.scope[i]

    @staticmethod
    def layer(node):
        """The layer and direction (``nn.labels.Layer``) a node was recorded in, or None."""
        for part in node.scope:
            if isinstance(part, Layer):
                return part
        return None

    @staticmethod
    def loop(node):
        """The scope path of the loop a node's time step belongs to (e.g. ``("lstm", "l0")`` or
        ``("lstmcell",)`` for a hand-written loop over a cell), or None outside a loop."""
        i = step_of(node.scope)
        return None if i is None else tuple(node.scope[:i])

    def states(self, label=H_T):
        """{loop scope path: {t: node}} of the nodes labelled ``label`` (``h_t``, ``c_t``) in a
        time step: the hidden (or cell) state each step hands on."""
        out = defaultdict(dict)
        for node in self.order:
            if node.label == label:
                i = step_of(node.scope)
                if i is not None:
                    out[tuple(node.scope[:i])][node.scope[i].t] = node
        return dict(out)

    def step_boundaries(self, collapse="time"):
        """For each group (``group_key``), the member nodes whose outputs are used outside it (or
        are roots): their gradient is what the group hands on, e.g. (h_t, c_t) of a step."""
        out = defaultdict(set)
        used = set()
        for p, consumer, _ in self.uses:
            if p.node is None:
                continue
            used.add(p.node)
            key = group_key(p.node.scope, collapse)
            if key is not None and group_key(consumer.scope, collapse) != key:
                out[key].add(p.node)
        for node in self.outputs:
            key = group_key(node.scope, collapse)
            if key is not None and node not in used:
                out[key].add(node)
        return {k: sorted(v, key=lambda n: n.id) for k, v in out.items()}

    def time_step_grad_norms(self) -> dict:
        """{loop scope path "a/b": [‖grad‖ each time step hands on, in time order]}."""
        per_loop = defaultdict(dict)
        for key, nodes in self.step_boundaries("time").items():
            norms = [n.grad_norm for n in nodes if n.grad_norm is not None]
            per_loop["/".join(key[:-1])][key[-1].t] = \
                math.sqrt(sum(x * x for x in norms)) if norms else 0.0
        return {loop: [steps[t] for t in sorted(steps)] for loop, steps in sorted(per_loop.items())}


def group_key(scope, collapse):
    """The scope prefix a node collapses into, or None to draw it on its own: ``"time"`` cuts
    the scope after its time step (a ``Step`` marker), an int k after k elements."""
    if collapse is None:
        return None
    if collapse == "time":
        i = step_of(scope)
        return None if i is None else scope[:i + 1]
    depth = int(collapse)
    return scope[:depth] if len(scope) >= depth > 0 else None


def is_cell_state(value) -> bool:
    """A value carrying an LSTM cell state: an op labelled ``c_t`` or a leaf named ``c_0``."""
    return value.name in (C_T, C_0) if value.node is None else value.node.label == C_T


__all__ = ["GraphView", "OpOutput", "Freed", "array_of", "grad_of", "grad_norm_of", "group_key",
           "as_roots", "is_cell_state", "Step", "Layer"]
