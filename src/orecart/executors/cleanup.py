"""Stopping and removing containers and networks, with retries until they are gone, and
`reap`: finding what runs that are over left behind, by their orecart labels."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

import docker
import docker.errors

from orecart.errors import ExecutorError
from orecart.executors.containers import (
    LABEL_MEMBER,
    LABEL_ROLE,
    LABEL_RUN,
)
from orecart.executors.images import FOREIGN, connect, daemon_error

_TRIES = 3  # removals (of containers and networks) the daemon fails before giving up
_RETRY_PAUSE = 0.5
_GONE_WAIT = 30.0  # seconds to wait for a removal someone else has in progress


def at_once(actions: list[Callable[[], None]]) -> None:
    """Run ``actions`` in threads of their own and wait for all: stops take ``grace`` each."""
    threads = [threading.Thread(target=action, daemon=True) for action in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def stop(client: docker.DockerClient, container_id: str, grace: float) -> None:
    """SIGTERM, SIGKILL after ``grace`` seconds; a failure is left to a forced removal.

    dockerd under load may answer a stop with "did not receive an exit event"; the
    container dies anyway, or ``remove`` kills it.
    """
    try:
        client.api.stop(container_id, timeout=max(1, round(grace)))
    except FOREIGN:
        pass


def remove(client: docker.DockerClient, container_id: str, grace: float = 0.0) -> None:
    """Stop (when ``grace`` > 0) and remove; returns once the container is gone.

    Gone already is fine. A removal the daemon fails is tried again; a removal already
    in progress elsewhere (409) is waited for. Raises the daemon's error when it stays.
    """
    if grace > 0:
        stop(client, container_id, grace)
    for attempt in range(_TRIES):
        try:
            client.api.remove_container(container_id, force=True, v=True)
            return
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as exc:
            if exc.status_code == 409:  # removal already in progress
                _wait_gone(client, container_id)
                return
            if attempt + 1 == _TRIES:
                raise
        time.sleep(_RETRY_PAUSE)


def _wait_gone(client: docker.DockerClient, container_id: str) -> None:
    deadline = time.monotonic() + _GONE_WAIT
    while time.monotonic() < deadline:
        try:
            client.api.inspect_container(container_id)
        except docker.errors.NotFound:
            return
        time.sleep(0.1)
    raise ExecutorError(f"container {container_id[:12]} is still being removed")


def remove_network(client: docker.DockerClient, name: str) -> bool:
    """Remove a network; False when it still has containers (or is gone)."""
    for attempt in range(_TRIES):
        try:
            client.api.remove_network(name)
            return True
        except docker.errors.NotFound:
            return False
        except docker.errors.APIError:
            if attempt + 1 == _TRIES:
                return False
        time.sleep(_RETRY_PAUSE)
    return False


def reap(
    alive: Callable[[str], bool], client: docker.DockerClient | None = None
) -> list[tuple[str, str]]:
    """Stop and remove containers (and networks) of runs that are no longer alive.

    Finds everything labelled ``orecart.run`` whose run id ``alive`` rejects; returns the
    (run id, member) pairs of member containers so the caller marks those member runs
    aborted. Sidecars and networks are removed without being reported.
    """
    own = client is None
    active = connect() if client is None else client
    try:
        return _reap(active, _Memo(alive))
    except FOREIGN as exc:
        raise daemon_error(exc, "cannot remove leftover containers") from exc
    finally:
        if own:
            active.close()


class _Memo:
    """Asks ``alive`` once per run id: it may query a database or a process table."""

    def __init__(self, alive: Callable[[str], bool]) -> None:
        self._alive, self._known = alive, dict[str, bool]()

    def __call__(self, run_id: str) -> bool:
        if run_id not in self._known:
            self._known[run_id] = self._alive(run_id)
        return self._known[run_id]


def _reap(client: docker.DockerClient, alive: Callable[[str], bool]) -> list[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for item in client.api.containers(all=True, filters={"label": LABEL_RUN}):
        tags: Mapping[str, str] = item.get("Labels") or {}
        run_id = tags.get(LABEL_RUN, "")
        if alive(run_id):
            continue
        remove(client, item["Id"])
        if tags.get(LABEL_ROLE, "member") == "member":
            found.add((run_id, tags.get(LABEL_MEMBER, "")))
    for network in client.api.networks(filters={"label": LABEL_RUN}):
        if not alive((network.get("Labels") or {}).get(LABEL_RUN, "")):
            remove_network(client, network["Id"])
    return sorted(found)
