"""A large run's member runs summarised in SQL: the few worth listing, the rest counted.

``orecart status`` of a 10,000-member run shows the member runs that did not succeed or
skip (at most a page of them) and a count of the others by status. Reading 10,000 rows to
count them costs far more than the whole command may take, so the counts come from one
``GROUP BY`` and only the listed rows are read. Statuses are counted as history shows
them (``orecart.stores.orphans``): when the run's orecart died, a running or pending
member run counts as aborted, and is listed as such.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from orecart.model import MemberRun, MemberStatus
from orecart.stores.orphans import UNFINISHED
from orecart.stores.schema import member_runs


@dataclass(frozen=True)
class MemberSummary:
    """The member runs of a run to list, and how many others there are by status."""

    listed: list[MemberRun]
    unlisted: Mapping[str, int] = field(default_factory=dict)


#: Reads the member runs of a run matching a condition, in plan order, at most a limit
#: of them (None: all), as history shows them.
Reader = Callable[[sa.ColumnElement[bool] | None, int | None], list[MemberRun]]


def statuses(connection: Connection, run_id: str) -> dict[str, int]:
    """How many member runs of ``run_id`` are in each stored status."""
    query = (sa.select(member_runs.c.status, sa.func.count())
             .where(member_runs.c.run_id == run_id).group_by(member_runs.c.status))
    return {status: int(n) for status, n in connection.execute(query)}


def summarise(stored: Mapping[str, int], orphaned: bool, rows: int, read: Reader) -> MemberSummary:
    """All member runs when there are at most ``rows``; else the first ``rows`` that did
    not succeed or skip, in plan order, and the others counted by status. ``stored``: the
    counts by stored status (``statuses``); ``orphaned``: the run's orecart died."""
    if sum(stored.values()) <= rows:
        return MemberSummary(read(None, None))
    seen = {status: _as_seen(status, orphaned) for status in stored}
    notable = sorted(status for status in stored if not MemberStatus(seen[status]).ok)
    listed = read(member_runs.c.status.in_(notable), rows) if notable and rows > 0 else []
    counts: Counter[str] = Counter()
    for status, n in stored.items():
        counts[seen[status]] += n
    counts.subtract(str(mr.status) for mr in listed)
    return MemberSummary(listed, {status: n for status, n in sorted(counts.items()) if n})


def _as_seen(status: str, orphaned: bool) -> str:
    """A stored status as history shows it (see the module docstring)."""
    unfinished = orphaned and MemberStatus(status) in UNFINISHED
    return str(MemberStatus.ABORTED) if unfinished else status
