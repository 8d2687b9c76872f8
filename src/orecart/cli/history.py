"""Commands that read the run history: status, runs, show, logs."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from orecart.cli.base import (
    app,
    file_arg,
    guarded,
    json_opt,
    members_json,
    out,
    params_opt,
    pipeline_opt,
    print_json,
    profile_opt,
    run_id_arg,
    source_of,
    state_opt,
)
from orecart.service import RunDetail, Service, Source

HISTORY = "History"


@app.add(HISTORY)
@file_arg
@profile_opt
@params_opt
@state_opt
@json_opt
@guarded
def status(file: Path, profile: str | None, param: tuple[str, ...], state: str | None,
           as_json: bool) -> None:
    """The latest run of the pipeline and each member's status."""
    detail = Service().status(source_of(file, profile, param, state))
    if detail is None:
        if as_json:
            print_json({"run": None, "members": []})
        else:
            out().print("no runs yet")
        return
    _print_detail(detail, as_json)


def _print_detail(detail: RunDetail, as_json: bool) -> None:
    if as_json:
        print_json({"run": detail.run, "members": members_json(detail.member_runs),
                     "attempts": detail.attempts})
    else:
        from orecart import display

        out().print(display.member_table(detail.run, detail.member_runs))


@app.add(HISTORY)
@file_arg
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True,
              help="At most this many runs.")
@state_opt
@json_opt
@guarded
def runs(file: Path, limit: int, state: str | None, as_json: bool) -> None:
    """The run history of the pipeline, newest first."""
    history = Service().runs(source_of(file, None, None, state), limit)
    if as_json:
        print_json(history)
    else:
        from orecart import display

        out().print(display.runs_table(history))


@app.add(HISTORY)
@run_id_arg
@pipeline_opt
@state_opt
@json_opt
@guarded
def show(run_id: str, pipeline: Path, state: str | None, as_json: bool) -> None:
    """One run in detail: parameters, members, attempts. RUN is a run id or its prefix."""
    _print_detail(Service().show(source_of(pipeline, None, None, state), run_id), as_json)


@app.add(HISTORY)
@run_id_arg
@click.argument("member", required=False)
@click.option("--follow", "-f", is_flag=True, help="Keep printing until the run ends.")
@pipeline_opt
@state_opt
@guarded
def logs(run_id: str, member: str | None, follow: bool, pipeline: Path,
         state: str | None) -> None:
    """Print the logs of a run's members: all of them, or only MEMBER's. RUN is a run id
    or its prefix."""
    service = Service()
    source = source_of(pipeline, None, None, state)
    paths = service.log_files(source, run_id, member)
    for path in paths:
        if len(paths) > 1:
            out().print(f"==> {path.stem} <==", markup=False)
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
