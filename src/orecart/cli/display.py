"""How runs, plans and histories look on a terminal: Rich tables and a live progress
table (plain lines, for pipes, are ``orecart.cli.lines``). Rendering only; no decisions here.

Strings are drawn as text on the consoles of ``orecart.cli.console``; ``Text`` made here
carries ``printable`` text, so what is measured is what is shown."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from orecart.cli.lines import seconds
from orecart.cli.text import printable
from orecart.events import (
    Event,
    MemberFinished,
    MemberOutput,
    MemberStarted,
    Planned,
    RunFinished,
    RunStarted,
)
from orecart.model import MemberRun, MemberStatus, Notification, Run, RunStatus, to_data
from orecart.planner import Decision, Plan

if TYPE_CHECKING:  # imported where used: `status` and `show` draw no live display
    from rich.live import Live

STYLE = {
    "succeeded": "green",
    "skipped": "cyan",
    "running": "yellow",
    "pending": "dim",
    "queued": "dim",
    "failed": "red",
    "errored": "red bold",
    "cancelled": "magenta",
    "aborted": "red",
    "run": "yellow",
    "skip": "cyan",
    "cancel": "magenta",
}


def styled(value: str) -> Text:
    return Text(printable(value), style=STYLE.get(value, ""))


def when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if value else ""


def plan_table(plan: Plan) -> Table:
    table = Table(title=f"plan for {plan.pipeline.name}", title_justify="left")
    for column in ("member", "decision", "reason", "needs"):
        table.add_column(column)
    for step in plan.steps:
        table.add_row(step.member.name, styled(str(step.decision)), step.reason,
                      ", ".join(step.member.needs))
    return table


def plan_summary(plan: Plan) -> str:
    counts = {d: plan.count(d) for d in Decision}
    return ", ".join(f"{counts[d]} {d}" for d in Decision)


def run_facts(run: Run) -> Text:
    """``show`` and ``status``: who asked for the run (its origin), its key, labels and
    parameters, one line above its members."""
    parts = [f"origin {run.origin}"]
    parts += [f"key {run.key}"] if run.key else []
    parts += [f"labels {_pairs(run.labels)}"] if run.labels else []
    parts += [f"params {_pairs(run.params)}"] if run.params else []
    return Text(printable(", ".join(parts)))


def _pairs(values: Mapping[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in values.items())


#: Members a run's table lists one by one; a larger run lists only those that did not
#: succeed or skip (up to this many) and counts the rest: 10,000 rows of a terminal table
#: take half a minute to draw and nobody reads them.
MEMBER_ROWS = 50


def member_table(
    run: Run, member_runs: Sequence[MemberRun], rows: int = MEMBER_ROWS,
    unlisted: Mapping[str, int] | None = None,
) -> RenderableType:
    """The members of a run and how each ended (see ``MEMBER_ROWS`` for a large run).
    ``unlisted``: the store summarised the run already (``RunDetail.unlisted``), so
    ``member_runs`` are the ones to list and these the others, counted by status."""
    title = f"run {run.id} of {run.pipeline}: {run.status}"
    listed = member_runs
    if unlisted is None:
        listed, unlisted = _listed(member_runs, rows)
    caption = Text()
    if unlisted:
        told = ", ".join(f"{n} {status}" for status, n in sorted(unlisted.items()))
        caption.append(f"{sum(unlisted.values())} members not listed ({told}); "
                       "--json lists every member")
    if run.error:
        caption.append(("\n" if caption else "") + f"error: {run.error}", style="red")
    if unlisted and not listed:
        return Text(title + "\n").append_text(caption)
    table = Table(title=title, title_justify="left", caption=caption or None,
                  caption_justify="left")  # not markup
    for column in ("member", "status", "attempts", "exit", "duration", "detail"):
        table.add_column(column)
    for mr in listed:
        exit_code = "" if mr.exit_code is None else str(mr.exit_code)
        detail = mr.error or mr.reason or ""
        table.add_row(mr.member, styled(str(mr.status)), str(mr.attempts or ""), exit_code,
                      seconds(mr.duration), detail)
    return table


def _listed(
    member_runs: Sequence[MemberRun], rows: int
) -> tuple[Sequence[MemberRun], Counter[str]]:
    """(the member runs to list, how many others by status): all of a small run; else the
    first ``rows`` that did not succeed or skip, in plan order (as
    ``orecart.stores.summary`` picks them in the store)."""
    if len(member_runs) <= rows:
        return member_runs, Counter()
    notable = [mr for mr in member_runs if not mr.status.ok][:rows]
    shown = {mr.member for mr in notable}
    return notable, Counter(str(mr.status) for mr in member_runs if mr.member not in shown)


def runs_table(runs: Sequence[Run]) -> Table:
    """``orecart runs``: one pipeline's runs, each with who asked (origin) and its key. A
    run id, a status and a start time are never cut; a long key or parameter list folds
    instead, and a column no run has a value in (key, params) is left out."""
    names = sorted({run.pipeline for run in runs})
    title = f"runs of {printable(', '.join(names))}" if names else "no runs yet"
    table = Table(title=title, title_justify="left")
    rows = [_run_row(run) for run in runs]
    shown = [i for i, column in enumerate(_RUN_COLUMNS)
             if column not in _OPTIONAL or any(row[i] for row in rows)]
    for i in shown:
        column = _RUN_COLUMNS[i]
        table.add_column(column, no_wrap=column in _WHOLE, overflow="fold")
    for row in rows:
        table.add_row(*(row[i] for i in shown))
    return table


_RUN_COLUMNS = ("run", "status", "origin", "key", "started", "duration", "params")
_OPTIONAL = frozenset({"key", "params"})


def _run_row(run: Run) -> tuple[Any, ...]:
    duration = (run.finished_at - run.started_at).total_seconds() if (
        run.finished_at and run.started_at) else None
    return (run.id, styled(str(run.status)), printable(run.origin), printable(run.key or ""),
            when(run.started_at), seconds(duration), printable(_pairs(run.params)))


#: columns of ``runs_table`` shown whole at any width (what `show` and `cancel` take)
_WHOLE = frozenset({"run", "status", "started"})


def queue_table(view: Any) -> RenderableType:
    """``orecart queue``: the queued runs (oldest first), the running ones, who serves."""
    table = Table(title="queue", title_justify="left")
    runs = [*view.running, *view.queued]
    # a run id is what `orecart cancel` needs: never cut, whatever the terminal's width
    table.add_column("run", no_wrap=True, min_width=max((len(r.id) for r in runs), default=3))
    for column in ("pipeline", "status", "key", "origin", "since"):
        table.add_column(column)
    for run in runs:
        since = run.started_at if run.status is not RunStatus.QUEUED else run.queued_at
        table.add_row(run.id, printable(run.pipeline), styled(str(run.status)),
                      printable(run.key or ""), printable(run.origin), when(since))
    served = (f"served by {len(view.services)} process(es): "
              + ", ".join(f"pid {s.pid} on {printable(s.host)}{_leads(view.leaders, s.id)}"
                          for s in view.services)
              if view.services else "no `orecart serve` runs on this state store")
    return Group(table, Text(served))


def _leads(leaders: Sequence[Any], service: str) -> str:
    """What a serve leads among the serves of a store: ``recovery``, ``pipeline:<name>``."""
    kinds = [printable(lead.kind) for lead in leaders if lead.service == service]
    return f" (leads {' '.join(kinds)})" if kinds else ""


def notifications_table(notifications: Sequence[Notification]) -> Table:
    """Each notification of a run: where (no password), how it went, tries, error."""
    table = Table(title="notifications", title_justify="left")
    for column in ("url", "outcome", "tries", "sent", "error"):
        table.add_column(column)
    for n in notifications:
        table.add_row(n.url, n.outcome, str(n.attempts), when(n.sent_at), n.error or "")
    return table


class LiveProgress:
    """A live table of every member's status, with output lines printed above it."""

    def __init__(self, console: Console, quiet: bool = False) -> None:
        self.console, self.quiet = console, quiet
        self.rows: dict[str, MemberRun | None] = {}
        self.title = "planning"
        from rich.live import Live

        self.live: Live = Live(self._render(), console=console, refresh_per_second=4,
                               transient=False)
        self._lock = threading.Lock()

    def __enter__(self) -> LiveProgress:
        self.live.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.live.update(self._render())
        self.live.__exit__(kind, value, tb)

    def emit(self, event: Event) -> None:
        with self._lock:
            match event:
                case MemberOutput(_, member, line) if not self.quiet:
                    self.live.console.print(Text(printable(f"{member} | "), style="dim")
                                           + Text(printable(line)))
                case MemberStarted(mr, _) | MemberFinished(mr):
                    self.rows[mr.member] = mr
                    self.live.update(self._render())
                case Planned(_, plan):
                    self.rows = {s.member.name: None for s in plan.steps}
                    self.title = plan.pipeline.name
                    self.live.update(self._render())
                case RunStarted(run) | RunFinished(run):
                    self.title = f"run {run.id} of {run.pipeline}: {run.status}"
                    self.live.update(self._render())

    def _render(self) -> RenderableType:
        table = Table(title=self.title, title_justify="left")
        for column in ("member", "status", "attempt", "duration", "detail"):
            table.add_column(column)
        now = datetime.now(UTC)
        for name, mr in self.rows.items():
            if mr is None:
                table.add_row(name, styled("pending"), "", "", "")
                continue
            end = mr.finished_at or (now if mr.status is MemberStatus.RUNNING else None)
            took = (end - mr.started_at).total_seconds() if end and mr.started_at else None
            table.add_row(name, styled(str(mr.status)), str(mr.attempts or ""), seconds(took),
                          mr.error or (mr.reason if mr.status is MemberStatus.SKIPPED else "")
                          or "")
        return Group(table)


def images_table(report: Sequence[Any]) -> Table:
    table = Table(title_justify="left")
    for column in ("member", "image", "tag", "digest", "local", "error"):
        table.add_column(column)
    for info in report:
        table.add_row(info.member, info.image, info.tag or "", info.digest or "",
                      "yes" if info.present_locally else "no", info.error or "")
    return table


def _signed(value: int) -> str:
    return f"{value:+d}"


def changes_table(report: Mapping[str, Any]) -> Table:
    table = Table(title=f"graph changes of run {report['run']}", title_justify="left")
    for column in ("member", "status", "nodes", "relationships", "keys"):
        table.add_column(column)
    for change in report["members"]:
        keys = [f"+{len(v)} {k}" for k, v in change["added"].items()]
        keys += [f"-{len(v)} {k}" for k, v in change["removed"].items()]
        table.add_row(
            change["member"], styled(change["status"]),
            " ".join(f"{k} {_signed(n)}" for k, n in change["nodes"].items()),
            " ".join(f"{k} {_signed(n)}" for k, n in change["relationships"].items()),
            " ".join(keys),
        )
    return table


def comparison_tables(report: Mapping[str, Any]) -> RenderableType:
    runs = report["runs"]
    counts = Table(title=f"run {runs['a']} -> run {runs['b']}", title_justify="left")
    for column in ("kind", "name", "a", "b", "difference"):
        counts.add_column(column)
    for kind in ("nodes", "relationships"):
        for name, row in report[kind].items():
            counts.add_row(kind, name, str(row["a"]), str(row["b"]), _signed(row["difference"]))
    members = Table(title_justify="left")
    for column in ("member", "a", "b", "changed"):
        members.add_column(column)
    for name, row in report["members"].items():
        members.add_row(name, (row["a"] or {}).get("status", "-"),
                        (row["b"] or {}).get("status", "-"), ", ".join(row["changed"]))
    return Group(counts, members)


@contextmanager
def transfer_progress(console: Console, what: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar for a backup or restore; yields the (done, total) callback."""
    from rich.progress import MofNCompleteColumn, Progress

    with Progress(*Progress.get_default_columns(), MofNCompleteColumn(), console=console,
                  transient=True) as progress:
        task = progress.add_task(what, total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total or None)

        yield update


def backup_counts(info: Any) -> str:
    data = to_data(info)
    parts = [f"{data[k]} {k}" for k in ("nodes", "relationships", "constraints", "indexes")
             if isinstance(data, dict) and k in data]
    return ", ".join(parts) or str(info)


def graph_status_view(status: Any) -> RenderableType:
    data = to_data(status)
    head = Table.grid(padding=(0, 2))
    head.add_row("server", f"Neo4j {status.server_version} {status.edition}")
    for key in ("database", "nodes", "relationships"):
        head.add_row(key, str(data[key]))
    parts: list[RenderableType] = [head]
    for key, title in (("labels", "label"), ("relationship_types", "type")):
        if data.get(key):
            table = Table(title_justify="left")
            table.add_column(title)
            table.add_column("count", justify="right")
            for name, count in data[key].items():
                table.add_row(name, str(count))
            parts.append(table)
    if data.get("runs"):
        table = Table(title="last runs", title_justify="left")
        for column in ("run", "pipeline", "status", "started", "finished"):
            table.add_column(column)
        for run in status.runs:
            table.add_row(run.id, run.pipeline or "", styled(run.status or ""),
                          when(run.started_at), when(run.finished_at))
        parts.append(table)
    return Group(*parts)
