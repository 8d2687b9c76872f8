"""Graph triggers under a real `orecart serve` on a real Neo4j: writes made outside
orecart are polled and fire once per element, and a serve killed with SIGKILL and started
again fires no element twice and fires what is new."""

from __future__ import annotations

from orecart.model import Graph
from orecart.triggering import FiringStatus
from tests.cli.test_triggers_cli import count, query
from tests.service.conftest import Served, wait_until

PIPELINE = """\
pipeline: ts
graph: {{uri: "{uri}", user: neo4j, password: "${{NEO4J_PASSWORD}}"}}
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
    every: 1s
"""


def succeeded(served: Served, n: int) -> bool:
    store = served.store()
    try:
        found = store.firings("ts", "fastq", FiringStatus.SUCCEEDED, limit=100)
    finally:
        store.close()
    return len(found) == n


def test_serve_polls_and_a_killed_serve_fires_nothing_twice(served: Served,
                                                             neo4j_graph: Graph) -> None:
    served.write(f"NEO4J_PASSWORD={neo4j_graph.password}\n", ".env")
    served.write(PIPELINE.format(uri=neo4j_graph.uri))
    query(neo4j_graph, "UNWIND ['a', 'b', 'c'] AS s CREATE (:Fastq {sample: s})")
    first = served.serve("pipeline.yaml")
    wait_until(lambda: succeeded(served, 3), "3 firings")
    first.kill()  # SIGKILL: no shutdown of any kind
    query(neo4j_graph, "CREATE (:Fastq {sample: 'd'})")
    second = served.serve("pipeline.yaml")
    wait_until(lambda: succeeded(served, 4), "the new element fired")
    second.wait_log("trigger fastq of ts: element")
    assert sorted(r["s"] for r in query(neo4j_graph, "MATCH (j:Job) RETURN j.sample AS s")) == [
        "a", "b", "c", "d"]
    assert count(neo4j_graph, "Job") == 4
