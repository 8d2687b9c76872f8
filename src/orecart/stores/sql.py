"""``SqlStore``: the run history and its event log, the queue, the ledger, lock, leases and
services registry in SQLite or PostgreSQL.

One SQLAlchemy Core implementation for both databases (the dialects differ only in
``orecart.stores.engine``). Writes are short single transactions: saving a member run sits
on the runner's hot path and touches a few rows by primary key, its event among them.
The rules live beside it, one concept each -- the queue (``queue``), the services
registry (``registry``), the ledger (``ledger``), locks and leases (``locks``), the
dialect's upserts (``upserts``) -- and this class gives them their transactions.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from orecart.access import ApiToken
from orecart.callbacks import Attempted, Delivery
from orecart.errors import NotFoundError, StateError, TakenOverError
from orecart.model import (
    Attempt,
    Leadership,
    MemberRun,
    MemberStatus,
    Notification,
    Run,
    RunEvent,
    RunStatus,
    ServiceEntry,
)
from orecart.querying import QueryExecution, QueryStats
from orecart.sensing import SensorState, SourceVersion
from orecart.stores import (
    Holder,
    listing,
    migrate,
    queries,
    registry,
    sensing,
    summary,
    tokens,
    triggers,
)
from orecart.stores import callbacks as calling
from orecart.stores import engine as engines
from orecart.stores import leaders as leading
from orecart.stores import ledger as ledgers
from orecart.stores import locks as locking
from orecart.stores import queue as queueing
from orecart.stores.heartbeat import Heartbeat
from orecart.stores.orphans import DIED, UNFINISHED, as_seen, orphaned, parts_as_seen
from orecart.stores.schema import (
    as_dicts,
    attempt_from,
    attempt_values,
    attempts,
    callback_deliveries,
    event_from,
    events,
    leaders,
    leases,
    ledger,
    locks,
    member_run_from,
    member_run_values,
    member_runs,
    metadata,
    notification_from,
    notification_values,
    notifications,
    query_runs,
    run_from,
    run_values,
    runs,
    sensors,
    source_versions,
    trigger_cursors,
    trigger_firings,
)
from orecart.stores.schema import attempts as attempts_table
from orecart.stores.sqlitefile import REQUIRED, check_file, check_tables, sqlite_file
from orecart.stores.upserts import Upserts
from orecart.triggering import Firing, FiringStatus, TriggerCursor

_RUNNING = str(RunStatus.RUNNING)
_UNFINISHED_MEMBER = tuple(str(status) for status in UNFINISHED)
_CANDIDATES = 5  # run ids listed when a prefix is ambiguous
_ATTEMPT_KEYS = ("run_id", "member", "number")
_APPEND_EVENT = sa.insert(events)  # built once: it is on the hot path, a few per member
#: One event for the log: (kind, JSON-able data).
Entry = tuple[str, Mapping[str, Any]]


def _now() -> datetime:
    return datetime.now(UTC)


_DB_NOW = sa.select(sa.func.now())


class SqlStore:
    """The state store on one database URL (``sqlite:///...`` or ``postgresql://...``).

    Call outline: ``SqlStore(url)`` checks the file is a state database and creates or
    upgrades its schema (``orecart.stores.migrate``; ``read_only=True``: only checks;
    nothing is ever written) -> the service queues with ``enqueue`` and takes work with
    ``queued`` / ``claim`` (``request_cancel`` races it fairly), and lists itself with
    ``register_service`` -> the recorder writes with ``record`` (rows and their events in
    one transaction; ``save_run``, ``save_member_run``, ``save_attempt`` and ``add_event``
    are its one-row forms), the runner with ``lock``, ``lease`` / ``release`` (a heartbeat
    renews what is held; ``released`` wakes waiters) and ``unlock`` -> the planner reads
    ``successes`` and ``last_statuses``, the CLI and API read ``runs``, ``get_run``,
    ``member_runs``, ``attempts``, ``events`` (a run whose orecart died reads as aborted,
    see ``orecart.stores.orphans``) -> ``recover`` writes that verdict when a service
    starts -> ``close`` (the heartbeat stops).
    """

    #: How many runs' pipelines the store keeps in memory for its hot path.
    REMEMBERED = 1024

    def __init__(self, url: str, read_only: bool = False, lease_ttl: float = locking.TTL_S) -> None:
        self.url = url
        self.holder_id = f"{locking.this_host()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._ttl = lease_ttl
        self._heartbeat = Heartbeat(self._beat, interval=lease_ttl / 4, lost=self._lost)
        self._lost_watchers: list[Callable[[str], None]] = []
        self._asked = 0.0  # when ``lead`` was last asked (monotonic): leads live by it
        self._wake = threading.Lock()
        self._next_release: Future[None] = Future()
        self.path = sqlite_file(engines.parse_url(url))
        if self.path is not None:
            check_file(self.path)  # before SQLite could write its header into it
        missing = self.path is not None and not self.path.exists()
        self.read_only = read_only and not missing  # a missing file reads as no history
        if self.path is not None and not missing and not read_only:
            self._peek()  # a writer's first connection turns on WAL: a write
        self._use(engines.create("sqlite://" if read_only and missing else url, self.read_only))
        self._pipelines: dict[str, str] = {}  # run id -> pipeline, the latest REMEMBERED
        self._memo = threading.Lock()
        self._absent: set[tuple[str, str]] = set()  # (table, column) an older revision lacks
        self._missing: set[str] = set()  # tables an older revision lacks (read-only opens)
        try:
            self._open_schema()
        except StateError:
            self.engine.dispose()
            raise

    def _use(self, engine: sa.Engine) -> None:
        upserts = Upserts.of(engine.dialect.name)
        if upserts is None:
            engine.dispose()
            safe = engines.redact_url(self.url)
            raise StateError(f"state store {safe}: only SQLite and PostgreSQL are supported")
        self.engine = engine
        self._writer = engines.writer(engine)
        self._upsert = upserts

    def _open_schema(self) -> None:
        """Check the tables are orecart's; a writer creates missing ones, a reader never."""
        if self.read_only:
            with self._read() as connection:
                self._check_tables(connection, empty_ok=False)
                tables = set(sa.inspect(connection).get_table_names())
                self._absent = _absent_columns(connection, tables)
                self._missing = {t.name for t in metadata.sorted_tables} - tables
            if not REQUIRED <= tables:  # a server database orecart never wrote: no history
                self.engine.dispose()
                self._use(engines.create("sqlite://"))
                self.read_only = False
                self._open_schema()
            return
        with self._write() as connection:
            engines.serialize(connection, "schema")  # two processes may start at once
            names = sa.inspect(connection).get_table_names()
            if self.path is not None:
                check_tables(self.path, names, empty_ok=True)
            migrate.upgrade(connection, names)  # a database of an older orecart: upgraded

    def _readable(self, table: sa.Table) -> list[sa.Column[Any]]:
        """The table's columns this database has: all of them once migrated; a read-only
        open of an older database leaves out what its revision lacks (read as None)."""
        return [c for c in table.columns if (table.name, c.name) not in self._absent]

    def _peek(self) -> None:
        """Check an existing file's tables through a connection that cannot write."""
        reader = engines.create(self.url, read_only=True)
        try:
            with engines.translate(self.url), reader.connect() as connection:
                self._check_tables(connection, empty_ok=True)
        finally:
            reader.dispose()

    def _check_tables(self, connection: Connection, empty_ok: bool) -> None:
        if self.path is not None:
            check_tables(self.path, sa.inspect(connection).get_table_names(), empty_ok)

    def __repr__(self) -> str:
        return f"SqlStore({engines.redact_url(self.url)!r})"

    def close(self) -> None:
        """Stop the heartbeat and close every pooled connection."""
        self._heartbeat.stop()
        self.engine.dispose()

    # -- writing the history --------------------------------------------------------------

    def save_run(self, run: Run) -> None:
        """Insert or replace ``run`` (its queue fields kept when ``run`` leaves them empty)."""
        self.record(run.id, run=run)

    def save_member_run(self, member_run: MemberRun) -> None:
        """Insert or replace ``member_run`` and keep the ledger's latest success in step."""
        self.record(member_run.run_id, member_runs=[member_run])

    def save_attempt(self, attempt: Attempt) -> None:
        """Insert or replace one attempt (run, member and number identify it)."""
        self.record(attempt.run_id, attempts=[attempt])

    def add_event(self, run_id: str, kind: str, data: Mapping[str, Any]) -> None:
        """Append an event of ``run_id``, stamped now."""
        self.record(run_id, [(kind, data)])

    def record(
        self,
        run_id: str,
        entries: Sequence[Entry] = (),
        *,
        run: Run | None = None,
        member_runs: Sequence[MemberRun] = (),
        attempts: Sequence[Attempt] = (),
    ) -> None:
        """Save the rows of one moment of run ``run_id`` and append its events to the run's
        log, in one write transaction: the log never tells of a row that is not there.
        ``member_runs`` (a plan's every member at once, or what ended in one runner step)
        and ``attempts`` go in as one bulk statement each, at most one row per key."""
        with self._write() as connection:
            if run is not None and not self._upsert.run(connection, run_values(run)):
                raise TakenOverError(run.id)  # recovery aborted it: nothing of it is written
            if run is not None:
                if run.labels:
                    listing.save_labels(connection, run)
            if member_runs:
                self._save_member_runs(connection, member_runs)
            if attempts:
                values = [attempt_values(attempt) for attempt in attempts]
                self._upsert.row(connection, attempts_table, values, _ATTEMPT_KEYS)
            if run is not None:  # after its member runs: a delivery counts them as they end
                calling.on_status(connection, run.id, _now())
            if entries:
                at = _now()
                rows = [{"run_id": run_id, "at": at, "kind": k, "data": dict(d)}
                        for k, d in entries]
                connection.execute(_APPEND_EVENT, rows[0] if len(rows) == 1 else rows)
        if run is not None:
            self._remember(run.id, run.pipeline)

    def _save_member_runs(self, connection: Connection, found: Sequence[MemberRun]) -> None:
        pipeline = self._pipeline(connection, found[0].run_id)
        values = [member_run_values(member_run) for member_run in found]
        self._upsert.row(connection, member_runs, values, ("run_id", "member"))
        ledgers.keep_in_step(connection, self._upsert, pipeline, found)

    def save_notification(self, notification: Notification) -> None:
        """Append one notification of a run (sent or not)."""
        with self._write() as connection:
            connection.execute(sa.insert(notifications).values(notification_values(notification)))

    # -- reading the history --------------------------------------------------------------

    def runs(self, pipeline: str | None = None, limit: int = 20) -> list[Run]:
        """The newest ``limit`` runs, of one pipeline or of all; newest first."""
        query = self._select_runs().order_by(*_newest_first()).limit(limit)
        if pipeline is not None:
            query = query.where(runs.c.pipeline == pipeline)
        with self._read() as connection:
            return [as_seen(run_from(row)) for row in connection.execute(query).mappings()]

    def list_runs(self, wanted: listing.RunFilter) -> listing.Page:
        """One page of runs, newest queued first, filtered (``orecart.stores.listing``)."""
        query = listing.select(self._readable(runs), wanted)
        with self._read() as connection:
            found = [as_seen(run_from(row)) for row in connection.execute(query).mappings()]
        return listing.page(found, wanted.limit)

    def run_counts(self) -> listing.Counts:
        """Runs and member runs by status (raw: a run whose orecart died still counts as
        running until a service recovers it)."""
        with self._read() as connection:
            return listing.counts(connection, self._missing)

    def latest_run(self, pipeline: str) -> Run | None:
        """The newest run of ``pipeline``, or None when it never ran."""
        found = self.runs(pipeline, limit=1)
        return found[0] if found else None

    def get_run(self, run_id: str) -> Run:
        """The run with id ``run_id``, or the one run whose id starts with it."""
        with self._read() as connection:
            row = self._find_run(connection, run_id)
        return as_seen(run_from(row))

    def _find_run(self, connection: Connection, run_id: str) -> RowMapping:
        """The row of the run with id ``run_id``, or of the one run whose id starts with it."""
        exact = connection.execute(self._select_runs().where(runs.c.id == run_id)).mappings()
        row = exact.first()
        if row is None and run_id:
            row = self._by_prefix(connection, run_id)
        if row is None:
            raise NotFoundError(f"no run has the id {run_id!r}")
        return row

    def _select_runs(self) -> sa.Select[Any]:
        return sa.select(*self._readable(runs))

    def member_runs(
        self, run_id: str, member: str | None = None, *, offset: int = 0,
        limit: int | None = None,
    ) -> list[MemberRun]:
        """The member runs of a run (or its one of ``member``), in the order of its plan;
        ``offset`` and ``limit`` page them (a run may have 10,000)."""
        where = None if member is None else member_runs.c.member == member
        with self._read() as connection:
            run = self._run_of(connection, run_id)
            return self._member_runs(connection, run, run_id, where, offset, limit)

    def member_summary(self, run_id: str, rows: int) -> summary.MemberSummary:
        """A run's member runs, all of them when at most ``rows``; else the first ``rows``
        that did not succeed or skip and the others counted by status, in SQL
        (``orecart.stores.summary``): a 10,000-member run's status reads a page of rows."""
        with self._read() as connection:
            run = self._run_of(connection, run_id)
            return summary.summarise(
                summary.statuses(connection, run_id), run is not None and orphaned(run), rows,
                lambda where, limit: self._member_runs(connection, run, run_id, where, 0, limit))

    def _member_runs(self, connection: Connection, run: Run | None, run_id: str,
                     where: sa.ColumnElement[bool] | None, offset: int,
                     limit: int | None) -> list[MemberRun]:
        """The member runs of ``run_id`` matching ``where``, in plan order, as seen."""
        query = (
            sa.select(*self._readable(member_runs))
            .where(member_runs.c.run_id == run_id)
            .order_by(member_runs.c.position, member_runs.c.member)
            .offset(offset or None)
            .limit(limit)
        )
        if where is not None:
            query = query.where(where)
        found = [member_run_from(row) for row in as_dicts(connection.execute(query))]
        return parts_as_seen(run, found)

    def attempts(self, run_id: str, member: str | None = None,
                 retried: bool = False) -> list[Attempt]:
        """The attempts of a run (of one member, or of all), by member and number;
        ``retried``: only of member runs tried more than once (a member run tried once says
        all its one attempt does: a 10,000-member run's page need not read them all)."""
        query = sa.select(*self._readable(attempts)).where(attempts.c.run_id == run_id)
        if member is not None:
            query = query.where(attempts.c.member == member)
        if retried:
            several = sa.select(member_runs.c.member).where(
                member_runs.c.run_id == run_id, member_runs.c.attempts > 1)
            query = query.where(attempts.c.member.in_(several.scalar_subquery()))
        query = query.order_by(attempts.c.member, attempts.c.number)
        with self._read() as connection:
            found = [attempt_from(row) for row in as_dicts(connection.execute(query))]
            return parts_as_seen(self._run_of(connection, run_id), found)

    def events(self, run_id: str, after: int = 0, limit: int | None = None) -> list[RunEvent]:
        """The event log of a run from cursor ``after`` on: events whose id is greater, in
        the order they were added (at most ``limit``). Pass the last id seen to resume."""
        query = sa.select(events).where(events.c.run_id == run_id, events.c.id > after)
        query = query.order_by(events.c.id)
        if limit is not None:
            query = query.limit(limit)
        with self._read() as connection:
            return [event_from(row) for row in connection.execute(query).mappings()]

    def notifications(self, run_id: str) -> list[Notification]:
        """The notifications of a run, in the order they were made (none in a database an
        older orecart wrote, read without adding the table)."""
        if notifications.name in self._missing:  # judged once, when the store opened
            return []
        query = sa.select(notifications).where(notifications.c.run_id == run_id)
        with self._read() as connection:
            rows = connection.execute(query.order_by(notifications.c.id)).mappings()
            return [notification_from(row) for row in rows]

    def last_statuses(self, pipeline: str) -> dict[str, MemberStatus]:
        """Member statuses of the newest run of ``pipeline`` that has member runs."""
        has_members = sa.exists().where(member_runs.c.run_id == runs.c.id)
        newest = sa.select(runs.c.id).where(runs.c.pipeline == pipeline, has_members)
        newest = newest.order_by(*_newest_first()).limit(1)
        query = sa.select(member_runs.c.member, member_runs.c.status)
        query = query.where(member_runs.c.run_id == newest.scalar_subquery())
        with self._read() as connection:
            return {member: MemberStatus(status) for member, status in connection.execute(query)}

    # -- the ledger -----------------------------------------------------------------------

    def successes(self, pipeline: str) -> dict[str, MemberRun]:
        """Per member of ``pipeline``, its latest successful member run."""
        joined = ledger.join(
            member_runs,
            sa.and_(
                member_runs.c.run_id == ledger.c.run_id, member_runs.c.member == ledger.c.member
            ),
        )
        query = sa.select(*self._readable(member_runs)).select_from(joined)
        query = query.where(ledger.c.pipeline == pipeline)
        with self._read() as connection:
            found = [member_run_from(row) for row in as_dicts(connection.execute(query))]
        return {member_run.member: member_run for member_run in found}

    # -- the lock and the leases ----------------------------------------------------------

    def lock(self, pipeline: str, holder: Holder) -> None:
        """Take the run lock of ``pipeline``; ``LockedError`` when a live holder has it."""
        with self._write() as connection:
            locking.acquire_lock(connection, pipeline, holder, self._term(connection))
        self._heartbeat.hold(("lock", pipeline, holder.run_id))

    def unlock(self, pipeline: str, holder: Holder) -> None:
        """Give the lock back; does nothing when ``holder`` does not hold it."""
        self._heartbeat.drop(("lock", pipeline, holder.run_id))
        with self._write() as connection:
            locking.release_lock(connection, pipeline, holder)
        self._wake_waiters()

    def lock_holder(self, pipeline: str) -> Holder | None:
        """Who holds the lock of ``pipeline`` now, alive or not."""
        query = sa.select(locks).where(locks.c.pipeline == pipeline)
        with self._read() as connection:
            row = connection.execute(query).mappings().first()
        return locking.holder_of(row) if row else None

    def lease(self, pool: str, limit: int, holder: Holder) -> bool:
        """Take a slot of ``pool`` if fewer than ``limit`` live holders have one; it is
        renewed while the calling thread lives. A full pool is seen by reading alone."""
        with self._read() as connection:
            if not locking.may_lease(connection, pool, limit, holder, self._clock(connection)):
                return False
        with self._write() as connection:
            granted = locking.take_lease(connection, pool, limit, holder,
                                         self._term(connection))
        if granted:
            self._heartbeat.hold(("lease", pool, holder.run_id, holder.member))
        return granted

    def release(self, pool: str, holder: Holder) -> None:
        """Give back the slot ``holder`` (its run and member) has in ``pool``."""
        self._heartbeat.drop(("lease", pool, holder.run_id, holder.member))
        with self._write() as connection:
            locking.release_lease(connection, pool, holder)
        self._wake_waiters()

    def released(self) -> Future[None]:
        """Done when this store next gives back a lease or lock: a waiter for a full pool
        waits on it (with a timeout, as other processes' releases do not set it)."""
        with self._wake:
            return self._next_release

    def _wake_waiters(self) -> None:
        with self._wake:
            done, self._next_release = self._next_release, Future()
        done.set_result(None)

    def on_lost(self, watcher: Callable[[str], None]) -> None:
        """Call ``watcher(run_id)`` when the heartbeat finds that another holder took a lock
        or lease of run ``run_id`` (its ttl passed while this process could not renew it)."""
        self._lost_watchers.append(watcher)

    def _beat(self, keys: Sequence[locking.Key]) -> list[locking.Key]:
        asking = time.monotonic() - self._asked <= self._ttl / 2
        kinds = [key[1] for key in keys if key[0] == "leader"] if asking else []
        with self._write() as connection:
            term = self._term(connection)
            lost = locking.renew(connection, keys, term)
            if kinds:
                leading.renew(connection, kinds, term)
        return lost

    def _lost(self, key: locking.Key) -> None:
        for watcher in list(self._lost_watchers):
            watcher(key[2])

    def _term(self, connection: Connection) -> locking.Term:
        return locking.Term(self.holder_id, self._clock(connection), self._ttl, _now())

    def _clock(self, connection: Connection) -> datetime:
        """Now, as expiries are judged: by the database's clock on PostgreSQL (serves on
        hosts whose clocks disagree see one time), by this host's on SQLite (one host)."""
        if connection.dialect.name != "postgresql":
            return _now()
        found: datetime = connection.execute(_DB_NOW).scalar_one()
        return found

    def leases(self, pool: str) -> list[Holder]:
        """Who holds slots of ``pool`` now, alive or not, oldest first."""
        query = sa.select(leases).where(leases.c.pool == pool).order_by(leases.c.acquired_at)
        with self._read() as connection:
            return [locking.holder_of(row) for row in connection.execute(query).mappings()]

    # -- the queue ------------------------------------------------------------------------

    def enqueue(self, run: Run, payload: Mapping[str, Any]) -> tuple[Run, bool]:
        """Queue the ``queued`` run ``run`` with ``payload`` (what to run), unless its key's
        latest run is queued, running or succeeded: then (that run, False). One write
        transaction, serialized on the key: two submits of one key give one run."""
        with self._write() as connection:
            found, queued = queueing.enqueue(connection, run, payload, _now())
            if queued and run.labels:
                listing.save_labels(connection, run)
            if queued:
                calling.on_status(connection, run.id, _now())
        if queued:
            self._remember(run.id, run.pipeline)
        return found, queued

    def queued(self, pipeline: str | None = None, limit: int | None = None) -> list[Run]:
        """The queued runs (of one pipeline, or of all), first asked first."""
        if self._before_queue():
            return []
        query = queueing.queued_query(self._readable(runs), pipeline, limit)
        with self._read() as connection:
            return [run_from(row) for row in connection.execute(query).mappings()]

    def queue_heads(self) -> list[Run]:
        """The oldest queued run of each pipeline, first asked first."""
        if self._before_queue():
            return []
        with self._read() as connection:
            rows = connection.execute(queueing.heads_query(self._readable(runs))).mappings()
            return [run_from(row) for row in rows]

    def payload(self, run_id: str) -> dict[str, Any]:
        """The payload the queued request of ``run_id`` carries; ``NotFoundError`` if none."""
        found = None
        if not self._before_queue():
            with self._read() as connection:
                found = queueing.payload(connection, run_id)
        if found is None:
            raise NotFoundError(f"run {run_id!r} has no queued request")
        return found

    def claim(self, run_id: str, holder: Holder) -> Run | None:
        """Start the queued run ``run_id`` for ``holder``'s process (running, its host and
        pid); None when it is no longer queued: claimed or cancelled first."""
        with self._write() as connection:
            claimed = queueing.claim(connection, run_id, holder, _now())
            if claimed is not None:
                calling.on_status(connection, run_id, _now())
            return claimed

    def request_cancel(self, run_id: str) -> Run:
        """Cancel a run (an id or a prefix of one): a queued one is cancelled at once, a
        running one gets ``cancel_requested_at`` (its runner stops it), a finished one is
        returned as it is. Atomic against ``claim``."""
        with self._write() as connection:
            found = self._find_run(connection, run_id)["id"]
            queueing.request_cancel(connection, found, _now())
            calling.on_status(connection, found, _now())
            return as_seen(run_from(self._find_run(connection, found)))

    def cancel_requested(self, run_ids: Sequence[str]) -> set[str]:
        """Which of ``run_ids`` have a cancel asked (a runner polls its own)."""
        if self._before_queue():
            return set()
        with self._read() as connection:
            return queueing.cancel_requested(connection, run_ids)

    def run_for_key(self, pipeline: str, key: str) -> Run | None:
        """The latest run of run key ``key`` in ``pipeline``, None when it never had one."""
        if self._before_queue():
            return None
        with self._read() as connection:
            found = queueing.latest_of_key(connection, self._readable(runs), pipeline, key)
        return as_seen(found) if found else None

    def _before_queue(self) -> bool:
        """True for a database older than revision 0004 (the queue, the services), opened
        read-only: it has no keys, no requests and no services."""
        return (runs.name, "key") in self._absent

    # -- the services registry ------------------------------------------------------------

    def register_service(self, entry: ServiceEntry) -> None:
        """List ``entry`` as a live service; the heartbeat renews its row while this
        process's main thread lives, until ``unregister_service``."""
        with self._write() as connection:
            registry.register(connection, entry, self._term(connection))
        self._heartbeat.hold(("service", entry.id), threading.main_thread())

    def unregister_service(self, service_id: str) -> None:
        self._heartbeat.drop(("service", service_id))
        with self._write() as connection:
            registry.unregister(connection, service_id)

    def services(self) -> list[ServiceEntry]:
        """The live services (not expired; on this host, their process alive), oldest first."""
        if self._before_queue():
            return []
        with self._read() as connection:
            return registry.live(connection, self._clock(connection))

    # -- leadership among services (``orecart.stores.leaders``) -----------------------

    def lead(self, kinds: Collection[str], entry: ServiceEntry) -> set[str]:
        """The kinds of work of ``kinds`` this store leads now, for service ``entry``: those
        it led already (a read), and those that were free, taken (a write only then); the
        heartbeat renews them while this process's main thread lives and asks again within
        half their ttl (a serve whose loop hangs stops asking: its leads expire). A lead
        another live holder has is seen by reading alone."""
        if leaders.name in self._missing or not kinds:
            return set()
        self._asked = time.monotonic()
        with self._read() as connection:
            found = leading.rows(connection, kinds)
            now = self._clock(connection)
        led = {k for k in kinds if leading.holds(found.get(k), self.holder_id, now)}
        wanted = {k for k in kinds if k not in led and leading.free(found.get(k), now)}
        for kind in set(kinds) - led - wanted:  # another's (this process hung past its ttl)
            self._heartbeat.drop(("leader", kind))
        if wanted:
            with self._write() as connection:
                led |= leading.take(connection, wanted, entry, self._term(connection))
        for kind in led:
            self._heartbeat.hold(("leader", kind), threading.main_thread())
        return led

    def resign(self, kinds: Collection[str]) -> None:
        """Give the leads of ``kinds`` back (those this store has)."""
        for kind in kinds:
            self._heartbeat.drop(("leader", kind))
        if kinds:
            with self._write() as connection:
                leading.resign(connection, kinds, self.holder_id)

    def leaders(self) -> list[Leadership]:
        """Who leads what now, by kind."""
        if leaders.name in self._missing:
            return []
        with self._read() as connection:
            return leading.live(connection, self._clock(connection))

    # -- sensors (``orecart.stores.sensing``) ------------------------------------------

    def record_sensing(self, state: SensorState,
                       found: Sequence[SourceVersion]) -> list[SourceVersion]:
        """Save a sensor's tick: its state, and the versions of ``found`` new to the store
        (placed after its last, in order); the ones added."""
        with self._write() as connection:
            return sensing.record(connection, state, found)

    def save_sensor_state(self, state: SensorState) -> None:
        with self._write() as connection:
            sensing.save_state(connection, state)

    def sensor_states(self, pipeline: str) -> list[SensorState]:
        if sensors.name in self._missing:
            return []
        with self._read() as connection:
            return sensing.states(connection, pipeline)

    def source_versions(self, pipeline: str, sensor: str | None = None) -> list[SourceVersion]:
        """The versions the sensors of ``pipeline`` saw, by sensor in source order."""
        if source_versions.name in self._missing:
            return []
        with self._read() as connection:
            return sensing.versions(connection, pipeline, sensor)

    def due_versions(self, pipeline: str, sensor: str, retries: int) -> list[SourceVersion]:
        """The versions a tick of ``sensor`` may submit (``orecart.stores.sensing.due``)."""
        if source_versions.name in self._missing:
            return []
        with self._read() as connection:
            return sensing.due(connection, pipeline, sensor, retries)

    def version_asked(self, version: SourceVersion, run_id: str, counted: bool = True) -> None:
        """``run_id`` is the latest run of ``version``; ``counted``: asked for it now."""
        with self._write() as connection:
            sensing.asked(connection, version, run_id, counted)

    def keyed_runs(self, pipeline: str, keys: Sequence[str]) -> list[Run]:
        """Every run of ``pipeline`` with one of the run keys ``keys``, first queued first."""
        if self._before_queue():
            return []
        with self._read() as connection:
            found = sensing.keyed_runs(connection, self._readable(runs), pipeline, keys)
        return [as_seen(run) for run in found]

    # -- crash recovery -------------------------------------------------------------------

    def recover(self, host: str) -> list[Run]:
        """Abort the running runs whose orecart process is gone; the aborted runs (the
        service may queue them again).

        A run of ``host`` (pass this machine's name) is judged by its pid, which only
        here can be checked; a run of another host by its pipeline's lock, which every
        running run holds and its process's heartbeat renews: gone when the lock expired
        or another run took it (``orecart.stores.locks.lost``). Their running and pending
        member runs (and running attempts) become aborted, and their lock and leases are
        released. A queued run is never touched: it belongs to no process, and survives
        the death of every one.
        """
        query = self._select_runs().where(runs.c.status == _RUNNING, runs.c.pid > 0)
        with self._read() as connection:
            found = [run_from(row) for row in connection.execute(query).mappings()]
            held = locking.locks_of(connection, {run.pipeline for run in found})
            now = self._clock(connection)
        orphans = [run for run in found if run.host == host and orphaned(run)] + [
            run for run in found
            if run.host != host and locking.lost(run.id, held.get(run.pipeline), now)
        ]
        return [aborted for run in orphans if (aborted := self._abort(run)) is not None]

    def _abort(self, run: Run) -> Run | None:
        """Mark ``run`` aborted unless another process finished or recovered it first."""
        now = _now()
        aborted = {"status": str(MemberStatus.ABORTED), "error": DIED, "finished_at": now}
        with self._write() as connection:
            changed = connection.execute(
                sa.update(runs)
                .where(runs.c.id == run.id, runs.c.status == _RUNNING)
                .values(status=str(RunStatus.ABORTED), finished_at=now,
                        error=sa.func.coalesce(runs.c.error, DIED))
            )
            if changed.rowcount != 1:
                return None
            for table in (member_runs, attempts):
                statement = sa.update(table).where(
                    table.c.run_id == run.id, table.c.status.in_(_UNFINISHED_MEMBER)
                )
                connection.execute(statement.values(**aborted))
            locking.release_run(connection, run.id)
            calling.on_status(connection, run.id, now)
        return replace(run, status=RunStatus.ABORTED, finished_at=now, error=run.error or DIED)

    # -- stored queries (``orecart.stores.queries``) ----------------------------------

    def record_query(self, execution: QueryExecution) -> None:
        with self._write() as connection:
            queries.record(connection, execution)

    def query_executions(self, pipeline: str, query: str | None = None,
                         limit: int | None = None) -> list[QueryExecution]:
        """The executions of ``pipeline``'s stored queries (of one, or all), newest first."""
        if query_runs.name in self._missing:
            return []
        with self._read() as connection:
            return queries.executions(connection, pipeline, query, limit)

    def query_stats(self, pipeline: str) -> list[QueryStats]:
        if query_runs.name in self._missing:
            return []
        with self._read() as connection:
            return queries.stats(connection, pipeline)

    # -- graph triggers (``orecart.stores.triggers``) ----------------------------------

    def claim_firings(self, firings: Sequence[Firing]) -> list[Firing]:
        """Insert the firings whose (pipeline, trigger, element) is new, in one transaction,
        running and owned by their ``owner``; the ones this call inserted, with ids. A
        concurrent claim of the same elements gets none of them."""
        with self._write() as connection:
            return triggers.claim(connection, self._upsert, firings, _now())

    def adopt_firing(self, pipeline: str, trigger: str, params_key: str, element: int,
                     element_id: str) -> Firing | None:
        """After a restore: the forgotten firing with ``params_key`` becomes the firing of
        ``element``, with the status it had; None when none is left to adopt."""
        with self._write() as connection:
            return triggers.adopt(connection, pipeline, trigger, params_key, element,
                                  element_id)

    def finish_firing(self, firing_id: int, owner: str, status: FiringStatus, *,
                      error: str | None = None, run_id: str | None = None,
                      next_at: datetime | None = None) -> bool:
        """End ``owner``'s running attempt of a firing: succeeded, failed, or waiting until
        ``next_at``; False when the attempt is not theirs (anymore)."""
        changes: dict[str, Any] = {"error": error, "ended_at": _now(), "next_at": next_at}
        if run_id is not None:
            changes["run_id"] = run_id
        with self._write() as connection:
            return triggers.finish(connection, firing_id, owner, status, changes)

    def due_firings(self, pipeline: str, now: datetime, owner: str,
                    limit: int = 100) -> list[Firing]:
        """Take the waiting firings of ``pipeline`` due by ``now`` for ``owner`` (running,
        one more attempt); two callers never get the same firing."""
        with self._write() as connection:
            return triggers.due(connection, pipeline, now, owner, limit)

    def recover_firings(self, live_owners: Collection[str]) -> int:
        """Running firings whose owner is not among ``live_owners`` (its process died)
        wait, due now, their outcome unknown; how many. Pass every owner still alive (the
        live services' and this process's own): an owner left out loses its attempts."""
        with self._write() as connection:
            return triggers.recover(connection, live_owners, _now())

    def held_elements(self, pipeline: str, trigger: str, elements: list[int]) -> set[int]:
        """Which of ``elements`` (internal ids) a firing of the trigger holds."""
        with self._read() as connection:
            return triggers.held(connection, pipeline, trigger, elements)

    def running_owners(self) -> set[str]:
        """The owners of the running firings."""
        with self._read() as connection:
            return triggers.running_owners(connection)

    def forget_restored(self, pipelines: Collection[str]) -> int:
        """A backup was restored into the graph of ``pipelines``: their trigger cursors
        restart and every firing is forgotten (``orecart.stores.triggers``); how many."""
        with self._write() as connection:
            return triggers.forget(connection, pipelines)

    def drop_forgotten(self, pipeline: str, trigger: str) -> int:
        """The sweep after a restore reached the end: the forgotten firings of ``trigger``
        nothing adopted are deleted; how many."""
        with self._write() as connection:
            return triggers.drop_forgotten(connection, pipeline, trigger)

    def firings(self, pipeline: str, trigger: str | None = None,
                status: FiringStatus | None = None, limit: int = 50) -> list[Firing]:
        """The firings of ``pipeline`` (of one trigger, in one status), newest first."""
        if trigger_firings.name in self._missing:
            return []
        with self._read() as connection:
            return triggers.listed(connection, pipeline, trigger, status, limit)

    def firing_counts(self, pipeline: str) -> dict[str, dict[str, int]]:
        """{trigger: {status: number of firings}} of ``pipeline``."""
        if trigger_firings.name in self._missing:
            return {}
        with self._read() as connection:
            return triggers.counts(connection, pipeline)

    def trigger_cursor(self, pipeline: str, trigger: str) -> TriggerCursor:
        """The trigger's cursor; one at the start (position -1) when it never polled."""
        if trigger_cursors.name in self._missing:
            return TriggerCursor(pipeline, trigger)
        with self._read() as connection:
            return triggers.cursor(connection, pipeline, trigger)

    def trigger_cursors(self, pipeline: str) -> list[TriggerCursor]:
        if trigger_cursors.name in self._missing:
            return []
        with self._read() as connection:
            return triggers.cursors(connection, pipeline)

    def advance_cursor(self, pipeline: str, trigger: str, position: int,
                       polled_at: datetime) -> None:
        """A poll up to ``position`` answered; the cursor never moves back."""
        with self._write() as connection:
            triggers.advance(connection, self._upsert, pipeline, trigger, position, polled_at)

    def cursor_error(self, pipeline: str, trigger: str, error: str, at: datetime) -> None:
        """A poll failed with ``error``; the cursor keeps its position."""
        with self._write() as connection:
            triggers.failed_poll(connection, self._upsert, pipeline, trigger, error, at)
    # -- API tokens -----------------------------------------------------------------------

    def add_token(self, token: ApiToken, digest: str) -> None:
        """Keep a new token (its digest only); a taken name is a ``UsageError``."""
        with self._write() as connection:
            tokens.add(connection, token, digest)

    def tokens(self) -> list[ApiToken]:
        with self._read() as connection:
            return tokens.listed(connection)

    def token_for(self, digest: str) -> ApiToken | None:
        """The token whose sha256 digest is ``digest``; None: no such token."""
        with self._read() as connection:
            return tokens.by_digest(connection, digest)

    def revoke_token(self, name: str) -> None:
        with self._write() as connection:
            tokens.revoke(connection, name)

    # -- callback deliveries (``orecart.stores.callbacks``) ----------------------------

    def deliveries(self, run_id: str) -> list[Delivery]:
        """The callback deliveries of a run (an id or a prefix of one), first first."""
        with self._read() as connection:
            found = self._find_run(connection, run_id)["id"]
            if callback_deliveries.name in self._missing:
                return []
            return calling.of_run(connection, found)

    def pending_deliveries(self) -> bool:
        """True when a delivery of some run waits to be posted, due now or later."""
        if callback_deliveries.name in self._missing:
            return False
        with self._read() as connection:
            return calling.any_pending(connection)

    def due_deliveries(self, limit: int = 50) -> list[Delivery]:
        """The deliveries to post now: the first pending one of each run, if due."""
        with self._read() as connection:
            return calling.due(connection, _now(), limit)

    def take_delivery(self, delivery: Delivery, hold: float) -> bool:
        """Hold a due delivery for one attempt of at most ``hold`` seconds; False when
        another deliverer has it."""
        now = _now()
        with self._write() as connection:
            return calling.take(connection, delivery, now, now + timedelta(seconds=hold))

    def delivery_attempted(self, delivery: Delivery, outcome: Attempted) -> bool:
        with self._write() as connection:
            return calling.attempted(connection, delivery, outcome, _now())

    # -- helpers --------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """One write transaction, committed on success; errors become ``StateError``."""
        with engines.translate(self.url), self._writer.begin() as connection:
            yield connection

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with engines.translate(self.url), self.engine.connect() as connection:
            yield connection

    def _run_of(self, connection: Connection, run_id: str) -> Run | None:
        query = self._select_runs().where(runs.c.id == run_id)
        row = connection.execute(query).mappings().first()
        return run_from(row) if row else None

    def _pipeline(self, connection: Connection, run_id: str) -> str:
        """The pipeline of a saved run; remembered, as the hot path asks for it often."""
        pipeline = self._pipelines.get(run_id)
        if pipeline is None:
            query = sa.select(runs.c.pipeline).where(runs.c.id == run_id)
            pipeline = connection.execute(query).scalar()
            if pipeline is None:
                raise StateError(f"run {run_id} must be saved before its member runs")
            self._remember(run_id, pipeline)
        return pipeline

    def _remember(self, run_id: str, pipeline: str) -> None:
        """Remember the pipeline of a run being written: only the latest ``REMEMBERED``
        runs, as a long-lived service writes runs without end."""
        with self._memo:
            self._pipelines.pop(run_id, None)
            self._pipelines[run_id] = pipeline
            while len(self._pipelines) > self.REMEMBERED:
                del self._pipelines[next(iter(self._pipelines))]

    def _by_prefix(self, connection: Connection, prefix: str) -> RowMapping | None:
        """The one run whose id starts with ``prefix``; None when none does."""
        query = self._select_runs().where(runs.c.id.startswith(prefix, autoescape=True))
        rows = connection.execute(query.order_by(runs.c.id).limit(_CANDIDATES + 1)).mappings()
        found = rows.all()
        if len(found) > 1:
            names = ", ".join(row["id"] for row in found[:_CANDIDATES])
            more = ", ..." if len(found) > _CANDIDATES else ""
            raise NotFoundError(
                f"run id prefix {prefix!r} is ambiguous: it matches {names}{more};"
                " give more characters"
            )
        return found[0] if found else None


def _newest_first() -> tuple[sa.UnaryExpression[Any], ...]:
    """Newest runs first; a run not started yet (queued) counts as newest."""
    return (runs.c.started_at.desc().nulls_first(), runs.c.id.desc())


def _absent_columns(connection: Connection, tables: set[str]) -> set[tuple[str, str]]:
    """(table, column) pairs the schema declares that this database, made by an older
    orecart and opened read-only (so never upgraded), does not have."""
    inspector = sa.inspect(connection)
    absent: set[tuple[str, str]] = set()
    for table in metadata.sorted_tables:
        if table.name in tables:
            present = {column["name"] for column in inspector.get_columns(table.name)}
            absent |= {(table.name, c.name) for c in table.columns if c.name not in present}
    return absent
