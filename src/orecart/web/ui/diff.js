// The graph diff of a run (what each member changed: counts per label and type, keyed adds
// and removes) and between two runs (`?against=OTHER` in the page's hash).
import { call } from "./api.js";
import { el, notAvailable, section, table } from "./dom.js";

const SHOWN_KEYS = 20; // keys listed per label; the rest is counted

export async function diffPage({ view, crumbs }, id) {
  const against = new URLSearchParams(location.hash.split("?")[1] ?? "").get("against");
  crumbs(["#/", "pipelines"], [`#/runs/${encodeURIComponent(id)}`, id], ["", "diff"]);
  const query = against ? `?against=${encodeURIComponent(against)}` : "";
  const answer = await call(`/runs/${encodeURIComponent(id)}/diff${query}`);
  const body = answer.status === 405 ? notAvailable("graph diff")
    : !answer.ok ? el("p", { class: "error", text: answer.error })
    : against ? compared(answer.data) : changes(answer.data.members);
  const title = against ? `Graph diff of run ${id} against ${against}` : `Graph diff of run ${id}`;
  view.replaceChildren(el("h1", { text: title }), againstForm(id, against), section("diff", body));
}

function againstForm(id, against) {
  const input = el("input", { name: "against", placeholder: "another run id", value: against ?? "" });
  return el("form", { class: "inline", on: { submit: (event) => {
    event.preventDefault();
    const other = input.value.trim();
    location.hash = `#/runs/${encodeURIComponent(id)}/diff${other ? `?against=${encodeURIComponent(other)}` : ""}`;
  } } }, el("label", { text: "compare with " }, input), el("button", { type: "submit", text: "compare" }));
}

function changes(members) {
  if (!members.length) return el("p", { class: "muted", text: "no member changed the graph" });
  return table(["member", "status", "nodes", "relationships", "added", "removed"],
    members.map((m) => [m.member, m.status, counts(m.nodes), counts(m.relationships),
      keyed(m.added), keyed(m.removed)]));
}

function compared(data) {
  const rows = (byName) => Object.entries(byName).map(([name, c]) => [name, String(c.a), String(c.b),
    signed(c.difference)]);
  return el("div", {},
    el("h3", { text: "nodes per label" }), table(["label", data.runs.a ?? "this run", data.runs.b ?? "the other", "difference"], rows(data.nodes)),
    el("h3", { text: "relationships per type" }),
    table(["type", data.runs.a ?? "this run", data.runs.b ?? "the other", "difference"], rows(data.relationships)));
}

function counts(byName) {
  const parts = Object.entries(byName).map(([name, n]) => `${name} ${signed(n)}`);
  return parts.join(", ");
}

function keyed(byLabel) {
  return el("div", {}, Object.entries(byLabel).map(([label, keys]) => {
    const shown = keys.slice(0, SHOWN_KEYS).map((k) => (typeof k === "object" ? JSON.stringify(k) : String(k)));
    const more = keys.length > SHOWN_KEYS ? ` and ${keys.length - SHOWN_KEYS} more` : "";
    return el("div", { text: `${label}: ${shown.join(", ")}${more}` });
  }));
}

function signed(n) { return n > 0 ? `+${n}` : String(n); }
