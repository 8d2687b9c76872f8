"""``orecart serve`` with the dask executor, on a real scheduler and workers
(tests/services/dask.py): a submitted run goes to the cluster and is recorded; SIGTERM of
serve while a member runs on a worker stops that member there and ends the run aborted,
leaving nothing in the scheduler."""

from __future__ import annotations

import signal
from pathlib import Path

from tests.fixtures import wait_gone
from tests.service.conftest import Served, wait_until
from tests.services.dask import DaskCluster

ON_THE_CLUSTER = """
pipeline: clustered
settings:
  executor: {{name: dask, address: "{address}"}}
members:
  - name: a
    rerun: always
    shell: 'echo "$ORECART_ARTIFACTS" > "{seen}"; echo $$ >> "{pids}"; {rest}'
"""


def _write(served: Served, cluster: DaskCluster, rest: str) -> tuple[Path, Path]:
    seen, pids = served.folder / "seen", served.folder / "pids"
    served.write(ON_THE_CLUSTER.format(address=cluster.address, seen=seen, pids=pids,
                                       rest=rest))
    return seen, pids


def test_serve_runs_a_submitted_run_on_the_cluster_and_records_it(
        served: Served, dask_cluster: DaskCluster) -> None:
    seen, _ = _write(served, dask_cluster, 'echo "made on a worker" > "$ORECART_ARTIFACTS/out"')
    serve = served.serve("pipeline.yaml")
    run_id = served.submit()
    run, members = served.wait_status(run_id, "succeeded", timeout=60)
    assert [(m.member, str(m.status)) for m in members] == [("a", "succeeded")]
    # it ran in a worker's scratch folder; its artifacts came back beside serve's record
    assert "orecart-dask-" in seen.read_text()
    (out,) = (served.folder / ".orecart" / "runs").glob(f"{run_id}/a/out")
    assert out.read_text() == "made on a worker\n"
    serve.signal(signal.SIGTERM)
    assert serve.wait(timeout=30) == 0


def test_sigterm_of_serve_stops_the_member_on_its_worker_and_aborts_the_run(
        served: Served, small_dask_cluster: DaskCluster) -> None:
    _, pids = _write(served, small_dask_cluster, "exec sleep 300")
    serve = served.serve("pipeline.yaml", "--grace", "1s")
    run_id = served.submit()
    pid = int(wait_until(lambda: pids.exists() and pids.read_text().strip(),
                         "the member to start on a worker", timeout=60))
    small_dask_cluster.worker_of(pid)  # it runs under a worker, not under serve
    serve.signal(signal.SIGTERM)
    assert serve.wait(timeout=30) == 0, serve.log()
    assert wait_gone([pid], timeout=5) == [], "the member lives on on its worker"
    run, members = served.run(run_id)
    assert str(run.status) == "aborted", run
    assert [(m.member, str(m.status)) for m in members] == [("a", "aborted")]
    assert pids.read_text().split() == [str(pid)], "the member ran again"
    assert small_dask_cluster.scheduler_state() == {"tasks": 0, "events": 0}
