"""Drives a Plan to its end: the only place with concurrency and the only source of events.

``Runner.run`` outline::

    run -> _begin (Planned, RunStarted, record skips and plan-time cancels, then the
                   run's own work before its members: graph schema, before-backup)
        -> _loop: _schedule (ready members in plan order: max_parallel, pools, backoff;
                             _flush the records held so far, then _launch each start)
                  -> _prepare_next (the next first attempts' tasks built ahead; executors
                                    that can get them ready too)
                  -> _wait (FIRST_COMPLETED) -> _settle (record, retry or _finish)
        -> _end (_drain what still runs after an internal error, _close every unfinished
                 member, the run's final status from _verdict; after a success the
                 after-backup)

Work of the run beyond its members (``Backends.before``/``after``) that fails leaves the
run ``failed`` with its error (``aborted`` for an internal error), members not started.

Nothing false is recorded: an exception anywhere in here (a bug, a path the filesystem
refuses, a state store that stops writing, a sink that raises) is an internal error, and
the run ends ``aborted`` with that error, running members aborted and the rest cancelled.

    _finish -> _propagate: a success brings dependents closer to ready (a heap, so a
    10,000-member run never rescans what waits); anything else cancels them in cascade.

Records are written in steps: the in-step sinks may hold events (``events.Flushing``) and
the runner flushes them once per loop, before it submits anything and before it waits, so
a member never runs before its start is recorded nor starts before the success it needs is.

Executors run things and hand back futures of results; everything that is recorded flows
out of here as events (see ``orecart.events``), so the state store, the graph run log,
hooks and the progress display all see the same story.
"""

from __future__ import annotations

import heapq
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orecart.errors import OrecartError, TakenOverError
from orecart.events import (
    AttemptFinished,
    Event,
    EventSink,
    Flushing,
    MemberFinished,
    MemberOutput,
    MemberRetrying,
    MemberStarted,
    MemberWaiting,
    Planned,
    RunFinished,
    RunStarted,
    event_kind,
)
from orecart.executors import Executor, Preparing
from orecart.guards import MemberGuard
from orecart.model import (
    Attempt,
    CheckResult,
    Handover,
    Member,
    MemberRun,
    MemberStatus,
    Result,
    Run,
    RunStatus,
    Task,
)
from orecart.planner import Decision, Plan, Step
from orecart.secrets import Redactor, shared_redactor
from orecart.stores import Holder, Locks
from orecart.tasks import Tasks
from orecart.waits import Wait, Waits


def now() -> datetime:
    return datetime.now(UTC)


#: After an internal error, how long running members get to stop before they are closed
#: as aborted anyway (the executors' own grace periods end well before this).
DRAIN_S = 30.0

#: At least this many members run at once by default, whatever the CPU count: loaders
#: mostly wait (downloads, the database, a container's daemon), so a two-core machine still
#: runs four; ``max_parallel`` or pools limit them where that is too many.
MIN_DEFAULT_PARALLEL = 4


def default_parallel() -> int:
    """Members at once when neither the file nor the command says: the CPU count, at least
    ``MIN_DEFAULT_PARALLEL``."""
    return max(os.cpu_count() or 1, MIN_DEFAULT_PARALLEL)


@dataclass(frozen=True)
class RunConfig:
    """How one run behaves; ``graph_env`` and ``environ`` hold secrets, never stored."""

    runs_dir: Path  # artifacts and logs: <runs_dir>/<run>/<member>/ and <run>/logs/
    max_parallel: int = field(default_factory=default_parallel)
    fail_fast: bool = False
    keep: bool = False
    poll: float = 0.25  # longest wait: for a lease held elsewhere, or to see a signal
    graph_env: Mapping[Handover, Mapping[str, str]] = field(default_factory=dict)
    environ: Mapping[str, str] = field(default_factory=os.environ.copy)  # orecart's own:
    # members get only the allow-list and their env_passthrough of it (orecart.environ)


#: Work of the run itself beyond its members; returns the backups it took. Raises an
#: OrecartError when it fails (the run then fails with it).
RunWork = Callable[[], tuple[str, ...]]


@dataclass(frozen=True)
class Backends:
    """What the runner drives: executors by key (a member kind, "run" or "image", or a
    key of ``executors.routing`` for members routed elsewhere), leases, events."""

    executors: Mapping[str, Executor]
    locks: Locks
    sink: EventSink
    guards: Sequence[MemberGuard] = ()
    final_checks: Callable[[], list[CheckResult]] | None = None  # pipeline checks after
    # every member succeeded
    before: RunWork | None = None  # before any member: graph schema, before-backup
    after: RunWork | None = None  # after a success: the after-backup
    routes: Mapping[str, str] = field(default_factory=dict)  # member -> executors key,
    # for members that do not run on their kind's executor (executors.routing)

    def executor(self, member: Member) -> Executor:
        return self.executors[self.routes.get(member.name, member.kind)]


@dataclass
class _Flight:
    """One attempt in flight."""

    member: Member
    attempt: int
    task: Task
    leased: bool
    wait: Wait | None = None  # the wait that ended when it started


class Runner:
    """Runs one plan once. Create, call ``run()``; ``interrupt()`` may come from a signal."""

    def __init__(self, plan: Plan, run: Run, backends: Backends, config: RunConfig) -> None:
        self.plan, self.run_record, self.backends, self.config = plan, run, backends, config
        self.steps = {s.member.name: s for s in plan.steps}
        self.positions = {name: i for i, name in enumerate(self.steps)}
        self.status: dict[str, MemberStatus] = {}
        self.records: dict[str, MemberRun] = {}  # of members not ended yet (memory stays flat)
        runs = [s.member.name for s in plan.steps if s.decision is Decision.RUN]
        self.pending = dict.fromkeys(runs)  # not started yet, in plan order
        self.dependents: dict[str, list[str]] = {name: [] for name in runs}
        self.waiting: dict[str, int] = {}  # pending member -> needs that have yet to succeed
        for name in runs:
            needs = {n for n in self.steps[name].member.needs if n in self.dependents}
            self.waiting[name] = len(needs)
            for need in needs:
                self.dependents[need].append(name)
        self.ready = [(self.positions[n], n) for n in runs if not self.waiting[n]]  # a heap
        self.flights: dict[Future[Result], _Flight] = {}
        self.not_before: dict[str, float] = {}
        self.attempts: dict[str, int] = {}
        self.waits = Waits()  # ready members not started: since when, for what
        self.stopping: str | None = None  # why no new work starts
        self.error: str | None = None  # the internal error that ends the run aborted
        self.failure: tuple[RunStatus, str] | None = None  # the run's own work failed
        self.interrupts = 0
        self.cancelled: str | None = None  # why the run was cancelled (cancel())
        self.finished = False  # after this, an interrupt is the caller's to handle
        self._guard_pool: ThreadPoolExecutor | None = None
        self._redactor: Redactor | None = None
        self._lock = threading.Lock()
        environs = (config.graph_env, config.environ)
        self.tasks = Tasks(plan, run.id, config.runs_dir, config.keep, environs)
        self.prepared: dict[str, Task] = {}  # first attempts an executor got ready ahead
        #: whether any executor is ``Preparing`` (asking a runtime protocol costs ~10 µs)
        self.preparing = any(isinstance(e, Preparing) for e in backends.executors.values())

    # -- the outline -------------------------------------------------------------------

    def run(self) -> Run:
        """Run the plan; the record returned (and emitted) is terminal and true, whatever
        was raised on the way. KeyboardInterrupt and SystemExit are re-raised after it."""
        try:
            self._begin()
            self._loop()
        except Exception as exc:
            self._broke(self._internal(exc))
        except BaseException:
            self._broke(None)
            raise
        finally:
            self._end()
            self.finished = True
        return self.run_record

    def _loop(self) -> None:
        while self.pending or self.flights:
            blocked = self._schedule()
            self._prepare_next()
            if self.pending and not self.flights and not blocked:
                self._give_up()  # nothing runs and nothing can: never spin
                return
            self._wait(blocked)

    def interrupt(self) -> None:
        """Stop: no new work; running members are stopped (a second call kills at once)."""
        with self._lock:
            self.interrupts += 1
            self.stopping = self.cancelled or "run interrupted"
        for executor in self.backends.executors.values():
            threading.Thread(target=executor.abort, args=(self.run_record.id,),
                             daemon=True).start()

    def lose(self, why: str) -> None:
        """The run is not this process's any more (another serve took its lock over and
        aborted it): stop as ``interrupt`` does; the run ends aborted with ``why``."""
        with self._lock:
            self.error = self.error or why
        self.interrupt()

    def cancel(self, why: str = "cancelled by request") -> None:
        """Cancel the run: as ``interrupt``, but the run ends ``cancelled`` (running members
        are still ``aborted``: they were stopped mid-way)."""
        with self._lock:
            self.cancelled = self.cancelled or why
        self.interrupt()

    # -- begin and end -----------------------------------------------------------------

    def _begin(self) -> None:
        self._emit(Planned(self.run_record.id, self.plan))
        self.run_record = replace(self.run_record, status=RunStatus.RUNNING, started_at=now())
        self._emit(RunStarted(self.run_record))
        for step in self.plan.steps:
            if step.decision is Decision.SKIP:
                self._finish(step, MemberStatus.SKIPPED, reason=step.reason)
            elif step.decision is Decision.CANCEL:
                self._finish(step, MemberStatus.CANCELLED, reason=step.reason, error=step.reason)
        self._flush()
        self.failure = self._own_work(self.backends.before, "before the members")
        if self.failure:
            self.stopping = self.failure[1]

    def _own_work(self, work: RunWork | None, when: str) -> tuple[RunStatus, str] | None:
        """Do ``work`` as part of the run, its backups recorded on it; how the run ends
        when it fails (None: it did not)."""
        if work is None:
            return None
        try:
            taken = work()
        except OrecartError as exc:
            return RunStatus.FAILED, f"{when}: {self._redacted(str(exc))}"
        except Exception as exc:
            return RunStatus.ABORTED, f"{when}: {self._internal(exc)}"
        self.run_record = replace(self.run_record, backups=self.run_record.backups + taken)
        return None

    def _end(self) -> None:
        for _ in range(2):  # closing records too; after a failure, a second pass closes the rest
            try:
                if self.flights:
                    self._drain()
                self._close()
                break
            except Exception as exc:
                self._broke(self._internal(exc))
        if self._guard_pool:
            self._guard_pool.shutdown(wait=False, cancel_futures=True)
        status, error = self._verdict()
        self.run_record = replace(self.run_record, status=status, error=error, finished_at=now())
        self._emit(RunFinished(self.run_record))

    def _verdict(self) -> tuple[RunStatus, str | None]:
        """The run's final status and error: succeeded only when every planned member
        succeeded or was skipped (and the pipeline's checks hold)."""
        if self.error:
            return RunStatus.ABORTED, self.error
        if self.cancelled:
            return RunStatus.CANCELLED, self.cancelled
        if self.interrupts:
            return RunStatus.ABORTED, None
        if self.failure:
            return self.failure
        statuses = [self.status.get(step.member.name) for step in self.plan.steps]
        if not all(status is not None and status.ok for status in statuses):
            return RunStatus.FAILED, None
        return self._checked()

    def _checked(self) -> tuple[RunStatus, str | None]:
        """After every member succeeded: the pipeline's checks, then the after-backup."""
        problems: list[str] = []
        try:
            checks = self.backends.final_checks() if self.backends.final_checks else []
            checks = [replace(c, message=self._redacted(c.message)) for c in checks]
            self.run_record = replace(self.run_record, checks=tuple(checks))
            problems = [check.message for check in checks if not check.passed]
        except Exception as exc:  # checks that cannot run do not hold
            problems = [f"pipeline checks could not run: {self._redacted(repr(exc))}"]
        if problems:
            return RunStatus.FAILED, "; ".join(problems)
        after = self._own_work(self.backends.after, "after the members")
        return after or (RunStatus.SUCCEEDED, None)

    # -- internal errors ---------------------------------------------------------------

    def _broke(self, error: str | None) -> None:
        """An internal error (None: KeyboardInterrupt): start nothing, stop what runs."""
        if error is None:
            self.interrupts += 1
            self.stopping = self.stopping or "run interrupted"
        else:
            self.error = self.error or error
            self.stopping = f"run aborted: {self.error}"
        for executor in self.backends.executors.values():
            threading.Thread(target=executor.abort, args=(self.run_record.id,),
                             daemon=True).start()

    def _drain(self) -> None:
        """Members still in flight after an internal error: wait (bounded) for the
        executors to stop them and record what they report; the rest is closed aborted."""
        done, _ = wait(list(self.flights), timeout=DRAIN_S)
        for future in done:
            try:
                self._settle(future)
            except Exception as exc:  # the flight is gone; _close records its member
                self.error = self.error or self._internal(exc)

    def _close(self) -> None:
        """Close every planned member without a terminal status: never started ones are
        cancelled, running ones (or whose start was recorded) aborted."""
        why = self.stopping or "run ended before it could start"
        for name in list(self.pending):
            self._cancel(name, why)
        for future, flight in list(self.flights.items()):
            del self.flights[future]
            self._finish(self.steps[flight.member.name], MemberStatus.ABORTED, error=why)
        for step in self.plan.steps:
            status = self.status.get(step.member.name)
            if status is None or not status.terminal:
                closed = MemberStatus.ABORTED if status else MemberStatus.CANCELLED
                self._finish(step, closed, error=why, propagate=False)

    def _internal(self, exc: Exception) -> str:
        return f"internal error: {self._redacted(repr(exc))}"

    def _redacted(self, text: str) -> str:
        """``text`` without any secret the pipeline holds: also the graph password that came
        from ``NEO4J_PASSWORD`` or ``--graph`` after the file was read (``known_secrets``)."""
        if self._redactor is None:
            self._redactor = Redactor(self.tasks.known)
        return self._redactor(text)

    # -- scheduling --------------------------------------------------------------------

    def _schedule(self) -> bool:
        """Start what may start now, in plan order. True when a member that could start
        waits for a pool lease or a retry backoff (nothing running is then not a deadlock).
        Every record so far (also the starts) is flushed before any of them is submitted."""
        if self.stopping:
            for name in list(self.pending):
                self._cancel(name, self.stopping)
            self._flush()
            return False
        blocked, deferred = False, []
        starting: list[tuple[Step, Task, Wait | None]] = []
        while self.ready and len(self.flights) + len(starting) < self.config.max_parallel and (
            not self.stopping
        ):
            position, name = heapq.heappop(self.ready)
            step = self.steps[name]
            if self.not_before.get(name, 0.0) > time.monotonic() or not self._take_lease(
                step.member
            ):
                deferred.append((position, name))
                blocked = True
                continue
            del self.pending[name]
            self.not_before.pop(name, None)
            starting.append((step, *self._start(step)))
        if self.ready and not self.stopping:  # no place left for the rest
            self.waits.full()
        for item in deferred:
            heapq.heappush(self.ready, item)
        self._flush()
        for step, task, waited in starting:
            self._launch(step, task, waited)
        return blocked

    def _prepare_next(self) -> None:
        """Build the tasks of the first attempts likely to start next (ready members
        waiting for a slot, and those whose remaining needs are all running now), in the
        order they would start, and let executors that can get them ready (see
        ``executors.Preparing``). At most ``max_parallel`` wait prepared at a time.

        Done while members run, so that a slot that frees is filled without building a
        task first: the runner's thread is otherwise idle then."""
        room = self.config.max_parallel - len(self.prepared)
        if self.stopping or room <= 0:
            return
        running = {flight.member.name for flight in self.flights.values()}
        soon = [name for _, name in self.ready[:room]]  # the heap's top, near enough
        for name in running:
            for dependent in self.dependents[name]:
                needs = running.intersection(self.steps[dependent].member.needs)
                if dependent in self.pending and self.waiting[dependent] == len(needs):
                    soon.append(dependent)
        for name in sorted(soon, key=self.positions.__getitem__):  # the order they start in
            if room and name not in self.prepared and name not in self.attempts:
                task = self.prepared[name] = self.tasks.task(self.steps[name], 1)
                executor = self.backends.executor(task.member)
                if self.preparing and isinstance(executor, Preparing):
                    executor.prepare(task)
                room -= 1

    def _give_up(self) -> None:
        self.stopping = self.stopping or "could not be scheduled: its needs never finished"

    def _cancel(self, name: str, why: str) -> None:
        """Close a pending member: ``cancelled`` when it never started; one waiting for a
        retry has run (its record says running) and is ``aborted``, as after a kill -9. The
        callers close every pending one, so there is nothing to propagate (and a dependent
        closed by propagation would be gone)."""
        del self.pending[name]
        self.not_before.pop(name, None)
        status = MemberStatus.ABORTED if name in self.attempts else MemberStatus.CANCELLED
        self._finish(self.steps[name], status, error=why, propagate=False)

    def _propagate(self, name: str, status: MemberStatus) -> None:
        """A member ran to its end: dependents come one need closer to ready, or, when it
        did not succeed, are cancelled, and theirs in turn (iteratively: chains are long)."""
        ended = [(name, status)]
        while ended:
            name, status = ended.pop()
            for dependent in self.dependents.get(name, ()):
                if dependent not in self.pending:
                    continue
                if status.ok:
                    self.waiting[dependent] -= 1
                    if not self.waiting[dependent]:
                        heapq.heappush(self.ready, (self.positions[dependent], dependent))
                        self.waits.ready(dependent)
                    continue
                del self.pending[dependent]
                why = f"needs {name}, which {status}"
                self._finish(self.steps[dependent], MemberStatus.CANCELLED, error=why,
                             propagate=False)
                ended.append((dependent, MemberStatus.CANCELLED))

    def _take_lease(self, member: Member) -> bool:
        if member.pool is None:
            return True
        limit = self.plan.pipeline.pools.get(member.pool, 1)
        if self.backends.locks.lease(member.pool, limit, self._holder(member)):
            return True
        self._waiting(member.name, self.waits.refused(member.name, member.pool))
        return False

    def _waiting(self, name: str, wait: Wait | None) -> None:
        """Record a wait that began now (once: ``Waits`` answers None after that)."""
        if wait is not None:
            status = self.status.get(name, MemberStatus.PENDING)
            record = self._record(self.steps[name], status, waited_at=wait.at,
                                  waited_for=wait.what)
            self._emit(MemberWaiting(record, self.attempts.get(name, 0) + 1))

    def _holder(self, member: Member) -> Holder:
        return Holder(self.run_record.id, os.getpid(), socket.gethostname(), member.name)

    # -- one attempt -------------------------------------------------------------------

    def _start(self, step: Step) -> tuple[Task, Wait | None]:
        """Record the start of the member's next attempt (flushed before ``_launch``); its
        task and the wait its start ended."""
        member = step.member
        attempt = self.attempts.get(member.name, 0) + 1
        self.attempts[member.name] = attempt
        task = self.prepared.pop(member.name, None) or self.tasks.task(step, attempt)
        first = self.records.get(member.name)
        started = first.started_at if first and first.started_at else now()
        wait = self.waits.started(member.name)
        waited = {"waited_at": wait.at, "waited_for": wait.what} if wait else {}
        record = self._record(step, MemberStatus.RUNNING, attempts=attempt, started_at=started,
                              **waited)
        self._emit(MemberStarted(record, attempt))
        return task, wait

    def _launch(self, step: Step, task: Task, wait: Wait | None) -> None:
        """Hand a started attempt to its executor, unless its start could not be recorded:
        it must not run unrecorded."""
        if self.error:
            self._finish(step, MemberStatus.CANCELLED, error=self.stopping)
            return
        future = self._submit(task)
        member = step.member
        self.flights[future] = _Flight(member, task.attempt, task, member.pool is not None, wait)

    def _submit(self, task: Task) -> Future[Result]:
        executor = self.backends.executor(task.member)
        if not self.backends.guards:
            return executor.submit(task, self._output)
        if self._guard_pool is None:
            self._guard_pool = ThreadPoolExecutor(
                max_workers=self.config.max_parallel, thread_name_prefix="orecart-guard"
            )
        return self._guard_pool.submit(self._guarded, executor, task)

    def _guarded(self, executor: Executor, task: Task) -> Result:
        try:
            tokens = [guard.before(task) for guard in self.backends.guards]
        except Exception as exc:  # a graph that cannot be read before is no success later
            return Result(MemberStatus.ERRORED, error=f"before the member: {exc}")
        result = executor.submit(task, self._output).result()
        for guard, token in zip(self.backends.guards, tokens, strict=True):
            result = guard.after(task, token, result)
        return result

    def _output(self, member: str, line: str) -> None:
        self._emit(MemberOutput(self.run_record.id, member, line))

    # -- waiting and settling ----------------------------------------------------------

    def _wait(self, blocked: bool = False) -> None:
        """Wait for a member to finish, for the next retry or lease to come due, or (when
        ``blocked``) for a lease given back in this process.

        Never for longer than ``poll``: the kernel may hand Ctrl-C or SIGTERM to any thread,
        and Python runs the handler (``interrupt``) only once the main thread wakes up.
        """
        timeout = self._next_wake()
        waits: list[Future[Any]] = list(self.flights)
        if blocked:
            waits.append(self.backends.locks.released())
        if not waits:
            time.sleep(timeout)
            return
        done, _ = wait(waits, timeout=timeout, return_when=FIRST_COMPLETED)
        for future in done:
            if future in self.flights:
                self._settle(future)

    def _next_wake(self) -> float:
        now_ = time.monotonic()
        due = [t - now_ for t in self.not_before.values() if t > now_]
        return min([self.config.poll, *due])

    def _settle(self, future: Future[Result]) -> None:
        flight = self.flights.pop(future)
        result = _result_of(future)
        if result.error:  # a daemon's or a tool's message may quote what it was given
            result = replace(result, error=shared_redactor(flight.task.secrets)(result.error))
        if flight.leased and flight.member.pool:
            self.backends.locks.release(flight.member.pool, self._holder(flight.member))
        self._emit(AttemptFinished(self._attempt(flight, result)))
        if self._should_retry(flight, result):
            self._retry(flight, result)
            return
        step = self.steps[flight.member.name]
        self._finish(step, result.status, error=result.error, result=result)
        if not result.status.ok and self.config.fail_fast and not self.stopping:
            self.stopping = f"not started: --fail-fast after {step.member.name} {result.status}"

    def _should_retry(self, flight: _Flight, result: Result) -> bool:
        retriable = result.status in _RETRIABLE
        left = flight.attempt <= flight.member.retry.retries
        return retriable and left and not self.stopping

    def _retry(self, flight: _Flight, result: Result) -> None:
        name = flight.member.name
        delay = flight.member.retry.delay(flight.attempt + 1)
        self.not_before[name] = time.monotonic() + delay
        self.pending[name] = None
        heapq.heappush(self.ready, (self.positions[name], name))
        self.waits.ready(name, delay)
        error = result.error or str(result.status)
        self._emit(MemberRetrying(self.run_record.id, name, flight.attempt + 1, delay, error))

    def _attempt(self, flight: _Flight, result: Result) -> Attempt:
        return Attempt(
            run_id=self.run_record.id,
            member=flight.member.name,
            number=flight.attempt,
            status=result.status,
            exit_code=result.exit_code,
            error=result.error,
            started_at=result.started_at,
            finished_at=result.finished_at or now(),
            waited_at=flight.wait.at if flight.wait else None,
            waited_for=flight.wait.what if flight.wait else None,
        )

    # -- records -----------------------------------------------------------------------

    def _record(self, step: Step, status: MemberStatus, **fields: object) -> MemberRun:
        name = step.member.name
        base = self.records.get(name) or self._first_record(step, status)
        record = replace(base, status=status, **fields)  # type: ignore[arg-type]
        self.records[name] = record
        self.status[name] = status
        return record

    def _first_record(self, step: Step, status: MemberStatus) -> MemberRun:
        name = step.member.name
        ran = step.decision is Decision.RUN
        return MemberRun(
            run_id=self.run_record.id,
            member=name,
            status=status,
            reason=step.reason,
            reason_code=step.code,
            fingerprint=step.fingerprint,
            image=step.member.container.image if step.member.container else None,
            digest=step.digest,
            position=self.positions[name],
            log_path=str(self.tasks.log_path(name)) if ran else None,
            artifacts=str(self.tasks.artifacts(name)) if ran else None,
        )

    def _finish(
        self,
        step: Step,
        status: MemberStatus,
        *,
        reason: str | None = None,
        error: str | None = None,
        result: Result | None = None,
        propagate: bool = True,
    ) -> None:
        fields: dict[str, object] = {"error": error, "finished_at": now()}
        if reason:
            fields["reason"] = reason
        if result is not None:
            fields.update(exit_code=result.exit_code, delta=result.delta, checks=result.checks)
            fields["finished_at"] = result.finished_at or now()
            if result.digest:
                fields["digest"] = result.digest
        record = self._record(step, status, **fields)
        del self.records[step.member.name]  # ended: only its status is needed from here on
        self._unprepare(step.member)
        self._emit(MemberFinished(record))
        if propagate:
            self._propagate(step.member.name, status)

    def _unprepare(self, member: Member) -> None:
        """A member that ends without starting (cancelled) undoes what was got ready for it."""
        task = self.prepared.pop(member.name, None)
        if task is None:
            return
        executor = self.backends.executor(member)
        if self.preparing and isinstance(executor, Preparing):
            executor.discard(task)
        self.tasks.unused(task)

    def _flush(self) -> None:
        """Have the in-step sinks write what they hold; failing to is an internal error."""
        sink = self.backends.sink
        if not isinstance(sink, Flushing):
            return
        try:
            sink.flush()
        except TakenOverError as exc:
            self.lose(str(exc))
        except Exception as exc:
            if self.error is None:
                self._broke(f"recording failed: {self._redacted(str(exc))}")

    def _emit(self, event: Event) -> None:
        """Deliver ``event``; a sink that raises (a store that cannot write, a display's
        bug) is an internal error: what is recorded must not go on without it."""
        try:
            self.backends.sink.emit(event)
        except TakenOverError as exc:  # recovery aborted the run: the store refused it
            self.lose(str(exc))
        except Exception as exc:
            if self.error is None:
                self._broke(f"recording {event_kind(event)} failed: {self._redacted(str(exc))}")


#: What a retry policy retries: an attempt that ran and failed, could not run, or was
#: aborted while the run went on (its dask worker was lost); never one the run stopped.
_RETRIABLE = frozenset({MemberStatus.FAILED, MemberStatus.ERRORED, MemberStatus.ABORTED})


def _result_of(future: Future[Result]) -> Result:
    """The executor's result; a future that raised is a bug reported as errored, not lost."""
    try:
        return future.result()
    except Exception as exc:  # the Executor contract says this never happens
        return Result(MemberStatus.ERRORED, error=f"executor failed: {exc!r}", finished_at=now())

