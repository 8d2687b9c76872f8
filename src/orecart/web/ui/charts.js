// Canvas charts: a run's timeline (members' runs, waits, the critical path) and a
// pipeline's run durations over time.
import { COLORS, el, seconds } from "./dom.js";

const WIDTH = 1100, LEFT = 160, MAX_H = 600, ROW = 14;

export function criticalPath(members, defs) {
  const ended = [...members.values()].filter((m) => m.started_at && m.finished_at);
  if (!ended.length) return new Set();
  let at = ended.reduce((a, b) => (Date.parse(b.finished_at) > Date.parse(a.finished_at) ? b : a));
  const path = new Set();
  while (at && !path.has(at.member)) {
    path.add(at.member);
    const needs = (defs.get(at.member)?.needs ?? []).map((n) => members.get(n)).filter((m) => m?.finished_at);
    at = needs.length ? needs.reduce((a, b) => (Date.parse(b.finished_at) > Date.parse(a.finished_at) ? b : a)) : null;
  }
  return path;
}

export function timeline({ members, defs }) {
  const rows = [...members.values()].filter((m) => m.started_at)
    .sort((a, b) => Date.parse(a.started_at) - Date.parse(b.started_at));
  if (!rows.length) return el("p", { class: "muted", text: "no member has started yet" });
  const t0 = Math.min(...rows.map((m) => Date.parse(m.started_at)));
  const t1 = Math.max(...rows.map((m) => (m.finished_at ? Date.parse(m.finished_at) : Date.now())));
  const span = Math.max(1, t1 - t0);
  const height = Math.min(MAX_H, rows.length * ROW);
  const rowH = height / rows.length; // beyond MAX_H / ROW members, rows share pixels
  const canvas = el("canvas", { id: "timeline", width: WIDTH, height: height + 20 });
  const ctx = canvas.getContext("2d");
  const x = (t) => LEFT + ((t - t0) / span) * (WIDTH - LEFT - 10);
  const critical = criticalPath(members, defs);
  ctx.font = "11px system-ui, sans-serif";
  rows.forEach((m, i) => {
    const y = i * rowH;
    const start = Date.parse(m.started_at), end = m.finished_at ? Date.parse(m.finished_at) : Date.now();
    const ready = Math.max(t0, ...(defs.get(m.member)?.needs ?? []).map((n) => members.get(n)?.finished_at)
      .filter(Boolean).map(Date.parse));
    if (ready < start) { // waited: for a pool's slot or a free place in max_parallel
      ctx.fillStyle = "#e3d9a6";
      ctx.fillRect(x(ready), y, x(start) - x(ready), Math.max(1, rowH - 2));
    }
    ctx.fillStyle = COLORS[m.status] ?? "#ccc";
    ctx.fillRect(x(start), y, Math.max(2, x(end) - x(start)), Math.max(1, rowH - 2));
    if (critical.has(m.member)) {
      ctx.strokeStyle = "#000";
      ctx.lineWidth = 2;
      ctx.strokeRect(x(start), y, Math.max(2, x(end) - x(start)), Math.max(1, rowH - 2));
    }
    if (rowH >= 10) {
      ctx.fillStyle = "#223";
      const tries = m.attempts > 1 ? ` (${m.attempts} attempts)` : "";
      ctx.fillText(`${m.member}${tries}`.slice(0, 26), 2, y + rowH - 3);
    }
  });
  ctx.fillStyle = "#667";
  ctx.fillText(`${(span / 1000).toFixed(1)} s; outlined: the critical path; pale: waiting (pool or parallel slot)`, LEFT, height + 14);
  return canvas;
}

export function durationChart(runs) {
  const done = runs.filter((r) => r.started_at && r.finished_at)
    .map((r) => ({ at: Date.parse(r.started_at), s: seconds(r.started_at, r.finished_at), status: r.status }))
    .sort((a, b) => a.at - b.at);
  if (!done.length) return el("p", { class: "muted", text: "no finished runs yet" });
  const canvas = el("canvas", { id: "durations", width: 800, height: 200 });
  const ctx = canvas.getContext("2d");
  const t0 = done[0].at, span = Math.max(1, done[done.length - 1].at - t0);
  const top = Math.max(...done.map((d) => d.s), 0.001);
  ctx.font = "11px system-ui, sans-serif";
  ctx.fillStyle = "#667";
  ctx.fillText(`max ${top.toFixed(1)} s`, 4, 12);
  for (const d of done) {
    const px = 40 + ((d.at - t0) / span) * 740, py = 190 - (d.s / top) * 170;
    ctx.fillStyle = COLORS[d.status] ?? "#888";
    ctx.beginPath();
    ctx.arc(px, py, 4, 0, 2 * Math.PI);
    ctx.fill();
  }
  return canvas;
}
