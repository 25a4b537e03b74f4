// The live training page: polls state.json on the server that served it (127.0.0.1) about once
// a second and redraws small SVG charts; the graph picture is heat.svg from the same server.
(function () {
"use strict";
const POLL_MS = 1000;
const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                "#7f7f7f", "#bcbd22", "#17becf"];
const $ = function (id) { return document.getElementById(id); };
const S = {steps: [], losses: [], gradNorms: [], clipped: [], clip: null, weights: [],
           timeSteps: null, firstTimeSteps: null, heat: 0, done: false, seconds: 0, polls: 0};

function esc(s) { return String(s).replace(/[&<>"]/g, function (c) { return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]; }); }
function fmt(x) { if (x == null) return "–"; if (x === 0) return "0"; const a = Math.abs(x);
  return (a >= 1e4 || a < 1e-3) ? x.toExponential(2) : x.toPrecision(3); }

// A line chart as SVG markup. series: [{xs, ys, color, dash}]; log: log10 y axis.
function chart(series, opts) {
  const W = opts.width || 540, H = opts.height || 200, L = 52, R = 10, T = 8, Bm = 24;
  const pts = [];
  for (const s of series) s.ys.forEach(function (y, i) { if (y != null && (!opts.log || y > 0)) pts.push([s.xs[i], y]); });
  if (!pts.length) return `<svg width="${W}" height="${H}"><text class="empty" x="${W / 2}" y="${H / 2}" text-anchor="middle">${esc(opts.empty || "no data yet")}</text></svg>`;
  const fy = opts.log ? function (y) { return Math.log10(y); } : function (y) { return y; };
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (const p of pts) { x0 = Math.min(x0, p[0]); x1 = Math.max(x1, p[0]); y0 = Math.min(y0, fy(p[1])); y1 = Math.max(y1, fy(p[1])); }
  for (const y of opts.hlines || []) if (y != null && (!opts.log || y > 0)) { y0 = Math.min(y0, fy(y)); y1 = Math.max(y1, fy(y)); }
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) { y0 -= opts.log ? 0.5 : 1; y1 += opts.log ? 0.5 : 1; }
  const sx = function (x) { return L + (x - x0) / (x1 - x0) * (W - L - R); };
  const sy = function (y) { return T + (1 - (fy(y) - y0) / (y1 - y0)) * (H - T - Bm); };
  let out = `<svg width="${W}" height="${H}">`;
  out += `<line class="axis" x1="${L}" y1="${H - Bm}" x2="${W - R}" y2="${H - Bm}"/><line class="axis" x1="${L}" y1="${T}" x2="${L}" y2="${H - Bm}"/>`;
  // y ticks: decades on a log axis, 5 steps otherwise
  const ticks = [];
  if (opts.log) for (let e = Math.ceil(y0); e <= Math.floor(y1); e++) ticks.push(Math.pow(10, e));
  if (ticks.length < 2) ticks.length = 0;
  if (!ticks.length) for (let k = 0; k <= 4; k++) ticks.push(opts.log ? Math.pow(10, y0 + (y1 - y0) * k / 4) : y0 + (y1 - y0) * k / 4);
  for (const t of ticks) out += `<text x="${L - 4}" y="${sy(t) + 3}" text-anchor="end">${fmt(t)}</text>`;
  const fx = function (x) { return Number.isInteger(x) ? String(x) : fmt(x); };
  out += `<text x="${L}" y="${H - 8}">${fx(x0)}</text><text x="${W - R}" y="${H - 8}" text-anchor="end">${fx(x1)}</text>`;
  if (opts.xlabel) out += `<text x="${(L + W - R) / 2}" y="${H - 8}" text-anchor="middle">${esc(opts.xlabel)}</text>`;
  for (const y of opts.hlines || []) if (y != null && (!opts.log || y > 0))
    out += `<line x1="${L}" x2="${W - R}" y1="${sy(y)}" y2="${sy(y)}" stroke="#b00020" stroke-dasharray="4 3"/>`;
  for (const s of series) {
    let d = "", pen = false, n = 0;
    // at most ~2 points per pixel: the last point of each pixel column
    const stride = Math.max(1, Math.floor(s.xs.length / (2 * (W - L - R))));
    for (let i = 0; i < s.xs.length; i++) {
      const y = s.ys[i];
      if (y == null || (opts.log && y <= 0)) { pen = false; continue; }
      if (i % stride && i !== s.xs.length - 1) continue;
      d += (pen ? "L" : "M") + sx(s.xs[i]).toFixed(1) + " " + sy(y).toFixed(1);
      pen = true; n++;
    }
    out += `<path class="series" data-points="${n}" d="${d}" fill="none" stroke="${s.color}" stroke-width="1.5"` +
           (s.dash ? ' stroke-dasharray="5 3"' : "") + "/>";
    if (s.marks || s.xs.length <= 40) for (let i = 0; i < s.xs.length; i++) if (s.ys[i] != null && s.ys[i] > 0)
      out += `<circle cx="${sx(s.xs[i]).toFixed(1)}" cy="${sy(s.ys[i]).toFixed(1)}" r="2" fill="${s.color}"/>`;
  }
  for (const x of opts.ticks || []) out += `<line class="clip" x1="${sx(x)}" x2="${sx(x)}" y1="${H - Bm}" y2="${H - Bm - 6}" stroke="#d62728"/>`;
  return out + "</svg>";
}
function legend(names) {
  return '<div class="legend">' + names.map(function (n, i) {
    return `<span><i style="background:${COLORS[i % COLORS.length]}"></i>${esc(n)}</span>`; }).join("") + "</div>";
}

function draw() {
  const clippedAll = S.clipped;
  $("loss").innerHTML = chart([{xs: S.steps, ys: S.losses, color: COLORS[0]}],
                              {log: S.losses.every(function (y) { return y == null || y > 0; }), ticks: clippedAll, xlabel: "step"});
  $("gnorm").innerHTML = chart([{xs: S.steps, ys: S.gradNorms, color: COLORS[1]}],
                               {log: true, hlines: [S.clip], xlabel: "step", empty: "no gradient norm yet"});
  $("clip-note").textContent = (S.clip != null ? "dashed: the clipping threshold " + fmt(S.clip) + "; " : "no clipping; ") +
    clippedAll.length + " of " + S.steps.length + " steps clipped" +
    (clippedAll.length ? " (last at step " + clippedAll[clippedAll.length - 1] + ")" : "");
  // ‖∂L/∂h_t‖ over t
  const series = [], names = [];
  const latest = S.timeSteps, first = S.firstTimeSteps;
  if (latest) Object.keys(latest.layers).forEach(function (layer, k) {
    const ys = latest.layers[layer], color = COLORS[k % COLORS.length];
    series.push({xs: ys.map(function (_, t) { return t; }), ys: ys, color: color, marks: true});
    names.push(layer + " at step " + latest.step);
    if (first && first.step !== latest.step && first.layers[layer]) {
      const f = first.layers[layer];
      series.push({xs: f.map(function (_, t) { return t; }), ys: f, color: color, dash: true});
    }
  });
  $("hgrad").innerHTML = chart(series, {log: true, xlabel: "time step t",
    empty: latest ? "no time steps recognised in this graph" : "waiting for a sampled step"}) +
    (names.length ? legend(names) + (first && latest && first.step !== latest.step ? '<p class="note">dashed: step ' + first.step + "</p>" : "") : "");
  // each weight's gradient norm over the sampled steps
  const wnames = [];
  for (const w of S.weights) for (const n in w[1]) if (wnames.indexOf(n) < 0) wnames.push(n);
  const xs = S.weights.map(function (w) { return w[0]; });
  $("weights").innerHTML = chart(wnames.map(function (n, k) {
    return {xs: xs, ys: S.weights.map(function (w) { return w[1][n] == null ? null : w[1][n]; }), color: COLORS[k % COLORS.length]};
  }), {log: true, xlabel: "step", empty: "waiting for a sampled step"}) + legend(wnames.map(function (n) {
    const last = S.weights.length ? S.weights[S.weights.length - 1][1][n] : null;
    return n + " " + fmt(last);
  }));
}

function status(text, cls) { const el = $("status"); el.textContent = text; el.className = cls || ""; }

let timer = null;
function poll() {
  const url = "state.json?since=" + S.steps.length + "&wsince=" + S.weights.length;
  fetch(url, {cache: "no-store"}).then(function (r) {
    if (!r.ok) throw new Error("HTTP " + r.status);
    return r.json();
  }).then(function (st) {
    S.polls++;
    if (st.since === S.steps.length) {
      S.steps.push.apply(S.steps, st.steps); S.losses.push.apply(S.losses, st.losses);
      S.gradNorms.push.apply(S.gradNorms, st.grad_norms);
    }
    if (st.weights_since === S.weights.length) S.weights.push.apply(S.weights, st.weights);
    S.clipped = st.clipped; S.clip = st.clip; S.timeSteps = st.time_steps;
    S.firstTimeSteps = st.first_time_steps; S.done = st.done; S.seconds = st.seconds;
    if (st.heat && st.heat.version !== S.heat) {
      S.heat = st.heat.version;
      $("heat").innerHTML = '<img alt="the folded graph coloured by gradient size" src="heat.svg?v=' + S.heat + '">';
      $("heat-note").textContent = "drawn from the graph of step " + st.heat.step +
        " (redrawn every few seconds); fill: ‖∂L/∂h_t‖ of each step, pale to dark red";
    }
    draw();
    const n = S.steps.length, last = n ? S.losses[n - 1] : null;
    const rate = S.seconds > 0 ? (n / S.seconds).toFixed(1) + " steps/s" : "";
    if (st.done) { status("training ended at step " + (n ? S.steps[n - 1] : 0) + " · loss " + fmt(last), "ended"); return; }
    status("step " + (n ? S.steps[n - 1] : 0) + " · loss " + fmt(last) + " · " + rate);
    timer = setTimeout(poll, POLL_MS);
  }).catch(function () {
    status("lost the training process (it stopped, or was interrupted); the charts show what came before", "lost");
  });
}
poll();
window.tgLive = {state: S, lossCount: function () { return S.steps.length; },
  drawnPoints: function () { const p = document.querySelector("#loss path.series"); return p ? +p.dataset.points : 0; }};
})();
