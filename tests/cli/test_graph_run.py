"""Runs against a real Neo4j: handover, run log nodes as the ledger, checks, diffs, backups."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from neo4j import GraphDatabase
from tests.cli.conftest import Cli

from orecart.model import Graph

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart"


def query(graph: Graph, text: str) -> list[dict]:
    with GraphDatabase.driver(graph.uri, auth=(graph.user, graph.password)) as driver:
        records, _, _ = driver.execute_query(text)
        return [r.data() for r in records]


def count(graph: Graph, label: str) -> int:
    return int(query(graph, f"MATCH (n:`{label}`) RETURN count(n) AS c")[0]["c"])


def graph_env(graph: Graph) -> dict[str, str]:
    return {"NEO4J_USERNAME": graph.user, "NEO4J_PASSWORD": graph.password}


def test_quickstart_into_neo4j_with_the_graph_as_ledger(
    cli: Cli, tmp_path: Path, neo4j_graph: Graph
) -> None:
    shutil.copytree(QUICKSTART, tmp_path / "qs", ignore=shutil.ignore_patterns(".orecart"))
    env = graph_env(neo4j_graph)
    args = ("qs/pipeline.yaml", "--graph", neo4j_graph.uri)
    first = cli("run", *args, env=env)
    assert first.code == 0, first.out + first.err
    assert (count(neo4j_graph, "Country"), count(neo4j_graph, "City"),
            count(neo4j_graph, "River")) == (8, 13, 6)
    assert count(neo4j_graph, "_PipelineLogRun") == 1
    assert count(neo4j_graph, "_PipelineLogNode") == 5
    logged = query(neo4j_graph, "MATCH (r:_PipelineLogRun)-->(n:_PipelineLogNode) "
                                "RETURN r.status AS run, collect(n.status) AS members")
    assert logged[0]["run"] == "succeeded" and set(logged[0]["members"]) == {"succeeded"}
    everything = str(query(neo4j_graph, "MATCH (n) RETURN properties(n) AS p"))
    assert neo4j_graph.password not in everything
    assert neo4j_graph.password not in first.out + first.err

    run_id = cli("status", "qs/pipeline.yaml", "--json").json()["run"]["id"]
    changes = cli("diff", run_id, "-P", "qs/pipeline.yaml", "--json").json()
    publish = next(c for c in changes["members"] if c["member"] == "publish")
    assert publish["nodes"] == {"City": 13, "Country": 8, "River": 6}
    assert publish["relationships"]["IN"] == 13

    second = cli("run", *args, env=env)
    assert second.code == 0
    statuses = cli("status", "qs/pipeline.yaml", "--json").json()["members"]
    assert {m["status"] for m in statuses} == {"skipped"}

    query(neo4j_graph, "MATCH (n) DETACH DELETE n")  # a wiped database: everything reruns
    third = cli("run", *args, env=env)
    assert third.code == 0
    statuses = cli("status", "qs/pipeline.yaml", "--json").json()["members"]
    assert {m["status"] for m in statuses} == {"succeeded"}
    assert count(neo4j_graph, "Country") == 8


def write_checked(cli: Cli, graph: Graph, expect_rivers: int) -> None:
    cli.write(f"""
pipeline: checked
graph: {{uri: "{graph.uri}", user: "{graph.user}", password: "${{NEO4J_PASSWORD}}"}}
pools: {{neo4j-write: 1}}
checks:
  - {{name: rivers-loaded, query: "MATCH (r:River) RETURN count(r)", expect: {expect_rivers}}}
members:
  - name: load
    pool: neo4j-write
    shell: >-
      python3 -c "import os; from neo4j import GraphDatabase as G;
      d = G.driver(os.environ['NEO4J_URI'], auth=(os.environ['NEO4J_USERNAME'],
      os.environ['NEO4J_PASSWORD']));
      d.execute_query('UNWIND range(1, 3) AS i CREATE (:River {{id: i}})'); d.close()"
    checks:
      - {{name: three-rivers, query: "MATCH (r:River) RETURN count(r) = 3"}}
  - name: strict
    needs: [load]
    shell: "true"
    checks:
      - {{name: no-lakes, query: "MATCH (l:Lake) RETURN count(l) > 0"}}
  - {{name: after-strict, needs: [strict], shell: "true"}}
  - name: maybe
    shell: "echo ran-maybe"
    complete_when: "MATCH (r:River) RETURN count(r) >= 3"
""")


def test_member_and_pipeline_checks(cli: Cli, neo4j_graph: Graph) -> None:
    write_checked(cli, neo4j_graph, expect_rivers=3)
    done = cli("run", "pipeline.yaml", "--max-parallel", "1", env=graph_env(neo4j_graph))
    assert done.code == 1
    status = cli("status", "pipeline.yaml", "--json", env=graph_env(neo4j_graph)).json()
    members = {m["member"]: m for m in status["members"]}
    assert members["load"]["status"] == "succeeded"
    assert members["load"]["delta"]["nodes"] == {"River": 3}
    assert members["strict"]["status"] == "failed"
    assert "check 'no-lakes' failed" in members["strict"]["error"]
    assert members["after-strict"]["status"] == "cancelled"

    rerun = cli("plan", "pipeline.yaml", "--json", env=graph_env(neo4j_graph)).json()
    decisions = {s["member"]: (s["decision"], s["reason"]) for s in rerun["steps"]}
    assert decisions["load"][0] == "skip"
    assert decisions["maybe"][0] == "skip"  # it succeeded and complete_when holds
    query(neo4j_graph, "MATCH (r:River) WITH r LIMIT 1 DELETE r")
    replanned = cli("plan", "pipeline.yaml", "--json", env=graph_env(neo4j_graph)).json()
    maybe = next(s for s in replanned["steps"] if s["member"] == "maybe")
    assert (maybe["decision"], maybe["reason"]) == ("run", "complete_when does not hold")


def test_failing_pipeline_check_fails_the_run(cli: Cli, neo4j_graph: Graph) -> None:
    write_checked(cli, neo4j_graph, expect_rivers=99)
    done = cli("run", "pipeline.yaml", "--skip", "strict", "--skip", "after-strict",
               env=graph_env(neo4j_graph))
    assert done.code == 1
    run = cli("status", "pipeline.yaml", "--json", env=graph_env(neo4j_graph)).json()["run"]
    assert run["status"] == "failed"
    assert "check 'rivers-loaded' failed: got 3, expected 99" in run["error"]


def test_backup_restore_and_graph_status(cli: Cli, tmp_path: Path, neo4j_graph: Graph) -> None:
    query(neo4j_graph, "CREATE (:City {name: 'Basel', at: date('2020-01-02')})"
                       "-[:ON {since: 1}]->(:River {name: 'Rhine'})")
    cli.write(f'pipeline: bk\ngraph: {{uri: "{neo4j_graph.uri}"}}\n'
              'members:\n  - {name: a, run: ["true"]}\n')
    env = graph_env(neo4j_graph)
    saved = cli("backup", "pipeline.yaml", "graph.jsonl.gz", env=env)
    assert saved.code == 0, saved.err
    assert (tmp_path / "graph.jsonl.gz").stat().st_size > 0
    refused = cli("restore", "pipeline.yaml", "graph.jsonl.gz", env=env)
    assert refused.code != 0 and "Traceback" not in refused.err
    query(neo4j_graph, "MATCH (n) DETACH DELETE n")
    restored = cli("restore", "pipeline.yaml", "graph.jsonl.gz", env=env)
    assert restored.code == 0, restored.err
    rows = query(neo4j_graph, "MATCH (c:City)-[o:ON]->(r:River) "
                              "RETURN c.name AS c, toString(c.at) AS at, o.since AS s, r.name AS r")
    assert rows == [{"c": "Basel", "at": "2020-01-02", "s": 1, "r": "Rhine"}]
    status = cli("graph", "status", "pipeline.yaml", "--json", env=env)
    assert status.code == 0, status.err
    assert neo4j_graph.password not in status.out


def test_wrong_password_is_a_clear_error(cli: Cli, neo4j_graph: Graph) -> None:
    cli.write(f'pipeline: pw\ngraph: {{uri: "{neo4j_graph.uri}", password: wrong-one}}\n'
              'members:\n  - {name: a, run: ["true"]}\n')
    done = cli("run", "pipeline.yaml")
    assert done.code == 1
    assert "Traceback" not in done.err and "wrong-one" not in done.err
    assert "password" in done.err.lower() or "auth" in done.err.lower()


def test_backups_around_runs_are_taken_recorded_and_pruned(
    cli: Cli, tmp_path: Path, neo4j_graph: Graph
) -> None:
    cli.write(f"""
pipeline: withbackups
graph: {{uri: "{neo4j_graph.uri}"}}
backup: {{before: true, after: true, dir: backups, keep: 2}}
members:
  - name: grow
    pool: neo4j-write
    rerun: always
    shell: >-
      python3 -c "import os; from neo4j import GraphDatabase as G;
      d = G.driver(os.environ['NEO4J_URI'], auth=(os.environ['NEO4J_USERNAME'],
      os.environ['NEO4J_PASSWORD'])); d.execute_query('CREATE (:Tree)'); d.close()"
pools: {{neo4j-write: 1}}
""")
    env = graph_env(neo4j_graph)
    assert cli("run", "pipeline.yaml", env=env).code == 0
    run = cli("status", "pipeline.yaml", "--json", env=env).json()["run"]
    assert len(run["backups"]) == 2
    assert [Path(b).name.split("-")[-1] for b in run["backups"]] == [
        "before.graph.jsonl.gz", "after.graph.jsonl.gz"]
    assert all(Path(b).exists() for b in run["backups"])
    assert cli("run", "pipeline.yaml", env=env).code == 0
    kept = sorted(p.name for p in (tmp_path / "backups" / "withbackups").iterdir())
    assert len(kept) == 2 and history_ids(cli, env)[0] in kept[0]  # keep: 2 pruned the rest
    history = history_ids(cli, env)
    compared = cli("diff", history[1], history[0], "--json", env=env).json()
    assert compared["nodes"]["Tree"] == {"a": 1, "b": 1, "difference": 0}
    assert compared["members"]["grow"]["changed"] == []


def history_ids(cli: Cli, env: dict[str, str]) -> list[str]:
    return [r["id"] for r in cli("runs", "pipeline.yaml", "--json", env=env).json()]


def test_server_notifications_stay_off_the_terminal(cli: Cli, neo4j_graph: Graph) -> None:
    """A check on a label this database never saw (as every label is on a fresh one, where
    orecart's own log-node queries meet the same): the server notes it, and the driver's
    warning, query and all, must not be printed by Python's last-resort handler."""
    label = f"NeverSeen{uuid.uuid4().hex[:12]}"
    cli.write(f"""\
pipeline: notes
members:
  - name: a
    run: [python3, -c, "print('ran')"]
    complete_when: "MATCH (n:{label}) RETURN count(n) > 0"
""")
    done = cli("run", "pipeline.yaml", "--graph", neo4j_graph.uri, env=graph_env(neo4j_graph))
    assert done.code == 0, done.out + done.err
    assert "ran" in done.out
    assert "notification" not in done.err and label not in done.err, done.err


def test_a_failed_before_backup_leaves_a_failed_run_recorded(
    cli: Cli, tmp_path: Path, neo4j_graph: Graph
) -> None:
    (tmp_path / "backups").write_text("a file where the backup folder should be")
    cli.write(f"""
pipeline: badbackup
graph: {{uri: "{neo4j_graph.uri}"}}
backup: {{before: true, dir: backups}}
members:
  - name: never
    run: [touch, ran]
""")
    env = graph_env(neo4j_graph)
    done = cli("run", "pipeline.yaml", env=env)
    assert done.code == 1 and "Traceback" not in done.err
    status = cli("status", "pipeline.yaml", "--json", env=env).json()
    assert status["run"]["status"] == "failed"
    assert status["run"]["error"].startswith("before the members: before-backup into ")
    assert [m["status"] for m in status["members"]] == ["cancelled"]
    assert not (tmp_path / "ran").exists()
