"""``orecart serve``: the loop that keeps a ``Service`` busy.

    start: register in the store's services table (so clients find this process), recover
           the runs of dead processes (aborted, requests queued again by policy) and
           the trigger firings they carried out (due again)
    every tick (a poll, or at once when a client pokes): reload edited pipeline files
           (keeping the last good version); for each pipeline this serve leads (of
           several serves on a store, one leads each: ``orecart.stores.leaders``),
           submit due schedule ticks and stale members (``max_age``), start due sensor
           looks and submit what finished ones found (``service.sensing``), poll due
           triggers and take their due retries in the trigger thread
           (``service.triggering``); when it leads ``recovery``, recover the runs and
           firings of serves that died on any host; in every serve, stop runs whose
           cancel was asked and dispatch the queue (any serve claims a queued run)
    stop (SIGTERM, SIGINT, SIGHUP): take no new work, give the lead back, give running
           runs their grace period, abort what still runs, leave the services table;
           exit 0
    a state store that fails (its server stopped): stop as above, then exit 1 with the
           error; the next start recovers what was running
"""

from __future__ import annotations

import os
import secrets as token
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from orecart.errors import OrecartError, StateError, UsageError
from orecart.events import Event, MemberFinished, RunFinished, RunStarted
from orecart.model import (
    MemberStatus,
    Pipeline,
    PullPolicy,
    Run,
    Schedule,
    ServiceEntry,
)
from orecart.service.catalog import Catalog, Entry
from orecart.service.core import Service, ServiceConfig
from orecart.service.facts import ledger
from orecart.service.requests import RunRequest
from orecart.service.schedules import Scheduler, due, tick_key, tick_of
from orecart.service.sensing import SensorLoop
from orecart.service.served import Served
from orecart.service.tools import Source, Tools, orecart_version
from orecart.service.triggering import Evaluator, TriggerLoop
from orecart.service.wake import Waker
from orecart.stores import open_store
from orecart.stores.engine import parse_url, redact_url
from orecart.stores.leaders import RECOVERY, pipeline_kind

if TYPE_CHECKING:
    from orecart.graph.waiting import WaitReport

#: The longest pause of the loop: what another process asked (a queued run, a cancel) is
#: seen at least this often even when its wake-up datagram was lost.
POLL_S = 0.25
RELOAD_S = 1.0  # how often edited pipeline files are looked for
STALE_S = 60.0  # how often members with a max_age are judged
RECOVER_S = 1.0  # how often the leader looks for runs and firings of dead serves
#: How long the locks, leases, services row and lead of a serve on a server store
#: (PostgreSQL) outlive its last heartbeat (beats come every quarter of it): a serve
#: killed on any host is replaced, and its running runs judged aborted, this long after
#: its death. A SQLite store is on one host, where a dead serve's rows are judged by its
#: pid at once: it keeps the store's default (60 s), robust to a store busy for seconds.
TTL_S = 4.0
SCHEDULE = "schedule"
MAX_AGE = "max_age"

Notice = Callable[[str], None]


class Server:
    def __init__(self, service: Service, catalog: Catalog, notice: Notice,
                 scheduler: Scheduler | None = None, poll: float = POLL_S,
                 state_file: Path | None = None) -> None:
        self.service, self.catalog, self.notice = service, catalog, notice
        self.state_file = StateFile(state_file)
        self.scheduler = scheduler or Scheduler()
        self.poll = poll
        self.stopping = False  # set by ``stop``: take no new work, end the loop
        self.leads: set[str] = set()  # the kinds of work this serve leads among serves
        self.aborting = False  # set by ``stop(now=True)``: no grace period either
        self.id = f"serve-{service.host}-{service.pid}-{token.token_hex(3)}"
        self._waker = Waker()
        now = datetime.now(UTC)
        #: this serve in the store's services table (``serve`` registers it)
        self.entry = ServiceEntry(self.id, service.host, os.getpid(), self._waker.address,
                                  orecart_version(), now, now)
        service.on_run_end = self._waker.wake  # the next queued run starts at once
        service.on_problem = lambda message: notice(f"error: {message}")
        self._last_tick: dict[str, datetime] = {}
        self._next: dict[str, float] = {}  # periodic work -> monotonic time it is due
        self.sensors = SensorLoop(service, notice)
        #: what the HTTP API (``serve --http``) calls, from its own threads
        self.served = Served(service, catalog, self._waker.wake)
        self.served.leading = lambda: self.leads
        service.triggers = Evaluator(service, self.id, "serve", notice)
        self.triggers = TriggerLoop(service.triggers)

    # -- the loop ----------------------------------------------------------------------

    def serve(self) -> None:
        """Serve until ``stop()``; then shut down gracefully."""
        self.service.store.register_service(self.entry)
        try:
            self._recover()
            while not self.stopping:
                self.tick()
                self._waker.wait(self.poll)
        finally:
            self._resign()
            self._shutdown()
            self._leave()

    def _resign(self) -> None:
        """Give the lead back as serve stops: another serve leads at its next tick, not
        only once the lead expires."""
        if not self.leads:
            return
        try:
            self.service.store.resign(self.leads)
        except OrecartError as exc:
            self.notice(f"error: the lead not given back (it expires): {exc}")
        self.leads = set()

    def _leave(self) -> None:
        """Leave the services table and close what serve holds, even when the store is
        gone (serve then exits with the error that stopped it)."""
        try:
            self.service.store.unregister_service(self.id)
        except OrecartError as exc:
            self.notice(f"error: not removed from the services table: {exc}")
        finally:
            self._waker.close()
            self.service.close()

    def stop(self, now: bool = False) -> None:
        """Take no new work and end the loop; ``now``: abort the runs still going instead
        of giving them their grace period. Safe in a signal handler: it only sets flags
        and wakes the loop, taking no lock the interrupted thread may hold."""
        self.service.closing = True
        self.stopping = True
        self.aborting = self.aborting or now
        self._waker.wake()  # the loop ends now, not at its next poll

    def _shutdown(self) -> None:
        """Give running runs the grace period (cut short by ``stop(now=True)``), then
        abort what still runs and wait for its records."""
        grace = self.service.config.grace
        self.notice(f"stopping: {len(self.service.running())} run(s) still running get "
                    f"{grace:g} s")
        deadline = time.monotonic() + grace
        while self.service.running() and not self.aborting:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._waker.wait(min(self.poll, left))
        if self.aborting and self.service.running():
            self.notice("stopping now: aborting the runs still running")
        self.service.shutdown(grace=0)

    def tick(self) -> None:
        if self._due("reload", RELOAD_S):
            self.state_file.check()
            self._reload()
        self._lead()
        self._lead_tick([e.pipeline for e in self.catalog.entries()
                         if pipeline_kind(e.pipeline.name) in self.leads])
        self.service.apply_cancels()
        self.service.dispatch()

    def _lead_tick(self, led: list[Pipeline]) -> None:
        """What one serve of several does: each is keyed in the store too (run keys,
        cursors, firing claims), so a moment of two leaders wastes, never doubles. The
        looks of sensors no longer led are still settled."""
        if RECOVERY in self.leads and self._due("recover", RECOVER_S):
            self._recover()
        self._schedules(led)
        self.sensors.tick(led)
        self.triggers.tick(led)
        if self._due("stale", self._stale_every()):
            self._stale(led)

    def _lead(self) -> None:
        """Take the leads that are free (``recovery``, each served pipeline's), give back
        those of pipelines no longer served; a change is noticed, and the schedule of a
        pipeline led anew reads its last tick from the store."""
        store, served = self.service.store, self.catalog.entries()
        kinds = {RECOVERY, *(pipeline_kind(e.pipeline.name) for e in served)}
        if self.leads - kinds:
            store.resign(self.leads - kinds)
        leads = store.lead(kinds, self.entry)
        for entry in served:
            if pipeline_kind(entry.pipeline.name) in leads - self.leads:
                self._last_tick.pop(entry.pipeline.name, None)  # another may have ticked
        if leads - self.leads:
            self.notice(f"leading: {', '.join(sorted(leads - self.leads))}")
        lost = (self.leads & kinds) - leads  # still wanted, but another serve took them
        if lost:
            self.notice(f"no longer leading: {', '.join(sorted(lost))}")
        self.leads = leads

    def _recover(self) -> None:
        for run in self.service.recover():
            self.notice(f"run {run.id} of {run.pipeline}: queued again (its orecart "
                        "died while it ran)")

    def _due(self, work: str, every: float) -> bool:
        now = time.monotonic()
        if now < self._next.get(work, 0.0):
            return False
        self._next[work] = now + every
        return True

    # -- pipelines ---------------------------------------------------------------------

    def _reload(self) -> None:
        refreshed = self.catalog.refresh()
        for name in refreshed.loaded:
            self.notice(f"pipeline {name}: loaded")
        for name in refreshed.removed:
            self.notice(f"pipeline {name}: its file is gone; no longer served")
        for problem in refreshed.errors:
            self.notice(f"error: {problem.error} (the last good version, if any, is kept)")

    # -- schedules and max_age ---------------------------------------------------------

    def _schedules(self, led: Sequence[Pipeline]) -> None:
        schedules = {p.name: p.schedule for p in led if p.schedule is not None}
        now = self.scheduler.now()
        for name, schedule in schedules.items():
            tick = due(schedule, self._last(name, schedule), now)
            if tick is None:
                continue
            self._last_tick[name] = tick
            self._submit(RunRequest(name, key=tick_key(tick), origin=SCHEDULE),
                         f"schedule tick {tick.isoformat()}")

    def _last(self, name: str, schedule: Schedule) -> datetime:
        """The last tick of ``name`` that got a run: remembered, else read from the store
        (a restart after missed ticks then runs once), else now (never ticked)."""
        if name not in self._last_tick:
            self._last_tick[name] = self._stored_tick(name) or self.scheduler.reference()
        return self._last_tick[name]

    def _stored_tick(self, name: str) -> datetime | None:
        for run in self.service.store.runs(name, limit=100):
            if run.origin == SCHEDULE and run.key and run.key.startswith(f"{SCHEDULE}:"):
                return tick_of(run.key)
        return None

    def _stale_every(self) -> float:
        """How often max_age is judged: every ``STALE_S``, or as often as the shortest
        max_age asks (a ``max_age: 5s`` member is not left stale for a minute)."""
        ages = [m.max_age for e in self.catalog.entries() for m in e.pipeline.members
                if m.max_age]
        return max(self.poll, min([STALE_S, *ages]))

    def _stale(self, led: Sequence[Pipeline]) -> None:
        """Submit a run for each pipeline with a member whose last success is older than
        its ``max_age`` (once per success: a run that fails is not retried every minute)."""
        for pipeline in led:
            if any(m.max_age for m in pipeline.members):
                self._stale_in(pipeline)

    def _stale_in(self, pipeline: Pipeline) -> None:
        try:
            successes = ledger(self.service.resources, pipeline).successes(pipeline.name)
        except OrecartError as exc:
            self.notice(f"pipeline {pipeline.name}: max_age not judged: {exc}")
            return
        now = datetime.now(UTC)
        for member in pipeline.members:
            success = successes.get(member.name)
            if member.max_age is None or success is None:
                continue
            ended = success.finished_at or success.started_at
            if ended is None or now - ended <= timedelta(seconds=member.max_age):
                continue
            key = f"max-age:{member.name}:{success.run_id}"
            if self.service.store.run_for_key(pipeline.name, key) is None:
                self._submit(RunRequest(pipeline.name, key=key, origin=MAX_AGE),
                             f"{member.name}'s last success is older than its max_age")
                return  # one run refreshes every stale member of the pipeline

    def _submit(self, request: RunRequest, why: str) -> None:
        try:
            submitted = self.service.submit(request)
        except OrecartError as exc:
            self.notice(f"error: pipeline {request.pipeline}: cannot queue ({why}): {exc}")
            return
        if submitted.created:
            self.notice(f"run {submitted.run.id} of {request.pipeline}: queued ({why})")


def open_server(paths: Sequence[Path], state: str | None, graph: str | None,
                pull: PullPolicy | None, wait: float | None, grace: float, requeue: int,
                notice: Notice, on_wait: WaitReport | None = None) -> Server:
    """The server of ``orecart serve PATHS``: its catalog loaded, its store opened."""
    tools = Tools(on_wait=on_wait)
    catalog = Catalog(list(paths), lambda path: tools.load(
        Source(path, state=state, graph=graph, pull=pull, wait=wait, params_unknown=True)))
    refreshed = catalog.refresh()
    for problem in refreshed.errors:
        notice(f"error: {problem.error}")
    entries = catalog.entries()
    if not entries:
        raise UsageError("nothing to serve: no pipeline file loaded from "
                         + ", ".join(str(p) for p in paths))
    url = _one_state(tools, entries, state)
    config = ServiceConfig(dict(os.environ), state, graph, pull, wait, on_wait, grace, requeue)
    store = open_store(url, lease_ttl=None if _on_sqlite(url) else TTL_S)
    service = Service(config, catalog, store)
    service.run_sinks = lambda run: [ServeLog(notice)]
    service.deliverer.notice = notice
    service.deliverer.start()
    server = Server(service, catalog, notice, state_file=store.path)
    names = ", ".join(sorted(e.pipeline.name for e in entries))
    notice(f"serving {len(entries)} pipeline(s): {names}; state {redact_url(url)}")
    return server


def _on_sqlite(url: str) -> bool:
    return parse_url(url).get_backend_name() == "sqlite"


def _one_state(tools: Tools, entries: Sequence[Entry], state: str | None) -> str:
    """The one state store every served pipeline shares."""
    urls = {tools.state_url(Source(e.file, state=state), e.pipeline) for e in entries}
    if len(urls) > 1:
        raise UsageError("the pipelines keep their state in different stores ("
                         + ", ".join(sorted(redact_url(u) for u in urls))
                         + "): serve them with one --state URL (or ORECART_STATE)")
    return urls.pop()


class StateFile:
    """The SQLite file of serve's state store. Deleted or replaced under a running serve,
    it would leave serve working on a file no client sees any more (the next ``submit``
    starts a new one), so serve stops instead: a restart opens the file clients use."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._seen = self._identity()  # the file as serve opened it (before it says so)

    def check(self) -> None:
        if self.path is not None and self._identity() != self._seen:
            raise StateError(f"state store {self.path}: the file was removed or replaced "
                             "while serve ran; start serve again to serve the file clients "
                             "use now")

    def _identity(self) -> tuple[int, int] | None:
        if self.path is None:
            return None
        try:
            found = self.path.stat()
        except FileNotFoundError:
            return None
        return found.st_dev, found.st_ino


class ServeLog:
    """The serve log's lines of a run: its start, failed members, and its end."""

    def __init__(self, notice: Notice) -> None:
        self.notice = notice

    def emit(self, event: Event) -> None:
        match event:
            case RunStarted(run):
                self.notice(f"run {run.id} of {run.pipeline}: started{_keyed(run)}")
            case MemberFinished(member_run) if member_run.status in _BAD:
                why = f": {member_run.error}" if member_run.error else ""
                self.notice(f"run {member_run.run_id}: member {member_run.member} "
                            f"{member_run.status}{why}")
            case RunFinished(run):
                why = f": {run.error}" if run.error else ""
                self.notice(f"run {run.id} of {run.pipeline}: {run.status}{why}")


_BAD = frozenset({MemberStatus.FAILED, MemberStatus.ERRORED, MemberStatus.ABORTED})


def _keyed(run: Run) -> str:
    return f" (key {run.key})" if run.key else ""
