"""The ``ledger`` table kept in step with member runs: per pipeline and member, the latest
successful member run, so that deciding what to skip is one indexed query however long the
history grows. Every function here runs inside the write transaction that saves the
member run.
"""

from __future__ import annotations

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


def keep_in_step(
    connection: Connection, upserts: Upserts, pipeline: str, member_run: MemberRun
) -> None:
    """What ``member_run``, just saved, changes in the ledger of ``pipeline``."""
    if member_run.status is MemberStatus.SUCCEEDED:
        _record_success(connection, upserts, pipeline, member_run)
    elif member_run.status in RAN_AGAIN:
        _forget_success(connection, pipeline, member_run)


def _record_success(
    connection: Connection, upserts: Upserts, pipeline: str, member_run: MemberRun
) -> None:
    """Make ``member_run`` the ledger's success unless a later one is there already."""
    values = {
        "pipeline": pipeline,
        "member": member_run.member,
        "run_id": member_run.run_id,
        "fingerprint": member_run.fingerprint,
        "digest": member_run.digest,
        "started_at": member_run.started_at,
        "finished_at": member_run.finished_at,
    }
    upserts.row(connection, ledger, values, ("pipeline", "member"), where=_NEWER)


def _forget_success(connection: Connection, pipeline: str, member_run: MemberRun) -> None:
    """A member that runs again, or ran again without success, may have undone what its
    last success made: the ledger forgets that success (unless it came later)."""
    stale = ledger.c.run_id == member_run.run_id
    if member_run.started_at is not None:
        since = sa.or_(
            ledger.c.finished_at.is_(None), ledger.c.finished_at <= member_run.started_at
        )
        stale = sa.or_(stale, since)
    connection.execute(
        sa.delete(ledger).where(
            ledger.c.pipeline == pipeline, ledger.c.member == member_run.member, stale
        )
    )
