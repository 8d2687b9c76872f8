"""At most ``settings.max_runs`` runs at a time per graph target, with a real Neo4j: two
pipelines loading one graph take turns by default, and overlap with ``max_runs: 2``."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from orecart.model import Graph, RunStatus
from orecart.service import RunRequest, Service, ServiceConfig, Source, Tools
from orecart.service.catalog import Catalog
from orecart.stores import open_store

MEMBER = """\
pipeline: {name}
graph: {{uri: "{uri}", user: {user}, password: "{password}"}}
settings: {{max_runs: {max_runs}}}
members:
  - name: load
    rerun: always
    run: [python3, -c, "import time,sys; a=time.time(); time.sleep(1.0);
      open(sys.argv[1], 'a').write(f'{{a}} {{time.time()}}\\\\n')", "{log}"]
"""


def _pipelines(tmp_path: Path, graph: Graph, max_runs: int) -> list[Path]:
    files = []
    for name in ("left", "right"):
        path = tmp_path / f"{name}.yaml"
        path.write_text(MEMBER.format(name=name, uri=graph.uri, user=graph.user,
                                      password=graph.password, max_runs=max_runs,
                                      log=tmp_path / f"{name}.times"))
        files.append(path)
    return files


def _serve_both(tmp_path: Path, graph: Graph, max_runs: int) -> list[tuple[float, float]]:
    """Serve one run of each pipeline; the spans (start, end) the runs were running."""
    files = _pipelines(tmp_path, graph, max_runs)
    tools = Tools()
    catalog = Catalog(files, lambda path: tools.load(Source(path)))
    catalog.refresh()
    store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    service = Service(ServiceConfig(), catalog, store)
    try:
        runs = [service.submit(RunRequest(name)).run.id for name in ("left", "right")]
        deadline = time.monotonic() + 60
        while not all(store.get_run(r).status.terminal for r in runs):
            assert time.monotonic() < deadline, "the runs did not end"
            service.dispatch()
            service.idle_wait(0.05)
        ended = [store.get_run(r) for r in runs]
        assert [run.status for run in ended] == [RunStatus.SUCCEEDED] * 2
    finally:
        service.shutdown(grace=5)
        service.close()
    for name in ("left", "right"):  # each member ran once, by its own count
        assert len((tmp_path / f"{name}.times").read_text().splitlines()) == 1
    return [(run.started_at.timestamp(), run.finished_at.timestamp()) for run in ended
            if run.started_at and run.finished_at]


def _overlap(spans: list[tuple[float, float]]) -> bool:
    (a0, a1), (b0, b1) = spans
    return a0 < b1 and b0 < a1


@pytest.mark.parametrize("max_runs, overlapping", [(1, False), (2, True)])
def test_runs_per_graph_target_are_limited(
    tmp_path: Path, neo4j_graph: Graph, max_runs: int, overlapping: bool
) -> None:
    spans = _serve_both(tmp_path, neo4j_graph, max_runs)
    assert _overlap(spans) is overlapping, spans
