"""Callback deliveries on SQLite and PostgreSQL: every status change of a run whose
request has a callback URL adds one pending delivery (never two for one status), only the
first pending one of a run is due, one deliverer takes it, and each attempt is recorded."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from orecart.callbacks import Attempted, DeliveryStatus
from orecart.model import Run, RunStatus
from orecart.stores import Holder
from orecart.stores.sql import SqlStore

URL = "https://hook:tok@example.org/in?token=t1"


def queued(run_id: str) -> Run:
    return Run(id=run_id, pipeline="p", status=RunStatus.QUEUED, labels={"dataset": "d"})


def test_each_status_change_adds_one_delivery_and_only_the_first_is_due(
        store: SqlStore) -> None:
    store.enqueue(queued("r1"), {"callback_url": URL, "params": {"pw": "x"}})
    store.enqueue(queued("r2"), {"params": {}})  # no callback: no deliveries
    claimed = store.claim("r1", Holder("r1", 1, "h"))
    assert claimed is not None
    store.save_run(claimed)  # RunStarted records running again: still one delivery
    store.save_run(replace(claimed, status=RunStatus.FAILED,
                           finished_at=datetime.now(UTC)))
    found = store.deliveries("r1")
    assert [(d.event, d.status, d.attempts, d.url) for d in found] == [
        ("queued", DeliveryStatus.PENDING, 0, URL), ("running", DeliveryStatus.PENDING, 0, URL),
        ("failed", DeliveryStatus.PENDING, 0, URL)]
    body = json.loads(found[-1].body)
    assert body["event"] == "failed" and body["run"]["labels"] == {"dataset": "d"}
    assert "params" not in body["run"] and store.deliveries("r2") == []
    due = store.due_deliveries()
    assert [d.event for d in due] == ["queued"]
    assert store.take_delivery(due[0], 30) and not store.take_delivery(due[0], 30)
    assert store.due_deliveries() == []  # held: nothing else of r1 overtakes it
    again = datetime.now(UTC) - timedelta(seconds=1)
    store.delivery_attempted(due[0], Attempted(DeliveryStatus.PENDING, 500, "HTTP 500",
                                                  again))
    retried = store.due_deliveries()[0]
    assert (retried.event, retried.attempts, retried.last_status) == ("queued", 1, 500)
    assert store.take_delivery(retried, 30)
    assert store.delivery_attempted(retried, Attempted(DeliveryStatus.DELIVERED, 204, None,
                                                       None))
    assert [d.event for d in store.due_deliveries()] == ["running"]
    first = store.deliveries("r1")[0]
    assert (first.status, first.attempts, first.delivered_at is not None) == (
        DeliveryStatus.DELIVERED, 2, True)


def test_a_queued_run_cancelled_tells_its_callback(store: SqlStore) -> None:
    store.enqueue(queued("r3"), {"callback_url": URL})
    store.request_cancel("r3")
    assert [d.event for d in store.deliveries("r3")] == ["queued", "cancelled"]


def test_an_attempt_recorded_late_never_changes_a_delivery_attempted_since(
        store: SqlStore) -> None:
    store.enqueue(queued("r4"), {"callback_url": URL})
    taken = store.due_deliveries()[0]
    assert store.take_delivery(taken, 30)
    assert store.delivery_attempted(taken, Attempted(DeliveryStatus.DELIVERED, 200, None,
                                                     None))
    late = Attempted(DeliveryStatus.PENDING, None, "ReadTimeout", datetime.now(UTC))
    assert not store.delivery_attempted(taken, late)  # a slow post past its hold
    found = store.deliveries("r4")[0]
    assert (found.status, found.attempts, found.last_error) == (
        DeliveryStatus.DELIVERED, 1, None)


def test_pending_deliveries_tell_whether_any_waits_due_or_not(store: SqlStore) -> None:
    store.enqueue(queued("r5"), {"params": {}})
    assert not store.pending_deliveries()  # no callback: `orecart run` makes no HTTP client
    store.enqueue(queued("r6"), {"callback_url": URL})
    (delivery,) = store.deliveries("r6")
    assert store.take_delivery(delivery, 30) and store.due_deliveries() == []
    assert store.pending_deliveries()  # held (not due now), still to be posted
    store.delivery_attempted(delivery, Attempted(DeliveryStatus.DELIVERED, 204, None, None))
    assert not store.pending_deliveries()
