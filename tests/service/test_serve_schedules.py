"""Schedules and ``max_age`` for real: a ``serve`` on the system clock submits tick runs,
runs missed ticks once after a restart, and reruns a member whose success got too old."""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from orecart.model import Run
from orecart.service.schedules import tick_of
from tests.service.conftest import Served, lines, wait_until

EVERY = """
pipeline: ticking
schedule: {{every: {every}}}
members:
  - name: work
    rerun: always
    shell: 'echo "$ORECART_RUN_ID" >> {count}'
"""


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def scheduled(served: Served) -> list[Run]:
    return [r for r in served.runs() if r.origin == "schedule"]


def test_an_every_schedule_gets_one_run_per_tick_keyed_by_its_tick(served: Served) -> None:
    count = served.folder / "count"
    served.write(EVERY.format(every="1s", count=count))
    served.serve("pipeline.yaml")
    runs = wait_until(lambda: [r for r in scheduled(served) if r.status == "succeeded"][2:]
                      and scheduled(served), "three scheduled runs")
    ticks = [tick_of(r.key or "") for r in runs]
    assert all(r.key and r.key.startswith("schedule:") for r in runs)
    assert len(set(ticks)) == len(ticks)  # a tick never runs twice
    assert all(t is not None and t.microsecond == 0 for t in ticks)
    assert set(lines(count)) >= {r.id for r in runs if r.status == "succeeded"}


def test_ticks_missed_while_serve_was_down_run_once_at_start(served: Served) -> None:
    count = served.folder / "count"
    served.write(EVERY.format(every="1s", count=count))
    first = served.serve("pipeline.yaml")
    wait_until(lambda: [r for r in scheduled(served) if r.status == "succeeded"],
               "a scheduled run")
    first.signal(signal.SIGTERM)
    assert first.wait() == 0
    before = {r.id for r in served.runs()}
    last = max(tick_of(r.key or "") or EPOCH for r in scheduled(served))
    time.sleep(3.5)  # real time must pass: at least three ticks (every 1s) are missed
    served.serve("pipeline.yaml")
    wait_until(lambda: [r for r in scheduled(served) if r.id not in before
                        and r.status == "succeeded"], "the catch-up run")
    ticks = sorted(tick_of(r.key or "") or EPOCH for r in scheduled(served)
                   if r.id not in before)
    # one run for all the missed ticks (the latest), not one per tick; then tick by tick
    assert ticks[0] - last >= timedelta(seconds=3), (last, ticks)
    assert all(b - a == timedelta(seconds=1) for a, b in pairwise(ticks)), ticks

MAX_AGE = """
pipeline: aging
members:
  - name: work
    max_age: 2s
    shell: 'echo "$ORECART_RUN_ID" >> {count}'
  - name: fresh
    shell: 'echo "$ORECART_RUN_ID" >> {fresh}'
"""


def test_max_age_reruns_a_member_once_its_last_success_is_older(served: Served) -> None:
    count, fresh = served.folder / "count", served.folder / "fresh"
    served.write(MAX_AGE.format(count=count, fresh=fresh))
    served.serve("pipeline.yaml")
    first = served.enqueue()
    served.wait_status(first, "succeeded")
    aged = wait_until(lambda: [r for r in served.runs() if r.origin == "max_age"],
                      "a max_age run", timeout=20)
    assert aged[0].key == f"max-age:work:{first}"
    _, members = served.wait_status(aged[0].id, "succeeded")
    reasons = {m.member: m.reason_code for m in members}
    assert reasons == {"work": "stale", "fresh": "done"}, reasons
    assert lines(count)[:2] == [first, aged[0].id]
    assert lines(fresh) == [first]  # only the stale member ran again
