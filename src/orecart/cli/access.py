"""Commands of the REST API's tokens: token create, token list, token revoke."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from orecart.access import Scope
from orecart.cli.base import (
    app,
    guarded,
    json_opt,
    out,
    pipeline_opt,
    print_json,
    source_of,
    state_opt,
)
from orecart.service import Tools

SERVICE = "Service"


@click.group(name="token")
def token() -> None:
    """Bearer tokens of the REST API (`serve --http`): read < operate < admin."""


app.place(SERVICE, token)


@token.command(name="create")
@click.option("--scope", required=True, type=click.Choice([s.value for s in Scope]),
              help="read: history and plans; operate: also submit, cancel, retry; admin.")
@click.option("--name", metavar="NAME", help="How list and revoke name it (default: "
              "the scope and a random suffix).")
@pipeline_opt
@state_opt
@guarded
def create(scope: str, name: str | None, pipeline: Path, state: str | None) -> None:
    """Make a token and print it, alone on stdout: it is shown this once (the state store
    keeps only its sha256 digest)."""
    made = Tools().create_token(source_of(pipeline, None, None, state), Scope(scope), name)
    sys.stdout.write(f"{made}\n")


@token.command(name="list")
@pipeline_opt
@state_opt
@json_opt
@guarded
def listed(pipeline: Path, state: str | None, as_json: bool) -> None:
    """The tokens by name and scope (never their values)."""
    found = Tools().tokens(source_of(pipeline, None, None, state))
    if as_json:
        print_json([{"name": t.name, "scope": str(t.scope), "created_at": t.created_at}
                    for t in found])
        return
    for t in found:
        out().print(f"{t.name}\t{t.scope}\t{t.created_at:%Y-%m-%d %H:%M:%S}", markup=False,
                    highlight=False)


@token.command(name="revoke")
@click.argument("name")
@pipeline_opt
@state_opt
@guarded
def revoke(name: str, pipeline: Path, state: str | None) -> None:
    """Revoke the token NAME: requests with it are refused (401) at once."""
    Tools().revoke_token(source_of(pipeline, None, None, state), name)
    out().print(f"token {name}: revoked", markup=False, highlight=False)
