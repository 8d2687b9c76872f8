"""The docker executor: member runs as containers on a Docker (or Podman) daemon.

The daemon is ``base_url``, else ``DOCKER_HOST``, else the default socket. Podman's
Docker-compatible service works too (``podman system service unix:///path``). Images are
resolved to digests by ``resolve`` and run by digest (see ``images``); containers are
configured in ``containers``. Failures are results: a non-zero exit is ``failed``; an image
that cannot be had, an out-of-memory kill, an unreadable exit status or an unreachable
daemon is ``errored`` with the daemon's reason; a timeout is ``failed``.

Call outline: ``submit -> _attempt`` in a worker thread: ``ContainerRun.execute`` (see
``containerrun``: image, sidecars, the member's container, created ahead by ``prepare`` or
now, its wait, logs and outcome) -> the future's result -> ``ContainerRun.remove``: removal
is off the runner's path, so the next member starts meanwhile. ``abort`` stops and removes
everything this executor started (a second ``abort`` kills at once); ``close`` waits for
the workers (removals included), stops service members and removes what is left
(containers created ahead for members that never started, too) before it returns.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from orecart.executors import OutputSink, cleanup, containerlogs, images, tracking
from orecart.executors.cleanup import reap
from orecart.executors.containerrun import ContainerRun
from orecart.executors.images import ImageInfo, connect, image_report
from orecart.executors.logfile import open_log
from orecart.executors.tracking import TEARDOWN_ERRORS
from orecart.model import Member, MemberStatus, Result, Task

if TYPE_CHECKING:
    import docker

__all__ = ["DockerExecutor", "ImageInfo", "image_report", "reap"]

#: Seconds a member gets between SIGTERM and SIGKILL when it is stopped. Well under the 10 s
#: ``docker stop`` gives a container: orecart running in one (the Motherlode image) must
#: have stopped and removed its members, and recorded the run, before it is killed itself.
GRACE = 5.0


class DockerExecutor:
    """Runs member runs as containers. See the module docstring for the call outline."""

    def __init__(
        self, *, base_url: str | None = None, grace: float = GRACE, max_workers: int | None = None,
        client: docker.DockerClient | None = None,
    ) -> None:
        """``client``: a daemon client to share (its owner closes it), else one of its own."""
        self._own_client = client is None
        self.client = connect(base_url) if client is None else client
        self.grace = grace
        self._pool = ThreadPoolExecutor(max_workers or 32, thread_name_prefix="orecart-docker")
        self.tracker = tracking.Tracker()
        self.ahead = tracking.Ahead(self.client, self.tracker, self._pool)

    def reap(self, alive: Callable[[str], bool]) -> None:
        """Remove what dead runs left on this daemon (see ``cleanup.reap``)."""
        reap(alive, self.client)

    def submit(self, task: Task, output: OutputSink) -> Future[Result]:
        """The future completes once the result is known and the log complete; the
        containers are removed after that, by the same worker (``close`` waits for it)."""
        future: Future[Result] = Future()
        self._pool.submit(self._attempt, task, output, future)
        return future

    def prepare(self, task: Task) -> None:
        """Create the member's container ahead (see ``tracking.Ahead``); never pulls."""
        self.ahead.prepare(task)

    def discard(self, task: Task) -> None:
        """Remove the container created ahead for ``task``: it will not start."""
        self.ahead.discard(task)

    def resolve(self, member: Member) -> str | None:
        """The image digest the member will run; never pulls. Raises ExecutorError."""
        if member.container is None:
            return None
        return images.resolve(self.client, member.container)

    def abort(self, run_id: str | None = None) -> None:
        """Stop and remove every container and network this executor started, now: SIGTERM,
        SIGKILL after ``grace``; a second call (a second Ctrl-C) kills and removes at once.
        One docker executor serves one run (``run_id`` changes nothing)."""
        tracker = self.tracker
        with tracker.lock:
            again = tracker.aborted.is_set()
            tracker.aborted.set()  # before any stop: the outcome says aborted
            ids = list(tracker.containers)
        grace = 0.0 if again else self.grace  # 0: a forced removal, which kills
        cleanup.at_once([partial(self._remove, cid, grace) for cid in ids])
        self._remove_networks()

    def close(self) -> None:
        """Wait for the workers, stop service members, remove whatever is left.

        Returns once the daemon has removed every container and network this executor
        started (a kept failed member excepted); what it refuses is left to ``reap``.
        """
        self._pool.shutdown(wait=True)
        with self.tracker.lock:
            services, self.tracker.services = self.tracker.services, []
        cleanup.at_once([service.teardown for service in services])
        with self.tracker.lock:
            ids = list(self.tracker.containers)
        cleanup.at_once([partial(self._remove, cid, 0.0) for cid in ids])
        self._remove_networks()
        if self._own_client:
            self.client.close()

    def _remove(self, container_id: str, grace: float) -> None:
        try:
            cleanup.remove(self.client, container_id, grace)
        except TEARDOWN_ERRORS:
            return  # best effort while tearing down; reap() catches what is left
        self.tracker.discard(container_id)

    def _remove_networks(self) -> None:
        with self.tracker.lock:
            names = list(self.tracker.networks)
            self.tracker.networks.clear()
        for name in names:
            self._quietly(cleanup.remove_network, name)

    def _quietly(self, action: Callable[..., Any], *args: Any) -> None:
        try:
            action(self.client, *args)
        except TEARDOWN_ERRORS:
            pass  # best effort while tearing down; reap() catches what is left

    def _attempt(self, task: Task, output: OutputSink, future: Future[Result]) -> None:
        """Complete ``future`` whatever happens (a bug is an errored result, never a hang),
        then remove the attempt's containers: off the runner's path, so the next member
        may start meanwhile."""
        started, attempt = datetime.now(UTC), None
        try:
            result, attempt = self._execute(task, output)
        except Exception as exc:
            result = Result(MemberStatus.ERRORED, error=f"docker executor failed: {exc!r}")
        future.set_result(_stamped(result, started))
        if attempt is not None:
            attempt.remove()

    def _execute(self, task: Task, output: OutputSink) -> tuple[Result, ContainerRun | None]:
        if task.member.container is None:
            error = f"member {task.member.name!r} has no image; the docker executor runs images"
            return Result(MemberStatus.ERRORED, error=error), None
        try:
            writer = open_log(task.log_path, task.secrets)
        except OSError as exc:
            return Result(MemberStatus.ERRORED, error=f"cannot open log: {exc}"), None
        log = containerlogs.SharedLog(writer, output, task.member.name)
        attempt = ContainerRun(self, task, log)
        try:
            result = attempt.execute()
        except Exception as exc:  # a bug: still an attempt whose containers must go
            result = Result(MemberStatus.ERRORED, error=f"docker executor failed: {exc!r}")
        finally:
            writer.flush()
        log.note(
            f"attempt {task.attempt} of {task.member.name!r} finished: {result.status}"
            + (f" ({result.error})" if result.error else "")
        )
        if not attempt.detached:  # a running service keeps its log until close()
            log.close()
        return result, attempt


def _stamped(result: Result, started: datetime) -> Result:
    return replace(result, started_at=started, finished_at=datetime.now(UTC))
