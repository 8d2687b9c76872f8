"""Commands about images and the graph: images, diff, backup, restore, graph status."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from orecart import display
from orecart.cli.base import (
    DEFAULT_PIPELINE,
    FileArg,
    GraphUri,
    Json,
    Params,
    PipelineOpt,
    Profile,
    Pull,
    State,
    app,
    err,
    guarded,
    out,
    print_json,
    source_of,
)
from orecart.errors import SpecError
from orecart.service import Service


@app.command(rich_help_panel="Images and the graph")
@guarded
def images(file: FileArg, profile: Profile = None, param: Params = None, pull: Pull = None,
           as_json: Json = False) -> None:
    """Each image member's image, tag, resolved digest, and whether it is present locally."""
    report = Service().images(source_of(file, profile, param, None, pull=pull))
    if as_json:
        print_json(report)
    else:
        out.print(display.images_table(report))


@app.command(rich_help_panel="Images and the graph")
@guarded
def diff(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="A run id or prefix.")],
    other: Annotated[str | None, typer.Argument(metavar="OTHER_RUN",
                     help="Compare with this run.")] = None,
    pipeline: PipelineOpt = DEFAULT_PIPELINE,
    state: State = None,
    as_json: Json = False,
) -> None:
    """What each member of a run changed in the graph, or how two runs differ."""
    report = Service().diff(source_of(pipeline, None, None, state), run_id, other)
    if as_json:
        print_json(report)
    elif other is None:
        out.print(display.changes_table(report))
    else:
        out.print(display.comparison_tables(report))


@app.command(rich_help_panel="Images and the graph")
@guarded
def backup(file: FileArg, target: Annotated[Path, typer.Argument(
               help="The backup file to write (gzip-compressed JSON lines).")],
           profile: Profile = None, param: Params = None, graph: GraphUri = None) -> None:
    """Export the whole graph (nodes, relationships, properties, schema) to a file."""
    with display.transfer_progress(err, "backup") as progress:
        info = Service().backup(source_of(file, profile, param, None, graph), target, progress)
    out.print(f"backup written: {target} ({display.backup_counts(info)})")


@app.command(rich_help_panel="Images and the graph")
@guarded
def restore(file: FileArg, source_file: Annotated[Path, typer.Argument(
                metavar="BACKUP", help="A file written by `orecart backup`.")],
            force: Annotated[bool, typer.Option(
                help="Wipe a non-empty database first.")] = False,
            profile: Profile = None, param: Params = None, graph: GraphUri = None) -> None:
    """Import a backup into an empty graph (identical nodes, relationships and schema)."""
    if not source_file.exists():
        raise SpecError(f"no such backup file: {source_file}")
    source = source_of(file, profile, param, None, graph)
    with display.transfer_progress(err, "restore") as progress:
        info = Service().restore(source, source_file, progress, force=force)
    out.print(f"restored: {source_file} ({display.backup_counts(info)})")


graph_app = typer.Typer(help="The target Neo4j graph.", no_args_is_help=True)
app.add_typer(graph_app, name="graph", rich_help_panel="Images and the graph")


@graph_app.command("status")
@guarded
def graph_status(file: FileArg, profile: Profile = None, param: Params = None,
                 graph: GraphUri = None, as_json: Json = False) -> None:
    """Server version and edition, counts per label and type, and the last runs."""
    status_report = Service().graph_status(source_of(file, profile, param, None, graph))
    if as_json:
        print_json(status_report)
    else:
        out.print(display.graph_status_view(status_report))
