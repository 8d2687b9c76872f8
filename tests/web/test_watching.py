"""A pipeline's sensors, versions, stored queries (and their stats) and triggers (and their
firings) over the API of a real ``serve --http``, and ``/metrics`` as Prometheus scrapes it.
Query executions and firings are recorded through the same state store serve uses."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from orecart.querying import QueryExecution
from orecart.stores import open_store
from orecart.triggering import Firing, FiringStatus
from tests.service.conftest import wait_until
from tests.web.conftest import Api

#: a sample line of the Prometheus text format: name{label="value",...} number
SAMPLE = re.compile(r'[a-z_]+(\{([a-z_]+="([^"\\]|\\.)*",?)+\})? \d+')


def test_sensors_and_the_versions_they_saw(api: Api) -> None:
    with api.client("read") as client:
        sensors = client.get("/pipelines/outputs/sensors")
        assert sensors.status_code == 200, sensors.text
        [drops] = sensors.json()
        assert (drops["name"], drops["kind"], drops["every"]) == ("drops", "file", 3600)
        versions = wait_until(lambda: client.get("/pipelines/outputs/versions").json(),
                              "a version of the drops sensor")
        assert [v["sensor"] for v in versions] == ["drops"]
        assert versions[0]["runs"] and versions[0]["runs"][0]["origin"] == "sensor"
        assert client.get("/pipelines/demo/sensors").json() == []
        assert client.get("/pipelines/nope/sensors").status_code == 404
        assert client.get("/pipelines/nope/versions").status_code == 404


def test_queries_with_their_stats_and_triggers_with_their_firings(api: Api) -> None:
    store = open_store(f"sqlite:///{api.folder / 'state.db'}")
    try:
        now = datetime.now(UTC)
        for duration in (0.010, 0.030):
            store.record_query(QueryExecution("outputs", "jobs", now, duration, "api", rows=1))
        [claimed] = store.claim_firings([Firing("outputs", "new-job", 7, "4:x:7",
                                                {"sample": "s1"}, owner="test")])
        assert claimed.id is not None
        store.finish_firing(claimed.id, "test", FiringStatus.SUCCEEDED)
    finally:
        store.close()
    with api.client("read") as client:
        [jobs] = client.get("/pipelines/outputs/queries").json()
        assert (jobs["name"], jobs["mode"], jobs["params"]) == ("jobs", "read",
                                                               {"sample": "str"})
        [stats] = client.get("/pipelines/outputs/queries?stats=true").json()
        assert (stats["query"], stats["count"], stats["errors"]) == ("jobs", 2, 0)
        assert stats["max"] == 0.030
        [trigger] = client.get("/pipelines/outputs/triggers").json()
        assert (trigger["name"], trigger["kind"], trigger["action"]) == ("new-job", "node",
                                                                         "query jobs")
        assert trigger["params"] == ["sample"] and trigger["firings"] == {"succeeded": 1}
        [firing] = client.get("/pipelines/outputs/triggers/new-job/firings").json()
        assert (firing["element_id"], firing["status"], firing["params"]) == (
            "4:x:7", "succeeded", {"sample": "s1"})
        assert client.get("/pipelines/outputs/triggers/nope/firings").status_code == 404
        metrics = client.get("/metrics")
        assert 'orecart_trigger_firings{status="succeeded"} ' in metrics.text


def test_metrics_are_prometheus_text_by_pipeline_and_status(api: Api) -> None:
    with api.client("operate") as client:
        run_id = client.post("/runs", json={"pipeline": "quick"}).json()["id"]
        api.wait_status(run_id, "succeeded")
        metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
    lines = metrics.text.splitlines()
    for line in lines:
        assert line.startswith(("# HELP ", "# TYPE ")) or SAMPLE.fullmatch(line), line
    for family in ("orecart_runs", "orecart_pipeline_runs", "orecart_queue_length",
                   "orecart_running", "orecart_member_runs", "orecart_callback_deliveries",
                   "orecart_trigger_firings", "orecart_leads"):
        assert f"# TYPE {family} gauge" in lines
    quick = [line for line in lines
             if line.startswith('orecart_pipeline_runs{pipeline="quick",status="succeeded"}')]
    assert quick and int(quick[0].rpartition(" ")[2]) >= 1
    assert any(line.startswith('orecart_member_runs{status="succeeded"}') for line in lines)
    assert 'orecart_leads{kind="recovery"} 1' in lines  # the kinds, for a read token
    assert 'orecart_leads{kind="pipeline:quick"} 1' in lines
