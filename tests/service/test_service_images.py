"""A long-lived service runs image members run after run on one daemon client, and a
cancel of one run stops only that run's members (real dockerd, real processes)."""

from __future__ import annotations

import time
from pathlib import Path

import docker

from orecart.model import RunStatus
from orecart.service import RunRequest, Service, ServiceConfig, Source, Tools
from orecart.service.catalog import Catalog
from orecart.stores import open_store
from tests.services.docker import BUSYBOX_IMAGE

IMAGES = f"""\
pipeline: images
members:
  - name: box
    image: {BUSYBOX_IMAGE}
    pull: if-missing
    rerun: always
    command: [sh, -c, "echo hi from $ORECART_RUN_ID"]
"""
LOCAL = """\
pipeline: {name}
members:
  - name: wait
    rerun: always
    run: [sh, -c, "echo $$ > {pid}; sleep {sleep}"]
"""


def _service(tmp_path: Path, *files: Path) -> Service:
    tools = Tools()
    catalog = Catalog(list(files), lambda path: tools.load(Source(path)))
    catalog.refresh()
    return Service(ServiceConfig(), catalog, open_store(f"sqlite:///{tmp_path / 's.db'}"))


def _drain(service: Service, runs: list[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not all(service.store.get_run(r).status.terminal for r in runs):
        assert time.monotonic() < deadline, "the runs did not end"
        service.dispatch()
        service.idle_wait(0.05)


def test_image_runs_share_the_service_daemon_client(
    tmp_path: Path, docker_ready: docker.DockerClient
) -> None:
    (tmp_path / "images.yaml").write_text(IMAGES)
    service = _service(tmp_path, tmp_path / "images.yaml")
    try:
        runs = [service.submit(RunRequest("images")).run.id for _ in range(3)]
        _drain(service, runs)
        statuses = [service.store.get_run(r).status for r in runs]
        assert statuses == [RunStatus.SUCCEEDED] * 3
        shared = service.resources.docker().client
        assert service.resources.for_run({"image"})["image"].client is shared  # type: ignore[attr-defined]
    finally:
        service.shutdown(grace=5)
        service.close()


def test_cancel_stops_only_its_own_run(tmp_path: Path) -> None:
    for name, sleep in (("doomed", 30), ("spared", 1.5)):
        (tmp_path / f"{name}.yaml").write_text(
            LOCAL.format(name=name, pid=tmp_path / f"{name}.pid", sleep=sleep))
    service = _service(tmp_path, tmp_path / "doomed.yaml", tmp_path / "spared.yaml")
    try:
        doomed = service.submit(RunRequest("doomed")).run.id
        spared = service.submit(RunRequest("spared")).run.id
        deadline = time.monotonic() + 20
        while not all((tmp_path / f"{n}.pid").exists() for n in ("doomed", "spared")):
            assert time.monotonic() < deadline, "the members did not start"
            service.dispatch()
            service.idle_wait(0.05)
        service.cancel(doomed)
        _drain(service, [doomed, spared])
        assert service.store.get_run(doomed).status is RunStatus.CANCELLED
        assert service.store.get_run(spared).status is RunStatus.SUCCEEDED  # the shared
        # local executor aborted only the cancelled run's member
        assert [m.status for m in service.store.member_runs(doomed)] == ["aborted"]
    finally:
        service.shutdown(grace=5)
        service.close()
