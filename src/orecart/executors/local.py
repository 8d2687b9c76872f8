"""The local executor: member runs as processes on this machine.

Each attempt runs in its own session and process group, and in its own *cell* (see
``containment``: a cgroup v2 where the machine allows it, else orecart as a subreaper and
a tag in the environment), with stdin from /dev/null and stdout and stderr captured line
by line into the member-run log and the output sink. The group and the cell, not just the
main process, are the unit that is stopped: a timeout or an abort sends SIGTERM to all of
it, waits ``grace`` seconds, then SIGKILLs it; when the main process exits, whatever it
left running is SIGKILLed (as Docker does when a container's main process exits), so no
member run outlives its result. A reaper process (``orecart.executors.reaper``) kills the
groups and cells if orecart itself dies by ``kill -9``.

One thread per running attempt (taken from ``workers.Workers``, which reuses the threads
of attempts that ended) does all of its work: it starts the process, then waits in
``poll`` on the two output pipes and a pidfd (Linux >= 5.3), so it wakes exactly when there
is output or the process exits, never on a timer. The exit status is read with
``waitpid`` directly: ``subprocess`` reports an undeterminable status as 0, which must not
become success.

A member that puts itself into a new session or process group (``setsid``, ``setpgid``,
``nohup``, daemons that double-fork) stays in its cell. Limitation: with cgroups, only a
privileged process that moves itself to another cgroup escapes; in the subreaper fallback,
a process that is orphaned and also execs with an environment without its tag does.

Call outline: ``submit -> _Attempt.run (own thread): open log -> _admit -> _spawn ->
_watch (poll: _read / _exited / _deadlines) -> _result``; ``abort -> stop(SIGTERM) ->
wait grace -> stop(SIGKILL)``; ``close -> abort -> Containment.close -> Reaper.close``.
"""

from __future__ import annotations

import os
import select
import shlex
import signal
import subprocess
import threading
import time
from concurrent.futures import Future, wait
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from orecart.errors import ExecutorError
from orecart.executors import OutputSink
from orecart.executors.containment import Cell, Containment, choose, mode_of
from orecart.executors.logfile import LineSplitter, LogWriter, open_log
from orecart.executors.process import (
    ProcessGroup,
    command_of,
    exit_outcome,
    has_exited,
    launch_problem,
    open_pidfd,
    spawn_error,
)
from orecart.executors.reaper import Reaper
from orecart.executors.workers import Workers
from orecart.model import Member, MemberStatus, Result, Task

READ_SIZE = 1 << 16  # one pipe's default capacity
DRAIN = 2.0  # seconds to keep reading after the main process exited (escaped holders)
KILL_WAIT = 5.0  # seconds abort() waits for futures after SIGKILL
#: how many aborted runs an executor remembers, to refuse their late attempts
ABORTED_RUNS_KEPT = 1024
FALLBACK_POLL = 0.05  # seconds between exit checks where pidfd_open is missing

#: The open output pipes of one process: fd -> (stream name, line splitter, pipe).
_Streams = dict[int, tuple[str, LineSplitter, IO[bytes]]]


def _now() -> datetime:
    return datetime.now(UTC)


class _Attempt:
    """One submitted attempt: its process, its output pump and its future."""

    def __init__(self, executor: LocalExecutor, task: Task, output: OutputSink) -> None:
        self.executor = executor
        self.task = task
        self.output = output
        self.future: Future[Result] = Future()
        self.started_at = _now()
        self.aborted = False
        self._lock = threading.Lock()
        self._group: ProcessGroup | None = None
        self._code: int | None = None
        self._exited = False
        self._timed_out = False
        self._timeout_at: float | None = None
        self._kill_at: float | None = None
        self._drain_at: float | None = None
        self._sink_error: str | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def run(self) -> None:
        """Thread body: whatever happens, the future completes with a Result."""
        try:
            result = self._logged()
        except BaseException as exc:  # a bug here must not leave the runner waiting
            result = self._result(MemberStatus.ERRORED, f"local executor error: {exc!r}")
            self._kill_after_bug()
        finally:
            self.executor._release(self)
        self.future.set_result(result)

    def _kill_after_bug(self) -> None:
        """Leave no process behind when the pump itself failed."""
        with self._lock:
            group, exited = self._group, self._exited
        if group is not None and not exited:
            group.signal(signal.SIGKILL)
            group.reap(self.executor._unguard)

    def _logged(self) -> Result:
        task = self.task
        try:
            log = open_log(task.log_path, task.secrets)
        except OSError as exc:
            return self._result(MemberStatus.ERRORED, f"cannot open log {task.log_path}: {exc}")
        with log:
            result = self._execute(log)
            note = f"attempt {task.attempt} of {task.member.name!r} finished: {result.status}"
            log.note(note + (f" ({result.error})" if result.error else ""))
        return result

    def _execute(self, log: LogWriter) -> Result:
        member = self.task.member
        argv = command_of(member)
        if argv is None:
            kind = "a container member needs the docker executor" if member.container else ""
            return self._result(MemberStatus.ERRORED, f"no run or shell command {kind}".strip())
        cwd = self.task.base_dir / member.cwd if member.cwd else self.task.base_dir
        shown = member.shell if member.run is None else shlex.join(argv)
        log.note(f"attempt {self.task.attempt} of {member.name!r} started: {shown} (in {cwd})")
        if not cwd.is_dir():
            return self._result(MemberStatus.ERRORED, f"working directory not found: {cwd}")
        if not self.executor._admit(self):
            return self._result(MemberStatus.ABORTED, "aborted before it started")
        error = self._spawn(argv, cwd)
        if error is not None:
            return self._result(MemberStatus.ERRORED, error)
        if self._group is None:
            return self._result(MemberStatus.ABORTED, "aborted before it started")
        self._watch(log, self._group)
        return self._outcome()

    def _spawn(self, argv: list[str], cwd: Path) -> str | None:
        """Start the process in its own session and cell; the reason when it cannot be."""
        try:
            cell = self.executor._cell()
        except ExecutorError as exc:
            return str(exc)
        env = {**self.task.env, **cell.env}  # the task's env is all it gets (orecart.environ)
        unlaunchable = launch_problem(argv[0], cwd, env.get("PATH"))
        if unlaunchable is not None:  # said before the cell's shell would say it as exit 127
            cell.finish(None)
            return spawn_error(unlaunchable, argv[0])
        with self._lock:
            if self.aborted:
                return None
            self.started_at = _now()
            try:
                process = subprocess.Popen(
                    cell.command(argv),
                    cwd=cwd,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    start_new_session=True,
                    bufsize=0,
                )
            except Exception as exc:  # anything Popen raises means it could not start
                cell.finish(None)
                return spawn_error(exc, argv[0])
            self._group = ProcessGroup(process, cell)
            self.executor._guard(process.pid)
        if self.task.member.timeout is not None:
            self._timeout_at = time.monotonic() + self.task.member.timeout
        return None

    def stop(self, signum: int) -> None:
        """Abort this attempt: signal its group (or keep it from starting).

        An attempt whose process already exited keeps the status it earned.
        """
        with self._lock:
            if self._exited:
                return
            self.aborted = True
            group = self._group
        if group is not None:
            group.signal(signum)

    # -- the output pump ---------------------------------------------------------------

    def _watch(self, log: LogWriter, group: ProcessGroup) -> None:
        """Copy output to the log and sink until the process exited and the pipes closed."""
        process = group.process
        assert process.stdout is not None and process.stderr is not None
        streams = {
            process.stdout.fileno(): ("stdout", log.splitter(), process.stdout),
            process.stderr.fileno(): ("stderr", log.splitter(), process.stderr),
        }
        poller = select.poll()
        for fd in streams:
            poller.register(fd, select.POLLIN)
        pidfd = open_pidfd(process.pid)
        if pidfd is not None:
            poller.register(pidfd, select.POLLIN)
        try:
            while streams or not self._exited:
                for fd, _ in poller.poll(self._wait_ms(pidfd is None)):
                    if fd == pidfd:
                        poller.unregister(pidfd)
                        self._on_exit(group)
                    else:
                        self._read(fd, streams, poller, log)
                if pidfd is None and not self._exited and has_exited(process.pid):
                    self._on_exit(group)
                self._deadlines(group, streams, poller)
        finally:
            if pidfd is not None:
                os.close(pidfd)
            for _, _, pipe in streams.values():
                pipe.close()

    def _read(self, fd: int, streams: _Streams, poller: select.poll, log: LogWriter) -> None:
        name, splitter, pipe = streams[fd]
        try:
            data = os.read(fd, READ_SIZE)
        except OSError:
            data = b""
        lines = splitter.feed(data) if data else splitter.finish()
        if lines:
            self._emit(log, name, lines)
        if not data:
            poller.unregister(fd)
            del streams[fd]
            pipe.close()

    def _emit(self, log: LogWriter, stream: str, lines: list[str]) -> None:
        clean = log.write_lines(stream, lines)
        if self._sink_error is not None:
            return
        name = self.task.member.name
        try:
            for line in clean:
                self.output(name, line)
        except Exception as exc:  # a broken sink must not block the pipes of a live process
            self._sink_error = f"output sink failed: {exc!r}"

    def _on_exit(self, group: ProcessGroup) -> None:
        code = group.reap(self.executor._unguard)
        with self._lock:
            self._code, self._exited = code, True
        self._timeout_at = self._kill_at = None
        self._drain_at = time.monotonic() + DRAIN

    def _deadlines(self, group: ProcessGroup, streams: _Streams, poller: select.poll) -> None:
        now = time.monotonic()
        if self._timeout_at is not None and now >= self._timeout_at:
            self._timeout_at, self._timed_out = None, True
            self._kill_at = now + self.executor.grace
            group.signal(signal.SIGTERM)
        if self._kill_at is not None and now >= self._kill_at:
            self._kill_at = None
            group.signal(signal.SIGKILL)
        if self._drain_at is not None and now >= self._drain_at:
            for fd, (_, _, pipe) in list(streams.items()):  # held by a process that escaped
                poller.unregister(fd)
                pipe.close()
            streams.clear()

    def _wait_ms(self, fallback: bool) -> int:
        """How long poll may sleep: until the next deadline, or forever when there is none."""
        deadlines = [t for t in (self._timeout_at, self._kill_at, self._drain_at) if t is not None]
        if fallback and not self._exited:
            deadlines.append(time.monotonic() + FALLBACK_POLL)
        if not deadlines:
            return -1
        return max(0, int((min(deadlines) - time.monotonic()) * 1000) + 1)

    # -- results -----------------------------------------------------------------------

    def _outcome(self) -> Result:
        if self.aborted:
            return self._result(MemberStatus.ABORTED, "aborted", self._code)
        if self._timed_out:
            timeout = self.task.member.timeout or 0.0
            return self._result(MemberStatus.FAILED, f"timed out after {timeout:g}s", self._code)
        status, error = exit_outcome(self._code, shell=self.task.member.shell is not None)
        if self._sink_error is not None:
            status, error = MemberStatus.ERRORED, self._sink_error
        return self._result(status, error, self._code)

    def _result(self, status: MemberStatus, error: str | None, code: int | None = None) -> Result:
        return Result(
            status=status,
            exit_code=code,
            error=error,
            started_at=self.started_at,
            finished_at=_now(),
        )


class LocalExecutor:
    """Runs member runs as local process groups; see the module docstring.

    ``max_workers`` caps how many processes run at once (None: no cap; the runner's
    ``max_parallel`` and pools already limit it). ``grace`` is the time between SIGTERM
    and SIGKILL when a member times out or is aborted. ``containment`` is ``auto``,
    ``cgroup`` or ``subreaper`` (None: ``ORECART_CONTAINMENT``, else ``auto``; see
    ``containment.choose``). After ``abort()`` every further submission completes as
    aborted at once.
    """

    def __init__(
        self, *, max_workers: int | None = None, grace: float = 5.0,
        containment: str | None = None,
    ) -> None:
        self.max_workers = max_workers
        self.grace = grace
        self.mode = mode_of(containment)  # an unknown mode fails here, before any run
        self._cond = threading.Condition()
        self._running: set[_Attempt] = set()
        self._aborting = False  # everything: close() or abort() without a run
        #: abort(run_id): that run's later attempts refused too; the latest runs only (a
        #: long-lived executor must not remember every run it ever aborted)
        self._aborted_runs: dict[str, None] = {}  # an ordered set, oldest first
        self._reaper: Reaper | None = None
        self.containment: Containment | None = None
        self._workers = Workers("orecart-local")

    def submit(self, task: Task, output: OutputSink) -> Future[Result]:
        """Start one attempt in a thread of its own (a reused one) and return its future
        at once."""
        attempt = _Attempt(self, task, output)
        try:
            self._ensure_guards()
        except OSError as exc:
            attempt.future.set_result(
                attempt._result(MemberStatus.ERRORED, f"cannot start the process reaper: {exc}")
            )
            return attempt.future
        except ExecutorError as exc:
            error = f"cannot contain member processes: {exc}"
            attempt.future.set_result(attempt._result(MemberStatus.ERRORED, error))
            return attempt.future
        try:
            self._workers.run(attempt.run)
        except RuntimeError as exc:  # out of threads: a result, like any start failure
            attempt.future.set_result(attempt._result(MemberStatus.ERRORED, str(exc)))
        return attempt.future

    def resolve(self, member: Member) -> str | None:
        """Local members have no image, so nothing to pin."""
        return None

    def abort(self, run_id: str | None = None) -> None:
        """SIGTERM every running group (of run ``run_id`` only, when given: a long-lived
        executor serves several runs), wait ``grace``, SIGKILL the rest; twice: SIGKILL
        now. Later attempts of what was aborted complete as aborted at once."""
        with self._cond:
            if run_id is None:
                again, self._aborting = self._aborting, True
            else:
                again = run_id in self._aborted_runs
                self._aborted_runs[run_id] = None
                if len(self._aborted_runs) > ABORTED_RUNS_KEPT:
                    del self._aborted_runs[next(iter(self._aborted_runs))]
            attempts = [a for a in self._running if run_id in (None, a.task.run_id)]
            self._cond.notify_all()
        if again:
            for attempt in attempts:
                attempt.stop(signal.SIGKILL)
            return
        for attempt in attempts:
            attempt.stop(signal.SIGTERM)
        futures = [attempt.future for attempt in attempts]
        _, left = wait(futures, timeout=self.grace)
        for attempt in attempts:
            if attempt.future in left:
                attempt.stop(signal.SIGKILL)
        wait(left, timeout=KILL_WAIT)

    def close(self) -> None:
        """Abort what still runs, remove the cells and stop the reaper. Safe to call more
        than once."""
        self.abort()
        with self._cond:
            reaper, self._reaper = self._reaper, None
            containment, self.containment = self.containment, None
        if containment is not None:
            containment.close()
        if reaper is not None:
            reaper.close()
        self._workers.close()

    # -- called by attempts ------------------------------------------------------------

    def _ensure_guards(self) -> None:
        """Start the reaper and choose the containment, once; the reaper guards it."""
        with self._cond:
            if self._aborting:
                return
            if self._reaper is None:
                self._reaper = Reaper.start()
            if self.containment is None:
                self.containment = choose(self.mode)
                self.containment.guard(self._reaper)

    def _cell(self) -> Cell:
        with self._cond:
            containment = self.containment
        if containment is None:
            raise ExecutorError("the executor is closed")
        return containment.cell()

    def _admit(self, attempt: _Attempt) -> bool:
        """Wait for a free slot; False when the executor is aborting."""
        with self._cond:
            while (
                not self._refuses(attempt)
                and self.max_workers is not None
                and len(self._running) >= self.max_workers
            ):
                self._cond.wait()
            if self._refuses(attempt):
                return False
            self._running.add(attempt)
            return True

    def _refuses(self, attempt: _Attempt) -> bool:
        """Whether ``attempt`` must not start: everything, or its run, was aborted."""
        return self._aborting or attempt.task.run_id in self._aborted_runs

    def _release(self, attempt: _Attempt) -> None:
        with self._cond:
            if attempt in self._running:
                self._running.discard(attempt)
                self._cond.notify()

    def _guard(self, pgid: int) -> None:
        """Tell the reaper of a new group, unless the containment's guard holds it already
        (two pipe writes and two wake-ups of the reaper per attempt saved)."""
        if self._reaper is not None and self._groups_guarded():
            self._reaper.register(pgid)

    def _unguard(self, pgid: int) -> None:
        if self._reaper is not None and self._groups_guarded():
            self._reaper.unregister(pgid)

    def _groups_guarded(self) -> bool:
        containment = self.containment
        return containment is None or containment.guards_groups
