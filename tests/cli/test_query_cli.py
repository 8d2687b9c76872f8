"""`orecart query` and `orecart queries` on a real Neo4j: rows as text (never markup) or
JSON, exit 1 with the server's message for a failing query, exit 2 for a wrong parameter,
and the statistics of the recorded executions."""

from __future__ import annotations

from tests.cli.conftest import Cli

from orecart.model import Graph

PIPELINE = """\
pipeline: q
graph: {{uri: "{uri}", user: neo4j, password: "${{NEO4J_PASSWORD}}"}}
members:
  - name: load
    run: [echo, hi]
queries:
  - name: add
    cypher: "CREATE (j:Job {{sample: $sample, n: $n}}) RETURN j.sample AS sample, j.n AS n"
    params: {{sample: str, n: int}}
    mode: write
  - name: broken
    cypher: "RETURN nosuchfunction(1) AS x"
"""


def test_query_prints_rows_records_and_fails_plainly(cli: Cli, neo4j_graph: Graph) -> None:
    cli.write(PIPELINE.format(uri=neo4j_graph.uri))
    env = {"NEO4J_PASSWORD": neo4j_graph.password}
    shown = cli("query", "pipeline.yaml", "add", "-p", "sample=[bold]s1[/bold]", "-p", "n=7",
                env=env)
    assert shown.code == 0, shown.err
    assert "[bold]s1[/bold]" in shown.out and "7" in shown.out
    as_json = cli("query", "pipeline.yaml", "add", "-p", "sample=s2", "-p", "n=8", "--json",
                  env=env)
    assert as_json.code == 0 and as_json.json()["rows"] == [{"sample": "s2", "n": 8}]

    wrong = cli("query", "pipeline.yaml", "add", "-p", "sample=s3", "-p", "n=x", env=env)
    assert wrong.code == 2 and "-p n: expected int, got 'x'" in wrong.err
    assert "Traceback" not in wrong.err
    unknown = cli("query", "pipeline.yaml", "nope", env=env)
    assert unknown.code == 2 and "no query 'nope' (queries: add, broken)" in unknown.err
    failed = cli("query", "pipeline.yaml", "broken", env=env)
    assert failed.code == 1 and "nosuchfunction" in failed.err, failed.err

    listed = cli("queries", "pipeline.yaml", "--json", env=env).json()
    assert [(q["name"], q["mode"], q["params"]) for q in listed] == [
        ("add", "write", {"sample": "str", "n": "int"}), ("broken", "read", {})]
    stats = cli("queries", "pipeline.yaml", "--stats", "--json", env=env).json()
    assert [(s["query"], s["count"], s["errors"]) for s in stats] == [("add", 2, 0),
                                                                       ("broken", 1, 1)]
    table = cli("queries", "pipeline.yaml", "--stats", env=env)
    assert table.code == 0 and "p95" in table.out and "broken" in table.out
