"""What every command shares: the app, the consoles, the exit codes, the common options
and the error guard that turns orecart's errors into one line and an exit code."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Sequence
from enum import IntEnum
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console

from orecart.errors import (
    LockedError,
    NotFoundError,
    OrecartError,
    SelectionError,
    SpecError,
    UsageError,
)
from orecart.model import MemberRun, PullPolicy, to_data
from orecart.planner import Selection
from orecart.service import Source, orecart_version


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
        except (SpecError, SelectionError, NotFoundError, UsageError) as exc:
            _error(exc)
            raise typer.Exit(Exit.INVALID) from None
        except OrecartError as exc:
            _error(exc)
            raise typer.Exit(Exit.FAILED) from None
        except KeyboardInterrupt:
            _error("interrupted")
            raise typer.Exit(Exit.INTERRUPTED) from None
        except (typer.Exit, typer.Abort):
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
OnlyFailed = Annotated[bool, typer.Option(
    "--only-failed", help="Only what did not succeed in the last run.")]
Force = Annotated[bool, typer.Option("--force", help="Also what the ledger says is already done.")]


DEFAULT_PIPELINE = Path("pipeline.yaml")  # -P default; with --state no file is needed
PipelineOpt = Annotated[
    Path, typer.Option("--pipeline", "-P", envvar="ORECART_PIPELINE",
                       help="The pipeline file whose state store holds the run.")
]

def _params(values: list[str] | None) -> dict[str, str]:
    params: dict[str, str] = {}
    for value in values or []:
        name, sep, text = value.partition("=")
        if not sep or not name:
            raise SpecError(f"expected NAME=VALUE, got {value!r}", field="--param")
        params[name] = text
    return params


def source_of(file: Path, profile: str | None, params: list[str] | None, state: str | None,
            graph: str | None = None, pull: PullPolicy | None = None) -> Source:
    if not file.exists() and not (state and file == DEFAULT_PIPELINE):
        raise SpecError(f"no such pipeline file: {file}")
    return Source(file=file, profile=profile, params=_params(params), state=state,
                  graph=graph, pull=pull)


def selection_of(only: list[str] | None, start: list[str] | None, skip: list[str] | None,
               only_failed: bool, force: bool) -> Selection:
    return Selection(frozenset(only or ()), frozenset(start or ()), frozenset(skip or ()),
                     only_failed, force)


def members_json(member_runs: Sequence[MemberRun]) -> list[dict[str, Any]]:
    """Member runs as `status --json` promises them: each with its `name` first."""
    return [{"name": mr.member, **to_data(mr)} for mr in member_runs]


def print_json(data: Any) -> None:
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
