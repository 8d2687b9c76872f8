"""Plain progress: one line per event, for logs and pipes, written without Rich.

A run whose output is not a terminal needs Rich only for the table at its end, so it does
not import it (15-20 ms) before its first member starts. ``orecart.cli.display`` holds the
Rich renderings.
"""

from __future__ import annotations

import threading
from typing import TextIO

from orecart.cli.text import printable
from orecart.events import (
    Event,
    MemberFinished,
    MemberOutput,
    MemberRetrying,
    MemberStarted,
    RunFinished,
    RunStarted,
)
from orecart.model import MemberRun, MemberStatus


def seconds(value: float | None) -> str:
    if value is None:
        return ""
    if value < 60:
        return f"{value:.1f}s"
    minutes, rest = divmod(int(value), 60)
    return f"{minutes}m{rest:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def detail(mr: MemberRun) -> str:
    """`` (duration; error or skip reason)`` after a member's status, or nothing."""
    parts = []
    if mr.duration is not None:
        parts.append(seconds(mr.duration))
    if mr.error:
        parts.append(mr.error)
    elif mr.status is MemberStatus.SKIPPED and mr.reason:
        parts.append(mr.reason)
    return f" ({'; '.join(parts)})" if parts else ""


class PlainProgress:
    """One line per event: `member | output` and status lines, each only ``printable``: a
    pipe is often read on a terminal (``| tee``, ``| less -R``, CI logs)."""

    def __init__(self, stream: TextIO, quiet: bool = False) -> None:
        self.stream, self.quiet = stream, quiet
        self._lock = threading.Lock()  # output arrives from several threads

    def emit(self, event: Event) -> None:
        line = self._line(event)
        if line is not None:
            with self._lock:
                print(printable(line), file=self.stream, flush=True)

    def _line(self, event: Event) -> str | None:
        match event:
            case RunStarted(run):
                return f"run {run.id} of {run.pipeline} started"
            case MemberStarted(mr, attempt):
                return f"{mr.member}: started (attempt {attempt})"
            case MemberOutput(_, member, line) if not self.quiet:
                return f"{member} | {line}"
            case MemberRetrying(_, member, attempt, delay, error):
                return f"{member}: {error}; attempt {attempt} in {delay:.1f}s"
            case MemberFinished(mr):
                return f"{mr.member}: {mr.status}{detail(mr)}"
            case RunFinished(run):
                return f"run {run.id}: {run.status}"
        return None
