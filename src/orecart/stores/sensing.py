"""Sensors in the state store: each sensor's state between ticks, and every source
version it saw in source order, with the params its run gets and its latest run.

``record`` writes one tick (the state and the versions new to the store) in the caller's
write transaction, serialized on the sensor: two ``serve`` processes that see the same
version give one row, so one position and, through its run key, one run. A tick that
found nothing writes the state alone.

``due`` answers the versions a tick may submit without reading the thousands a sensor
has settled: a version whose latest run is queued or succeeded holds its key
(``orecart.stores.queue``), so nothing can be due for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from orecart.model import Run, RunStatus
from orecart.sensing import SensorState, SourceVersion
from orecart.stores.engine import serialize
from orecart.stores.schema import run_from, runs, sensors, source_versions

#: a latest run in one of these holds its key for good or until it runs: never due. A
#: running one may be a dead process's (history reads it aborted), so it is not here.
_SETTLED = (str(RunStatus.QUEUED), str(RunStatus.SUCCEEDED))


def record(connection: Connection, state: SensorState,
           found: Sequence[SourceVersion]) -> list[SourceVersion]:
    """Save ``state`` and add the versions of ``found`` the store does not hold yet, after
    the sensor's last; the ones added."""
    serialize(connection, f"sensor:{state.pipeline}:{state.sensor}")
    save_state(connection, state)
    if not found:
        return []
    known = set(connection.execute(
        sa.select(source_versions.c.id).where(*_of(state.pipeline, state.sensor))).scalars())
    position = _last_position(connection, state.pipeline, state.sensor)
    added = []
    for version in found:
        if version.id in known:
            continue
        known.add(version.id)
        position += 1
        added.append(_added(version, position))
    if added:
        connection.execute(sa.insert(source_versions), [version_values(v) for v in added])
    return added


def save_state(connection: Connection, state: SensorState) -> None:
    values = state_values(state)
    where = (sensors.c.pipeline == state.pipeline, sensors.c.sensor == state.sensor)
    if connection.execute(sa.update(sensors).where(*where).values(values)).rowcount == 0:
        connection.execute(sa.insert(sensors).values(values))


def states(connection: Connection, pipeline: str) -> list[SensorState]:
    query = sa.select(sensors).where(sensors.c.pipeline == pipeline).order_by(sensors.c.sensor)
    return [state_from(row) for row in connection.execute(query).mappings()]


def versions(connection: Connection, pipeline: str,
             sensor: str | None = None) -> list[SourceVersion]:
    """The versions of ``pipeline`` (of one sensor, or all), by sensor in source order."""
    query = sa.select(source_versions).where(source_versions.c.pipeline == pipeline)
    if sensor is not None:
        query = query.where(source_versions.c.sensor == sensor)
    query = query.order_by(source_versions.c.sensor, source_versions.c.position)
    return [version_from(row) for row in connection.execute(query).mappings()]


def due(connection: Connection, pipeline: str, sensor: str,
        retries: int) -> list[SourceVersion]:
    """The versions of one sensor a tick may submit, in source order: the ones never asked
    for, and those asked for at most ``retries`` times whose run is neither queued nor
    succeeded (the caller reads their key's latest run to decide). Skipped ones never."""
    settled = sa.exists().where(runs.c.id == source_versions.c.run_id,
                                runs.c.status.in_(_SETTLED))
    column = source_versions.c
    query = (
        sa.select(source_versions)
        .where(*_of(pipeline, sensor), sa.not_(column.skipped),
               sa.or_(column.run_id.is_(None), sa.and_(column.runs <= retries, ~settled)))
        .order_by(column.position)
    )
    return [version_from(row) for row in connection.execute(query).mappings()]


def asked(connection: Connection, version: SourceVersion, run_id: str, counted: bool) -> None:
    """``run_id`` is the version's latest run; ``counted``: asked for it now (one more run),
    else it was the run its key already held."""
    more = source_versions.c.runs + 1 if counted else source_versions.c.runs
    connection.execute(
        sa.update(source_versions)
        .where(*_of(version.pipeline, version.sensor), source_versions.c.id == version.id)
        .values(run_id=run_id, runs=more)
    )


def keyed_runs(connection: Connection, columns: Sequence[sa.Column[Any]], pipeline: str,
               keys: Sequence[str]) -> list[Run]:
    """Every run of ``pipeline`` with one of ``keys``, first queued first."""
    if not keys:
        return []
    query = (
        sa.select(*columns)
        .where(runs.c.pipeline == pipeline, runs.c.key.in_(list(keys)))
        .order_by(runs.c.queued_at.nulls_first(), runs.c.started_at, runs.c.id)
    )
    return [run_from(row) for row in connection.execute(query).mappings()]


def _of(pipeline: str, sensor: str) -> tuple[sa.ColumnElement[bool], ...]:
    return source_versions.c.pipeline == pipeline, source_versions.c.sensor == sensor


def _last_position(connection: Connection, pipeline: str, sensor: str) -> int:
    query = sa.select(sa.func.max(source_versions.c.position)).where(*_of(pipeline, sensor))
    found: int | None = connection.execute(query).scalar()
    return found or 0


def _added(version: SourceVersion, position: int) -> SourceVersion:
    return replace(version, position=position, run_id=None, runs=0)


def state_values(state: SensorState) -> dict[str, Any]:
    return {"pipeline": state.pipeline, "sensor": state.sensor, "kind": state.kind,
            "cursor": dict(state.cursor), "ticked_at": state.ticked_at,
            "error": state.error, "error_at": state.error_at}


def state_from(row: RowMapping) -> SensorState:
    return SensorState(row["pipeline"], row["sensor"], row["kind"], dict(row["cursor"] or {}),
                       row["ticked_at"], row["error"], row["error_at"])


def version_values(version: SourceVersion) -> dict[str, Any]:
    return {"pipeline": version.pipeline, "sensor": version.sensor, "id": version.id,
            "position": version.position, "version": version.version, "ref": version.ref,
            "commit": version.commit, "params": dict(version.params),
            "seen_at": version.seen_at, "run_id": version.run_id, "runs": version.runs,
            "skipped": version.skipped}


def version_from(row: RowMapping) -> SourceVersion:
    return SourceVersion(
        pipeline=row["pipeline"], sensor=row["sensor"], id=row["id"], version=row["version"],
        position=row["position"], ref=row["ref"], commit=row["commit"],
        params=dict(row["params"] or {}), seen_at=row["seen_at"], run_id=row["run_id"],
        runs=row["runs"], skipped=bool(row["skipped"]),
    )
