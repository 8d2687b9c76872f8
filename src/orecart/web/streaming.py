"""The poll loop of the API's server-sent event streams (a run's events, a followed log).

A stream is an async generator: between polls it awaits ``asyncio.sleep``, and each poll
(store and file reads) runs briefly in Starlette's thread pool, so an idle stream holds
no worker thread (anyio has 40: a sync generator would hold one per open run page).

    follow(poller, stopping) -> poll -> its frames; after a quiet poll: the end frame when
    the poller has ended, else a keepalive comment every KEEPALIVE_S, then sleep POLL_S
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Protocol

from starlette.concurrency import run_in_threadpool

POLL_S = 0.05
KEEPALIVE_S = 10.0
END = "end"  # the last event a stream sends: what it follows has ended
KEEPALIVE = ": keepalive\n\n"


@dataclass(frozen=True)
class Polled:
    """What one poll found: frames to send; whether it moved on (more may follow at
    once); the end frame once what is followed has ended and nothing more is to come."""

    frames: tuple[str, ...] = ()
    moved: bool = False
    end: str | None = None


class Poller(Protocol):
    """One stream's reader: it keeps its own cursor; ``poll`` reads (blocking) once."""

    def poll(self) -> Polled: ...


async def follow(poller: Poller, stopping: Callable[[], bool]) -> AsyncIterator[str]:
    """The frames of ``poller`` until it ends or ``stopping()``."""
    quiet_since = time.monotonic()
    while not stopping():
        found = await run_in_threadpool(poller.poll)
        for frame in found.frames:
            yield frame
        if found.moved:
            quiet_since = time.monotonic()
            continue
        if found.end is not None:
            yield found.end
            return
        if time.monotonic() - quiet_since >= KEEPALIVE_S:
            quiet_since = time.monotonic()
            yield KEEPALIVE
        await asyncio.sleep(POLL_S)
