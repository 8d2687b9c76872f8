"""The state store: run history and its event log, the queue, the store-backed ledger, the
pipeline lock and pool leases, the services registry, the sensors' states and versions,
the executions of stored queries, graph triggers' cursors and firings, and the REST
API's tokens and run pages.

One SQLAlchemy implementation (``orecart.stores.sql.SqlStore``) serves SQLite and
PostgreSQL; ``open_store(url)`` picks it by URL scheme.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from orecart.callbacks import Attempted, Delivery
from orecart.errors import StateError, UsageError
from orecart.model import (
    Attempt,
    Leadership,
    MemberRun,
    MemberStatus,
    Notification,
    Run,
    RunEvent,
    ServiceEntry,
)
from orecart.querying import QueryExecution, QueryStats
from orecart.sensing import SensorState, SourceVersion
from orecart.triggering import Firing, FiringStatus, TriggerCursor

if TYPE_CHECKING:  # the real import waits until a store is opened: it pulls in SQLAlchemy
    from orecart.access import ApiToken
    from orecart.stores.listing import Counts, Page, RunFilter
    from orecart.stores.sql import SqlStore
    from orecart.stores.summary import MemberSummary


@dataclass(frozen=True)
class Holder:
    """Who holds a lock or lease: a run, in a process on a host."""

    run_id: str
    pid: int
    host: str
    member: str = ""


class RunLog(Protocol):
    """Writes and reads the run history. ``record`` saves one moment of a run (its rows,
    and its events appended to the run's log) in one transaction; the ``save_*`` methods
    are its one-row forms."""

    def record(
        self,
        run_id: str,
        entries: Sequence[tuple[str, Mapping[str, Any]]] = (),
        *,
        run: Run | None = None,
        member_runs: Sequence[MemberRun] = (),
        attempts: Sequence[Attempt] = (),
    ) -> None: ...
    def save_run(self, run: Run) -> None: ...
    def save_member_run(self, member_run: MemberRun) -> None: ...
    def save_attempt(self, attempt: Attempt) -> None: ...
    def add_event(self, run_id: str, kind: str, data: Mapping[str, Any]) -> None: ...
    def runs(self, pipeline: str | None = None, limit: int = 20) -> list[Run]: ...
    def get_run(self, run_id: str) -> Run: ...
    def member_runs(
        self, run_id: str, member: str | None = None, *, offset: int = 0,
        limit: int | None = None,
    ) -> list[MemberRun]: ...
    def member_summary(self, run_id: str, rows: int) -> MemberSummary: ...


class EventLog(Protocol):
    """Replays a run's persisted event log from a cursor (the last event id seen)."""

    def events(self, run_id: str, after: int = 0, limit: int | None = None) -> list[RunEvent]: ...


class Queue(Protocol):
    """The requests waiting to run: FIFO per pipeline, one run per run key; a queued run
    is claimed or cancelled, never both."""

    def enqueue(self, run: Run, payload: Mapping[str, Any]) -> tuple[Run, bool]: ...
    def queued(self, pipeline: str | None = None, limit: int | None = None) -> list[Run]: ...
    def queue_heads(self) -> list[Run]: ...
    def payload(self, run_id: str) -> dict[str, Any]: ...
    def claim(self, run_id: str, holder: Holder) -> Run | None: ...
    def request_cancel(self, run_id: str) -> Run: ...
    def cancel_requested(self, run_ids: Sequence[str]) -> set[str]: ...
    def run_for_key(self, pipeline: str, key: str) -> Run | None: ...


class ServiceRegistry(Protocol):
    """The running services, so that clients find them; a dead one's row is not listed."""

    def register_service(self, entry: ServiceEntry) -> None: ...
    def unregister_service(self, service_id: str) -> None: ...
    def services(self) -> list[ServiceEntry]: ...


class Leaders(Protocol):
    """Which service leads each kind of work done once among the services of a store
    (``orecart.stores.leaders``): ``lead`` each tick, ``resign`` on the way out."""

    def lead(self, kinds: Collection[str], entry: ServiceEntry) -> set[str]: ...
    def resign(self, kinds: Collection[str]) -> None: ...
    def leaders(self) -> list[Leadership]: ...


class SensorLog(Protocol):
    """Each sensor's state between ticks and the source versions it saw, in source order
    (``orecart.stores.sensing``)."""

    def record_sensing(self, state: SensorState,
                       found: Sequence[SourceVersion]) -> list[SourceVersion]: ...
    def save_sensor_state(self, state: SensorState) -> None: ...
    def sensor_states(self, pipeline: str) -> list[SensorState]: ...
    def source_versions(self, pipeline: str, sensor: str | None = None) -> list[SourceVersion]: ...
    def due_versions(self, pipeline: str, sensor: str, retries: int) -> list[SourceVersion]: ...
    def version_asked(self, version: SourceVersion, run_id: str,
                      counted: bool = True) -> None: ...
    def keyed_runs(self, pipeline: str, keys: Sequence[str]) -> list[Run]: ...


class QueryLog(Protocol):
    """Every execution of a stored query, and their statistics (``orecart.stores.queries``)."""

    def record_query(self, execution: QueryExecution) -> None: ...
    def query_executions(self, pipeline: str, query: str | None = None,
                         limit: int | None = None) -> list[QueryExecution]: ...
    def query_stats(self, pipeline: str) -> list[QueryStats]: ...


class TriggerLog(Protocol):
    """Graph triggers' cursors and firings, one firing per (pipeline, trigger, element)
    across processes (``orecart.stores.triggers``). ``claim_firings`` starts the firings
    of new elements, ``finish_firing`` ends an attempt, ``due_firings`` takes up retries,
    ``recover_firings`` the attempts of dead processes; a restore ``forget_restored``,
    ``adopt_firing`` and ``drop_forgotten``."""

    def claim_firings(self, firings: Sequence[Firing]) -> list[Firing]: ...
    def adopt_firing(self, pipeline: str, trigger: str, params_key: str, element: int,
                     element_id: str) -> Firing | None: ...
    def finish_firing(self, firing_id: int, owner: str, status: FiringStatus, *,
                      error: str | None = None, run_id: str | None = None,
                      next_at: datetime | None = None) -> bool: ...
    def due_firings(self, pipeline: str, now: datetime, owner: str,
                    limit: int = 100) -> list[Firing]: ...
    def recover_firings(self, live_owners: Collection[str]) -> int: ...
    def running_owners(self) -> set[str]: ...
    def held_elements(self, pipeline: str, trigger: str, elements: list[int]) -> set[int]: ...
    def forget_restored(self, pipelines: Collection[str]) -> int: ...
    def drop_forgotten(self, pipeline: str, trigger: str) -> int: ...
    def firings(self, pipeline: str, trigger: str | None = None,
                status: FiringStatus | None = None, limit: int = 50) -> list[Firing]: ...
    def firing_counts(self, pipeline: str) -> dict[str, dict[str, int]]: ...
    def trigger_cursor(self, pipeline: str, trigger: str) -> TriggerCursor: ...
    def trigger_cursors(self, pipeline: str) -> list[TriggerCursor]: ...
    def advance_cursor(self, pipeline: str, trigger: str, position: int,
                       polled_at: datetime) -> None: ...
    def cursor_error(self, pipeline: str, trigger: str, error: str, at: datetime) -> None: ...


class CallbackLog(Protocol):
    """The callback deliveries of runs: listed, taken when due, each attempt recorded
    (``orecart.stores.callbacks``; rows are added by the status changes themselves)."""

    def deliveries(self, run_id: str) -> list[Delivery]: ...
    def due_deliveries(self, limit: int = 50) -> list[Delivery]: ...
    def pending_deliveries(self) -> bool: ...
    def take_delivery(self, delivery: Delivery, hold: float) -> bool: ...
    def delivery_attempted(self, delivery: Delivery, outcome: Attempted) -> bool: ...


class Ledger(Protocol):
    """Decides "this member already did its work here": its latest success per member."""

    def successes(self, pipeline: str) -> Mapping[str, MemberRun]: ...


class Locks(Protocol):
    """The per-pipeline run lock and the pool leases; a dead holder's entries are reclaimed.
    ``released()`` is a future done at the next release here, for waiters of a full pool."""

    def lock(self, pipeline: str, holder: Holder) -> None: ...
    def unlock(self, pipeline: str, holder: Holder) -> None: ...
    def lease(self, pool: str, limit: int, holder: Holder) -> bool: ...
    def release(self, pool: str, holder: Holder) -> None: ...
    def released(self) -> Future[None]: ...


class Takeovers(Protocol):
    """Hears that another holder took over a lock or lease of a run held here (the run's
    id): its ttl passed while this process could not renew it, and the run is lost."""

    def on_lost(self, watcher: Callable[[str], None]) -> None: ...


class NotificationLog(Protocol):
    """Records the notifications of runs (``orecart.notify``) and reads them back."""

    def save_notification(self, notification: Notification) -> None: ...
    def notifications(self, run_id: str) -> list[Notification]: ...


class ApiLog(Protocol):
    """What the REST API reads and keeps: pages of runs (``orecart.stores.listing``) and
    its tokens, by digest (``orecart.stores.tokens``)."""

    def list_runs(self, wanted: RunFilter) -> Page: ...
    def run_counts(self) -> Counts: ...
    def add_token(self, token: ApiToken, digest: str) -> None: ...
    def tokens(self) -> list[ApiToken]: ...
    def token_for(self, digest: str) -> ApiToken | None: ...
    def revoke_token(self, name: str) -> None: ...


STORES: dict[str, str] = {
    "sqlite": "orecart.stores.sql:SqlStore",
    "postgresql": "orecart.stores.sql:SqlStore",
}

#: URL schemes that mean an existing entry of STORES.
ALIASES: dict[str, str] = {"postgres": "postgresql"}


class StateStore(
    RunLog, EventLog, Queue, ServiceRegistry, Leaders, SensorLog, QueryLog, TriggerLog,
    CallbackLog, Ledger, Locks, Takeovers, NotificationLog, ApiLog, Protocol,
):
    """Everything the service and runner ask of a state store."""

    def attempts(self, run_id: str, member: str | None = None,
                 retried: bool = False) -> list[Attempt]: ...
    def latest_run(self, pipeline: str) -> Run | None: ...
    def last_statuses(self, pipeline: str) -> dict[str, MemberStatus]: ...
    def recover(self, host: str) -> list[Run]: ...
    def close(self) -> None: ...


def open_store(url: str, read_only: bool = False, lease_ttl: float | None = None) -> SqlStore:
    """Open the state store at ``url``, importing its implementation only now;
    ``read_only`` for history reads, which never write (not even the tables);
    ``lease_ttl``: seconds a lock or lease lives without a heartbeat (default 60).

    ``sqlite:///path`` and ``postgresql://user:password@host/db`` (``postgres://`` too;
    both mean psycopg 3) are known; any ``+driver`` suffix is kept as given.
    """
    scheme = url.partition(":")[0].partition("+")[0].lower()
    target = STORES.get(ALIASES.get(scheme, scheme))
    if target is None:
        known = ", ".join(sorted(STORES))
        shown = url.partition("://")[0] if "://" in url else url[:20]
        raise UsageError(f"state store URL scheme {shown!r} is not known; known: {known}")
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise StateError(f"state store {scheme!r} is not available: {exc}") from exc
    options = {} if lease_ttl is None else {"lease_ttl": lease_ttl}
    store: SqlStore = getattr(module, class_name)(url, read_only=read_only, **options)
    return store


def check_url(url: str) -> None:
    """``UsageError`` when ``url`` cannot name a state store (its host, port or driver
    cannot be read); nothing is opened. ``open_store`` checks the same way."""
    from orecart.stores.engine import parse_url  # SQLAlchemy, only when a URL is given

    parse_url(url)


def default_state_url(
    pipeline_file: Path, home: Path | None = None, create: bool = True
) -> str:
    """``sqlite:///<home>/state.db``, creating the folder (unless ``create`` is False: a
    history read writes nothing); ``home`` defaults to ``.orecart`` beside the pipeline file
    (see ``service.home_dir``)."""
    folder = home or pipeline_file.resolve().parent / ".orecart"
    if not create:
        return f"sqlite:///{folder / 'state.db'}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StateError(f"cannot create the state folder {folder}: {exc}") from exc
    return f"sqlite:///{folder / 'state.db'}"
