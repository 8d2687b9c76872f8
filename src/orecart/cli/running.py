"""Commands that plan and run: validate, schema, plan, run."""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import click

from orecart.cli.base import (
    app,
    callback_opt,
    err,
    executor_opt,
    file_arg,
    guarded,
    json_opt,
    members_json,
    out,
    params_opt,
    print_json,
    profile_opt,
    run_exit,
    selection_of,
    selection_opts,
    source_of,
    source_opts,
    waiting_notice,
)
from orecart.cli.lines import PlainProgress
from orecart.control import RunControl
from orecart.events import Event, EventSink, MemberStarted
from orecart.model import ExecutorChoice, PullPolicy, format_seconds
from orecart.service import Outcome, RunOptions, Tools

if TYPE_CHECKING:
    from orecart.cli.display import LiveProgress
    from orecart.logdir import MemberLogDir

RUNS = "Pipelines and runs"
#: environment variables with which Rich takes stdout for a terminal even when it is not one
_FORCE_TERMINAL = frozenset({"FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"})


@app.add(RUNS)
@file_arg
@profile_opt
@params_opt
@guarded
def validate(file: Path, profile: str | None, param: tuple[str, ...]) -> None:
    """Check a pipeline file: syntax, keys, types, needs, cycles, variables."""
    pipeline = Tools().load(source_of(file, profile, param, None))
    kind = "Motherlode/copili" if pipeline.format == "motherlode" else "native"
    schedule = f", schedule {pipeline.schedule}" if pipeline.schedule else ""
    sensors = ", ".join(f"{s.name} ({s.kind}, every {format_seconds(s.every)})"
                        for s in pipeline.sensors)
    out().print(f"ok: {file}: pipeline {pipeline.name!r} ({kind} format), "
                f"{len(pipeline.members)} members{schedule}"
                + (f", sensors {sensors}" if sensors else ""), markup=False, highlight=False)


@app.add(RUNS)
def schema() -> None:
    """Print the JSON Schema of the native pipeline format."""
    from orecart.spec import pipeline_schema

    sys.stdout.write(json.dumps(pipeline_schema(), indent=2) + "\n")


@app.add(RUNS)
@file_arg
@selection_opts
@source_opts
@json_opt
@guarded
def plan(file: Path, only: tuple[str, ...], start: tuple[str, ...], skip: tuple[str, ...],
         only_failed: bool, force: bool, profile: str | None, param: tuple[str, ...],
         state: str | None, graph: str | None, wait: float | None, pull: PullPolicy | None,
         as_json: bool) -> None:
    """Show what a run would do, member by member, and why (a dry run)."""
    source = source_of(file, profile, param, state, graph, pull, wait)
    selection = selection_of(only, start, skip, only_failed, force)
    the_plan = Tools(on_wait=waiting_notice).plan(source, selection)
    if as_json:
        print_json(the_plan.to_dict())
        return
    from orecart.cli import display

    out().print(display.plan_table(the_plan))
    out().print(display.plan_summary(the_plan))


@app.add(RUNS)
@file_arg
@selection_opts
@click.option("--fail-fast/--no-fail-fast", default=None,
              help="Start nothing new after a failure (default: the file's setting).")
@click.option("--max-parallel", type=click.IntRange(min=1), metavar="N",
              help="At most N members at once (default: the file's setting, else the CPU "
              "count, at least 4).")
@click.option("--keep", is_flag=True, help="Keep failed containers for debugging.")
@executor_opt
@callback_opt
@click.option("--quiet", "-q", is_flag=True, help="Hide member output.")
@click.option("--log-dir", type=click.Path(file_okay=False, path_type=Path),
              envvar="ORECART_LOG_DIR", metavar="DIR",
              help="Also append each member's output to DIR/<member>.log, as copili did.")
@source_opts
@json_opt
@guarded
def run(file: Path, only: tuple[str, ...], start: tuple[str, ...], skip: tuple[str, ...],
        only_failed: bool, force: bool, fail_fast: bool | None, max_parallel: int | None,
        keep: bool, executor: ExecutorChoice | None, callback_url: str | None, quiet: bool,
        log_dir: Path | None,
        profile: str | None, param: tuple[str, ...], state: str | None, graph: str | None,
        wait: float | None,
        pull: PullPolicy | None, as_json: bool) -> None:
    """Run the pipeline: members in dependency order, in parallel where they can be."""
    source = source_of(file, profile, param, state, graph, pull, wait)
    options = RunOptions(selection_of(only, start, skip, only_failed, force), max_parallel,
                         fail_fast, keep, executor)
    live = _live_view() if not (quiet or as_json) and _terminal() else None
    stream = sys.stderr if quiet or as_json else sys.stdout
    sink = live if live is not None else PlainProgress(stream, quiet=quiet or as_json)
    with _interrupts() as control, live if live is not None else nullcontext():
        sinks: list[EventSink] = [sink] if live is not None or as_json else [sink, _TableImport()]
        logs = _log_dir(log_dir)
        outcome = Tools(on_wait=waiting_notice).run(source, options, [*sinks, *logs],
                                                      control=control,
                                                      callback_url=callback_url)
    _report_run(outcome, as_json, table=live is None)
    for note in (error for log in logs for error in log.errors):
        err().print(f"warning: {note}")
    raise click.exceptions.Exit(run_exit(outcome.run))


def _log_dir(folder: Path | None) -> list[MemberLogDir]:
    """The copili-style member log sink of ``--log-dir``, its folder made; none without."""
    if folder is None:
        return []
    from orecart.logdir import MemberLogDir

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise click.BadParameter(f"cannot make {folder}: {exc.strerror or exc}",
                                 param_hint="'--log-dir'") from exc
    return [MemberLogDir(folder)]


def _terminal() -> bool:
    """Whether stdout is a terminal, as Rich decides; Rich (an import of about 15 ms) is
    asked only when it can be one: stdout is a TTY, or the environment forces it."""
    if not sys.stdout.isatty() and not _FORCE_TERMINAL.intersection(os.environ):
        return False
    return out().is_terminal


def _live_view() -> LiveProgress:
    from orecart.cli.display import LiveProgress

    return LiveProgress(out())


class _TableImport:
    """Imports Rich for the table that ends the run (15-20 ms) in the background, once
    the first member has been running for a moment: the import then overlaps the members
    instead of delaying the end, and not the first member's own start either."""

    DELAY = 0.05  # seconds after the first member started: its container is starting

    def __init__(self) -> None:
        self.timer: threading.Timer | None = None

    def emit(self, event: Event) -> None:
        if isinstance(event, MemberStarted) and self.timer is None:
            load = (importlib.import_module, ("orecart.cli.display",))
            self.timer = threading.Timer(self.DELAY, *load)
            self.timer.daemon = True
            self.timer.start()


#: The signals that interrupt a run, each a request to stop it cleanly.
_STOPPING = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextmanager
def _interrupts() -> Iterator[RunControl]:
    """SIGINT, SIGTERM and SIGHUP (the terminal closed, an ssh session dropped) stop the
    runs of the control (members aborted); a second one kills at once. Before any run
    started, they stop the command as usual."""
    control = RunControl()
    terminals = [fd for fd in (0, 1, 2) if os.isatty(fd)]  # not ttys to ask once hung up

    def handler(signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGHUP:
            _lose_terminal(terminals)
        if not control.interrupt():  # before the run started or after it ended: stop now
            raise KeyboardInterrupt

    previous = {s: signal.signal(s, handler) for s in _STOPPING}
    try:
        yield control
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _lose_terminal(terminals: list[int]) -> None:
    """After a hang-up the terminal is gone and every write to it fails (EIO): what would
    have gone to it (the file descriptors ``terminals``) goes to /dev/null, so the run
    still ends, records and exits as it should."""
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        for fd in terminals:
            os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def _report_run(outcome: Outcome, as_json: bool, table: bool) -> None:
    if as_json:
        print_json({"run": outcome.run, "members": members_json(outcome.member_runs)})
    elif table:  # a live table already shows the end state
        from orecart.cli import display

        err().print(display.member_table(outcome.run, outcome.member_runs))
    elif outcome.run.error:  # plain lines: the table's caption is not there to say it
        err().print(f"error: {outcome.run.error}", soft_wrap=True)
    for note in outcome.notes:
        err().print(f"warning: {note}")
