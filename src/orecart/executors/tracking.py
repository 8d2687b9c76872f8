"""What the docker executor has on the daemon: the containers and networks it started, and
the containers it created ahead for member runs likely to start soon.

Every container is created through ``create``, which tracks it (so ``abort`` and ``close``
find it) or refuses once the executor is aborted. ``Ahead`` creates a member's container
while what it needs still runs, so that starting the member later is only a start; that
saves the create and image checks of each link of a chain. It never pulls: an image that
is not present is left to the attempt, which follows the pull policy.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import docker
import docker.errors

from orecart.errors import ExecutorError
from orecart.executors import cleanup, images
from orecart.executors import containers as ctr
from orecart.executors.hostpaths import host_paths
from orecart.executors.images import FOREIGN
from orecart.model import Task

#: What tearing down tolerates and leaves to close() or reap(): daemon errors, and a
#: removal someone else had in progress that did not finish.
TEARDOWN_ERRORS = (*FOREIGN, ExecutorError)


class Tracker:
    """Containers and per-run networks this executor started, for abort and close.

    Networks are shared by the members of one run that have sidecars, so they are counted
    and removed when the last user releases them.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.aborted = threading.Event()
        self.containers: set[str] = set()
        self.networks: dict[str, int] = {}
        self.services: list[Any] = []  # service members still running, until close()

    def add(self, container_id: str) -> bool:
        """Track a new container; False (do not run it) once the executor is aborted."""
        with self.lock:
            if self.aborted.is_set():
                return False
            self.containers.add(container_id)
            return True

    def discard(self, container_id: str) -> None:
        with self.lock:
            self.containers.discard(container_id)


def create(client: docker.DockerClient, tracker: Tracker, config: dict[str, Any]) -> str:
    """Create a tracked container (not started); a leftover of the same attempt and name is
    removed first, any other container of that name never. Raises ExecutorError
    ("aborted") once the executor is aborted, and the SDK's errors as they come."""
    try:
        created = client.containers.create(**config)
    except docker.errors.APIError as exc:
        if exc.status_code != 409:
            raise
        _remove_leftover(client, config)
        created = client.containers.create(**config)
    container_id = str(created.id)
    if not tracker.add(container_id):
        cleanup.remove(client, container_id)
        raise ExecutorError("aborted")
    return container_id


def _remove_leftover(client: docker.DockerClient, config: dict[str, Any]) -> None:
    name = config["name"]
    try:
        found = client.api.inspect_container(name)["Config"]["Labels"]
    except docker.errors.NotFound:
        return  # gone meanwhile: creating again will do
    if not ctr.same_owner(found, config["labels"]):
        raise ExecutorError(f"a container named {name} exists that is not this member's")
    cleanup.remove(client, name)


@dataclass(frozen=True)
class _Created:
    config: dict[str, Any]
    container_id: str


class Ahead:
    """Member containers created ahead, by (run, member, attempt)."""

    def __init__(self, client: docker.DockerClient, tracker: Tracker, pool: ThreadPoolExecutor):
        self.client, self.tracker, self.pool = client, tracker, pool
        self.lock = threading.Lock()
        self.created: dict[tuple[str, str, int], Future[_Created | None]] = {}

    def prepare(self, task: Task) -> None:
        """Create the member's container in the background, if that can be done now."""
        container = task.member.container
        if container is None or container.sidecars or container.service or task.digest is None:
            return  # sidecars need the run's network first; services are not waited for
        with self.lock:
            if self.tracker.aborted.is_set() or _key(task) in self.created:
                return
            try:
                self.created[_key(task)] = self.pool.submit(self._create, task, task.digest)
            except RuntimeError:
                return  # the executor is closing: a hint is not worth an error

    def image(self, task: Task) -> str | None:
        """The local image the container created ahead for ``task`` was made from: present
        with the task's digest, so the attempt need not look again (it stays present while
        a container uses it)."""
        with self.lock:
            future = self.created.get(_key(task))
        made = future.result() if future is not None else None
        return str(made.config["image"]) if made is not None else None

    def take(self, task: Task, config: dict[str, Any]) -> str | None:
        """The container created ahead for ``task``, if it was made from ``config``; one made
        otherwise (the image moved since) is removed."""
        with self.lock:
            future = self.created.pop(_key(task), None)
        made = future.result() if future is not None else None
        if made is None:
            return None
        if made.config == config:
            return made.container_id
        self._remove(made.container_id)
        return None

    def discard(self, task: Task) -> None:
        """Remove, in the background, the container created ahead for ``task``."""
        with self.lock:
            future = self.created.pop(_key(task), None)
        if future is None:
            return
        try:
            self.pool.submit(self._undo, future)
        except RuntimeError:
            return  # the executor is closing: close() removes it

    def _undo(self, future: Future[_Created | None]) -> None:
        made = future.result()
        if made is not None:
            self._remove(made.container_id)

    def _create(self, task: Task, digest: str) -> _Created | None:
        assert task.member.container is not None
        try:
            image = images.present_id(self.client, task.member.container, digest)
            if image is None:
                return None  # the attempt pulls it, as its pull policy says
            config = ctr.member_config(task, image, None, host_paths(self.client))
            return _Created(config, create(self.client, self.tracker, config))
        except (*FOREIGN, ExecutorError, OSError):
            return None  # the attempt tries again and reports what goes wrong

    def _remove(self, container_id: str) -> None:
        try:
            cleanup.remove(self.client, container_id)
        except TEARDOWN_ERRORS:
            return  # close() tries again; reap() removes it later by its labels
        self.tracker.discard(container_id)


def _key(task: Task) -> tuple[str, str, int]:
    return (task.run_id, task.member.name, task.attempt)
