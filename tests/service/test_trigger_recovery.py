"""Firing recovery and what ``orecart triggers`` shows, on a real SQLite store (no graph
is opened): ``Service.recover`` (``orecart run``'s start) makes a dead local ``orecart
run``'s firings due again and leaves another host's alone; a ``where`` value that is a
secret is masked in the pattern line."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from orecart.service import OnePipeline, Service, ServiceConfig, Source, Tools
from orecart.service.triggerviews import trigger_views
from orecart.stores import open_store
from orecart.stores.sql import SqlStore
from orecart.stores.triggers import STOPPED
from orecart.triggering import Firing, FiringStatus, params_key

PIPELINE = """\
pipeline: tr
graph: {uri: "bolt://127.0.0.1:1", user: neo4j, password: "not-used-here"}
members:
  - name: load
    run: [echo, hi]
queries:
  - name: launch
    cypher: "CREATE (:Job {sample: $sample})"
    params: {sample: str}
    mode: write
triggers:
  - name: fastq
    type: node
    node: {label: Fastq, where: {token: "${API_TOKEN}"}, properties: {sample: sample}}
    query: launch
"""
TOKEN = "tok-3f9a61c2e5"


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    path = tmp_path / "tr.yaml"
    path.write_text(PIPELINE)
    pipeline = Tools(environ={"API_TOKEN": TOKEN}).load(Source(path))
    store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    service = Service(ServiceConfig(), OnePipeline(path, pipeline), store)
    try:
        yield service
    finally:
        service.close()


def claimed(store: SqlStore, element: int, owner: str) -> Firing:
    values = {"sample": f"s{element}"}
    [firing] = store.claim_firings([Firing("tr", "fastq", element, f"4:x:{element}", values,
                                           params_key(values), owner=owner)])
    return firing


def test_a_dead_local_runs_firings_are_due_again_another_hosts_are_not_judged(
        service: Service) -> None:
    store, host = service.store, socket.gethostname()
    assert isinstance(store, SqlStore)
    claimed(store, 1, f"run-{host}-{2**22 + 7}")  # past pid_max: dead
    claimed(store, 2, f"run-{host}.elsewhere-{os.getpid()}")  # another host: live
    claimed(store, 3, f"run-{host}-{os.getpid()}")  # this process: live
    claimed(store, 4, "serve-gone-1-abc")  # a serve not in the services table: dead
    service.recover()
    waiting = store.firings("tr", status=FiringStatus.WAITING)
    assert sorted((f.element, f.error) for f in waiting) == [(1, STOPPED), (4, STOPPED)]
    running = store.firings("tr", status=FiringStatus.RUNNING)
    assert sorted(f.element for f in running) == [2, 3]


def test_a_secret_where_value_is_masked_in_the_pattern_line(service: Service) -> None:
    pipeline = service.pipelines.get("tr").pipeline
    [view] = trigger_views(pipeline, service.store)
    assert TOKEN not in view.pattern and "token: " in view.pattern
