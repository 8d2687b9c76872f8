"""Members that are ready but not started: since when, and for what (a pool, or a place in
``max_parallel``), as the runner's scheduling sees them.

``Runner._schedule`` tells this what it finds; it answers with the waits to record, so a
wait is recorded once, when it begins, however many passes it lasts. Call outline::

    ready(name) when a member joins the ready set (a retry: when its backoff ends)
    -> refused(name, pool): a pool refused its lease; the Wait when it is a new one
    -> full(): a pass ended with ready members and no place left in max_parallel
    -> started(name): the wait that ended now (a pool's, or PARALLEL), or None

A wait for ``max_parallel`` is only known when it ends: a member ready before the latest
full pass, not refused by a pool, waited for a place since it became ready. Judging it
then costs nothing per pass, where marking every ready member of a full pass would read
the whole ready set each time (10,000 members, 10,000 passes).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from orecart.model import PARALLEL


def now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Wait:
    """A member began waiting ``at``, for ``what``: a pool's name or ``PARALLEL``."""

    what: str
    at: datetime


class Waits:
    """What the scheduler knows of waiting members (see the module's outline)."""

    def __init__(self) -> None:
        self.ready_at: dict[str, datetime] = {}  # joined the ready set (absent: at the start)
        self.pools: dict[str, Wait] = {}  # a pool's wait, recorded, not ended yet
        self.first_full: datetime | None = None  # the first pass that found no place
        self.full_at: datetime | None = None  # the latest one

    def ready(self, name: str, delay: float = 0.0) -> None:
        self.ready_at[name] = now() + timedelta(seconds=delay)

    def refused(self, name: str, pool: str) -> Wait | None:
        """A pool refused ``name`` its lease: the wait to record when it began now."""
        if name in self.pools:
            return None
        self.pools[name] = Wait(pool, now())
        return self.pools[name]

    def full(self) -> None:
        self.full_at = now()
        self.first_full = self.first_full or self.full_at

    def started(self, name: str) -> Wait | None:
        """``name`` starts now: the wait that ends, or None when it did not wait."""
        ready = self.ready_at.pop(name, None) or self.first_full
        pool = self.pools.pop(name, None)
        if pool is not None:
            return pool
        if ready is None or self.full_at is None or ready > self.full_at:
            return None
        return Wait(PARALLEL, ready)
