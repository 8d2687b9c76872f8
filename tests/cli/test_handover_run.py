"""`handover: motherlode` outside the Motherlode format, run against a real Neo4j."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import Cli

from orecart.model import Graph

REPORT = (
    "import json, os; print('NEO4J is', os.environ.get('NEO4J')); "
    "open(os.path.join(os.environ['ORECART_ARTIFACTS'], 'env.json'), 'w')"
    ".write(json.dumps(dict(os.environ)))"
)

PIPELINE = f"""
settings: {{handover: motherlode}}
members:
  - {{name: legacy, run: [python3, -c, "{REPORT}"]}}
  - {{name: modern, run: [python3, -c, "{REPORT}"], handover: orecart}}
"""


def _received(folder: Path, member: str) -> dict[str, str]:
    (path,) = (folder / ".orecart" / "runs").glob(f"*/{member}/env.json")
    received: dict[str, str] = json.loads(path.read_text())
    return received


def test_covidgraph_loaders_keep_their_neo4j_variable(
    cli: Cli, tmp_path: Path, neo4j_graph: Graph
) -> None:
    (tmp_path / "pipeline.yaml").write_text(PIPELINE)
    env = {"NEO4J_USERNAME": neo4j_graph.user, "NEO4J_PASSWORD": neo4j_graph.password}
    done = cli("run", "pipeline.yaml", "--graph", neo4j_graph.uri, env=env)
    assert done.code == 0, done.out + done.err
    legacy, modern = _received(tmp_path, "legacy"), _received(tmp_path, "modern")
    settings = json.loads(legacy["NEO4J"])  # py2neo.Graph(**json.loads(os.getenv("NEO4J")))
    assert (settings["user"], settings["password"]) == (neo4j_graph.user, neo4j_graph.password)
    assert legacy["CONFIGS_NEO4J"] == legacy["NEO4J"]
    assert legacy["CONFIGS_NEO4J_URI"] == legacy["NEO4J_URI"] == neo4j_graph.uri
    assert "NEO4J" not in modern and "CONFIGS_NEO4J_URI" not in modern
    assert modern["NEO4J_URI"] == neo4j_graph.uri
    assert "legacy | NEO4J is" in done.out
    logs = "".join(p.read_text() for p in (tmp_path / ".orecart").rglob("*.log"))
    assert neo4j_graph.password not in done.out + done.err + logs
