"""copili-style member logs: ``DIR/<member>.log`` for people who read Motherlode's ``./log``.

copili (1.4.1, ``ContainerManager``) gave each container a ``logging.FileHandler`` on
``<log_path>/<name>.log`` (opened for appending, so runs follow each other in one file),
wrote the container's output into it, and closed each run of it with this block
(``Pipeline._run``)::

    ========================================
    FAILED: False
    EXITED with status: 0
    SKIPPED: False
    CANCELED: False
    RUNTIME: 0.5 minutes
    ========================================

A skipped container counted as exit status 0, a cancelled one (a dependency failed) as 1,
with a runtime of 0. ``MemberLogDir`` is an event sink that writes the same files from a
run's events, beside orecart's own per-run logs. Member output arrives already redacted.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import TextIO

from orecart.events import Event, MemberFinished, MemberOutput, MemberRetrying, RunFinished
from orecart.model import MemberRun, MemberStatus

LOG_DIR_VARIABLE = "ORECART_LOG_DIR"
RULE = "=" * 40
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def log_file_name(member: str) -> str:
    """``<member>.log``, safe as one file name whatever the member is called."""
    safe = _UNSAFE.sub("_", member)
    return f"{'_' + safe if safe.startswith('.') else safe}.log"


def closing_block(mr: MemberRun) -> list[str]:
    """copili's closing lines for one member run, in its words."""
    skipped = mr.status is MemberStatus.SKIPPED
    cancelled = mr.status is MemberStatus.CANCELLED
    exit_code = 0 if skipped else 1 if cancelled else mr.exit_code
    failed = mr.status is not MemberStatus.SUCCEEDED and not skipped
    minutes = 0.0 if skipped or cancelled else (mr.duration or 0.0) / 60
    lines = [f"ERROR: {mr.error}"] if mr.error else []
    return [
        *lines,
        RULE,
        f"FAILED: {failed}",
        f"EXITED with status: {exit_code}",
        f"SKIPPED: {skipped}",
        f"CANCELED: {cancelled}",
        f"RUNTIME: {minutes} minutes",
        RULE,
        "",
    ]


class MemberLogDir:
    """An event sink appending each member's output and closing block to its log file.

    It never raises into the runner: a file that cannot be written is given up on and
    noted in ``errors``.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.errors: list[str] = []
        self._files: dict[str, TextIO | None] = {}
        self._lock = threading.Lock()  # output arrives from several threads

    def emit(self, event: Event) -> None:
        match event:
            case MemberOutput(_, member, line):
                self._write(member, [line])
            case MemberRetrying(_, member, attempt, delay, error):
                self._write(member, [f"{error}; attempt {attempt} in {delay:.1f}s"])
            case MemberFinished(mr):
                self._write(mr.member, closing_block(mr))
                with self._lock:
                    self._close(mr.member)
            case RunFinished():
                with self._lock:
                    for member in list(self._files):
                        self._close(member)

    def _write(self, member: str, lines: list[str]) -> None:
        with self._lock:
            stream = self._file(member)
            if stream is None:
                return
            try:
                stream.write("".join(line + "\n" for line in lines))
                stream.flush()
            except OSError as exc:
                self._give_up(member, exc)

    def _file(self, member: str) -> TextIO | None:
        if member not in self._files:
            path = self.folder / log_file_name(member)
            try:
                self._files[member] = path.open("a", encoding="utf-8", errors="replace")
            except OSError as exc:
                self._give_up(member, exc)
        return self._files[member]

    def _give_up(self, member: str, exc: OSError) -> None:
        self.errors.append(f"log file of {member}: {exc.strerror or exc}")
        self._close(member)
        self._files[member] = None

    def _close(self, member: str) -> None:
        stream = self._files.pop(member, None)
        if stream is not None:
            try:
                stream.close()
            except OSError:
                return
