"""The env a member gets for the graph, in native and Motherlode form."""

from __future__ import annotations

import json

import neo4j
import pytest

from orecart.errors import GraphError
from orecart.graph.handover import SECRET_NAMES, graph_env, py2neo_settings
from orecart.model import Graph, Handover
from orecart.secrets import Redactor, secret_values


def test_native_env() -> None:
    graph = Graph("bolt://db.example.org:7688", "alice", "pw-secret", database="movies")
    assert graph_env(graph, Handover.ORECART) == {
        "NEO4J_URI": "bolt://db.example.org:7688",
        "NEO4J_USERNAME": "alice",
        "NEO4J_PASSWORD": "pw-secret",
        "NEO4J_DATABASE": "movies",
    }
    assert "NEO4J_DATABASE" not in graph_env(Graph("bolt://h"), Handover.ORECART)


def test_motherlode_env_has_py2neo_json_legacy_names_and_configs_copies() -> None:
    graph = Graph("neo4j+ssc://db.example.org", "alice", "pw-secret")
    env = graph_env(graph, Handover.MOTHERLODE)
    expected = {
        "scheme": "bolt",
        "host": "db.example.org",
        "port": 7687,
        "user": "alice",
        "password": "pw-secret",
        "secure": True,
        "verify": False,
    }
    assert json.loads(env["NEO4J"]) == expected
    assert env["CONFIGS_NEO4J"] == env["NEO4J"]
    assert env["GC_NEO4J_URL"] == "neo4j+ssc://db.example.org"
    assert env["GC_NEO4J_USER"] == "alice"
    for name in ("NEO4J_URI", "NEO4J_USERNAME", "NEO4J_PASSWORD", "GC_NEO4J_PASSWORD"):
        assert env["CONFIGS_" + name] == env[name]
    assert not any(name.startswith("CONFIGS_CONFIGS_") for name in env)


def test_motherlode_json_names_the_database_only_when_set() -> None:
    assert "name" not in py2neo_settings(Graph("bolt://h:1"))
    assert py2neo_settings(Graph("bolt://h:1", database="d"))["name"] == "d"
    assert "secure" not in py2neo_settings(Graph("bolt://h:1"))
    assert py2neo_settings(Graph("bolt+s://h:1"))["secure"] is True


def test_password_in_json_is_redacted_by_value_and_marked_secret() -> None:
    env = graph_env(Graph("bolt://h", password="pw-secret"), Handover.MOTHERLODE)
    redact = Redactor(secret_values(env, SECRET_NAMES))
    assert "pw-secret" not in redact(env["NEO4J"])
    assert {"NEO4J", "CONFIGS_NEO4J"} <= SECRET_NAMES


@pytest.mark.parametrize("uri", ["http://h:7474", "bolt://:7687", "bolt://h:notaport"])
def test_motherlode_refuses_uris_py2neo_cannot_take(uri: str) -> None:
    with pytest.raises(GraphError, match="Motherlode"):
        graph_env(Graph(uri), Handover.MOTHERLODE)


def test_motherlode_json_reaches_the_real_server(neo4j_graph: Graph) -> None:
    """What a loader rebuilds from NEO4J connects to the same Neo4j."""
    cfg = json.loads(graph_env(neo4j_graph, Handover.MOTHERLODE)["NEO4J"])
    uri = f"{cfg['scheme']}://{cfg['host']}:{cfg['port']}"
    with neo4j.GraphDatabase.driver(uri, auth=(cfg["user"], cfg["password"])) as driver:
        assert driver.execute_query("RETURN 1 AS one").records[0]["one"] == 1
