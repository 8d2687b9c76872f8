"""One poll of a trigger on a real Neo4j, in-process: a poll steps over a gap of ids wider
than its window (a mass delete) when the element count says something lies beyond, and
a mapped value of the wrong type fails its firing with the property and type named (a
secret among them masked); an evaluation returns its due retries too."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from orecart.graph.connect import GraphConnection
from orecart.model import Graph
from orecart.service import OnePipeline, Service, ServiceConfig, Source, Tools
from orecart.service.triggering import GONE, OVERLAP, WIDTH, Context, evaluate, poll
from orecart.stores import open_store
from orecart.triggering import Firing, FiringStatus, params_key

PIPELINE = """\
pipeline: tp
graph: {{uri: "{uri}", user: {user}, password: "{password}"}}
members:
  - name: load
    run: [echo, hi]
queries:
  - name: launch
    cypher: "CREATE (:Job {{sample: $sample}})"
    params: {{sample: str}}
    mode: write
triggers:
  - name: fastq
    type: node
    node: {{label: Fastq, properties: {{sample: sample}}}}
    query: launch
    retries: 0
"""


@pytest.fixture
def ctx(tmp_path: Path, neo4j_graph: Graph) -> Iterator[Context]:
    path = tmp_path / "tp.yaml"
    path.write_text(PIPELINE.format(uri=neo4j_graph.uri, user=neo4j_graph.user,
                                    password=neo4j_graph.password))
    pipeline = Tools().load(Source(path))
    store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    service = Service(ServiceConfig(), OnePipeline(path, pipeline), store)
    conn: GraphConnection = service.resources.graph(neo4j_graph)
    conn.write("MATCH (n) DETACH DELETE n")
    try:
        yield Context(service, conn, "test", "tick")
    finally:
        service.close()


def _high_id(conn: GraphConnection, floor: int) -> int:
    """A :Fastq node whose internal id is above ``floor``: Neo4j hands a new node a freed
    id first, so filler nodes take the freed ones until a new id comes."""
    for _ in range(10):
        conn.write("UNWIND range(1, $n) AS i CREATE (:Filler)", n=3 * WIDTH)
        found = conn.write("CREATE (n:Fastq {sample: 'past-the-gap'}) RETURN id(n) AS id")
        if found[0]["id"] > floor:
            return int(found[0]["id"])
        conn.write("MATCH (n:Fastq) DELETE n")
    raise AssertionError(f"no node got an id above {floor}")


def test_a_poll_steps_over_a_gap_of_ids_wider_than_its_window(ctx: Context) -> None:
    pipeline = ctx.service.pipelines.get("tp").pipeline
    trigger, conn, store = pipeline.triggers[0], ctx.conn, ctx.service.store
    fastq = _high_id(conn, 2 * WIDTH + OVERLAP + 10)
    conn.write("MATCH (n) WHERE NOT n:Fastq DETACH DELETE n")  # every other id is free
    cursor = fastq - WIDTH - OVERLAP - 10  # the windows after it hold no element at all
    store.advance_cursor("tp", "fastq", cursor, datetime.now(UTC))
    polled = poll(ctx, pipeline, trigger)
    assert [f.params["sample"] for f in polled.fired] == ["past-the-gap"]
    assert store.trigger_cursor("tp", "fastq").position >= fastq
    assert poll(ctx, pipeline, trigger).fired == []  # nothing new: nothing fires again


def test_an_element_that_took_an_id_below_the_cursor_fires(ctx: Context) -> None:
    """Neo4j reuses a deleted element's id: a new element may lie below the cursor, where
    no window reads. The first poll of a process, and any poll whose element count grew
    by more than it saw, sweep the label for matches no firing holds."""
    pipeline = ctx.service.pipelines.get("tp").pipeline
    trigger, conn, store = pipeline.triggers[0], ctx.conn, ctx.service.store

    def hidden(sample: str) -> None:  # as if it took a freed id far below the cursor
        made = conn.write("CREATE (n:Fastq {sample: $s}) RETURN id(n) AS id", s=sample)
        position = store.trigger_cursor("tp", "fastq").position
        store.advance_cursor("tp", "fastq", max(position, made[0]["id"] + 3 * OVERLAP),
                             datetime.now(UTC))

    hidden("first")
    assert [f.params["sample"] for f in poll(ctx, pipeline, trigger).fired] == ["first"]
    assert poll(ctx, pipeline, trigger).fired == []  # counted: an idle poll sweeps nothing
    hidden("second")
    assert [f.params["sample"] for f in poll(ctx, pipeline, trigger).fired] == ["second"]
    assert conn.read("MATCH (j:Job) RETURN j.sample AS s ORDER BY s") == [
        {"s": "first"}, {"s": "second"}]


def test_a_value_of_the_wrong_type_fails_its_firing_naming_property_and_type(
        ctx: Context) -> None:
    pipeline = ctx.service.pipelines.get("tp").pipeline
    ctx.conn.write("CREATE (:Fastq {sample: 42})")
    polled = poll(ctx, pipeline, pipeline.triggers[0])
    [firing] = polled.fired
    assert firing.status is FiringStatus.FAILED
    assert firing.error is not None and "sample" in firing.error and "str" in firing.error
    assert ctx.conn.read("MATCH (j:Job) RETURN count(j) AS n") == [{"n": 0}]


def test_an_evaluation_returns_its_due_retries_a_failed_one_included(ctx: Context) -> None:
    pipeline = ctx.service.pipelines.get("tp").pipeline
    store, values = ctx.service.store, {"sample": "gone"}
    [firing] = store.claim_firings([Firing("tp", "fastq", 10**9, "4:x:gone", values,
                                           params_key(values), owner="test")])
    assert firing.id is not None
    store.finish_firing(firing.id, "test", FiringStatus.WAITING, error="boom",
                        next_at=datetime.now(UTC))
    polled = evaluate(ctx, pipeline)
    [retried] = [p for p in polled if p.retried]
    assert [(f.element, f.status, f.error) for f in retried.fired] == [
        (10**9, FiringStatus.FAILED, GONE)]


def test_a_secret_value_of_the_wrong_type_is_masked_in_the_firing_error(
        ctx: Context, neo4j_graph: Graph) -> None:
    pipeline = ctx.service.pipelines.get("tp").pipeline
    ctx.conn.write("CREATE (:Fastq {sample: [$secret]})", secret=neo4j_graph.password)
    [firing] = poll(ctx, pipeline, pipeline.triggers[0]).fired
    [stored] = ctx.service.store.firings("tp")
    assert firing.status is FiringStatus.FAILED and firing.error and stored.error
    assert "sample" in firing.error and neo4j_graph.password not in firing.error
    assert neo4j_graph.password not in stored.error
