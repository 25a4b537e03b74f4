"""An interactive graph explorer in one self-contained HTML file, with a replay of backward.

    from tinygrad_rnn import explorer
    with tg.keep_values():                      # optional: lets the explorer show intermediates
        loss = model_loss(...)
    with explorer.record_backward() as rec:     # records the order backward visits the nodes
        loss.backward()
    explorer.explore(loss, "graph.html", params=dict(model.named_parameters()), record=rec)

The file holds the Graphviz drawing (``viz.draw_graph``) as inline SVG, the recorded data as JSON
and a little JavaScript; it needs no network and opens from disk. In the browser:

- wheel zooms, dragging pans;
- hovering a node shows its op, scope, label, shapes, and min/mean/max/‖·‖ and a histogram of its
  value (if kept) and of the gradient it received;
- clicking a node highlights everything it was computed from (ancestors) and everything computed
  from it (descendants); clicking the background clears;
- the replay slider (and play button) steps through the nodes in the order backward visited them,
  lighting each as it receives its gradient, and shows each weight's ‖grad‖ growing as the
  gradient contributions of its uses are summed. A collapsed group lights with its first member.

``show(...)`` returns an object that displays inline in Jupyter (an iframe).
"""
from __future__ import annotations

import html
import json
import math
import pathlib
import re

import numpy as np

from .engine import register_backward_hook
from .graphview import GraphView, array_of, grad_of
from .tensor import Tensor

HIST_BINS = 16
_records = []  # the last few BackwardRecords, newest last (explore's default record)


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
    gradients of every node (see :class:`BackwardRecord`) through ``tg.register_backward_hook``."""

    def __init__(self):
        self.record = BackwardRecord()
        self._handle = None

    def __enter__(self):
        self._handle = register_backward_hook(self.record.hook)
        return self.record

    def __exit__(self, *exc):
        self._handle.remove()
        self.record._sums.clear()  # only needed while summing
        _records.append(self.record)
        del _records[:-4]


def _latest_record(node_ids):
    """The newest record whose backward started at one of these nodes, or None."""
    for rec in reversed(_records):
        if rec.order and rec.order[0] in node_ids:
            return rec
    return None


# ---------------------------------------------------------------- which DOT node is what

def _kind(title, graph):
    """"op" for the element drawn for one op, "ref" for a small copy of it drawn beside one use,
    "group" for a collapsed group of ops (the drawing says which: ``tg_kinds``)."""
    return graph.tg_kinds.get(title, "group")


# ---------------------------------------------------------------- the page's data

def _shape(meta):
    return [list(shape) for shape, _ in meta]


def _page_data(roots, graph, params, record, svg):
    """Everything the page's script reads, as plain JSON-able data. ``graph`` is a
    ``viz.draw_graph`` result: its ``tg_nodes`` / ``tg_leaves`` say which engine Nodes or leaf
    Tensor each drawn element (by its DOT name, the SVG ``<title>``) stands for."""
    nodes_of, leaf_of = graph.tg_nodes, graph.tg_leaves
    names = {id(p): n for n, p in (params or {}).items()}
    view = GraphView(roots)
    visit = {nid: k for k, nid in enumerate(record.order)} if record else {}
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
        nodes[node.id] = {"op": node.name, "scope": "/".join(node.scope), "label": node.label,
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
            "order": list(record.order) if record else [],
            "recorded": record is not None}


# ---------------------------------------------------------------- the page

def build_html(root, collapse=None, params=None, record=None, title=None, **draw_kw) -> str:
    """The explorer page for the graph of ``root`` (a Tensor or a list of them) as one HTML
    string. ``record``: a :class:`BackwardRecord` (default: the latest one that visited this
    graph); ``params``: ``dict(model.named_parameters())`` to name the weights; other keyword
    arguments go to ``viz.draw_graph``."""
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
    if record is None:
        record = _latest_record({n.id for n in GraphView(roots).order})
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
    page = _TEMPLATE.replace("%%TITLE%%", html.escape(title or "tinygrad_rnn graph explorer"))
    page = page.replace("%%CSS%%", _CSS).replace("%%JS%%", _JS)
    page = page.replace("%%DATA%%", payload).replace("%%SVG%%", svg)
    return page


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
    path.write_text(page, encoding="utf-8")
    return path


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
        path.write_text(self.html, encoding="utf-8")
        return path


def show(root, collapse=None, params=None, record=None, height=640, **draw_kw):
    """The explorer for ``root`` as an object Jupyter displays inline."""
    return Explorer(build_html(root, collapse=collapse, params=params, record=record, **draw_kw),
                    height)


_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>%%TITLE%%</title>
<style>%%CSS%%</style></head>
<body>
<header><b>%%TITLE%%</b> <span class="hint">wheel: zoom · drag: pan · hover: details ·
click: ancestors (blue) and descendants (green) · Esc: clear</span></header>
<div id="view">%%SVG%%</div>
<div id="tip" hidden></div>
<footer id="replay">
 <button id="play" type="button">▶ play</button>
 <input id="step" type="range" min="0" max="0" value="0">
 <span id="status"></span>
 <div id="weights"></div>
</footer>
<script type="application/json" id="tg-data">%%DATA%%</script>
<script>%%JS%%</script>
</body></html>
"""

_CSS = """
html,body{margin:0;height:100%;font:13px Helvetica,Arial,sans-serif;overflow:hidden}
header{padding:4px 8px;background:#f3f3f3;border-bottom:1px solid #ccc}
.hint{color:#777;font-size:11px;margin-left:1em}
#view{position:absolute;top:27px;bottom:132px;left:0;right:0;cursor:grab;background:#fff}
#view.dragging{cursor:grabbing}
#view svg{width:100%;height:100%}
#tip{position:fixed;z-index:10;background:#fffff4;border:1px solid #888;padding:6px 8px;
 box-shadow:2px 2px 6px rgba(0,0,0,.25);max-width:380px;pointer-events:none;font-size:12px}
#tip table{border-collapse:collapse}#tip td{padding:0 6px 0 0;vertical-align:top}
#tip .k{color:#666}
footer{position:absolute;bottom:0;left:0;right:0;height:130px;background:#f7f7f7;
 border-top:1px solid #ccc;padding:4px 8px;box-sizing:border-box;overflow:auto}
#step{width:45%;vertical-align:middle}
#status{margin-left:8px}
#weights table{border-collapse:collapse;font-size:11px;margin-top:4px}
#weights td,#weights th{padding:0 8px 0 0;text-align:left}
g.node.lit>polygon,g.node.lit>ellipse,g.node.lit>path{stroke:#d62728;stroke-width:3px}
g.node.current>polygon,g.node.current>ellipse,g.node.current>path{stroke:#9400d3;stroke-width:5px}
.replaying g.node:not(.lit){opacity:.35}
g.node.hl-sel>polygon,g.node.hl-sel>ellipse,g.node.hl-sel>path{stroke:#000;stroke-width:4px}
g.node.hl-anc>polygon,g.node.hl-anc>ellipse,g.node.hl-anc>path{stroke:#1f77b4;stroke-width:3px}
g.node.hl-desc>polygon,g.node.hl-desc>ellipse,g.node.hl-desc>path{stroke:#2ca02c;stroke-width:3px}
.selecting g.node:not(.hl-sel):not(.hl-anc):not(.hl-desc){opacity:.25}
"""

_JS = r"""
(function () {
"use strict";
const D = JSON.parse(document.getElementById("tg-data").textContent);
const view = document.getElementById("view"), svg = view.querySelector("svg");
const tip = document.getElementById("tip");
const slider = document.getElementById("step"), playBtn = document.getElementById("play");
const statusEl = document.getElementById("status"), weightsEl = document.getElementById("weights");

// ---- the drawn elements and what they stand for
const els = [];                       // {g, kind, nodes:[ids], leaf}
for (const g of svg.querySelectorAll("g.node")) {
  const t = g.querySelector("title"); if (!t) continue;
  const info = D.elements[t.textContent]; if (!info) continue;
  const e = {g: g, kind: info.kind, nodes: info.nodes || [], leaf: info.leaf || null};
  g.dataset.kind = info.kind;
  g.classList.add("tg-" + info.kind);
  // first visit of any member: a collapsed group lights with its first member
  let first = Infinity;
  for (const id of e.nodes) { const v = D.nodes[id] && D.nodes[id].visit; if (v != null && v < first) first = v; }
  e.first = first;
  e.title = t.textContent;
  g._tg = e;
  els.push(e);
}
// a leaf (or a copy of it drawn beside one use) lights when the first op it feeds is visited:
// that op's backward is what hands it a gradient contribution
const byTitle = {};
for (const e of els) byTitle[e.title] = e;
const feeds = {};
for (const t of svg.querySelectorAll("g.edge > title")) {
  const ends = t.textContent.split("->");
  if (ends.length === 2 && byTitle[ends[0]] && byTitle[ends[1]]) (feeds[ends[0]] = feeds[ends[0]] || []).push(byTitle[ends[1]]);
}
for (const e of els) {
  if (!e.leaf) continue;
  for (const c of feeds[e.title] || []) if (c.first < e.first) e.first = c.first;
  const s = D.leaves[e.leaf].steps;
  if (e.first === Infinity && s.length) e.first = s[0][0];
}

// ---- pan and zoom: move the viewBox
const vb0 = svg.viewBox.baseVal;
let vb = {x: vb0.x, y: vb0.y, w: vb0.width, h: vb0.height};
svg.removeAttribute("width"); svg.removeAttribute("height");
function applyVB() { svg.setAttribute("viewBox", vb.x + " " + vb.y + " " + vb.w + " " + vb.h); }
applyVB();
function toGraph(ev) {
  const r = svg.getBoundingClientRect();
  const s = Math.max(vb.w / r.width, vb.h / r.height);   // preserveAspectRatio: meet
  const ox = (r.width * s - vb.w) / 2, oy = (r.height * s - vb.h) / 2;
  return {x: vb.x - ox + (ev.clientX - r.left) * s, y: vb.y - oy + (ev.clientY - r.top) * s, s: s};
}
view.addEventListener("wheel", function (ev) {
  ev.preventDefault();
  const p = toGraph(ev), f = Math.exp(ev.deltaY * 0.0015);
  vb = {x: p.x - (p.x - vb.x) * f, y: p.y - (p.y - vb.y) * f, w: vb.w * f, h: vb.h * f};
  applyVB();
}, {passive: false});
let drag = null, moved = false;
view.addEventListener("mousedown", function (ev) {
  drag = {x: ev.clientX, y: ev.clientY, vb: Object.assign({}, vb), s: toGraph(ev).s};
  moved = false;
});
window.addEventListener("mousemove", function (ev) {
  if (!drag) return;
  const dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
  if (Math.abs(dx) + Math.abs(dy) > 3) { moved = true; view.classList.add("dragging"); }
  vb.x = drag.vb.x - dx * drag.s; vb.y = drag.vb.y - dy * drag.s; applyVB();
});
window.addEventListener("mouseup", function () { drag = null; view.classList.remove("dragging"); });

// ---- formatting
function fmt(x) { if (x == null) return "–"; if (x === 0) return "0"; const a = Math.abs(x);
  return (a >= 1e4 || a < 1e-3) ? x.toExponential(2) : x.toPrecision(3); }
function shapes(list) { return list.map(function (s) { return "(" + s.join(", ") + ")"; }).join(", "); }
const ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"};
function esc(s) { return String(s).replace(/[&<>"]/g, function (c) { return ENTITIES[c]; }); }
function row(key, html) { return `<tr><td class="k">${key}</td><td>${html}</td></tr>`; }
function hist(st, color) {
  if (!st || !st.hist) return "";
  const h = st.hist, m = Math.max.apply(null, h) || 1, W = 160, H = 36, bw = W / h.length;
  let bars = "";
  h.forEach(function (c, i) {
    const bh = c / m * H;
    bars += `<rect x="${(i * bw).toFixed(1)}" y="${(H - bh).toFixed(1)}" ` +
            `width="${(bw - 1).toFixed(1)}" height="${bh.toFixed(1)}" fill="${color}"/>`;
  });
  return '<svg class="hist" width="' + W + '" height="' + (H + 12) + '">' + bars +
    `<text x="0" y="${H + 11}" font-size="9">${fmt(st.edges[0])}</text>` +
    `<text x="${W}" y="${H + 11}" font-size="9" text-anchor="end">${fmt(st.edges[1])}</text></svg>`;
}
function statRow(name, st, missing, color) {
  if (!st) return row(name, missing);
  if (!st.n) return row(name, "empty");
  let s = "min " + fmt(st.min) + " · mean " + fmt(st.mean) + " · max " + fmt(st.max) + " · ‖·‖ " + fmt(st.norm);
  if (st.nonfinite) s += " · " + st.nonfinite + " NaN/Inf";
  return row(name, s + "<br>" + hist(st, color));
}
function describe(e) {
  let rows = "";
  if (e.leaf) {
    const L = D.leaves[e.leaf];
    rows += row("leaf", `<b>${esc(L.name)}</b> ${shapes([L.shape])} ${L.dtype}`);
    rows += statRow("value", L.value, "–", "#4c72b0");
    rows += statRow("grad", L.grad, L.requires_grad ? "no gradient" : "needs no gradient", "#dd8452");
    if (L.steps.length) rows += row("backward", `${L.steps.length} contributions summed, ` +
                                    `first at step ${L.steps[0][0] + 1}`);
    return "<table>" + rows + "</table>";
  }
  const ids = e.nodes;
  if (ids.length > 1) {
    const n0 = D.nodes[ids[0]];
    rows += row("group", `<b>${esc(n0.scope)}</b>: ${ids.length} ops`);
    const first = e.first === Infinity ? "not visited" : "first visited at step " + (e.first + 1);
    rows += row("backward", first);
    const ops = {}; ids.forEach(function (i) { const o = D.nodes[i].op; ops[o] = (ops[o] || 0) + 1; });
    rows += row("ops", Object.keys(ops).map(function (o) { return esc(o) + "×" + ops[o]; })
                              .join(", "));
    return "<table>" + rows + "</table>";
  }
  const n = D.nodes[ids[0]];
  rows += row("op", `<b>${esc(n.op)}</b>` + (e.kind === "ref" ? " (a copy drawn beside a use)" : ""));
  rows += row("scope", esc(n.scope) || "(top level)");
  if (n.label) rows += row("label", esc(n.label));
  rows += row("shapes", shapes(n.in) + " → " + shapes(n.out));
  rows += statRow("value", n.value, "not kept (record under tg.keep_values())", "#4c72b0");
  rows += statRow("grad", n.grad, D.recorded ? "not visited by backward" : "no backward recorded", "#dd8452");
  if (n.visit != null) rows += row("backward", `visited at step ${n.visit + 1} of ${D.order.length}`);
  return "<table>" + rows + "</table>";
}
for (const e of els) {
  e.g.addEventListener("mouseenter", function () { tip.innerHTML = describe(e); tip.hidden = false; });
  e.g.addEventListener("mousemove", function (ev) {
    const w = tip.offsetWidth, h = tip.offsetHeight;
    let x = ev.clientX + 14, y = ev.clientY + 14;
    if (x + w > window.innerWidth) x = Math.max(0, ev.clientX - w - 14);
    if (y + h > window.innerHeight) y = Math.max(0, ev.clientY - h - 14);
    tip.style.left = x + "px"; tip.style.top = y + "px";
  });
  e.g.addEventListener("mouseleave", function () { tip.hidden = true; });
}

// ---- click: ancestors and descendants over the engine's graph
const children = {};
for (const id in D.nodes) for (const p of D.nodes[id].parents) (children[p] = children[p] || []).push(+id);
const leafUsers = {};
for (const id in D.nodes) for (const k of D.nodes[id].leaves) (leafUsers[k] = leafUsers[k] || []).push(+id);
function walk(start, next) {
  const seen = new Set(), stack = start.slice();
  while (stack.length) { const id = stack.pop(); for (const q of next(id)) if (!seen.has(q)) { seen.add(q); stack.push(q); } }
  return seen;
}
function clearSelection() {
  svg.classList.remove("selecting");
  for (const e of els) e.g.classList.remove("hl-sel", "hl-anc", "hl-desc");
}
function select(e) {
  clearSelection();
  const start = e.leaf ? [] : e.nodes;
  const anc = walk(start, function (id) { return D.nodes[id] ? D.nodes[id].parents : []; });
  const desc = walk(e.leaf ? (leafUsers[e.leaf] || []) : start, function (id) { return children[id] || []; });
  if (e.leaf) for (const id of leafUsers[e.leaf] || []) desc.add(id);
  const ancLeaves = new Set();
  for (const id of anc) for (const k of D.nodes[id].leaves) ancLeaves.add(k);
  for (const id of start) for (const k of D.nodes[id].leaves) ancLeaves.add(k);
  const own = new Set(start);
  for (const x of els) {
    const same = x.leaf ? x.leaf === e.leaf : x.nodes.some(function (id) { return own.has(id); });
    if (same) { x.g.classList.add("hl-sel"); continue; }
    if (x.leaf ? ancLeaves.has(x.leaf) : x.nodes.some(function (id) { return anc.has(id); })) x.g.classList.add("hl-anc");
    else if (!x.leaf && x.nodes.some(function (id) { return desc.has(id); })) x.g.classList.add("hl-desc");
  }
  svg.classList.add("selecting");
}
view.addEventListener("click", function (ev) {
  if (moved) return;
  const g = ev.target.closest("g.node");
  if (g && g._tg) select(g._tg); else clearSelection();
});
window.addEventListener("keydown", function (ev) { if (ev.key === "Escape") clearSelection(); });

// ---- backward replay
const N = D.order.length;
slider.max = N;
const weights = Object.keys(D.leaves).filter(function (k) { return D.leaves[k].steps.length; });
function weightTable(s) {
  if (!weights.length) return "";
  let rows = "<tr><th>weight</th><th>contributions</th><th>running ‖grad‖</th><th>final ‖grad‖</th></tr>";
  for (const k of weights) {
    const L = D.leaves[k]; let done = 0, norm = null;
    for (const st of L.steps) { if (st[0] < s) { done++; norm = st[2]; } }
    rows += `<tr data-leaf="${k}"><td>${esc(L.name)}</td><td>${done} / ${L.steps.length}</td>` +
            `<td class="running">${fmt(norm)}</td><td>${fmt(L.steps[L.steps.length - 1][2])}</td></tr>`;
  }
  return "<table>" + rows + "</table>";
}
function setStep(s) {
  s = Math.max(0, Math.min(N, s | 0));
  slider.value = s;
  svg.classList.toggle("replaying", s > 0 && s < N);
  const cur = s > 0 ? D.order[s - 1] : null;
  for (const e of els) {
    e.g.classList.toggle("lit", e.first < s);
    e.g.classList.toggle("current", cur != null && e.nodes.indexOf(cur) >= 0);
  }
  if (!D.recorded) statusEl.textContent = "no backward recorded: wrap loss.backward() in explorer.record_backward()";
  else if (s === 0) statusEl.textContent = "step 0 / " + N + ": before backward";
  else {
    const n = D.nodes[cur];
    statusEl.textContent = `step ${s} / ${N}: ${n.op}` + (n.scope ? " in " + n.scope : "") +
      (n.grad && n.grad.norm != null ? ", ‖grad out‖ " + fmt(n.grad.norm) : "");
  }
  weightsEl.innerHTML = weightTable(s);
}
slider.addEventListener("input", function () { stop(); setStep(+slider.value); });
let timer = null;
function stop() { if (timer) { clearInterval(timer); timer = null; } playBtn.textContent = "▶ play"; }
playBtn.addEventListener("click", function () {
  if (timer) { stop(); return; }
  if (+slider.value >= N) setStep(0);
  playBtn.textContent = "❚❚ pause";
  // about 8 s for the whole replay: one node per tick, or several on big graphs
  const dt = Math.max(20, Math.min(400, 8000 / Math.max(N, 1))), by = Math.ceil(N / 400);
  timer = setInterval(function () {
    const s = Math.min(N, +slider.value + by);
    setStep(s);
    if (s >= N) stop();
  }, dt);
});
setStep(0);
window.tgExplorer = {data: D, setStep: setStep,
  litCount: function (kind) { return svg.querySelectorAll("g.node.lit" + (kind ? ".tg-" + kind : "")).length; }};
})();
"""
