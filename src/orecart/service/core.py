"""The long-lived service: built once from a frozen config, it owns one state store, the
executors and the graph connections, and every run goes through it.

    submit(request) -> a queued run (its key deduplicates, in one store transaction)
    dispatch()      -> for the head of each pipeline's queue (FIFO per pipeline): a worker
                       thread takes the pipeline's lock and a slot of its graph target
                       (``settings.max_runs``, default 1), claims the run, executes it
    run(request)    -> the in-process path of ``orecart run``: lock, submit, execute here
    cancel(run)     -> a queued run ends ``cancelled``; a running one is stopped, members
                       aborted, the run ``cancelled`` (another process asks via the store)
    wait, events    -> a run's end; its persisted, replayable event log
    recover()       -> runs of dead processes aborted, their containers removed, and
                       their requests queued again by policy (``requeue``)
"""

from __future__ import annotations

import os
import secrets as token
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from orecart.callbacks import SECRET_ENV, CallbackSettings, check_url
from orecart.control import RunControl
from orecart.errors import (
    LOST_LOCK,
    LockedError,
    NotFoundError,
    OrecartError,
    SpecError,
    StateError,
)
from orecart.events import EventSink, RunFinished
from orecart.hooks import HookSet
from orecart.model import Pipeline, PullPolicy, Run, RunEvent, RunStatus
from orecart.recorder import Recorder
from orecart.runner import Runner
from orecart.secrets import masked_env
from orecart.service.callbacks import Deliverer
from orecart.service.execution import Job, execute
from orecart.service.requests import (
    IN_PROCESS,
    Outcome,
    RunRequest,
    Submitted,
    from_payload,
    to_payload,
)
from orecart.service.resources import Resources, graph_target
from orecart.service.tools import Source, Tools, orecart_version, runs_dir
from orecart.service.triggering import (
    RUN_WAIT_S,
    Evaluator,
    Pokes,
    recover_firings,
    run_owner,
)
from orecart.stores import Holder, StateStore

if TYPE_CHECKING:
    from orecart.graph.waiting import WaitReport

#: How often a waiter that is not the run's own process reads the store for its end.
WAIT_POLL_S = 0.1
#: A pipeline whose queue head could not start (its lock or graph slot taken elsewhere)
#: is tried again after this long, or at the next release here.
RETRY_S = 0.5
#: How often a run of ``orecart run`` reads the store for a cancel asked by another process.
CANCEL_POLL_S = 0.5


@dataclass(frozen=True)
class ServiceConfig:
    """What a service is built from; frozen for its life."""

    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    state: str | None = None  # the state store URL (--state); else ORECART_STATE, the file's
    graph: str | None = None  # --graph: every pipeline's graph URI
    pull: PullPolicy | None = None  # --pull: every image member's pull policy
    wait: float | None = None  # --wait: seconds to wait for a graph server
    on_wait: WaitReport | None = None  # hears while a graph connection waits
    grace: float = 60.0  # on shutdown, how long running runs may go on before they abort
    requeue: int = 1  # how often a request whose run was aborted (its orecart died) is queued again


class Entry(Protocol):
    """A pipeline the service can run: its file, the version loaded last and its hooks."""

    @property
    def file(self) -> Path: ...
    @property
    def pipeline(self) -> Pipeline: ...
    @property
    def hooks(self) -> HookSet: ...
    @property
    def error(self) -> str | None: ...  # the file's newest edit does not load: this error


class Pipelines(Protocol):
    """The pipelines a service knows, by name (``orecart.service.catalog.Catalog``)."""

    def get(self, name: str) -> Entry: ...


@dataclass(frozen=True)
class OnePipeline:
    """The pipelines of an in-process service: the one file ``orecart run`` was given."""

    file: Path
    pipeline: Pipeline
    error: str | None = None

    @cached_property
    def hooks(self) -> HookSet:
        return HookSet.load(self.pipeline)

    def get(self, name: str) -> OnePipeline:
        if name != self.pipeline.name:
            raise NotFoundError(f"pipeline {name!r} is not {self.pipeline.name!r} ({self.file})")
        return self


@dataclass
class _Active:
    """A run this service is starting or executing."""

    run_id: str
    pipeline: str
    done: threading.Event = field(default_factory=threading.Event)
    runner: Runner | None = None
    outcome: Outcome | None = None
    started: bool = False  # claimed: its worker executes it


class Service:
    def __init__(self, config: ServiceConfig, pipelines: Pipelines, store: StateStore) -> None:
        self.config = config
        self.pipelines = pipelines
        self.resources = Resources(store, config.on_wait)
        self.store = store
        self.tools = Tools(config.environ, config.on_wait)
        self.host, self.pid = socket.gethostname(), os.getpid()
        self._active: dict[str, _Active] = {}  # by pipeline name
        self._held: dict[str, dict[str, str]] = {}  # run id -> secret params, memory only
        self._not_before: dict[str, float] = {}  # pipeline -> when to try its head again
        self._guard = threading.Lock()
        self._wake = threading.Event()  # set when a run ends here: dispatch again
        #: called from the worker when a run ends here (or could not start): the serve
        #: loop dispatches the next one at once instead of at its next poll
        self.on_run_end: Callable[[], None] = _nothing
        self.closing = False
        #: sinks for every run this service dispatches (``serve``'s log), beside the
        #: caller's own in the in-process path
        self.run_sinks: Callable[[Run], Sequence[EventSink]] | None = None
        #: hears what went wrong in a worker (a state store gone while it recorded)
        self.on_problem: Callable[[str], None] | None = None
        #: posts the callback deliveries of status changes; serve and ``orecart run``
        #: start it
        self.deliverer = Deliverer(store, CallbackSettings.of(config.environ),
                                   config.environ.get(SECRET_ENV))
        #: evaluates the graph triggers after members end (``serve`` sets its own owner)
        self.triggers = Evaluator(self, run_owner(self.host, self.pid), IN_PROCESS,
                                  self._problem)
        store.on_lost(self._lost)

    def _lost(self, run_id: str) -> None:
        """Another serve took over the lock of run ``run_id`` (this process could not renew
        it in time) and aborted it: stop it here, its members with it."""
        with self._guard:
            runners = [a.runner for a in self._active.values()
                       if a.run_id == run_id and a.runner is not None]
        for runner in runners:
            runner.lose(LOST_LOCK)

    # -- requests ----------------------------------------------------------------------

    def load(self, request: RunRequest) -> Pipeline:
        """The pipeline of ``request``: its file loaded with the request's parameters and
        profile (a bad parameter is a SpecError here, before anything is queued). While the
        file holds a broken edit, a request without either runs the catalog's last good
        version."""
        entry = self.pipelines.get(request.pipeline)
        source = Source(entry.file, request.profile, request.params, self.config.state,
                        self.config.graph, self.config.pull, self.config.wait)
        try:
            pipeline = self.tools.load(source)
        except SpecError:
            if request.params or request.profile is not None or entry.error is None:
                raise
            return entry.pipeline
        if pipeline.name != request.pipeline:
            raise SpecError(f"{entry.file}: is now pipeline {pipeline.name!r}, not "
                            f"{request.pipeline!r}", field="pipeline")
        return pipeline

    def submit(self, request: RunRequest, pipeline: Pipeline | None = None) -> Submitted:
        """Queue a run of ``request``; with a known key, the key's run instead."""
        return self._enqueue(pipeline or self.load(request), request, _new_run_id())

    def _enqueue(self, pipeline: Pipeline, request: RunRequest, run_id: str) -> Submitted:
        if request.callback_url is not None:
            check_url(request.callback_url, "callback_url")
        masked = masked_env(pipeline.params, pipeline.secrets, pipeline.secret_values)
        run = self._new_run(pipeline, request, run_id, masked)
        held = secret_params(pipeline, request, masked)
        if held:
            self._held[run_id] = {name: request.params[name] for name in held}
        queued, created = self.store.enqueue(run, to_payload(request, held))
        if not created:
            self._held.pop(run_id, None)
        self.deliverer.wake()
        return Submitted(queued, created)

    def _new_run(self, pipeline: Pipeline, request: RunRequest, run_id: str,
                 masked: Mapping[str, str]) -> Run:
        return Run(
            id=run_id,
            pipeline=pipeline.name,
            status=RunStatus.QUEUED,
            source=str(pipeline.source),
            params=dict(masked),
            profile=pipeline.profile,
            version=orecart_version(),
            key=request.key,
            origin=request.origin,
            labels=dict(request.labels),
        )

    # -- the in-process path -----------------------------------------------------------

    def run(self, request: RunRequest, sinks: Sequence[EventSink] = (),
            control: RunControl | None = None, pipeline: Pipeline | None = None) -> Outcome:
        """Run ``request`` here, now, in this thread (``orecart run``): the pipeline's lock
        first (``LockedError`` while another run has it: nothing is queued then), a slot of
        its graph target (waiting while the target is full), then submit and execute."""
        pipeline = pipeline or self.load(request)
        holder = Holder(_new_run_id(), self.pid, self.host)
        self.store.lock(pipeline.name, holder)
        try:
            with self._graph_slot(pipeline, holder, block=True):
                submitted = self._enqueue(pipeline, request, holder.run_id)
                if not submitted.created:
                    return self.outcome(submitted.run)
                claimed = self.store.claim(holder.run_id, holder)
                if claimed is None:  # cancelled between its submit and now
                    return self.outcome(self.store.get_run(holder.run_id))
                outcome = self._execute_here(pipeline, claimed, request, sinks, control)
        finally:
            self.store.unlock(pipeline.name, holder)
            self._held.pop(holder.run_id, None)
        return self._triggered(outcome)

    def _triggered(self, outcome: Outcome) -> Outcome:
        """Wait (at most ``RUN_WAIT_S``) for the trigger evaluations the run poked, so a
        run's triggers fire in ``orecart run`` as in ``serve``."""
        ended, notes = self.triggers.wait_run(outcome.run.id, RUN_WAIT_S)
        if not ended:
            notes.append(f"triggers still evaluated after {RUN_WAIT_S:g}s: left to the "
                         "next `orecart triggers --tick` or `orecart serve`")
        return replace(outcome, notes=[*outcome.notes, *notes]) if notes else outcome

    def _execute_here(self, pipeline: Pipeline, run: Run, request: RunRequest,
                      sinks: Sequence[EventSink], control: RunControl | None) -> Outcome:
        active = _Active(run.id, pipeline.name)
        with self._guard:
            self._active.setdefault(pipeline.name, active)
        threading.Thread(target=self._watch_cancel, args=(active,), daemon=True,
                         name=f"orecart-cancel-{run.id}").start()
        try:
            return self._execute(pipeline, run, request, active, sinks, control)
        finally:
            with self._guard:
                if self._active.get(pipeline.name) is active:
                    del self._active[pipeline.name]

    def _execute(self, pipeline: Pipeline, run: Run, request: RunRequest, active: _Active,
                 sinks: Sequence[EventSink] = (), control: RunControl | None = None) -> Outcome:
        """Execute a claimed run; ``execute`` records it whatever happens."""
        extra = [*(self.run_sinks(run) if self.run_sinks else ()),
                 *([Pokes(self.triggers, pipeline, run.id)]
                   if pipeline.graph is not None and pipeline.triggers else [])]
        job = Job(pipeline, run, request.options, runs_dir(pipeline.source,
                  self.config.environ), self.config.environ, self._hooks(pipeline),
                  [*sinks, *extra], request.scheduled)
        active.started = True

        def attach(runner: Runner) -> None:
            active.runner = runner
            if control is not None:
                control.attach(runner)
            if self.resources.stopping.is_set():  # shutdown past its grace: abort
                runner.interrupt()
            elif self.store.cancel_requested([run.id]):  # asked before now
                runner.cancel()

        try:
            outcome = active.outcome = execute(self.resources, job, attach)
        finally:
            active.done.set()
        return outcome

    def _watch_cancel(self, active: _Active) -> None:
        """While a run of ``orecart run`` goes, stop it once ``orecart cancel`` asks
        (another process: only the store tells), within ``CANCEL_POLL_S``."""
        while not active.done.wait(CANCEL_POLL_S):
            try:
                asked = self.store.cancel_requested([active.run_id])
            except StateError:
                continue  # a busy store: ask again at the next poll
            if asked and active.runner is not None:
                active.runner.cancel()
                return

    def _hooks(self, pipeline: Pipeline) -> HookSet:
        """The hooks of the pipeline's version in the catalog (imported once), or of this
        exact version when a request's parameters changed what ``hooks:`` says."""
        entry = self.pipelines.get(pipeline.name)
        if entry.pipeline.hooks == pipeline.hooks:
            return entry.hooks
        return HookSet.load(pipeline)

    # -- the queue ---------------------------------------------------------------------

    def queue(self) -> list[Run]:
        """The queued runs, oldest request first."""
        return self.store.queued()

    def dispatch(self) -> list[str]:
        """Start a worker for the head of each pipeline's queue that may start now; the
        run ids tried. The serve loop calls this on every tick."""
        if self.closing:
            return []
        now, tried = time.monotonic(), []
        for run in self.store.queue_heads():  # FIFO per pipeline: only its oldest may start
            if not self._serves(run.pipeline):
                continue  # another service's (a shared store), or a file not served here
            with self._guard:
                if run.pipeline in self._active or self._not_before.get(run.pipeline, 0) > now:
                    continue
                active = self._active[run.pipeline] = _Active(run.id, run.pipeline)
            threading.Thread(target=self._work, args=(run, active), daemon=True,
                             name=f"orecart-run-{run.id}").start()
            tried.append(run.id)
        return tried

    def _serves(self, name: str) -> bool:
        try:
            self.pipelines.get(name)
        except NotFoundError:
            return False
        return True

    def _work(self, run: Run, active: _Active) -> None:
        """A worker: start ``run`` if its lock and graph slot can be had now, else leave it
        queued for a later dispatch. What goes wrong is reported (``on_problem``), never
        raised into the thread's last-resort handler."""
        try:
            self._start(run, active)
        except Exception as exc:  # noqa: BLE001 - a worker's end must not be a traceback
            why = str(exc) if isinstance(exc, OrecartError) else f"internal error: {exc!r}"
            self._problem(f"run {run.id} of {run.pipeline}: {why}")
        finally:
            with self._guard:
                if self._active.get(active.pipeline) is active:
                    del self._active[active.pipeline]
                if not active.started:
                    self._not_before[active.pipeline] = time.monotonic() + RETRY_S
                else:
                    self._not_before.pop(active.pipeline, None)
            active.done.set()
            self._wake.set()
            self.on_run_end()

    def _problem(self, message: str) -> None:
        if self.on_problem is not None:
            self.on_problem(message)

    def _start(self, run: Run, active: _Active) -> None:
        holder = Holder(run.id, self.pid, self.host)
        try:
            entry_request = self._request_of(run)
        except OrecartError as exc:
            self._claim_and_fail(run, holder, active, str(exc))
            return
        request, pipeline = entry_request
        try:
            self.store.lock(pipeline.name, holder)
        except LockedError:
            return
        try:
            with self._graph_slot(pipeline, holder, block=False) as slot:
                if not slot:
                    return
                claimed = None if self.closing else self.store.claim(run.id, holder)
                if claimed is None:
                    return  # claimed elsewhere, cancelled, or this service is stopping
                self._execute(pipeline, claimed, request, active)  # raises what ended it
                # before its runner (recorded by ``execute``; ``_work`` reports it)
        finally:
            self.store.unlock(pipeline.name, holder)
            self._held.pop(run.id, None)

    def _request_of(self, run: Run) -> tuple[RunRequest, Pipeline]:
        """The stored request of a queued run with its held secrets, and its pipeline."""
        request, held = from_payload(run, self.store.payload(run.id))
        secrets = self._held.get(run.id, {})
        missing = [name for name in held if name not in secrets]
        if missing:
            raise SpecError(
                f"parameter {', '.join(missing)} held a secret, and secrets are never "
                "stored: the service that took the request is gone; submit it again")
        request = replace(request, params={**request.params, **secrets})
        return request, self.load(request)

    def _claim_and_fail(self, run: Run, holder: Holder, active: _Active, error: str) -> None:
        """A queued run that cannot run at all (its file is broken now, its secret gone):
        claimed and recorded failed, so the queue moves on."""
        claimed = self.store.claim(run.id, holder)
        if claimed is None:
            return
        active.started = True
        ended = replace(claimed, status=RunStatus.FAILED, error=error,
                        finished_at=datetime.now(UTC))
        Recorder(self.store).emit(RunFinished(ended))

    # -- graph slots -------------------------------------------------------------------

    class _Slot:
        def __init__(self, service: Service, pool: str | None, holder: Holder) -> None:
            self.service, self.pool, self.holder, self.taken = service, pool, holder, False

        def __enter__(self) -> bool:
            return self.taken or self.pool is None

        def __exit__(self, *exc: object) -> None:
            if self.pool is not None and self.taken:
                self.service.store.release(self.pool, self.holder)

    def _graph_slot(self, pipeline: Pipeline, holder: Holder, block: bool) -> Service._Slot:
        """A slot of the pipeline's graph target (``settings.max_runs`` runs at a time per
        target), for the ``with`` block; with ``block`` it waits for one."""
        if pipeline.graph is None:
            return Service._Slot(self, None, holder)
        pool = f"graph:{graph_target(pipeline.graph)}"
        slot = Service._Slot(self, pool, holder)
        limit = max(1, getattr(pipeline.settings, "max_runs", 1))
        slot.taken = self.store.lease(pool, limit, holder)
        while block and not slot.taken:
            try:  # released by a run here, or polled for releases elsewhere
                self.store.released().result(timeout=0.25)
            except TimeoutError:
                pass
            slot.taken = self.store.lease(pool, limit, holder)
        return slot

    # -- cancel, wait, events ----------------------------------------------------------

    def cancel(self, run_id: str) -> Run:
        """Cancel a run: a queued one ends at once; a running one here is stopped now, one
        elsewhere when its service next reads the store (within its poll)."""
        run = self.store.request_cancel(run_id)
        self.apply_cancels([run.id])
        return self.store.get_run(run.id)

    def apply_cancels(self, run_ids: Sequence[str] | None = None) -> None:
        """Stop the runs here whose cancel was asked (by this process or another)."""
        with self._guard:
            running = {a.run_id: a for a in self._active.values() if a.runner is not None}
        wanted = set(running) if run_ids is None else set(run_ids) & set(running)
        for run_id in self.store.cancel_requested(sorted(wanted)) if wanted else ():
            runner = running[run_id].runner
            if runner is not None:
                runner.cancel()
        self._forget_cancelled()

    def _forget_cancelled(self) -> None:
        """Drop the held secrets of queued runs cancelled before they started (here or by
        another process): no worker will pop them, and a service lives long."""
        with self._guard:
            here = {a.run_id for a in self._active.values()}
        waiting = [run_id for run_id in list(self._held) if run_id not in here]
        for run_id in self.store.cancel_requested(waiting) if waiting else ():
            self._held.pop(run_id, None)

    def wait(self, run_id: str, timeout: float | None = None) -> Outcome | None:
        """The outcome of the run once it is over (None when ``timeout`` ran out)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            run = self.store.get_run(run_id)
            if run.status.terminal:
                return self.outcome(run)
            if deadline is not None and time.monotonic() >= deadline:
                return None
            time.sleep(WAIT_POLL_S)

    def outcome(self, run: Run) -> Outcome:
        return Outcome(run, self.store.member_runs(run.id))

    def events(self, run_id: str, after: int = 0) -> list[RunEvent]:
        """The run's event log after the cursor ``after`` (an event id), in order."""
        return self.store.events(run_id, after=after)

    def running(self) -> list[str]:
        """The ids of the runs this service executes now."""
        with self._guard:
            return [a.run_id for a in self._active.values() if a.started]

    def idle_wait(self, timeout: float) -> None:
        """Sleep until a run here ends or ``timeout`` passes (the serve loop's pause)."""
        self._wake.wait(timeout)
        self._wake.clear()

    # -- recovery and shutdown ---------------------------------------------------------

    def recover(self) -> list[Run]:
        """Abort the runs of dead orecart processes on this host, remove their containers
        and queue their requests again (at most ``config.requeue`` times each); make the
        trigger firings of dead processes due again (``recover_firings``, noticed); the
        runs queued again."""
        firings = recover_firings(self, {self.triggers.owner})
        if firings:
            self.triggers.notice(f"{firings} trigger firing(s) due again (their orecart "
                                 "died while it carried them out)")
        aborted = self.store.recover(self.host)
        again = []
        for run in aborted:
            requeued = self._requeue(run)
            if requeued is not None:
                again.append(requeued)
        return again

    def reap_containers(self) -> None:
        """Remove containers that runs this store knows to be over left behind."""
        def alive(run_id: str) -> bool:
            """Only runs this store knows to be over are dead: a container of a run
            recorded elsewhere (another pipeline folder, another store) is not ours."""
            try:
                return not self.store.get_run(run_id).status.terminal
            except NotFoundError:
                return True

        self.resources.docker().reap(alive)

    def _requeue(self, run: Run) -> Run | None:
        if run.origin == IN_PROCESS:
            return None  # an `orecart run` that died: no service was asked to run it
        try:
            payload = dict(self.store.payload(run.id))
        except NotFoundError:
            return None  # a run of an orecart before the queue: nothing to queue again
        if int(payload.get("requeued", 0)) >= self.config.requeue:
            return None
        payload["requeued"] = int(payload.get("requeued", 0)) + 1
        again = replace(run, id=_new_run_id(), status=RunStatus.QUEUED, started_at=None,
                        finished_at=None, error=None, host="", pid=0, queued_at=None,
                        cancel_requested_at=None, backups=(), checks=())
        queued, created = self.store.enqueue(again, payload)
        return queued if created else None

    def shutdown(self, grace: float | None = None) -> None:
        """Take no new work; let running runs finish within ``grace`` seconds (default:
        the config's), then abort them and wait for their records."""
        self.closing = True
        deadline = time.monotonic() + (self.config.grace if grace is None else grace)
        while self.running() and time.monotonic() < deadline:
            self.idle_wait(min(0.25, max(0.0, deadline - time.monotonic())))
        self.resources.stopping.set()  # a run still waiting for its graph waits no longer
        with self._guard:
            actives = list(self._active.values())
        for active in actives:
            if active.runner is not None and not active.runner.finished:
                active.runner.interrupt()
        for active in actives:
            active.done.wait(timeout=60)

    def close(self) -> None:
        self.deliverer.stop()
        self.resources.close()


def secret_params(pipeline: Pipeline, request: RunRequest,
                  masked: Mapping[str, str] | None = None) -> frozenset[str]:
    """The request's parameters whose values are secret (masked in the run's record,
    ``masked``: computed here when not given): the queue keeps them in memory only."""
    if masked is None:
        masked = masked_env(pipeline.params, pipeline.secrets, pipeline.secret_values)
    return frozenset(k for k in request.params if masked.get(k) != pipeline.params.get(k))


def _nothing() -> None:
    pass


def _new_run_id() -> str:
    """A run id: its second, then 12 random hex digits, so that even a burst of thousands
    of submits a second (a sensor's first tick) never draws one twice (6 digits did)."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{token.token_hex(6)}"
