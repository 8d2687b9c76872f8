"""``GET /runs/{id}/events``: a run's event log as server-sent events, from the start or
after ``Last-Event-ID`` (an event's id is its ``RunEvent.id``), ending when the run ends.

The stream reads the persisted log (what a reconnecting client resumes from) in
``orecart.web.streaming``'s poll loop: every ``POLL_S``, a comment line every
``KEEPALIVE_S`` keeping idle proxies from closing it.
"""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from orecart.model import RunEvent
from orecart.service.served import Served
from orecart.web import streaming
from orecart.web.auth import READ, served_of
from orecart.web.schemas import EventOut
from orecart.web.streaming import END, Polled

router = APIRouter(prefix="/runs", tags=["runs"])
BATCH = 500  # events read at a time: a 10,000-member run's log arrives in pieces
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
    stream = streaming.follow(EventPoller(served, run.id, cursor), lambda: served.stopping)
    return StreamingResponse(stream, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _cursor(last_event_id: str | None) -> int:
    try:
        return min(MAX_ID, max(0, int(last_event_id or 0)))
    except ValueError:
        return 0  # not one of ours: from the start


class EventPoller:
    """The run's events after ``cursor``, a batch per poll; the end once the run ended."""

    def __init__(self, served: Served, run_id: str, cursor: int) -> None:
        self.served, self.run_id, self.cursor = served, run_id, cursor

    def poll(self) -> Polled:
        ended = self.served.run(self.run_id).status.terminal  # before the events: none lost
        found = self.served.events(self.run_id, after=self.cursor, limit=BATCH)
        self.cursor = found[-1].id if found else self.cursor
        end = f"id: {self.cursor}\nevent: {END}\ndata: {{}}\n\n" if ended else None
        return Polled(tuple(_frame(event) for event in found), bool(found), end)


def _frame(event: RunEvent) -> str:
    data = json.dumps(EventOut.of(event).model_dump(mode="json"), separators=(",", ":"))
    return f"id: {event.id}\nevent: {event.kind}\ndata: {data}\n\n"
