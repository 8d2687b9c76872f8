"""Graph triggers in the state store: each trigger's polling cursor, and its firings, one
per (pipeline, trigger, element), exactly once across processes.

Claims and adoptions of one trigger are serialized on it (``engine.serialize``: SQLite's
write lock, a PostgreSQL advisory lock), so what one reads of the elements held stays
true until it commits: a claim inserts the firings of the elements nobody holds and
answers those, and a concurrent claim of the same elements gets none of them; an adoption
that checked an element is free is never overtaken by a claim of it. The unique index on
(pipeline, trigger, element) stays the last word (the insert is ON CONFLICT DO NOTHING).
Every other change is a conditional UPDATE whose condition the database checks again on
the row it changes: a due firing goes to one caller, and only its owner ends an attempt.

A restore (``forget``) resets the cursors and forgets every firing: its element is set
NULL (NULLs never conflict, so the restored graph's elements are judged afresh) and it is
flagged ``forgotten`` with its status kept, read back as ``FiringStatus.FORGOTTEN``. A
match whose params_key equals a forgotten firing's takes it over (``adopt``) with the
status it had; the sweep's end drops the ones nothing adopted (``drop_forgotten``).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from orecart.stores.engine import serialize
from orecart.stores.schema import trigger_cursors, trigger_firings
from orecart.stores.upserts import Upserts
from orecart.triggering import Firing, FiringStatus, TriggerCursor

#: the error of an attempt whose process died: an unknown outcome is never success
STOPPED = "the process carrying it out stopped (outcome unknown)"
#: the statuses an attempt ends in
ENDINGS = frozenset({FiringStatus.SUCCEEDED, FiringStatus.FAILED, FiringStatus.WAITING})
_RUNNING = str(FiringStatus.RUNNING)
_WAITING = str(FiringStatus.WAITING)
_ELEMENT = ["pipeline", "trigger", "element"]
_CHUNK = 1000  # elements per IN list: far below both databases' parameter limits
_f = trigger_firings.c


def claim(connection: Connection, upserts: Upserts, found: Sequence[Firing],
          now: datetime) -> list[Firing]:
    """Insert the firings of ``found`` whose element is new, running and owned as given;
    the ones inserted (with ids), in the order of ``found``.

    Under each trigger's lock the held elements are read first, so a claim of elements
    already fired (the same window polled again) only reads; the new ones go in as one
    executemany and are read back (on PostgreSQL a third of the time of one INSERT
    returning its rows: psycopg parses a 1,000-row statement slowly)."""
    groups: dict[tuple[str, str], dict[int, Firing]] = {}
    for f in found:
        if f.element is None:
            raise ValueError("a claimed firing names its element")
        groups.setdefault((f.pipeline, f.trigger), {}).setdefault(f.element, f)
    for pipeline, trigger in sorted(groups):
        _serialize(connection, pipeline, trigger)
    new = {key: _unheld(connection, key, group) for key, group in groups.items()}
    values = [_claimed(f, now) for group in new.values() for f in group.values()]
    if not values:
        return []
    statement = upserts.insert(trigger_firings).on_conflict_do_nothing(index_elements=_ELEMENT)
    connection.execute(statement, values)
    rows = [row for key, group in new.items()
            for row in _held(connection, key, list(group), sa.select(trigger_firings))]
    inserted = {_identity(firing): firing for firing in map(firing_from, rows)}
    return [inserted.pop(k) for f in found if (k := _identity(f)) in inserted]


def _unheld(connection: Connection, key: tuple[str, str],
            group: dict[int, Firing]) -> dict[int, Firing]:
    """The firings of ``group`` (by element) whose element no firing of ``key`` holds."""
    held = {row["element"] for row in _held(connection, key, list(group), sa.select(_f.element))}
    return {element: f for element, f in group.items() if element not in held}


def held(connection: Connection, pipeline: str, trigger: str, elements: list[int]) -> set[int]:
    """Which of ``elements`` a firing of the trigger holds."""
    rows = _held(connection, (pipeline, trigger), elements, sa.select(_f.element))
    return {row["element"] for row in rows}


def _held(connection: Connection, key: tuple[str, str], elements: list[int],
          query: sa.Select[Any]) -> list[RowMapping]:
    """``query``'s rows of the firings of ``key``'s trigger that hold one of ``elements``
    (read in chunks: an IN list stays far below the databases' parameter limits)."""
    rows: list[RowMapping] = []
    for at in range(0, len(elements), _CHUNK):
        chunk = query.where(*_of(*key), _f.element.in_(elements[at:at + _CHUNK]))
        rows += connection.execute(chunk).mappings().all()
    return rows


def _identity(firing: Firing) -> tuple[str, str, int | None]:
    return firing.pipeline, firing.trigger, firing.element


def adopt(connection: Connection, pipeline: str, trigger: str, params_key: str,
          element: int, element_id: str) -> Firing | None:
    """The oldest forgotten firing of ``trigger`` with ``params_key``, now of ``element``
    with the status it had; None when there is none or a firing holds ``element``."""
    _serialize(connection, pipeline, trigger)
    held = sa.select(_f.id).where(*_of(pipeline, trigger), _f.element == element)
    if connection.execute(held).first() is not None:
        return None
    oldest = (sa.select(_f.id).where(*_of(pipeline, trigger), _f.params_key == params_key,
                                     _f.forgotten).order_by(_f.id).limit(1))
    found = connection.execute(oldest).scalar()
    if found is None:
        return None
    statement = (sa.update(trigger_firings).where(_f.id == found, _f.forgotten)
                 .values(element=element, element_id=element_id, forgotten=False)
                 .returning(trigger_firings))
    row = connection.execute(statement).mappings().first()
    return firing_from(row) if row else None


def finish(connection: Connection, firing_id: int, owner: str, status: FiringStatus,
           changes: dict[str, Any]) -> bool:
    """End the running attempt of ``firing_id`` that ``owner`` carries out; False when it
    is not (anymore) theirs: recovered, dropped or never claimed."""
    if status not in ENDINGS:
        raise ValueError(f"an attempt ends succeeded, failed or waiting, not {status}")
    if (status is FiringStatus.WAITING) != (changes.get("next_at") is not None):
        raise ValueError("a waiting firing, and only one, is given next_at")
    statement = (sa.update(trigger_firings)
                 .where(_f.id == firing_id, _f.owner == owner, _f.status == _RUNNING)
                 .values(status=str(status), **changes))
    return connection.execute(statement).rowcount == 1


def due(connection: Connection, pipeline: str, now: datetime, owner: str,
        limit: int) -> list[Firing]:
    """Take up to ``limit`` waiting firings of ``pipeline`` due by ``now`` (not forgotten)
    for ``owner``: running, one more attempt. The status is checked again on each row
    changed, so two callers never take one firing."""
    ready = (sa.select(_f.id)
             .where(_f.pipeline == pipeline, _f.status == _WAITING, _f.next_at <= now,
                    sa.not_(_f.forgotten))
             .order_by(_f.next_at, _f.id).limit(limit))
    statement = (sa.update(trigger_firings)
                 .where(_f.id.in_(ready.scalar_subquery()), _f.status == _WAITING)
                 .values(status=_RUNNING, attempts=_f.attempts + 1, owner=owner,
                         started_at=now, ended_at=None, next_at=None)
                 .returning(trigger_firings))
    rows = connection.execute(statement).mappings().all()
    return sorted((firing_from(row) for row in rows), key=lambda f: (f.started_at, f.id))


def recover(connection: Connection, live_owners: Collection[str], now: datetime) -> int:
    """Running firings whose owner is not live become waiting, due now, with ``STOPPED``
    as their error; how many."""
    gone = sa.or_(_f.owner.is_(None), _f.owner.notin_(sorted(live_owners)))
    statement = (sa.update(trigger_firings).where(_f.status == _RUNNING, gone)
                 .values(status=_WAITING, error=STOPPED, ended_at=now, next_at=now))
    return connection.execute(statement).rowcount


def running_owners(connection: Connection) -> set[str]:
    """The owners of the running firings (recovery judges each one alive or dead)."""
    statement = sa.select(_f.owner).where(_f.status == _RUNNING, _f.owner.is_not(None))
    return {row[0] for row in connection.execute(statement.distinct())}


def forget(connection: Connection, pipelines: Collection[str]) -> int:
    """A backup was restored into the graph of ``pipelines``: their cursors go back to the
    start and their firings are forgotten; how many firings were."""
    names = sorted(pipelines)
    connection.execute(sa.update(trigger_cursors)
                       .where(trigger_cursors.c.pipeline.in_(names)).values(position=-1))
    statement = (sa.update(trigger_firings)
                 .where(_f.pipeline.in_(names), sa.not_(_f.forgotten))
                 .values(element=None, forgotten=True))
    return connection.execute(statement).rowcount


def drop_forgotten(connection: Connection, pipeline: str, trigger: str) -> int:
    """Delete the forgotten firings of ``trigger`` (nothing adopted them); how many."""
    statement = sa.delete(trigger_firings).where(*_of(pipeline, trigger), _f.forgotten)
    return connection.execute(statement).rowcount


def listed(connection: Connection, pipeline: str, trigger: str | None,
           status: FiringStatus | None, limit: int) -> list[Firing]:
    """The firings of ``pipeline`` (of one trigger, in one status), newest first."""
    query = sa.select(trigger_firings).where(_f.pipeline == pipeline)
    if trigger is not None:
        query = query.where(_f.trigger == trigger)
    if status is FiringStatus.FORGOTTEN:
        query = query.where(_f.forgotten)
    elif status is not None:
        query = query.where(_f.status == str(status), sa.not_(_f.forgotten))
    query = query.order_by(_f.created_at.desc(), _f.id.desc()).limit(limit)
    return [firing_from(row) for row in connection.execute(query).mappings()]


def counts(connection: Connection, pipeline: str) -> dict[str, dict[str, int]]:
    """{trigger: {status: firings}} of ``pipeline``; forgotten ones count as forgotten."""
    shown = sa.case((_f.forgotten, str(FiringStatus.FORGOTTEN)), else_=_f.status)
    query = (sa.select(_f.trigger, shown, sa.func.count())
             .where(_f.pipeline == pipeline).group_by(_f.trigger, shown))
    found: dict[str, dict[str, int]] = {}
    for trigger, status, number in connection.execute(query):
        found.setdefault(trigger, {})[status] = number
    return found


# -- cursors ------------------------------------------------------------------------------


def cursor(connection: Connection, pipeline: str, trigger: str) -> TriggerCursor:
    query = sa.select(trigger_cursors).where(trigger_cursors.c.pipeline == pipeline,
                                             trigger_cursors.c.trigger == trigger)
    row = connection.execute(query).mappings().first()
    return cursor_from(row) if row else TriggerCursor(pipeline, trigger)


def cursors(connection: Connection, pipeline: str) -> list[TriggerCursor]:
    query = (sa.select(trigger_cursors).where(trigger_cursors.c.pipeline == pipeline)
             .order_by(trigger_cursors.c.trigger))
    return [cursor_from(row) for row in connection.execute(query).mappings()]


def advance(connection: Connection, upserts: Upserts, pipeline: str, trigger: str,
            position: int, polled_at: datetime) -> None:
    """A poll answered, having looked at everything up to ``position``: the cursor moves
    there unless it stands further already (two processes polled one window)."""
    statement = upserts.insert(trigger_cursors)
    stored, given = trigger_cursors.c.position, statement.excluded.position
    changes = {"position": sa.case((given > stored, given), else_=stored),
               "polled_at": statement.excluded.polled_at, "error": None, "error_at": None}
    connection.execute(
        statement.on_conflict_do_update(index_elements=["pipeline", "trigger"], set_=changes),
        {"pipeline": pipeline, "trigger": trigger, "position": position,
         "polled_at": polled_at, "error": None, "error_at": None})


def failed_poll(connection: Connection, upserts: Upserts, pipeline: str, trigger: str,
                error: str, at: datetime) -> None:
    """A poll did not answer: its error is kept, the cursor stays where it was."""
    statement = upserts.insert(trigger_cursors)
    changes = {"error": statement.excluded.error, "error_at": statement.excluded.error_at}
    connection.execute(
        statement.on_conflict_do_update(index_elements=["pipeline", "trigger"], set_=changes),
        {"pipeline": pipeline, "trigger": trigger, "position": -1, "polled_at": None,
         "error": error, "error_at": at})


# -- rows ---------------------------------------------------------------------------------


def _serialize(connection: Connection, pipeline: str, trigger: str) -> None:
    serialize(connection, f"trigger:{pipeline}:{trigger}")


def _of(pipeline: str, trigger: str) -> tuple[sa.ColumnElement[bool], ...]:
    return _f.pipeline == pipeline, _f.trigger == trigger


def _claimed(firing: Firing, now: datetime) -> dict[str, Any]:
    return {"pipeline": firing.pipeline, "trigger": firing.trigger, "element": firing.element,
            "element_id": firing.element_id, "params": dict(firing.params),
            "params_key": firing.params_key, "status": _RUNNING, "forgotten": False,
            "attempts": 1, "error": None, "run_id": None, "origin": firing.origin,
            "depth": firing.depth, "owner": firing.owner, "created_at": now,
            "started_at": now, "ended_at": None, "next_at": None}


def firing_from(row: RowMapping) -> Firing:
    status = FiringStatus.FORGOTTEN if row["forgotten"] else FiringStatus(row["status"])
    return Firing(
        pipeline=row["pipeline"], trigger=row["trigger"], element=row["element"],
        element_id=row["element_id"], params=dict(row["params"] or {}),
        params_key=row["params_key"], status=status, attempts=row["attempts"],
        error=row["error"], run_id=row["run_id"], origin=row["origin"], depth=row["depth"],
        owner=row["owner"], created_at=row["created_at"], started_at=row["started_at"],
        ended_at=row["ended_at"], next_at=row["next_at"], id=row["id"],
    )


def cursor_from(row: RowMapping) -> TriggerCursor:
    return TriggerCursor(row["pipeline"], row["trigger"], row["position"], row["polled_at"],
                         row["error"], row["error_at"])
