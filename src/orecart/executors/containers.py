"""Containers of member runs: how they are configured, named and labelled.

Everything a container needs is derived from the ``Task`` here, as plain keyword arguments
for the Docker SDK, so the executor only sequences calls. Every container and network
orecart starts carries ``orecart.run`` (and ``orecart.pipeline``, ``orecart.member``,
``orecart.role``) labels: that is how ``cleanup.reap`` finds what a dead run left behind.

Inside the container the member's artifact folder is ``/orecart/artifacts`` (read-write) and
each input folder is ``/orecart/inputs/<name>`` (read-only); environment values naming those
host folders are rewritten to the container paths.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import docker
import docker.errors
from docker.types import Mount

from orecart.executors.hostpaths import NOWHERE, HostPaths
from orecart.model import Container, Sidecar, Task, Volume

LABEL_PIPELINE = "orecart.pipeline"
LABEL_RUN = "orecart.run"
LABEL_MEMBER = "orecart.member"
LABEL_ATTEMPT = "orecart.attempt"
LABEL_ROLE = "orecart.role"  # "member" or "sidecar"
LABEL_SIDECAR = "orecart.sidecar"
#: the labels that say whose container it is: one attempt of one member (or its sidecar)
IDENTITY = (LABEL_RUN, LABEL_MEMBER, LABEL_ATTEMPT, LABEL_ROLE, LABEL_SIDECAR)
ARTIFACTS_DIR = "/orecart/artifacts"
INPUTS_DIR = "/orecart/inputs"
_UNSAFE = re.compile(r"[^a-zA-Z0-9_.-]+")


_READABLE = 160  # Docker takes longer names; ``docker ps`` columns do not


def safe_name(*parts: object) -> str:
    """A container or network name: ``orecart-``, the parts in Docker's alphabet, and a
    hash of the exact parts.

    Docker's alphabet and a length cut make different parts read the same (``x`` and
    ``x.``, names sharing a long prefix, member ``a-b`` beside member ``a`` with sidecar
    ``b``): the hash keeps every name its own, so one member never meets another's
    container under its name.
    """
    exact = "\x00".join(str(part) for part in parts)
    digest = hashlib.sha256(exact.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    text = "-".join(_UNSAFE.sub("-", str(part)).strip("-.") for part in ("orecart", *parts))
    return f"{text[:_READABLE]}-{digest}"


def member_name(run_id: str, member: str, attempt: int) -> str:
    """The name of the container of one attempt of a member."""
    return safe_name(run_id, member, attempt)


def sidecar_name(run_id: str, member: str, sidecar: str, attempt: int) -> str:
    return safe_name(run_id, member, "sidecar", sidecar, attempt)


def same_owner(found: dict[str, str] | None, wanted: dict[str, str]) -> bool:
    """Whether a container labelled ``found`` is a leftover of the one ``wanted`` labels."""
    found = found or {}
    return all(found.get(key) == wanted.get(key) for key in IDENTITY)


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
    # the runner made the artifacts folder (Tasks.task): never made again here, where a
    # container created ahead for a member cancelled meanwhile would bring it back
    result.append(Mount(ARTIFACTS_DIR, str(task.artifacts), type="bind", read_only=False))
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


def member_config(
    task: Task, image: str, network: str | None, host: HostPaths = NOWHERE
) -> dict[str, Any]:
    """Keyword arguments for ``containers.create`` of the member itself; bind sources
    mapped to ``host`` paths when orecart itself runs in a container (see ``hostpaths``)."""
    container = task.member.container
    assert container is not None, "member_config is for image members"
    config: dict[str, Any] = {
        "image": image,
        "name": member_name(task.run_id, task.member.name, task.attempt),
        "command": _command(container.command),
        "entrypoint": _command(container.entrypoint),
        "environment": container_env(task),
        "labels": labels(task, "member"),
        "mounts": host.binds(mounts(task)),
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
        "name": sidecar_name(task.run_id, task.member.name, sidecar.name, task.attempt),
        "command": _command(sidecar.command),
        "environment": dict(sidecar.env),
        "labels": {**labels(task, "sidecar"), LABEL_SIDECAR: sidecar.name},
        "network": network,
        "networking_config": {network: endpoint},
        "detach": True,
    }
    return {k: v for k, v in config.items() if v is not None}
