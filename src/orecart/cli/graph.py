"""Commands about images and the graph: images, diff, backup, restore, graph status."""

from __future__ import annotations

from pathlib import Path

import click

from orecart.cli.base import (
    Commands,
    app,
    err,
    file_arg,
    graph_opt,
    guarded,
    json_opt,
    out,
    params_opt,
    pipeline_opt,
    print_json,
    profile_opt,
    pull_opt,
    run_id_arg,
    source_of,
    state_opt,
    wait_opt,
    waiting_notice,
)
from orecart.errors import SpecError
from orecart.model import PullPolicy
from orecart.service import Tools

GRAPH = "Images and the graph"


@app.add(GRAPH)
@file_arg
@profile_opt
@params_opt
@pull_opt
@json_opt
@guarded
def images(file: Path, profile: str | None, param: tuple[str, ...], pull: PullPolicy | None,
           as_json: bool) -> None:
    """Each image member's image, tag, resolved digest, and whether it is present locally."""
    report = Tools().images(source_of(file, profile, param, None, pull=pull))
    if as_json:
        print_json(report)
    else:
        from orecart.cli import display

        out().print(display.images_table(report))


@app.add(GRAPH)
@run_id_arg
@click.argument("other", metavar="[OTHER_RUN]", required=False)
@pipeline_opt
@state_opt
@json_opt
@guarded
def diff(run_id: str, other: str | None, pipeline: Path, state: str | None,
         as_json: bool) -> None:
    """What each member of run RUN changed in the graph or, given OTHER_RUN, how the two
    runs differ. Runs are given by id or id prefix."""
    report = Tools().diff(source_of(pipeline, None, None, state), run_id, other)
    if as_json:
        print_json(report)
        return
    from orecart.cli import display

    if other is None:
        out().print(display.changes_table(report))
    else:
        out().print(display.comparison_tables(report))


@app.add(GRAPH)
@file_arg
@click.argument("target", type=click.Path(path_type=Path))
@profile_opt
@params_opt
@graph_opt
@wait_opt
@guarded
def backup(file: Path, target: Path, profile: str | None, param: tuple[str, ...],
           graph: str | None, wait: float | None) -> None:
    """Export the whole graph (nodes, relationships, properties, schema) to TARGET, a
    gzip-compressed JSON-lines file."""
    from orecart.cli import display

    with display.transfer_progress(err(), "backup") as progress:
        source = source_of(file, profile, param, None, graph, wait=wait)
        info = Tools(on_wait=waiting_notice).backup(source, target, progress)
    out().print(f"backup written: {target} ({display.backup_counts(info)})")


@app.add(GRAPH)
@file_arg
@click.argument("source_file", metavar="BACKUP", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Wipe a non-empty database first.")
@profile_opt
@params_opt
@graph_opt
@wait_opt
@guarded
def restore(file: Path, source_file: Path, force: bool, profile: str | None,
            param: tuple[str, ...], graph: str | None, wait: float | None) -> None:
    """Import BACKUP, a file written by `orecart backup`, into an empty graph (identical
    nodes, relationships and schema)."""
    from orecart.cli import display

    if not source_file.exists():
        raise SpecError(f"no such backup file: {source_file}")
    source = source_of(file, profile, param, None, graph, wait=wait)
    with display.transfer_progress(err(), "restore") as progress:
        restored = Tools(on_wait=waiting_notice).restore(source, source_file, progress,
                                                         force=force)
    out().print(f"restored: {source_file} ({display.backup_counts(restored.info)})")
    if restored.forgotten:
        out().print(f"triggers: cursors reset, {restored.forgotten} firing(s) forgotten "
                    "(an element the backup holds keeps its firing at the next poll)")


graph_group = Commands("graph", help="The target Neo4j graph.")
app.place(GRAPH, graph_group)


@graph_group.add("Commands")
@file_arg
@profile_opt
@params_opt
@graph_opt
@wait_opt
@json_opt
@guarded
def status(file: Path, profile: str | None, param: tuple[str, ...], graph: str | None,
           wait: float | None, as_json: bool) -> None:
    """Server version and edition, counts per label and type, and the last runs."""
    source = source_of(file, profile, param, None, graph, wait=wait)
    status_report = Tools(on_wait=waiting_notice).graph_status(source)
    if as_json:
        print_json(status_report)
    else:
        from orecart.cli import display

        out().print(display.graph_status_view(status_report))
