"""``GET /runs/{id}/events``: a run's event log as server-sent events, from the start or
after ``Last-Event-ID`` (an event's id is its ``RunEvent.id``), ending when the run ends.

The stream reads the persisted log (what a reconnecting client resumes from), every
``POLL_S``; a comment line every ``KEEPALIVE_S`` keeps idle proxies from closing it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from orecart.model import RunEvent
from orecart.service.served import Served
from orecart.web.auth import READ, served_of
from orecart.web.schemas import EventOut

router = APIRouter(prefix="/runs", tags=["runs"])
POLL_S = 0.05
KEEPALIVE_S = 10.0
BATCH = 500  # events read at a time: a 10,000-member run's log arrives in pieces
END = "end"  # the last event a stream sends: the run has ended
#: the highest event id a store holds (a 64-bit integer): a larger cursor is refused (422,
#: or from ``Last-Event-ID`` read as "after the last event") before the stream starts
MAX_ID = 2**63 - 1


#: one event of the stream (OpenAPI 3.1 has no itemSchema: ``schema`` is per event)
EVENT_SCHEMA = {"type": "object", "required": ["data"], "properties": {
    "id": {"type": "string"}, "event": {"type": "string"},
    "data": {"type": "string", "contentMediaType": "application/json"}}}


@router.get("/{run_id}/events", dependencies=[READ], response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {"schema": EVENT_SCHEMA}},
                             "description": "the run's events (`data`: an event as JSON), "
                             "then `end`"}})
def events(run_id: str, request: Request,
           last_event_id: Annotated[str | None, Header()] = None,
           after: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None) -> StreamingResponse:
    served = served_of(request)
    run = served.run(run_id)  # 404 before the stream starts
    cursor = after if after is not None else _cursor(last_event_id)
    return StreamingResponse(_stream(served, run.id, cursor), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _cursor(last_event_id: str | None) -> int:
    try:
        return min(MAX_ID, max(0, int(last_event_id or 0)))
    except ValueError:
        return 0  # not one of ours: from the start


def _stream(served: Served, run_id: str, cursor: int) -> Iterator[str]:
    quiet_since = time.monotonic()
    while not served.stopping:
        ended = served.run(run_id).status.terminal  # read before the events: none is lost
        found = served.events(run_id, after=cursor, limit=BATCH)
        for event in found:
            yield _frame(event)
        cursor = found[-1].id if found else cursor
        if found:
            quiet_since = time.monotonic()
            continue
        if ended:
            yield f"id: {cursor}\nevent: {END}\ndata: {{}}\n\n"
            return
        if time.monotonic() - quiet_since >= KEEPALIVE_S:
            quiet_since = time.monotonic()
            yield ": keepalive\n\n"
        time.sleep(POLL_S)


def _frame(event: RunEvent) -> str:
    data = json.dumps(EventOut.of(event).model_dump(mode="json"), separators=(",", ":"))
    return f"id: {event.id}\nevent: {event.kind}\ndata: {data}\n\n"
