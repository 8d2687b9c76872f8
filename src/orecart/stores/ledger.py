"""The ``ledger`` table kept in step with member runs: per pipeline and member, the latest
successful member run, so that deciding what to skip is one indexed query however long the
history grows. Every function here runs inside the write transaction that saves the
member run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from orecart.model import MemberRun, MemberStatus
from orecart.stores.schema import ledger
from orecart.stores.upserts import Upserts

#: Statuses of a member run that touched its outputs without (yet) succeeding.
RAN_AGAIN = frozenset(
    {MemberStatus.RUNNING, MemberStatus.FAILED, MemberStatus.ERRORED, MemberStatus.ABORTED}
)

_SAVED: sa.ColumnClause[Any] = sa.literal_column("excluded.finished_at")
#: A success replaces the ledger's when it is of the same run, or not older. A constant
#: (the saved row is ``excluded``), so the statement is built once: it is on the hot path.
_NEWER = sa.or_(
    ledger.c.run_id == sa.literal_column("excluded.run_id"),
    ledger.c.finished_at.is_(None),
    _SAVED.is_(None),
    _SAVED >= ledger.c.finished_at,
)


#: The forgetting of one member's success, for many members in one executemany: the
#: saved member run's id and start are bound (``since`` None: only a success of its run).
_SINCE = sa.bindparam("since", type_=ledger.c.finished_at.type)
_FORGET = sa.delete(ledger).where(
    ledger.c.pipeline == sa.bindparam("the_pipeline"),
    ledger.c.member == sa.bindparam("the_member"),
    sa.or_(
        ledger.c.run_id == sa.bindparam("the_run"),
        sa.and_(
            sa.cast(_SINCE, ledger.c.finished_at.type).is_not(None),  # typed for PostgreSQL
            sa.or_(ledger.c.finished_at.is_(None), ledger.c.finished_at <= _SINCE),
        ),
    ),
)


def keep_in_step(
    connection: Connection, upserts: Upserts, pipeline: str, saved: Sequence[MemberRun]
) -> None:
    """What the member runs ``saved`` (just saved, one per member) change in the ledger of
    ``pipeline``: two statements at most, however many there are."""
    successes = [_success(pipeline, mr) for mr in saved if mr.status is MemberStatus.SUCCEEDED]
    if successes:
        upserts.row(connection, ledger, successes, ("pipeline", "member"), where=_NEWER)
    forgotten = [_forgotten(pipeline, mr) for mr in saved if mr.status in RAN_AGAIN]
    if forgotten:
        connection.execute(_FORGET, forgotten)


def _success(pipeline: str, member_run: MemberRun) -> dict[str, Any]:
    """The ledger row that makes ``member_run`` the success, unless a later one is there."""
    return {
        "pipeline": pipeline,
        "member": member_run.member,
        "run_id": member_run.run_id,
        "fingerprint": member_run.fingerprint,
        "digest": member_run.digest,
        "started_at": member_run.started_at,
        "finished_at": member_run.finished_at,
    }


def _forgotten(pipeline: str, member_run: MemberRun) -> dict[str, Any]:
    """A member that runs again, or ran again without success, may have undone what its
    last success made: the ledger forgets that success (of its own run, or one that ended
    before it started), unless it came later."""
    return {
        "the_pipeline": pipeline,
        "the_member": member_run.member,
        "the_run": member_run.run_id,
        "since": member_run.started_at,
    }
