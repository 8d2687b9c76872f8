"""Commands of the sensors: `sensors` (each sensor's state; `--tick` looks once) and
`versions` (every source version seen, its state and its runs)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
from orecart.sensing import FileWatch, GitWatch, HttpWatch, Sensor
from orecart.sensors import redact
from orecart.service import Tools

SENSORS = "Service"


@app.add(SENSORS)
@file_arg
@state_opt
@click.option("--tick", "tick", is_flag=True,
              help="Look at every source once now (no serve needed) and queue what is new.")
@json_opt
@guarded
def sensors(file: Path, state: str | None, tick: bool, as_json: bool) -> None:
    """The pipeline's sensors: each one's source, cursor, last tick and last error.

    With --tick, every sensor looks once, here: its new versions are queued (for
    `orecart serve`, in source order) and printed; exit 1 when a sensor had an error.
    """
    source = source_of(file, None, None, state)
    tools = Tools()
    if tick:
        _tick(tools.tick_sensors(source), as_json)
        return
    views = tools.sensors(source)
    if as_json:
        print_json([_sensor_json(v) for v in views])
        return
    out().print(_sensor_table(views))


def _tick(ticked: Sequence[Any], as_json: bool) -> None:
    if as_json:
        print_json([{"sensor": t.sensor, "error": t.error, "new": len(t.added),
                     "queued": [{"version": v.version, "key": v.key, "run": a.run.id}
                                for v, a in t.submitted]} for t in ticked])
    else:
        for t in ticked:
            _tick_lines(t)
    if any(t.error for t in ticked):
        raise click.exceptions.Exit(Exit.FAILED)


def _tick_lines(ticked: Any) -> None:
    if ticked.error:
        err().print(printable(f"sensor {ticked.sensor}: error: {ticked.error}"),
                    markup=False, highlight=False, soft_wrap=True)
    for version, answer in ticked.submitted:
        out().print(printable(f"sensor {ticked.sensor}: version {version.version} queued as "
                              f"run {answer.run.id} (key {version.key})"),
                    markup=False, highlight=False, soft_wrap=True)
    if not ticked.error and not ticked.submitted:
        out().print(f"sensor {printable(ticked.sensor)}: nothing new", markup=False,
                    highlight=False)


def _watched(sensor: Sensor) -> str:
    match sensor.watch:
        case GitWatch(remote, refs, branch):
            return f"{redact(remote)} {refs or 'branch ' + (branch or '')}"
        case HttpWatch(url):
            return redact(url)
        case FileWatch(glob):
            return glob
    return ""  # pragma: no cover


def _cursor(cursor: Mapping[str, Any]) -> str:
    """A cursor in a few words (a tag sensor's can hold thousands of refs)."""
    if "refs" in cursor:
        return f"{len(cursor['refs'])} refs"
    if "commit" in cursor:
        return f"commit {str(cursor['commit'])[:12]}"
    if "files" in cursor:
        return f"{len(cursor['files'])} files"
    if "sha256" in cursor:
        return f"sha256 {str(cursor['sha256'])[:12]}" + (
            f", etag {cursor['etag']}" if cursor.get("etag") else "")
    return ""


def _sensor_table(views: Sequence[Any]) -> Table:
    table = Table(title="sensors", title_justify="left")
    for column in ("sensor", "kind", "source", "every", "cursor", "versions", "last tick",
                   "error"):
        table.add_column(column)
    for v in views:
        state = v.state
        error = f"{when(state.error_at)} {state.error}" if state and state.error else ""
        table.add_row(printable(v.sensor.name), v.sensor.kind, printable(_watched(v.sensor)),
                      f"{v.sensor.every:g}s", printable(_cursor(state.cursor) if state else ""),
                      str(v.versions), when(state.ticked_at if state else None),
                      printable(error))
    return table


def _sensor_json(view: Any) -> dict[str, Any]:
    sensor, state = view.sensor, view.state
    return {"name": sensor.name, "kind": sensor.kind, "source": _watched(sensor),
            "every": sensor.every, "versions": view.versions,
            "cursor": to_data(state.cursor) if state else None,
            "ticked_at": to_data(state.ticked_at) if state else None,
            "error": state.error if state else None,
            "error_at": to_data(state.error_at) if state else None}


@app.add(SENSORS)
@file_arg
@state_opt
@json_opt
@guarded
def versions(file: Path, state: str | None, as_json: bool) -> None:
    """Every source version the pipeline's sensors saw, in source order, with its state
    (not processed, queued, running, succeeded, failed, invalid, skipped, cancelled,
    aborted) and its runs."""
    views = Tools().versions(source_of(file, None, None, state))
    if as_json:
        print_json([_version_json(v) for v in views])
        return
    out().print(_version_table(views))


def _version_table(views: Sequence[Any]) -> Table:
    table = Table(title="versions", title_justify="left")
    for column in ("sensor", "version", "ref", "commit", "seen", "state", "runs"):
        table.add_column(column)
    for view in views:
        v = view.version
        runs = ", ".join(f"{r.id} {r.status}" for r in view.runs)
        table.add_row(printable(v.sensor), printable(v.version[:40]), printable(v.ref),
                      v.commit[:12], when(v.seen_at), styled(str(view.state)), printable(runs))
    return table


def _version_json(view: Any) -> dict[str, Any]:
    v = view.version
    return {"sensor": v.sensor, "id": v.id, "key": v.key, "version": v.version,
            "position": v.position, "ref": v.ref, "commit": v.commit,
            "params": to_data(v.params), "seen_at": to_data(v.seen_at),
            "state": str(view.state),
            "runs": [{"id": r.id, "status": str(r.status), "origin": r.origin,
                      "queued_at": to_data(r.queued_at), "started_at": to_data(r.started_at),
                      "finished_at": to_data(r.finished_at)} for r in view.runs]}
