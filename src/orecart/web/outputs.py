"""What a run left: a member run's log (whole, or followed as server-sent events until the
member ends), its artifacts (listed, downloaded by name), and the run's graph diff.

A log is served as the file ``orecart logs`` reads (secrets are redacted on disk already).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse, PlainTextResponse, StreamingResponse

from orecart.errors import NotFoundError
from orecart.service.served import Served
from orecart.web import streaming
from orecart.web.auth import READ, served_of
from orecart.web.streaming import END, Polled
from orecart.web.views import ArtifactOut, ComparedOut, DiffOut

router = APIRouter(prefix="/runs", tags=["runs"], dependencies=[READ])
CHUNK = 64 * 1024  # bytes read at a time from a followed log

#: one frame of a followed log: ``event: log`` with one line (JSON string), then ``end``
LOG_EVENT = {"type": "object", "required": ["data"], "properties": {
    "event": {"type": "string"}, "data": {"type": "string", "contentMediaType":
                                          "application/json"}}}


@router.get("/{run_id}/members/{member}/logs", response_class=Response, responses={
    200: {"content": {"text/plain": {"schema": {"type": "string"}},
                      "text/event-stream": {"schema": LOG_EVENT}},
          "description": "the member run's log (its last `tail` bytes when given); with "
          "`follow=true` its lines as server-sent events (`data`: the line as a JSON "
          "string) until the member ends, then `end`"}})
def logs(run_id: str, member: str, request: Request,
         follow: Annotated[bool, Query()] = False,
         tail: Annotated[int | None, Query(ge=1, le=1 << 30)] = None) -> Response:
    served = served_of(request)
    log = served.log_file(run_id, member)  # 404 before a stream starts
    if follow:
        stream = streaming.follow(LogPoller(served, log.run_id, member), lambda: served.stopping)
        return StreamingResponse(stream,
                                 media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache",
                                          "X-Accel-Buffering": "no"})
    if log.path is None or not log.path.is_file():
        raise NotFoundError(f"run {log.run_id} has no log for member {member!r} yet")
    return PlainTextResponse(_tail(log.path, tail).decode("utf-8", "replace"))


def _tail(path: Path, size: int | None) -> bytes:
    """The whole log, or its last ``size`` bytes (``?tail=``: what a page shows)."""
    with path.open("rb") as log:
        if size is not None:
            log.seek(max(0, log.seek(0, 2) - size))
        return log.read()


class LogPoller:
    """The member's log lines written since the last poll; the end (with a last line
    not ended by a newline) once the member ended."""

    def __init__(self, served: Served, run_id: str, member: str) -> None:
        self.served, self.run_id, self.member = served, run_id, member
        self.offset, self.rest = 0, b""

    def poll(self) -> Polled:
        log = self.served.log_file(self.run_id, self.member)  # status before bytes
        chunk = _read(log.path, self.offset)
        self.offset += len(chunk)
        lines = (self.rest + chunk).split(b"\n")
        self.rest = lines.pop()
        end = None
        if log.ended:
            end = (_line(self.rest) if self.rest else "") + f"event: {END}\ndata: {{}}\n\n"
        return Polled(tuple(_line(line) for line in lines), bool(chunk), end)


def _read(path: Path | None, offset: int) -> bytes:
    if path is None:
        return b""
    try:
        with path.open("rb") as log:
            log.seek(offset)
            return log.read(CHUNK)
    except FileNotFoundError:
        return b""


def _line(line: bytes) -> str:
    return f"event: log\ndata: {json.dumps(line.decode('utf-8', 'replace'))}\n\n"


@router.get("/{run_id}/members/{member}/artifacts", response_model=list[ArtifactOut])
def artifacts(run_id: str, member: str, request: Request) -> list[ArtifactOut]:
    return [ArtifactOut.of(a) for a in served_of(request).artifacts(run_id, member)]


@router.get("/{run_id}/members/{member}/artifacts/{name:path}", response_class=FileResponse,
            responses={200: {"content": {"application/octet-stream": {
                "schema": {"type": "string", "format": "binary"}}},
                "description": "the artifact's bytes"}})
def artifact(run_id: str, member: str, name: str, request: Request) -> FileResponse:
    path = served_of(request).artifact(run_id, member, name)
    return FileResponse(path, media_type="application/octet-stream", filename=path.name)


@router.get("/{run_id}/diff", response_model=DiffOut | ComparedOut)
def diff(run_id: str, request: Request,
         against: Annotated[str | None, Query(min_length=1)] = None) -> dict[str, Any]:
    """What each member changed in the graph; with ``against``, how that run differs
    (409 when a run recorded no graph changes: no graph, or no snapshots)."""
    return served_of(request).diff(run_id, against)
