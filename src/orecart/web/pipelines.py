"""``/pipelines``: the served pipelines, one with its members, and its plan now."""

from __future__ import annotations

from fastapi import APIRouter, Request

from orecart.web.auth import READ, served_of
from orecart.web.schemas import PipelineOut, PipelineSummary, PlanOut, schedule_text

router = APIRouter(prefix="/pipelines", tags=["pipelines"], dependencies=[READ])


@router.get("", response_model=list[PipelineSummary])
def pipelines(request: Request) -> list[PipelineSummary]:
    return [PipelineSummary(name=p.name, members=len(p.members), schedule=schedule_text(p))
            for p in served_of(request).pipelines()]


@router.get("/{name}", response_model=PipelineOut)
def pipeline(name: str, request: Request) -> PipelineOut:
    return PipelineOut.of(served_of(request).pipeline(name))


@router.get("/{name}/plan", response_model=PlanOut)
def plan(name: str, request: Request) -> PlanOut:
    return PlanOut.of(served_of(request).plan(name))
