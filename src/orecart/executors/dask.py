"""The dask executor: member runs on the workers of a Dask (``distributed``) cluster.

``address`` is a scheduler (``tcp://host:8786``) or ``local``: a LocalCluster of
``workers`` processes x ``threads`` threads that this executor starts and owns (it lives
as long as the executor: the run of ``orecart run``, the process of ``orecart serve``).

Each attempt is one Dask task (``daskwork.run_order``) with a key of its own, and the
member's ``resources:`` as its Dask resources (workers offer them with ``dask worker
--resources "neo4j=1,memory=8e9"``; an attempt that asks what no worker offers is
``errored`` at once, not left waiting; one waiting once no worker offers them any more
ends, ``errored`` or, had it started, ``aborted``). On the worker it runs as a contained
process group or on the worker host's Docker Engine (see ``daskwork``). Its output comes
back as worker events on this executor's topic, a batch every 0.1 s at most, then (when
small) the reply itself, so the attempt ends without gathering its result from the
worker; a thread per attempt writes the member-run log from them (on this side, where the
runner expects it) and hands the lines to the output sink.

Nothing counted as success that was not, nothing run twice:
- A worker lost mid-member: Dask runs the task again elsewhere, but the second execution
  finds the attempt's started mark and answers ``aborted`` (worker lost) without running
  anything; the runner retries it only as the member's retry policy says. A task that
  had finished, its reply lost with its worker before it was collected, answers the reply
  the first execution stored on the scheduler (``errored``, artifacts lost, when copied
  artifacts went with it), never ``aborted``: it is not run again. ``KilledWorker``
  (the task outlived ``allowed-failures`` workers) is ``aborted`` too when it had started,
  ``errored`` when it never had. Tasks that never started are rescheduled by Dask.
- Cancel and abort: the attempt's cancel mark (a distributed ``Event``) is set; the worker
  side stops the member (SIGTERM, SIGKILL after ``grace``; containers stopped), or, not
  started yet, returns at once without starting it. What has not ended after the grace
  and ``KILL_WAIT`` (a task still waiting for a worker) is cancelled in Dask, its marks
  kept, so an execution that begins anyway finds itself cancelled.
- Once its result is handed to the runner, an attempt's Dask future is released and,
  once the scheduler forgot the task, its marks cleared, so a finished task is never
  recomputed (Dask recomputes only what it still holds; until then a recomputation finds
  the started mark and runs nothing).

Call outline: ``submit -> _Flight.run (own thread): client (connect once) -> log opened
-> _send (client.submit) -> _followed: _awaited (lines from _on_event -> log + sink,
until the reply's event or the future done -> _reply) -> wait for the reply's batches ->
artifacts unpacked -> the result; then _release``;
``abort -> _Flight.cancel``; ``close -> abort -> client and cluster closed``.
"""

from __future__ import annotations

import asyncio
import pickle
import queue
import threading
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any

from orecart.errors import ExecutorError
from orecart.executors import OutputSink
from orecart.executors.daskwork import (
    ASK_TIMEOUT_S,
    STOP_WAIT_S,
    WORKER_LOST,
    Order,
    Reply,
    cancel_mark,
    distributed,
    mark,
    pack,
    run_order,
    started_mark,
    unpack,
)
from orecart.executors.logfile import LogWriter, open_log, parse_line
from orecart.model import Member, MemberStatus, Result, Task

CONNECT_TIMEOUT = 10.0  # seconds to reach the scheduler, by default
TAIL_WAIT = 10.0  # seconds a finished attempt waits for output events still on their way
KILL_WAIT = 5.0  # seconds abort waits beyond the grace before it gives an attempt up
ABORTED_RUNS_KEPT = 1024
RESOURCE_LOOK = 2.0  # seconds between looks for a worker offering a waiting task's resources
RELEASE_WAIT = 5.0  # seconds a release waits for the scheduler to forget the task
_DONE = object()  # the queue item that says the Dask future completed


def _now() -> datetime:
    return datetime.now(UTC)


def _result(status: MemberStatus, error: str | None, started: datetime | None = None) -> Result:
    return Result(status, error=error, started_at=started or _now(), finished_at=_now())


async def _clear(scheduler: Any, *names: str) -> None:
    """Clear (and so delete) distributed Events at once: one round trip, not one each."""
    await asyncio.gather(*(scheduler.event_clear(name=name) for name in names))


async def _set_all(scheduler: Any, *names: str) -> None:
    """Set distributed Events at once: one round trip, not one each."""
    await asyncio.gather(*(scheduler.event_set(name=name) for name in names))


async def _forgotten(scheduler: Any, key: str) -> bool:
    """Whether the scheduler forgot ``key`` (a release goes over the batched stream, so
    it is asked until then); False when it still holds it after ``RELEASE_WAIT``."""
    deadline = time.monotonic() + RELEASE_WAIT
    while (await scheduler.get_task_status(keys=[key])).get(key) is not None:
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


async def _release_then_clear(scheduler: Any, key: str) -> None:
    """The marks of ``key`` cleared once the scheduler forgot it, never before: until
    then a recomputation must find the started mark."""
    if await _forgotten(scheduler, key):
        await _clear(scheduler, started_mark(key), cancel_mark(key))


class _Flight:
    """One submitted attempt: its log, its Dask future and the thread that follows it."""

    def __init__(self, executor: DaskExecutor, task: Task, output: OutputSink) -> None:
        self.executor, self.task, self.output = executor, task, output
        self.key = f"orecart-{task.member.name}-{task.attempt}-{uuid.uuid4().hex[:12]}"
        self.future: Future[Result] = Future()
        self.items: queue.Queue[object] = queue.Queue()
        self.dask: Any = None  # the distributed.Future
        self.received = 0
        self.started_at = _now()
        self.sink_error: str | None = None
        self.lock = threading.Lock()  # orders cancel, give_up and _release
        self.cancelled = False  # cancel() was called
        self.abandoned = False  # give_up() cancelled its Dask task
        self.released = False  # its task was released (its result handed over)

    def run(self) -> None:
        """Thread body: whatever happens, the future completes with a Result."""
        try:
            result = self._sent()
        except BaseException as exc:  # a bug here must not leave the runner waiting
            result = _result(MemberStatus.ERRORED, f"dask executor error: {exc!r}")
        self.future.set_result(result)
        try:  # off the runner's path: the next member starts meanwhile
            self._release()
        except Exception:  # the scheduler is gone, and with it the task and its marks
            pass
        finally:
            self.executor._forget(self)

    def _sent(self) -> Result:
        """Reach the cluster, open the log, send the attempt, follow it to its result."""
        try:
            client = self.executor.client()
            self.executor._check_resources(client, self.task.member)
            log = open_log(self.task.log_path, self.task.secrets)
        except (ExecutorError, OSError) as exc:
            return _result(MemberStatus.ERRORED, str(exc))
        with log:
            try:
                sent = self._send(client)
            except Exception as exc:  # the client refused the task: a result, like any start
                return _result(MemberStatus.ERRORED, f"dask: {exc!r}")
            if not sent:
                return _result(MemberStatus.ABORTED, "aborted before it started")
            return self._followed(log)

    def _send(self, client: Any) -> bool:
        """Submit the attempt's Dask task; False when it was cancelled before."""
        task, executor = self.task, self.executor
        inputs = {} if executor.shared else {n: pack(p) for n, p in task.inputs.items()}
        order = Order(self.key, task, executor.topic, executor.grace, executor.shared, inputs)
        with self.lock:
            if self.cancelled:
                return False
            self.dask = client.submit(run_order, order, key=self.key, pure=False,
                                      resources=dict(task.member.resources) or None)
        self.dask.add_done_callback(lambda _: self.items.put(_DONE))
        return True

    def _followed(self, log: LogWriter) -> Result:
        reply = self._awaited(log)
        if isinstance(reply, Result):  # no worker can run it any more
            return reply
        deadline = time.monotonic() + TAIL_WAIT
        while self.received < reply.batches and time.monotonic() < deadline:
            try:
                item = self.items.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if isinstance(item, list):
                self._write(log, item)
        result = reply.result
        if reply.worker:  # where it ran, for `orecart logs` and the API's log
            log.note(f"attempt {self.task.attempt} ran on dask worker {reply.worker}")
        if reply.artifacts:
            unpack(self.task.artifacts, reply.artifacts)
        if self.received < reply.batches:
            log.note(f"{reply.batches - self.received} batches of output were lost")
        if self.sink_error is not None and result.status is MemberStatus.SUCCEEDED:
            result = _result(MemberStatus.ERRORED, self.sink_error, result.started_at)
        return result

    def _awaited(self, log: LogWriter) -> Reply | Result:
        """The output until the reply: its event (sent after every batch), else the task's
        result once its future is done; a Result when no worker can run it any more."""
        while (item := self._next()) is not _DONE:
            if isinstance(item, Result):
                return item
            if isinstance(item, bytes):
                reply: Reply = pickle.loads(item)
                return reply
            self._write(log, item)
        return self._reply()

    def _next(self) -> object:
        """The next batch of output or ``_DONE``; a Result once no worker has offered the
        member's resources for two looks in a row (``RESOURCE_LOOK``: a worker's nanny
        may be starting it again): the task would wait for a worker forever."""
        misses = 0
        while True:
            try:
                return self.items.get(timeout=RESOURCE_LOOK)
            except queue.Empty:
                pass
            client = self.executor._client
            if not self.task.member.resources or self.dask.status != "pending" or \
                    client is None or client.status != "running":
                continue
            try:
                self.executor._check_resources(client, self.task.member)
                misses = 0
            except ExecutorError as exc:
                misses += 1
                if misses >= 2:
                    return self._stranded(str(exc))
            except Exception:  # the scheduler cannot say now: not a miss (a lost one
                misses = 0  # cancels the future: that ends it, as lost contact)

    def _stranded(self, why: str) -> Result:
        """End an attempt no worker can run: ``aborted`` when it had started (its worker
        is gone), ``errored`` when it never had."""
        self.give_up()
        if mark(started_mark(self.key), self.executor.client()).is_set():
            self._outlived()
            return _result(MemberStatus.ABORTED, f"{WORKER_LOST}; {why}", self.started_at)
        return _result(MemberStatus.ERRORED, why, self.started_at)

    def _write(self, log: LogWriter, item: object) -> None:
        """One batch of the worker-side log: into this log, and its output to the sink."""
        self.received += 1
        assert isinstance(item, list)
        clean = []
        for raw in item:
            line = parse_line(raw)
            if line is None:
                continue
            text = log.write_line(line.stream, line.text, line.at)
            if line.stream != "orecart":
                clean.append(text)
        log.flush()
        if self.sink_error is not None:
            return
        try:
            for text in clean:
                self.output(self.task.member.name, text)
        except Exception as exc:  # a broken sink must not stop the log
            self.sink_error = f"output sink failed: {exc!r}"

    def _reply(self) -> Reply:
        """The worker's answer; a task Dask gave up on or cancelled is a result too."""
        from distributed.scheduler import KilledWorker

        status = self.dask.status
        if status == "finished":
            reply: Reply = self.dask.result()
            if reply.result.error == WORKER_LOST:  # its first execution may run on
                self._outlived()
            return reply
        if status == "cancelled":
            if self.cancelled:
                return Reply(_result(MemberStatus.ABORTED, "aborted", self.started_at))
            self._outlived()
            why = "aborted: lost contact with the dask scheduler"
            return Reply(_result(MemberStatus.ABORTED, why, self.started_at))
        try:
            self.dask.result()
        except KilledWorker:
            if mark(started_mark(self.key), self.executor.client()).is_set():
                self._outlived()
                return Reply(_result(MemberStatus.ABORTED, WORKER_LOST, self.started_at))
            error = "the dask workers it was given died before it could start"
            return Reply(_result(MemberStatus.ERRORED, error, self.started_at))
        except Exception as exc:
            return Reply(_result(MemberStatus.ERRORED, f"dask: {exc!r}", self.started_at))
        return Reply(_result(MemberStatus.ERRORED, f"dask task ended {status}", self.started_at))

    def _outlived(self) -> None:
        """The attempt is given up while an execution of it may still run (its worker
        dropped by the scheduler, or the scheduler lost): its marks are kept, its cancel
        mark set when the scheduler can be told, and the answer waits until the worker
        has stopped it (it stops a member it cannot report, too): a retry never runs
        beside it."""
        with self.lock:
            self.abandoned = True
        client = self.executor._client
        try:
            if client is not None and client.status == "running":
                client.sync(client.scheduler.event_set, name=cancel_mark(self.key),
                            callback_timeout=ASK_TIMEOUT_S)
        except Exception:  # the scheduler is gone: the worker stops it by itself
            pass
        time.sleep(STOP_WAIT_S + self.executor.grace)

    def _release(self) -> None:
        """Forget the task in Dask (never recomputed), then clear the attempt's marks.
        Until then a task Dask recomputes (its worker died after it ended) finds its
        started mark and runs nothing. The marks of a task given up (``give_up``) stay:
        its execution may still begin somewhere, and must find itself cancelled."""
        with self.lock:
            self.released = True
            if self.dask is None:
                return
            client = self.executor.client()
            self.dask.release()
            if not self.abandoned:
                client.sync(_release_then_clear, client.scheduler, self.key)

    def cancel(self) -> str | None:
        """Mark it cancelled; the cancel mark to set (the worker then stops the member or,
        not started yet, never starts it) when its task is out. The caller sets the marks
        of all it cancels at once (``_set_marks``), never with this lock held."""
        with self.lock:
            self.cancelled = True
            if self.dask is not None and not self.released:
                return cancel_mark(self.key)
        return None

    def give_up(self) -> None:
        """Cancel the task in Dask (it ran past the grace, or it waits for a worker)."""
        with self.lock:
            if self.dask is not None and not self.released:
                self.abandoned = True
                self.dask.cancel()


class DaskExecutor:
    """Runs member runs on a Dask cluster; see the module docstring."""

    def __init__(self, *, address: str = "local", artifacts: str = "copy", grace: float = 5.0,
                 workers: int = 2, threads: int = 4,
                 connect_timeout: float = CONNECT_TIMEOUT) -> None:
        if artifacts not in ("copy", "shared"):
            raise ExecutorError(f"dask artifacts: expected copy or shared, got {artifacts!r}")
        self.address, self.shared, self.grace = address, artifacts == "shared", grace
        self.cluster_shape, self.connect_timeout = (workers, threads), connect_timeout
        self.topic = f"orecart-output-{uuid.uuid4().hex}"
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)  # a flight ended (released, forgotten)
        self._client: Any = None
        self._cluster: Any = None
        self._closing = False  # close() began: no new attempts
        self._closed = False  # close() ended: no client any more
        self._flights: dict[str, _Flight] = {}
        self._aborted_runs: dict[str, None] = {}

    # -- the protocol ------------------------------------------------------------------

    def submit(self, task: Task, output: OutputSink) -> Future[Result]:
        """Send one attempt to the cluster and return its future at once."""
        flight = _Flight(self, task, output)
        problem = self._refusal(task)
        if problem is not None:
            flight.future.set_result(_result(*problem))
            return flight.future
        with self._lock:
            self._flights[flight.key] = flight
        thread = threading.Thread(target=flight.run, daemon=True,
                                  name=f"orecart-dask-{task.member.name}")
        try:
            thread.start()
        except RuntimeError as exc:  # out of threads: a result, like any start failure
            self._forget(flight)
            flight.future.set_result(_result(MemberStatus.ERRORED, str(exc)))
        return flight.future

    def resolve(self, member: Member) -> str | None:
        """The image digest as a worker's Docker Engine has it; None for local members."""
        if member.container is None:
            return None
        from orecart.executors.daskwork import resolve_on_worker

        client = self.client()
        self._check_resources(client, member)  # resolved where it can run, so on such a host
        try:
            digest: str | None = client.submit(
                resolve_on_worker, member, pure=False,
                resources=dict(member.resources) or None).result(timeout=300)
        except ExecutorError:  # the worker's daemon said why
            raise
        except Exception as exc:
            raise ExecutorError(f"dask: cannot resolve {member.name!r}: {exc}") from exc
        return digest

    def abort(self, run_id: str | None = None) -> None:
        """Stop every attempt in flight (of run ``run_id`` only, when given); their futures
        complete aborted. Later attempts of what was aborted are refused at once."""
        with self._lock:
            if run_id is not None:
                self._aborted_runs[run_id] = None
                if len(self._aborted_runs) > ABORTED_RUNS_KEPT:
                    del self._aborted_runs[next(iter(self._aborted_runs))]
            flights = [f for f in self._flights.values() if run_id in (None, f.task.run_id)]
        self._set_marks([name for flight in flights if (name := flight.cancel()) is not None])
        deadline = time.monotonic() + self.grace + KILL_WAIT
        for flight in flights:
            try:
                flight.future.result(timeout=max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                flight.give_up()

    def close(self) -> None:
        """Abort what still runs, then close the client (and the cluster it owns). New
        attempts are refused from the start. Safe to call more than once."""
        with self._lock:
            self._closing = True
        self.abort()
        with self._idle:  # the last releases, before the client goes
            self._idle.wait_for(lambda: not self._flights, timeout=KILL_WAIT)
            self._closed = True
            client, cluster = self._client, self._cluster
            self._client = self._cluster = None
        if client is None:
            return
        client.close()
        if cluster is not None:
            cluster.close()

    def _set_marks(self, names: list[str]) -> None:
        """Set cancel marks in one round trip, bounded; none while the scheduler is down
        (the workers stop what they cannot report; what is left is given up)."""
        client = self._client
        if not names or client is None or client.status != "running":
            return
        try:
            client.sync(_set_all, client.scheduler, *names, callback_timeout=ASK_TIMEOUT_S)
        except Exception:  # the scheduler is gone: what is left is given up
            pass

    # -- the cluster -------------------------------------------------------------------

    def client(self) -> Any:
        """The connected ``distributed.Client``, made on first use."""
        with self._lock:
            if self._closed or (self._closing and self._client is None):
                raise ExecutorError("the dask executor is closed")
            if self._client is None or self._client.status in ("closing", "closed"):
                self._client = self._connect()  # again, once a lost scheduler is back
            return self._client

    def _connect(self) -> Any:
        dist = distributed()
        try:
            target: Any = self.address
            if self.address == "local":
                workers, threads = self.cluster_shape
                self._cluster = dist.LocalCluster(n_workers=workers, threads_per_worker=threads,
                                             dashboard_address=None)
                target = self._cluster
            client = dist.Client(target, timeout=self.connect_timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ExecutorError(f"cannot reach the dask scheduler {self.address}: {exc}") from exc
        client.subscribe_topic(self.topic, self._on_event)
        return client

    def _check_resources(self, client: Any, member: Member) -> None:
        """A member whose resources no worker offers is refused, not left waiting."""
        if not member.resources:
            return
        workers = client.scheduler_info(n_workers=-1)["workers"].values()
        for worker in workers:
            offered: Mapping[str, float] = worker.get("resources", {})
            if all(offered.get(name, 0) >= need for name, need in member.resources.items()):
                return
        wanted = ", ".join(f"{k}={v:g}" for k, v in sorted(member.resources.items()))
        raise ExecutorError(f"no worker of dask {self.address} offers resources {wanted}")

    def _on_event(self, event: tuple[float, Any]) -> None:
        """A batch of some attempt's output, or its reply (on the client's event loop: only
        hand it on)."""
        message = event[1]
        with self._lock:
            flight = self._flights.get(message.get("key", ""))
        if flight is None:
            return
        reply = message.get("reply")
        flight.items.put(reply if isinstance(reply, bytes) else list(message.get("lines", ())))

    def _refusal(self, task: Task) -> tuple[MemberStatus, str] | None:
        with self._lock:
            if self._closing:
                return MemberStatus.ERRORED, "the dask executor is closed"
            if task.run_id in self._aborted_runs:
                return MemberStatus.ABORTED, "aborted before it started"
        return None

    def _forget(self, flight: _Flight) -> None:
        with self._idle:
            self._flights.pop(flight.key, None)
            self._idle.notify_all()
