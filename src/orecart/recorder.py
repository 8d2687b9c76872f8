"""Writes the runner's events into the state store: the run history as it happens.

Each record is written when its event arrives, so after a crash the store holds every
member that finished and shows the one in flight as running (``recover`` aborts it).
Output lines are not stored here: they live in the member-run log files.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from orecart.events import (
    AttemptFinished,
    Event,
    MemberFinished,
    MemberOutput,
    MemberRetrying,
    MemberStarted,
    RunFinished,
    RunStarted,
    event_kind,
)
from orecart.stores import RunLog


class Recorder:
    """An EventSink that keeps the state store in step with the run."""

    def __init__(self, store: RunLog) -> None:
        self.store = store

    def emit(self, event: Event) -> None:
        match event:
            case MemberOutput():
                return
            case RunStarted(run) | RunFinished(run):
                self.store.save_run(run)
            case MemberStarted(member_run, _) | MemberFinished(member_run):
                self.store.save_member_run(member_run)
            case AttemptFinished(attempt):
                self.store.save_attempt(attempt)
            case MemberRetrying():
                self.store.add_event(event.run_id, event_kind(event), _data(event))


def _data(event: Event) -> dict[str, Any]:
    return {k: v for k, v in asdict(event).items() if k != "run_id"}
