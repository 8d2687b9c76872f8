"""What runs on a Dask worker: one attempt of one member, on the worker host's own
executors (a local member as a contained process group, an image member on the worker
host's Docker Engine), with its output shipped back as it comes.

The Dask task is ``run_order(order)``. Before it starts anything it marks its attempt
started (a distributed ``Event`` named after the attempt's key); a second execution of
the same task, which Dask schedules after the worker running the first one died, finds
the mark, runs nothing and answers ``aborted: worker lost`` (or, when the first one
finished and its worker died before the client collected the reply, the reply it stored
on the scheduler as the task's metadata). So an attempt never runs
twice, and the member process of the lost worker died with it: the worker's
``LocalExecutor`` has its reaper, which kills the member's cell when the worker process
dies, however it dies; an image member's containers carry the worker's identity and its
guard removes them then (see ``daskguard``).

While the member runs, the task follows its worker-side log (the executor writes it, lines
redacted and stamped) and sends what is new, every ``FLUSH_S`` or ``BATCH_BYTES``, as one
worker event on the executor's topic; the client writes the member-run log from them. It
also looks at the attempt's cancel ``Event`` and, once it is set, aborts the member
(SIGTERM, SIGKILL after the grace; a container is stopped). With ``copy`` artifacts the
member's inputs arrive with the order and its artifact folder goes back in the reply;
with ``shared`` ones the paths are used as they are (a file system every worker mounts at
the same path).

Call outline: ``run_order -> _answer: _claim -> _local_task -> _executor(kind).submit ->
_follow (_Tail.read -> log_event, cancel) -> Reply; _announce (the reply's event)``.
"""

from __future__ import annotations

import asyncio
import importlib
import pickle
import tempfile
import threading
from collections.abc import Mapping
from concurrent.futures import Future, wait
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orecart.environ import folder_variables
from orecart.executors import Executor, daskguard
from orecart.model import Member, MemberStatus, Result, Task

FLUSH_S = 0.1  # longest a line waits on the worker before it is sent
BATCH_BYTES = 256 * 1024  # most log text in one event
CANCEL_POLL_S = 0.5  # how often the cancel mark is read (one scheduler call)
ASK_TIMEOUT_S = 2.0  # longest that read may take; then the member is stopped
#: longest a worker takes to begin stopping a member it was told to stop, or whose
#: outcome can reach nobody (the client waits this plus the grace before a retry)
STOP_WAIT_S = CANCEL_POLL_S + ASK_TIMEOUT_S + 1.0
REPLY_EVENT_BYTES = 64 * 1024  # artifacts up to this size come back in the reply's event too
MAX_ARTIFACT_BYTES = 512 * 1024 * 1024  # copy mode: more than this is an error, not a hang
WORKER_LOST = "worker lost: the worker running it died (it is not run twice)"
ARTIFACTS_LOST = "artifacts lost with its worker: it ran, but its worker died before " \
    "the artifacts were collected (it is not run twice)"
REPLY = "orecart-reply"  # the task metadata that keeps a finished execution's reply

#: (path relative to its folder, content) of every file of a folder
Files = dict[str, bytes]


def distributed() -> Any:
    """The ``distributed`` package, imported now (it has no type annotations)."""
    return importlib.import_module("distributed")


def mark(name: str, client: Any = None) -> Any:
    """The distributed ``Event`` called ``name`` (an attempt's started or cancel mark)."""
    return distributed().Event(name, client)


def started_mark(key: str) -> str:
    return f"orecart-started-{key}"


def cancel_mark(key: str) -> str:
    return f"orecart-cancel-{key}"


@dataclass(frozen=True)
class Order:
    """One attempt as the client sends it to a worker."""

    key: str  # the attempt's own id: its Dask key and the name of its marks
    task: Task  # as the runner built it, with the client's paths
    topic: str  # the worker events its output goes to
    grace: float  # seconds between SIGTERM and SIGKILL
    shared: bool  # artifact folders are the same paths on the worker
    inputs: Mapping[str, Files] = field(default_factory=dict)  # copy mode: need -> files


@dataclass(frozen=True)
class Reply:
    """What the worker answers: the result, how many output events it sent, the files of
    the artifact folder (copy mode) and which worker it was."""

    result: Result
    batches: int = 0
    artifacts: Files = field(default_factory=dict)
    worker: str = ""


def run_order(order: Order) -> Reply:
    """The Dask task: run one attempt on this worker; never raises."""
    reply = _answer(order)
    _announce(order, reply)
    return reply


def _announce(order: Order, reply: Reply) -> None:
    """Send a small reply as a worker event too, after the last batch of output: the client
    has it without gathering the task's result from this worker (a round trip on the path
    of every member). The result still carries it, for a client that missed the event."""
    if sum(len(data) for data in reply.artifacts.values()) > REPLY_EVENT_BYTES:
        return
    try:
        distributed().get_worker().log_event(
            order.topic, {"key": order.key, "reply": pickle.dumps(reply)})
    except Exception:  # the result carries it anyway
        pass


def _answer(order: Order) -> Reply:
    worker = distributed().get_worker()
    started, cancelled, stored = _claim(order.key)
    if started:
        return _rerun(order, stored, worker.address)
    if cancelled:
        error = "aborted before it started"
        return Reply(_now_result(MemberStatus.ABORTED, error), worker=worker.address)
    with tempfile.TemporaryDirectory(prefix="orecart-dask-") as scratch:
        try:
            reply = _run(order, Path(scratch), worker)
        except Exception as exc:  # a bug or a full disk here is the member's error
            error = f"dask worker error: {exc!r}"
            reply = Reply(_now_result(MemberStatus.ERRORED, error), worker=worker.address)
    _store(order.key, reply)
    return reply


def _store(key: str, reply: Reply) -> None:
    """Keep the reply (without its files) on the scheduler, as the task's metadata: it
    lives as long as the task does. A recomputation (this worker died before the client
    collected the reply) answers it instead of ``aborted``: the member ran, and once."""
    kept = pickle.dumps((replace(reply, artifacts={}), bool(reply.artifacts)))
    client = distributed().get_client()
    try:
        client.sync(client.scheduler.set_metadata, keys=[key, REPLY], value=kept)
    except Exception:  # the scheduler is gone: the client has given the attempt up
        pass


def _rerun(order: Order, stored: bytes | None, worker: str) -> Reply:
    """A second execution of an attempt that started: the first one's stored reply, else
    ``aborted`` (worker lost); and the cancel mark set, so the first one, should it still
    run (its worker dropped by the scheduler, not dead), stops."""
    if stored is None:
        client = distributed().get_client()
        try:
            client.sync(client.scheduler.event_set, name=cancel_mark(order.key))
        except Exception:  # the scheduler is gone: the first one stops by itself
            pass
        return Reply(_now_result(MemberStatus.ABORTED, WORKER_LOST), worker=worker)
    reply, had_files = pickle.loads(stored)
    assert isinstance(reply, Reply)
    if had_files and not order.shared and reply.result.status is MemberStatus.SUCCEEDED:
        result = replace(reply.result, status=MemberStatus.ERRORED, error=ARTIFACTS_LOST)
        return replace(reply, result=result, worker=worker)
    return replace(reply, worker=worker)


def _claim(key: str) -> tuple[bool, bool, bytes | None]:
    """Mark the attempt started; (whether it was already: its first worker died, whether
    it is cancelled, the first execution's stored reply). All are read at once: each call
    to the scheduler is on the path of every member."""
    client = distributed().get_client()
    scheduler = client.scheduler

    async def claim() -> tuple[bool, bool, bytes | None]:
        started, cancelled, stored = await asyncio.gather(
            scheduler.event_is_set(name=started_mark(key)),
            scheduler.event_is_set(name=cancel_mark(key)),
            scheduler.get_metadata(keys=[key, REPLY], default=None))
        if not started:
            await scheduler.event_set(name=started_mark(key))
        return bool(started), bool(cancelled), stored

    marks: tuple[bool, bool, bytes | None] = client.sync(claim)
    return marks


def resolve_on_worker(member: Member) -> str | None:
    """The Dask task of ``DaskExecutor.resolve``: the image digest on this worker's daemon."""
    from orecart.executors import load_executor

    docker = load_executor("docker")
    try:
        return docker.resolve(member)
    finally:
        docker.close()


def _run(order: Order, scratch: Path, worker: Any) -> Reply:
    task = _local_task(order, scratch)
    executor, owned = _executor(task, order.grace)
    try:
        future = executor.submit(task, _ignore)
        try:
            batches = _follow(order, task, (executor, future), worker)
        except BaseException:  # nothing may run on that nobody follows
            executor.abort(task.run_id)
            raise
        result = future.result()
    finally:
        if owned:
            executor.close()
    files = {} if order.shared else pack(task.artifacts)
    return Reply(result, batches, files, worker.address)


def _ignore(member: str, line: str) -> None:
    """Output goes back from the log, which has each line's stream and time."""


def _local_task(order: Order, scratch: Path) -> Task:
    """The task with the worker's paths: a log of its own in ``scratch`` and, in copy
    mode, artifact and input folders there too (the env names them instead)."""
    task = replace(order.task, run_id=order.key, log_path=scratch / "attempt.log")
    if task.member.container is not None:
        task = daskguard.owned(task)  # its containers die with this worker (see ``daskguard``)
    if order.shared:
        return task
    artifacts = scratch / "artifacts"
    artifacts.mkdir()
    inputs: dict[str, Path] = {}
    for need, files in order.inputs.items():
        folder = scratch / "inputs" / str(len(inputs))
        unpack(folder, files)
        inputs[need] = folder
    env = {**task.env, **folder_variables(artifacts, inputs)}
    return replace(task, artifacts=artifacts, inputs=inputs, env=env)


# -- the worker's executors ---------------------------------------------------------------

_LOCAL: dict[float, Executor] = {}
_LOCK = threading.Lock()


def _executor(task: Task, grace: float) -> tuple[Executor, bool]:
    """The executor for ``task`` on this worker, and whether it is this attempt's own.

    Local members share one LocalExecutor per worker process (its reaper guards them all);
    a docker executor serves one run, so each image attempt has its own."""
    from orecart.executors import load_executor

    if task.member.container is not None:
        return load_executor("docker", grace=grace), True
    with _LOCK:
        if grace not in _LOCAL:
            _LOCAL[grace] = load_executor("local", grace=grace)
        return _LOCAL[grace], False


# -- following the member -----------------------------------------------------------------


class _Tail:
    """Reads what was appended to a file since the last read, in whole lines."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset, self.rest = path, 0, b""

    def read(self, limit: int = BATCH_BYTES) -> list[str]:
        try:
            with self.path.open("rb") as file:
                file.seek(self.offset)
                data = file.read(limit)
        except FileNotFoundError:
            return []
        self.offset += len(data)
        *lines, self.rest = (self.rest + data).split(b"\n")
        return [line.decode("utf-8", errors="replace") for line in lines]


def _follow(order: Order, task: Task, running: tuple[Executor, Future[Result]],
            worker: Any) -> int:
    """Send the log's new lines until the attempt ended; abort it once it is cancelled.
    Returns how many events were sent."""
    executor, future = running
    tail, sent, cancel = _Tail(task.log_path), 0, mark(cancel_mark(order.key))
    next_look = CANCEL_POLL_S  # run_order looked just before it started the member
    while True:
        done = bool(wait([future], timeout=FLUSH_S).done)
        sent += _send(order, tail, worker, drain=done)
        if done:
            return sent
        next_look -= FLUSH_S
        if next_look <= 0:
            next_look = CANCEL_POLL_S
            if _stop_asked(cancel):
                threading.Thread(target=executor.abort, args=(task.run_id,), daemon=True).start()
                next_look = float("inf")  # asked once; the executor does the rest


def _stop_asked(cancel: Any) -> bool:
    """Whether the member must stop: its cancel mark is set, or the scheduler cannot be
    asked. The client has then given the attempt up (``aborted``) and may try it again:
    a member whose outcome can reach nobody must not run on beside its next attempt."""
    try:  # bounded: a scheduler that does not answer within ASK_TIMEOUT_S is gone
        client = cancel.client
        return bool(client.sync(client.scheduler.event_is_set, name=cancel.name,
                                callback_timeout=ASK_TIMEOUT_S))
    except Exception:
        return True


def _send(order: Order, tail: _Tail, worker: Any, drain: bool) -> int:
    """Send what the log holds now (all of it when ``drain``); the events sent."""
    sent = 0
    while True:
        lines = tail.read()
        if lines:
            worker.log_event(order.topic, {"key": order.key, "lines": lines})
            sent += 1
        if not drain or not lines:
            return sent


# -- artifacts ----------------------------------------------------------------------------


def pack(folder: Path) -> Files:
    """Every file under ``folder`` (copy mode); an OSError past ``MAX_ARTIFACT_BYTES``."""
    files: Files = {}
    total = 0
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            total += len(data)
            if total > MAX_ARTIFACT_BYTES:
                raise OSError(f"artifacts of {folder} exceed {MAX_ARTIFACT_BYTES} bytes")
            files[str(path.relative_to(folder))] = data
    return files



def unpack(folder: Path, files: Files) -> None:
    """Write ``files`` under ``folder``; a name that would leave it is refused."""
    folder.mkdir(parents=True, exist_ok=True)
    root = folder.resolve()
    for name, data in files.items():
        target = (folder / name).resolve()
        if root not in target.parents:
            raise OSError(f"artifact {name!r} is outside its folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)



def _now_result(status: MemberStatus, error: str) -> Result:
    now = datetime.now(UTC)
    return Result(status, error=error, started_at=now, finished_at=now)
