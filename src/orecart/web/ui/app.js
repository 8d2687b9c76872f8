// The hash router, the login box and the pipeline pages.
import { call, token } from "./api.js";
import { badge, duration, el, link, notAvailable, records, section, seconds, table } from "./dom.js";
import { durationChart } from "./charts.js";
import { runPage } from "./run.js";
import { memberPage } from "./member.js";
import { diffPage } from "./diff.js";

const view = document.getElementById("view");
let leaving = new AbortController(); // aborted when the page changes: streams and polls stop

const ROUTES = [
  [/^#?\/?$/, pipelinesPage],
  [/^#\/pipelines\/([^/]+)$/, pipelinePage],
  [/^#\/pipelines\/([^/]+)\/(sensors|versions|triggers|queries)$/, listPage],
  [/^#\/runs\/([^/]+)$/, runPage],
  [/^#\/runs\/([^/]+)\/diff$/, diffPage],
  [/^#\/runs\/([^/]+)\/members\/([^/]+)$/, memberPage],
];

async function route() {
  leaving.abort();
  leaving = new AbortController();
  document.getElementById("logout").hidden = !token.get();
  if (!token.get()) return loginPage();
  const hash = location.hash.split("?")[0];
  for (const [pattern, page] of ROUTES) {
    const found = hash.match(pattern);
    if (found) {
      const args = found.slice(1).map(decodeURIComponent);
      return page({ view, signal: leaving.signal, crumbs }, ...args);
    }
  }
  view.replaceChildren(el("p", { class: "error", text: `no such page: ${hash}` }));
}

function crumbs(...links) {
  document.getElementById("crumbs").replaceChildren(...links.map(([href, text]) => link(href, text)));
}

function loginPage() {
  crumbs();
  const input = el("input", { type: "password", name: "token", autocomplete: "off", required: true });
  const message = el("p", { class: "error" });
  const form = el("form", { class: "login", on: { submit: async (event) => {
    event.preventDefault();
    token.set(input.value.trim());
    const answer = await call("/pipelines");
    if (answer.ok) return route();
    token.clear();
    message.textContent = answer.error;
  } } }, el("h1", { text: "Log in" }),
  el("label", {}, "API token (orecart token create)", input), el("button", { type: "submit", text: "log in" }), message);
  view.replaceChildren(form);
}

export function failed(answer) { return el("p", { class: "error", text: answer.error }); }

async function pipelinesPage({ view }) {
  crumbs();
  const answer = await call("/pipelines");
  if (!answer.ok) return view.replaceChildren(failed(answer));
  view.replaceChildren(el("h1", { text: "Pipelines" }), section("Served pipelines", table(
    ["pipeline", "members", "schedule"],
    answer.data.map((p) => [link(`#/pipelines/${encodeURIComponent(p.name)}`, p.name), String(p.members), p.schedule ?? ""]))));
}

async function pipelinePage({ view, crumbs }, name) {
  crumbs(["#/", "pipelines"], [`#/pipelines/${encodeURIComponent(name)}`, name]);
  const answer = await call(`/pipelines/${encodeURIComponent(name)}`);
  if (!answer.ok) return view.replaceChildren(failed(answer));
  const runs = el("div");
  const chart = el("div");
  const base = `#/pipelines/${encodeURIComponent(name)}`;
  view.replaceChildren(el("h1", { text: `Pipeline ${name}` }),
    el("p", {}, ["sensors", "versions", "triggers", "queries"].flatMap((k) => [link(`${base}/${k}`, k), " "])),
    startForm(name), section("Runs", filters(name, runs), runs), section("Run durations", chart));
  await showRuns(name, runs, "", "", chart);
}

function filters(name, target) {
  const status = el("select", { name: "status" }, ["", "queued", "running", "succeeded", "failed", "cancelled", "aborted"]
    .map((s) => el("option", { value: s, text: s || "any status" })));
  const labels = el("input", { name: "labels", placeholder: "label NAME:VALUE" });
  return el("form", { class: "filters", on: { submit: (event) => {
    event.preventDefault();
    showRuns(name, target, status.value, labels.value.trim());
  } } }, status, labels, el("button", { type: "submit", text: "filter" }));
}

async function showRuns(name, target, status, labels, chart) {
  const query = new URLSearchParams({ pipeline: name, limit: "200" });
  if (status) query.set("status", status);
  for (const pair of labels.split(/[\s,]+/).filter(Boolean)) query.append("metadata", pair);
  const answer = await call(`/runs?${query}`);
  if (!answer.ok) return target.replaceChildren(failed(answer));
  const runs = answer.data.runs;
  target.replaceChildren(runs.length ? table(["run", "status", "started", "duration", "labels"], runs.map((r) => [
    link(`#/runs/${encodeURIComponent(r.id)}`, r.id), badge(r.status), r.started_at ?? r.queued_at ?? "",
    duration(seconds(r.started_at, r.finished_at)),
    Object.entries(r.metadata).map(([k, v]) => `${k}=${v}`).join(" ")])) : el("p", { class: "muted", text: "no runs" }));
  if (chart) chart.replaceChildren(durationChart(runs));
}

function pairs(text) {
  const found = {};
  for (const line of text.split("\n").map((l) => l.trim()).filter(Boolean)) {
    const at = line.indexOf("=");
    if (at > 0) found[line.slice(0, at).trim()] = line.slice(at + 1);
  }
  return found;
}

function startForm(name) {
  const params = el("textarea", { name: "params", rows: 2, placeholder: "NAME=VALUE per line" });
  const labels = el("textarea", { name: "metadata", rows: 2, placeholder: "label NAME=VALUE per line" });
  const key = el("input", { name: "key", placeholder: "run key (optional)" });
  const message = el("p", { class: "error" });
  const form = el("form", { class: "inline", id: "start", on: { submit: async (event) => {
    event.preventDefault();
    const body = { pipeline: name, params: pairs(params.value), metadata: pairs(labels.value) };
    if (key.value.trim()) body.key = key.value.trim();
    const answer = await call("/runs", { method: "POST", body });
    if (!answer.ok) { message.textContent = answer.error; return; }
    location.hash = `#/runs/${encodeURIComponent(answer.data.id)}`;
  } } }, el("label", {}, "params", params), el("label", {}, "labels", labels), el("label", {}, "key", key),
  el("button", { type: "submit", text: "start a run" }));
  return section("Start a run (operate scope)", form, message);
}

async function listPage({ view, crumbs }, name, kind) {
  crumbs(["#/", "pipelines"], [`#/pipelines/${encodeURIComponent(name)}`, name], ["", kind]);
  const answer = await call(`/pipelines/${encodeURIComponent(name)}/${kind}`);
  const body = answer.status === 404 || answer.status === 405 ? notAvailable(kind)
    : !answer.ok ? failed(answer) : records(answer.data);
  view.replaceChildren(el("h1", { text: `${kind} of ${name}` }), section(kind, body));
}

document.getElementById("logout").addEventListener("click", () => { token.clear(); route(); });
window.addEventListener("hashchange", route);
route();
