"""What the runner tells the world: event dataclasses, the EventSink protocol, and their
delivery, isolated per sink.

The runner emits; sinks (the state recorder, the progress display, hooks, the graph run
log, notifiers, the API stream) listen. ``Fanout`` delivers in two ways:

- **in step** (its positional sinks: the state recorder and the graph run log, the two
  records that decide what a later run skips): called in the runner's thread, in order, so
  what a run's after-backup holds is what the run recorded. A record that could not be
  written must not stand, so an in-step sink that raises ends the run ``aborted`` with
  that error (see ``orecart.runner``; the graph run log turns a graph that cannot be
  written into a note itself). An in-step sink may hold events until the runner's next
  ``flush`` (``Flushing``; the recorder writes a runner step's records in one transaction).
- **isolated** (``isolated=``; every other sink): each gets its own queue and delivery
  thread, so a slow sink stalls only itself and a raising one loses only its own event.
  Each sink still sees every event in the order they happened. The runner never waits
  for one: lifecycle events (a few per member) are always queued; output lines are
  dropped, and counted, once a sink has ``backlog`` of them waiting (a wedged display
  must not grow memory without bound). ``close(timeout)`` ends delivery when the run is
  over: it waits, bounded by one shared deadline, for every sink to catch up, and returns
  notes for the ``Outcome``: a sink's errors (how many, the first), dropped lines, and a
  sink still busy at the deadline (its thread is a daemon, left to finish or to die with
  the process).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

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
class MemberWaiting:
    """A ready member run began to wait for a pool's lease: ``member_run`` (pending, or
    running between attempts) carries ``waited_at`` and ``waited_for``; ``attempt`` is
    the one it waits to start. Once per wait, never per scheduling pass. A wait for a
    place in ``max_parallel`` costs no event: the ``MemberStarted`` that ends it carries
    it (10,000 members behind ``max_parallel: 4`` would be 10,000 writes at the start)."""

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
    | MemberWaiting
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


@runtime_checkable
class Flushing(Protocol):
    """An in-step sink that may hold events to write them together (the state recorder):
    the runner calls ``flush`` before it starts a member or waits, and a flush that raises
    is an internal error like an ``emit`` that raises."""

    def flush(self) -> None: ...


#: Output lines a slow isolated sink may have waiting before further ones are dropped.
BACKLOG = 10_000


class Fanout:
    """An EventSink that delivers every event to sinks in step, then to isolated ones.

    Outline: ``Fanout(recorder, isolated=[display, hooks, ...])`` -> ``emit`` per event
    (in-step sinks now, isolated ones queued) -> ``close(timeout) -> notes``.
    """

    def __init__(
        self, *in_step: EventSink, isolated: Sequence[EventSink] = (), backlog: int = BACKLOG
    ) -> None:
        self.sinks = list(in_step)
        self.deliveries = [Delivery(sink, backlog) for sink in isolated]

    def emit(self, event: Event) -> None:
        """Deliver to every in-step sink, even after one raised; queue the event for each
        isolated sink; then raise the first in-step error."""
        failure: Exception | None = None
        for sink in self.sinks:
            try:
                sink.emit(event)
            except Exception as exc:
                failure = failure or exc
        for delivery in self.deliveries:
            delivery.put(event)
        if failure is not None:
            raise failure

    def flush(self) -> None:
        """Flush every in-step sink that holds events, even after one raised; then raise
        the first error."""
        failure: Exception | None = None
        for sink in self.sinks:
            try:
                if isinstance(sink, Flushing):
                    sink.flush()
            except Exception as exc:
                failure = failure or exc
        if failure is not None:
            raise failure

    def close(self, timeout: float) -> list[str]:
        """Stop taking events and let the isolated sinks catch up for at most ``timeout``
        seconds in all; what went wrong on the way, as notes."""
        deadline = time.monotonic() + timeout
        for delivery in self.deliveries:
            delivery.stop()
        return [note for delivery in self.deliveries for note in delivery.join(deadline)]


class Delivery:
    """One isolated sink: its own queue and the thread that empties it, in order."""

    def __init__(self, sink: EventSink, backlog: int = BACKLOG) -> None:
        self.sink, self.backlog = sink, backlog
        self.name = getattr(sink, "name", None) or type(sink).__name__
        self.queue: deque[Event] = deque()
        self.lines = 0  # output lines waiting in the queue
        self.dropped = 0
        self.failures: list[str] = []  # the first few; ``failed`` counts them all
        self.failed = 0
        self.stopped = False
        self.ready = threading.Condition()
        self.thread = threading.Thread(
            target=self._deliver, name=f"orecart-sink-{self.name}", daemon=True
        )
        self.thread.start()

    def put(self, event: Event) -> None:
        """Queue ``event``; never waits for the sink."""
        with self.ready:
            if self.stopped:
                return
            if isinstance(event, MemberOutput):
                if self.lines >= self.backlog:
                    self.dropped += 1
                    return
                self.lines += 1
            self.queue.append(event)
            self.ready.notify()

    def stop(self) -> None:
        with self.ready:
            self.stopped = True
            self.ready.notify()

    def join(self, deadline: float) -> list[str]:
        """Wait until the queue is delivered or ``deadline`` (monotonic) passes; notes."""
        self.thread.join(max(0.0, deadline - time.monotonic()))
        notes = []
        if self.failed:
            first = "; ".join(self.failures)
            notes.append(f"event sink {self.name}: {self.failed} event(s) failed: {first}")
        if self.dropped:
            notes.append(f"event sink {self.name}: fell behind, {self.dropped} output "
                         "line(s) dropped")
        if self.thread.is_alive():
            with self.ready:
                left = len(self.queue)
            notes.append(f"event sink {self.name}: still busy when the run ended; "
                         f"{left} more event(s) not delivered")
        return notes

    def _deliver(self) -> None:
        while (event := self._next()) is not None:
            try:
                self.sink.emit(event)
            except Exception as exc:  # the sink's own failure: noted, never the run's
                self.failed += 1
                if len(self.failures) < 3:
                    self.failures.append(f"{event_kind(event)}: {exc!r}")

    def _next(self) -> Event | None:
        with self.ready:
            while not self.queue and not self.stopped:
                self.ready.wait()
            if not self.queue:
                return None
            event = self.queue.popleft()
            if isinstance(event, MemberOutput):
                self.lines -= 1
            return event
