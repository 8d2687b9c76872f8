"""``/runs``: submit, list (filters, cursor pages), read, cancel and retry runs."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import BeforeValidator

from orecart.callbacks import check_url
from orecart.errors import UsageError
from orecart.model import RunStatus
from orecart.secrets import hide_url
from orecart.service.requests import RunRequest
from orecart.service.served import API, Retry
from orecart.stores.listing import RunFilter
from orecart.web.auth import OPERATE, READ, served_of
from orecart.web.schemas import (
    AttemptOut,
    Created,
    MemberDetailOut,
    MemberRunOut,
    RetryIn,
    RunDetailOut,
    RunIn,
    RunOut,
    RunPage,
    answer,
)

router = APIRouter(prefix="/runs", tags=["runs"])
#: ``GET /runs?label.dataset=x`` filters on the label ``dataset`` (as does metadata=dataset:x)
LABEL = "label."
#: The most member runs a page skips or holds (the stores' integers stay in range).
MAX_MEMBERS = 1 << 30


#: RFC 3339's date-time, as the schema's ``format: date-time`` promises (pydantic alone
#: would also take a number of seconds, or a time without its zone)
RFC3339 = re.compile(r"\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)")


def _rfc3339(value: object) -> object:
    if not isinstance(value, str) or not RFC3339.fullmatch(value):
        raise ValueError("expected an RFC 3339 time, e.g. 2026-01-31T12:00:00Z")
    return value


Time = Annotated[datetime, BeforeValidator(_rfc3339)]


def request_of(body: RunIn) -> RunRequest:
    """The one place an API body becomes a run request."""
    callback = check_url(body.callback_url, "callback_url") if body.callback_url else None
    return RunRequest(body.pipeline, dict(body.params), key=body.key, origin=API,
                      labels=dict(body.metadata), callback_url=callback)


@router.post("", status_code=201, response_model=Created, dependencies=[OPERATE],
             responses={200: {"model": Created, "description": "the key's existing run"}})
def submit(body: RunIn, request: Request, response: Response) -> Created:
    submitted = served_of(request).submit(request_of(body))
    if not submitted.created:
        response.status_code = 200
    return Created(id=submitted.run.id, status=submitted.run.status,
                   callback_url=hide_url(body.callback_url) if body.callback_url else None)


@router.get("", response_model=RunPage, dependencies=[READ])
def runs(request: Request, pipeline: str | None = None, status: RunStatus | None = None,
         metadata: Annotated[list[str], Query(description="NAME:VALUE")] = [],  # noqa: B006
         since: Time | None = None, limit: Annotated[int, Query(ge=1, le=500)] = 50,
         cursor: str | None = None) -> Response:
    wanted = RunFilter(pipeline, status, _labels(request, metadata), since, limit, cursor)
    page = served_of(request).runs(wanted)
    return answer(RunPage(runs=[RunOut.of(r) for r in page.runs], next=page.next))


def _labels(request: Request, metadata: list[str]) -> dict[str, str]:
    labels = {k[len(LABEL):]: v for k, v in request.query_params.items()
              if k.startswith(LABEL) and len(k) > len(LABEL)}
    for pair in metadata:
        name, sep, value = pair.partition(":")
        if not sep or not name:
            raise UsageError("metadata: expected NAME:VALUE (the value is not shown)")
        labels[name] = value
    return labels


@router.get("/{run_id}", response_model=RunDetailOut, dependencies=[READ])
def run(run_id: str, request: Request) -> RunDetailOut:
    detail = served_of(request).detail(run_id)
    return RunDetailOut.of_run(detail.run, detail.member_runs, detail.attempts)


@router.get("/{run_id}/members", response_model=list[MemberRunOut], dependencies=[READ])
def members(
    run_id: str, request: Request, offset: Annotated[int, Query(ge=0, le=MAX_MEMBERS)] = 0,
    limit: Annotated[int | None, Query(ge=1, le=MAX_MEMBERS)] = None,
) -> list[MemberRunOut]:
    """The run's member runs in plan order; ``offset`` and ``limit`` page them."""
    page, attempts = served_of(request).members(run_id, offset, limit)
    return MemberRunOut.listed(page, attempts)


@router.get("/{run_id}/members/{member}", response_model=MemberDetailOut,
            dependencies=[READ])
def member(run_id: str, member: str, request: Request) -> MemberDetailOut:
    found = served_of(request).member(run_id, member)
    return MemberDetailOut(member=MemberRunOut.of(found.member_run, found.attempts),
                           attempts=[AttemptOut.of(a) for a in found.attempts])


@router.post("/{run_id}/cancel", response_model=RunOut, dependencies=[OPERATE])
def cancel(run_id: str, request: Request) -> RunOut:
    return RunOut.of(served_of(request).cancel(run_id))


@router.post("/{run_id}/retry", status_code=201, response_model=Created,
             dependencies=[OPERATE])
def retry(run_id: str, request: Request, body: RetryIn | None = None) -> Created:
    how = body or RetryIn()
    submitted = served_of(request).retry(run_id, Retry(how.only_failed, how.start))
    return Created(id=submitted.run.id, status=submitted.run.status)
