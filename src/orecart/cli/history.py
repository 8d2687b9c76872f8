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
from orecart.cli.text import printable
from orecart.service import RunDetail, Source, Tools

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
    source = source_of(file, profile, param, state)
    if as_json:
        _print_json(Tools().status(source))
        return
    from orecart.cli import display

    detail = Tools().status(source, attempts=False, rows=display.MEMBER_ROWS)
    if detail is None:
        out().print("no runs yet")
    else:
        _print_text(detail)


def _print_json(detail: RunDetail | None) -> None:
    """A run in full (every member run and attempt): what `--json` promises."""
    if detail is None:
        print_json({"run": None, "members": []})
    else:
        print_json({"run": detail.run, "members": members_json(detail.member_runs),
                    "attempts": detail.attempts, "notifications": detail.notifications})


def _print_text(detail: RunDetail) -> None:
    """A run as a table; a large one summarised (``display.MEMBER_ROWS``)."""
    from orecart.cli import display

    out().print(display.member_table(detail.run, detail.member_runs,
                                     unlisted=detail.unlisted))
    out().print(display.run_facts(detail.run))
    if detail.notifications:
        out().print(display.notifications_table(detail.notifications))


@app.add(HISTORY)
@file_arg
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True,
              help="At most this many runs.")
@state_opt
@json_opt
@guarded
def runs(file: Path, limit: int, state: str | None, as_json: bool) -> None:
    """The run history of the pipeline, newest first."""
    history = Tools().runs(source_of(file, None, None, state), limit)
    if as_json:
        print_json(history)
    else:
        from orecart.cli import display

        out().print(display.runs_table(history))


@app.add(HISTORY)
@run_id_arg
@pipeline_opt
@state_opt
@json_opt
@guarded
def show(run_id: str, pipeline: Path, state: str | None, as_json: bool) -> None:
    """One run in detail: parameters, members, attempts. RUN is a run id or its prefix."""
    source = source_of(pipeline, None, None, state)
    if as_json:
        _print_json(Tools().show(source, run_id))
        return
    from orecart.cli import display

    _print_text(Tools().show(source, run_id, attempts=False, rows=display.MEMBER_ROWS))


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
    service = Tools()
    source = source_of(pipeline, None, None, state)
    paths = service.log_files(source, run_id, member)
    offsets: dict[Path, int] = {}
    for path in paths:
        if len(paths) > 1:
            out().print(f"==> {path.stem} <==")
        offsets[path] = _write_new(path, 0, whole_lines=follow)
    if follow:
        _follow(service, source, run_id, offsets)


def _write(data: bytes) -> None:
    """Log bytes as their ``printable`` text: the file keeps what the member wrote, the
    terminal gets no escape sequence of it."""
    sys.stdout.write(printable(data.decode(errors="replace")))
    sys.stdout.flush()


def _follow(service: Tools, source: Source, run_id: str, offsets: dict[Path, int]) -> None:
    """Print what the logs gain past ``offsets`` until the run ends, whole lines only while
    it runs (a character or an escape sequence may be cut between two reads). The status
    is read before the logs, so the last round has all the run wrote."""
    while True:
        ended = service.show(source, run_id).run.status.terminal
        for path in offsets:
            offsets[path] += _write_new(path, offsets[path], whole_lines=not ended)
        if ended:
            return
        time.sleep(0.5)


def _write_new(path: Path, offset: int, whole_lines: bool) -> int:
    """Write what ``path`` holds past ``offset``; the number of bytes written."""
    if not path.exists() or path.stat().st_size <= offset:
        return 0
    with path.open("rb") as handle:
        handle.seek(offset)
        chunk = handle.read()
    if whole_lines:
        chunk = chunk[: chunk.rfind(b"\n") + 1]
    _write(chunk)
    return len(chunk)
