// A virtualized member list: only the rows in view are in the DOM, whatever the run's size.
import { badge, el, link } from "./dom.js";

const ROW = 24;

export function memberList(target, runId) {
  const filter = el("input", { name: "member-filter", placeholder: "filter by name or status" });
  const box = el("div", { class: "vlist" });
  const spacer = el("div");
  box.append(spacer);
  target.replaceChildren(filter, box);
  let all = [];
  let shown = [];
  const render = () => {
    const first = Math.floor(box.scrollTop / ROW);
    const last = Math.min(shown.length, first + Math.ceil(box.clientHeight / ROW) + 2);
    spacer.style.height = `${shown.length * ROW}px`;
    const rows = [];
    for (let i = first; i < last; i += 1) {
      const m = shown[i];
      const row = el("div", { class: "row", "data-member": m.member },
        link(`#/runs/${encodeURIComponent(runId)}/members/${encodeURIComponent(m.member)}`, m.member), badge(m.status),
        el("span", { class: "muted", text: m.reason ?? "" }));
      row.style.top = `${i * ROW}px`;
      rows.push(row);
    }
    box.replaceChildren(spacer, ...rows);
  };
  const apply = () => {
    const words = filter.value.trim().toLowerCase();
    shown = words ? all.filter((m) => m.member.toLowerCase().includes(words) || m.status === words) : all;
    render();
  };
  filter.addEventListener("input", apply);
  box.addEventListener("scroll", render);
  return {
    update(members) { all = members; apply(); },
    only(names) { filter.value = ""; shown = all.filter((m) => names.has(m.member)); render(); },
  };
}
