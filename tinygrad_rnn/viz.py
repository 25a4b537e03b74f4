"""Draw the recorded computation graph with Graphviz, readable even for an unrolled LSTM.

``draw_graph(root, ...)`` returns a ``graphviz.Digraph`` (it shows inline in Jupyter; export with
``.render()`` / ``.pipe(format="svg")`` or :func:`render`). It reads the graph, never changes it.

- **Nodes**: an op shows its name (``Tensor.named`` puts the name first: ``forget gate σ``,
  ``cell candidate tanh``, ``c_t +``) and output shape; a leaf its ``Tensor.name``, else its
  parameter name (``params=dict(model.named_parameters())``), else "input" or a constant's value.
  Optionally values (``show_values``) and, after ``backward()``, ‖grad‖ (``show_grads``).
- **Edges** go from inputs to the op that uses them; where argument order matters (sub, div,
  matmul, linear, pow, where, cat, stack) they carry the argument index, and the outputs of a
  multi-output op (split, unbind) carry theirs in brackets.
- **Clusters**: one nested ``cluster_`` subgraph per scope element — module, layer, time step
  (e.g. ``lstm`` › ``l0`` › ``t3``) — from the scope path every node recorded.
- **The textbook grid** (``collapse="time"``): one node per (layer, direction, time step), a row
  per layer and direction, time left→right, layers bottom→top, inputs below and the loss above;
  each weight is drawn once per layer ("used at T steps") with one edge to its row.
  ``collapse=k`` draws every scope at depth k as one node. Past ``max_nodes`` the graph
  collapses by itself (by time, then shallower scopes, then keeps the ops nearest the root).
- **Gradient heat**: after a backward run inside ``with tg.track_grad_norms():`` (which records
  ‖grad‖ on every node; importing this module switches nothing on, and without it only the
  weights are coloured and the title says how to get the rest), nodes are filled by log10
  ‖grad‖ on a fixed scale from 1e-8 (pale) to 1e2 (dark red); a time step by ‖∂L/∂h_t‖, so a
  vanishing gradient fades from right to left. Exactly 0 has its own colour (blue-grey),
  NaN/Inf is magenta; the legend shows the scale.
- **Highlight**: ``highlight=tensor`` or a list bolds the paths from those tensors (leaves or
  intermediates) to the root; ``highlight="cell"`` bolds the LSTM cell-state path c_0 → c_T.
  ``dim_unused=True`` greys what leads to no parameter.
- **Fast layout**: outside the grid, a leaf used by more than ``share_threshold`` ops (a weight
  used at every step of a long loop) is drawn as a small copy beside each use, each marked "same
  tensor, n uses", instead of one hub with hundreds of edges, which ``dot`` lays out slowly; a
  leaf used a few times is drawn once.
- **Legend**: the heat scale (with bins for exactly 0 and for NaN/Inf) and what the edge labels
  of this drawing mean.

The drawing is made in phases by ``_Drawing`` (read, choose, label and place, edges, emit,
legend); it reads the graph through the graph view (``tinygrad_rnn.graphview``), the only code
that knows how the engine links its nodes.
"""
from __future__ import annotations

import math
import pathlib
import re
from collections import defaultdict

import numpy as np

from .graphview import GraphView, array_of, grad_norm_of, group_key, is_cell_state
from .nn.labels import C_T, H_T, Layer
from .tensor import Tensor

ORDERED_OPS = {"sub", "div", "matmul", "linear", "pow", "where", "cat", "stack"}
HEAT_RANGE = (-8.0, 2.0)  # log10 ‖grad‖ from pale to dark
NONFINITE_COLOR = "#ff00ff"
ZERO_COLOR = "#b9cfe6"  # a gradient of exactly 0 (no path to the loss, or a zero state): not "small"
SYMBOLS = {"sigmoid": "σ", "add": "+", "sub": "−", "mul": "×", "div": "÷", "matmul": "@"}



def heat_color(norm):
    """Fill colour for a gradient norm on the fixed log scale (None: white; exactly 0: its own
    colour, ``ZERO_COLOR``; NaN/Inf: ``NONFINITE_COLOR``)."""
    if norm is None:
        return "#ffffff"
    if not math.isfinite(norm):
        return NONFINITE_COLOR
    if norm == 0:
        return ZERO_COLOR
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
# (the graph view, graphview.py, reads how nodes link; this module only draws what it gives)

def _count_drawn(g, collapse, hub_limit=8):
    """How many nodes a drawing would have: ops or groups, leaf copies and hub references."""
    key = {}
    for node in g.order:
        k = group_key(node.scope, collapse)
        key[node] = node if k is None else k
    if collapse == "time":  # the grid draws each leaf once and bundles edges: no copies
        return len(set(key.values())) + len(g.leaves)
    leaf_uses, fan_out = defaultdict(set), defaultdict(set)
    for p, consumer, _ in g.uses:
        dst = key[consumer]
        if p.node is None:
            leaf_uses[id(p)].add(dst)
        elif key[p.node] != dst:
            fan_out[key[p.node]].add(dst)
    refs = sum(len(d) for d in fan_out.values() if len(d) > hub_limit)
    return len(set(key.values())) + sum(len(d) for d in leaf_uses.values()) + refs


def _step_norm(nodes):
    """The heat of a group of ops: ‖∂L/∂h_t‖ of its "h_t" nodes when it has them (the quantity
    whose fading across time is the vanishing gradient), else the largest ‖grad‖ in it."""
    norms = [n.grad_norm for n in nodes if n.grad_norm is not None]
    h = [n.grad_norm for n in nodes if n.label == H_T and n.grad_norm is not None]
    if h:
        return max(h), "‖∂L/∂h_t‖"
    return (max(norms), "max ‖g‖") if norms else (None, "")


# ---------------------------------------------------------------- drawing

def draw_graph(root, params=None, show_values=False, show_grads=True, collapse=None,
               max_nodes=400, highlight=None, dim_unused=False, duplicate_shared_leaves=True,
               share_threshold=8, rankdir="TB", title=None):
    """Render the graph that produced ``root`` (a Tensor, or a list of Tensors; a leaf draws
    just the leaf). Returns a ``graphviz.Digraph``.

    - ``params``: ``dict(model.named_parameters())``, names for the weight leaves (a leaf's own
      ``Tensor.name`` comes first).
    - ``show_values``: a value summary on each node (intermediates only when held or recorded
      under ``tg.keep_values()``); ``show_grads``: ‖grad‖ text and the heat colours.
    - ``collapse``: None; ``"time"`` (one node per layer, direction and time step, in the
      textbook grid: time left→right, layers bottom→top, each weight once per layer); or an int k
      (every scope at depth k as one node).
    - ``max_nodes``: past it the graph collapses by itself (by time, then shallower scopes, then
      keeps the ops nearest the root) and says so in its title. A grid asked for with
      ``collapse="time"`` is drawn whole (each step is one node with few edges: dot lays out a
      100-step, 2-layer bidirectional LSTM in well under a second).
    - ``highlight``: a Tensor or a list of them (leaves or intermediates): bold the paths from
      them to the root; ``"cell"``: bold the LSTM cell-state path (nodes named "c_t", and a
      leaf named "c_0") — it may be an item of the list.
    - ``dim_unused``: grey what leads to no parameter.
    - ``duplicate_shared_leaves`` / ``share_threshold``: outside the grid, a leaf or an op used
      by more than ``share_threshold`` others is drawn as a small marked copy (a reference note
      for an op) beside each use (hubs make ``dot`` slow); False: always drawn once.
    - ``rankdir``: Graphviz's direction outside the grid (the grid runs bottom→top); ``title``.

    The result also carries ``tg_nodes`` (DOT node name → the engine Nodes it stands for: one
    for an op, the members of a collapsed group, empty for a leaf or a note), ``tg_leaves``
    (DOT node name → leaf Tensor) and ``tg_kinds`` (DOT node name → "op", "group", "ref" (a
    small copy of an op beside one use), "leaf" or "note"). DOT names come from the drawing's
    own walk (the first op drawn is ``n0``), so the same program gives the same bytes.
    """
    return _Drawing(root, params, show_values, show_grads, collapse, max_nodes, highlight,
                    dim_unused, duplicate_shared_leaves, share_threshold, rankdir, title).build()


class _Drawing:
    """One drawing, phase by phase: read the graph, choose what to draw, label, emit DOT."""

    def __init__(self, root, params, show_values, show_grads, collapse, max_nodes, highlight,
                 dim_unused, duplicate_shared_leaves, share_threshold, rankdir, title):
        self.roots = list(root) if isinstance(root, (list, tuple)) else [root]
        for r in self.roots:
            if not isinstance(r, Tensor):
                raise TypeError(f"draw_graph: expected Tensors, got {type(r).__name__}")
        if collapse is not None and collapse != "time" and not (isinstance(collapse, int)
                                                                and collapse > 0):
            raise ValueError(f"draw_graph: collapse must be None, 'time' or a positive depth, "
                             f"got {collapse!r}")
        items = [] if highlight is None else (
            list(highlight) if isinstance(highlight, (list, tuple)) else [highlight])
        for h in items:
            if not (isinstance(h, Tensor) or (isinstance(h, str) and h == "cell")):
                raise TypeError(f"draw_graph: highlight takes a Tensor, a list of Tensors or "
                                f"'cell', got {h!r}")
        self.highlight = [h for h in items if isinstance(h, Tensor)]
        self.highlight_cell = any(isinstance(h, str) for h in items)
        self.names = {id(p): name for name, p in (params or {}).items()}
        self.show_values, self.show_grads, self.collapse = show_values, show_grads, collapse
        self.max_nodes, self.dim_unused, self.rankdir, self.title = (max_nodes, dim_unused,
                                                                     rankdir, title)
        self.hub_limit = share_threshold if duplicate_shared_leaves else float("inf")
        self.notes, self.any_grads = [], False
        self.placed = defaultdict(list)  # scope path -> [(DOT name, label, attrs)]
        self.cluster_label, self.same_rank = {}, defaultdict(list)
        self.dot_edges = {}  # (src, dst, label) -> attrs
        self.tg_nodes, self.tg_leaves, self.tg_kinds = {}, {}, {}

    def build(self):
        import graphviz

        self.read()
        self.choose()
        self.trace_highlights()
        self.place_nodes()
        self.place_edges()
        dot = graphviz.Digraph("graph", graph_attr={
            "rankdir": "BT" if self.grid else self.rankdir, "fontsize": "12",
            "fontname": "Helvetica", "compound": "true", "newrank": "true",
            # dot's last crossing-reduction pass reorders a grid row against its time edges
            **({"remincross": "false"} if self.grid else {})},
            node_attr={"fontname": "Helvetica", "fontsize": "10", "style": "filled",
                       "fillcolor": "#ffffff"},
            edge_attr={"fontname": "Helvetica", "fontsize": "8"})
        if self.show_grads and self.g.order and not self.g.has_grad_norms() and \
                any(grad_norm_of(t) is not None for t in self.g.leaves):
            self.notes.append("no gradient heat on ops: run backward inside "
                              "`with tg.track_grad_norms():` to record it")
        label = "\\n".join(([self.title] if self.title else []) + self.notes)
        if label:
            dot.attr(label=label, labelloc="t")
        self.emit(dot)
        labels = {a.get("label", "")[:1] for a in self.dot_edges.values()} - {""}
        if self.any_grads or labels:
            self.legend(dot, self.any_grads, labels)
        dot.tg_nodes, dot.tg_leaves, dot.tg_kinds = self.tg_nodes, self.tg_leaves, self.tg_kinds
        return dot

    # ------------------------------------------------------------ 1. read
    def read(self):
        self.g = GraphView(self.roots, known=self.highlight)

    # ------------------------------------------------------------ 2. choose what to draw
    def choose(self):
        g, collapse, max_nodes = self.g, self.collapse, self.max_nodes
        total = len(g.order)
        limit = self.hub_limit
        if max_nodes and collapse is None and _count_drawn(g, None, limit) > max_nodes:
            depths = sorted({len(n.scope) for n in g.order}, reverse=True)
            for candidate in ["time", *[d for d in depths if d > 0]]:
                if _count_drawn(g, candidate, limit) <= max_nodes:
                    collapse = candidate
                    break
            else:
                collapse = 1 if any(n.scope for n in g.order) else None
            if collapse is not None:
                how = "by time step" if collapse == "time" else f"to scope depth {collapse}"
                self.notes.append(f"collapsed {how}: {total:,} ops > max_nodes={max_nodes}")
        self.keep = None
        # a grid asked for is drawn whole: a step is one node with few edges
        asked_grid = self.collapse == "time" and any(group_key(n.scope, "time")
                                                     for n in g.order)
        if max_nodes and not asked_grid and _count_drawn(g, collapse, limit) > max_nodes:
            self.keep = set(_nearest_ops(g, self.roots, max_nodes))
            self.notes.append(f"showing the {len(self.keep):,} ops nearest the output of "
                              f"{total:,}")
        self.collapse = collapse
        self.draw_id, self.group_of, self.members = {}, {}, defaultdict(list)
        self.group_name = {}
        for k, node in enumerate(g.order):  # names from this drawing's walk: the same bytes
            if self.keep is not None and node not in self.keep:  # for the same program
                continue
            key = group_key(node.scope, collapse)
            if key is None:
                self.draw_id[node] = f"n{k}"
            else:
                name = self.group_name.setdefault(key, "g_" + _dot_safe(key))
                self.draw_id[node], self.group_of[node] = name, key
                self.members[key].append(node)
        self.grid = collapse == "time" and bool(self.members)
        # the grid: (row, column) of each collapsed time step; a row is a layer and direction
        self.cell = {name: (key[:-1], key[-1].t) for key, name in self.group_name.items()} \
            if self.grid else {}

    # ------------------------------------------------------------ highlighted paths
    def trace_highlights(self):
        g = self.g
        self.targets = {GraphView.key(t) for t in self.highlight}
        self.leads = _leads_to(g, self.targets) if self.highlight else None
        self.params_ids = {id(t) for t in g.leaves if t.requires_grad}
        self.useful = _leads_to(g, self.params_ids) if self.dim_unused else None
        self.cell_uses = self._cell_path() if self.highlight_cell else set()

    def _cell_path(self):
        """The uses (input, consumer) on a path from one cell state to the next (c_{t-1} →
        f·c_{t-1} → c_t) that runs through no other named node (no gate, no h_t)."""
        g = self.g

        def passes(p):  # an unnamed op carrying a cell state on
            return p.node is not None and p.node.label is None and from_c.get(p.node, False)

        from_c = {}
        for node in g.order:
            from_c[node] = any(is_cell_state(p) or passes(p) for p in g.inputs[node])
        to_c = defaultdict(bool)
        for p, consumer, _ in sorted(g.uses, key=lambda u: -u[1].id):
            if consumer.label == C_T or (consumer.label is None and to_c[consumer]):
                if p.node is not None:
                    to_c[p.node] = True
        uses = set()
        for p, consumer, i in g.uses:
            into = consumer.label == C_T or (consumer.label is None and to_c[consumer])
            if into and (is_cell_state(p) or passes(p)):
                uses.add((consumer, i))
        return uses

    # ------------------------------------------------------------ 3. label and place nodes
    def fill(self, norm):
        if norm is None or not self.show_grads:
            return {}
        self.any_grads = True
        color = heat_color(norm)
        return {"fillcolor": color, "fontcolor": _font_color(color)}

    def op_label(self, node):
        shapes = ", ".join(str(s) for s in self.g.shapes(node))
        head = f"{node.label} {SYMBOLS.get(node.name, node.name)}" if node.label else node.name
        lines = [head, shapes]
        outs = self.g.outputs.get(node, {})
        if self.show_values and outs:
            value = array_of(min(outs.items())[1])
            lines.append("value not kept" if value is None else _summary(value))
        if self.show_grads and node.grad_norm is not None:
            lines.append(f"‖g‖ {_fmt(node.grad_norm)}")
        return "\\n".join(_cut(s, 48) for s in lines)

    def group_label(self, key, nodes):
        norm, what = _step_norm(nodes)
        lines = [" ".join(key[-2:]) if len(key) > 1 else key[0], f"{len(nodes)} ops"]
        if self.show_grads and norm is not None:
            lines.append(f"{what} {_fmt(norm)}")
        return "\\n".join(lines), norm

    def leaf_label(self, t, small=False, scope=(), steps=0, copies=0):
        data = array_of(t)
        name = t.name or self.names.get(id(t))
        if name is None:
            if t.requires_grad:  # no name given: say which module used it
                name = f"{'/'.join(scope)} param" if scope else "leaf"
            elif data is not None and data.size == 1:
                name = _fmt(float(data.reshape(-1)[0])) if t.dtype.kind in "fiu" else "const"
            else:
                name = "input"
        lines = [_cut(name), str(tuple(t.shape))]
        if steps > 1:
            lines.append(f"used at {steps} steps")
        if copies:  # one tensor drawn beside each of its uses: say so on every copy
            lines.append(f"same tensor, {copies} uses")
        if self.show_values and data is not None and data.size > 1:
            lines.append(_summary(data))
        if self.show_grads and grad_norm_of(t) is not None:
            lines.append(f"‖g‖ {_fmt(grad_norm_of(t))}")
        constant = not t.requires_grad and data is not None and data.size == 1
        attrs = {"shape": "plaintext" if constant else "ellipse",
                 "fillcolor": "#e8f0fe" if t.requires_grad else "#f4f4f4"}
        if small or constant:
            attrs["fontsize"] = "8"
        if t.requires_grad:
            attrs.update(self.fill(grad_norm_of(t)))
        elif self.useful is not None:
            attrs.update(color="#bbbbbb", fontcolor="#999999")
        return "\\n".join(lines), attrs

    def put(self, scope, name, label, attrs, nodes=(), leaf=None, kind="note"):
        self.placed[scope].append((name, label, attrs))
        self.tg_nodes[name] = list(nodes)
        self.tg_kinds[name] = "leaf" if leaf is not None else kind
        if leaf is not None:
            self.tg_leaves[name] = leaf

    def beside(self, scope):
        """The cluster for a node of ``scope`` (or a small copy next to it)."""
        if self.grid:
            return ()
        key = group_key(scope, self.collapse)
        return scope if key is None else key[:-1]

    def place_nodes(self):
        for node in self.g.order:
            if node not in self.draw_id or node in self.group_of:
                continue
            attrs = {"shape": "box", "style": "rounded,filled", **self.fill(node.grad_norm)}
            if self.useful is not None and not self.useful.get(node, False):
                attrs.update(color="#bbbbbb", fontcolor="#999999")
            if self.highlight_cell and node.label == C_T:
                attrs.update(penwidth="2.5")
            self.put(self.beside(node.scope), self.draw_id[node], self.op_label(node), attrs,
                     [node], kind="op")
        for key, name in self.group_name.items():
            nodes = self.members[key]
            label, norm = self.group_label(key, nodes)
            attrs = {"shape": "box3d", **self.fill(norm)}
            if self.grid:
                row = _row_scope(key[:-1])
                self.same_rank[row].append(name)
                self.put(row, name, label, attrs, nodes, kind="group")
            else:
                self.put(key[:-1], name, label, attrs, nodes, kind="group")
        if self.grid:
            for key in self.group_name:
                row, steps = key[:-1], sorted(t for r, t in self.cell.values() if r == key[:-1])
                self.cluster_label[_row_scope(row)] = (f"{' › '.join(row)}   t{steps[0]} … "
                                                        f"t{steps[-1]}")

    # ------------------------------------------------------------ 4. edges
    def place_edges(self):
        g, draw_id = self.g, self.draw_id
        leaf_id = {id(t): f"leaf{k}" for k, t in enumerate(g.leaves)}
        use_count, steps_of, scopes_of = defaultdict(int), defaultdict(set), defaultdict(list)
        for p, consumer, _ in g.uses:
            if consumer in draw_id and p.node is None:
                use_count[id(p)] += 1
                scopes_of[id(p)].append(self.beside(consumer.scope))
                if consumer in self.group_of:
                    steps_of[id(p)].add(draw_id[consumer])
        drawn = set()
        candidates = []  # (src, dst, label, input, consumer, bold)
        for p, consumer, arg in sorted(g.uses, key=lambda u: (u[1].id, u[2])):
            if consumer not in draw_id:
                continue
            dst = draw_id[consumer]
            label = str(arg) if consumer.name in ORDERED_OPS and len(g.inputs[consumer]) > 1 \
                else ""
            if p.node is None:
                shared = not self.grid and use_count[id(p)] > self.hub_limit
                src = f"{leaf_id[id(p)]}_{dst}" if shared else leaf_id[id(p)]
                if src not in drawn:
                    drawn.add(src)
                    scope = self.beside(consumer.scope) if shared else \
                        _common_prefix(scopes_of[id(p)]) if self.grid else ()
                    text, attrs = self.leaf_label(p, shared, consumer.scope,
                                                  len(steps_of[id(p)]) if self.grid else 0,
                                                  use_count[id(p)] if shared else 0)
                    self.put(scope, src, text, attrs, leaf=p)
            elif p.node in draw_id:
                src = draw_id[p.node]
                if src == dst:
                    continue  # inside one collapsed group
                if len(self.g.shapes(p.node)) > 1:
                    label = f"[{p.output_index}]" + (f" {label}" if label else "")
            else:
                continue
            bold = (self.leads is not None and _on_path(p, self.leads, self.targets)
                    and self.leads.get(consumer, False)) or (consumer, arg) in self.cell_uses
            grey = self.useful is not None and not _on_path(p, self.useful, self.params_ids)
            candidates.append((src, dst, label, p, consumer, bold, grey))
        for t in self.roots:  # draw_graph(leaf): the leaf alone
            if t.node is None and leaf_id[id(t)] not in drawn:
                text, attrs = self.leaf_label(t)
                self.put((), leaf_id[id(t)], text, attrs, leaf=t)
        if self.grid:
            self._grid_edges(candidates)
        else:
            self._plain_edges(candidates)

    def _edge(self, src, dst, label="", bold=False, grey=False, **extra):
        attrs = self.dot_edges.setdefault((src, dst, label), dict({"label": label} if label else {},
                                                              **extra))
        if bold:
            attrs.update(penwidth="2.5", color="#1f4e9a")
        elif grey and "penwidth" not in attrs:
            attrs.update(color="#cccccc")

    def _plain_edges(self, candidates):
        """Hubs make dot slow: a node feeding many others gets a small reference copy beside
        each use; a node fed by many others keeps its first and last inputs and a "+k more"."""
        fan_out, fan_in, incoming = defaultdict(set), defaultdict(set), defaultdict(list)
        for src, dst, _, p, *_ in candidates:
            incoming[dst].append(src)
            if p.node is not None:
                fan_out[src].add(dst)
                fan_in[dst].add(src)
        skipped = defaultdict(int)
        for src, dst, label, p, consumer, bold, grey in candidates:
            if p.node is not None and len(fan_out[src]) > self.hub_limit:
                ref = f"{src}_ref_{dst}"
                if ref not in self.tg_nodes:
                    self.put(self.beside(consumer.scope), ref, self._ref_label(p),
                             {"shape": "note", "fontsize": "8", "fillcolor": "#f4f4f4"},
                             [p.node], kind="ref")
                src = ref
            elif p.node is not None and len(fan_in[dst]) > self.hub_limit and \
                    src not in (incoming[dst][0], incoming[dst][-1]):
                skipped[dst] += 1
                continue
            self._edge(src, dst, label, bold, grey)
        for dst, k in skipped.items():
            note = f"{dst}_more"
            self.put((), note, f"+{k} more inputs",
                     {"shape": "plaintext", "fontsize": "8", "style": ""})
            self._edge(note, dst, style="dashed", color="#888888")

    def _grid_edges(self, candidates):
        """The textbook grid: edges along a row run left→right (a reverse direction's arrows
        point back); what feeds many steps of a row (a weight, the input projection) or is fed
        by them (the stacked outputs) gets one edge to or from the row's box, labelled ×k."""
        cell = self.cell
        bundles = defaultdict(list)  # ("in", src, row) / ("out", row, dst) -> [(t, bold, grey)]
        for src, dst, label, p, consumer, bold, grey in candidates:
            if src in cell and dst in cell and cell[src][0] == cell[dst][0]:
                # one unlabelled edge per pair of steps (dot misorders a rank's labelled edges)
                if cell[src][1] <= cell[dst][1]:
                    self._edge(src, dst, "", bold, grey)
                else:  # the reverse direction: keep time left→right, arrow pointing back
                    self._edge(dst, src, "", bold, grey, dir="back")
            elif dst in cell and src not in cell:
                bundles[("in", src, cell[dst][0])].append((cell[dst][1], dst, bold, grey))
            elif src in cell and dst not in cell:
                bundles[("out", cell[src][0], dst)].append((cell[src][1], src, bold, grey))
            else:
                self._edge(src, dst, label, bold, grey)
        for (way, a, b), ends in bundles.items():
            ends.sort()
            bold, grey = any(e[2] for e in ends), all(e[3] for e in ends)
            n = len({e[1] for e in ends})
            if n == 1:
                self._edge(*((a, ends[0][1]) if way == "in" else (ends[0][1], b)), "", bold, grey)
                continue
            box = "cluster_" + _dot_safe(_row_scope(b if way == "in" else a))
            if way == "in":
                self._edge(a, ends[len(ends) // 2][1], f"×{n}", bold, grey, lhead=box)
            else:
                self._edge(ends[-1][1], b, f"×{n}", bold, grey, ltail=box)
        # order each row by time, and line the rows of one module up by column
        rows = defaultdict(dict)
        for name, (row, t) in cell.items():
            rows[row][t] = name
        for row, cols in rows.items():
            ts = sorted(cols)
            for a, b in zip(ts, ts[1:]):
                if (cols[a], cols[b], "") not in self.dot_edges:
                    self._edge(cols[a], cols[b], style="invis", weight="5")
        # stack the rows of one module (a reverse direction above its forward one), columns
        # lined up by time
        ordered = sorted(rows, key=_row_order)
        for lower, upper in zip(ordered, ordered[1:]):
            if lower[:-1] == upper[:-1]:
                for t in sorted(set(rows[lower]) & set(rows[upper])):
                    self._edge(rows[lower][t], rows[upper][t], style="invis")

    def _ref_label(self, p):
        node = p.node
        inputs = self.g.inputs.get(node, [])
        base = self.names.get(id(inputs[0])) if inputs and inputs[0].node is None else None
        if node.name == "permute" and base:
            return f"{base}ᵀ"
        if node.name == "add" and base:  # b_ih + b_hh folded once per layer
            return f"{base} + …"
        return f"{node.name} {'/'.join(node.scope[-2:])}".strip() + (f" ({base})" if base else "")

    # ------------------------------------------------------------ 5. emit DOT
    def emit(self, dot):
        """Write nodes into nested clusters, one per scope element (in the grid: one box per
        row of time steps, its steps on one rank), then the edges."""
        tree = {}
        for scope in self.placed:
            node = tree
            for part in scope:
                node = node.setdefault(part, {})

        def fill(graph, prefix, subtree):
            for name, label, attrs in self.placed.get(prefix, []):
                graph.node(name, label=label, **attrs)
            if self.same_rank.get(prefix):
                with graph.subgraph() as same:
                    same.attr(rank="same")
                    for name in self.same_rank[prefix]:
                        same.node(name)
            for part, child in subtree.items():
                path = prefix + (part,)
                with graph.subgraph(name="cluster_" + _dot_safe(path)) as sub:
                    sub.attr(label=self.cluster_label.get(path, part), style="rounded,dashed",
                             color="#888888", fontsize="10")
                    fill(sub, path, child)

        fill(dot, (), tree)
        for (src, dst, _), attrs in self.dot_edges.items():
            dot.edge(src, dst, **attrs)

    # ------------------------------------------------------------ 6. legend
    @staticmethod
    def legend(dot, heat=True, edge_labels=()):
        """The key: the heat scale as a colour bar (with a bin for exactly 0 and one for
        NaN/Inf), and what the edge labels in this drawing mean."""
        rows = []
        if heat:
            lo, hi = HEAT_RANGE
            cells = ['<td>‖grad‖</td>', f'<td bgcolor="{ZERO_COLOR}"> 0 </td>']
            for e in range(int(lo), int(hi) + 1, 2):
                fill = heat_color(10.0 ** e)
                cells.append(f'<td bgcolor="{fill}"><font color="{_font_color(fill)}">1e{e}'
                             f'</font></td>')
            cells.append(f'<td bgcolor="{NONFINITE_COLOR}">NaN/Inf</td>')
            cells.append('<td>white: no gradient</td>')
            rows.append(f'<tr>{"".join(cells)}</tr>')
        keys = []
        if edge_labels & set("0123456789"):
            keys.append("0, 1 … argument position (a − b: a is 0)")
        if "[" in edge_labels:
            keys.append("[k] output k of split/unbind")
        if "×" in edge_labels:
            keys.append("×k one edge for k time steps")
        if keys:
            span = f' colspan="{len(cells)}"' if heat else ""
            rows.append(f'<tr><td{span} align="left">edge labels: {" · ".join(keys)}</td></tr>')
        dot.node("legend", label=f'<<table border="0" cellborder="0" cellspacing="0" '
                                 f'cellpadding="3">{"".join(rows)}</table>>',
                 shape="plaintext", style="", fontsize="10")


def _row_scope(row):
    """The one cluster (not nested) holding a grid row's time steps."""
    return ("/".join(row) + "/steps",)


def _dot_safe(path):
    return "_".join(re.sub(r"\W", "_", p) for p in path)


def _row_order(row):
    """Rows of the grid bottom→top: by module, layer number, forward before reverse."""
    *outer, last = row
    if isinstance(last, Layer):
        return (outer, last.layer, last.reverse, "")
    return (outer, 0, False, last)


def _common_prefix(scopes):
    if not scopes:
        return ()
    first = scopes[0]
    k = 0
    while k < len(first) and all(len(s) > k and s[k] == first[k] for s in scopes):
        k += 1
    return first[:k]


def _leads_to(g, targets):
    """For every node: does one of its inputs (transitively) come from a target?"""
    leads = {}
    for node in g.order:  # increasing id: parents first
        leads[node] = any(_on_path(p, leads, targets) for p in g.inputs[node])
    return leads


def _on_path(t, leads, targets):
    """Is tensor ``t`` a target, or computed from one?"""
    return GraphView.key(t) in targets or (t.node is not None and leads.get(t.node, False))


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

def _recorded(view, what):
    if view.order and not view.has_grad_norms():
        raise ValueError(f"{what}: no per-node gradient norms were recorded; run the backward "
                         f"inside `with tg.track_grad_norms():`")
    return view


def time_step_grad_norms(root) -> dict:
    """{loop scope path: [‖grad‖ handed on by each time step, in time order]}, after a backward
    run under ``tg.track_grad_norms()`` (without it: a ValueError saying so).

    For each time step (a layer's ``…/l0/t3``, or the Nth call of a cell in a hand-written loop),
    the norm over the step's outputs that leave it (h_t, and c_t for an LSTM): the per-step curve
    of ∂L/∂h_t.
    """
    return _recorded(GraphView(root), "time_step_grad_norms").time_step_grad_norms()


def grad_norms_by_scope(root, depth=None) -> dict:
    """{scope path (cut to ``depth``): largest ‖grad‖ of any op recorded in it}, after a backward
    run under ``tg.track_grad_norms()`` (without it: a ValueError saying so)."""
    out = {}
    for node in _recorded(GraphView(root), "grad_norms_by_scope").order:
        if node.grad_norm is None:
            continue
        key = "/".join(node.scope[:depth] if depth else node.scope) or "(top)"
        out[key] = max(out.get(key, 0.0), node.grad_norm)
    return dict(sorted(out.items()))
