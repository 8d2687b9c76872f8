"""``GET /runs/{id}/members/{member}/logs``: the tail of a member run's log as plain text
(already redacted when written). The UI polls it while the member runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import PlainTextResponse

from orecart.web.auth import READ, served_of

router = APIRouter(prefix="/runs", tags=["runs"])


# response_class Response (no media type): its errors stay documented as JSON
@router.get("/{run_id}/members/{member}/logs", response_class=Response,
            dependencies=[READ],
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                             "description": "the last `tail` bytes of the member's log"}})
def logs(run_id: str, member: str, request: Request,
         tail: Annotated[int, Query(ge=1, le=1 << 22)] = 1 << 16) -> PlainTextResponse:
    found = served_of(request).member(run_id, member).member_run
    return PlainTextResponse(_tail(Path(found.log_path), tail) if found.log_path else "")


def _tail(path: Path, size: int) -> str:
    try:
        with path.open("rb") as log:
            log.seek(max(0, log.seek(0, 2) - size))
            return log.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""  # not started yet: nothing written
