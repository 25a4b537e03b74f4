"""Draw the recorded computation graph with Graphviz, readable even for an unrolled LSTM.

``draw_graph(root, ...)`` returns a ``graphviz.Digraph`` (it shows inline in Jupyter; export with
``.render()`` / ``.pipe(format="svg")`` or :func:`render`). It reads the graph, never changes it.

- **Nodes**: op nodes show the op name and output shape; leaves show their parameter name (from
  ``params=dict(model.named_parameters())``), or "input"/"leaf"/a constant's value. Optionally
  values (``show_values``) and, after ``backward()``, ‖grad‖ (``show_grads``).
- **Edges** go from inputs to the op that uses them; where argument order matters (sub, div,
  matmul, pow, where, cat, stack) they carry the argument index, and the outputs of a
  multi-output op (split, unbind) carry theirs in brackets.
- **Clusters**: one nested ``cluster_`` subgraph per scope element — module, layer, time step
  (e.g. ``lstm`` › ``l0`` › ``t3``) — from the scope path every node recorded.
- **Collapsing**: ``collapse="time"`` draws each time step of each layer as one node;
  ``collapse=k`` draws every scope at depth k as one node. Past ``max_nodes`` the graph collapses
  by itself (by time, then shallower scopes, then keeps the ops nearest the root) and says so.
- **Gradient heat**: after backward, nodes are filled by log10 ‖grad‖ on a fixed scale from
  1e-8 (pale) to 1e2 (dark red), so a vanishing gradient fades visibly across time steps; NaN/Inf
  gradients are magenta. A legend shows the scale. Before backward nodes stay white.
- **Path highlight**: ``highlight=[tensors]`` bolds the edges on paths from those tensors to the
  root; ``dim_unused=True`` greys what leads to no parameter.
- **Fast layout**: a node used by many ops (a weight used at every time step) is drawn as a small
  copy beside each use instead of one hub with hundreds of edges, which ``dot`` lays out slowly.
"""
from __future__ import annotations

import math
import pathlib
import re
import weakref
from collections import defaultdict

import numpy as np

from .engine import Node, Tensor, track_grad_norms

ORDERED_OPS = {"sub", "div", "matmul", "linear", "pow", "where", "cat", "stack"}
HEAT_RANGE = (-8.0, 2.0)  # log10 ‖grad‖ from pale to dark
NONFINITE_COLOR = "#ff00ff"
_TIME = re.compile(r"t\d+$")

# The gradient heat reads ‖dL/d(output)‖ of every node, which a backward hook records: drawing
# graphs is what this module is for, so importing it turns the hook on (tg.track_grad_norms(False)
# turns it off again, e.g. inside a training loop).
track_grad_norms(True)


def heat_color(norm):
    """Fill colour for a gradient norm on the fixed log scale (None: white)."""
    if norm is None:
        return "#ffffff"
    if not math.isfinite(norm):
        return NONFINITE_COLOR
    lo, hi = HEAT_RANGE
    x = (math.log10(norm) - lo) / (hi - lo) if norm > 0 else 0.0
    x = min(max(x, 0.0), 1.0)
    # pale yellow → orange → dark red, interpolated in RGB through three stops
    stops = [(255, 255, 217), (253, 141, 60), (128, 0, 38)]
    seg = 0 if x < 0.5 else 1
    f = x * 2 - seg
    rgb = [round(a + (b - a) * f) for a, b in zip(stops[seg], stops[seg + 1])]
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def _font_color(fill):
    r, g, b = (int(fill[i:i + 2], 16) for i in (1, 3, 5))
    return "white" if 0.299 * r + 0.587 * g + 0.114 * b < 120 else "black"


def _fmt(x):
    return f"{x:.3g}"


def _summary(arr):
    if arr.size <= 6:
        return np.array2string(np.asarray(arr), precision=3, separator=", ")
    a = arr.astype(np.float64)
    return f"mean {_fmt(a.mean())} std {_fmt(a.std())}\\n[{_fmt(a.min())}, {_fmt(a.max())}]"


def _cut(text, limit=40):
    return text if len(text) <= limit else text[:limit - 1] + "…"


# ---------------------------------------------------------------- reading the graph

class _Value:
    """An op's output as the renderer sees it. The graph keeps no intermediate arrays, so the
    shape and dtype come from the node; the numbers only if the program still holds the Tensor
    (a root, a highlighted tensor) or the graph was recorded under ``tg.keep_values()``."""

    requires_grad = True

    def __init__(self, node, index, tensor=None):
        self.node, self._idx, self.tensor = node, index, tensor
        self.shape, self.dtype = node.output_meta[index]

    @property
    def data(self):
        if self.tensor is not None:
            return self.tensor.data
        return None if self.node.values is None else self.node.values[self._idx]

    @property
    def grad(self):
        return None if self.tensor is None else self.tensor.grad


class _Freed:
    """A data input (no gradient) the program no longer holds: only its shape and dtype are known."""

    node, requires_grad, data, grad, name = None, False, None, None, None

    def __init__(self, shape, dtype):
        self.shape, self.dtype = shape, dtype


def _key(t):
    """Identity of a leaf (the Tensor object) or of an op's output (node id, output index)."""
    return id(t) if t.node is None else (t.node.id, t._idx)


class _Graph:
    """The part of the recorded graph reachable from the roots, as plain lists. The only place
    that reads the engine's Node internals (``edges``, ``output_meta``)."""

    def __init__(self, roots, known=()):
        self.nodes = {}  # Node -> True (ordered later by id)
        self.outputs = defaultdict(dict)  # Node -> {output index: value}
        self.leaves = []  # leaf Tensors in discovery order
        self.uses = []  # (input value, consumer Node, argument index)
        self.inputs = {}  # Node -> its input values in argument order
        self._values = {}
        for t in (*roots, *known):  # Tensors the caller holds: their numbers can be shown
            if t.node is not None:
                self._values[(t.node.id, t._idx)] = _Value(t.node, t._idx, t)
        seen_leaves = set()
        stack = []
        for r in roots:
            if r.node is None:
                if id(r) not in seen_leaves:
                    seen_leaves.add(id(r))
                    self.leaves.append(r)
            else:
                self.outputs[r.node][r._idx] = self._value(r.node, r._idx)
                stack.append(r.node)
        while stack:
            node = stack.pop()
            if node in self.nodes:
                continue
            self.nodes[node] = True
            args = self.inputs[node] = []
            for i, (source, index) in enumerate(node.edges):
                if isinstance(source, weakref.ref):
                    source = source()
                    if source is None:
                        source = _Freed(*node.input_meta(i))
                p = self._value(source, index) if isinstance(source, Node) else source
                args.append(p)
                self.uses.append((p, node, i))
                if p.node is None:
                    if id(p) not in seen_leaves:
                        seen_leaves.add(id(p))
                        self.leaves.append(p)
                else:
                    self.outputs[p.node][p._idx] = p
                    if p.node not in self.nodes:
                        stack.append(p.node)
        self.order = sorted(self.nodes, key=lambda n: n.id)

    def _value(self, node, index):
        key = (node.id, index)
        if key not in self._values:
            self._values[key] = _Value(node, index)
        return self._values[key]


def _group_key(scope, collapse):
    """The scope prefix a node collapses into, or None to draw it on its own."""
    if collapse is None:
        return None
    if collapse == "time":
        for i, part in enumerate(scope):
            if _TIME.match(part):
                return scope[:i + 1]
        return None
    depth = int(collapse)
    return scope[:depth] if len(scope) >= depth > 0 else None


def _count_drawn(g, collapse, hub_limit=8):
    """How many nodes a drawing would have: ops or groups, leaf copies and hub references."""
    key = {}
    for node in g.order:
        k = _group_key(node.scope, collapse)
        key[node] = node if k is None else k
    leaf_uses, fan_out = defaultdict(set), defaultdict(set)
    for p, consumer, _ in g.uses:
        dst = key[consumer]
        if p.node is None:
            leaf_uses[id(p)].add(dst)
        elif key[p.node] != dst:
            fan_out[key[p.node]].add(dst)
    refs = sum(len(d) for d in fan_out.values() if len(d) > hub_limit)
    return len(set(key.values())) + sum(len(d) for d in leaf_uses.values()) + refs


# ---------------------------------------------------------------- drawing

def draw_graph(root, params=None, show_values=False, show_grads=True, collapse=None,
               max_nodes=400, highlight=None, dim_unused=False, duplicate_shared_leaves=True,
               share_threshold=8, rankdir="TB", title=None):
    """Render the graph that produced ``root`` (a Tensor or a list of Tensors).

    See the module docstring for what each option does. Returns a ``graphviz.Digraph``.
    """
    import graphviz

    roots = list(root) if isinstance(root, (list, tuple)) else [root]
    for r in roots:
        if not isinstance(r, Tensor):
            raise TypeError(f"draw_graph: expected Tensors, got {type(r).__name__}")
    if collapse is not None and collapse != "time" and not (isinstance(collapse, int)
                                                            and collapse > 0):
        raise ValueError(f"draw_graph: collapse must be None, 'time' or a positive depth, got "
                         f"{collapse!r}")
    if highlight is not None and not isinstance(highlight, (list, tuple)):
        highlight = [highlight]
    g = _Graph(roots, known=[t for t in (highlight or []) if isinstance(t, Tensor)])
    notes = []
    total = len(g.order)
    if max_nodes and collapse is None and _count_drawn(g, None, share_threshold) > max_nodes:
        depths = sorted({len(n.scope) for n in g.order}, reverse=True)
        for candidate in ["time", *[d for d in depths if d > 0]]:
            if _count_drawn(g, candidate, share_threshold) <= max_nodes:
                collapse = candidate
                break
        else:
            collapse = 1 if any(n.scope for n in g.order) else None
        if collapse is not None:
            how = "by time step" if collapse == "time" else f"to scope depth {collapse}"
            notes.append(f"collapsed {how}: {total:,} ops > max_nodes={max_nodes}")
    keep = None
    if max_nodes and _count_drawn(g, collapse, share_threshold) > max_nodes:
        keep = set(_nearest_ops(g, roots, max_nodes))
        notes.append(f"showing the {len(keep):,} ops nearest the output of {total:,}")

    names = {p_id: name for name, p in (params or {}).items() for p_id in [id(p)]}
    targets = {_key(t) for t in (highlight or [])}
    leads = _leads_to(g, targets) if highlight else None
    params_ids = {id(t) for t in g.leaves if t.requires_grad}
    useful = _leads_to(g, params_ids) if dim_unused else None

    dot = graphviz.Digraph("graph", graph_attr={"rankdir": rankdir, "fontsize": "12",
                                                "fontname": "Helvetica", "compound": "true"},
                           node_attr={"fontname": "Helvetica", "fontsize": "10",
                                      "style": "filled", "fillcolor": "#ffffff"},
                           edge_attr={"fontname": "Helvetica", "fontsize": "8"})
    label = title or ""
    if notes:
        label = (label + "\\n" if label else "") + "\\n".join(notes)
    if label:
        dot.attr(label=label, labelloc="t")

    # Names for DOT ids: by order of node id, so identical programs give identical DOT.
    draw_id, members = {}, defaultdict(list)
    groups = {}
    for k, node in enumerate(g.order):
        if keep is not None and node not in keep:
            continue
        key = _group_key(node.scope, collapse)
        if key is None:
            draw_id[node] = f"op{k}"
        else:
            if key not in groups:
                groups[key] = f"group{len(groups)}"
            draw_id[node] = groups[key]
            members[key].append(node)

    placed = defaultdict(list)  # scope path -> DOT statements to put in that cluster
    any_grads = [False]

    def fill_attrs(norm):
        if norm is None or not show_grads:
            return {}
        any_grads[0] = True
        fill = heat_color(norm)
        return {"fillcolor": fill, "fontcolor": _font_color(fill)}

    # op nodes
    for node in g.order:
        if node not in draw_id or _group_key(node.scope, collapse) is not None:
            continue
        outs = g.outputs.get(node, {})
        shape = ", ".join(str(tuple(shape)) for shape, _ in node.output_meta)
        lines = [node.label, f"{node.name} {shape}"] if node.label else [node.name, shape]
        if show_values and outs:
            value = min(outs.items())[1].data
            lines.append("value not kept" if value is None else _summary(value))
        if show_grads and node.grad_norm is not None:
            lines.append(f"‖g‖ {_fmt(node.grad_norm)}")
        attrs = {"shape": "box", "style": "rounded,filled", **fill_attrs(node.grad_norm)}
        if useful is not None and not useful.get(node, False):
            attrs.update(color="#bbbbbb", fontcolor="#999999")
        placed[_scope_beside(node.scope, collapse)].append(
            ("node", draw_id[node], "\\n".join(_cut(s, 48) for s in lines), attrs))

    # collapsed groups
    boundary = _group_boundaries(g, draw_id, collapse, keep)
    for key, gid in groups.items():
        nodes = members[key]
        norms = [n.grad_norm for n in boundary.get(key, nodes) if n.grad_norm is not None]
        norm = math.sqrt(sum(x * x for x in norms)) if norms else None
        lines = [" ".join(key[-2:]) if len(key) > 1 else key[0], f"{len(nodes)} ops"]
        if show_grads and norm is not None:
            lines.append(f"‖g out‖ {_fmt(norm)}")
        attrs = {"shape": "box3d", **fill_attrs(norm)}
        placed[key[:-1]].append(("node", gid, "\\n".join(lines), attrs))

    # leaves, and edges
    use_count = defaultdict(int)
    for p, consumer, _ in g.uses:
        if consumer in draw_id and p.node is None:
            use_count[id(p)] += 1
    leaf_id = {id(t): f"leaf{k}" for k, t in enumerate(g.leaves)}
    drawn_extra = set()
    candidates = []  # (src, dst, label, parent tensor, consumer)
    for p, consumer, arg in sorted(g.uses, key=lambda u: (u[1].id, u[2])):
        if consumer not in draw_id:
            continue
        dst = draw_id[consumer]
        label = str(arg) if consumer.name in ORDERED_OPS and len(consumer.edges) > 1 else ""
        if p.node is None:
            shared = duplicate_shared_leaves and use_count[id(p)] > 1
            src = f"{leaf_id[id(p)]}_{dst}" if shared else leaf_id[id(p)]
            if src not in drawn_extra:
                drawn_extra.add(src)
                scope = _scope_beside(consumer.scope, collapse) if shared else ()
                text, attrs = _leaf_label(p, names, show_values, show_grads, shared,
                                          consumer.scope)
                if p.requires_grad:
                    attrs.update(fill_attrs(_leaf_norm(p)))
                elif useful is not None:
                    attrs.update(color="#bbbbbb", fontcolor="#999999")
                placed[scope].append(("node", src, text, attrs))
        elif p.node in draw_id:
            src = draw_id[p.node]
            if src == dst:
                continue  # inside one collapsed group
            if len(p.node.output_meta) > 1:
                label = f"[{p._idx}]" + (f" {label}" if label else "")
        else:
            continue
        candidates.append((src, dst, label, p, consumer))

    # Hubs make dot slow: a node feeding many others gets a small reference copy beside each
    # use; a node fed by many others keeps its first and last inputs and a "+k more" note.
    fan_out, fan_in = defaultdict(set), defaultdict(set)
    for src, dst, _, p, _ in candidates:
        if p.node is not None:
            fan_out[src].add(dst)
            fan_in[dst].add(src)
    hub_limit = share_threshold if duplicate_shared_leaves else float("inf")
    incoming = defaultdict(list)
    for c in candidates:
        incoming[c[1]].append(c[0])
    edges, skipped = {}, defaultdict(int)
    for src, dst, label, p, consumer in candidates:
        if p.node is not None and len(fan_out[src]) > hub_limit:
            ref = f"{src}_ref_{dst}"
            if ref not in drawn_extra:
                drawn_extra.add(ref)
                placed[_scope_beside(consumer.scope, collapse)].append(
                    ("node", ref, _ref_label(p, names),
                     {"shape": "note", "fontsize": "8", "fillcolor": "#f4f4f4"}))
            src = ref
        elif p.node is not None and len(fan_in[dst]) > hub_limit and \
                src not in (incoming[dst][0], incoming[dst][-1]):
            skipped[dst] += 1
            continue
        attrs = {"label": label} if label else {}
        if leads is not None and _on_path(p, leads, targets) and leads.get(consumer, False):
            attrs.update(penwidth="2.5", color="#1f4e9a")
        if useful is not None and not _on_path(p, useful, params_ids):
            attrs.update(color="#cccccc")
        edges.setdefault((src, dst, label), attrs)
    for dst, k in skipped.items():
        note = f"{dst}_more"
        placed[()].append(("node", note, f"+{k} more inputs",
                           {"shape": "plaintext", "fontsize": "8", "style": ""}))
        edges[(note, dst, "")] = {"style": "dashed", "color": "#888888"}

    for k, t in enumerate(r for r in roots if r.node is None):  # draw_graph(leaf): just the leaf
        text, attrs = _leaf_label(t, names, show_values, show_grads, False)
        attrs.update(fill_attrs(_leaf_norm(t)) if t.requires_grad else {})
        placed[()].append(("node", f"root_leaf{k}", text, attrs))

    _emit(dot, placed)
    for (src, dst, _), attrs in edges.items():
        dot.edge(src, dst, **attrs)
    if any_grads[0]:
        _legend(dot)
    return dot


def _scope_beside(scope, collapse):
    """The cluster to put a small copy in, next to a node of ``scope``."""
    key = _group_key(scope, collapse)
    return scope if key is None else key[:-1]


def _leaf_norm(t):
    if t.grad is None:
        return None
    return float(np.linalg.norm(t.grad))


def _leaf_label(t, names, show_values, show_grads, small, scope=()):
    name = names.get(id(t)) or t.name
    if name is None:
        if t.requires_grad:  # no name given: say which module used it
            name = f"{'/'.join(scope)} param" if scope else "leaf"
        elif t.data is not None and t.data.size == 1:
            name = _fmt(float(t.data.reshape(-1)[0])) if t.dtype.kind in "fiu" else "const"
        else:
            name = "input"
    lines = [_cut(name), str(tuple(t.shape))]
    if show_values and t.data is not None and t.data.size > 1:
        lines.append(_summary(t.data))
    if show_grads and t.grad is not None:
        lines.append(f"‖g‖ {_fmt(_leaf_norm(t))}")
    constant = not t.requires_grad and t.data is not None and t.data.size == 1
    attrs = {"shape": "plaintext" if constant else "ellipse",
             "fillcolor": "#e8f0fe" if t.requires_grad else "#f4f4f4"}
    if small or constant:
        attrs["fontsize"] = "8"
    return "\\n".join(lines), attrs


def _ref_label(p, names):
    node = p.node
    src = node.edges[0][0] if node.edges else None
    base = names.get(id(src)) if isinstance(src, Tensor) else None
    if node.name == "permute" and base:
        return f"{base}ᵀ"
    if node.name == "add" and base:  # b_ih + b_hh folded once per layer
        return f"{base} + …"
    return f"{node.name} {'/'.join(node.scope[-2:])}".strip() + (f" ({base})" if base else "")


def _leads_to(g, targets):
    """For every node: does one of its inputs (transitively) come from a target leaf?"""
    leads = {}
    for node in g.order:  # increasing id: parents first
        leads[node] = any(_key(p) in targets or (p.node is not None and leads.get(p.node, False))
                          for p in g.inputs[node])
    return leads


def _on_path(t, leads, targets):
    """Is tensor ``t`` a target leaf, or computed from one?"""
    return _key(t) in targets or (t.node is not None and leads.get(t.node, False))


def _group_boundaries(g, draw_id, collapse, keep):
    """For each collapsed group, the member nodes whose outputs are used outside it (or are
    roots): their gradient is the gradient of what the group hands on, e.g. (h_t, c_t)."""
    if collapse is None:
        return {}
    out = defaultdict(set)
    for p, consumer, _ in g.uses:
        if p.node is None or p.node not in draw_id:
            continue
        key = _group_key(p.node.scope, collapse)
        if key is not None and _group_key(consumer.scope, collapse) != key:
            out[key].add(p.node)
    for node in g.outputs:
        key = _group_key(node.scope, collapse)
        if key is not None and not any(u[0].node is node for u in g.uses):
            out[key].add(node)
    return {k: sorted(v, key=lambda n: n.id) for k, v in out.items()}


def _nearest_ops(g, roots, budget):
    """The ``budget`` op nodes closest to the roots (breadth first), for huge flat graphs."""
    order, seen = [], set()
    frontier = [r.node for r in roots if r.node is not None]
    while frontier and len(order) < budget:
        nxt = []
        for node in frontier:
            if node in seen:
                continue
            seen.add(node)
            order.append(node)
            nxt += [p.node for p in g.inputs[node] if p.node is not None]
        frontier = nxt
    return order[:budget]


def _emit(dot, placed):
    """Write nodes into nested clusters, one per scope element."""
    tree = {}
    for scope in placed:
        node = tree
        for part in scope:
            node = node.setdefault(part, {})

    def fill(graph, prefix, subtree):
        for stmt in placed.get(prefix, []):
            _, name, label, attrs = stmt
            graph.node(name, label=label, **attrs)
        for part, child in subtree.items():
            path = prefix + (part,)
            cluster = "cluster_" + "_".join(re.sub(r"\W", "_", p) for p in path)
            with graph.subgraph(name=cluster) as sub:
                sub.attr(label=part, style="rounded,dashed", color="#888888", fontsize="10")
                fill(sub, path, child)

    fill(dot, (), tree)


def _legend(dot):
    lo, hi = HEAT_RANGE
    with dot.subgraph(name="cluster_legend") as leg:
        leg.attr(label="‖grad‖ (log scale)", style="rounded", color="#888888", fontsize="10")
        prev = None
        for e in range(int(lo), int(hi) + 1, 2):
            fill = heat_color(10.0 ** e)
            name = f"legend_{e - int(lo)}"
            leg.node(name, label=f"1e{e}", shape="box", style="filled", fillcolor=fill,
                     fontcolor=_font_color(fill), fontsize="8", width="0.4", height="0.2")
            if prev:
                leg.edge(prev, name, style="invis")
            prev = name
        leg.node("legend_nonfinite", label="NaN/Inf", shape="box", style="filled",
                 fillcolor=NONFINITE_COLOR, fontsize="8", width="0.4", height="0.2")
        leg.edge(prev, "legend_nonfinite", style="invis")


def render(graph, path, format="svg") -> pathlib.Path:
    """Render a Digraph to ``path`` (suffix replaced by ``format``); a clear error if Graphviz's
    ``dot`` program is missing. Returns the written file's path."""
    import graphviz

    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        out = graph.render(filename=path.stem, directory=str(path.parent), format=format,
                           cleanup=True)
    except graphviz.ExecutableNotFound:
        raise RuntimeError("render: Graphviz's 'dot' program was not found on PATH. Install "
                           "Graphviz (Debian/Ubuntu: apt-get install graphviz; macOS: brew "
                           "install graphviz; conda: conda install graphviz); the DOT source is "
                           "still available as graph.source") from None
    return pathlib.Path(out)


# ---------------------------------------------------------------- summaries

def time_step_grad_norms(root) -> dict:
    """{layer scope path: [‖grad‖ handed on by each time step, in time order]}, after backward.

    For each time-step scope (``…/t3``), the norm over the step's outputs that leave it (h_t, and
    c_t for an LSTM): the per-step curve of ∂L/∂h_t for the built-in layers.
    """
    roots = list(root) if isinstance(root, (list, tuple)) else [root]
    g = _Graph(roots)
    draw_id = {n: None for n in g.order}
    boundary = _group_boundaries(g, draw_id, "time", None)
    per_layer = defaultdict(dict)
    for key, nodes in boundary.items():
        norms = [n.grad_norm for n in nodes if n.grad_norm is not None]
        t = int(key[-1][1:])
        per_layer["/".join(key[:-1])][t] = math.sqrt(sum(x * x for x in norms)) if norms else 0.0
    return {layer: [steps[t] for t in sorted(steps)] for layer, steps in sorted(per_layer.items())}


def grad_norms_by_scope(root, depth=None) -> dict:
    """{scope path (cut to ``depth``): largest ‖grad‖ of any op recorded in it}, after backward."""
    roots = list(root) if isinstance(root, (list, tuple)) else [root]
    out = {}
    for node in _Graph(roots).order:
        if node.grad_norm is None:
            continue
        key = "/".join(node.scope[:depth] if depth else node.scope) or "(top)"
        out[key] = max(out.get(key, 0.0), node.grad_norm)
    return dict(sorted(out.items()))
