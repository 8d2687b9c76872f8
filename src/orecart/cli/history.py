"""Commands that read the run history: status, runs, show, logs."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from orecart import display
from orecart.cli.base import (
    DEFAULT_PIPELINE,
    FileArg,
    Json,
    Params,
    PipelineOpt,
    Profile,
    State,
    app,
    guarded,
    members_json,
    out,
    print_json,
    source_of,
)
from orecart.service import RunDetail, Service, Source


@app.command(rich_help_panel="History")
@guarded
def status(file: FileArg, profile: Profile = None, param: Params = None, state: State = None,
           as_json: Json = False) -> None:
    """The latest run of the pipeline and each member's status."""
    detail = Service().status(source_of(file, profile, param, state))
    if detail is None:
        if as_json:
            print_json({"run": None, "members": []})
        else:
            out.print("no runs yet")
        return
    _print_detail(detail, as_json)


def _print_detail(detail: RunDetail, as_json: bool) -> None:
    if as_json:
        print_json({"run": detail.run, "members": members_json(detail.member_runs),
                     "attempts": detail.attempts})
    else:
        out.print(display.member_table(detail.run, detail.member_runs))


@app.command(rich_help_panel="History")
@guarded
def runs(file: FileArg, limit: Annotated[int, typer.Option(min=1)] = 20,
         state: State = None, as_json: Json = False) -> None:
    """The run history of the pipeline, newest first."""
    history = Service().runs(source_of(file, None, None, state), limit)
    if as_json:
        print_json(history)
    else:
        out.print(display.runs_table(history))



@app.command(rich_help_panel="History")
@guarded
def show(run_id: Annotated[str, typer.Argument(metavar="RUN", help="A run id or prefix.")],
         pipeline: PipelineOpt = DEFAULT_PIPELINE, state: State = None,
         as_json: Json = False) -> None:
    """One run in detail: parameters, members, attempts."""
    _print_detail(Service().show(source_of(pipeline, None, None, state), run_id), as_json)


@app.command(rich_help_panel="History")
@guarded
def logs(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="A run id or prefix.")],
    member: Annotated[str | None, typer.Argument(help="Only this member's log.")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing.")] = False,
    pipeline: PipelineOpt = DEFAULT_PIPELINE,
    state: State = None,
) -> None:
    """Print the logs of a run's members (all, or one)."""
    service = Service()
    source = source_of(pipeline, None, None, state)
    paths = service.log_files(source, run_id, member)
    for path in paths:
        if len(paths) > 1:
            out.print(f"==> {path.stem} <==", markup=False)
        if path.exists():
            sys.stdout.write(path.read_text(errors="replace"))
    if follow:
        _follow(service, source, run_id, paths)


def _follow(service: Service, source: Source, run_id: str, paths: list[Path]) -> None:
    offsets = {p: p.stat().st_size if p.exists() else 0 for p in paths}
    while True:
        for path in offsets:
            if path.exists() and path.stat().st_size > offsets[path]:
                with path.open("rb") as handle:
                    handle.seek(offsets[path])
                    chunk = handle.read()
                offsets[path] += len(chunk)
                sys.stdout.write(chunk.decode(errors="replace"))
                sys.stdout.flush()
        if service.show(source, run_id).run.status.terminal:
            return
        time.sleep(0.5)
