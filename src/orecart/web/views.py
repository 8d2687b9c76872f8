"""The bodies of what a run left (artifacts, graph diffs) and of a pipeline's sensors,
versions, stored queries and triggers: the views the CLI's ``--json`` gives, as pydantic
models (so the OpenAPI document states them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from orecart.model import RunStatus
from orecart.querying import QueryStats, StoredQuery
from orecart.service.served import Artifact, TriggerView
from orecart.service.versions import SensorView, VersionView
from orecart.triggering import Firing, FiringStatus, QueryAction


class ArtifactOut(BaseModel):
    name: str  # below the member run's artifacts folder, with ``/``
    size: int

    @classmethod
    def of(cls, a: Artifact) -> ArtifactOut:
        return cls(name=a.name, size=a.size)


class MemberChangeOut(BaseModel):
    member: str
    run_id: str
    status: str
    nodes: dict[str, int]  # count change per label
    relationships: dict[str, int]  # count change per type
    added: dict[str, list[Any]]  # keys added, per label
    removed: dict[str, list[Any]]


class DiffOut(BaseModel):
    """``GET /runs/{id}/diff``: what each member changed in the graph."""

    run: str
    members: list[MemberChangeOut]


class CountsOut(BaseModel):
    a: int
    b: int
    difference: int  # b - a


class RunsCompared(BaseModel):
    a: str | None
    b: str | None


class ComparedOut(BaseModel):
    """``GET /runs/{id}/diff?against=OTHER``: summed changes per label and type in each run
    (``difference`` is OTHER's minus this run's) and each member in either run."""

    runs: RunsCompared
    nodes: dict[str, CountsOut]
    relationships: dict[str, CountsOut]
    members: dict[str, dict[str, Any]]


class SensorOut(BaseModel):
    name: str
    kind: str
    every: float
    versions: int  # versions it saw
    cursor: dict[str, Any] | None
    ticked_at: datetime | None
    error: str | None
    error_at: datetime | None

    @classmethod
    def of(cls, v: SensorView) -> SensorOut:
        state = v.state
        return cls(name=v.sensor.name, kind=v.sensor.kind, every=v.sensor.every,
                   versions=v.versions, cursor=dict(state.cursor) if state else None,
                   ticked_at=state.ticked_at if state else None,
                   error=state.error if state else None,
                   error_at=state.error_at if state else None)


class VersionRunOut(BaseModel):
    id: str
    status: RunStatus
    origin: str
    queued_at: datetime | None
    finished_at: datetime | None


class VersionOut(BaseModel):
    sensor: str
    version: str
    key: str
    ref: str
    commit: str
    params: dict[str, Any]
    seen_at: datetime | None
    state: str
    runs: list[VersionRunOut]

    @classmethod
    def of(cls, view: VersionView) -> VersionOut:
        v = view.version
        runs = [VersionRunOut(id=r.id, status=r.status, origin=r.origin,
                              queued_at=r.queued_at, finished_at=r.finished_at)
                for r in view.runs]
        return cls(sensor=v.sensor, version=v.version, key=v.key, ref=v.ref, commit=v.commit,
                   params=dict(v.params), seen_at=v.seen_at, state=str(view.state), runs=runs)


class QueryOut(BaseModel):
    name: str
    mode: str
    cypher: str
    desc: str | None
    params: dict[str, str]  # name -> declared type

    @classmethod
    def of(cls, q: StoredQuery) -> QueryOut:
        return cls(name=q.name, mode=str(q.mode), cypher=q.cypher, desc=q.desc,
                   params={p.name: p.spelled for p in q.params})


class QueryStatsOut(BaseModel):
    query: str
    count: int
    p50: float  # seconds
    p95: float
    max: float
    errors: int

    @classmethod
    def of(cls, s: QueryStats) -> QueryStatsOut:
        return cls(query=s.query, count=s.count, p50=s.p50, p95=s.p95, max=s.max,
                   errors=s.errors)


class TriggerOut(BaseModel):
    name: str
    kind: str  # node or relationship
    action: str  # "query NAME", "run" or "run MEMBER"
    params: list[str]
    every: float
    position: int  # the highest internal id looked at (-1: never polled)
    polled_at: datetime | None
    error: str | None
    firings: dict[str, int]  # by status

    @classmethod
    def of(cls, v: TriggerView) -> TriggerOut:
        t, c = v.trigger, v.cursor
        return cls(name=t.name, kind=str(t.kind), action=_action(v), params=list(t.params),
                   every=t.every, position=c.position, polled_at=c.polled_at, error=c.error,
                   firings=v.firings)


def _action(v: TriggerView) -> str:
    action = v.trigger.action
    if isinstance(action, QueryAction):
        return f"query {action.query}"
    return f"run {action.member}" if action.member else "run"


class FiringOut(BaseModel):
    id: int | None
    element_id: str
    status: FiringStatus
    attempts: int
    params: dict[str, Any]  # secret values masked
    error: str | None
    run_id: str | None
    origin: str
    created_at: datetime | None
    ended_at: datetime | None
    next_at: datetime | None

    @classmethod
    def of(cls, f: Firing) -> FiringOut:
        return cls(id=f.id, element_id=f.element_id, status=f.status, attempts=f.attempts,
                   params=dict(f.params), error=f.error, run_id=f.run_id, origin=f.origin,
                   created_at=f.created_at, ended_at=f.ended_at, next_at=f.next_at)
