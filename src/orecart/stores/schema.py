"""The state store's tables and how their rows map to the frozen model dataclasses.

One SQLAlchemy Core schema serves SQLite and PostgreSQL. Datetimes go in and come out as
timezone-aware UTC on both (SQLite keeps no zone, so ``UtcDateTime`` restores it).
The ``ledger`` table holds, per pipeline and member, the latest successful member run, so
that deciding what to skip is one indexed query however long the history grows. Every change
to these tables comes with an Alembic revision in ``migrations/`` (``orecart.stores.migrate``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect, RowMapping

from orecart.model import (
    Attempt,
    CheckResult,
    MemberRun,
    MemberStatus,
    Notification,
    ReasonCode,
    Run,
    RunEvent,
    RunStatus,
    SendStatus,
    ServiceEntry,
)


class UtcDateTime(sa.TypeDecorator[datetime]):
    """A datetime stored in UTC and always returned timezone-aware.

    A naive datetime handed in is taken to be UTC already: orecart never makes local ones.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        # SQLite stores text; dropping the zone keeps values comparable as plain strings
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _json() -> sa.JSON:
    return sa.JSON(none_as_null=True)


def _fk_run() -> sa.ForeignKey:
    return sa.ForeignKey("runs.id", ondelete="CASCADE")


def holding() -> list[sa.Column[Any]]:
    """Who holds a lock or lease row and until when (``orecart.stores.locks``): the holder
    id of the store that took it, its last heartbeat, and when it expires without one.
    NULL in rows an orecart without heartbeats took."""
    return [
        sa.Column("holder", sa.String(255)),
        sa.Column("heartbeat_at", UtcDateTime),
        sa.Column("expires_at", UtcDateTime),
    ]


metadata = sa.MetaData()

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("pipeline", sa.String(200), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("source", sa.Text, nullable=False, default=""),
    sa.Column("params", _json(), nullable=False),
    sa.Column("profile", sa.String(200)),
    sa.Column("started_at", UtcDateTime),
    sa.Column("finished_at", UtcDateTime),
    sa.Column("host", sa.String(255), nullable=False, default=""),
    sa.Column("pid", sa.Integer, nullable=False, default=0),
    sa.Column("version", sa.String(64), nullable=False, default=""),
    sa.Column("backups", _json(), nullable=False),
    sa.Column("error", sa.Text),
    # the queue's columns (migration 0004)
    sa.Column("key", sa.String(200)),
    sa.Column("origin", sa.String(32), nullable=False, server_default=""),
    sa.Column("labels", _json()),
    sa.Column("queued_at", UtcDateTime),
    sa.Column("cancel_requested_at", UtcDateTime),
    sa.Column("checks", _json()),  # the pipeline's checks as they went (0010)
    sa.Index("ix_runs_pipeline_started", "pipeline", "started_at"),
    sa.Index("ix_runs_host_status", "host", "status"),
    sa.Index("ix_runs_pipeline_key", "pipeline", "key"),
    sa.Index("ix_runs_queued", "queued_at", "id"),  # the API pages runs by it (0008)
    sa.Index("ix_runs_status", "status"),  # the running runs of every host (0011)
)

member_runs = sa.Table(
    "member_runs",
    metadata,
    sa.Column("run_id", sa.String(64), _fk_run(), primary_key=True),
    sa.Column("member", sa.String(200), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("exit_code", sa.Integer),
    sa.Column("error", sa.Text),
    sa.Column("reason", sa.Text),
    sa.Column("reason_code", sa.String(32)),  # the planner's ReasonCode (NULL: older runs)
    sa.Column("fingerprint", sa.String(128)),
    sa.Column("image", sa.Text),
    sa.Column("digest", sa.String(200)),
    sa.Column("log_path", sa.Text),
    sa.Column("artifacts", sa.Text),
    sa.Column("started_at", UtcDateTime),
    sa.Column("finished_at", UtcDateTime),
    sa.Column("delta", _json()),
    sa.Column("position", sa.Integer, nullable=False, default=0),
    # its latest wait for a pool or a place in max_parallel, and its post-checks (0010)
    sa.Column("waited_at", UtcDateTime),
    sa.Column("waited_for", sa.String(200)),
    sa.Column("checks", _json()),
)

attempts = sa.Table(
    "attempts",
    metadata,
    sa.Column("run_id", sa.String(64), _fk_run(), primary_key=True),
    sa.Column("member", sa.String(200), primary_key=True),
    sa.Column("number", sa.Integer, primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("exit_code", sa.Integer),
    sa.Column("error", sa.Text),
    sa.Column("started_at", UtcDateTime),
    sa.Column("finished_at", UtcDateTime),
    sa.Column("waited_at", UtcDateTime),  # the wait before it (0010)
    sa.Column("waited_for", sa.String(200)),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(64), _fk_run(), nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("data", _json(), nullable=False),
    sa.Index("ix_events_run", "run_id", "id"),
)

ledger = sa.Table(
    "ledger",
    metadata,
    sa.Column("pipeline", sa.String(200), primary_key=True),
    sa.Column("member", sa.String(200), primary_key=True),
    sa.Column("run_id", sa.String(64), _fk_run(), nullable=False),
    sa.Column("fingerprint", sa.String(128)),
    sa.Column("digest", sa.String(200)),
    sa.Column("started_at", UtcDateTime),
    sa.Column("finished_at", UtcDateTime),
    sa.Index("ix_ledger_run", "run_id"),
)

locks = sa.Table(
    "locks",
    metadata,
    sa.Column("pipeline", sa.String(200), primary_key=True),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("acquired_at", UtcDateTime, nullable=False),
    *holding(),
)

leases = sa.Table(
    "leases",
    metadata,
    sa.Column("pool", sa.String(200), primary_key=True),
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("member", sa.String(200), primary_key=True),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("acquired_at", UtcDateTime, nullable=False),
    sa.Column("pool_limit", sa.Integer),  # the limit its holder declared (NULL: older orecart)
    *holding(),
    sa.Index("ix_leases_run", "run_id"),
)

# -- notifications (added with `notify:`, by migration 0003) -------------------------------

notifications = sa.Table(
    "notifications",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(64), _fk_run(), nullable=False),
    sa.Column("url", sa.Text, nullable=False),  # without its password
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("sent_at", UtcDateTime),
    sa.Index("ix_notifications_run", "run_id", "id"),
)


def notification_values(notification: Notification) -> dict[str, Any]:
    """The ``notifications`` row for ``notification``."""
    return {
        "run_id": notification.run_id,
        "url": notification.url,
        "outcome": str(notification.outcome),
        "attempts": notification.attempts,
        "error": notification.error,
        "sent_at": notification.sent_at,
    }


def notification_from(row: RowMapping) -> Notification:
    return Notification(
        run_id=row["run_id"],
        url=row["url"],
        outcome=SendStatus(row["outcome"]),
        attempts=row["attempts"],
        error=row["error"],
        sent_at=row["sent_at"],
    )


# -- end of notifications -------------------------------------------------------------

# -- the queue and the services (migration 0004) ------------------------------------------

requests = sa.Table(
    "requests",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),  # FIFO order
    sa.Column("run_id", sa.String(64), _fk_run(), nullable=False, unique=True),
    sa.Column("payload", _json(), nullable=False),  # what to run: the service's, opaque here
)

services = sa.Table(
    "services",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),  # the holder id of its store
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("address", sa.Text),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("started_at", UtcDateTime, nullable=False),
    sa.Column("heartbeat_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
)


# -- leadership among services (added for several serves on one store, by migration 0011)

leaders = sa.Table(
    "leaders",
    metadata,
    sa.Column("kind", sa.String(64), primary_key=True),  # "recovery", "pipeline:<name>"
    sa.Column("service", sa.String(64), nullable=False),  # the leading service's id
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("acquired_at", UtcDateTime, nullable=False),
    *holding(),
)


def service_values(entry: ServiceEntry) -> dict[str, Any]:
    """The ``services`` row for ``entry``, but for ``expires_at`` (the store's term sets it)."""
    return {
        "id": entry.id,
        "host": entry.host,
        "pid": entry.pid,
        "address": entry.address,
        "version": entry.version,
        "started_at": entry.started_at,
        "heartbeat_at": entry.heartbeat_at,
    }


def service_from(row: RowMapping) -> ServiceEntry:
    return ServiceEntry(
        id=row["id"],
        host=row["host"],
        pid=row["pid"],
        address=row["address"],
        version=row["version"],
        started_at=row["started_at"],
        heartbeat_at=row["heartbeat_at"],
    )


def event_from(row: RowMapping) -> RunEvent:
    return RunEvent(
        id=row["id"], run_id=row["run_id"], at=row["at"], kind=row["kind"],
        data=dict(row["data"] or {}),
    )



def run_values(run: Run) -> dict[str, Any]:
    """The ``runs`` row for ``run``."""
    return {
        "id": run.id,
        "pipeline": run.pipeline,
        "status": str(run.status),
        "source": run.source,
        "params": dict(run.params),
        "profile": run.profile,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "host": run.host,
        "pid": run.pid,
        "version": run.version,
        "backups": list(run.backups),
        "error": run.error,
        "key": run.key,
        "origin": run.origin,
        "labels": dict(run.labels) or None,
        "queued_at": run.queued_at,
        "cancel_requested_at": run.cancel_requested_at,
        "checks": checks_values(run.checks),
    }


def run_from(row: RowMapping) -> Run:
    """The run of a row; the queue's columns an older database lacks (opened read-only,
    never upgraded: see ``SqlStore._readable``) read as their defaults."""
    return Run(
        id=row["id"],
        pipeline=row["pipeline"],
        status=RunStatus(row["status"]),
        source=row["source"],
        params=dict(row["params"] or {}),
        profile=row["profile"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        host=row["host"],
        pid=row["pid"],
        version=row["version"],
        backups=tuple(row["backups"] or ()),
        error=row["error"],
        key=row.get("key"),
        origin=row.get("origin") or "",
        labels=dict(row.get("labels") or {}),
        queued_at=row.get("queued_at"),
        cancel_requested_at=row.get("cancel_requested_at"),
        checks=checks_from(row.get("checks")),
    )


_MEMBER_RUN_FIELDS = (
    "run_id attempts exit_code error reason reason_code fingerprint image digest log_path"
    " artifacts"
    " started_at finished_at position waited_at waited_for"
).split()


def member_run_values(member_run: MemberRun) -> dict[str, Any]:
    """The ``member_runs`` row for ``member_run``."""
    values = {name: getattr(member_run, name) for name in _MEMBER_RUN_FIELDS}
    values["member"] = member_run.member
    values["status"] = str(member_run.status)
    code = member_run.reason_code
    values["reason_code"] = str(code) if code is not None else None
    values["delta"] = dict(member_run.delta) if member_run.delta is not None else None
    values["checks"] = checks_values(member_run.checks)
    return values


def member_run_from(row: RowMapping) -> MemberRun:
    """The member run of a row; a column an older database lacks (opened read-only, never
    upgraded: see ``SqlStore._readable``) reads as None."""
    values: dict[str, Any] = {name: row.get(name) for name in _MEMBER_RUN_FIELDS}
    values["reason_code"] = _reason_code(values["reason_code"])
    delta = row["delta"]
    return MemberRun(
        member=row["member"], status=MemberStatus(row["status"]), delta=delta,
        checks=checks_from(row.get("checks")), **values
    )


def checks_values(checks: tuple[CheckResult, ...]) -> list[dict[str, Any]] | None:
    """How checks are kept in a JSON column (None: none ran)."""
    return [{"name": c.name, "passed": c.passed, "message": c.message, "member": c.member}
            for c in checks] or None


def checks_from(found: list[dict[str, Any]] | None) -> tuple[CheckResult, ...]:
    return tuple(CheckResult(c["name"], bool(c["passed"]), c.get("message") or "",
                             c.get("member")) for c in found or ())


def _reason_code(text: str | None) -> ReasonCode | None:
    """The stored code; one this orecart does not know (a newer one wrote it) reads as None."""
    try:
        return ReasonCode(text) if text is not None else None
    except ValueError:
        return None


def attempt_values(attempt: Attempt) -> dict[str, Any]:
    """The ``attempts`` row for ``attempt``."""
    return {
        "run_id": attempt.run_id,
        "member": attempt.member,
        "number": attempt.number,
        "status": str(attempt.status),
        "exit_code": attempt.exit_code,
        "error": attempt.error,
        "started_at": attempt.started_at,
        "finished_at": attempt.finished_at,
        "waited_at": attempt.waited_at,
        "waited_for": attempt.waited_for,
    }


def attempt_from(row: RowMapping) -> Attempt:
    return Attempt(
        run_id=row["run_id"],
        member=row["member"],
        number=row["number"],
        status=MemberStatus(row["status"]),
        exit_code=row["exit_code"],
        error=row["error"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        waited_at=row.get("waited_at"),
        waited_for=row.get("waited_for"),
    )


# -- sensors and the versions they saw (migration 0005; orecart.stores.sensing) -----------

sensors = sa.Table(
    "sensors",
    metadata,
    sa.Column("pipeline", sa.String(200), primary_key=True),
    sa.Column("sensor", sa.String(200), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("cursor", _json(), nullable=False),  # the watcher's, opaque here
    sa.Column("ticked_at", UtcDateTime),  # the last tick that answered
    sa.Column("error", sa.Text),  # the last tick's error; NULL when it answered
    sa.Column("error_at", UtcDateTime),
)

source_versions = sa.Table(
    "source_versions",
    metadata,
    sa.Column("pipeline", sa.String(200), primary_key=True),
    sa.Column("sensor", sa.String(200), primary_key=True),
    sa.Column("id", sa.String(400), primary_key=True),  # the run key's tail
    sa.Column("position", sa.Integer, nullable=False),  # source order within the sensor
    sa.Column("version", sa.String(200), nullable=False),
    sa.Column("ref", sa.Text, nullable=False),
    sa.Column("commit", sa.String(64), nullable=False),
    sa.Column("params", _json(), nullable=False),
    sa.Column("seen_at", UtcDateTime, nullable=False),
    sa.Column("run_id", sa.String(64)),  # its latest run (runs are looked up by key)
    sa.Column("runs", sa.Integer, nullable=False),  # runs asked for it, retries included
    sa.Column("skipped", sa.Boolean, nullable=False),
    sa.Index("ix_source_versions_position", "pipeline", "sensor", "position"),
)


# -- executions of stored queries (migration 0006; orecart.stores.queries) ----------------

query_runs = sa.Table(
    "query_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("pipeline", sa.String(200), nullable=False),
    sa.Column("query", sa.String(200), nullable=False),
    sa.Column("started_at", UtcDateTime, nullable=False),
    sa.Column("duration", sa.Float, nullable=False),  # seconds
    sa.Column("rows", sa.Integer),  # NULL when it failed
    sa.Column("error", sa.Text),  # the server's message, secrets masked
    sa.Column("origin", sa.String(32), nullable=False),  # cli, trigger
    sa.Column("params", _json(), nullable=False),  # JSON values, secret ones masked
    sa.Index("ix_query_runs_query", "pipeline", "query", "started_at"),
)


# -- graph triggers: cursors and firings (migration 0007; orecart.stores.triggers) --------

trigger_cursors = sa.Table(
    "trigger_cursors",
    metadata,
    sa.Column("pipeline", sa.String(200), primary_key=True),
    sa.Column("trigger", sa.String(200), primary_key=True),
    sa.Column("position", sa.BigInteger, nullable=False),  # highest internal id looked at
    sa.Column("polled_at", UtcDateTime),  # the last poll that answered
    sa.Column("error", sa.Text),  # the last poll's error; NULL when it answered
    sa.Column("error_at", UtcDateTime),
)

trigger_firings = sa.Table(
    "trigger_firings",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("pipeline", sa.String(200), nullable=False),
    sa.Column("trigger", sa.String(200), nullable=False),
    sa.Column("element", sa.BigInteger),  # internal id; NULL once a restore forgot it
    sa.Column("element_id", sa.String(200), nullable=False),  # elementId
    sa.Column("params", _json(), nullable=False),  # JSON values, secret ones masked
    sa.Column("params_key", sa.String(64), nullable=False),  # triggering.params_key
    sa.Column("status", sa.String(16), nullable=False),  # kept while forgotten
    sa.Column("forgotten", sa.Boolean, nullable=False),  # a restore took its element away
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("run_id", sa.String(64)),  # a run action's run
    sa.Column("origin", sa.String(32), nullable=False),  # run, serve, tick
    sa.Column("depth", sa.Integer, nullable=False),
    sa.Column("owner", sa.String(200)),  # the process carrying out the latest attempt
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("started_at", UtcDateTime),
    sa.Column("ended_at", UtcDateTime),
    sa.Column("next_at", UtcDateTime),  # when a waiting firing is tried again
    # NULL elements (forgotten firings) never conflict, on SQLite as on PostgreSQL
    sa.Index("ux_trigger_firings_element", "pipeline", "trigger", "element", unique=True),
    sa.Index("ix_trigger_firings_due", "pipeline", "status", "next_at"),
    sa.Index("ix_trigger_firings_params", "pipeline", "trigger", "params_key"),
)


# -- the REST API (migration 0008; orecart.stores.tokens, orecart.stores.listing) ---------

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("digest", sa.String(64), nullable=False, unique=True),  # sha256 hex of the token
    sa.Column("scope", sa.String(16), nullable=False),  # read, operate, admin
    sa.Column("created_at", UtcDateTime, nullable=False),
)

#: a run's labels as rows (``runs.labels`` stays the record), so label filters are SQL
run_labels = sa.Table(
    "run_labels",
    metadata,
    sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Index("ix_run_labels_name_value", "name", "value"),
)


# -- callback deliveries (migration 0009; orecart.stores.callbacks) ----------------------

callback_deliveries = sa.Table(
    "callback_deliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),  # order per run
    sa.Column("run_id", sa.String(64), _fk_run(), nullable=False),
    sa.Column("url", sa.Text, nullable=False),  # as given (it may carry a token): to deliver
    sa.Column("event", sa.String(16), nullable=False),  # the run status it tells of
    sa.Column("body", sa.Text, nullable=False),  # the JSON posted, as signed
    sa.Column("status", sa.String(16), nullable=False),  # pending, delivered, failed
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("last_status", sa.Integer),  # the HTTP status code of the last attempt
    sa.Column("last_error", sa.Text),
    sa.Column("next_at", UtcDateTime),  # when a pending one is due
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("delivered_at", UtcDateTime),
    sa.UniqueConstraint("run_id", "event", name="uq_callback_deliveries_event"),
    sa.Index("ix_callback_deliveries_due", "status", "next_at"),
)
