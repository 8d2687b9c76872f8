// The member page: status, exit, image digest, env names, attempts, artifacts, live log.
import { call } from "./api.js";
import { badge, duration, el, notAvailable, records, section, seconds, table, TERMINAL } from "./dom.js";

const POLL_MS = 1000;
const TAIL_BYTES = 65536; // the end of a log a page shows

export async function memberPage({ view, signal, crumbs }, id, name) {
  const path = `/runs/${encodeURIComponent(id)}/members/${encodeURIComponent(name)}`;
  const answer = await call(path);
  if (!answer.ok) return view.replaceChildren(el("p", { class: "error", text: answer.error }));
  const run = await call(`/runs/${encodeURIComponent(id)}`);
  const pipeline = run.ok ? await call(`/pipelines/${encodeURIComponent(run.data.pipeline)}`) : { ok: false };
  const def = pipeline.ok ? pipeline.data.members.find((m) => m.name === name) : null;
  crumbs(["#/", "pipelines"], [`#/runs/${encodeURIComponent(id)}`, id], ["", name]);
  const parts = { facts: el("div"), attempts: el("div"), artifacts: el("div"), log: el("pre", { class: "log", id: "log" }) };
  view.replaceChildren(el("h1", { text: `Member ${name}` }), section("Member run", parts.facts),
    section("Attempts", parts.attempts), section("Artifacts", parts.artifacts), section("Log", parts.log));
  show(parts, answer.data, def);
  artifacts(parts.artifacts, path);
  tail(parts, path, def, signal);
}

function show(parts, { member: m, attempts }, def) {
  parts.facts.replaceChildren(table(["field", "value"], [
    ["status", badge(m.status)], ["exit code", m.exit_code === null ? "" : String(m.exit_code)],
    ["error", m.error ?? ""], ["reason", `${m.reason_code ?? ""} ${m.reason ?? ""}`.trim()],
    ["duration", duration(seconds(m.started_at, m.finished_at))], ["image", m.image ?? def?.image ?? ""],
    ["digest", m.digest ?? ""], ["fingerprint", m.fingerprint ?? ""],
    ["env names", (def?.env ?? []).join(", ")], ["artifacts folder", m.artifacts ?? ""],
  ]));
  parts.attempts.replaceChildren(table(["attempt", "status", "exit", "error", "duration"], attempts.map((a) => [
    String(a.number), badge(a.status), a.exit_code === null ? "" : String(a.exit_code), a.error ?? "",
    duration(seconds(a.started_at, a.finished_at))])));
}

async function artifacts(target, path) {
  const answer = await call(`${path}/artifacts`);
  target.replaceChildren(answer.ok ? records(answer.data) : notAvailable("artifact listing"));
}

async function tail(parts, path, def, signal) {
  while (!signal.aborted) {
    const log = await call(`${path}/logs?tail=${TAIL_BYTES}`, { text: true });
    if (signal.aborted) return;
    if (!log.ok && log.status !== 404) { parts.log.replaceChildren(notAvailable("log")); return; }
    parts.log.textContent = (log.ok && log.data) || "(nothing written yet)"; // 404: not yet
    parts.log.scrollTop = parts.log.scrollHeight;
    const now = await call(path);
    if (!now.ok || signal.aborted) return;
    show(parts, now.data, def);
    if (TERMINAL.has(now.data.member.status)) {
      const last = await call(`${path}/logs?tail=${TAIL_BYTES}`, { text: true }); // the rest
      if (last.ok && !signal.aborted) parts.log.textContent = last.data || "(nothing written)";
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
