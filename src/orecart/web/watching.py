"""``/pipelines/{name}/...``: what watches a pipeline and what it asks of the graph: its
sensors, the versions they saw, its stored queries (and their stats) and its triggers (and
their firings), the views of ``orecart sensors/versions/queries/triggers``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from orecart.web.auth import READ, served_of
from orecart.web.views import (
    FiringOut,
    QueryOut,
    QueryStatsOut,
    SensorOut,
    TriggerOut,
    VersionOut,
)

router = APIRouter(prefix="/pipelines", tags=["pipelines"], dependencies=[READ])


@router.get("/{name}/sensors", response_model=list[SensorOut])
def sensors(name: str, request: Request) -> list[SensorOut]:
    return [SensorOut.of(v) for v in served_of(request).sensors(name)]


@router.get("/{name}/versions", response_model=list[VersionOut])
def versions(name: str, request: Request) -> list[VersionOut]:
    return [VersionOut.of(v) for v in served_of(request).versions(name)]


@router.get("/{name}/queries", response_model=list[QueryOut] | list[QueryStatsOut])
def queries(name: str, request: Request,
            stats: Annotated[bool, Query()] = False) -> list[QueryOut] | list[QueryStatsOut]:
    """The stored queries; with ``stats=true`` per query its executions, p50, p95 and max
    duration (seconds) and errors."""
    served = served_of(request)
    if stats:
        return [QueryStatsOut.of(s) for s in served.query_stats(name)]
    return [QueryOut.of(q) for q in served.queries(name)]


@router.get("/{name}/triggers", response_model=list[TriggerOut])
def triggers(name: str, request: Request) -> list[TriggerOut]:
    return [TriggerOut.of(v) for v in served_of(request).triggers(name)]


@router.get("/{name}/triggers/{trigger}/firings", response_model=list[FiringOut])
def firings(name: str, trigger: str, request: Request,
            limit: Annotated[int, Query(ge=1, le=500)] = 50) -> list[FiringOut]:
    """The trigger's firings, newest first."""
    return [FiringOut.of(f) for f in served_of(request).firings(name, trigger, limit)]
