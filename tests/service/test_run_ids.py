"""Run ids stay unique in a burst: a sensor's first tick over 10,000 tags queued runs
so fast that ids of one second with 6 random hex digits collided (UNIQUE runs.id)."""

from __future__ import annotations

from orecart.service.core import _new_run_id


def test_fifty_thousand_ids_drawn_at_once_are_all_distinct() -> None:
    ids = [_new_run_id() for _ in range(50_000)]
    assert len(set(ids)) == len(ids)
