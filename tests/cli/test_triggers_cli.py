"""Graph triggers through the real CLI on a real Neo4j: `orecart run` fires a stored query
once per matching element (counted in the graph), `--tick` fires nothing twice, a failing
action waits and is retried, a write query's own writes fire again up to the depth limit,
a run action queues one run per element, a restored backup is judged by what it holds,
and a hostile property value reaches Neo4j only as a parameter."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path

from neo4j import GraphDatabase
from tests.cli.conftest import Cli

from orecart.model import Graph
from orecart.service import Source, Tools
from orecart.stores import open_store

HOSTILE = "s9'}) WITH 1 AS x MATCH (n) DETACH DELETE n //"

LOAD = """\
import os, sys
from neo4j import GraphDatabase
auth = (os.environ["NEO4J_USERNAME"], os.environ["NEO4J_PASSWORD"])
with GraphDatabase.driver(os.environ["NEO4J_URI"], auth=auth) as driver:
    for sample in sys.argv[1:]:
        driver.execute_query(
            "CREATE (:Seq)-[:GENERATED]->(:Fastq {sample: $s, readGroup: 'g1'})", s=sample)
"""

PIPELINE = """\
pipeline: tr
graph: {{uri: "{uri}", user: neo4j, password: "${{NEO4J_PASSWORD}}"}}
settings: {{trigger_depth: 2}}
members:
  - name: load
    run: [python3, load.py, s1, s2, "{hostile}"]
queries:
  - name: launch
    cypher: "CREATE (:Job {{sample: $sample, group: $read_group}})"
    params: {{sample: str, read_group: str}}
    mode: write
  - name: ping
    cypher: "CREATE (:Ping {{n: $n + 1}})"
    params: {{n: int}}
    mode: write
triggers:
  - name: fastq
    type: relationship
    start: {{label: Seq}}
    relationship: {{type: GENERATED}}
    end: {{label: Fastq, properties: {{sample: sample, readGroup: read_group}}}}
    query: launch
    retries: 3
    retry_delay: 2s
  - name: pong
    type: node
    node: {{label: Ping, properties: {{n: n}}}}
    query: ping
"""


def query(graph: Graph, text: str, **params: object) -> list[dict]:
    with GraphDatabase.driver(graph.uri, auth=(graph.user, graph.password)) as driver:
        records, _, _ = driver.execute_query(text, **params)
        return [r.data() for r in records]


def count(graph: Graph, label: str) -> int:
    return int(query(graph, f"MATCH (n:`{label}`) RETURN count(n) AS c")[0]["c"])


def setup(cli: Cli, graph: Graph, pipeline: str = PIPELINE) -> dict[str, str]:
    cli.write(LOAD, "load.py")
    cli.write(pipeline.format(uri=graph.uri, hostile=HOSTILE.replace('"', '\\"')))
    return {"NEO4J_USERNAME": graph.user, "NEO4J_PASSWORD": graph.password}


def firings(cli: Cli, env: dict[str, str], *args: str) -> list[dict]:
    shown = cli("triggers", "pipeline.yaml", "--firings", "--json", *args, env=env)
    assert shown.code == 0, shown.err
    return list(shown.json())


def test_run_fires_once_per_element_retries_and_tick_fires_nothing_twice(
        cli: Cli, neo4j_graph: Graph) -> None:
    env = setup(cli, neo4j_graph)
    query(neo4j_graph, "CREATE CONSTRAINT job_sample IF NOT EXISTS "
                       "FOR (j:Job) REQUIRE j.sample IS UNIQUE")
    query(neo4j_graph, "CREATE (:Job {sample: 's2', group: 'taken'})")  # s2's query fails
    ran = cli("run", "pipeline.yaml", env=env)
    assert ran.code == 0, ran.out + ran.err
    assert count(neo4j_graph, "Fastq") == 3  # the hostile value deleted nothing
    jobs = {r["s"]: r["g"] for r in query(neo4j_graph, "MATCH (j:Job) RETURN j.sample AS s, "
                                                       "j.group AS g")}
    assert jobs == {"s1": "g1", "s2": "taken", HOSTILE: "g1"}  # the literal text, stored
    by_sample = {f["params"]["sample"]: f for f in firings(cli, env, "--trigger", "fastq")}
    assert {s: f["status"] for s, f in by_sample.items()} == {
        "s1": "succeeded", "s2": "waiting", HOSTILE: "succeeded"}
    assert by_sample["s2"]["attempts"] == 1
    assert "job_sample" in by_sample["s2"]["error"] or "already exists" in by_sample["s2"][
        "error"]

    query(neo4j_graph, "MATCH (j:Job {group: 'taken'}) DELETE j")
    time.sleep(max(0.0, (datetime.fromisoformat(by_sample["s2"]["next_at"])
                         - datetime.now(UTC)).total_seconds()))
    ticked = cli("triggers", "pipeline.yaml", "--tick", "--json", env=env)
    assert ticked.code == 0, ticked.out + ticked.err
    retried = {f["params"]["sample"]: f for f in firings(cli, env, "--trigger", "fastq")}
    assert retried["s2"]["status"] == "succeeded" and retried["s2"]["attempts"] == 2
    assert count(neo4j_graph, "Job") == 3

    again = cli("triggers", "pipeline.yaml", "--tick", env=env)
    assert again.code == 0 and "fastq: nothing new" in again.out, again.out + again.err
    assert count(neo4j_graph, "Job") == 3
    listed = cli("triggers", "pipeline.yaml", "--json", env=env).json()
    fastq = next(t for t in listed if t["name"] == "fastq")
    assert fastq["firings"] == {"succeeded": 3} and fastq["cursor"] >= 0 and not fastq["error"]
    assert "(:Seq)-[:GENERATED]->(:Fastq {sample->sample, readGroup->read_group})" == fastq[
        "pattern"]


def test_a_write_query_cycle_ends_at_the_depth_limit(cli: Cli, neo4j_graph: Graph) -> None:
    env = setup(cli, neo4j_graph, PIPELINE.replace("[python3, load.py, s1, s2, \"{hostile}\"]",
                                                   "[python3, -c, \"print(1)\"]"))
    query(neo4j_graph, "CREATE (:Ping {n: 0})")
    ran = cli("run", "pipeline.yaml", env=env)
    assert ran.code == 0, ran.out + ran.err
    # depth 0 fires n=0, depth 1 n=1, depth 2 n=2; n=3 (depth 3) is recorded, not fired
    assert sorted(r["n"] for r in query(neo4j_graph, "MATCH (p:Ping) RETURN p.n AS n")) == [
        0, 1, 2, 3]
    pongs = sorted(firings(cli, env, "--trigger", "pong"), key=lambda f: f["depth"])
    assert [(f["depth"], f["status"]) for f in pongs] == [
        (0, "succeeded"), (1, "succeeded"), (2, "succeeded"), (3, "failed")]
    assert "depth limit 2" in pongs[-1]["error"]
    assert cli("triggers", "pipeline.yaml", "--tick", env=env).code == 0
    assert count(neo4j_graph, "Ping") == 4


RUNS = """\
pipeline: tr
graph: {{uri: "{uri}", user: neo4j, password: "${{NEO4J_PASSWORD}}"}}
members:
  - name: load
    run: [python3, load.py, a1, a2]
  - name: use
    run: [echo, "${{params.sample:-none}}"]
triggers:
  - name: each
    type: relationship
    relationship: {{type: GENERATED}}
    end: {{label: Fastq, properties: {{sample: sample}}}}
    run: use
"""


def test_a_run_action_queues_one_run_per_element(cli: Cli, neo4j_graph: Graph) -> None:
    env = setup(cli, neo4j_graph, RUNS)
    ran = cli("run", "pipeline.yaml", "--only", "load", env=env)
    assert ran.code == 0, ran.out + ran.err
    fired = firings(cli, env)
    assert {f["status"] for f in fired} == {"succeeded"} and len(fired) == 2
    file = cli.folder / "pipeline.yaml"
    tools = Tools({**os.environ, **env})
    store = open_store(tools.state_url(Source(file), tools.load(Source(file,
                                                                        params_unknown=True))))
    try:
        runs = [store.get_run(f["run_id"]) for f in fired]
    finally:
        store.close()
    assert sorted(r.params["sample"] for r in runs) == ["a1", "a2"]
    assert {(r.status, r.origin) for r in runs} == {("queued", "trigger")}
    assert {r.key for r in runs} == {f"trigger:each:{f['element_id']}" for f in fired}
    assert cli("triggers", "pipeline.yaml", "--tick", env=env).code == 0
    assert len(firings(cli, env)) == 2  # polled again: no new run


def test_a_restored_backup_keeps_its_firings_and_fires_what_is_new(
        cli: Cli, neo4j_graph: Graph, tmp_path: Path) -> None:
    env = setup(cli, neo4j_graph)
    assert cli("run", "pipeline.yaml", env=env).code == 0
    assert count(neo4j_graph, "Job") == 3
    saved = cli("backup", "pipeline.yaml", "graph.jsonl.gz", env=env)
    assert saved.code == 0, saved.err
    restored = cli("restore", "pipeline.yaml", "graph.jsonl.gz", "--force", env=env)
    assert restored.code == 0, restored.err
    assert "cursors reset, 3 firing(s) forgotten" in restored.out
    assert cli("triggers", "pipeline.yaml", "--json", env=env).json()[0]["cursor"] == -1

    ticked = cli("triggers", "pipeline.yaml", "--tick", "--json", env=env)
    assert ticked.code == 0, ticked.out + ticked.err
    fastq = next(p for p in ticked.json() if p["trigger"] == "fastq")
    assert fastq["adopted"] == 3 and fastq["fired"] == []
    assert count(neo4j_graph, "Job") == 3  # nothing in the backup fired again

    query(neo4j_graph, "CREATE (:Seq)-[:GENERATED]->(:Fastq {sample: 'new', readGroup: 'g'})")
    assert cli("triggers", "pipeline.yaml", "--tick", env=env).code == 0
    assert count(neo4j_graph, "Job") == 4
    statuses = [f["status"] for f in firings(cli, env, "--trigger", "fastq")]
    assert statuses == ["succeeded"] * 4
