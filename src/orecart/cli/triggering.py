"""The `triggers` command: each graph trigger's pattern, action, cursor and firings by
status; `--firings` lists firings; `--tick` polls once here and fires what is new."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from orecart.cli.base import (
    Exit,
    app,
    err,
    file_arg,
    guarded,
    json_opt,
    out,
    print_json,
    source_of,
    state_opt,
)
from orecart.cli.display import styled, when
from orecart.cli.text import printable
from orecart.model import to_data
from orecart.service import Tools
from orecart.triggering import Firing, FiringStatus

TRIGGERS = "Service"


@app.add(TRIGGERS)
@file_arg
@state_opt
@click.option("--firings", "firings", is_flag=True, help="List the firings, newest first.")
@click.option("--trigger", "trigger", default=None, help="With --firings: of this trigger.")
@click.option("--status", "status", default=None,
              type=click.Choice([s.value for s in FiringStatus]),
              help="With --firings: in this status.")
@click.option("--limit", "limit", default=50, show_default=True, type=click.IntRange(1),
              help="With --firings: at most this many.")
@click.option("--tick", "tick", is_flag=True,
              help="Poll every trigger once now (no serve needed) and fire what is new.")
@json_opt
@guarded
def triggers(file: Path, state: str | None, firings: bool, trigger: str | None,
             status: str | None, limit: int, tick: bool, as_json: bool) -> None:
    """The pipeline's graph triggers: pattern, action, cursor, last poll, error and
    firings by status.

    With --firings, the firings (params, status, attempts, error, run); with --tick,
    every trigger polls once here: new matches fire, due retries are taken, and what
    fired is printed; exit 1 when a poll or a firing failed.
    """
    source = source_of(file, None, None, state)
    tools = Tools()
    if tick:
        _tick(tools.tick_triggers(source), as_json)
    elif firings:
        found = tools.firings(source, trigger, FiringStatus(status) if status else None, limit)
        if as_json:
            print_json([_firing_json(f) for f in found])
        else:
            out().print(_firing_table(found))
    else:
        views = tools.triggers(source)
        if as_json:
            print_json([_trigger_json(v) for v in views])
        else:
            out().print(_trigger_table(views))


def _tick(polled: Sequence[Any], as_json: bool) -> None:
    if as_json:
        print_json([{"trigger": p.trigger, "error": p.error, "position": p.position,
                     "adopted": p.adopted, "retried": p.retried,
                     "fired": [_firing_json(f) for f in p.fired]}
                    for p in polled])
    else:
        for p in polled:
            _tick_lines(p)
    if any(p.error or any(f.status is FiringStatus.FAILED for f in p.fired) for p in polled):
        raise click.exceptions.Exit(Exit.FAILED)


def _tick_lines(polled: Any) -> None:
    def line(text: str, stream: Any) -> None:
        stream.print(printable(text), markup=False, highlight=False, soft_wrap=True)

    if polled.error:
        line(f"trigger {polled.trigger}: error: {polled.error}", err())
    for f in polled.fired:
        why = f": {f.error}" if f.error else ""
        ran = f" (run {f.run_id})" if f.run_id else ""
        line(f"trigger {f.trigger}: {f.element_id} {f.status}{ran} "
             f"{json.dumps(to_data(f.params))}{why}", out())
    if polled.adopted:
        line(f"trigger {polled.trigger}: {polled.adopted} restored element(s) kept their "
             "firings", out())
    if not polled.error and not polled.fired and not polled.adopted:
        line(f"trigger {polled.trigger}: nothing new", out())


def _trigger_table(views: Sequence[Any]) -> Table:
    table = Table(title="triggers", title_justify="left")
    for column in ("trigger", "kind", "pattern", "action", "cursor", "last poll", "error",
                   "firings"):
        table.add_column(column)
    for v in views:
        c = v.cursor
        error = f"{when(c.error_at)} {c.error}" if c.error else ""
        counts = ", ".join(f"{n} {s}" for s, n in sorted(v.firings.items()))
        table.add_row(printable(v.trigger.name), str(v.trigger.kind), printable(v.pattern),
                      printable(v.action), str(c.position), when(c.polled_at),
                      printable(error), counts)
    return table


def _trigger_json(view: Any) -> dict[str, Any]:
    c = view.cursor
    return {"name": view.trigger.name, "kind": str(view.trigger.kind),
            "pattern": view.pattern, "action": view.action, "every": view.trigger.every,
            "cursor": c.position, "polled_at": to_data(c.polled_at), "error": c.error,
            "error_at": to_data(c.error_at), "firings": dict(view.firings)}


def _firing_table(found: Sequence[Firing]) -> Table:
    table = Table(title="firings", title_justify="left")
    for column in ("trigger", "element", "params", "status", "attempts", "depth", "created",
                   "error", "run"):
        table.add_column(column)
    for f in found:
        table.add_row(printable(f.trigger), printable(f.element_id),
                      printable(json.dumps(to_data(f.params))), styled(str(f.status)),
                      str(f.attempts), str(f.depth), when(f.created_at),
                      printable(f.error or ""), f.run_id or "")
    return table


def _firing_json(f: Firing) -> dict[str, Any]:
    return {"trigger": f.trigger, "element": f.element, "element_id": f.element_id,
            "params": to_data(f.params), "status": str(f.status), "attempts": f.attempts,
            "error": f.error, "run_id": f.run_id, "origin": f.origin, "depth": f.depth,
            "created_at": to_data(f.created_at), "ended_at": to_data(f.ended_at),
            "next_at": to_data(f.next_at)}
