// Canvas charts: a pipeline's run durations over time (a run's timeline: timeline.js).
import { COLORS, el, seconds } from "./dom.js";

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
