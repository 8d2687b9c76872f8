"""What the planner is told about the world before a run (or a dry run): the ledger's
successes, the last statuses, image digests and ``complete_when`` results."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from orecart.errors import ExecutorError
from orecart.executors import Executor
from orecart.executors.routing import route
from orecart.model import ExecutorChoice, Member, Pipeline
from orecart.planner import Facts, Plan, Selection, plan
from orecart.service.resources import Resources


def plan_run(resources: Resources, pipeline: Pipeline, selection: Selection,
             scheduled: bool = False, executor: ExecutorChoice | None = None) -> Plan:
    """The plan of one run of ``pipeline`` now (``scheduled``: a tick of its schedule;
    ``executor``: the run's, ``--executor``, where image digests are resolved too)."""
    return plan(pipeline, selection, facts(resources, pipeline, scheduled, executor))


def facts(resources: Resources, pipeline: Pipeline, scheduled: bool = False,
          executor: ExecutorChoice | None = None) -> Facts:
    conn = resources.graph(pipeline.graph) if pipeline.graph is not None else None
    return Facts(
        successes=ledger(resources, pipeline).successes(pipeline.name),
        last_statuses=resources.store.last_statuses(pipeline.name),
        digests=_digests(resources, pipeline, executor),
        complete=_complete(conn, pipeline),
        now=datetime.now(UTC),
        scheduled=scheduled,
    )


def ledger(resources: Resources, pipeline: Pipeline) -> Any:
    """Where "this member already did its work" is read: the graph's log nodes when the
    pipeline has a graph (the graph is the ledger), else the state store."""
    if pipeline.graph is None:
        return resources.store
    from orecart.graph.ledger import GraphLedger

    return GraphLedger(resources.graph(pipeline.graph))


def _digests(resources: Resources, pipeline: Pipeline,
             executor: ExecutorChoice | None) -> dict[str, str | None]:
    """Each image member's digest, as the daemon it will run on has it (a dask worker's
    for a member routed to a cluster)."""
    images = [m for m in pipeline.members if m.container]
    if not images:
        return {}
    chosen = pipeline.settings.executor
    keys = {m.name: (route(m, executor, chosen), *_image_key(m)) for m in images}
    by_image: dict[tuple[object, ...], str | None] = {}  # members sharing an image ask once
    for member in images:
        key = keys[member.name]
        if key not in by_image:
            by_image[key] = _resolved(resources.executor(str(key[0])), member)
    return {name: by_image[key] for name, key in keys.items()}


def _complete(conn: Any, pipeline: Pipeline) -> dict[str, bool]:
    if conn is None:
        return {}
    from orecart.graph.checks import complete

    return {m.name: bool(complete(conn, m.complete_when)) for m in pipeline.members
            if m.complete_when}


def _image_key(member: Member) -> tuple[object, ...]:
    """What an image's digest depends on: the image, its pull policy and credentials."""
    container = member.container
    return (container.image, container.pull, container.auth) if container else ()


def _resolved(docker: Executor, member: Member) -> str | None:
    """The member's image digest; None (so it runs, never skips) when it cannot be had."""
    try:
        return docker.resolve(member)
    except ExecutorError:
        return None
