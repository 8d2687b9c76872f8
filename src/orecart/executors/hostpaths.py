"""Host paths of orecart's own folders, for bind mounts made when orecart is a container.

Run as a container with the host's Docker socket mounted (Motherlode's compose setup, the
orecart image), orecart asks the HOST's daemon to bind-mount folders, and the daemon reads
each source path on the host, not in orecart's container: the artifacts folder that is
``/log/runs/<run>/<member>`` inside is ``./log/runs/<run>/<member>`` outside.

``host_paths(client)`` finds orecart's own container on that daemon (its id is in
``/proc/self/mountinfo``, where the daemon bind-mounts ``/etc/hostname`` from its folder for
the container, even under ``network_mode: host``), reads its mounts, and
``HostPaths.outside(path)`` maps a path inside one of them to the host's path. A path in no
mount is left as it is: absolute volume sources in a Motherlode pipeline name host folders
there too. Outside a container, or on another daemon, nothing is mapped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import docker
from docker.types import Mount

from orecart.executors.images import FOREIGN

MOUNTINFO = Path("/proc/self/mountinfo")
#: Docker: /var/lib/docker/containers/<id>/hostname; Podman: .../overlay-containers/<id>/...
_OWN_ID = re.compile(r"containers/([0-9a-f]{64})/")


@dataclass(frozen=True)
class HostPaths:
    """Mount points of orecart's own container and the host paths behind them."""

    mounts: tuple[tuple[str, str], ...] = ()  # (inside, host), longest inside path first

    def outside(self, path: str) -> str:
        """The host's path for ``path`` inside this container (unchanged when unmapped)."""
        for inside, host in self.mounts:
            if path == inside or path.startswith(inside.rstrip("/") + "/"):
                rest = PurePosixPath(path).relative_to(inside)
                return str(PurePosixPath(host) / rest) if rest.parts else host
        return path

    def binds(self, mounts: list[Mount]) -> list[Mount]:
        """``mounts`` with every bind source mapped to the host's path."""
        if not self.mounts:
            return mounts
        return [self._mapped(m) if m.get("Type") == "bind" else m for m in mounts]

    def _mapped(self, mount: Mount) -> Mount:
        return Mount(mount["Target"], self.outside(mount["Source"]), type="bind",
                     read_only=bool(mount.get("ReadOnly")))


NOWHERE = HostPaths()


def own_container_id(mountinfo: str) -> str | None:
    """The id of the container whose ``/etc/hostname`` the daemon mounted, if any."""
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) > 4 and fields[4] == "/etc/hostname":
            found = _OWN_ID.search(fields[3])
            if found:
                return found.group(1)
    return None


_FOUND: dict[str, HostPaths] = {}  # by daemon URL: neither changes while orecart runs


def host_paths(client: docker.DockerClient) -> HostPaths:
    """The host paths of orecart's container on ``client``'s daemon (looked up once)."""
    url = str(client.api.base_url)
    if url not in _FOUND:
        _FOUND[url] = _lookup(client)
    return _FOUND[url]


def _lookup(client: docker.DockerClient) -> HostPaths:
    try:
        container_id = own_container_id(MOUNTINFO.read_text())
    except OSError:
        return NOWHERE
    if container_id is None:
        return NOWHERE
    try:
        found = client.api.inspect_container(container_id)
    except FOREIGN:
        return NOWHERE  # another daemon than ours: its paths are not our host's
    pairs = [(str(m["Destination"]), str(m["Source"])) for m in found.get("Mounts") or []
             if m.get("Source") and m.get("Destination")]
    return HostPaths(tuple(sorted(pairs, key=lambda pair: -len(pair[0]))))
