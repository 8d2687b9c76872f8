"""Pure planning: Pipeline + selection + what the ledger knows -> Plan. No I/O here.

The plan lists every member in dependency order with one decision and the reason for it:
``run``, ``skip`` (and which earlier run already did the work) or ``cancel``. The rerun rule
of DESIGN.md lives in ``_decide``: a member is skipped when the ledger holds a success for
the same fingerprint and nothing it needs has run since.

Precedence, first match wins: the profile, ``--skip`` and ``--only``/``--from`` leave a
member out; a need that cannot succeed cancels it; ``--force`` and the selection run it;
then ``rerun: always`` runs it, no earlier success runs it, ``rerun: never`` skips it
(so ``never`` wins over ``max_age`` and the schedule, as ``always`` wins over everything
the ledger says); then a changed definition or digest, a need that ran, an unmet
``complete_when``, a success older than ``max_age`` (``STALE``) and, on a scheduled run, a
service container (``SCHEDULED``) run it. A service container's scheduled rerun does not
make its dependents run (copili's service mode reran the service containers only).
"""

from __future__ import annotations

import hashlib
import heapq
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from orecart.errors import CycleError, SelectionError
from orecart.model import (
    Format,
    Handover,
    Member,
    MemberRun,
    MemberStatus,
    Pipeline,
    ReasonCode,
    Rerun,
    format_seconds,
)
from orecart.secrets import MASK, Redactor, is_secret_name, masked_env


class Decision(StrEnum):
    RUN = "run"
    SKIP = "skip"
    CANCEL = "cancel"


@dataclass(frozen=True)
class Selection:
    """What the user asked for on the command line."""

    only: frozenset[str] = frozenset()
    start: frozenset[str] = frozenset()  # --from: these and everything downstream
    skip: frozenset[str] = frozenset()
    only_failed: bool = False
    force: bool = False

    def names(self) -> frozenset[str]:
        return self.only | self.start | self.skip


@dataclass(frozen=True)
class Facts:
    """What the world holds, gathered by the service before planning."""

    successes: Mapping[str, MemberRun] = field(default_factory=dict)  # from the ledger
    last_statuses: Mapping[str, MemberStatus] = field(default_factory=dict)
    digests: Mapping[str, str | None] = field(default_factory=dict)  # image members only
    complete: Mapping[str, bool] = field(default_factory=dict)  # complete_when results
    now: datetime | None = None  # when the plan is made (None: max_age is not judged)
    scheduled: bool = False  # this run is a schedule's tick (service containers rerun)


@dataclass(frozen=True)
class Step:
    member: Member
    decision: Decision
    reason: str  # for people; programs read ``code``
    fingerprint: str
    digest: str | None = None
    done_by: str | None = None  # the run whose success makes this a skip
    code: ReasonCode = field(kw_only=True)

    def to_dict(self) -> dict[str, Any]:
        return {
            "member": self.member.name,
            "decision": str(self.decision),
            "code": str(self.code),
            "reason": self.reason,
            "fingerprint": self.fingerprint,
            "digest": self.digest,
            "done_by": self.done_by,
            "needs": list(self.member.needs),
        }


@dataclass(frozen=True)
class Plan:
    pipeline: Pipeline
    steps: tuple[Step, ...]

    def step(self, name: str) -> Step:
        for step in self.steps:
            if step.member.name == name:
                return step
        raise KeyError(name)

    def count(self, decision: Decision) -> int:
        return sum(1 for s in self.steps if s.decision is decision)

    def to_dict(self) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline.name,
            "profile": self.pipeline.profile,
            "params": masked_env(
                self.pipeline.params, self.pipeline.secrets, self.pipeline.secret_values
            ),
            "steps": [s.to_dict() for s in self.steps],
        }


def plan(pipeline: Pipeline, selection: Selection = Selection(), facts: Facts = Facts()) -> Plan:
    """Decide, for every member in dependency order, whether it runs, is skipped or cancelled."""
    _check_selection(pipeline, selection)
    chosen = _selected(pipeline, selection, facts)
    decided: dict[str, Step] = {}
    for name in topological_order(pipeline):
        member = pipeline.member(name)
        digest = facts.digests.get(name)
        fp = fingerprint(member, pipeline, digest)
        decision, code, reason, done_by = _decide(
            member, fp, digest, pipeline, selection, chosen, facts, decided
        )
        if decision is Decision.SKIP and done_by is None and name in facts.successes:
            done_by = facts.successes[name].run_id  # its artifacts are still the inputs
        decided[name] = Step(member, decision, reason, fp, digest, done_by, code=code)
    return Plan(pipeline, tuple(decided.values()))


def topological_order(pipeline: Pipeline) -> list[str]:
    """Members ordered so every member comes after its needs; file order breaks ties."""
    index = {m.name: i for i, m in enumerate(pipeline.members)}
    waiting = {m.name: len(set(m.needs)) for m in pipeline.members}
    dependents: dict[str, list[str]] = {m.name: [] for m in pipeline.members}
    for member in pipeline.members:
        for need in set(member.needs):
            dependents[need].append(member.name)
    ready = [(index[n], n) for n, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        _, name = heapq.heappop(ready)
        order.append(name)
        for dependent in dependents[name]:
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                heapq.heappush(ready, (index[dependent], dependent))
    if len(order) < len(index):
        raise CycleError(_find_cycle(pipeline, set(index) - set(order)))
    return order


def downstream(pipeline: Pipeline, names: frozenset[str]) -> frozenset[str]:
    """The named members and every member that needs them, directly or not."""
    result = set(names)
    for name in topological_order(pipeline):
        if any(need in result for need in pipeline.member(name).needs):
            result.add(name)
    return frozenset(result)


def fingerprint(member: Member, pipeline: Pipeline, digest: str | None) -> str:
    """A hash of what the member does: its definition after expansion (secrets excluded),
    the environment it gets from the pipeline, its image digest and the run parameters."""
    declared = pipeline.secrets | member.secrets
    env = {k: v for k, v in pipeline.env.items() if k not in member.exclude_env}
    env.update(member.env)
    params = masked_env(pipeline.params, declared, pipeline.secret_values)
    container = asdict(member.container) if member.container else None
    if container:
        container.pop("auth", None)  # who pulls and how often changes nothing it does
        container.pop("pull", None)
    identity = {
        "run": member.run,
        "shell": member.shell,
        "cwd": member.cwd,
        "container": container,
        "env": {k: MASK if is_secret_name(k, declared) else v for k, v in sorted(env.items())},
        "digest": digest,
        "params": dict(sorted(params.items())),
        "format": str(pipeline.format),
    }
    if member.handover is Handover.MOTHERLODE and pipeline.format is Format.NATIVE:
        identity["handover"] = str(member.handover)  # it receives more than before
    text = Redactor(pipeline.secret_values)(json.dumps(identity, sort_keys=True, default=str))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _check_selection(pipeline: Pipeline, selection: Selection) -> None:
    known = set(pipeline.names)
    unknown = sorted(selection.names() - known)
    if unknown:
        raise SelectionError(
            f"no member named {', '.join(map(repr, unknown))} in pipeline {pipeline.name!r}"
        )


def _selected(pipeline: Pipeline, selection: Selection, facts: Facts) -> frozenset[str] | None:
    """The members the user named (None: no narrowing, every member is a candidate)."""
    chosen: set[str] | None = None
    if selection.only or selection.start:
        chosen = set(selection.only) | set(downstream(pipeline, selection.start))
    if selection.only_failed:
        failed = {n for n in pipeline.names if not _last_ok(facts, n)}
        chosen = failed if chosen is None else chosen & failed
    return None if chosen is None else frozenset(chosen)


def _last_ok(facts: Facts, name: str) -> bool:
    status = facts.last_statuses.get(name)
    return status is not None and status.ok


Verdict = tuple[Decision, ReasonCode, str, str | None]  # decision, code, prose, done by


def _decide(
    member: Member,
    fp: str,
    digest: str | None,
    pipeline: Pipeline,
    selection: Selection,
    chosen: frozenset[str] | None,
    facts: Facts,
    decided: Mapping[str, Step],
) -> Verdict:
    name = member.name
    if name in pipeline.excluded:
        why = f"excluded by profile {pipeline.profile!r}"
        return Decision.SKIP, ReasonCode.EXCLUDED_BY_PROFILE, why, None
    if name in selection.skip:
        return Decision.SKIP, ReasonCode.SKIPPED_BY_USER, "skipped with --skip", None
    if chosen is not None and name not in chosen:
        why = "not selected"
        if selection.only_failed and _last_ok(facts, name):
            why = f"{facts.last_statuses[name]} in the last run"
        done = facts.successes.get(name)
        why = f"{why}; done by run {done.run_id}" if done else why
        return Decision.SKIP, ReasonCode.NOT_SELECTED, why, None
    blocked = _blocked_need(member, decided, facts)
    if blocked:
        return Decision.CANCEL, *blocked, None
    if selection.force:
        return Decision.RUN, ReasonCode.FORCED, "forced with --force", None
    if chosen is not None:
        return Decision.RUN, *_selected_why(name, selection), None
    return _rerun_rule(member, fp, digest, facts, decided)


def _selected_why(name: str, selection: Selection) -> tuple[ReasonCode, str]:
    if selection.only_failed:
        return ReasonCode.FAILED_LAST, "did not succeed in the last run"
    if name in selection.only:
        return ReasonCode.SELECTED, "selected with --only"
    if name in selection.start:
        return ReasonCode.SELECTED, "selected with --from"
    return ReasonCode.SELECTED, "downstream of --from " + ", ".join(sorted(selection.start))


def _blocked_need(
    member: Member, decided: Mapping[str, Step], facts: Facts
) -> tuple[ReasonCode, str] | None:
    """Why the member cannot run: a need is cancelled, or skipped without ever succeeding
    (a need the profile excludes is taken as provided from elsewhere)."""
    for need in member.needs:
        step = decided[need]
        if step.decision is Decision.CANCEL:
            return ReasonCode.NEED_CANCELLED, f"needs {need}, which is cancelled"
        excluded = step.code is ReasonCode.EXCLUDED_BY_PROFILE
        if step.decision is Decision.SKIP and not excluded and need not in facts.successes:
            why = f"needs {need}, which does not run now and has never succeeded here"
            return ReasonCode.NEED_NEVER_SUCCEEDED, why
    return None


def _rerun_rule(
    member: Member, fp: str, digest: str | None, facts: Facts, decided: Mapping[str, Step]
) -> Verdict:
    if member.rerun is Rerun.ALWAYS:
        return Decision.RUN, ReasonCode.ALWAYS, "rerun: always", None
    done = facts.successes.get(member.name)
    if done is None:
        return Decision.RUN, ReasonCode.NEW, "no earlier success here", None
    if member.rerun is Rerun.NEVER:
        why = f"rerun: never; done by run {done.run_id}"
        return Decision.SKIP, ReasonCode.NEVER, why, done.run_id
    run = _run_again(member, fp, digest, done)
    if run is None:
        run = _need_changed(member, done, facts, decided)
    if run is None and member.complete_when and not facts.complete.get(member.name, False):
        run = ReasonCode.INCOMPLETE, "complete_when does not hold"
    if run is None:
        run = _stale(member, done, facts)
    if run is None and facts.scheduled and member.container and member.container.service:
        run = ReasonCode.SCHEDULED, "service container: rerun on the schedule"
    if run is not None:
        return Decision.RUN, *run, None
    return Decision.SKIP, ReasonCode.DONE, f"done by run {done.run_id}", done.run_id


def _run_again(
    member: Member, fp: str, digest: str | None, done: MemberRun
) -> tuple[ReasonCode, str] | None:
    """Why what the member is differs from what succeeded (None: it does not)."""
    if member.container and digest is None:
        return ReasonCode.DIGEST_UNKNOWN, "image digest could not be resolved"
    if done.digest != digest and member.container:
        moved = f"{_short(done.digest)} -> {_short(digest)}"
        return ReasonCode.DIGEST_CHANGED, f"image digest changed: {moved}"
    if done.fingerprint != fp:
        return ReasonCode.CHANGED, f"definition changed since run {done.run_id}"
    return None


def _need_changed(
    member: Member, done: MemberRun, facts: Facts, decided: Mapping[str, Step]
) -> tuple[ReasonCode, str] | None:
    for need in member.needs:
        step = decided[need]
        if step.decision is Decision.RUN and step.code is not ReasonCode.SCHEDULED:
            return ReasonCode.NEED_RAN, f"needs {need}, which runs now"
        ran = facts.successes.get(need)
        if ran is None or ran.reason_code is ReasonCode.SCHEDULED:
            continue
        if ran.finished_at and done.started_at and ran.finished_at > done.started_at:
            return ReasonCode.NEED_RAN, f"needs {need}, which ran since (run {ran.run_id})"
    return None


def _stale(member: Member, done: MemberRun, facts: Facts) -> tuple[ReasonCode, str] | None:
    """Why a success is too old to count (None: it is not, or no ``max_age``/``now``)."""
    if member.max_age is None or facts.now is None:
        return None
    limit = format_seconds(member.max_age)
    when = done.finished_at or done.started_at
    if when is None:
        return ReasonCode.STALE, f"its last success has no time (max_age {limit})"
    age = (facts.now - when).total_seconds()
    if age <= member.max_age:
        return None
    return ReasonCode.STALE, f"its last success is {_age(age)} old (max_age {limit})"


def _age(seconds: float) -> str:
    """An age for people: "8 days", "5 hours", "3 minutes", "40 seconds"."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= 2 * size:
            return f"{int(seconds // size)} {unit}s"
    return f"{int(seconds)} seconds"


def _short(digest: str | None) -> str:
    if not digest:
        return "none"
    return digest.split(":", 1)[-1][:12]


def _find_cycle(pipeline: Pipeline, stuck: set[str]) -> list[str]:
    """One cycle among the members that topological sorting could not place."""
    start = min(stuck, key=pipeline.names.index)
    path: list[str] = []
    seen: dict[str, int] = {}
    node = start
    while node not in seen:
        seen[node] = len(path)
        path.append(node)
        node = next(n for n in pipeline.member(node).needs if n in stuck)
    return path[seen[node]:] + [node]
