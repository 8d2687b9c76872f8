// The run page: summary, live member states (SSE), the DAG, the timeline, the member list.
import { call, follow } from "./api.js";
import { badge, duration, el, link, section, seconds, table, TERMINAL } from "./dom.js";
import { drawDag } from "./dag.js";
import { timeline } from "./timeline.js";
import { memberList } from "./list.js";

export async function runPage({ view, signal, crumbs }, id) {
  const answer = await call(`/runs/${encodeURIComponent(id)}`);
  if (!answer.ok) return view.replaceChildren(el("p", { class: "error", text: answer.error }));
  const run = answer.data;
  crumbs(["#/", "pipelines"], [`#/pipelines/${encodeURIComponent(run.pipeline)}`, run.pipeline], ["", run.id]);
  const pipeline = await call(`/pipelines/${encodeURIComponent(run.pipeline)}`);
  const defs = new Map((pipeline.ok ? pipeline.data.members : []).map((m) => [m.name, m]));
  const state = { run, members: new Map(run.members.map((m) => [m.member, m])), defs };
  const parts = { summary: el("div"), actions: el("div"), dag: el("div"), gantt: el("div"), list: el("div") };
  view.replaceChildren(el("h1", {}, `Run ${run.id} `, el("span", { id: "run-status" })),
    section("Summary", parts.summary, parts.actions), section("Members (DAG by needs depth)", parts.dag),
    section("Timeline", parts.gantt), section("Member list", parts.list));
  const list = memberList(parts.list, run.id);
  const dag = drawDag(parts.dag, state, run.id, list);
  const redraw = () => {
    summary(parts.summary, state);
    actions(parts.actions, state);
    dag.draw();
    list.update([...state.members.values()]);
    parts.gantt.replaceChildren(timeline(state));
  };
  redraw();
  performance.mark("orecart:run-drawn"); // the bench's first meaningful paint
  if (!TERMINAL.has(run.status)) live(state, redraw, signal);
}

function live(state, redraw, signal) {
  let pending = false;
  const soon = () => {
    if (pending) return;
    pending = true;
    setTimeout(() => { pending = false; if (!signal.aborted) redraw(); }, 100);
  };
  follow(`/runs/${encodeURIComponent(state.run.id)}/events`, ({ event, data }) => {
    if (event === "member_started" || event === "member_finished" || event === "member_waiting") {
      const was = state.members.get(data.data.member) ?? {};
      const started = event === "member_started" ? { attempt_started_at: data.at } : {};
      state.members.set(data.data.member, { ...was, ...data.data, ...started });
    } else if (event === "attempt_finished") {
      const was = state.members.get(data.data.member) ?? { member: data.data.member };
      const spans = (was.attempt_spans ?? []).filter((a) => a.number !== data.data.number);
      spans.push(data.data);
      spans.sort((a, b) => a.number - b.number);
      state.members.set(data.data.member, { ...was, attempt_spans: spans });
    } else if (event === "run_started" || event === "run_finished") {
      const { checks: _pipelineOnly, ...fields } = data.data; // the run's own checks only:
      state.run = { ...state.run, ...fields }; // members' post-checks come with the reload
    }
    soon();
  }, signal).then(async () => {
    if (signal.aborted) return;
    const answer = await call(`/runs/${encodeURIComponent(state.run.id)}`);
    if (answer.ok && !signal.aborted) {
      state.run = answer.data;
      state.members = new Map(answer.data.members.map((m) => [m.member, m]));
      redraw();
    }
  });
}

function counts(members) {
  const found = {};
  for (const m of members) found[m.status] = (found[m.status] ?? 0) + 1;
  return found;
}

function summary(target, { run, members }) {
  document.getElementById("run-status").replaceChildren(badge(run.status));
  const all = [...members.values()];
  const skipped = {};
  for (const m of all.filter((m) => m.status === "skipped" || m.status === "cancelled")) {
    const why = `${m.status}: ${m.reason_code ?? ""} ${m.reason ?? ""}`.trim();
    skipped[why] = (skipped[why] ?? 0) + 1;
  }
  const rows = [
    ["status", badge(run.status)], ["duration", duration(seconds(run.started_at, run.finished_at))],
    ["members", Object.entries(counts(all)).map(([s, n]) => `${n} ${s}`).join(", ")],
    ["params", Object.entries(run.params).map(([k, v]) => `${k}=${v}`).join(" ")],
    ["labels", Object.entries(run.metadata).map(([k, v]) => `${k}=${v}`).join(" ")],
    ["key", run.key ?? ""], ["origin", run.origin], ["error", run.error ?? ""],
    ["backups", backups(run.backups ?? [])],
  ];
  const why = Object.entries(skipped).slice(0, 20).map(([reason, n]) => el("li", { text: `${n} × ${reason}` }));
  target.replaceChildren(el("table", { id: "summary" }, rows.map(([k, v]) => el("tr", {}, el("th", { text: k }), el("td", {}, v)))),
    checks(run.checks ?? []),
    why.length ? el("div", {}, el("h2", { text: "Skipped or cancelled, and why" }), el("ul", {}, why)) : "",
    link(`#/runs/${encodeURIComponent(run.id)}/diff`, "graph diff"));
}

// The checks that ran (the pipeline's, members' post-checks), passed or not, and why.
function checks(found) {
  if (!found.length) return el("p", { id: "checks", class: "muted", text: "checks: none ran" });
  return el("div", { id: "checks" }, el("h2", { text: "Checks" }), table(["of", "check", "result", "message"],
    found.map((c) => [c.member ?? "pipeline", c.name, el("span", { class: c.passed ? "" : "error", text: c.passed ? "passed" : "failed" }), c.message])));
}

function backups(paths) {
  return paths.length ? el("ul", { id: "backups" }, paths.map((p) => el("li", { text: p }))) : "none";
}

function actions(target, { run, members }) {
  const message = el("span", { class: "error" });
  const post = (path, body) => async () => {
    const answer = await call(`/runs/${encodeURIComponent(run.id)}/${path}`, { method: "POST", body });
    if (!answer.ok) { message.textContent = answer.error; return; }
    if (path === "retry") location.hash = `#/runs/${encodeURIComponent(answer.data.id)}`;
    else message.textContent = `${path}: ${answer.data.status}`;
  };
  const failedOnes = [...members.values()].some((m) => m.status === "failed" || m.status === "errored");
  target.replaceChildren(el("p", {},
    TERMINAL.has(run.status) ? "" : el("button", { id: "cancel", on: { click: post("cancel") }, text: "cancel run" }),
    TERMINAL.has(run.status) && failedOnes ? el("button", { id: "retry", on: { click: post("retry", { only_failed: true }) }, text: "retry failed" }) : "",
    " ", message));
}
