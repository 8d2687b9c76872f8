"""What the HTTP API asks of a running ``orecart serve``: a thread-safe facade over its
``Service`` and ``Catalog``, in typed values (no HTTP here).

    pipelines() / pipeline(name) / plan(name)   -> the catalog's pipelines and a dry run
    submit(request) / cancel(id) / retry(id, ..) -> queue or stop runs; the loop is woken
    runs(filter) / detail(id) / member(id, m)    -> the history, read from the store
    events(id, after)                            -> a run's event log after a cursor
    log_file / artifacts / artifact / diff       -> what a member run left behind
    sensors / versions / queries / triggers(name) -> the views of the CLI's commands
    metrics()                                    -> the counts ``/metrics`` exposes

The HTTP server's threads call it while the serve loop runs: every call either reads
(the store and catalog are safe to read from any thread) or goes through ``Service``'s
own thread-safe ``submit`` and ``cancel``; ``_asking`` keeps one request at a time in them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import (
    TYPE_CHECKING,  # noqa: I001
    Any,
)

from orecart.access import ApiToken, digest
from orecart.errors import ConflictError, NotFoundError
from orecart.model import Attempt, MemberRun, Pipeline, Run, RunEvent, RunStatus
from orecart.planner import Plan, Selection
from orecart.service.facts import plan_run
from orecart.service.requests import RunDetail, RunRequest, Submitted, from_payload
from orecart.triggering import Firing, Trigger, TriggerCursor

if TYPE_CHECKING:
    from orecart.querying import QueryStats, StoredQuery
    from orecart.service.catalog import Catalog
    from orecart.service.core import Service
    from orecart.service.versions import SensorView, VersionView
    from orecart.stores.listing import Page, RunFilter

#: the origin of a request that came over HTTP
API = "api"


@dataclass(frozen=True)
class MemberDetail:
    member_run: MemberRun
    attempts: list[Attempt]


@dataclass(frozen=True)
class Metrics:
    runs_by_status: dict[str, int]
    queued: int
    running: int
    member_runs: dict[str, int]  # member runs in the store, by status
    runs_by_pipeline: dict[tuple[str, str], int] = field(default_factory=dict)
    deliveries: dict[str, int] = field(default_factory=dict)  # callback deliveries
    firings: dict[str, int] = field(default_factory=dict)  # trigger firings
    leads: tuple[str, ...] = ()  # the kinds of work this serve leads among its store's serves


@dataclass(frozen=True)
class LogState:
    run_id: str
    path: Path | None  # None: no log yet
    ended: bool  # the member run ended (or the run did, before starting it)


@dataclass(frozen=True)
class Artifact:
    name: str  # its path below the member run's artifacts folder, with ``/``
    size: int


@dataclass(frozen=True)
class Retry:
    """How to run a run again: only its failed members, or ``start`` and what follows."""

    only_failed: bool = False
    start: str | None = None


class Served:
    def __init__(self, service: Service, catalog: Catalog, wake: Callable[[], None]) -> None:
        self.service, self.catalog, self._wake = service, catalog, wake
        self._asking = threading.Lock()
        #: what this serve leads among the serves of its store (``recovery``,
        #: ``pipeline:<name>``), read from the serve loop (``Server`` sets it):
        #: ``/healthz`` says how many, ``/metrics`` which
        self.leading: Callable[[], Collection[str]] = frozenset

    @property
    def leads(self) -> frozenset[str]:
        return frozenset(self.leading())

    @property
    def stopping(self) -> bool:
        """serve is stopping: open event streams end, ``/healthz`` says so."""
        return self.service.closing

    def token(self, presented: str) -> ApiToken | None:
        """The token ``presented`` is, by its digest; None: not one the store knows."""
        return self.service.store.token_for(digest(presented))

    # -- pipelines ---------------------------------------------------------------------

    def pipelines(self) -> list[Pipeline]:
        return [entry.pipeline for entry in self.catalog.entries()]

    def pipeline(self, name: str) -> Pipeline:
        return self.catalog.get(name).pipeline

    def plan(self, name: str, selection: Selection = Selection()) -> Plan:
        """What a run of ``name`` would do now (a dry run: nothing is recorded)."""
        return plan_run(self.service.resources, self.pipeline(name), selection)

    # -- asking for runs ---------------------------------------------------------------

    def submit(self, request: RunRequest) -> Submitted:
        """Queue ``request`` (a known key: its run) and wake the serve loop."""
        with self._asking:
            submitted = self.service.submit(request)
        self._wake()
        return submitted

    def cancel(self, run_id: str) -> Run:
        """Cancel a queued or running run; ``ConflictError`` when it had ended."""
        run = self.service.store.get_run(run_id)
        if run.status.terminal:
            raise ConflictError(f"run {run.id} has already ended: {run.status}")
        with self._asking:
            cancelled = self.service.cancel(run.id)
        self._wake()
        return cancelled

    def retry(self, run_id: str, how: Retry) -> Submitted:
        """A new run of an ended run's stored request, for its failed members or from
        ``how.start`` on; ``ConflictError`` while it has not ended or when it needed a
        secret parameter (never stored, so it cannot be asked again here)."""
        run = self.service.store.get_run(run_id)
        if not run.status.terminal:
            raise ConflictError(f"run {run.id} has not ended ({run.status}): nothing to retry")
        request, held = from_payload(run, self.service.store.payload(run.id))
        if held:
            raise ConflictError(f"run {run.id} had the secret parameter(s) "
                                f"{', '.join(held)}, which are never stored: submit it anew")
        names = {m.name for m in self.pipeline(run.pipeline).members}
        if how.start is not None and how.start not in names:
            raise NotFoundError(f"from: pipeline {run.pipeline} has no member {how.start!r}")
        return self.submit(_again(request, how))

    # -- history -----------------------------------------------------------------------

    def runs(self, wanted: RunFilter) -> Page:
        return self.service.store.list_runs(wanted)

    def run(self, run_id: str) -> Run:
        return self.service.store.get_run(run_id)

    def detail(self, run_id: str) -> RunDetail:
        store = self.service.store
        run = store.get_run(run_id)
        # the attempts of retried members, all in one read; the API shows no notifications
        return RunDetail(run, store.member_runs(run.id), store.attempts(run.id, retried=True),
                         [])

    def members(self, run_id: str, offset: int = 0, limit: int | None = None
                ) -> tuple[list[MemberRun], list[Attempt]]:
        """One page of a run's member runs, in plan order, and the attempts of its retried
        members (one read for the run: few are retried)."""
        store = self.service.store
        run_id = store.get_run(run_id).id
        page = store.member_runs(run_id, offset=offset, limit=limit)
        wanted = {m.member for m in page}
        return page, [a for a in store.attempts(run_id, retried=True) if a.member in wanted]

    def member(self, run_id: str, member: str) -> MemberDetail:
        store = self.service.store
        run = store.get_run(run_id)
        for member_run in store.member_runs(run.id, member):  # by key: not the whole run
            return MemberDetail(member_run, store.attempts(run.id, member))
        raise NotFoundError(f"run {run.id} has no member {member!r}")

    def events(self, run_id: str, after: int = 0, limit: int | None = None) -> list[RunEvent]:
        return self.service.store.events(run_id, after=after, limit=limit)

    def metrics(self) -> Metrics:
        """Counts for ``/metrics`` (two grouped SQL counts: a scrape stays cheap however
        long the history grows)."""
        counts = self.service.store.run_counts()
        by_status = {str(s): counts.runs.get(str(s), 0) for s in RunStatus}
        return Metrics(by_status, by_status[str(RunStatus.QUEUED)],
                       len(self.service.running()), dict(counts.member_runs),
                       dict(counts.runs_by_pipeline), dict(counts.deliveries),
                       dict(counts.firings), tuple(sorted(self.leads)))

    # -- what a member run left: its log, its artifacts, its graph changes -------------

    def log_file(self, run_id: str, member: str) -> LogState:
        """Where the member run's log stands (its file as ``orecart logs`` reads it, redacted
        on disk). A member of a run that has not started it yet has no log so far;
        ``NotFoundError`` for one the run will never have."""
        store = self.service.store
        run = store.get_run(run_id)
        found = next(iter(store.member_runs(run.id, member)), None)
        if found is None and (run.status.terminal or not self._has_member(run, member)):
            raise NotFoundError(f"run {run.id} has no member {member!r}")
        path = Path(found.log_path) if found and found.log_path else None
        ended = found.status.terminal if found else run.status.terminal
        return LogState(run.id, path, ended)

    def _has_member(self, run: Run, member: str) -> bool:
        try:
            return any(m.name == member for m in self.pipeline(run.pipeline).members)
        except NotFoundError:
            return False

    def artifacts(self, run_id: str, member: str) -> list[Artifact]:
        """The files below the member run's artifacts folder, by name."""
        folder = self._artifacts_folder(run_id, member)
        if folder is None or not folder.is_dir():
            return []
        files = sorted(p for p in folder.rglob("*") if p.is_file() and _inside(folder, p))
        return [Artifact(p.relative_to(folder).as_posix(), p.stat().st_size) for p in files]

    def artifact(self, run_id: str, member: str, name: str) -> Path:
        """The artifact file ``name``; ``NotFoundError`` for a name that is not one, or
        that leads out of the folder (``..``, an absolute path, a symlink out)."""
        folder = self._artifacts_folder(run_id, member)
        parts = name.split("/")
        if folder is None or name.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise NotFoundError(f"run {run_id} member {member!r} has no artifact {name!r}")
        path = folder.joinpath(*parts)
        if not (_is_file(path) and _inside(folder, path)):
            raise NotFoundError(f"run {run_id} member {member!r} has no artifact {name!r}")
        return path

    def _artifacts_folder(self, run_id: str, member: str) -> Path | None:
        found = self.member(run_id, member).member_run
        return Path(found.artifacts) if found.artifacts else None

    def diff(self, run_id: str, other: str | None = None) -> dict[str, Any]:
        """What each member of a run changed in the graph (``orecart diff``'s view), or
        how two runs differ; ``ConflictError`` when a run recorded no graph changes."""
        from orecart.graph.diff import compare_runs, member_changes

        store = self.service.store
        first = store.get_run(run_id)
        second = store.get_run(other) if other is not None else None  # 404 before 409
        members = _with_graph(first, store.member_runs(first.id))
        if second is None:
            return {"run": first.id, "members": [c.to_dict() for c in member_changes(members)]}
        return compare_runs(members, _with_graph(second, store.member_runs(second.id)))

    # -- a pipeline's sensors, versions, stored queries and triggers -------------------

    def sensors(self, name: str) -> list[SensorView]:
        from orecart.service.versions import sensor_views

        return sensor_views(self.pipeline(name), self.service.store)

    def versions(self, name: str) -> list[VersionView]:
        from orecart.service.versions import version_views

        return version_views(self.pipeline(name), self.service.store)

    def queries(self, name: str) -> list[StoredQuery]:
        return list(self.pipeline(name).queries)

    def query_stats(self, name: str) -> list[QueryStats]:
        from orecart.service.querying import stats_view

        pipeline = self.pipeline(name)
        return stats_view(pipeline, self.service.store.query_stats(pipeline.name))

    def triggers(self, name: str) -> list[TriggerView]:
        """Each trigger of the pipeline, its cursor and its firings by status."""
        pipeline, store = self.pipeline(name), self.service.store
        cursors = {c.trigger: c for c in store.trigger_cursors(pipeline.name)}
        counts = store.firing_counts(pipeline.name)
        return [TriggerView(t, cursors.get(t.name, TriggerCursor(pipeline.name, t.name)),
                            dict(counts.get(t.name, {}))) for t in pipeline.triggers]

    def firings(self, name: str, trigger: str, limit: int = 50) -> list[Firing]:
        pipeline = self.pipeline(name)
        if trigger not in {t.name for t in pipeline.triggers}:
            raise NotFoundError(f"pipeline {pipeline.name} has no trigger {trigger!r}")
        return self.service.store.firings(pipeline.name, trigger, limit=limit)


@dataclass(frozen=True)
class TriggerView:
    trigger: Trigger
    cursor: TriggerCursor
    firings: dict[str, int]  # by status


def _is_file(path: Path) -> bool:
    """False also for a path the OS refuses to look at (a part over 255 bytes)."""
    try:
        return path.is_file()
    except OSError:
        return False


def _inside(folder: Path, path: Path) -> bool:
    """``path`` resolves below ``folder`` (a symlink may not lead out of it)."""
    return path.resolve().is_relative_to(folder.resolve())


def _with_graph(run: Run, members: list[MemberRun]) -> list[MemberRun]:
    if not any(m.delta is not None for m in members):
        raise ConflictError(f"run {run.id} recorded no graph changes (no graph, or no "
                            "member took a snapshot)")
    return members


def _again(request: RunRequest, how: Retry) -> RunRequest:
    selection = request.options.selection
    if how.start is not None:
        selection = replace(selection, start=frozenset({how.start}), only_failed=False)
    else:
        selection = replace(selection, only_failed=how.only_failed)
    options = replace(request.options, selection=selection)
    return replace(request, key=None, origin=API, requeued=0, options=options)
