// The graph explorer's script. It reads the JSON the Python side embedded (tg-data) and the
// Graphviz SVG in #view; it loads nothing. Sections: the drawn elements, the view (zoom and pan),
// the hover tip and the side panel, selection, search, folding scopes, the backward replay.
(function () {
"use strict";
const D = JSON.parse(document.getElementById("tg-data").textContent);
const $ = function (id) { return document.getElementById(id); };
const view = $("view"), svg = view.querySelector("svg"), tip = $("tip"), panel = $("panel-body");
const slider = $("step"), playBtn = $("play"), statusEl = $("status"), weightsEl = $("weights");
const searchEl = $("search"), searchInfo = $("search-info");
const SVGNS = svg.namespaceURI;   // (the HTML parser put the inline svg in its namespace)
const LEGIBLE_PX = 10;   // node labels at least this tall (screen px) in the first view,
const SMALL_PX = 9;      // and the small ones (a weight's copy beside a use) this
const MAX_START = 1.6;   // and not blown up past this scale when the graph is small

// ---- geometry: boxes in the coordinates of the svg's viewBox
function boxOf(el) {
  const b = el.getBBox(), m = svg.getScreenCTM().inverse().multiply(el.getScreenCTM());
  const pts = [[b.x, b.y], [b.x + b.width, b.y + b.height]].map(function (p) {
    const q = svg.createSVGPoint(); q.x = p[0]; q.y = p[1]; return q.matrixTransform(m);
  });
  return {x: Math.min(pts[0].x, pts[1].x), y: Math.min(pts[0].y, pts[1].y),
          w: Math.abs(pts[1].x - pts[0].x), h: Math.abs(pts[1].y - pts[0].y)};
}
function inside(a, b) {   // a's centre inside b
  const cx = a.x + a.w / 2, cy = a.y + a.h / 2;
  return cx >= b.x && cx <= b.x + b.w && cy >= b.y && cy <= b.y + b.h;
}

// ---- names
function nodeName(id) {
  const n = D.nodes[id];
  return n ? n.name + (n.where ? ", " + n.where : "") : "?";
}
function elementName(e) {
  if (e.leaf) return D.leaves[e.leaf].name;
  if (e.kind === "fold") return e.cluster.name + " (folded)";
  if (e.nodes.length > 1) return D.nodes[e.nodes[0]].scope + " (" + e.nodes.length + " ops)";
  return nodeName(e.nodes[0]);
}

// ---- the drawn elements and what they stand for
const els = [];   // {g, kind, nodes:[ids], leaf, first, title, box, text}
for (const g of svg.querySelectorAll("g.node")) {
  const t = g.querySelector("title"); if (!t) continue;
  const info = D.elements[t.textContent]; if (!info) continue;
  const e = {g: g, kind: info.kind, nodes: info.nodes || [], leaf: info.leaf || null,
             title: t.textContent};
  g.classList.add("tg-" + info.kind);
  let first = Infinity;   // a collapsed group lights with its first member
  for (const id of e.nodes) { const v = D.nodes[id] && D.nodes[id].visit; if (v != null && v < first) first = v; }
  e.first = first;
  e.box = boxOf(g);
  const words = e.leaf ? [D.leaves[e.leaf].name]
    : e.nodes.map(function (id) { const n = D.nodes[id]; return [n.name, n.op, n.scope, n.where].join(" "); });
  e.text = words.join(" ").toLowerCase();
  g._tg = e;
  els.push(e);
}
// a leaf (or a copy of it drawn beside one use) lights when the first op it feeds is visited:
// that op's backward is what hands it a gradient term
const byTitle = {};
for (const e of els) byTitle[e.title] = e;
const edges = [];   // {g, from, to} (element titles)
for (const g of svg.querySelectorAll("g.edge")) {
  const t = g.querySelector("title"); if (!t) continue;
  const ends = t.textContent.split("->");
  if (ends.length === 2) edges.push({g: g, from: ends[0], to: ends[1]});
}
const feeds = {};
for (const ed of edges) if (byTitle[ed.from] && byTitle[ed.to]) (feeds[ed.from] = feeds[ed.from] || []).push(byTitle[ed.to]);
for (const e of els) {
  if (!e.leaf) continue;
  for (const c of feeds[e.title] || []) if (c.first < e.first) e.first = c.first;
  const s = D.leaves[e.leaf].steps;
  if (e.first === Infinity && s.length) e.first = s[0][0];
}
const start = D.order.length ? D.order[0] : D.roots[0];   // the loss: where backward starts
const lossEl = els.find(function (e) { return e.kind !== "ref" && e.nodes.indexOf(start) >= 0; }) || null;

// ---- the view: a camera (scale s in screen px per graph unit, top-left corner x, y)
const vb0 = svg.viewBox.baseVal;
const B = {x: vb0.x, y: vb0.y, w: vb0.width, h: vb0.height};
svg.removeAttribute("width"); svg.removeAttribute("height");
let nodeFont = 0, smallFont = Infinity;
for (const t of svg.querySelectorAll("g.node text")) {
  const f = parseFloat(t.getAttribute("font-size"));
  if (f > 0) { nodeFont = Math.max(nodeFont, f); smallFont = Math.min(smallFont, f); }
}
const legible = nodeFont ? Math.max(LEGIBLE_PX / nodeFont, SMALL_PX / smallFont) : 1;
let cam = {s: 1, x: B.x, y: B.y};
function area() { return {w: view.clientWidth || 1, h: view.clientHeight || 1}; }
function apply() {
  const a = area();
  svg.setAttribute("viewBox", cam.x + " " + cam.y + " " + a.w / cam.s + " " + a.h / cam.s);
}
function clampAxis(pos, span, lo, len) {   // keep the graph in view along one axis
  return span >= len ? lo - (span - len) / 2 : Math.min(Math.max(pos, lo), lo + len - span);
}
function lookAt(box, s) {
  const a = area();
  cam.s = s;
  const w = a.w / s, h = a.h / s;
  cam.x = clampAxis(box.x + box.w / 2 - w / 2, w, B.x, B.w);
  cam.y = clampAxis(box.y + box.h / 2 - h / 2, h, B.y, B.h);
  apply();
}
function fit() {
  const a = area();
  lookAt(B, Math.min(a.w / B.w, a.h / B.h));
}
function home() {   // legible, at the loss (where backward starts)
  const a = area();
  const whole = Math.min(a.w / B.w, a.h / B.h), width = a.w / B.w;
  const s = whole >= legible ? Math.min(whole, MAX_START) : Math.max(legible, Math.min(width, MAX_START));
  lookAt(lossEl ? lossEl.box : B, s);
}
function visible(e) {
  const a = area(), w = a.w / cam.s, h = a.h / cam.s, b = e.box;
  return b.x >= cam.x && b.y >= cam.y && b.x + b.w <= cam.x + w && b.y + b.h <= cam.y + h;
}
function centreOn(e) {
  const a = area(), s = Math.max(cam.s, legible);
  cam.s = s;
  cam.x = e.box.x + e.box.w / 2 - a.w / s / 2;
  cam.y = e.box.y + e.box.h / 2 - a.h / s / 2;
  apply();
}
function toGraph(ev) {
  const r = svg.getBoundingClientRect();
  return {x: cam.x + (ev.clientX - r.left) / cam.s, y: cam.y + (ev.clientY - r.top) / cam.s};
}
view.addEventListener("wheel", function (ev) {
  ev.preventDefault();
  const p = toGraph(ev), f = Math.exp(-ev.deltaY * 0.0015);
  const s = Math.min(20, Math.max(0.02, cam.s * f)), k = cam.s / s;
  cam.x = p.x - (p.x - cam.x) * k; cam.y = p.y - (p.y - cam.y) * k; cam.s = s;
  apply(); tip.hidden = true;
}, {passive: false});
let drag = null, moved = false;
view.addEventListener("mousedown", function (ev) {
  drag = {x: ev.clientX, y: ev.clientY, cx: cam.x, cy: cam.y}; moved = false;
});
window.addEventListener("mousemove", function (ev) {
  if (!drag) return;
  const dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
  if (Math.abs(dx) + Math.abs(dy) > 3) { moved = true; view.classList.add("dragging"); tip.hidden = true; }
  cam.x = drag.cx - dx / cam.s; cam.y = drag.cy - dy / cam.s; apply();
});
window.addEventListener("mouseup", function () { drag = null; view.classList.remove("dragging"); });
window.addEventListener("resize", apply);
$("fit").addEventListener("click", fit);
$("reset").addEventListener("click", home);

// ---- formatting
function fmt(x) { if (x == null) return "–"; if (x === 0) return "0"; const a = Math.abs(x);
  return (a >= 1e4 || a < 1e-3) ? x.toExponential(2) : x.toPrecision(3); }
function shapes(list) { return list.map(function (s) { return "(" + s.join(", ") + ")"; }).join(", "); }
const ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"};
function esc(s) { return String(s).replace(/[&<>"]/g, function (c) { return ENTITIES[c]; }); }
function row(key, html) { return `<tr><td class="k">${key}</td><td>${html}</td></tr>`; }
function hist(st, color) {
  if (!st || !st.hist) return "";
  const h = st.hist, m = Math.max.apply(null, h) || 1, W = 200, H = 40, bw = W / h.length;
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
  let s = "min " + fmt(st.min) + " · mean " + fmt(st.mean) + " · max " + fmt(st.max) + "<br>‖·‖ " + fmt(st.norm);
  if (st.nonfinite) s += " · " + st.nonfinite + " NaN/Inf";
  return row(name, s + "<br>" + hist(st, color));
}
function describe(e) {
  let rows = "";
  if (e.kind === "fold") {
    rows += row("scope", `<b>${esc(e.cluster.name)}</b> folded: ${e.nodes.length} ops`);
    rows += row("backward", e.first === Infinity ? "not visited" : "first visited at step " + (e.first + 1));
    return "<table>" + rows + "</table><p class='empty'>click the box to unfold it</p>";
  }
  if (e.leaf) {
    const L = D.leaves[e.leaf];
    rows += row("leaf", `<b>${esc(L.name)}</b>`);
    rows += row("shape", shapes([L.shape]) + " " + esc(L.dtype));
    rows += statRow("value", L.value, "–", "#4c72b0");
    rows += statRow("grad", L.grad, L.requires_grad ? "no gradient" : "needs no gradient", "#dd8452");
    if (L.steps.length) rows += row("backward", `${L.steps.length} gradient term${L.steps.length > 1 ? "s" : ""} summed, ` +
                                    `first at step ${L.steps[0][0] + 1}`);
    return "<table>" + rows + "</table>";
  }
  const ids = e.nodes;
  if (ids.length > 1) {
    const n0 = D.nodes[ids[0]];
    rows += row("group", `<b>${esc(n0.scope)}</b>: ${ids.length} ops`);
    rows += row("backward", e.first === Infinity ? "not visited" : "first visited at step " + (e.first + 1));
    const ops = {}; ids.forEach(function (i) { const o = D.nodes[i].op; ops[o] = (ops[o] || 0) + 1; });
    rows += row("ops", Object.keys(ops).map(function (o) { return esc(o) + "×" + ops[o]; }).join(", "));
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
const PANEL_EMPTY = "<p class='empty'>Click a node to see its op, scope, shapes, value and gradient here.</p>";
panel.innerHTML = PANEL_EMPTY;

// ---- hover: a short name beside the node, never over it
function showTip(e) {
  tip.innerHTML = "<b>" + esc(elementName(e)) + "</b>" +
    (e.nodes.length === 1 && D.nodes[e.nodes[0]] ? " · " + shapes(D.nodes[e.nodes[0]].out) : "");
  tip.hidden = false;
  const r = e.g.getBoundingClientRect(), w = tip.offsetWidth, h = tip.offsetHeight, gap = 8;
  let x = r.right + gap, y = r.top;
  if (x + w > window.innerWidth) x = r.left - w - gap;          // left of it
  if (x < 0) { x = Math.max(0, r.left); y = r.top - h - gap;     // above it
    if (y < 0) y = r.bottom + gap; }                             // below it
  tip.style.left = x + "px"; tip.style.top = Math.max(0, y) + "px";
}
function hookHover(e) {
  e.g.addEventListener("mouseenter", function () { if (!drag) showTip(e); });
  e.g.addEventListener("mouseleave", function () { tip.hidden = true; });
}
els.forEach(hookHover);

// ---- click: details in the panel; ancestors and descendants over the engine's graph
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
  panel.innerHTML = PANEL_EMPTY;
}
function select(e) {
  clearSelection();
  panel.innerHTML = describe(e);
  const start = e.leaf ? [] : e.nodes;
  const anc = walk(start, function (id) { return D.nodes[id] ? D.nodes[id].parents : []; });
  const desc = walk(e.leaf ? (leafUsers[e.leaf] || []) : start, function (id) { return children[id] || []; });
  if (e.leaf) for (const id of leafUsers[e.leaf] || []) desc.add(id);
  const ancLeaves = new Set();
  for (const id of anc) for (const k of D.nodes[id].leaves) ancLeaves.add(k);
  for (const id of start) for (const k of (D.nodes[id] || {leaves: []}).leaves) ancLeaves.add(k);
  const own = new Set(start);
  for (const x of els) {
    if (x.kind === "fold") continue;
    const same = x.leaf ? x.leaf === e.leaf : x.nodes.some(function (id) { return own.has(id); });
    if (same) { x.g.classList.add("hl-sel"); continue; }
    if (x.leaf ? ancLeaves.has(x.leaf) : x.nodes.some(function (id) { return anc.has(id); })) x.g.classList.add("hl-anc");
    else if (!x.leaf && x.nodes.some(function (id) { return desc.has(id); })) x.g.classList.add("hl-desc");
  }
  svg.classList.add("selecting");
}
view.addEventListener("click", function (ev) {
  if (moved) return;
  const fold = ev.target.closest("g.fold");
  if (fold) { setFolded(fold._cluster, false); return; }
  const label = ev.target.closest("g.cluster > text");
  if (label) { setFolded(label.parentNode._cluster, true); return; }
  const g = ev.target.closest("g.node");
  if (g && g._tg) select(g._tg); else clearSelection();
});

// ---- search by name (label, op, scope, weight name)
let matches = [], matchAt = -1;
function runSearch() {
  const terms = searchEl.value.toLowerCase().split(/\s+/).filter(Boolean);
  for (const e of els) e.g.classList.remove("match", "match-current");
  matches = [];
  matchAt = -1;
  if (!terms.length) { svg.classList.remove("searching"); searchInfo.textContent = ""; return; }
  matches = els.filter(function (e) {
    return e.kind !== "fold" && terms.every(function (t) { return e.text.indexOf(t) >= 0; });
  });
  for (const e of matches) e.g.classList.add("match");
  svg.classList.add("searching");
  if (matches.length) nextMatch(); else searchInfo.textContent = "no match";
}
function nextMatch() {
  if (!matches.length) return;
  if (matchAt >= 0) matches[matchAt].g.classList.remove("match-current");
  matchAt = (matchAt + 1) % matches.length;
  const e = matches[matchAt];
  e.g.classList.add("match-current");
  const c = outermostFold(e);
  if (c) setFolded(c, false);
  centreOn(e);
  searchInfo.textContent = (matchAt + 1) + " / " + matches.length;
}
searchEl.addEventListener("input", runSearch);
searchEl.addEventListener("keydown", function (ev) {
  if (ev.key === "Enter") { ev.preventDefault(); nextMatch(); }
  if (ev.key === "Escape") { searchEl.value = ""; runSearch(); searchEl.blur(); }
  ev.stopPropagation();
});

// ---- folding scopes: a folded scope's box hides its ops behind one box (the layout stays)
const clusters = [];
for (const g of svg.querySelectorAll("g.cluster")) {
  const shape = g.querySelector("polygon, path"), label = g.querySelector("text");
  if (!shape || !label) continue;
  const c = {g: g, box: boxOf(shape), name: label.textContent.trim(), folded: false, fold: null};
  label.setAttribute("title", "click to fold");
  g._cluster = c;
  clusters.push(c);
}
for (const c of clusters) {
  c.members = els.filter(function (e) { return inside(e.box, c.box); });
  c.inner = clusters.filter(function (d) { return d !== c && inside(d.box, c.box) && d.box.w * d.box.h < c.box.w * c.box.h; });
}
function outermostFold(e) {
  let best = null;
  for (const c of clusters) if (c.folded && c.members.indexOf(e) >= 0 && (!best || c.box.w * c.box.h > best.box.w * best.box.h)) best = c;
  return best;
}
function heatOf(members) {   // the fill of the h_t node, else of the node with the largest gradient
  let best = null, bestNorm = -1;
  for (const e of members) {
    if (e.kind === "fold" || e.leaf || e.nodes.length !== 1) continue;
    const n = D.nodes[e.nodes[0]];
    const norm = n.label === "h_t" ? Infinity : (n.grad && n.grad.norm) || 0;
    if (norm > bestNorm) { bestNorm = norm; best = e; }
  }
  const shape = best && best.g.querySelector("polygon, ellipse, path");
  return (shape && shape.getAttribute("fill")) || "#eeeeee";
}
function makeFold(c) {
  const g = document.createElementNS(SVGNS, "g"), r = document.createElementNS(SVGNS, "rect");
  const ops = new Set();
  for (const e of c.members) if (e.kind === "op" || e.kind === "group") e.nodes.forEach(function (id) { ops.add(id); });
  const pad = 4;
  r.setAttribute("x", c.box.x + pad); r.setAttribute("y", c.box.y + pad);
  r.setAttribute("width", Math.max(c.box.w - 2 * pad, 10)); r.setAttribute("height", Math.max(c.box.h - 2 * pad, 10));
  r.setAttribute("rx", 8); r.setAttribute("fill", heatOf(c.members));
  g.appendChild(r);
  const t = document.createElementNS(SVGNS, "text");
  t.setAttribute("x", c.box.x + c.box.w / 2); t.setAttribute("y", c.box.y + Math.min(c.box.h / 2, 40));
  t.setAttribute("text-anchor", "middle"); t.setAttribute("font-size", "14");
  t.textContent = c.name + " · " + ops.size + " ops (click to unfold)";
  g.appendChild(t);
  g.setAttribute("class", "fold");
  g._cluster = c;
  svg.appendChild(g);
  const e = {g: g, kind: "fold", nodes: Array.from(ops), leaf: null, cluster: c, box: c.box, text: ""};
  e.first = Math.min.apply(null, [Infinity].concat(c.members.map(function (m) { return m.first; })));
  hookHover(e);
  els.push(e);
  c.fold = e;
}
function setFolded(c, folded) {
  if (!c) return;
  c.folded = folded;
  if (folded && !c.fold) makeFold(c);
  refreshFolds();
}
function refreshFolds() {
  const owner = new Map();
  for (const e of els) if (e.kind !== "fold") owner.set(e.title, outermostFold(e));
  for (const e of els) {
    if (e.kind === "fold") {
      const c = e.cluster, outer = clusters.some(function (d) { return d.folded && d.inner.indexOf(c) >= 0; });
      e.g.classList.toggle("folded-away", !c.folded || outer);
    } else e.g.classList.toggle("folded-away", owner.get(e.title) != null);
  }
  for (const c of clusters) c.g.classList.toggle("folded-away", clusters.some(function (d) { return d.folded && d.inner.indexOf(c) >= 0; }));
  for (const ed of edges) {
    const a = owner.get(ed.from), b = owner.get(ed.to);
    ed.g.classList.toggle("folded-away", a != null && a === b);
  }
  setStep(+slider.value);
}
function foldWhere(test) { for (const c of clusters) if (test(c.name)) { c.folded = true; if (!c.fold) makeFold(c); } refreshFolds(); }
$("fold-steps").addEventListener("click", function () { foldWhere(function (n) { return /^t\d+$/.test(n); }); });
$("fold-layers").addEventListener("click", function () { foldWhere(function (n) { return /^l\d+/.test(n); }); });
$("unfold").addEventListener("click", function () { for (const c of clusters) c.folded = false; refreshFolds(); });

// ---- backward replay
const N = D.order.length;
slider.max = N;
if (!D.recorded) { slider.disabled = true; playBtn.disabled = true; }
const weights = Object.keys(D.leaves).filter(function (k) { return D.leaves[k].steps.length; });
const ABOUT = "Each op that uses a weight hands it one gradient term in backward, and the " +
  "terms add up to its .grad. A recurrent weight W_hh has one gradient term per time step " +
  "(t0's is 0 when h_0 = 0); the built-in layers apply W_ih and the biases to every step's " +
  "input in one op before the loop, so those have one term for all time steps. Terms light " +
  "up as backward sums them.";
function weightTable(s) {
  if (!weights.length) return "";
  let rows = "<tr><th>weight</th><th>gradient terms (‖term‖, where it came from)</th>" +
             "<th>summed</th><th>running ‖grad‖</th><th>final ‖grad‖</th></tr>";
  for (const k of weights) {
    const L = D.leaves[k]; let done = 0, norm = null, terms = "";
    for (const st of L.steps) {
      const summed = st[0] < s;
      if (summed) { done++; norm = st[2]; }
      terms += `<span class="term${summed ? " done" : ""}${st[1] === 0 ? " zero" : ""}" ` +
               `title="step ${st[0] + 1}">${esc(nodeName(D.order[st[0]]))}: ${fmt(st[1])}</span>`;
    }
    rows += `<tr data-leaf="${k}"><td>${esc(L.name)}</td><td class="terms">${terms}</td>` +
            `<td class="summed">${done} / ${L.steps.length}</td>` +
            `<td class="running">${fmt(norm)}</td><td>${fmt(L.steps[L.steps.length - 1][2])}</td></tr>`;
  }
  return `<div class="about">${ABOUT}</div><table>${rows}</table>`;
}
function setStep(s) {
  s = Math.max(0, Math.min(N, s | 0));
  slider.value = s;
  svg.classList.toggle("replaying", s > 0 && s < N);
  const cur = s > 0 ? D.order[s - 1] : null;
  let current = null;
  for (const e of els) {
    e.g.classList.toggle("lit", e.first < s);
    const isCur = cur != null && e.kind !== "fold" && e.nodes.indexOf(cur) >= 0;
    e.g.classList.toggle("current", isCur);
    if (isCur && !current && !e.g.classList.contains("folded-away")) current = e;
  }
  if (!D.recorded) statusEl.textContent = "no backward recorded, so no replay: run " +
    "`with explorer.record_backward() as rec: loss.backward()` and pass record=rec";
  else if (s === 0) statusEl.textContent = "step 0 / " + N + ": before backward (→ steps on)";
  else {
    const n = D.nodes[cur];
    statusEl.textContent = `step ${s} / ${N}: ${nodeName(cur)}` +
      (n.grad && n.grad.norm != null ? " · ‖grad out‖ " + fmt(n.grad.norm) : "");
  }
  weightsEl.innerHTML = weightTable(s);
  return current;
}
function stepTo(s) {   // a replay step the user asked for: keep the current node in view
  const current = setStep(s);
  if (current && !visible(current)) centreOn(current);
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
window.addEventListener("keydown", function (ev) {
  if (ev.target === searchEl) return;
  if (ev.key === "Escape") { clearSelection(); return; }
  if (!D.recorded) return;
  const keys = {ArrowRight: 1, ArrowLeft: -1};
  if (ev.key in keys) { ev.preventDefault(); stop(); stepTo(+slider.value + keys[ev.key]); }
  else if (ev.key === "Home") { stop(); stepTo(0); }
  else if (ev.key === "End") { stop(); stepTo(N); }
});

setStep(0);
home();
window.tgExplorer = {data: D, setStep: setStep, home: home, fit: fit,
  camera: function () { return {s: cam.s, x: cam.x, y: cam.y}; },
  centre: function (title) { centreOn(byTitle[title]); },
  litCount: function (kind) { return svg.querySelectorAll("g.node.lit" + (kind ? ".tg-" + kind : "")).length; }};
})();
