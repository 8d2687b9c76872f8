"""One attempt of one image member on the daemon: its image, sidecars, the container, how
it is waited for, and its outcome. ``DockerExecutor`` runs each in a worker thread.

Outline: ``execute: _image -> _start_sidecars -> _start_member (created ahead, or created
now) -> _finish (wait with a watchdog, settle logs, read the exit status) or _serve (a
service member) -> _drain``; then, once the result is out, ``remove``.

Why a member stopped is recorded by whoever stops it, before it stops it: the watchdog
(``timed_out``) or ``abort`` (``aborted``). The outcome reads those flags, not the exit
code (137 either way), so it does not matter which thread sees the exit first.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any

import docker
import docker.errors

from orecart.errors import ExecutorError
from orecart.executors import cleanup, containerlogs, images, tracking
from orecart.executors import containers as ctr
from orecart.executors.hostpaths import host_paths
from orecart.executors.images import FOREIGN, daemon_error
from orecart.executors.tracking import TEARDOWN_ERRORS
from orecart.model import Container, MemberStatus, Result, Task

if TYPE_CHECKING:
    from orecart.executors.docker import DockerExecutor

FOLLOW_GRACE = 10.0  # seconds a stopped container's log may stay silent before it is left
WAIT_TRIES = 5  # waits for the member's exit cut by a transport error before giving up


class ContainerRun:
    """One attempt of one image member: image, sidecars, the container, its outcome."""

    def __init__(self, executor: DockerExecutor, task: Task, log: containerlogs.SharedLog) -> None:
        assert task.member.container is not None, "the docker executor runs image members"
        self.client = executor.client
        self.grace = executor.grace
        self.tracker = executor.tracker
        self.ahead = executor.ahead
        self.task = task
        self.container: Container = task.member.container
        self.log = log
        self.digest: str | None = task.digest
        self.network: str | None = None
        self.started: list[str] = []  # sidecars, then the member
        self.member_id: str | None = None
        self.followers: dict[str, list[containerlogs.LogFollower]] = {}  # by container id
        self.detached = False  # a service member left running until the executor closes
        self.lock = threading.Lock()  # between the waiting worker and the watchdog
        self.exited = False  # the member's exit was seen: the watchdog stands down
        self.timed_out = False  # the watchdog stopped the member

    def execute(self) -> Result:
        if self.tracker.aborted.is_set():
            return Result(MemberStatus.ABORTED, error="aborted before it started")
        result: Result | None = None
        try:
            image = self._image()
            self._start_sidecars()
            member_id = self._start_member(image)
            result = self._serve(member_id) if self.container.service else self._finish(member_id)
        except ExecutorError as exc:
            status = MemberStatus.ABORTED if self.tracker.aborted.is_set() else MemberStatus.ERRORED
            result = Result(status, error=str(exc), digest=self.digest)
        finally:
            self._drain(result)
        return result

    def _image(self) -> str:
        self.log.note(
            f"attempt {self.task.attempt} of {self.task.member.name!r} started: "
            f"image {self.container.image} (pull: {self.container.pull})"
        )
        if self.digest is None:
            self.digest = images.resolve(self.client, self.container)
        ahead = self.ahead.image(self.task) if self.digest == self.task.digest else None
        image_id = ahead or images.ensure(self.client, self.container, self.digest)
        self.log.note(f"image {self.container.image} is {self.digest}")
        return image_id

    def _create(self, config: dict[str, Any], what: str, member: bool = False) -> str:
        """Create (unless created ahead) and start a container."""
        try:
            created = self.ahead.take(self.task, config) if member else None
            container_id = created or tracking.create(self.client, self.tracker, config)
            self.started.append(container_id)
            if member:
                self.member_id = container_id
            self.client.api.start(container_id)
        except FOREIGN as exc:
            raise daemon_error(exc, f"cannot start {what}") from exc
        return container_id

    def _start_sidecars(self) -> None:
        if not self.container.sidecars:
            return
        if self.container.network_mode:
            raise ExecutorError(
                f"network_mode {self.container.network_mode!r} cannot reach sidecars, which "
                "live on the run's own network; drop one of them"
            )
        self.network = self._acquire_network()
        for sidecar in self.container.sidecars:
            spec = replace(self.container, image=sidecar.image, sidecars=())
            image = images.ensure(self.client, spec, images.resolve(self.client, spec))
            config = ctr.sidecar_config(self.client, self.task, sidecar, image, self.network)
            sidecar_id = self._create(config, f"sidecar {sidecar.name!r}")
            prefix = f"[{sidecar.name}] "
            follower = containerlogs.follow(self.client, sidecar_id, self.log, prefix)
            self.followers[sidecar_id] = follower

    def _acquire_network(self) -> str:
        name = ctr.network_name(self.task.run_id)
        tracker = self.tracker
        with tracker.lock:
            try:
                if name not in tracker.networks and not self.client.api.networks(names=[name]):
                    self.client.api.create_network(
                        name,
                        labels={
                            ctr.LABEL_RUN: self.task.run_id,
                            ctr.LABEL_PIPELINE: self.task.pipeline,
                        },
                    )
            except FOREIGN as exc:
                raise daemon_error(exc, f"cannot create network {name}") from exc
            tracker.networks[name] = tracker.networks.get(name, 0) + 1
        return name

    def _release_network(self) -> None:
        name, tracker = self.network, self.tracker
        if name is None:
            return
        with tracker.lock:
            count = tracker.networks.get(name, 0) - 1
            if count > 0:
                tracker.networks[name] = count
                return
            tracker.networks.pop(name, None)
        cleanup.remove_network(self.client, name)

    def _start_member(self, image: str) -> str:
        config = ctr.member_config(self.task, image, self.network, host_paths(self.client))
        member_id = self._create(config, f"container {config['name']}", member=True)
        self.followers[member_id] = containerlogs.follow(self.client, member_id, self.log)
        return member_id

    def _finish(self, member_id: str) -> Result:
        self._wait(member_id)
        self._settle(member_id)
        if self.tracker.aborted.is_set():
            return Result(MemberStatus.ABORTED, error="aborted", digest=self.digest)
        try:
            state = self.client.api.inspect_container(member_id)["State"]
        except FOREIGN as exc:
            if self.timed_out:  # what the member did is known; only its exit code is not
                state = {}
            else:
                raise daemon_error(exc, "cannot read the exit status") from exc
        timeout = self.task.member.timeout
        return _outcome(state, self.timed_out, timeout, self.container, self.digest)

    def _settle(self, container_id: str) -> None:
        for follower in self.followers.get(container_id, ()):
            follower.settle(FOLLOW_GRACE)

    def _serve(self, member_id: str) -> Result:
        """A service member (copili's is_service_container) is started, not waited for.

        It succeeds once it runs (or if it already exited 0) and stays up, logging into its
        member-run log, until the executor closes, aborts, or the run's reap.
        """
        try:
            state = self.client.api.inspect_container(member_id)["State"]
        except FOREIGN as exc:
            raise daemon_error(exc, "cannot read the service's state") from exc
        if not state.get("Running"):
            self._settle(member_id)
            return _outcome(state, False, None, self.container, self.digest)
        with self.tracker.lock:
            self.detached = True
            self.tracker.services.append(self)
        self.log.note(f"service {self.task.member.name!r} is running; stopped when the run ends")
        return Result(MemberStatus.SUCCEEDED, None, digest=self.digest)

    def teardown(self) -> None:
        """Stop a detached service member and its sidecars; close its log."""
        self.detached = False
        self._drain(None)
        self.remove()
        self.log.note(f"service {self.task.member.name!r} stopped")
        self.log.close()

    def _wait(self, member_id: str) -> None:
        """Wait for the member to exit; a watchdog stops it (then kills it) at its timeout."""
        timeout = self.task.member.timeout
        watchdog = threading.Timer(timeout, self._time_out, (member_id,)) if timeout else None
        if watchdog is not None:
            watchdog.daemon = True
            watchdog.start()
        try:
            self._wait_exit(member_id)
        finally:
            with self.lock:
                self.exited = True
            if watchdog is not None:
                watchdog.cancel()
                watchdog.join()  # a stop in flight ends before the container is removed

    def _wait_exit(self, member_id: str) -> None:
        """Block until the member is no longer running (or is gone); no read timeout."""
        for _ in range(WAIT_TRIES):
            try:
                self.client.api.wait(member_id)
                return
            except docker.errors.NotFound:
                return  # removed (abort): the outcome says why
            except FOREIGN:
                if self.tracker.aborted.is_set():
                    return
                time.sleep(0.2)  # a dropped connection: wait again

    def _time_out(self, member_id: str) -> None:
        """The watchdog: say it timed out, then stop it (SIGTERM, SIGKILL after grace)."""
        with self.lock:
            if self.exited or self.tracker.aborted.is_set():
                return
            self.timed_out = True
        try:
            self.client.api.stop(member_id, timeout=max(1, round(self.grace)))
        except FOREIGN:
            try:
                self.client.api.kill(member_id)
            except FOREIGN:
                pass  # gone already, or the daemon is: the wait ends either way

    def _drain(self, result: Result | None) -> None:
        """Stop what may still run and drain every log: after this the attempt's log is
        complete. A failed member kept for debugging (``--keep``) is no longer tracked."""
        if self.detached:
            return
        running = [cid for cid in self.started if cid != self.member_id or not self.exited]
        cleanup.at_once([partial(cleanup.stop, self.client, cid, self.grace) for cid in running])
        for container_id in self.followers:
            self._settle(container_id)
        if self.task.keep and result is not None and result.status in _KEPT and self.member_id:
            self.started.remove(self.member_id)
            self.tracker.discard(self.member_id)  # kept for debugging: not ours to remove
            self.log.note(f"kept failed container {self.member_id[:12]} (keep)")

    def remove(self) -> None:
        """Remove the attempt's containers, then its network (once no member uses it)."""
        if self.detached:
            return
        for container_id in reversed(self.started):
            try:
                cleanup.remove(self.client, container_id)
            except TEARDOWN_ERRORS:
                continue  # close() tries again; reap() removes it later by its labels
            self.tracker.discard(container_id)
        self.started.clear()
        try:
            self._release_network()
        except TEARDOWN_ERRORS:
            pass  # close() tries again; reap() removes it later by its labels


_KEPT = frozenset({MemberStatus.FAILED, MemberStatus.ERRORED})


def _outcome(
    state: dict[str, Any],
    timed_out: bool,
    timeout: float | None,
    container: Container,
    digest: str | None,
) -> Result:
    """Turn the daemon's final container state into a result; unknown is never success."""
    code = state.get("ExitCode")
    code = code if isinstance(code, int) else None
    if timed_out:
        return Result(MemberStatus.FAILED, code, f"timed out after {timeout:g}s", digest=digest)
    if state.get("OOMKilled"):
        limit = f" (memory limit {container.memory})" if container.memory else ""
        return Result(MemberStatus.ERRORED, code, f"killed: out of memory{limit}", digest=digest)
    if state.get("Running") or code is None or code < 0 or state.get("Error"):
        reason = state.get("Error") or f"state {state.get('Status')!r}"
        return Result(MemberStatus.ERRORED, code, f"exit status unknown: {reason}", digest=digest)
    if code == 0:
        return Result(MemberStatus.SUCCEEDED, 0, digest=digest)
    return Result(MemberStatus.FAILED, code, f"exited with code {code}", digest=digest)
