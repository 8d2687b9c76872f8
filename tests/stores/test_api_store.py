"""The REST API's part of the state store, on SQLite and PostgreSQL: pages of runs (label
filters in SQL, the cursor, since), run counts (by status and pipeline, callback deliveries
and trigger firings too), and tokens kept as digests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from orecart.access import ApiToken, Scope, digest, new_token
from orecart.errors import NotFoundError, UsageError
from orecart.model import Run, RunStatus
from orecart.stores.listing import RunFilter
from orecart.stores.sql import SqlStore
from orecart.triggering import Firing

BASE = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def queue(store: SqlStore, n: int, **labels: str) -> Run:
    run = Run(f"run-{n:03d}", "p", RunStatus.QUEUED, labels=labels,
              queued_at=BASE + timedelta(seconds=n))
    return store.enqueue(run, {})[0]


def test_pages_follow_the_cursor_newest_first_without_gaps(store: SqlStore) -> None:
    for n in range(7):
        queue(store, n)
    seen, cursor = [], None
    while True:
        page = store.list_runs(RunFilter(limit=3, cursor=cursor))
        seen += [r.id for r in page.runs]
        if page.next is None:
            break
        cursor = page.next
    assert seen == [f"run-{n:03d}" for n in reversed(range(7))]
    with pytest.raises(UsageError, match="cursor"):
        store.list_runs(RunFilter(cursor="not-a-cursor"))


def test_labels_status_and_since_filter_in_sql(store: SqlStore) -> None:
    queue(store, 1, dataset="a", user="x")
    queue(store, 2, dataset="a", user="y")
    queue(store, 3, dataset="b")
    store.save_run(Run("run-004", "q", RunStatus.SUCCEEDED, labels={"dataset": "a"},
                       queued_at=BASE + timedelta(seconds=4)))

    def ids(**wanted: object) -> list[str]:
        return [r.id for r in store.list_runs(RunFilter(**wanted)).runs]  # type: ignore[arg-type]

    assert ids(labels={"dataset": "a"}) == ["run-004", "run-002", "run-001"]
    assert ids(labels={"dataset": "a", "user": "y"}) == ["run-002"]
    assert ids(pipeline="p", status=RunStatus.QUEUED, labels={"dataset": "a"}) == [
        "run-002", "run-001"]
    assert ids(since=BASE + timedelta(seconds=3)) == ["run-004", "run-003"]
    counts = store.run_counts()
    assert counts.runs == {"queued": 3, "succeeded": 1}
    assert counts.runs_by_pipeline == {("p", "queued"): 3, ("q", "succeeded"): 1}


def test_counts_give_callback_deliveries_and_trigger_firings_by_status(
        store: SqlStore) -> None:
    store.enqueue(Run("run-cb", "p", RunStatus.QUEUED, queued_at=BASE),
                  {"callback_url": "http://127.0.0.1:9/hook"})
    store.claim_firings([Firing("p", "t", n, f"4:x:{n}", owner="me") for n in (1, 2)])
    counts = store.run_counts()
    assert counts.deliveries == {"pending": 1}, counts
    assert counts.firings == {"running": 2}


def test_the_labels_of_an_enqueued_run_are_rows_of_run_labels(
        store: SqlStore) -> None:
    from orecart.stores.schema import run_labels

    queue(store, 1, dataset="a")
    with store.engine.begin() as connection:
        rows = connection.execute(sa.select(run_labels.c.name, run_labels.c.value)).all()
    assert [tuple(r) for r in rows] == [("dataset", "a")]


def test_tokens_are_kept_as_digests_and_revoked_by_name(store: SqlStore) -> None:
    token = new_token()
    store.add_token(ApiToken("ci", Scope.OPERATE, BASE), digest(token))
    assert store.token_for(digest(token)) == ApiToken("ci", Scope.OPERATE, BASE)
    assert store.token_for(digest(token + "x")) is None
    with pytest.raises(UsageError, match="exists already"):
        store.add_token(ApiToken("ci", Scope.READ, BASE), digest(new_token()))
    with store.engine.begin() as connection:
        kept = connection.execute(sa.text("SELECT * FROM api_tokens")).all()
    assert token not in repr(kept)
    store.revoke_token("ci")
    assert store.token_for(digest(token)) is None and store.tokens() == []
    with pytest.raises(NotFoundError):
        store.revoke_token("ci")


def test_scopes_are_ordered() -> None:
    assert Scope.ADMIN.allows(Scope.OPERATE) and Scope.OPERATE.allows(Scope.READ)
    assert not Scope.READ.allows(Scope.OPERATE) and not Scope.OPERATE.allows(Scope.ADMIN)
