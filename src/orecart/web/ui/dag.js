// The run's DAG on one <canvas>: columns are needs depths; a column of more than GROUP
// members is drawn as one box with its status counts (click: list them), so 10,000
// members cost a few rectangles, not 10,000 nodes.
import { COLORS } from "./dom.js";

const GROUP = 24, W = 150, H = 20, GAP_X = 50, GAP_Y = 6, PAD = 10;

export function depths(names, defs) {
  const depth = new Map();
  const visit = (name, seen) => {
    if (depth.has(name)) return depth.get(name);
    if (seen.has(name)) return 0;
    seen.add(name);
    const needs = (defs.get(name)?.needs ?? []).filter((n) => names.has(n));
    const d = needs.length ? 1 + Math.max(...needs.map((n) => visit(n, seen))) : 0;
    depth.set(name, d);
    return d;
  };
  for (const name of names) visit(name, new Set());
  return depth;
}

function layout(state) {
  const names = new Set(state.members.keys());
  const depth = depths(names, state.defs);
  const layers = [];
  for (const name of names) (layers[depth.get(name)] ??= []).push(name);
  const boxes = [];
  layers.forEach((layer, col) => {
    const x = PAD + col * (W + GAP_X);
    if (layer.length > GROUP) boxes.push({ x, y: PAD, h: 4 * H, group: layer, col });
    else layer.forEach((name, row) => boxes.push({ x, y: PAD + row * (H + GAP_Y), h: H, name }));
  });
  return { layers, boxes };
}

export function drawDag(target, state, runId, list) {
  const canvas = document.createElement("canvas");
  canvas.id = "dag";
  target.replaceChildren(canvas);
  let boxes = [];
  const at = new Map();
  canvas.addEventListener("click", (event) => {
    const r = canvas.getBoundingClientRect();
    const x = event.clientX - r.left, y = event.clientY - r.top;
    const hit = boxes.find((b) => x >= b.x && x <= b.x + W && y >= b.y && y <= b.y + b.h);
    if (hit?.name) location.hash = `#/runs/${encodeURIComponent(runId)}/members/${encodeURIComponent(hit.name)}`;
    else if (hit?.group) list.only(new Set(hit.group));
  });
  return {
    draw() {
      const shape = layout(state);
      boxes = shape.boxes;
      at.clear();
      for (const b of boxes) if (b.name) at.set(b.name, b);
      canvas.width = Math.max(300, PAD * 2 + shape.layers.length * (W + GAP_X));
      canvas.height = Math.max(60, PAD * 2 + Math.max(4 * H, ...boxes.map((b) => b.y + b.h)));
      paint(canvas.getContext("2d"), state, boxes, at);
    },
  };
}

function paint(ctx, state, boxes, at) {
  ctx.font = "12px system-ui, sans-serif";
  ctx.strokeStyle = "#99a";
  for (const b of boxes.filter((b) => b.name)) {
    for (const need of state.defs.get(b.name)?.needs ?? []) {
      const from = at.get(need);
      if (!from) continue;
      ctx.beginPath();
      ctx.moveTo(from.x + W, from.y + H / 2);
      ctx.lineTo(b.x, b.y + H / 2);
      ctx.stroke();
    }
  }
  for (const b of boxes) (b.name ? node : group)(ctx, state, b);
}

function node(ctx, state, b) {
  const m = state.members.get(b.name);
  ctx.fillStyle = COLORS[m?.status] ?? "#ccc";
  ctx.fillRect(b.x, b.y, W, H);
  ctx.fillStyle = "#fff";
  ctx.fillText(b.name.slice(0, 22), b.x + 4, b.y + 14);
}

function group(ctx, state, b) {
  const counts = {};
  for (const name of b.group) {
    const s = state.members.get(name)?.status ?? "pending";
    counts[s] = (counts[s] ?? 0) + 1;
  }
  let x = b.x;
  for (const [status, n] of Object.entries(counts)) {
    const w = (W * n) / b.group.length;
    ctx.fillStyle = COLORS[status] ?? "#ccc";
    ctx.fillRect(x, b.y + 2 * H, w, 2 * H);
    x += w;
  }
  ctx.fillStyle = "#223";
  ctx.fillText(`depth ${b.col}: ${b.group.length} members`, b.x, b.y + 12);
  ctx.fillText(Object.entries(counts).map(([s, n]) => `${n} ${s}`).join(", ").slice(0, 26), b.x, b.y + 28);
}
