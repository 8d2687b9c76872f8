"""Notifications of a run's outcome through apprise (gfe-db's report mail, AirCan's
failure mail): one message per run, to each ``notify:`` target that asked for its outcome.

A ``Notifier`` is an isolated event sink (see ``orecart.events``): it runs on its own
thread, so sending never holds up the runner, and what goes wrong is kept in ``errors``
(notes of the run), never raised into it. Outline::

    emit(RunStarted) -> import apprise now (about a second), while the members run
    emit(MemberFinished) -> keep the member run
    emit(RunFinished) -> outcomes -> message (redacted) -> per target that wants one of
        them: deliver (TRIES tries, BACKOFF doubling) -> record a Notification

Outcomes: ``succeeded``; ``cancelled``; ``invalid`` when a check failed (the pipeline's
checks, or a member that exited 0 and failed after it, in its post-checks); ``failed``
when a member failed, errored or was aborted, or the run was aborted. A run may be both
``failed`` and ``invalid``. URLs are secrets: what is recorded or reported shows them
without their passwords.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from orecart.events import Event, MemberFinished, RunFinished, RunStarted
from orecart.executors.logfile import parse_line
from orecart.model import (
    MemberRun,
    MemberStatus,
    Notification,
    NotifyTarget,
    Pipeline,
    Run,
    RunOutcome,
    RunStatus,
    SendStatus,
)
from orecart.secrets import Redactor, url_secrets
from orecart.stores import NotificationLog

TRIES = 3
BACKOFF = 0.5  # seconds before the second try; doubled before each further one
LOG_LINES = 20  # last lines of each failed member's log in the message
_TAIL_BYTES = 64 * 1024
_BROKEN = frozenset({MemberStatus.FAILED, MemberStatus.ERRORED, MemberStatus.ABORTED})


class Transport(Protocol):
    """Sends one message to one URL; the error, or None once it was sent."""

    def send(self, url: str, title: str, body: str) -> str | None: ...


class AppriseTransport:
    """The real transport: apprise, imported on first use (it is slow to import)."""

    def send(self, url: str, title: str, body: str) -> str | None:
        try:
            apprise = importlib.import_module("apprise")
        except ImportError:
            return "apprise is not installed (pip install 'orecart[notify]')"
        sender = apprise.Apprise()
        if not sender.add(url):
            return "apprise does not accept this URL"
        with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as log:
            sent = sender.notify(title=title, body=body)
        if sent:
            return None
        said = [line.strip() for line in log.getvalue().splitlines() if line.strip()]
        return "; ".join(dict.fromkeys(said[-3:])) or "apprise could not send it"


class Notifier:
    """An EventSink that sends and records the notifications of one run."""

    name = "notify"

    def __init__(
        self,
        pipeline: Pipeline,
        log: NotificationLog,
        transport: Transport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.pipeline, self.log = pipeline, log
        self.transport = transport or AppriseTransport()
        self.sleep = sleep
        self.redact = Redactor(pipeline.secret_values)
        self.member_runs: dict[str, MemberRun] = {}
        self.errors: list[str] = []

    def emit(self, event: Event) -> None:
        match event:
            case RunStarted():
                _warm_up()
            case MemberFinished(member_run):
                self.member_runs[member_run.member] = member_run
            case RunFinished(run):
                self.notify(run, list(self.member_runs.values()))

    def notify(self, run: Run, member_runs: Sequence[MemberRun]) -> list[Notification]:
        """Send to every target that wants this run's outcome; record each send."""
        wanted = outcomes(run, member_runs)
        targets = [t for t in self.pipeline.notify if t.on & wanted]
        if not targets:
            return []
        title, body = message(run, member_runs, self.pipeline)
        title, body = self._clean(title), self._clean(body)
        return [self._deliver(run.id, target, title, body) for target in targets]

    def _deliver(self, run_id: str, target: NotifyTarget, title: str, body: str) -> Notification:
        error: str | None = None
        attempt = 0
        for attempt in range(1, TRIES + 1):
            error = self._send(target.url, title, body)
            if error is None or attempt == TRIES:
                break
            self.sleep(BACKOFF * 2 ** (attempt - 1))
        shown = self.shown(target.url)
        notification = Notification(
            run_id=run_id,
            url=shown,
            outcome=SendStatus.FAILED if error else SendStatus.SENT,
            attempts=attempt,
            error=self._clean(error, target.url) if error else None,
            sent_at=datetime.now(UTC),
        )
        if error:
            self.errors.append(f"notification to {shown} failed after {attempt} tries: "
                               f"{notification.error}")
        self._record(notification)
        return notification

    def _send(self, url: str, title: str, body: str) -> str | None:
        try:
            return self.transport.send(url, title, body)
        except Exception as exc:  # a plugin's bug is a failed send, not a dead notifier
            return repr(exc)

    def _record(self, notification: Notification) -> None:
        try:
            self.log.save_notification(notification)
        except Exception as exc:  # the store's trouble: the run's own records stand
            self.errors.append(f"notification to {notification.url} not recorded: {exc}")

    def shown(self, url: str) -> str:
        """``url`` as it may be recorded and shown: without its password."""
        return self._clean(url, url)

    def _clean(self, text: str, url: str | None = None) -> str:
        """``text`` without the pipeline's secrets, ``url``'s, or any URI's user info (a
        ``Redactor`` hides that too)."""
        text = self.redact(text)
        return Redactor(url_secrets(url))(text) if url else text


def _warm_up() -> None:
    """Import apprise now, on this sink's thread, so RunFinished need not wait for it."""
    try:
        importlib.import_module("apprise")
    except ImportError:
        pass  # reported when sending


# -- what the run came to ---------------------------------------------------------------


def outcomes(run: Run, member_runs: Iterable[MemberRun]) -> frozenset[RunOutcome]:
    """The outcomes a run counts as (see the module docstring)."""
    if run.status is RunStatus.SUCCEEDED:
        return frozenset({RunOutcome.SUCCEEDED})
    if run.status is RunStatus.CANCELLED:
        return frozenset({RunOutcome.CANCELLED})
    found: set[RunOutcome] = set()
    members = list(member_runs)
    if any(_check_failed(mr) for mr in members) or _pipeline_checks_failed(run, members):
        found.add(RunOutcome.INVALID)
    if run.status is RunStatus.ABORTED or any(
        mr.status in _BROKEN and not _check_failed(mr) for mr in members
    ):
        found.add(RunOutcome.FAILED)
    return frozenset(found or {RunOutcome.FAILED})


def _check_failed(member_run: MemberRun) -> bool:
    """Failed although the loader exited 0: what failed came after it (its post-checks)."""
    return member_run.status is MemberStatus.FAILED and member_run.exit_code == 0


def _pipeline_checks_failed(run: Run, members: Sequence[MemberRun]) -> bool:
    """A failed run whose every member is fine failed on the pipeline's checks."""
    return run.status is RunStatus.FAILED and bool(run.error) and all(
        mr.status.ok for mr in members
    )


# -- the message ------------------------------------------------------------------------


def message(run: Run, member_runs: Sequence[MemberRun], pipeline: Pipeline) -> tuple[str, str]:
    """The title and plain-text body of the notification of ``run`` (not yet redacted)."""
    title = f"orecart: {run.pipeline} {run.status} (run {run.id})"
    parts = [_summary(run, member_runs), _failed_members(member_runs), _checks(run, member_runs),
             _changes(member_runs), _backups(run)]
    return title, "\n\n".join(part for part in parts if part) + "\n"


def _summary(run: Run, member_runs: Sequence[MemberRun]) -> str:
    lines = [f"Pipeline {run.pipeline}, run {run.id}: {run.status}"]
    if run.started_at:
        took = ""
        if run.finished_at:
            took = f", took {(run.finished_at - run.started_at).total_seconds():.1f} s"
        lines.append(f"Started {run.started_at:%Y-%m-%d %H:%M:%S} UTC{took}, on {run.host or '?'}")
    counts: dict[str, int] = {}
    for mr in member_runs:
        counts[str(mr.status)] = counts.get(str(mr.status), 0) + 1
    if counts:
        lines.append("Members: " + ", ".join(f"{n} {status}" for status, n in counts.items()))
    if run.error:
        lines.append(f"Error: {run.error}")
    return "\n".join(lines)


def _failed_members(member_runs: Sequence[MemberRun]) -> str:
    broken = [mr for mr in member_runs if mr.status in _BROKEN]
    if not broken:
        return ""
    blocks = ["Failed members:"]
    for mr in broken:
        exit_code = f", exit code {mr.exit_code}" if mr.exit_code is not None else ""
        blocks.append(f"- {mr.member}: {mr.status}{exit_code}, {mr.attempts} attempt(s)"
                      + (f": {mr.error}" if mr.error else ""))
        lines = tail(Path(mr.log_path)) if mr.log_path else []
        if lines:
            blocks.append(f"  last {len(lines)} log line(s):")
            blocks.extend(f"    {line}" for line in lines)
    return "\n".join(blocks)


def _checks(run: Run, member_runs: Sequence[MemberRun]) -> str:
    failed = [f"- {mr.member}: {mr.error}" for mr in member_runs if _check_failed(mr)]
    if _pipeline_checks_failed(run, member_runs):
        failed.append(f"- pipeline: {run.error}")
    return "\n".join(["Failed checks:", *failed]) if failed else ""


def _changes(member_runs: Sequence[MemberRun]) -> str:
    from orecart.graph.diff import member_changes  # pure: no driver imported

    lines = []
    for change in member_changes(member_runs):
        counts = [_counted("nodes", change.nodes), _counted("relationships", change.relationships)]
        lines.append(f"- {change.member}: " + ("; ".join(filter(None, counts)) or "no change"))
    return "\n".join(["Graph changes:", *lines]) if lines else ""


def _counted(what: str, counts: Mapping[str, int]) -> str:
    items = dict(counts)
    if not any(items.values()):
        return ""
    total = sum(items.values())
    each = ", ".join(f"{name} {n:+d}" for name, n in sorted(items.items()) if n)
    return f"{what} {total:+d} ({each})"


def _backups(run: Run) -> str:
    if not run.backups:
        return ""
    return "\n".join(["Backups taken:", *(f"- {path}" for path in run.backups)])


def tail(path: Path, count: int = LOG_LINES) -> list[str]:
    """The last ``count`` lines a member printed, from its log (already redacted)."""
    try:
        with path.open("rb") as file:
            start = max(0, file.seek(0, 2) - _TAIL_BYTES)
            file.seek(start)
            raw = file.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return []
    parsed = [parse_line(line) for line in raw[1 if start else 0 :]]  # a cut first line
    texts = [f"{line.stream}: {line.text}" for line in parsed if line and line.stream != "orecart"]
    return texts[-count:]
