"""Containers of member runs: how they are configured, named, labelled, logged and removed.

Everything a container needs is derived from the ``Task`` here, as plain keyword arguments
for the Docker SDK, so the executor only sequences calls. Every container and network
orecart starts carries ``orecart.run`` (and ``orecart.pipeline``, ``orecart.member``,
``orecart.role``) labels: that is how ``reap`` finds what a dead run left behind.

Inside the container the member's artifact folder is ``/orecart/artifacts`` (read-write) and
each input folder is ``/orecart/inputs/<name>`` (read-only); environment values naming those
host folders are rewritten to the container paths.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import docker
import docker.errors
from docker.types import Mount

from orecart.errors import ExecutorError
from orecart.executors import OutputSink, Task
from orecart.executors.images import FOREIGN, connect, daemon_error
from orecart.executors.logfile import LineSplitter, LogWriter
from orecart.model import Container, Sidecar, Volume

LABEL_PIPELINE = "orecart.pipeline"
LABEL_RUN = "orecart.run"
LABEL_MEMBER = "orecart.member"
LABEL_ATTEMPT = "orecart.attempt"
LABEL_ROLE = "orecart.role"  # "member" or "sidecar"
ARTIFACTS_DIR = "/orecart/artifacts"
INPUTS_DIR = "/orecart/inputs"
_UNSAFE = re.compile(r"[^a-zA-Z0-9_.-]+")


def safe_name(*parts: object) -> str:
    """A container or network name: ``orecart-`` and the parts, in Docker's alphabet."""
    text = "-".join(_UNSAFE.sub("-", str(part)).strip("-.") for part in ("orecart", *parts))
    return text[:200]


def network_name(run_id: str) -> str:
    return safe_name(run_id)


def labels(task: Task, role: str) -> dict[str, str]:
    """User labels, the runner's labels, then orecart's own (which always win)."""
    container = task.member.container
    merged = dict(container.labels) if container else {}
    merged.update(task.labels)
    merged.update(
        {
            LABEL_PIPELINE: task.pipeline,
            LABEL_RUN: task.run_id,
            LABEL_MEMBER: task.member.name,
            LABEL_ATTEMPT: str(task.attempt),
            LABEL_ROLE: role,
        }
    )
    return merged


def host_path(base_dir: Path, source: str) -> Path | None:
    """The host folder a volume source names, or None for a named volume.

    As in Compose: a source starting with ``/``, ``.`` or ``~``, or holding a ``/``, is a
    path (relative ones start at the pipeline's folder); a bare word names a volume.
    """
    if not source.startswith(("/", ".", "~")) and "/" not in source:
        return None
    path = Path(source).expanduser()
    return path if path.is_absolute() else (base_dir / path).resolve()


def _bind(source: Path, target: str, read_only: bool) -> Mount:
    # Docker refuses a bind mount of a missing folder; `docker run -v` and Compose create it.
    source.mkdir(parents=True, exist_ok=True)
    return Mount(target, str(source), type="bind", read_only=read_only)


def volume_mount(base_dir: Path, volume: Volume) -> Mount:
    path = host_path(base_dir, volume.source)
    if path is None:
        return Mount(volume.target, volume.source, type="volume", read_only=volume.read_only)
    if path.exists() and not path.is_dir():
        return Mount(volume.target, str(path), type="bind", read_only=volume.read_only)
    return _bind(path, volume.target, volume.read_only)


def input_dir(name: str) -> str:
    return f"{INPUTS_DIR}/{_UNSAFE.sub('_', name)}"


def mounts(task: Task) -> list[Mount]:
    """The member's own volumes, its artifact folder and its (read-only) input folders."""
    container = task.member.container
    volumes = container.volumes if container else ()
    result = [volume_mount(task.base_dir, v) for v in volumes]
    result.append(_bind(task.artifacts, ARTIFACTS_DIR, read_only=False))
    result.extend(_bind(p, input_dir(name), read_only=True) for name, p in task.inputs.items())
    return result


def container_env(task: Task) -> dict[str, str]:
    """``task.env`` with ORECART_* values naming host artifact folders made container paths."""
    paths = {str(task.artifacts): ARTIFACTS_DIR}
    paths.update({str(path): input_dir(name) for name, path in task.inputs.items()})
    return {
        key: paths.get(value, value) if key.startswith("ORECART_") else value
        for key, value in task.env.items()
    }


def _command(value: tuple[str, ...] | str | None) -> list[str] | str | None:
    return list(value) if isinstance(value, tuple) else value


def member_config(task: Task, image: str, network: str | None) -> dict[str, Any]:
    """Keyword arguments for ``containers.create`` of the member itself."""
    container = task.member.container
    assert container is not None, "member_config is for image members"
    config: dict[str, Any] = {
        "image": image,
        "name": safe_name(task.run_id, task.member.name, task.attempt),
        "command": _command(container.command),
        "entrypoint": _command(container.entrypoint),
        "environment": container_env(task),
        "labels": labels(task, "member"),
        "mounts": mounts(task),
        "user": container.user,
        "working_dir": container.working_dir,
        "detach": True,
    }
    config.update(_limits(container))
    if network:
        config["network"] = network
    elif container.network_mode:
        config["network_mode"] = container.network_mode
    return {k: v for k, v in config.items() if v is not None}


def _limits(container: Container) -> dict[str, Any]:
    limits: dict[str, Any] = {}
    if container.cpus:
        limits["nano_cpus"] = int(container.cpus * 1e9)
    if container.memory:
        limits["mem_limit"] = container.memory
    return limits


def sidecar_config(
    client: docker.DockerClient, task: Task, sidecar: Sidecar, image: str, network: str
) -> dict[str, Any]:
    """Keyword arguments for a sidecar: on the run's network, reachable by its own name."""
    endpoint = client.api.create_endpoint_config(aliases=[sidecar.name])
    config: dict[str, Any] = {
        "image": image,
        "name": safe_name(task.run_id, task.member.name, sidecar.name, task.attempt),
        "command": _command(sidecar.command),
        "environment": dict(sidecar.env),
        "labels": {**labels(task, "sidecar"), "orecart.sidecar": sidecar.name},
        "network": network,
        "networking_config": {network: endpoint},
        "detach": True,
    }
    return {k: v for k, v in config.items() if v is not None}


class SharedLog:
    """The member-run log shared by the member's and its sidecars' log followers.

    ``LogWriter`` is not thread-safe and several followers write at once, so every write
    (and the hand-over to the output sink, to keep both in the same order) holds one lock.
    Lines that arrive after ``close`` (a follower given up on) are dropped.
    """

    def __init__(self, writer: LogWriter, output: OutputSink, member: str) -> None:
        self._writer, self._output, self._member = writer, output, member
        self._lock = threading.Lock()
        self._closed = False

    def lines(self, stream: str, lines: Iterable[str], prefix: str = "") -> None:
        texts = [prefix + line for line in lines]
        if not texts:
            return
        with self._lock:
            if self._closed:
                return
            for clean in self._writer.write_lines(stream, texts):
                self._output(self._member, clean)

    def note(self, text: str) -> None:
        with self._lock:
            if not self._closed:
                self._writer.note(text)

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._writer.close()


#: A daemon log timestamp: RFC 3339 with up to nine fractional digits (dockerd: always nine).
_STAMP = re.compile(rb"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)")
_BATCH = 1000  # lines per hand-over when reading a stored log (not live)
_PAUSE = 0.2  # seconds between follow streams the daemon ends at once
_FOLLOW_LIMIT = 120.0  # seconds settle() waits on a stream of a container still running


def _instant(stamp: bytes) -> int | None:
    """Nanoseconds since the epoch of a daemon log timestamp; None when it is not one."""
    found = _STAMP.fullmatch(stamp)
    if found is None:
        return None
    whole, fraction, zone = found.groups()
    seconds = int(datetime.fromisoformat((whole + zone).decode()).timestamp())
    return seconds * 1_000_000_000 + int((fraction or b"0").ljust(9, b"0"))


class LogFollower(threading.Thread):
    """Follows one stream (stdout or stderr) of one container into the shared log.

    A follow stream may end before it delivered everything: dockerd 20.10 closes it when
    the container stops, drained or not, and a reader that fell behind under load loses
    the rest. So entries are read with their daemon timestamps, and when a stream ends
    the stored log is read again from the last timestamp delivered, skipping the entries
    at that timestamp already delivered: following again while the container runs, once
    more without following after it stopped (its log is complete then). ``settle`` waits
    for that end.
    """

    def __init__(
        self,
        client: docker.DockerClient,
        container_id: str,
        stream: str,
        log: SharedLog,
        prefix: str = "",
    ) -> None:
        super().__init__(name=f"orecart-logs-{container_id[:12]}-{stream}", daemon=True)
        self._client, self._id, self._stream = client, container_id, stream
        self._log, self._prefix = log, prefix
        self._splitter = LineSplitter()
        self._last: int | None = None  # timestamp of the last entry delivered
        self._at_last = 0  # entries delivered with exactly that timestamp
        self._stamped = True  # False when the daemon sends no timestamps: no re-reading
        self.delivered = 0  # entries delivered so far; settle() watches it
        self.draining = False  # the container has stopped: the last, finite read is on

    def run(self) -> None:
        try:
            while True:
                running = self._running()
                self.draining = not running
                fresh = self._read(follow=running)
                if not running or not self._stamped:
                    break
                if not fresh:
                    time.sleep(_PAUSE)  # a daemon that ends follow streams at once
        except FOREIGN:
            pass  # the container is gone (removed on abort): nothing more to read
        finally:
            self._log.lines(self._stream, self._splitter.finish(), self._prefix)

    def settle(self, grace: float) -> None:
        """Wait for the follower to end, as long as entries keep arriving.

        The log of a stopped container is drained however long it is. A stream silent for
        ``grace`` seconds is left, and so, after ``_FOLLOW_LIMIT``, is a stream that still
        follows (a container that outlived its stop): it would never end.
        """
        limit = time.monotonic() + _FOLLOW_LIMIT
        while self.is_alive():
            before = self.delivered
            self.join(grace)
            if self.delivered == before or (not self.draining and time.monotonic() > limit):
                return

    def _running(self) -> bool:
        return bool(self._client.api.inspect_container(self._id)["State"].get("Running"))

    def _read(self, follow: bool) -> int:
        """Deliver the log's entries past the ones delivered; how many there were."""
        since = None if self._last is None else (self._last - 1_000_000) / 1e9  # 1 ms early
        last, skip = self._last, self._at_last
        fresh, pending = 0, list[str]()
        frames = self._client.api.logs(
            self._id, stream=True, follow=follow, timestamps=True, since=since, **self._which
        )
        try:
            for frame in frames:
                stamp, _, payload = frame.partition(b" ")
                at = _instant(stamp)
                if at is None:  # no timestamp after all: take the frame as it is
                    self._stamped, payload = False, frame
                elif last is not None:  # catching up: skip what was delivered before
                    if at < last:
                        continue
                    if at == last and skip > 0:
                        skip -= 1
                        continue
                    last = None
                self._mark(at)
                fresh += 1
                pending += self._splitter.feed(payload)
                if follow or len(pending) >= _BATCH:
                    self._log.lines(self._stream, pending, self._prefix)
                    pending = []
        finally:
            self._log.lines(self._stream, pending, self._prefix)
        return fresh

    def _mark(self, at: int | None) -> None:
        if at is not None and at == self._last:
            self._at_last += 1
        elif at is not None:
            self._last, self._at_last = at, 1
        self.delivered += 1

    @property
    def _which(self) -> dict[str, bool]:
        return {"stdout": self._stream == "stdout", "stderr": self._stream == "stderr"}


def follow(
    client: docker.DockerClient, container_id: str, log: SharedLog, prefix: str = ""
) -> list[LogFollower]:
    """Start following a container's stdout and stderr; ``settle`` them to wait for the end."""
    followers = [LogFollower(client, container_id, s, log, prefix) for s in ("stdout", "stderr")]
    for follower in followers:
        follower.start()
    return followers


_TRIES = 3  # removals (of containers and networks) the daemon fails before giving up
_RETRY_PAUSE = 0.5
_GONE_WAIT = 30.0  # seconds to wait for a removal someone else has in progress


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
