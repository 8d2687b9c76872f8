// Building the page: every piece of data is set with textContent, never parsed as HTML.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "on") for (const [kind, fn] of Object.entries(value)) node.addEventListener(kind, fn);
    else if (name === "text") node.textContent = value ?? "";
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function badge(status) {
  return el("span", { class: `status s-${status}`, "data-status": status, text: status });
}

export function link(href, text) { return el("a", { href, text }); }

export function table(headings, rows) {
  return el("table", {}, el("thead", {}, el("tr", {}, headings.map((h) => el("th", { text: h })))),
    el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map((c) => el("td", {}, c ?? ""))))));
}

export function section(title, ...children) {
  return el("section", {}, el("h2", { text: title }), ...children);
}

export function notAvailable(what) {
  return el("p", { class: "muted", "data-na": "1", text: `${what}: not available from this server` });
}

export function seconds(start, end) {
  if (!start) return null;
  return ((end ? Date.parse(end) : Date.now()) - Date.parse(start)) / 1000;
}

export function duration(s) {
  if (s === null || s === undefined) return "";
  if (s < 60) return `${s.toFixed(1)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${(s / 3600).toFixed(1)} h`;
}

export const TERMINAL = new Set(["succeeded", "failed", "errored", "skipped", "cancelled", "aborted"]);
export const COLORS = { succeeded: "#2a8a4a", failed: "#c33", errored: "#c33", running: "#2864c8",
  pending: "#bbc", queued: "#bbc", skipped: "#9aa", cancelled: "#b7791f", aborted: "#b7791f" };

// Any list the API gives (of objects or of values) as a table.
export function records(data) {
  const rows = Array.isArray(data) ? data : (data && Object.values(data).find(Array.isArray)) ?? [];
  if (!rows.length) return el("p", { class: "muted", text: "none" });
  const keys = [...new Set(rows.flatMap((r) => (r && typeof r === "object" ? Object.keys(r) : ["value"])))];
  return table(keys, rows.map((r) => keys.map((k) => {
    const value = r && typeof r === "object" ? r[k] : r;
    return value === null || value === undefined ? "" : typeof value === "object" ? JSON.stringify(value) : String(value);
  })));
}
