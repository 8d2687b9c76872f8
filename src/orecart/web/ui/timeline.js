// A run's timeline on one canvas: per member run, its recorded waits (pale, labelled with
// the pool, or "parallel" for a place in max_parallel) and each attempt as its own bar
// (coloured by how it ended, so a failed try before a retry shows red, the backoff a gap),
// the critical path outlined. What it drew is kept in `window.__timeline` for tests.
import { COLORS, el } from "./dom.js";

const WIDTH = 1100, LEFT = 160, MAX_H = 600, ROW = 14;
const WAIT = "#e3d9a6";
const at = (time) => (time ? Date.parse(time) : null);

// The bars of one member run, in time order: {kind: "wait"|"attempt", start, end, ...}.
export function barsOf(m, now = Date.now()) {
  const spans = m.attempt_spans ?? [];
  if (!spans.length && (m.attempts ?? 0) <= 1) return once(m, now);
  const bars = [];
  for (const a of spans) {
    if (a.waited_at && a.started_at) bars.push(waitBar(m, a.waited_for, at(a.waited_at), at(a.started_at)));
    if (a.started_at) bars.push(attemptBar(m, a.number, a.status, at(a.started_at), at(a.finished_at) ?? now));
  }
  const last = spans.at(-1);
  const inFlight = m.status === "running" && m.attempts > spans.length;
  const waited = at(m.waited_at); // its latest wait; drawn above if an ended attempt has it
  const current = waited !== null && !spans.some((a) => at(a.waited_at) === waited);
  // when the attempt in flight started: as the event stream told (the page replays it)
  const flightStart = at(m.attempt_started_at)
    ?? Math.max(at(last?.finished_at) ?? 0, at(m.started_at) ?? 0, current ? waited : 0);
  if (current && (m.status === "pending" || m.status === "running")) {
    bars.push(waitBar(m, m.waited_for, waited, inFlight ? flightStart : now));
  }
  if (inFlight) bars.push(attemptBar(m, m.attempts, "running", flightStart, now));
  if (!spans.length && !inFlight && m.started_at) { // recorded without attempts (older runs)
    bars.push(attemptBar(m, m.attempts, m.status, at(m.started_at), at(m.finished_at) ?? now));
  }
  return bars;
}

// A member run tried once (or not yet): the run's member list gives no attempt spans for
// it, as its own start, finish and wait are its one attempt's.
function once(m, now) {
  const bars = [], start = at(m.started_at), waited = at(m.waited_at);
  if (waited !== null && (start === null || waited <= start)) {
    bars.push(waitBar(m, m.waited_for, waited, start ?? at(m.finished_at) ?? now));
  }
  if (start !== null) bars.push(attemptBar(m, 1, m.status, start, at(m.finished_at) ?? now));
  return bars;
}

function waitBar(m, what, start, end) {
  return { member: m.member, kind: "wait", for: what ?? "", start, end: Math.max(start, end) };
}

function attemptBar(m, attempt, status, start, end) {
  return { member: m.member, kind: "attempt", attempt, status, start, end: Math.max(start, end) };
}

// The chain of needs that decided when the run ended: from the member that ended last,
// back through the need of each that ended last (its waits and attempts all count).
export function criticalPath(rows, defs) {
  const ends = new Map(rows.map(({ m, bars }) => [m.member, Math.max(...bars.map((b) => b.end))]));
  if (!ends.size) return new Set();
  let name = [...ends.keys()].reduce((a, b) => (ends.get(b) > ends.get(a) ? b : a));
  const path = new Set();
  while (name && !path.has(name)) {
    path.add(name);
    const needs = (defs.get(name)?.needs ?? []).filter((n) => ends.has(n));
    name = needs.length ? needs.reduce((a, b) => (ends.get(b) > ends.get(a) ? b : a)) : null;
  }
  return path;
}

export function timeline({ members, defs }) {
  const now = Date.now();
  const rows = [...members.values()].map((m) => ({ m, bars: barsOf(m, now) })).filter((r) => r.bars.length)
    .sort((a, b) => a.bars[0].start - b.bars[0].start);
  const critical = criticalPath(rows, defs);
  const bars = rows.flatMap((r) => r.bars.map((b) => ({ ...b, colour: colourOf(b), critical: critical.has(b.member) })));
  window.__timeline = { bars, critical: [...critical] };
  if (!rows.length) return el("p", { class: "muted", text: "no member has started or waited yet" });
  const t0 = Math.min(...bars.map((b) => b.start)), t1 = Math.max(...bars.map((b) => b.end));
  const span = Math.max(1, t1 - t0);
  const height = Math.min(MAX_H, rows.length * ROW);
  const rowH = height / rows.length; // beyond MAX_H / ROW members, rows share pixels
  const canvas = el("canvas", { id: "timeline", width: WIDTH, height: height + 20, "data-bars": bars.length });
  const ctx = canvas.getContext("2d");
  const x = (t) => LEFT + ((t - t0) / span) * (WIDTH - LEFT - 10);
  ctx.font = "11px system-ui, sans-serif";
  rows.forEach(({ m, bars: own }, i) => {
    const y = i * rowH, h = Math.max(1, rowH - 2);
    for (const b of own) drawBar(ctx, b, x, y, h, critical.has(m.member));
    if (rowH >= 10) {
      ctx.fillStyle = "#223";
      const tries = m.attempts > 1 ? ` (${m.attempts} attempts)` : "";
      ctx.fillText(`${m.member}${tries}`.slice(0, 26), 2, y + rowH - 3);
    }
  });
  ctx.fillStyle = "#667";
  ctx.fillText(`${(span / 1000).toFixed(1)} s; a bar per attempt; pale: waiting (for the pool named, or "parallel": max_parallel); outlined: the critical path`, LEFT, height + 14);
  return canvas;
}

const colourOf = (b) => (b.kind === "wait" ? WAIT : COLORS[b.status] ?? "#ccc");

function drawBar(ctx, b, x, y, h, critical) {
  const left = x(b.start), width = Math.max(2, x(b.end) - x(b.start));
  ctx.fillStyle = colourOf(b);
  ctx.fillRect(left, y, width, h);
  if (b.kind === "wait" && h >= 9 && width > 30) {
    ctx.fillStyle = "#554";
    ctx.fillText(`waiting for ${b.for}`.slice(0, Math.floor(width / 6)), left + 2, y + h - 2);
  }
  if (critical) {
    ctx.strokeStyle = "#000";
    ctx.lineWidth = 2;
    ctx.strokeRect(left, y, width, h);
  }
}
