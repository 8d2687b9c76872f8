"""Running runs whose orecart process died, as history reads show them: ``aborted``, with their
unfinished member runs and attempts aborted too, computed at read time and never written.

Only a run of this host is judged here (its pid is checked); ``SqlStore.recover`` writes
the same verdict when a service starts, and, for a run of another host, judges it by its
pipeline's lock (expired: its process died there), which ``serve``'s leader does every
second.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TypeVar

from orecart.model import Attempt, MemberRun, MemberStatus, Run, RunStatus
from orecart.stores.locks import dead

DIED = "orecart died while it ran"
UNFINISHED = frozenset({MemberStatus.RUNNING, MemberStatus.PENDING})

Part = TypeVar("Part", MemberRun, Attempt)


def orphaned(run: Run) -> bool:
    """True when ``run`` is running but the orecart process running it is gone. A queued
    run is never orphaned: it belongs to no process until one claims it."""
    running = run.status is RunStatus.RUNNING
    return running and run.pid > 0 and dead(run.host, run.pid, run.started_at)


def as_seen(run: Run) -> Run:
    """``run`` as history shows it: aborted when its process died."""
    if not orphaned(run):
        return run
    return replace(run, status=RunStatus.ABORTED, error=run.error or DIED)


def parts_as_seen(run: Run | None, parts: list[Part]) -> list[Part]:
    """Member runs or attempts of ``run`` as history shows them."""
    if run is None or not orphaned(run):
        return parts
    return [
        replace(part, status=MemberStatus.ABORTED, error=part.error or DIED)
        if part.status in UNFINISHED else part
        for part in parts
    ]
