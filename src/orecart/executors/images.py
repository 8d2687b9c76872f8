"""Container images: references, registry credentials, digests and pulls.

A member's image is fingerprinted by digest, never by tag, so a re-pushed tag gives a new
fingerprint. ``resolve`` asks the registry for the manifest digest without pulling (images
of skipped members are never pulled); ``ensure`` makes exactly that digest present before a
run, following the member's pull policy. Docker SDK errors are translated here into
``ExecutorError`` with the daemon's own reason.

Registry credentials, first match wins:
1. the member's ``auth`` (``Container.auth``);
2. ``ORECART_REGISTRY_<HOST>_USERNAME`` / ``..._PASSWORD`` in orecart's environment, where
   ``<HOST>`` is the registry host (and port) upper-cased with every other character an
   underscore: ``registry.example.org:5000`` -> ``REGISTRY_EXAMPLE_ORG_5000``;
3. ``ORECART_REGISTRY_USERNAME`` / ``ORECART_REGISTRY_PASSWORD`` (any registry);
4. the user's Docker config (``~/.docker/config.json`` or ``$DOCKER_CONFIG``), which the
   Docker SDK reads when no credentials are passed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import docker
import docker.errors
import requests.exceptions
from docker.auth import resolve_repository_name

from orecart.errors import ExecutorError
from orecart.model import Container, Member, PullPolicy, RegistryAuth

DIGEST_PREFIX = "sha256:"
DEFAULT_SOCKET = "unix:///var/run/docker.sock"
POOL = 64  # connections: every running container holds two log streams open
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")


@dataclass(frozen=True)
class ImageRef:
    """A parsed image reference: ``repository[:tag][@digest]``."""

    repository: str  # with the registry host when there is one
    tag: str | None = None
    digest: str | None = None  # "sha256:..." when pinned

    @classmethod
    def parse(cls, image: str) -> ImageRef:
        name, _, digest = image.partition("@")
        repository, tag = name, None
        head, sep, tail = name.rpartition(":")
        if sep and "/" not in tail and _TAG.match(tail):
            repository, tag = head, tail
        if not repository or (digest and not digest.startswith(DIGEST_PREFIX)):
            raise ExecutorError(f"invalid image reference {image!r}")
        return cls(repository, tag, digest or None)

    @property
    def registry(self) -> str:
        """The registry host, ``docker.io`` for Docker Hub names."""
        try:
            return str(resolve_repository_name(self.repository)[0])
        except docker.errors.InvalidRepository as exc:
            raise ExecutorError(f"invalid image reference {self}: {exc}") from exc

    @property
    def named(self) -> str:
        """``repository:tag`` (``latest`` when no tag is given)."""
        return f"{self.repository}:{self.tag or 'latest'}"

    def pinned(self, digest: str) -> str:
        return f"{self.repository}@{digest}"

    def __str__(self) -> str:
        text = self.repository + (f":{self.tag}" if self.tag else "")
        return text + (f"@{self.digest}" if self.digest else "")


@dataclass(frozen=True)
class ImageInfo:
    """One line of ``orecart images``: what a member's image resolves to right now."""

    member: str
    image: str
    tag: str | None
    digest: str | None
    present_locally: bool
    error: str | None = None


def registry_env_key(registry: str) -> str:
    """The ``<HOST>`` part of the per-registry variable names."""
    return re.sub(r"[^A-Z0-9]", "_", registry.upper())


def auth_config(
    ref: ImageRef, auth: RegistryAuth | None, environ: Mapping[str, str] | None = None
) -> dict[str, str] | None:
    """Credentials for ``ref``'s registry, or None to let the SDK use the Docker config."""
    env = os.environ if environ is None else environ
    registry = ref.registry
    if auth is None:
        for prefix in (f"ORECART_REGISTRY_{registry_env_key(registry)}", "ORECART_REGISTRY"):
            user, password = env.get(f"{prefix}_USERNAME"), env.get(f"{prefix}_PASSWORD")
            if user and password is not None:
                auth = RegistryAuth(user, password)
                break
    if auth is None:
        return None
    return {"username": auth.username, "password": auth.password, "serveraddress": registry}


def daemon_error(exc: Exception, doing: str) -> ExecutorError:
    """Translate a Docker SDK or transport error into an ExecutorError naming the reason."""
    if isinstance(exc, docker.errors.APIError):
        reason = exc.explanation or str(exc)
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        return ExecutorError(f"{doing}: {reason}")
    if isinstance(exc, requests.exceptions.ConnectionError | docker.errors.DockerException):
        return ExecutorError(f"{doing}: docker daemon unreachable: {exc}")
    return ExecutorError(f"{doing}: {exc}")


FOREIGN = (docker.errors.DockerException, requests.exceptions.RequestException)


def local_image(client: docker.DockerClient, ref: str) -> Any | None:
    """The local image for ``ref`` (a name, ``repo@digest`` or an image id), or None."""
    try:
        return client.images.get(ref)
    except docker.errors.ImageNotFound:
        return None
    except FOREIGN as exc:
        raise daemon_error(exc, f"cannot inspect image {ref}") from exc


def local_digest(image: Any, ref: ImageRef) -> str:
    """A local image's identity: its registry digest for ``ref``'s repository, else its id."""
    for repo_digest in image.attrs.get("RepoDigests") or ():
        repository, _, digest = str(repo_digest).partition("@")
        if repository == ref.repository or repository.endswith("/" + ref.repository):
            return digest
    return str(image.id)


def registry_digest(client: docker.DockerClient, ref: ImageRef, auth: RegistryAuth | None) -> str:
    """The registry's manifest digest for ``ref``'s tag, without pulling it."""
    try:
        data = client.images.get_registry_data(ref.named, auth_config=auth_config(ref, auth))
    except FOREIGN as exc:
        raise daemon_error(exc, f"cannot resolve image {ref.named} in its registry") from exc
    return str(data.id)


def resolve(client: docker.DockerClient, container: Container) -> str:
    """The digest a member's image stands for now, following its pull policy; never pulls.

    A pinned image is its pin. ``never`` (and ``if-missing`` when present) look only at the
    local image: its RepoDigest if it came from a registry, else its image id. ``always``
    (and ``if-missing`` when absent) ask the registry for the tag's manifest digest.
    """
    ref = ImageRef.parse(container.image)
    if ref.digest:
        return ref.digest
    if container.pull is not PullPolicy.ALWAYS:
        image = local_image(client, ref.named)
        if image is not None:
            return local_digest(image, ref)
        if container.pull is PullPolicy.NEVER:
            raise ExecutorError(f"image {ref.named} is not present locally and pull is 'never'")
    return registry_digest(client, ref, container.auth)


def ensure(client: docker.DockerClient, container: Container, digest: str) -> str:
    """Make the image with ``digest`` present locally (pulling if allowed); its image id.

    Pulls ``repository@digest``, so what runs is exactly what was fingerprinted even when
    the tag moved since, and then tags it with the member's tag for the user's eyes.
    """
    present = present_id(client, container, digest)
    if present is not None:
        return present
    ref = ImageRef.parse(container.image)
    if container.pull is PullPolicy.NEVER:
        raise ExecutorError(f"image {ref} ({digest}) is not present locally and pull is 'never'")
    pull(client, ref.repository, digest, auth_config(ref, container.auth))
    image = local_image(client, ref.pinned(digest))
    if image is None:
        raise ExecutorError(f"pulled {ref.pinned(digest)} but the daemon does not have it")
    if ref.tag and not ref.digest:
        image.tag(ref.repository, ref.tag)
    return str(image.id)


def present_id(client: docker.DockerClient, container: Container, digest: str) -> str | None:
    """The id of the local image with ``digest`` for the member's image, or None."""
    ref = ImageRef.parse(container.image)
    for candidate in (ref.pinned(digest), digest):
        image = local_image(client, candidate)
        if image is not None:
            return str(image.id)
    return None


def pull(
    client: docker.DockerClient, repository: str, tag: str, auth: dict[str, str] | None
) -> None:
    """Pull ``repository`` at ``tag`` (a tag or a digest); errors in the stream count too."""
    doing = f"cannot pull {repository}{'@' if tag.startswith(DIGEST_PREFIX) else ':'}{tag}"
    try:
        for message in _pull_stream(client, repository, tag, auth):
            if "error" in message:
                detail = message.get("errorDetail", {}).get("message") or message["error"]
                raise ExecutorError(f"{doing}: {detail}")
    except FOREIGN as exc:
        raise daemon_error(exc, doing) from exc


def _pull_stream(
    client: docker.DockerClient, repository: str, tag: str, auth: dict[str, str] | None
) -> Iterator[dict[str, Any]]:
    yield from client.api.pull(repository, tag=tag, stream=True, decode=True, auth_config=auth)


def image_report(
    members: Sequence[Member], client: docker.DockerClient | None = None
) -> list[ImageInfo]:
    """What every image member's image resolves to now, and whether it is present locally.

    Nothing is pulled; a member whose image cannot be resolved gets its reason in ``error``.
    """
    own = client is None
    active = connect() if client is None else client
    try:
        return [_image_info(active, m, m.container) for m in members if m.container]
    finally:
        if own:
            active.close()


def _image_info(client: docker.DockerClient, member: Member, container: Container) -> ImageInfo:
    try:
        ref = ImageRef.parse(container.image)
    except ExecutorError as exc:
        return ImageInfo(member.name, container.image, None, None, False, str(exc))
    present = False
    try:
        present = local_image(client, str(ref) if ref.digest else ref.named) is not None
        digest = resolve(client, container)
    except ExecutorError as exc:
        return ImageInfo(member.name, container.image, ref.tag, None, present, str(exc))
    return ImageInfo(member.name, container.image, ref.tag, digest, present)


def connect(base_url: str | None = None) -> docker.DockerClient:
    """A client for ``base_url``, else ``DOCKER_HOST`` or the default socket; checked now."""
    where = base_url or os.environ.get("DOCKER_HOST") or DEFAULT_SOCKET
    if where.startswith("unix://") and not os.path.exists(where.removeprefix("unix://")):
        # checked first: the SDK leaks its socket when connecting to a missing one fails
        raise ExecutorError(f"cannot reach the docker daemon at {where}: no such socket")
    client = None
    try:
        client = (
            docker.DockerClient(base_url=base_url, max_pool_size=POOL)
            if base_url
            else docker.from_env(max_pool_size=POOL)
        )
        client.ping()
    except FOREIGN as exc:
        if client is not None:
            client.close()
        raise ExecutorError(f"cannot reach the docker daemon at {where}: {exc}") from exc
    return client
