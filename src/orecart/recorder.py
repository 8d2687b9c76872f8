"""Writes the runner's events into the state store: the run history as it happens, and the
run's persisted event log beside it.

Member events are held and written together at ``flush``, in one transaction: the runner
flushes before it hands any member to an executor and before it waits, so a member never
runs before its start is recorded, the success a dependent's start relies on is written in
the same transaction as that start (or earlier), and nothing waits unrecorded while the
runner blocks. One transaction per runner step instead of three per member is most of
what a trivial member costs. A flush that fails keeps what it held, to write again with the
next one (the transaction rolled back whole: nothing of it stands); ``RunStarted`` and
``RunFinished`` write what is held with the run's record. So after a crash the store holds
every member whose end was flushed and shows the others as running (``recover`` aborts
them): never a success that was not. Every lifecycle event is appended to the run's event
log (``StateStore.events``, which a reader replays from any cursor) in the same transaction
as the rows it carries, so the log and the rows never disagree. Output lines are not stored
here: they live in the member-run log files.

The plan is persisted too: ``Planned`` (the first event of a run, before the run's own
record) puts every member of the plan in as a ``pending`` member run with its decision's
reason and code, in one bulk write together with the run's record at ``RunStarted``
(``RunFinished`` if the run never started), so ``orecart status`` shows every member from
the start. The runner's own events then bring each one to its status, as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from orecart.events import (
    AttemptFinished,
    Event,
    MemberFinished,
    MemberOutput,
    MemberRetrying,
    MemberStarted,
    MemberWaiting,
    Planned,
    RunFinished,
    RunStarted,
    event_kind,
)
from orecart.model import Attempt, MemberRun, MemberStatus, Run, to_data
from orecart.planner import Decision, Plan
from orecart.stores import RunLog

#: One event for the log: (kind, JSON-able data).
Entry = tuple[str, Mapping[str, Any]]

#: What the event log keeps of each record; the full rows are in their own tables.
RUN_FIELDS = ("status", "started_at", "finished_at", "error", "backups", "key", "origin",
              "checks")
MEMBER_FIELDS = (
    "member status attempts exit_code error reason reason_code started_at finished_at"
    " digest delta waited_at waited_for checks"
).split()
ATTEMPT_FIELDS = ("member", "number", "status", "exit_code", "error", "started_at",
                  "finished_at", "waited_at", "waited_for")


class Recorder:
    """An EventSink that keeps the state store and the run's event log in step with the run.

    Outline: ``emit`` (member events held, by run) -> ``flush`` (what is held, one
    transaction per run) ... ``emit(RunFinished)`` (what is held, with the run's record)."""

    def __init__(self, store: RunLog) -> None:
        self.store = store
        self._planned: dict[str, Planned] = {}  # by run id: written with the run's record
        self._held: dict[str, list[Event]] = {}  # by run id: member events not yet written

    def emit(self, event: Event) -> None:
        match event:
            case MemberOutput():
                return
            case Planned(run_id):
                self._planned[run_id] = event
            case RunStarted(run) | RunFinished(run):
                self._save_run(run, event)
            case MemberStarted(member_run, _) | MemberWaiting(member_run, _) | MemberFinished(
                member_run
            ):
                self._held.setdefault(member_run.run_id, []).append(event)
            case AttemptFinished(attempt):
                self._held.setdefault(attempt.run_id, []).append(event)
            case MemberRetrying():
                self._held.setdefault(event.run_id, []).append(event)

    def flush(self) -> None:
        """Write every held event with its rows, one transaction per run."""
        for run_id in list(self._held):
            moment = Moment.of(self._held[run_id])
            self.store.record(run_id, moment.entries, member_runs=moment.member_runs,
                              attempts=moment.attempts)
            del self._held[run_id]  # only once written: a failed write tries again

    def _save_run(self, run: Run, event: Event) -> None:
        planned = self._planned.get(run.id)
        moment = Moment.of(self._held.get(run.id, []))
        first = [(event_kind(planned), data(planned))] if planned else []
        entries = [*first, *moment.entries, (event_kind(event), data(event))]
        pending = pending_runs(run.id, planned.plan) if planned else []
        self.store.record(run.id, entries, run=run, member_runs=pending + moment.member_runs,
                          attempts=moment.attempts)
        self._planned.pop(run.id, None)  # only once written: a failed write tries again
        self._held.pop(run.id, None)


@dataclass(frozen=True)
class Moment:
    """Held events as one write: every event for the log, in order; the last record of
    each member run and attempt (records only grow: the last says all the others did)."""

    entries: list[Entry]
    member_runs: list[MemberRun]
    attempts: list[Attempt]

    @classmethod
    def of(cls, events: Iterable[Event]) -> Moment:
        entries: list[Entry] = []
        runs: dict[str, MemberRun] = {}
        attempts: dict[tuple[str, int], Attempt] = {}
        for event in events:
            entries.append((event_kind(event), data(event)))
            if isinstance(event, MemberStarted | MemberWaiting | MemberFinished):
                runs.pop(event.member_run.member, None)  # keep the order of the last
                runs[event.member_run.member] = event.member_run
            elif isinstance(event, AttemptFinished):
                attempts[(event.attempt.member, event.attempt.number)] = event.attempt
        return cls(entries, list(runs.values()), list(attempts.values()))


def pending_runs(run_id: str, plan: Plan) -> list[MemberRun]:
    """Every step of ``plan`` as a pending member run, with its decision's reason and code,
    in plan order (the runner's records carry the same values)."""
    return [
        MemberRun(
            run_id=run_id,
            member=step.member.name,
            status=MemberStatus.PENDING,
            reason=step.reason,
            reason_code=step.code,
            fingerprint=step.fingerprint,
            image=step.member.container.image if step.member.container else None,
            digest=step.digest,
            position=position,
        )
        for position, step in enumerate(plan.steps)
    ]


def data(event: Event) -> dict[str, Any]:
    """The JSON-able data the event log keeps of ``event`` (times as ISO text)."""
    match event:
        case Planned(_, plan):
            return plan_summary(plan)
        case RunStarted(run) | RunFinished(run):
            return _pick(run, RUN_FIELDS)
        case MemberStarted(member_run, attempt) | MemberWaiting(member_run, attempt):
            return {**_pick(member_run, MEMBER_FIELDS), "attempt": attempt}
        case MemberFinished(member_run):
            return _pick(member_run, MEMBER_FIELDS)
        case AttemptFinished(attempt):
            return _pick(attempt, ATTEMPT_FIELDS)
    fields: dict[str, Any] = to_data(asdict(event))
    fields.pop("run_id", None)
    return fields


def plan_summary(plan: Plan) -> dict[str, Any]:
    """How many members the plan runs, skips and cancels (the members are the run's rows)."""
    counts = {str(decision): plan.count(decision) for decision in Decision}
    return {"pipeline": plan.pipeline.name, "profile": plan.pipeline.profile,
            "members": len(plan.steps), **counts}


def _pick(record: Run | MemberRun | Attempt, names: Iterable[str]) -> dict[str, Any]:
    found: Mapping[str, Any] = {name: getattr(record, name) for name in names}
    picked: dict[str, Any] = to_data(found)
    return picked
