"""The handle on a run in progress, for whoever started it: the CLI's signal handlers
(and, later, a service's cancel) stop a run through it without holding the runner.

``Service.run`` attaches each run it starts; ``interrupt()`` stops what is attached and
still going. Nothing here decides a status: the runner does, as for any interrupt.
"""

from __future__ import annotations

from typing import Protocol


class Stoppable(Protocol):
    """A run in progress (``orecart.runner.Runner``)."""

    @property
    def finished(self) -> bool: ...

    def interrupt(self) -> None: ...


class RunControl:
    """Stops the runs attached to it. Takes no lock (appending to and copying a list are
    atomic), so a signal handler may call it whatever the interrupted thread was doing."""

    def __init__(self) -> None:
        self._runs: list[Stoppable] = []

    def attach(self, run: Stoppable) -> None:
        self._runs.append(run)

    def interrupt(self) -> bool:
        """Stop every attached run still going: no new work; running members are stopped
        (a second call kills at once). False when none was going (not started yet, or
        over), so the caller can stop in its own way."""
        going = [run for run in list(self._runs) if not run.finished]
        for run in going:
            run.interrupt()
        return bool(going)
