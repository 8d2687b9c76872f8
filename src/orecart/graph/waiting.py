"""Waiting for the graph: what a connection reports while the server is not ready yet.

``GraphConnection.open`` probes until the server answers or its wait runs out. It never
prints; it hands each ``Waiting`` to a ``WaitReport`` callback (the CLI prints them), so a
run against a database that is still starting, or not there at all, says what it waits
for and for how long instead of staying silent::

    WaitClock(graph, limit, report, stop) -> .failed(error) after each refused probe
        (reports the first one, then one every ``interval``) -> .pause(seconds) before
        the next (False once ``stop`` is set: a stopping service waits no longer)
        -> .ready() once it answers

URIs are shown without their user info, and errors come already redacted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit, urlunsplit

from orecart.model import Graph

MAX_INTERVAL = 10.0  # seconds between "still waiting" reports on a long wait
MIN_INTERVAL = 1.0


class Phase(StrEnum):
    STARTED = "started"  # the first probe was refused: waiting begins
    WAITING = "waiting"  # still refused, ``waited`` seconds in
    READY = "ready"  # the server answered after at least one refusal


@dataclass(frozen=True)
class Waiting:
    """One report of a wait for the graph, with the last error a probe met."""

    phase: Phase
    uri: str  # without user info
    waited: float  # seconds since the first probe
    limit: float  # seconds the connection waits at most
    error: str = ""

    @property
    def message(self) -> str:
        where = f"Neo4j at {self.uri}"
        if self.phase is Phase.STARTED:
            return f"waiting for {where} (up to {_seconds(self.limit)}): {self.error}"
        if self.phase is Phase.WAITING:
            return (f"still waiting for {where}, {_seconds(self.waited)} of "
                    f"{_seconds(self.limit)}: {self.error}")
        return f"{where} is ready after {_seconds(self.waited)}"


#: Called with each report while a connection waits for its server.
WaitReport = Callable[[Waiting], None]


def shown_uri(uri: str) -> str:
    """``uri`` without a ``user:password@`` part, for messages."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return uri.rpartition("@")[2]
    if "@" not in parts.netloc:
        return uri
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def interval(limit: float) -> float:
    """Seconds between reports: about three over a short wait, every 10 s over a long one."""
    return min(MAX_INTERVAL, max(MIN_INTERVAL, limit / 3))


class WaitClock:
    """Decides when a wait is worth a report; silent when nothing was refused."""

    def __init__(self, graph: Graph, limit: float, report: WaitReport | None,
                 stop: threading.Event | None = None) -> None:
        self._uri = shown_uri(graph.uri)
        self.limit = limit
        self._report = report
        self._stop = stop
        self._started = time.monotonic()
        self._next: float | None = None  # seconds in when the next report is due

    def failed(self, error: str) -> None:
        """A probe was refused with ``error`` (redacted) and will be retried."""
        waited = time.monotonic() - self._started
        if self._next is None:
            self._next = interval(self.limit)
            self._send(Phase.STARTED, waited, error)
        elif waited >= self._next:
            self._next += interval(self.limit)
            self._send(Phase.WAITING, waited, error)

    def pause(self, seconds: float) -> bool:
        """Sleep until the next probe; False (at once) when the wait was stopped."""
        if self._stop is None:
            time.sleep(seconds)
            return True
        return not self._stop.wait(seconds)

    def ready(self) -> None:
        """The server answered: say so when a wait was reported."""
        if self._next is not None:
            self._send(Phase.READY, time.monotonic() - self._started)

    def _send(self, phase: Phase, waited: float, error: str = "") -> None:
        if self._report is not None:
            self._report(Waiting(phase, self._uri, waited, self.limit, error))


def _seconds(value: float) -> str:
    return f"{value:.0f} s" if value >= 1 or value == 0 else f"{value:.1f} s"
