"""One-shot tools over a pipeline file, for the CLI: load, plan (a dry run), the history
(read-only: history reads never write), images, the graph (backup, restore, status), and
``run``: an in-process ``Service`` built for the one file (submit, then execute here).

Each call opens what it needs for its own duration; the long-lived parts are the
``Service``'s (``orecart.service.core``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from secrets import token_hex
from typing import TYPE_CHECKING, Any

from orecart.access import ApiToken, Scope, digest, new_token
from orecart.control import RunControl
from orecart.errors import NotFoundError, SpecError, UsageError
from orecart.events import EventSink
from orecart.model import (
    Graph,
    Leadership,
    Pipeline,
    PullPolicy,
    Run,
    RunEvent,
    RunStatus,
    ServiceEntry,
    Settings,
)
from orecart.planner import Plan, Selection
from orecart.secrets import known_secrets
from orecart.service.requests import Outcome, RunDetail, RunOptions, RunRequest, Submitted
from orecart.spec import load_pipeline, pipeline_name
from orecart.spec.heading import read_heading
from orecart.stores import StateStore, default_state_url, open_store
from orecart.triggering import Firing, FiringStatus

if TYPE_CHECKING:
    from orecart.callbacks import Delivery
    from orecart.graph.waiting import WaitReport
    from orecart.querying import QueryStats, StoredQuery
    from orecart.service.querying import QueryAnswer
    from orecart.service.sensing import Ticked
    from orecart.service.triggering import Polled
    from orecart.service.triggerviews import TriggerView
    from orecart.service.versions import SensorView, VersionView

#: Called with (done, total) while a backup or restore streams.
Progress = Callable[[int, int], None]
#: How long ``orecart run`` waits at its end for its run's callback deliveries.
CALLBACK_DRAIN_S = 5.0


def orecart_version() -> str:
    """The installed version (importlib.metadata costs 10 ms: only --version reads it)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("orecart")
    except PackageNotFoundError:
        return "0+unknown"


@dataclass(frozen=True)
class QueueView:
    """What ``orecart queue`` shows: queued runs (oldest request first), running runs,
    the serve processes on the store and which of them leads what."""

    queued: list[Run]
    running: list[Run]
    services: list[ServiceEntry]
    leaders: list[Leadership] = field(default_factory=list)


@dataclass(frozen=True)
class Restored:
    """A restore: the backup's counts, and how many trigger firings it made forgotten
    (their cursors reset; a firing whose element the restored graph holds is adopted)."""

    info: Any  # orecart.graph.backup.BackupInfo
    forgotten: int


@dataclass(frozen=True)
class Source:
    """Where a pipeline comes from and which state store and graph go with it."""

    file: Path
    profile: str | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    state: str | None = None  # state store URL; default: settings.state, then SQLite
    graph: str | None = None  # --graph bolt://... overrides the file's graph uri
    pull: PullPolicy | None = None  # --pull overrides every image member's pull policy
    wait: float | None = None  # --wait: seconds to wait for the graph, over the file's
    params_unknown: bool = False  # a watched file before any request: unset params read ""


class Tools:
    def __init__(
        self, environ: Mapping[str, str] | None = None, on_wait: WaitReport | None = None
    ) -> None:
        """``on_wait`` hears while a graph connection waits for its server (the library
        never prints; the CLI renders these)."""
        self.environ = dict(os.environ if environ is None else environ)
        self.on_wait = on_wait

    # -- pipelines and plans -----------------------------------------------------------

    def load(self, source: Source) -> Pipeline:
        pipeline = load_pipeline(
            source.file, profile=source.profile, params=source.params, environ=self.environ,
            params_unknown=source.params_unknown,
        )
        environ = dict(self.environ)
        if source.graph:
            environ["NEO4J_URI"] = source.graph  # --graph wins over the file and NEO4J_URI
        if pipeline.graph or environ.get("NEO4J_URI"):
            from orecart.graph.connect import graph_from_env

            pipeline = replace(pipeline, graph=graph_from_env(pipeline.graph, environ))
            # a password from NEO4J_PASSWORD or --graph is as secret as one in the file
            pipeline = replace(pipeline, secret_values=known_secrets(pipeline))
        if source.wait is not None and pipeline.graph is not None:
            pipeline = replace(pipeline, graph=replace(pipeline.graph, wait=source.wait))
        pull = source.pull or self.environ.get("ORECART_PULL")
        return with_pull(pipeline, _pull_policy(pull)) if pull else pipeline

    def plan(self, source: Source, selection: Selection = Selection()) -> Plan:
        """What a run would do now, member by member (a dry run: nothing is recorded)."""
        from orecart.service.facts import plan_run
        from orecart.service.resources import Resources

        pipeline = self.load(source)
        resources = Resources(open_store(self.state_url(source, pipeline)), self.on_wait)
        try:
            return plan_run(resources, pipeline, selection)
        finally:
            resources.close()

    def run(self, source: Source, options: RunOptions = RunOptions(),
            sinks: Sequence[EventSink] = (), control: RunControl | None = None,
            callback_url: str | None = None) -> Outcome:
        """Run the pipeline once, here (``orecart run``): an in-process service for this
        one file; ``control`` (if given) can interrupt it. The sinks hear a ``Planned``
        event first, then the run's story. Callback deliveries (of this run, or pending
        from earlier ones) are posted meanwhile; at the end, those of this run get
        ``CALLBACK_DRAIN_S``, then stay pending for the next serve. With none to post, the
        deliverer and its HTTP client are never made."""
        from orecart.service.core import OnePipeline, Service, ServiceConfig
        from orecart.service.requests import IN_PROCESS, RunRequest

        pipeline = self.load(source)
        config = ServiceConfig(self.environ, source.state, source.graph, source.pull,
                               source.wait, self.on_wait)
        store = open_store(self.state_url(source, pipeline))
        service = Service(config, OnePipeline(source.file, pipeline), store)
        notes: list[str] = []
        service.deliverer.notice = notes.append
        try:
            service.recover()
            if any(m.container for m in pipeline.members):
                service.reap_containers()
            request = RunRequest(pipeline.name, source.params, source.profile, options=options,
                                 origin=IN_PROCESS, callback_url=callback_url)
            if callback_url is not None or store.pending_deliveries():
                service.deliverer.start()  # its HTTP client costs 0.15 s: only when needed
            outcome = service.run(request, sinks, control, pipeline=pipeline)
            if not service.deliverer.drain([outcome.run.id], CALLBACK_DRAIN_S):
                notes.append("callbacks still pending: the next `orecart serve` on this "
                             "state store delivers them")
            return replace(outcome, notes=[*outcome.notes, *notes])
        finally:
            service.close()

    def state_url(
        self, source: Source, pipeline: Pipeline | None = None, create: bool = True
    ) -> str:
        return self._state_url(source, pipeline.settings if pipeline else None, create)

    def _state_url(self, source: Source, settings: Settings | None, create: bool) -> str:
        if source.state:
            return source.state
        if self.environ.get("ORECART_STATE"):
            return self.environ["ORECART_STATE"]
        if settings is not None and settings.state:
            return settings.state
        return default_state_url(source.file, home_dir(source.file, self.environ), create)

    # -- the queue, as a client ---------------------------------------------------------

    def submit(self, source: Source, request: RunRequest) -> Submitted:
        """Queue ``request`` (for the pipeline of ``source``) in its state store, for a
        ``serve`` to run; serve processes on that store are woken at once."""
        from orecart.service.core import OnePipeline, Service, ServiceConfig, secret_params
        from orecart.service.wake import poke

        pipeline = self.load(replace(source, params=request.params, profile=request.profile))
        held = secret_params(pipeline, request)
        if held:
            raise UsageError(
                f"parameter {', '.join(sorted(held))} holds a secret, and a queued request "
                "never stores one: give it to `orecart serve` through its environment or "
                "the .env file beside the pipeline instead")
        store = open_store(self.state_url(source, pipeline))
        service = Service(ServiceConfig(self.environ), OnePipeline(source.file, pipeline), store)
        try:
            submitted = service.submit(request, pipeline)
            for entry in store.services():
                poke(entry.address)
            return submitted
        finally:
            service.close()

    def cancel(self, source: Source, run_id: str) -> Run:
        """Cancel a run: a queued one ends now; a running one is stopped by its service
        (woken at once) or, for an ``orecart run``, by the next run's recovery if its
        process is gone."""
        from orecart.service.wake import poke

        _, url = self._history_target(source)
        store = open_store(url)
        try:
            run = store.request_cancel(run_id)
            for entry in store.services():
                poke(entry.address)
            return run
        finally:
            store.close()

    def queue(self, source: Source) -> QueueView:
        """The queued and running runs of the state store, and who serves it."""
        with self._store(source) as (_, store):
            running = [r for r in store.runs(None, limit=1000) if r.status is RunStatus.RUNNING]
            return QueueView(store.queued(), running, store.services(), store.leaders())

    def follow(self, source: Source, run_id: str,
               poll: float = 0.2) -> Iterator[tuple[Run, list[RunEvent]]]:
        """The run and its new events, every ``poll`` seconds until it ends (the last pair
        has the ended run), read through one read-only store opened once."""
        cursor = 0
        with self._store(source) as (_, store):
            while True:
                run, events = store.get_run(run_id), store.events(run_id, after=cursor)
                cursor = events[-1].id if events else cursor
                yield run, events
                if run.status.terminal:
                    return
                time.sleep(poll)

    # -- sensors -----------------------------------------------------------------------

    def sensors(self, source: Source) -> list[SensorView]:
        """Each sensor of the file with its state: cursor, last tick, last error."""
        from orecart.service.versions import sensor_views

        pipeline = self.load(replace(source, params_unknown=True))
        with self._store(source) as (_, store):
            return sensor_views(pipeline, store)

    def versions(self, source: Source) -> list[VersionView]:
        """Every version the file's sensors saw, its state and its runs."""
        from orecart.service.versions import version_views

        pipeline = self.load(replace(source, params_unknown=True))
        with self._store(source) as (_, store):
            return version_views(pipeline, store)

    def tick_sensors(self, source: Source) -> list[Ticked]:
        """Every sensor of the file looks once, here, and what it found is queued for
        ``serve`` (woken at once), as a tick of ``serve`` would."""
        from orecart.service.core import OnePipeline, Service, ServiceConfig
        from orecart.service.sensing import tick
        from orecart.service.wake import poke

        pipeline = self.load(replace(source, params_unknown=True))
        store = open_store(self.state_url(source, pipeline))
        service = Service(ServiceConfig(self.environ, state=source.state),
                          OnePipeline(source.file, pipeline), store)
        try:
            ticked = [tick(service, pipeline, sensor) for sensor in pipeline.sensors]
            if any(t.submitted for t in ticked):
                for entry in store.services():
                    poke(entry.address)
            return ticked
        finally:
            service.close()

    # -- graph triggers ----------------------------------------------------------------

    def triggers(self, source: Source) -> list[TriggerView]:
        """Each trigger of the file: pattern, action, cursor and firings by status."""
        from orecart.service.triggerviews import trigger_views

        pipeline = self.load(replace(source, params_unknown=True))
        with self._store(source) as (_, store):
            return trigger_views(pipeline, store)

    def firings(self, source: Source, trigger: str | None = None,
                status: FiringStatus | None = None, limit: int = 50) -> list[Firing]:
        """The file's firings (of one trigger, in one status), newest first."""
        pipeline = self.load(replace(source, params_unknown=True))
        if trigger is not None and trigger not in {t.name for t in pipeline.triggers}:
            known = ", ".join(t.name for t in pipeline.triggers) or "none"
            raise UsageError(f"pipeline {pipeline.name} has no trigger {trigger!r} "
                             f"(triggers: {known})")
        with self._store(source) as (_, store):
            return store.firings(pipeline.name, trigger, status, limit)

    def tick_triggers(self, source: Source) -> list[Polled]:
        """Poll every trigger of the file once, here: fire what is new and take the due
        retries, as ``serve`` would (origin ``tick``)."""
        from orecart.service.core import OnePipeline, Service, ServiceConfig
        from orecart.service.triggering import Context, evaluate

        pipeline = self.load(replace(source, params_unknown=True))
        store = open_store(self.state_url(source, pipeline))
        service = Service(ServiceConfig(self.environ, state=source.state),
                          OnePipeline(source.file, pipeline), store)
        try:
            with self._graph(source, pipeline) as conn:
                return evaluate(Context(service, conn, service.triggers.owner, "tick"),
                                pipeline)
        finally:
            service.close()

    # -- stored queries ----------------------------------------------------------------

    def queries(self, source: Source) -> list[StoredQuery]:
        return list(self.load(replace(source, params_unknown=True)).queries)

    def query(self, source: Source, name: str, texts: Mapping[str, str],
              origin: str = "cli") -> QueryAnswer:
        """Run the stored query ``name`` with ``texts`` converted to their declared types
        (a wrong one is a ``UsageError``), and record the execution."""
        from orecart.service.querying import find_query, run_stored

        pipeline = self.load(replace(source, params_unknown=True))
        stored = find_query(pipeline, name)
        values = stored.values(texts)
        with self._graph(source, pipeline) as conn:
            store = open_store(self.state_url(source, pipeline))
            try:
                return run_stored(store, conn, pipeline, stored, values, origin)
            finally:
                store.close()

    def query_stats(self, source: Source) -> list[QueryStats]:
        """Per query: count, p50, p95, max duration and errors of its executions."""
        from orecart.service.querying import stats_view

        pipeline = self.load(replace(source, params_unknown=True))
        with self._store(source) as (_, store):
            return stats_view(pipeline, store.query_stats(pipeline.name))

    # -- API tokens (orecart.access) ---------------------------------------------------

    def create_token(self, source: Source, scope: Scope, name: str | None = None) -> str:
        """A new API token of ``scope`` in the state store (its digest only): the token,
        which nobody can read again."""
        token = new_token()
        found = ApiToken(name or f"{scope}-{token_hex(3)}", scope, datetime.now(UTC))
        with self._writing(source) as store:
            store.add_token(found, digest(token))
        return token

    def tokens(self, source: Source) -> list[ApiToken]:
        with self._store(source) as (_, store):
            return store.tokens()

    def revoke_token(self, source: Source, name: str) -> None:
        with self._writing(source) as store:
            store.revoke_token(name)

    @contextmanager
    def _writing(self, source: Source) -> Iterator[StateStore]:
        """The state store of ``source`` to write to (made when it is new): --state, or
        the store of the pipeline file."""
        pipeline = None if source.state else self.load(replace(source, params_unknown=True))
        store = open_store(self.state_url(source, pipeline))
        try:
            yield store
        finally:
            store.close()

    # -- history -----------------------------------------------------------------------

    def status(self, source: Source, attempts: bool = True,
               rows: int | None = None) -> RunDetail | None:
        """The latest run in detail (see ``show``); None when the pipeline never ran."""
        with self._store(source) as (pipeline_name, store):
            run = store.latest_run(pipeline_name)
            return None if run is None else _detail(store, run, attempts, rows)

    def runs(self, source: Source, limit: int = 20) -> list[Run]:
        with self._store(source) as (pipeline_name, store):
            return store.runs(pipeline_name, limit)

    def show(self, source: Source, run_id: str, attempts: bool = True,
             rows: int | None = None) -> RunDetail:
        """One run in detail; without its ``attempts`` when the caller shows only the
        member runs (a 10,000-member run's attempts are as many rows again). With
        ``rows``, a run of more member runs lists only the first ``rows`` that did not
        succeed or skip and counts the rest (``RunDetail.unlisted``), in the store."""
        with self._store(source) as (_, store):
            return _detail(store, store.get_run(run_id), attempts, rows)

    def callbacks(self, source: Source, run_id: str) -> list[Delivery]:
        """The callback deliveries of a run, first first."""
        with self._store(source) as (_, store):
            return store.deliveries(run_id)

    def log_files(self, source: Source, run_id: str, member: str | None) -> list[Path]:
        detail = self.show(source, run_id, attempts=False)
        known = [m for m in detail.member_runs if m.log_path]
        if member is not None:
            known = [m for m in known if m.member == member]
            if not known:
                raise NotFoundError(f"run {detail.run.id} has no log for member {member!r}")
        return [Path(m.log_path) for m in known if m.log_path]

    def diff(self, source: Source, run_id: str, other: str | None = None) -> dict[str, Any]:
        """What each member of a run changed in the graph, or how two runs differ."""
        from orecart.graph.diff import compare_runs, member_changes

        with self._store(source) as (_, store):
            first = store.get_run(run_id)
            members = store.member_runs(first.id)
            if other is None:
                changes = [c.to_dict() for c in member_changes(members)]
                return {"run": first.id, "members": changes}
            second = store.get_run(other)
            return compare_runs(members, store.member_runs(second.id))

    # -- images and the graph ----------------------------------------------------------

    def images(self, source: Source) -> list[Any]:
        """Each image member's image, tag, resolved digest and local presence."""
        from orecart.executors.docker import image_report

        pipeline = self.load(source)
        return image_report([m for m in pipeline.members if m.container])

    def backup(self, source: Source, path: Path, progress: Progress | None = None) -> Any:
        from orecart.graph.backup import backup

        with self._graph(source) as conn:
            return backup(conn, path, progress)

    def restore(self, source: Source, path: Path, progress: Progress | None = None,
                force: bool = False) -> Restored:
        """Forget the file's trigger firings and reset their cursors, restore the backup,
        then forget again: the restored graph is judged by what it holds (``Restored``).
        Before, so a serve polling during the restore does not take restored elements
        for new ones; after, for what it fired meanwhile; even with no trigger declared
        now (firings of triggers the file declared before)."""
        from orecart.graph.backup import restore

        pipeline = self.load(source)
        store = open_store(self.state_url(source, pipeline))
        try:
            forgotten = store.forget_restored({pipeline.name})
            with self._graph(source, pipeline) as conn:
                info = restore(conn, path, progress, force=force)
            return Restored(info, forgotten + store.forget_restored({pipeline.name}))
        finally:
            store.close()

    def graph_status(self, source: Source) -> Any:
        from orecart.graph.status import graph_status

        with self._graph(source) as conn:
            return graph_status(conn)

    @contextmanager
    def _graph(self, source: Source, pipeline: Pipeline | None = None) -> Iterator[Any]:
        pipeline = pipeline or self.load(source)
        if pipeline.graph is None:
            raise SpecError(
                f"{source.file}: the pipeline has no graph: add a `graph:` section, "
                "set NEO4J_URI or pass --graph bolt://...", field="graph"
            )
        with _connect(pipeline.graph, self.on_wait) as conn:
            yield conn

    # -- sessions ----------------------------------------------------------------------

    @contextmanager
    def _store(self, source: Source) -> Iterator[tuple[str, StateStore]]:
        """The state store to read history from, opened read-only: history reads never
        write, and a run whose orecart died reads as aborted (``stores.orphans``)."""
        name, url = self._history_target(source)
        store = open_store(url, read_only=True)
        try:
            yield name, store
        finally:
            store.close()

    def _history_target(self, source: Source) -> tuple[str, str]:
        """Pipeline name and state URL: reading history needs neither the file's variables
        and parameters nor, with --state, the file itself (run ids are unique)."""
        if source.state and not source.file.exists():
            return "", source.state
        try:  # the file's name and settings, not its members (``spec.heading``)
            heading = read_heading(source.file, profile=source.profile, params=source.params,
                                   environ=self.environ, params_unknown=source.params_unknown)
        except SpecError:
            return pipeline_name(source.file), self.state_url(source, create=False)
        return heading.name, self._state_url(source, heading.settings, create=False)


def _detail(store: StateStore, run: Run, attempts: bool, rows: int | None) -> RunDetail:
    """``run`` in detail, read from ``store`` (see ``Tools.show``)."""
    if rows is None:
        members, unlisted = store.member_runs(run.id), {}
    else:
        found = store.member_summary(run.id, rows)
        members, unlisted = found.listed, dict(found.unlisted)
    tried = store.attempts(run.id) if attempts else []
    return RunDetail(run, members, tried, store.notifications(run.id), unlisted)


@contextmanager
def _connect(graph: Graph, on_wait: WaitReport | None) -> Iterator[Any]:
    """An open GraphConnection (imported only when a graph is used), closed afterwards."""
    from orecart.graph.connect import GraphConnection

    conn = GraphConnection.open(graph, on_wait=on_wait)
    try:
        yield conn
    finally:
        conn.close()


def home_dir(pipeline_file: Path, environ: Mapping[str, str]) -> Path:
    """Where orecart keeps a pipeline's state and runs: ``ORECART_HOME`` when set (the
    container image sets ``/log``), else ``.orecart/`` beside the pipeline file."""
    home = environ.get("ORECART_HOME")
    if home:
        return Path(home).expanduser().resolve()
    return Path(pipeline_file).resolve().parent / ".orecart"


def runs_dir(pipeline_file: Path, environ: Mapping[str, str]) -> Path:
    """Where artifacts and logs of runs go: ``runs/`` in the home folder."""
    return home_dir(pipeline_file, environ) / "runs"


def with_pull(pipeline: Pipeline, pull: PullPolicy) -> Pipeline:
    """The pipeline with every image member pulling by ``pull`` (Motherlode files have no
    pull key of their own, and their images may live only on this machine)."""
    members = tuple(
        replace(m, container=replace(m.container, pull=pull)) if m.container else m
        for m in pipeline.members
    )
    return replace(pipeline, members=members)


def _pull_policy(value: str) -> PullPolicy:
    try:
        return PullPolicy(value)
    except ValueError:
        known = ", ".join(p.value for p in PullPolicy)
        message = f"ORECART_PULL: unknown pull policy {value!r}; use one of {known}"
        raise UsageError(message) from None
