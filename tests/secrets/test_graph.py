"""The graph's password, given in ``graph:`` or in the URI's user info, and the other
secrets of a run never reach the ``:_PipelineLogRun``/``:_PipelineLogNode`` properties."""

from __future__ import annotations

import json
from pathlib import Path

from orecart.model import Graph
from tests.cli.conftest import Cli
from tests.cli.test_graph_run import query
from tests.secrets.test_suite import forms

MEMBER_SECRET = "pw-member-secret-21"
PARAM_SECRET = "param-secret-22"


def test_no_secret_reaches_the_graph_log(tmp_path: Path, neo4j_graph: Graph) -> None:
    cli = Cli(tmp_path)
    host = neo4j_graph.uri.split("://", 1)[1]
    cli.write(f"""
pipeline: graphy
graph: {{uri: "{neo4j_graph.uri}", user: {neo4j_graph.user}, password: "{neo4j_graph.password}"}}
members:
  - name: talk
    shell: 'env; echo "failing with $DB_PASSWORD" >&2; exit 3'
    env: {{DB_PASSWORD: "{MEMBER_SECRET}", API_SECRET: "${{params.pw}}"}}
""")
    in_file = cli("run", "pipeline.yaml", "-p", f"pw={PARAM_SECRET}")
    userinfo = f"bolt://{neo4j_graph.user}:{neo4j_graph.password}@{host}"
    in_uri = cli("run", "pipeline.yaml", "-p", f"pw={PARAM_SECRET}", "--graph", userinfo)
    assert (in_file.code, in_uri.code) == (1, 1), in_file.err + in_uri.err
    assert f"talk | NEO4J_URI={neo4j_graph.uri}\n" in in_uri.out  # handed over without it
    assert "talk | NEO4J_PASSWORD=***" in in_uri.out
    rows = query(neo4j_graph, "MATCH (n) WHERE n:_PipelineLogRun OR n:_PipelineLogNode "
                              "RETURN labels(n) AS l, properties(n) AS p")
    assert sorted(r["l"][0] for r in rows) == ["_PipelineLogNode"] * 2 + ["_PipelineLogRun"] * 2
    assert {json.loads(r["p"]["params"])["pw"] for r in rows if "params" in r["p"]} == {"***"}
    text = json.dumps(rows, default=str, ensure_ascii=False) + in_file.out + in_file.err
    text += in_uri.out + in_uri.err
    for secret in (neo4j_graph.password, MEMBER_SECRET, PARAM_SECRET):
        assert not [form for form in forms(secret) if form in text], secret
