"""An interactive graph explorer in one self-contained HTML file, with a replay of backward.

    from tinygrad_rnn import explorer
    with tg.keep_values():                      # optional: lets the explorer show intermediates
        loss = model_loss(...)
    with explorer.record_backward() as rec:     # records the order backward visits the nodes
        loss.backward()
    explorer.explore(loss, "graph.html", params=dict(model.named_parameters()), record=rec)

The file holds the Graphviz drawing (``viz.draw_graph``) as inline SVG, the recorded data as JSON
and the page's script and style (package files in ``tinygrad_rnn/pages/``, put inline); it needs
no network and opens from disk. In the browser:

- it opens at a zoom where the labels are legible, at the loss end of the graph; wheel zooms,
  dragging pans, "fit" shows the whole graph and "reset" returns to the first view;
- hovering a node names it beside it; clicking shows its op, scope, label, shapes, and
  min/mean/max/‖·‖ with a histogram of its value (if kept) and of its gradient in the side panel,
  and highlights everything it was computed from (ancestors) and computed from it (descendants);
- the search box finds nodes by label, op or scope, marks them and centres on one;
- a scope's box (layer, time step) folds into one box and back when its name is clicked;
- the replay slider, ▶ and the ←/→ keys step through the nodes in the order backward visited
  them, naming each ("output gate σ, t1"); the weights table lists every gradient term a weight
  receives (one per op that uses it, zeros included) and its running ‖grad‖.

The replay needs the record of that backward: pass ``record=`` (what ``record_backward()``
gives). Without one the page still shows the graph and says how to get the replay.

``show(...)`` returns an object that displays inline in Jupyter (an iframe).
"""
from __future__ import annotations

import html
import json
import math
import os
import pathlib
import re

import numpy as np

from . import pages
from .engine import register_backward_hook
from .graphview import GraphView, array_of, grad_of
from .tensor import Tensor

HIST_BINS = 16
_TIME = re.compile(r"t\d+$")


# ---------------------------------------------------------------- statistics

def array_stats(arrays, bins=HIST_BINS):
    """min/mean/max/‖·‖ and a histogram over the elements of ``arrays`` (a list of arrays; Nones
    are skipped), as plain floats for JSON. None when there is nothing to summarise."""
    parts = [np.asarray(a, dtype=np.float64).ravel() for a in arrays if a is not None]
    if not parts:
        return None
    x = np.concatenate(parts) if len(parts) > 1 else parts[0]
    if x.size == 0:
        return {"n": 0}
    finite = x[np.isfinite(x)]
    stats = {"n": int(x.size), "nonfinite": int(x.size - finite.size),
             "norm": _num(math.sqrt(float(np.dot(x, x)))) if finite.size == x.size else None}
    if finite.size:
        counts, edges = np.histogram(finite, bins=bins)
        stats.update(min=float(finite.min()), mean=float(finite.mean()), max=float(finite.max()),
                     hist=counts.tolist(), edges=[float(edges[0]), float(edges[-1])])
    return stats


def _num(x):
    return x if math.isfinite(x) else None


# ---------------------------------------------------------------- recording backward

class BackwardRecord:
    """What one ``backward()`` did, recorded by :func:`record_backward`.

    - ``order``: the ids of the nodes in the order backward visited them (a reverse topological
      order: every node comes after all nodes that use its outputs);
    - ``grads``: node id → statistics of the gradient of its outputs (:func:`array_stats`);
    - ``leaf_steps``: for each leaf Tensor that received gradient, a list of
      ``(step, ‖contribution‖, ‖running sum‖)``: ``step`` is the position in ``order`` of the node
      whose input-gradient went to the leaf; the running sum starts from the leaf's ``.grad``
      before this backward, so its last value is ``‖leaf.grad‖`` afterwards.
    """

    def __init__(self):
        self.order = []
        self.grads = {}
        self.leaves = []  # the leaf Tensors, in order of their first gradient
        self.leaf_steps = {}  # id(leaf) -> [(step, contribution norm, running norm)]
        self._sums = {}  # id(leaf) -> running sum array

    def hook(self, node, grad_outputs, grad_inputs):
        step = len(self.order)
        self.order.append(node.id)
        self.grads[node.id] = array_stats(grad_outputs)
        for source, g in zip(GraphView.leaf_inputs(node), grad_inputs):
            if g is None or source is None or not source.requires_grad:
                continue
            key = id(source)
            if key not in self._sums:
                self.leaves.append(source)
                self.leaf_steps[key] = []
                before = source.grad
                self._sums[key] = (np.zeros(source.shape, np.float64) if before is None
                                   else np.array(before.array, dtype=np.float64))
            total = self._sums[key]
            total += np.asarray(g, dtype=np.float64)
            self.leaf_steps[key].append((step, float(np.linalg.norm(g)),
                                         float(np.linalg.norm(total))))

    def running_norm(self, leaf):
        """The last running ‖grad‖ of ``leaf`` (equals ‖leaf.grad‖ after the backward)."""
        steps = self.leaf_steps.get(id(leaf))
        return steps[-1][2] if steps else None


class record_backward:
    """``with record_backward() as rec: loss.backward()`` — records the visit order and the
    gradients of every node (see :class:`BackwardRecord`) through ``tg.register_backward_hook``.
    The record is yours to pass on (``explore(loss, path, record=rec)``); nothing keeps it."""

    def __init__(self):
        self.record = BackwardRecord()
        self._handle = None

    def __enter__(self):
        self._handle = register_backward_hook(self.record.hook)
        return self.record

    def __exit__(self, *exc):
        self._handle.remove()
        self.record._sums.clear()  # only needed while summing


# ---------------------------------------------------------------- which DOT node is what

def _kind(title, graph):
    """"op" for the element drawn for one op, "ref" for a small copy of it drawn beside one use,
    "group" for a collapsed group of ops (the drawing says which: ``tg_kinds``)."""
    return graph.tg_kinds.get(title, "group")


# ---------------------------------------------------------------- the page's data

def _shape(meta):
    return [list(shape) for shape, _ in meta]


def _where(scope, layered):
    """Where a node ran, shortly: its time step ("t1"; "l0 t1" when several layers have steps),
    else the innermost scope ("head"), else ""."""
    if not scope:
        return ""
    if _TIME.match(scope[-1]):
        return " ".join(scope[-2:]) if layered and len(scope) > 1 else scope[-1]
    return scope[-1]


def _page_data(roots, graph, params, record, svg):
    """Everything the page's script reads, as plain JSON-able data. ``graph`` is a
    ``viz.draw_graph`` result: its ``tg_nodes`` / ``tg_leaves`` say which engine Nodes or leaf
    Tensor each drawn element (by its DOT name, the SVG ``<title>``) stands for."""
    from .viz import SYMBOLS

    nodes_of, leaf_of = graph.tg_nodes, graph.tg_leaves
    names = {id(p): n for n, p in (params or {}).items()}
    view = GraphView(roots)
    visit = {nid: k for k, nid in enumerate(record.order)} if record else {}
    layered = len({n.scope[:-1] for n in view.order if n.scope and _TIME.match(n.scope[-1])}) > 1
    # the values of the roots the caller holds (single-output ops: the index is then 0)
    held = {(r.node.id, 0): r.array for r in roots
            if r.node is not None and len(r.node.output_meta) == 1}
    leaves, leaf_key = {}, {}

    def key_of(t):
        if id(t) not in leaf_key:
            k = leaf_key[id(t)] = f"L{len(leaf_key)}"
            steps = record.leaf_steps.get(id(t), []) if record else []
            leaves[k] = {"name": names.get(id(t)) or t.name or ("input" if not t.requires_grad
                                                                 else "leaf"),
                         "shape": list(t.shape), "dtype": str(t.dtype),
                         "requires_grad": bool(t.requires_grad),
                         "value": None if array_of(t) is None else array_stats([array_of(t)]),
                         "grad": None if grad_of(t) is None else array_stats([grad_of(t)]),
                         "steps": [list(s) for s in steps]}
        return leaf_key[id(t)]

    nodes = {}
    for node in view.order:
        parents = [p.node.id for p in view.inputs[node] if p.node is not None]
        inputs = [key_of(p) for p in view.inputs[node] if p.node is None and p.requires_grad]
        values = node.values
        if values is None:
            kept = [held.get((node.id, i)) for i in range(len(node.output_meta))]
            values = kept if any(v is not None for v in kept) else None
        name = (f"{node.label} {SYMBOLS.get(node.name, node.name)}" if node.label
                else node.name)
        nodes[node.id] = {"op": node.name, "scope": "/".join(node.scope), "label": node.label,
                          "name": name, "where": _where(node.scope, layered),
                          "in": [list(shape) for shape in view.input_shapes(node)],
                          "out": _shape(node.output_meta),
                          "parents": parents, "leaves": inputs,
                          "value": array_stats(values) if values is not None else None,
                          "grad": record.grads.get(node.id) if record else None,
                          "visit": visit.get(node.id)}
    for t in (record.leaves if record else []):
        key_of(t)
    elements = {}
    for title in re.findall(r'<g id="[^"]*" class="node">\s*<title>([^<]*)</title>', svg):
        title = html.unescape(title)
        if title in leaf_of:
            elements[title] = {"kind": "leaf", "leaf": key_of(leaf_of[title])}
        elif nodes_of.get(title):  # (the legend, notes such as "+3 more inputs": no node)
            elements[title] = {"kind": _kind(title, graph),
                               "nodes": [n.id for n in nodes_of[title]]}
    return {"nodes": nodes, "leaves": leaves, "elements": elements,
            "roots": [r.node.id for r in roots if r.node is not None],
            "order": list(record.order) if record else [],
            "recorded": record is not None}


# ---------------------------------------------------------------- the page

def build_html(root, collapse=None, params=None, record=None, title=None, **draw_kw) -> str:
    """The explorer page for the graph of ``root`` (a Tensor or a list of them) as one HTML
    string. ``record``: the :class:`BackwardRecord` of a backward through this graph (what
    ``with record_backward() as rec`` gives) for the replay; without it the page has no replay.
    ``params``: ``dict(model.named_parameters())`` to name the weights; other keyword arguments
    go to ``viz.draw_graph``."""
    import graphviz

    from . import viz

    roots = list(root) if isinstance(root, (list, tuple)) else [root]
    for r in roots:
        if not isinstance(r, Tensor):
            raise TypeError(f"explorer: expected a Tensor or a list of Tensors, got "
                            f"{type(r).__name__}")
    if record is not None and not isinstance(record, BackwardRecord):
        raise TypeError(f"explorer: record must be what record_backward() returns, got "
                        f"{type(record).__name__}")
    if record is not None and record.order:
        ids = {n.id for n in GraphView(roots).order}
        if not any(nid in ids for nid in record.order):
            raise ValueError("explorer: the record is of a backward through another graph (it "
                             "visited none of this graph's nodes); record the backward of this "
                             "loss: with explorer.record_backward() as rec: loss.backward()")
    graph = viz.draw_graph(roots if len(roots) > 1 else roots[0], params=params,
                           collapse=collapse, **draw_kw)
    try:
        svg = graph.pipe(format="svg").decode("utf-8")
    except graphviz.ExecutableNotFound:
        raise RuntimeError("explorer: Graphviz's 'dot' program was not found on PATH; it lays "
                           "out the graph (Debian/Ubuntu: apt-get install graphviz)") from None
    svg = _clean_svg(svg)
    data = _page_data(roots, graph, params, record, svg)
    payload = json.dumps(data, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    return pages.page("explorer", title=html.escape(title or "tinygrad_rnn graph explorer"),
                      data=payload, svg=svg)


def _clean_svg(svg):
    """Graphviz's SVG made fit to sit inside HTML: no XML prolog, doctype, comments or namespace
    URLs (the HTML parser puts <svg> in the SVG namespace by itself)."""
    svg = re.sub(r"<\?xml[^>]*\?>", "", svg)
    svg = re.sub(r"<!DOCTYPE[^>]*>", "", svg, flags=re.S)
    svg = re.sub(r"<!--.*?-->", "", svg, flags=re.S)
    svg = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", svg)
    return svg.strip()


def explore(root, path, collapse=None, params=None, record=None, title=None, **draw_kw):
    """Write the explorer page for ``root`` to ``path`` (see :func:`build_html`); returns the
    path written."""
    path = pathlib.Path(path)
    if path.suffix != ".html":
        path = path.with_suffix(".html")
    page = build_html(root, collapse=collapse, params=params, record=record, title=title,
                      **draw_kw)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(path, page)
    return path


def _write_atomic(path, text):
    """Write to a temporary file beside ``path``, then rename: no half-written page."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class Explorer:
    """An explorer page that shows inline in Jupyter (an iframe holding the page) and can be
    saved with ``save(path)``."""

    def __init__(self, page, height=640):
        self.html, self.height = page, height

    def _repr_html_(self):
        return (f'<iframe srcdoc="{html.escape(self.html, quote=True)}" '
                f'style="width:100%;height:{int(self.height)}px;border:1px solid #ccc"></iframe>')

    def save(self, path):
        path = pathlib.Path(path)
        _write_atomic(path, self.html)
        return path


def show(root, collapse=None, params=None, record=None, height=640, **draw_kw):
    """The explorer for ``root`` as an object Jupyter displays inline."""
    return Explorer(build_html(root, collapse=collapse, params=params, record=record, **draw_kw),
                    height)
