"""Fixtures for a real Docker Engine and real image registries (pytest plugin).

Nothing is pulled from a public hub: test images are built with the daemon's import (the
API behind ``docker import``) from a rootfs assembled here, once per session (kept across
sessions while their recipe is unchanged):

- ``BUSYBOX_IMAGE``: Debian's busybox-static with every applet linked into /bin;
- ``PYTHON_IMAGE``: that plus Debian's /usr/bin/python3.11, its standard library and the
  shared libraries ``ldd`` lists for the interpreter and its extension modules; its default
  command is ``LOADER``, a Motherlode-style loader (examples/motherlode uses it).

Helpers: ``busybox_variant`` builds a busybox image with distinct content (to re-push a tag
with new content), ``push`` pushes and returns the manifest digest. The ``podman`` fixture
starts Podman's Docker-compatible service and yields its ``base_url``.

Registries are Debian's ``docker-registry`` on 127.0.0.1 (which dockerd trusts over plain
HTTP by default): ``registry`` without auth, ``auth_registry`` with htpasswd (bcrypt) auth.
A test that needs dockerd fails, never skips, when the daemon cannot be reached;
``scripts/setup.d/20-docker.sh`` installs and starts everything.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import docker
import docker.errors
import pytest

BUSYBOX_IMAGE = "orecart-test/busybox:1"
PYTHON_IMAGE = "orecart-test/python:1"
BUSYBOX = Path("/bin/busybox")
PYTHON = Path("/usr/bin/python3.11")
RECIPE_LABEL = "orecart.test.recipe"
RECIPE = "4"  # bump when the rootfs recipes below change
_SKIP_STDLIB = {"test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "pydoc_data"}
#: PYTHON_IMAGE's default command: a Motherlode-style loader that reports its CONFIGS_*
#: settings and input folders and leaves ``loaded.json`` in its artifacts.
LOADER_PATH = "/orecart-test/loader.py"
LOADER = """\
import json, os, pathlib
name = os.environ.get("ORECART_MEMBER", "loader")
configs = {k: v for k, v in sorted(os.environ.items()) if k.startswith("CONFIGS_")}
print(f"{name}: configs {json.dumps(configs)}", flush=True)
for key in sorted(k for k in os.environ if k.startswith("ORECART_INPUT_")):
    print(f"{name}: {key} holds {sorted(os.listdir(os.environ[key]))}", flush=True)
out = os.environ.get("ORECART_ARTIFACTS")
if out:
    pathlib.Path(out, "loaded.json").write_text(json.dumps({"member": name, "configs": configs}))
"""
_PASSWD = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n"
_GROUP = b"root:x:0:\nnogroup:x:65534:\n"


class AuthRegistry(NamedTuple):
    host: str  # "127.0.0.1:port"
    user: str
    password: str


def client() -> docker.DockerClient:
    """A client for DOCKER_HOST or the default socket; fails the test when unreachable."""
    try:
        found = docker.from_env()
        found.ping()
    except docker.errors.DockerException as exc:
        pytest.fail(
            "dockerd is not reachable (DOCKER_HOST or /var/run/docker.sock): "
            f"{exc}. Run scripts/setup as root to install and start it.",
            pytrace=False,
        )
    return found


@pytest.fixture(scope="session")
def docker_ready() -> Iterator[docker.DockerClient]:
    """A reachable daemon with the test images built."""
    active = client()
    ensure_images(active)
    yield active
    # images of older recipes and re-tagged variants; tagged images may serve other sessions
    active.images.prune(filters={"dangling": True, "label": RECIPE_LABEL})
    active.close()


# ---- rootfs images -------------------------------------------------------------------


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name.lstrip("/"))
    info.size, info.mode = len(data), mode
    tar.addfile(info, io.BytesIO(data))


def _add_dir(tar: tarfile.TarFile, name: str, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(name.lstrip("/"))
    info.type, info.mode = tarfile.DIRTYPE, mode
    tar.addfile(info)


def _add_link(tar: tarfile.TarFile, name: str, target: str) -> None:
    info = tarfile.TarInfo(name.lstrip("/"))
    info.type, info.linkname = tarfile.SYMTYPE, target
    tar.addfile(info)


def _add_file(tar: tarfile.TarFile, path: Path, arcname: str | None = None) -> None:
    """Add a host file by content (symlinks followed) under its own or the given path."""
    real = path.resolve()
    info = tar.gettarinfo(str(real), arcname=(arcname or str(path)).lstrip("/"))
    with real.open("rb") as handle:
        tar.addfile(info, handle)


def busybox_layer(tar: tarfile.TarFile) -> None:
    """Busybox with every applet in /bin, a passwd with root and nobody, a /tmp."""
    for folder in ("bin", "etc", "tmp", "root", "usr", "usr/bin"):
        _add_dir(tar, folder, 0o1777 if folder == "tmp" else 0o755)
    _add_file(tar, BUSYBOX, "/bin/busybox")
    applets = subprocess.run(
        [str(BUSYBOX), "--list"], check=True, capture_output=True, text=True
    ).stdout.split()
    for applet in applets:
        if applet != "busybox":
            _add_link(tar, f"/bin/{applet}", "busybox")
    _add_bytes(tar, "/etc/passwd", _PASSWD)
    _add_bytes(tar, "/etc/group", _GROUP)


def _ldd(paths: list[Path]) -> set[Path]:
    out = subprocess.run(["ldd", *map(str, paths)], capture_output=True, text=True).stdout
    found = set()
    for line in out.splitlines():
        parts = line.split()
        if "=>" in parts and len(parts) >= 3 and parts[2].startswith("/"):
            found.add(Path(parts[2]))
        elif parts and parts[0].startswith("/") and "ld-linux" in parts[0]:
            found.add(Path(parts[0]))
    return found


def python_layer(tar: tarfile.TarFile) -> None:
    """Debian's python3.11 with its stdlib (tests and GUI left out) and shared libraries."""
    stdlib = PYTHON.parent.parent / "lib" / "python3.11"
    _add_file(tar, PYTHON, "/usr/bin/python3.11")
    _add_link(tar, "/usr/bin/python3", "python3.11")
    _add_link(tar, "/usr/bin/python", "python3.11")
    for path in sorted(stdlib.rglob("*")):
        rel = path.relative_to(stdlib)
        if rel.parts[0] in _SKIP_STDLIB or "__pycache__" in rel.parts:
            continue
        if rel.parts[0].startswith(("config-", "site-packages", "dist-packages")):
            continue
        if path.is_dir():
            _add_dir(tar, str(path))
        elif path.is_file():
            _add_file(tar, path)
    libraries = _ldd([PYTHON, *stdlib.glob("lib-dynload/*.so")])
    for lib in sorted(libraries | {Path("/lib64/ld-linux-x86-64.so.2")}):
        _add_file(tar, lib)


def import_image(
    active: docker.DockerClient,
    tag: str,
    layers: list[Any],
    files: Mapping[str, bytes] = {},
    changes: Sequence[str] = (),
) -> str:
    """Build a one-layer image from rootfs ``layers`` plus ``files``; returns its id."""
    with io.BytesIO() as buffer:
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            for layer in layers:
                layer(tar)
            for name, data in files.items():
                _add_bytes(tar, name, data, 0o755)
        repository, _, version = tag.rpartition(":")
        answer = active.api.import_image_from_data(
            buffer.getvalue(),
            repository=repository,
            tag=version,
            changes=[f"LABEL {RECIPE_LABEL}={RECIPE}", *changes],
        )
    image_id = json.loads(answer.splitlines()[-1])["status"]
    active.api.tag(image_id, repository, version)  # Podman's import ignores the tag
    return str(image_id)


def _current(active: docker.DockerClient, tag: str) -> bool:
    try:
        image = active.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return bool(image.labels.get(RECIPE_LABEL) == RECIPE)


def ensure_images(active: docker.DockerClient) -> None:
    """Build BUSYBOX_IMAGE and PYTHON_IMAGE unless an image of this recipe is there."""
    for path in (BUSYBOX, PYTHON):
        if not path.exists():
            pytest.fail(f"{path} is missing: run scripts/setup (busybox-static, python3)")
    if not _current(active, BUSYBOX_IMAGE):
        import_image(active, BUSYBOX_IMAGE, [busybox_layer])
    if not _current(active, PYTHON_IMAGE):
        import_image(
            active,
            PYTHON_IMAGE,
            [busybox_layer, python_layer],
            {LOADER_PATH: LOADER.encode()},
            [f'CMD ["python3", "{LOADER_PATH}"]'],
        )


def busybox_variant(active: docker.DockerClient, tag: str, content: str) -> str:
    """A busybox image with ``/variant`` holding ``content``: same tag, different digest."""
    return import_image(active, tag, [busybox_layer], {"/variant": content.encode()})


def push(
    active: docker.DockerClient, image: str, target: str, auth: Mapping[str, str] | None = None
) -> str:
    """Tag ``image`` as ``target`` (``host/repo:tag``), push it; returns the manifest digest."""
    repository, _, tag = target.rpartition(":")
    active.images.get(image).tag(repository, tag)
    digest = ""
    for message in active.api.push(
        repository, tag=tag, stream=True, decode=True, auth_config=dict(auth) if auth else None
    ):
        if "error" in message:
            raise RuntimeError(f"push {target}: {message['error']}")
        digest = message.get("aux", {}).get("Digest", digest)
    assert digest.startswith("sha256:"), f"push {target} reported no digest"
    return digest


# ---- registries ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _registry_config(root: Path, port: int, htpasswd: Path | None) -> Path:
    lines = [
        "version: 0.1",
        "log: {level: warn}",
        f"storage: {{filesystem: {{rootdirectory: {root / 'data'}}}, delete: {{enabled: true}}}}",
        f"http: {{addr: '127.0.0.1:{port}', secret: orecart-test}}",
    ]
    if htpasswd:
        lines.append(f"auth: {{htpasswd: {{realm: orecart-test, path: {htpasswd}}}}}")
    config = root / "config.yml"
    config.write_text("\n".join(lines) + "\n")
    return config


def _wait_http(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"docker-registry exited: {log.read_text()[-2000:]}", pytrace=False)
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except urllib.error.HTTPError:
            return  # 401 from the auth registry: it is up
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"docker-registry did not answer at {url}: {log.read_text()[-2000:]}")


def _serve_registry(root: Path, htpasswd: Path | None) -> Iterator[str]:
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.fail("docker-registry is not installed: run scripts/setup", pytrace=False)
    port = free_port()
    config = _registry_config(root, port, htpasswd)
    log = root / "registry.log"
    with log.open("wb") as out:
        process = subprocess.Popen([binary, "serve", str(config)], stdout=out, stderr=out)
    try:
        _wait_http(f"http://127.0.0.1:{port}/v2/", process, log)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="session")
def registry(
    docker_ready: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A registry without auth on 127.0.0.1; yields ``host:port``."""
    yield from _serve_registry(tmp_path_factory.mktemp("registry"), None)


@pytest.fixture(scope="session")
def auth_registry(
    docker_ready: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AuthRegistry]:
    """A registry with htpasswd (bcrypt) auth; yields (``host:port``, user, password)."""
    root = tmp_path_factory.mktemp("auth-registry")
    user, password = "loader", "s3cret-Pa55"
    htpasswd = root / "htpasswd"
    tool = shutil.which("htpasswd")
    if tool is None:
        pytest.fail("htpasswd is not installed (apache2-utils): run scripts/setup", pytrace=False)
    subprocess.run([tool, "-Bbc", str(htpasswd), user, password], check=True, capture_output=True)
    for host in _serve_registry(root, htpasswd):
        yield AuthRegistry(host, user, password)


# ---- podman --------------------------------------------------------------------------

#: Podman raises the nofile and nproc limits of every container to the host's maximum by
#: default; inside an unprivileged sandbox setting those rlimits is refused ("error
#: setting rlimit type 7: operation not permitted"), so the service gets modest ones.
_PODMAN_CONF = '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n'


@pytest.fixture(scope="session")
def podman(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Podman's Docker-compatible API service with BUSYBOX_IMAGE; yields its base_url."""
    binary = shutil.which("podman")
    if binary is None:
        pytest.fail("podman is not installed: run scripts/setup", pytrace=False)
    root = tmp_path_factory.mktemp("podman")
    (root / "containers.conf").write_text(_PODMAN_CONF)
    base_url = f"unix://{root / 'podman.sock'}"
    env = {**os.environ, "CONTAINERS_CONF": str(root / "containers.conf")}
    log = root / "podman.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [binary, "system", "service", "--time=0", base_url], stdout=out, stderr=out, env=env
        )
    try:
        active = _wait_podman(base_url, process, log)
        try:
            if not _current(active, BUSYBOX_IMAGE):
                import_image(active, BUSYBOX_IMAGE, [busybox_layer])
        finally:
            active.close()
        yield base_url
    finally:
        process.terminate()
        process.wait(10)


def _answers(path: str) -> bool:
    """Whether an API service answers ``/_ping`` on the unix socket ``path``."""
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(2)
            sock.connect(path)
            sock.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
            return b"OK" in sock.recv(4096)
    except OSError:
        return False


def _wait_podman(base_url: str, process: subprocess.Popen[bytes], log: Path) -> docker.DockerClient:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"podman system service exited: {log.read_text()[-2000:]}", pytrace=False)
        if _answers(base_url.removeprefix("unix://")):
            return docker.DockerClient(base_url=base_url)
        time.sleep(0.1)
    pytest.fail(f"podman system service did not answer at {base_url}: {log.read_text()[-2000:]}")
