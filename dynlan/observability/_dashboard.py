"""The `/admin` dashboard: one self-contained page (no external assets), charts drawn on <canvas> by hand.

It reads `/admin/events` (server-sent events): a `history` event with the ring buffers (the last hour at one
sample a second, the last day at one a minute), then a `sample` event a second. Each chart keeps the values it
draws in its canvas's `data-series` attribute (JSON), so a test, or a curious operator, can read them from the DOM.
"""

from __future__ import annotations

DASHBOARD = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>dynlan admin</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{display:flex;gap:1em;align-items:center;padding:.6em 1em;background:#1d2330;color:#fff}
header h1{font-size:1.1em;margin:0 1em 0 0}
header .sp{flex:1}
button{font:inherit;padding:.3em .8em;border-radius:4px;border:1px solid #889;background:#fff;cursor:pointer}
button.on{background:#2f6fde;color:#fff;border-color:#2f6fde}
main{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:1em;padding:1em}
section{background:#fff;border-radius:6px;box-shadow:0 1px 3px #0002;padding:.6em 1em}
h2{font-size:1em;margin:.2em 0 .5em}
canvas{width:100%;height:160px;display:block}
table{border-collapse:collapse;width:100%}
td,th{text-align:left;padding:.15em .5em;border-bottom:1px solid #eee;font-variant-numeric:tabular-nums}
.bar{background:#e5e8ee;border-radius:3px;height:.7em;width:8em;display:inline-block;vertical-align:middle}
.bar i{display:block;height:100%;border-radius:3px;background:#2f9e5b}
.legend span{margin-right:1em}.legend b{display:inline-block;width:.8em;height:.8em;margin-right:.3em}
#msg{font-size:.9em;opacity:.85}
</style></head><body>
<header><h1>dynlan</h1>
<span id="state">connecting...</span>
<button id="r-hour" class="on">last hour</button><button id="r-day">last day</button>
<span class="sp"></span><span id="msg"></span>
<button id="purge">Purge response cache</button><button id="reload">Reload configuration</button>
</header>
<main>
<section><h2>Requests per second</h2><canvas id="c-rps" data-series="[]"></canvas>
<div class="legend" id="l-rps"></div></section>
<section><h2>Status codes (per second)</h2><canvas id="c-status" data-series="{}"></canvas>
<div class="legend" id="l-status"></div></section>
<section><h2>Latency p50 / p99 (ms)</h2><canvas id="c-latency" data-series="{}"></canvas>
<div class="legend" id="l-latency"></div></section>
<section><h2>Connections and pages in flight</h2><canvas id="c-conns" data-series="{}"></canvas>
<div class="legend" id="l-conns"></div></section>
<section><h2>Pages in flight</h2><table id="t-inflight"><thead><tr><th>site</th><th>page</th><th>runtime</th>
<th>elapsed</th>
<th>budget used</th></tr></thead><tbody></tbody></table></section>
<section><h2>Per site</h2><table id="t-sites"><thead><tr><th>site</th><th>requests</th><th>5xx</th><th>req/s</th>
</tr></thead><tbody></tbody></table>
<h2>Per runtime</h2><table id="t-runtimes"><thead><tr><th>runtime</th><th>requests</th><th>5xx</th><th>req/s</th>
</tr></thead><tbody></tbody></table></section>
<section><h2>Workers</h2><table id="t-workers"><thead><tr><th>worker</th><th>pid</th><th>serving</th>
<th>memory</th><th>connections</th></tr></thead><tbody></tbody></table><p id="restarts"></p>
<h2>Process pools</h2><table id="t-pools"><thead><tr><th>runtime</th><th>busy</th><th>idle</th><th>replaced</th>
<th>recycled</th></tr></thead><tbody></tbody></table></section>
</main>
<script>
"use strict";
const COLORS = {rps:"#2f6fde","1xx":"#999","2xx":"#2f9e5b","3xx":"#2f6fde","4xx":"#e0a100","5xx":"#d33",
  other:"#777",p50:"#2f6fde",p99:"#d33",connections:"#2f6fde",inflight:"#e07b00"};
const history = {seconds: [], minutes: []};
let range = "seconds", current = null, minute = null;
const $ = (id) => document.getElementById(id);
function esc(s){return String(s).replace(/[&<>"']/g,c=>({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;","'":"&#39;"}[c]));}
function points(){
  const list = history[range].slice();
  if (range === "minutes" && minute) list.push(minute);
  return list;
}
function draw(id, series, unit){
  const canvas = $(id), ratio = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 400, h = canvas.clientHeight || 160;
  canvas.width = w * ratio; canvas.height = h * ratio;
  const g = canvas.getContext("2d"); g.scale(ratio, ratio); g.clearRect(0, 0, w, h);
  const names = Object.keys(series);
  canvas.dataset.series = JSON.stringify(series);
  canvas.dataset.points = String(names.length ? series[names[0]].length : 0);
  let max = 0;
  for (const n of names) for (const v of series[n]) max = Math.max(max, v);
  max = max > 0 ? max * 1.1 : 1;
  const left = 44, bottom = h - 16, top = 6, right = w - 6;
  g.strokeStyle = "#ddd"; g.fillStyle = "#667"; g.font = "11px system-ui"; g.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const y = bottom - (bottom - top) * i / 4;
    g.beginPath(); g.moveTo(left, y); g.lineTo(right, y); g.stroke();
    const label = max * i / 4;
    g.fillText(label >= 100 ? label.toFixed(0) : label.toFixed(label >= 10 ? 1 : 2), 2, y + 4);
  }
  g.fillText(range === "seconds" ? "last hour, per second" : "last day, per minute", left, h - 2);
  for (const n of names) {
    const data = series[n], count = data.length;
    if (!count) continue;
    // The x axis spans what is kept so far (at least a minute, or an hour of minutes), up to the whole buffer.
    const span = Math.min(range === "seconds" ? 3600 : 1440, Math.max(count, 60));
    const step = (right - left) / Math.max(span - 1, 1);
    g.strokeStyle = COLORS[n] || "#555"; g.lineWidth = 1.5; g.beginPath();
    data.forEach((v, i) => {
      const x = right - (count - 1 - i) * step, y = bottom - (bottom - top) * v / max;
      if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
    });
    g.stroke();
  }
  $(id.replace("c-", "l-")).innerHTML = names.map(n => {
    const data = series[n], last = data.length ? data[data.length - 1] : 0;
    return `<span><b style="background:${COLORS[n] || "#555"}"></b>${esc(n)} ${(+last).toFixed(2)}${unit}</span>`;
  }).join("");
}
function render(){
  const list = points();
  draw("c-rps", {rps: list.map(p => p.rps)}, "/s");
  const classes = new Set(); list.forEach(p => Object.keys(p.status).forEach(k => classes.add(k)));
  const status = {};
  for (const k of [...classes].sort()) status[k] = list.map(p => (p.status[k] || 0) / (range === "minutes" ? 60 : 1));
  draw("c-status", status, "/s");
  draw("c-latency", {p50: list.map(p => p.p50), p99: list.map(p => p.p99)}, " ms");
  draw("c-conns", {connections: list.map(p => p.connections), inflight: list.map(p => p.inflight)}, "");
}
function rows(id, html){ $(id).querySelector("tbody").innerHTML = html.join(""); }
function tables(){
  if (!current) return;
  const last = current.sample;
  rows("t-inflight", current.inflight.map(p => `<tr><td>${esc(p.site)}</td><td>${esc(p.page)}</td>` +
    `<td>${esc(p.runtime)}</td>` +
    `<td>${p.elapsed.toFixed(1)} s</td><td><span class="bar"><i style="width:${Math.min(100, p.used * 100)}%"></i>` +
    `</span> ${(p.used * 100).toFixed(0)}% of ${p.budget} s</td></tr>`));
  const table = (id, data, now) => rows(id, Object.entries(data).sort().map(([name, r]) =>
    `<tr><td>${esc(name)}</td><td>${r.requests}</td><td>${r.errors}</td><td>${(now[name] || 0).toFixed(0)}</td></tr>`));
  table("t-sites", current.sites, last.sites);
  table("t-runtimes", current.runtimes, last.runtimes);
  rows("t-workers", current.workers.map(w => `<tr><td>${w.index}</td><td>${w.pid ?? "-"}</td>` +
    `<td>${w.serving ? "yes" : "no"}</td><td>${(w.rss / 1048576).toFixed(1)} MiB</td><td>${w.connections}</td></tr>`));
  rows("t-pools", Object.entries(current.pools).map(([name, p]) => `<tr><td>${esc(name)}</td><td>${p.busy}</td>` +
    `<td>${p.idle}</td><td>${p.replaced}</td><td>${p.recycled}</td></tr>`));
  $("restarts").textContent = `worker restarts: ${current.restarts}`;
  $("state").textContent = `${last.rps.toFixed(0)} req/s, ${current.inflight_count} in flight`;
}
function connect(){
  const events = new EventSource("/admin/events");
  events.addEventListener("history", e => {
    const h = JSON.parse(e.data); history.seconds = h.seconds; history.minutes = h.minutes; render();
  });
  events.addEventListener("sample", e => {
    current = JSON.parse(e.data);
    const s = history.seconds;
    if (!s.length || s[s.length - 1].t !== current.sample.t) s.push(current.sample);
    if (s.length > 3600) s.shift();
    if (minute && current.minute && current.minute.t !== minute.t) {
      // The minute being gathered ended: it joins the day's history as it was last seen.
      history.minutes.push(minute);
      if (history.minutes.length > 1440) history.minutes.shift();
    }
    minute = current.minute;
    render(); tables();
    document.body.dataset.samples = String(s.length);
  });
  events.onerror = () => { $("state").textContent = "disconnected, retrying..."; };
}
async function act(path, what){
  $("msg").textContent = what + "...";
  try {
    const r = await fetch(path, {method: "POST", headers: {"X-Dynlan-Admin": "1"}});
    const body = await r.json();
    $("msg").textContent = `${what}: ${body.ok ? "done" : "failed"} (` + body.workers.map(w =>
      w.ok ? `pid ${w.pid}` + (w.purged !== undefined ? ` purged ${w.purged}` : "") : `pid ${w.pid}: ${w.error}`)
      .join(", ") + ")";
  } catch (err) { $("msg").textContent = `${what}: ${err}`; }
}
$("purge").onclick = () => act("/admin/purge", "purge");
$("reload").onclick = () => act("/admin/reload", "reload");
$("r-hour").onclick = () => { range = "seconds"; $("r-hour").className = "on"; $("r-day").className = ""; render(); };
$("r-day").onclick = () => { range = "minutes"; $("r-day").className = "on"; $("r-hour").className = ""; render(); };
window.addEventListener("resize", render);
connect();
</script></body></html>
"""
