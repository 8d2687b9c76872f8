"""What the runner tells the world: event dataclasses and the EventSink protocol.

The runner emits; sinks (the state recorder, the progress display, hooks, the graph run
log, the API stream) listen. A sink should not raise; when one does, the runner ends the
run ``aborted`` with that error (see ``orecart.runner``), so a record that could not be
written never stands as a success. ``Fanout`` still hands each event to every sink first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from orecart.model import Attempt, MemberRun, Run
from orecart.planner import Plan


@dataclass(frozen=True)
class Planned:
    """The run's plan is made: every member and its decision. The first event of a run."""

    run_id: str
    plan: Plan


@dataclass(frozen=True)
class RunStarted:
    run: Run


@dataclass(frozen=True)
class RunFinished:
    run: Run


@dataclass(frozen=True)
class MemberStarted:
    """An attempt of a member run started; ``member_run`` is its running record."""

    member_run: MemberRun
    attempt: int


@dataclass(frozen=True)
class MemberOutput:
    run_id: str
    member: str
    line: str  # already redacted


@dataclass(frozen=True)
class MemberRetrying:
    run_id: str
    member: str
    attempt: int  # the attempt that is about to start
    delay: float
    error: str


@dataclass(frozen=True)
class AttemptFinished:
    attempt: Attempt


@dataclass(frozen=True)
class MemberFinished:
    """A member run reached a terminal status (including skipped and cancelled)."""

    member_run: MemberRun


Event = (
    Planned
    | RunStarted
    | RunFinished
    | MemberStarted
    | MemberOutput
    | MemberRetrying
    | AttemptFinished
    | MemberFinished
)


def event_kind(event: Event) -> str:
    """A stable snake_case name for an event, as stored and streamed."""
    name = type(event).__name__
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


class EventSink(Protocol):
    def emit(self, event: Event) -> None: ...


class Fanout:
    """An EventSink that passes every event to several sinks, in order."""

    def __init__(self, *sinks: EventSink) -> None:
        self.sinks = list(sinks)

    def emit(self, event: Event) -> None:
        """Deliver to every sink, even after one raised; then raise the first error."""
        failure: Exception | None = None
        for sink in self.sinks:
            try:
                sink.emit(event)
            except Exception as exc:
                failure = failure or exc
        if failure is not None:
            raise failure
