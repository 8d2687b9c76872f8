"""What every command shares: the app, the consoles, the exit codes, the common options
and the error guard that turns orecart's errors into one line and an exit code."""

from __future__ import annotations

import functools
import gc
import importlib
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, ParamSpec, TypeVar

import click

from orecart.cli.text import printable
from orecart.errors import (
    LockedError,
    NotAStoreError,
    NotFoundError,
    OrecartError,
    SelectionError,
    SpecError,
    UsageError,
)
from orecart.model import ExecutorChoice, MemberRun, PullPolicy, Run, RunStatus, to_data
from orecart.planner import Selection
from orecart.service import Source, orecart_version

if TYPE_CHECKING:
    from rich.console import Console

    from orecart.graph.waiting import Waiting


class Exit(IntEnum):
    OK = 0
    FAILED = 1
    INVALID = 2
    LOCKED = 3
    INTERRUPTED = 130


class Commands(click.Group):
    """A group whose --help lists its commands in the order they were added, under the
    heading (panel) each was added with. Told where each command is added (``lazily``),
    it imports only the module of the command asked for: `orecart status` need not load
    what `serve` or `run` import."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.panels: dict[str, str] = {}
        self.places: dict[str, str] = {}  # command name -> the module that adds it

    def lazily(self, places: Mapping[str, str]) -> None:
        """Know which module adds each command (in --help order), to import it when asked."""
        self.places = dict(places)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.places:
            importlib.import_module(self.places[cmd_name])
        return super().get_command(ctx, cmd_name)

    def add(self, panel: str) -> Callable[[Callable[..., Any]], click.Command]:
        """Register the decorated function as a command shown under `panel`."""

        def register(function: Callable[..., Any]) -> click.Command:
            return self.place(panel, click.command()(function))

        return register

    def place(self, panel: str, command: click.Command) -> click.Command:
        """Add `command` (or a group) to be shown under `panel`."""
        self.add_command(command)
        self.panels[command.name or ""] = panel
        return command

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(dict.fromkeys([*self.places, *self.commands]))

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        sections: dict[str, list[tuple[str, str]]] = {}
        names = self.list_commands(ctx)
        width = max(map(len, names), default=0)  # one column across the sections
        for name in names:
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows = sections.setdefault(self.panels.get(name, "Commands"), [])
                rows.append((name.ljust(width), command.get_short_help_str(limit=150)))
        for panel, rows in sections.items():
            with formatter.section(panel):
                formatter.write_dl(rows)


def started_up() -> None:
    """Resume garbage collection (paused while orecart.cli was imported), leaving what
    exists now, mostly modules, out of every later collection."""
    gc.freeze()
    gc.enable()


def _version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(f"orecart {orecart_version()}")
        ctx.exit()


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"],
                                             "max_content_width": 100})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True,
              callback=_version, help="Print the version and exit.")
def app() -> None:
    """Run data loaders as one dependency-ordered pipeline that fills a Neo4j graph, and
    keep an exact record of what ran.

    Exit codes: 0 all succeeded or skipped, 1 something failed, 2 invalid input,
    3 another run holds the lock, 130 interrupted.
    """


@functools.cache
def out() -> Console:
    """The console on stdout, made when first used: importing Rich takes 15-20 ms, which
    plain lines and JSON never need. Every string on it is text, never markup or escapes
    (``orecart.cli.console``)."""
    from orecart.cli.console import TextConsole

    return TextConsole()


@functools.cache
def err() -> Console:
    """The console on stderr, made when first used (as ``out``)."""
    from orecart.cli.console import TextConsole

    return TextConsole(stderr=True)

P = ParamSpec("P")
R = TypeVar("R")


def guarded(command: Callable[P, R]) -> Callable[P, R]:
    """Turn orecart's errors into a one-line message and the exit code of the table."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        started_up()
        try:
            return command(*args, **kwargs)
        except LockedError as exc:
            _fail(exc, Exit.LOCKED)
        except (SpecError, SelectionError, NotFoundError, NotAStoreError, UsageError) as exc:
            _fail(exc, Exit.INVALID)
        except OrecartError as exc:
            _fail(exc, Exit.FAILED)
        except KeyboardInterrupt:
            _fail("interrupted", Exit.INTERRUPTED)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:  # a bug: say so plainly; ORECART_DEBUG=1 shows where
            if os.environ.get("ORECART_DEBUG"):
                raise
            _fail(f"internal error: {exc!r} (set ORECART_DEBUG=1 to see the traceback)",
                  Exit.FAILED)

    return wrapper


def _fail(exc: Exception | str, code: Exit) -> NoReturn:
    err().print(f"error: {exc}", soft_wrap=True)
    raise click.exceptions.Exit(code) from None


# -- shared arguments and options ---------------------------------------------------------

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def _pull_policy(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Any:
    return None if value is None else PullPolicy(value)


def duration_value(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Any:
    from orecart.spec.durations import parse_duration

    try:
        return None if value is None else parse_duration(value)
    except SpecError as exc:
        raise click.BadParameter(str(exc)) from None


def run_id_arg(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.argument("run_id", metavar="RUN")(function)


file_arg = click.argument("file", type=click.Path(path_type=Path))
profile_opt = click.option("--profile", envvar="ORECART_PROFILE", show_envvar=True, metavar="NAME",
                           help="Apply this profile of the file.")
params_opt = click.option("--param", "-p", multiple=True, metavar="NAME=VALUE",
                          help="A run parameter, as ${params.NAME} (repeatable).")
state_opt = click.option("--state", envvar="ORECART_STATE", show_envvar=True, metavar="URL",
                         help="State store URL (default: .orecart/state.db beside the file).")
graph_opt = click.option("--graph", metavar="URI",
                         help="Target Neo4j (bolt://...), over the file's.")
json_opt = click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON output.")


def _callback_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from orecart.callbacks import check_url

    try:
        return None if value is None else check_url(value, "--callback")
    except UsageError as exc:
        raise click.BadParameter(str(exc).removeprefix("--callback: ")) from None


callback_opt = click.option(
    "--callback", "callback_url", metavar="URL", callback=_callback_url,
    help="POST each status change of the run to URL (http or https), signed with "
    "ORECART_CALLBACK_SECRET; the URL is kept in the state store.")
def _executor_choice(ctx: click.Context, param: click.Parameter,
                     value: str | None) -> ExecutorChoice | None:
    from orecart.executors.routing import parse_run_executor

    try:
        return None if value is None else parse_run_executor(value)
    except UsageError as exc:
        raise click.BadParameter(str(exc).partition(": ")[2]) from None


executor_opt = click.option(
    "--executor", "executor", metavar="WHERE", callback=_executor_choice,
    help="Where members run: local (by kind: processes, docker), dask://HOST:PORT (a Dask "
    "scheduler) or dask://local (a LocalCluster of orecart's own); a member's own "
    "executor: still wins.")
pull_opt = click.option("--pull", envvar="ORECART_PULL", show_envvar=True,
                        type=click.Choice([p.value for p in PullPolicy]),
                        callback=_pull_policy, help="Pull policy for every image member.")
wait_opt = click.option("--wait", envvar="ORECART_WAIT", show_envvar=True, metavar="DURATION",
                        callback=duration_value, help="How long to wait for Neo4j to be ready, "
                        "e.g. 3s or 2m (default: the file's graph.wait, else 60s).")
pipeline_opt = click.option(
    "--pipeline", "-P", envvar="ORECART_PIPELINE", show_envvar=True, default="pipeline.yaml",
    show_default=True, type=click.Path(path_type=Path),
    help="The pipeline file whose state store holds the run (not needed with --state).")


def stacked(*decorators: Decorator) -> Decorator:
    """One decorator applying ``decorators`` as if written one above the other."""

    def apply(function: Callable[..., Any]) -> Callable[..., Any]:
        for decorator in reversed(decorators):
            function = decorator(function)
        return function

    return apply


selection_opts = stacked(  # --only, --from, --skip, --only-failed, --force
    click.option("--only", multiple=True, metavar="MEMBER",
                 help="Only these members (repeatable)."),
    click.option("--from", "start", multiple=True, metavar="MEMBER",
                 help="This member and everything downstream (repeatable)."),
    click.option("--skip", multiple=True, metavar="MEMBER", help="Not this member (repeatable)."),
    click.option("--only-failed", is_flag=True, help="Only what did not succeed in the last run."),
    click.option("--force", is_flag=True, help="Also what the ledger says is already done."),
)
# plan, run
source_opts = stacked(profile_opt, params_opt, state_opt, graph_opt, wait_opt, pull_opt)


DEFAULT_PIPELINE = Path("pipeline.yaml")  # -P default; with --state no file is needed


def _params(values: Sequence[str] | None) -> dict[str, str]:
    params: dict[str, str] = {}
    for value in values or []:
        name, sep, text = value.partition("=")
        if not sep or not name:
            raise SpecError(f"expected NAME=VALUE, got {value!r}", field="--param")
        params[name] = text
    return params


def source_of(file: Path, profile: str | None, params: Sequence[str] | None, state: str | None,
            graph: str | None = None, pull: PullPolicy | None = None,
            wait: float | None = None) -> Source:
    if not file.exists() and not (state and file == DEFAULT_PIPELINE):
        raise SpecError(f"no such pipeline file: {file}")
    return Source(file=file, profile=profile, params=_params(params), state=state,
                  graph=graph, pull=pull, wait=wait)


def selection_of(only: Sequence[str], start: Sequence[str], skip: Sequence[str],
               only_failed: bool, force: bool) -> Selection:
    return Selection(frozenset(only or ()), frozenset(start or ()), frozenset(skip or ()),
                     only_failed, force)


def members_json(member_runs: Sequence[MemberRun]) -> list[dict[str, Any]]:
    """Member runs as `status --json` promises them: each with its `name` first."""
    return [{"name": mr.member, **to_data(mr)} for mr in member_runs]


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(to_data(data), indent=2) + "\n")


def waiting_notice(report: Waiting) -> None:
    """A wait for the graph, as one line on stderr (above the live table on a terminal,
    whose Live takes over stderr); line breaks become spaces, and what would steer a
    terminal is dropped (``printable``)."""
    text = printable(" ".join(report.message.split()))
    sys.stderr.write(f"{text}\n")
    sys.stderr.flush()


def run_exit(run: Run) -> Exit:
    """The exit code of a run's end, as `orecart run` exits."""
    if run.status is RunStatus.SUCCEEDED:
        return Exit.OK
    if run.status is RunStatus.ABORTED and not run.error:
        return Exit.INTERRUPTED
    return Exit.FAILED
