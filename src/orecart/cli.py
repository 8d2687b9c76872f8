"""The `orecart` command. Each command: parse -> one service call -> render -> exit code.

Exit codes (one table, used everywhere):
    0   every member succeeded or was skipped (or the command did what was asked)
    1   some member failed, errored or was cancelled; or the run could not be completed
    2   invalid input: a bad pipeline file, selection, option or run id
    3   another run of the same pipeline holds the lock
    130 interrupted (Ctrl-C or SIGTERM)
"""

from __future__ import annotations

import functools
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from enum import IntEnum
from pathlib import Path
from types import FrameType
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console

from orecart import display
from orecart.errors import LockedError, NotFoundError, OrecartError, SelectionError, SpecError
from orecart.model import PullPolicy, RunStatus, to_data
from orecart.planner import Selection
from orecart.runner import Runner
from orecart.service import Outcome, RunDetail, RunOptions, Service, Source, orecart_version


class Exit(IntEnum):
    OK = 0
    FAILED = 1
    INVALID = 2
    LOCKED = 3
    INTERRUPTED = 130


app = typer.Typer(
    name="orecart",
    help="Run data loaders as one dependency-ordered pipeline that fills a Neo4j graph, "
    "and keep an exact record of what ran.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

P = ParamSpec("P")
R = TypeVar("R")


def guarded(command: Callable[P, R]) -> Callable[P, R]:
    """Turn orecart's errors into a one-line message and the exit code of the table."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except LockedError as exc:
            _error(exc)
            raise typer.Exit(Exit.LOCKED) from None
        except (SpecError, SelectionError, NotFoundError) as exc:
            _error(exc)
            raise typer.Exit(Exit.INVALID) from None
        except OrecartError as exc:
            _error(exc)
            raise typer.Exit(Exit.FAILED) from None
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:  # a bug: say so plainly; ORECART_DEBUG=1 shows where
            if os.environ.get("ORECART_DEBUG"):
                raise
            _error(f"internal error: {exc!r} (set ORECART_DEBUG=1 to see the traceback)")
            raise typer.Exit(Exit.FAILED) from None

    return wrapper


def _error(exc: Exception | str) -> None:
    err.print(f"error: {exc}", markup=False, soft_wrap=True)


# -- shared options ----------------------------------------------------------------------

FileArg = Annotated[Path, typer.Argument(help="The pipeline file (YAML or JSON).")]
Profile = Annotated[
    str | None,
    typer.Option("--profile", envvar="ORECART_PROFILE", help="Apply this profile of the file."),
]
Params = Annotated[
    list[str] | None,
    typer.Option("--param", "-p", help="A run parameter NAME=VALUE, as ${params.NAME}."),
]
State = Annotated[
    str | None,
    typer.Option("--state", envvar="ORECART_STATE",
                 help="State store URL (default: .orecart/state.db beside the file)."),
]
GraphUri = Annotated[
    str | None, typer.Option("--graph", help="Target Neo4j (bolt://...), over the file's.")
]
Json = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
Pull = Annotated[
    PullPolicy | None,
    typer.Option("--pull", envvar="ORECART_PULL",
                 help="Pull policy for every image member: always, if-missing, never."),
]
Only = Annotated[list[str] | None, typer.Option(
    metavar="MEMBER", help="Only these members (repeatable).")]
From = Annotated[list[str] | None, typer.Option(
    "--from", metavar="MEMBER", help="This member and everything downstream (repeatable).")]
Skip = Annotated[list[str] | None, typer.Option(
    metavar="MEMBER", help="Not this member (repeatable).")]
OnlyFailed = Annotated[bool, typer.Option(help="Only what did not succeed in the last run.")]
Force = Annotated[bool, typer.Option(help="Also what the ledger says is already done.")]


def _params(values: list[str] | None) -> dict[str, str]:
    params: dict[str, str] = {}
    for value in values or []:
        name, sep, text = value.partition("=")
        if not sep or not name:
            raise SpecError(f"expected NAME=VALUE, got {value!r}", field="--param")
        params[name] = text
    return params


def _source(file: Path, profile: str | None, params: list[str] | None, state: str | None,
            graph: str | None = None, pull: PullPolicy | None = None) -> Source:
    if not file.exists():
        raise SpecError(f"no such pipeline file: {file}")
    return Source(file=file, profile=profile, params=_params(params), state=state,
                  graph=graph, pull=pull)


def _selection(only: list[str] | None, start: list[str] | None, skip: list[str] | None,
               only_failed: bool, force: bool) -> Selection:
    return Selection(frozenset(only or ()), frozenset(start or ()), frozenset(skip or ()),
                     only_failed, force)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(to_data(data), indent=2) + "\n")


def _version(value: bool) -> None:
    if value:
        out.print(f"orecart {orecart_version()}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """orecart: loaders in any language, one pipeline, an exact record."""


# -- commands ----------------------------------------------------------------------------


@app.command()
@guarded
def validate(file: FileArg, profile: Profile = None, param: Params = None) -> None:
    """Check a pipeline file: syntax, keys, types, needs, cycles, variables."""
    pipeline = Service().load(_source(file, profile, param, None))
    kind = "Motherlode/copili" if pipeline.format == "motherlode" else "native"
    out.print(f"ok: {file}: pipeline {pipeline.name!r} ({kind} format), "
              f"{len(pipeline.members)} members")


@app.command()
def schema() -> None:
    """Print the JSON Schema of the native pipeline format."""
    from orecart.spec import pipeline_schema

    sys.stdout.write(json.dumps(pipeline_schema(), indent=2) + "\n")


@app.command()
@guarded
def plan(
    file: FileArg,
    only: Only = None,
    start: From = None,
    skip: Skip = None,
    only_failed: OnlyFailed = False,
    force: Force = False,
    profile: Profile = None,
    param: Params = None,
    state: State = None,
    graph: GraphUri = None,
    pull: Pull = None,
    as_json: Json = False,
) -> None:
    """Show what a run would do, member by member, and why (a dry run)."""
    source = _source(file, profile, param, state, graph, pull)
    the_plan = Service().plan(source, _selection(only, start, skip, only_failed, force))
    if as_json:
        _print_json(the_plan.to_dict())
        return
    out.print(display.plan_table(the_plan))
    out.print(display.plan_summary(the_plan))


@app.command()
@guarded
def run(
    file: FileArg,
    only: Only = None,
    start: From = None,
    skip: Skip = None,
    only_failed: OnlyFailed = False,
    force: Force = False,
    fail_fast: Annotated[bool | None, typer.Option(
        "--fail-fast/--no-fail-fast", help="Start nothing new after a failure.")] = None,
    max_parallel: Annotated[int | None, typer.Option(min=1, help="At most N at once.")] = None,
    keep: Annotated[bool, typer.Option(help="Keep failed containers for debugging.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Hide member output.")] = False,
    profile: Profile = None,
    param: Params = None,
    state: State = None,
    graph: GraphUri = None,
    pull: Pull = None,
    as_json: Json = False,
) -> None:
    """Run the pipeline: members in dependency order, in parallel where they can be."""
    source = _source(file, profile, param, state, graph, pull)
    options = RunOptions(_selection(only, start, skip, only_failed, force), max_parallel,
                         fail_fast, keep)
    live = out.is_terminal and not (quiet or as_json)
    progress = display.LiveProgress(out) if live else nullcontext(
        display.PlainProgress(err if quiet or as_json else out, quiet=quiet or as_json))
    with _interrupts() as runners, progress as sink:

        def started(runner: Runner) -> None:
            runners.append(runner)
            if isinstance(sink, display.LiveProgress):
                sink.planned(runner.plan)

        outcome = Service().run(source, options, [sink], on_start=started)
    _report_run(outcome, as_json, table=not live)
    raise typer.Exit(_run_exit(outcome))


@contextmanager
def _interrupts() -> Iterator[list[Runner]]:
    """SIGINT/SIGTERM stop the runs added to the list (members aborted); a second one kills
    at once. Before any run started, they stop the command as usual."""
    runners: list[Runner] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        for runner in runners:
            runner.interrupt()
        if not runners:
            raise KeyboardInterrupt

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield runners
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _report_run(outcome: Outcome, as_json: bool, table: bool) -> None:
    if as_json:
        _print_json({"run": outcome.run, "members": outcome.member_runs})
    elif table:  # a live table already shows the end state
        err.print(display.member_table(outcome.run, outcome.member_runs))
    for note in outcome.notes:
        err.print(f"warning: hook failed: {note}", markup=False)


def _run_exit(outcome: Outcome) -> Exit:
    if outcome.run.status is RunStatus.ABORTED:
        return Exit.INTERRUPTED
    return Exit.OK if outcome.ok else Exit.FAILED


@app.command()
@guarded
def status(file: FileArg, profile: Profile = None, param: Params = None, state: State = None,
           as_json: Json = False) -> None:
    """The latest run of the pipeline and each member's status."""
    detail = Service().status(_source(file, profile, param, state))
    if detail is None:
        if as_json:
            _print_json({"run": None, "members": []})
        else:
            out.print("no runs yet")
        return
    _print_detail(detail, as_json)


def _print_detail(detail: RunDetail, as_json: bool) -> None:
    if as_json:
        _print_json({"run": detail.run, "members": detail.member_runs,
                     "attempts": detail.attempts})
    else:
        out.print(display.member_table(detail.run, detail.member_runs))


@app.command()
@guarded
def runs(file: FileArg, limit: Annotated[int, typer.Option(min=1)] = 20,
         state: State = None, as_json: Json = False) -> None:
    """The run history of the pipeline, newest first."""
    history = Service().runs(_source(file, None, None, state), limit)
    if as_json:
        _print_json(history)
    else:
        out.print(display.runs_table(history))


PipelineOpt = Annotated[
    Path, typer.Option("--pipeline", "-P", envvar="ORECART_PIPELINE",
                       help="The pipeline file whose state store holds the run.")
]


@app.command()
@guarded
def show(run_id: Annotated[str, typer.Argument(metavar="RUN", help="A run id or prefix.")],
         pipeline: PipelineOpt = Path("pipeline.yaml"), state: State = None,
         as_json: Json = False) -> None:
    """One run in detail: parameters, members, attempts."""
    _print_detail(Service().show(_source(pipeline, None, None, state), run_id), as_json)


@app.command()
@guarded
def logs(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="A run id or prefix.")],
    member: Annotated[str | None, typer.Argument(help="Only this member's log.")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing.")] = False,
    pipeline: PipelineOpt = Path("pipeline.yaml"),
    state: State = None,
) -> None:
    """Print the logs of a run's members (all, or one)."""
    service = Service()
    source = _source(pipeline, None, None, state)
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


@app.command()
@guarded
def images(file: FileArg, profile: Profile = None, param: Params = None, pull: Pull = None,
           as_json: Json = False) -> None:
    """Each image member's image, tag, resolved digest, and whether it is present locally."""
    report = Service().images(_source(file, profile, param, None, pull=pull))
    if as_json:
        _print_json(report)
    else:
        out.print(display.images_table(report))


@app.command()
@guarded
def diff(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="A run id or prefix.")],
    other: Annotated[str | None, typer.Argument(metavar="OTHER_RUN",
                     help="Compare with this run.")] = None,
    pipeline: PipelineOpt = Path("pipeline.yaml"),
    state: State = None,
    as_json: Json = False,
) -> None:
    """What each member of a run changed in the graph, or how two runs differ."""
    report = Service().diff(_source(pipeline, None, None, state), run_id, other)
    if as_json:
        _print_json(report)
    elif other is None:
        out.print(display.changes_table(report))
    else:
        out.print(display.comparison_tables(report))


@app.command()
@guarded
def backup(file: FileArg, target: Annotated[Path, typer.Argument(
               help="The backup file to write (gzip-compressed JSON lines).")],
           profile: Profile = None, param: Params = None, graph: GraphUri = None) -> None:
    """Export the whole graph (nodes, relationships, properties, schema) to a file."""
    with display.transfer_progress(err, "backup") as progress:
        info = Service().backup(_source(file, profile, param, None, graph), target, progress)
    out.print(f"backup written: {target} ({display.backup_counts(info)})")


@app.command()
@guarded
def restore(file: FileArg, source_file: Annotated[Path, typer.Argument(
                metavar="BACKUP", help="A file written by `orecart backup`.")],
            force: Annotated[bool, typer.Option(
                help="Wipe a non-empty database first.")] = False,
            profile: Profile = None, param: Params = None, graph: GraphUri = None) -> None:
    """Import a backup into an empty graph (identical nodes, relationships and schema)."""
    if not source_file.exists():
        raise SpecError(f"no such backup file: {source_file}")
    source = _source(file, profile, param, None, graph)
    with display.transfer_progress(err, "restore") as progress:
        info = Service().restore(source, source_file, progress, force=force)
    out.print(f"restored: {source_file} ({display.backup_counts(info)})")


graph_app = typer.Typer(help="The target Neo4j graph.", no_args_is_help=True)
app.add_typer(graph_app, name="graph")


@graph_app.command("status")
@guarded
def graph_status(file: FileArg, profile: Profile = None, param: Params = None,
                 graph: GraphUri = None, as_json: Json = False) -> None:
    """Server version and edition, counts per label and type, and the last runs."""
    status_report = Service().graph_status(_source(file, profile, param, None, graph))
    if as_json:
        _print_json(status_report)
    else:
        out.print(display.graph_status_view(status_report))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
