"""The bodies the API takes and gives (pydantic), built from the model's dataclasses.

Parameters come as the run records them (secret values masked); of a member's env only
the names are shown, never a value.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from fastapi import Response
from pydantic import BaseModel, ConfigDict, Field

from orecart.model import (
    Attempt,
    CheckResult,
    Member,
    MemberRun,
    MemberStatus,
    Pipeline,
    Run,
    RunEvent,
    RunStatus,
)
from orecart.planner import Plan


def answer(model: BaseModel, status: int = 200) -> Response:
    """``model`` as the JSON response, serialized once (a route's ``response_model`` still
    documents it; returning the model itself would have FastAPI validate it again)."""
    return Response(model.model_dump_json(), status, media_type="application/json")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunIn(Strict):
    pipeline: str = Field(min_length=1, max_length=200)
    params: dict[str, str] = Field(default_factory=dict)
    key: str | None = Field(default=None, min_length=1, max_length=200)
    metadata: dict[str, str] = Field(default_factory=dict)  # the run's labels
    callback_url: str | None = Field(default=None, max_length=2000)


class RetryIn(Strict):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    only_failed: bool = False
    start: str | None = Field(default=None, alias="from", min_length=1)


class Error(BaseModel):
    error: str


class Created(BaseModel):
    id: str
    status: RunStatus
    #: the run's callback URL as it may be shown: user info and query values masked
    callback_url: str | None = None


class RunOut(BaseModel):
    id: str
    pipeline: str
    status: RunStatus
    key: str | None
    origin: str
    metadata: dict[str, str]
    params: dict[str, str]
    profile: str | None
    queued_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None

    @classmethod
    def of(cls, run: Run) -> RunOut:
        return cls(id=run.id, pipeline=run.pipeline, status=run.status, key=run.key,
                   origin=run.origin, metadata=dict(run.labels), params=dict(run.params),
                   profile=run.profile, queued_at=run.queued_at, started_at=run.started_at,
                   finished_at=run.finished_at, error=run.error)


class RunPage(BaseModel):
    runs: list[RunOut]
    next: str | None  # the cursor of the next page (pass it as ?cursor=)


class AttemptOut(BaseModel):
    number: int
    status: MemberStatus
    exit_code: int | None
    error: str | None
    started_at: datetime | None
    finished_at: datetime | None
    waited_at: datetime | None  # it waited, from then until it started
    waited_for: str | None  # for a pool (its name), or "parallel": for max_parallel

    @classmethod
    def of(cls, a: Attempt) -> AttemptOut:
        return cls(number=a.number, status=a.status, exit_code=a.exit_code, error=a.error,
                   started_at=a.started_at, finished_at=a.finished_at, waited_at=a.waited_at,
                   waited_for=a.waited_for)


class MemberRunOut(BaseModel):
    member: str
    status: MemberStatus
    attempts: int
    exit_code: int | None
    error: str | None
    reason: str | None
    reason_code: str | None
    fingerprint: str | None
    image: str | None
    digest: str | None
    artifacts: str | None
    started_at: datetime | None  # of its first attempt
    finished_at: datetime | None
    waited_at: datetime | None  # its latest wait (for a pool, or max_parallel) began
    waited_for: str | None  # a pool's name, or "parallel"
    #: its attempts that ended, in order (in a run's member list only when it was tried
    #: more than once: the member run itself tells its one attempt and the wait before it)
    attempt_spans: list[AttemptOut]

    @classmethod
    def of(cls, m: MemberRun, attempts: Sequence[Attempt] = ()) -> MemberRunOut:
        return cls(member=m.member, status=m.status, attempts=m.attempts,
                   exit_code=m.exit_code, error=m.error, reason=m.reason,
                   reason_code=str(m.reason_code) if m.reason_code else None,
                   fingerprint=m.fingerprint, image=m.image, digest=m.digest,
                   artifacts=m.artifacts, started_at=m.started_at, finished_at=m.finished_at,
                   waited_at=m.waited_at, waited_for=m.waited_for,
                   attempt_spans=[AttemptOut.of(a) for a in attempts])

    @classmethod
    def listed(cls, members: Sequence[MemberRun], attempts: Sequence[Attempt]
               ) -> list[MemberRunOut]:
        """A run's member runs, each with its attempts (all the run's, read at once)."""
        by_member: dict[str, list[Attempt]] = {}
        for attempt in attempts:
            by_member.setdefault(attempt.member, []).append(attempt)
        return [cls.of(m, by_member.get(m.member, ())) for m in members]


class CheckOut(BaseModel):
    member: str | None  # whose post-check; None: one of the pipeline's checks
    name: str
    passed: bool
    message: str

    @classmethod
    def of(cls, c: CheckResult) -> CheckOut:
        return cls(member=c.member, name=c.name, passed=c.passed, message=c.message)


class MemberDetailOut(BaseModel):
    member: MemberRunOut
    attempts: list[AttemptOut]


class RunDetailOut(RunOut):
    members: list[MemberRunOut]
    checks: list[CheckOut]  # the checks that ran: the pipeline's, then members' post-checks
    backups: list[str]  # the graph backups the run took (files on the server)

    @classmethod
    def of_run(cls, run: Run, members: Sequence[MemberRun],
               attempts: Sequence[Attempt]) -> RunDetailOut:
        checks = [*run.checks, *(c for m in members for c in m.checks)]
        return cls(**RunOut.of(run).model_dump(), members=MemberRunOut.listed(members, attempts),
                   checks=[CheckOut.of(c) for c in checks], backups=list(run.backups))


class EventOut(BaseModel):
    id: int
    kind: str
    at: datetime
    data: dict[str, Any]

    @classmethod
    def of(cls, e: RunEvent) -> EventOut:
        return cls(id=e.id, kind=e.kind, at=e.at, data=dict(e.data))


class MemberOut(BaseModel):
    name: str
    kind: str  # image or run
    image: str | None
    needs: list[str]
    pool: str | None
    desc: str | None
    env: list[str]  # names only: a value may be a secret


class PipelineSummary(BaseModel):
    name: str
    members: int
    schedule: str | None


class PipelineOut(BaseModel):
    name: str
    members: list[MemberOut]
    schedule: str | None
    sensors: list[str]
    queries: list[str]
    triggers: list[str]

    @classmethod
    def of(cls, p: Pipeline) -> PipelineOut:
        members = [MemberOut(name=m.name, kind="image" if m.container else "run",
                             image=m.container.image if m.container else None,
                             needs=list(m.needs), pool=m.pool, desc=m.desc,
                             env=env_names(p, m))
                   for m in p.members]
        return cls(name=p.name, members=members, schedule=schedule_text(p),
                   sensors=[s.name for s in p.sensors], queries=[q.name for q in p.queries],
                   triggers=[t.name for t in p.triggers])


def env_names(p: Pipeline, m: Member) -> list[str]:
    """The names of the env the member gets from its file (its own and the pipeline's)."""
    return sorted(set(m.env) | (set(p.env) - m.exclude_env))


def schedule_text(p: Pipeline) -> str | None:
    if p.schedule is None:
        return None
    if p.schedule.cron:
        return f"cron {p.schedule.cron} ({p.schedule.timezone})"
    return f"every {p.schedule.every:g}s"


class StepOut(BaseModel):
    member: str
    decision: str
    code: str
    reason: str
    fingerprint: str
    digest: str | None
    done_by: str | None
    needs: list[str]


class PlanOut(BaseModel):
    pipeline: str
    steps: list[StepOut]

    @classmethod
    def of(cls, plan: Plan) -> PlanOut:
        return cls(pipeline=plan.pipeline.name,
                   steps=[StepOut(**s.to_dict()) for s in plan.steps])


class Health(BaseModel):
    status: str
    #: how many kinds of work this serve leads among the serves of its store (``recovery``,
    #: each pipeline's; ``/metrics`` names them, for a token with read scope)
    leading: int = 0
