"""The environment a member gets so it can reach the graph: NEO4J_* and Motherlode's forms.

Every member of a pipeline with a graph gets ``NEO4J_URI``, ``NEO4J_USERNAME``,
``NEO4J_PASSWORD`` and ``NEO4J_DATABASE`` (when a database is set): the names the Neo4j
drivers, cypher-shell and most loaders read.

Members of Motherlode/copili pipelines, and members with ``handover: motherlode`` (in
``settings`` or on the member), get, in addition, what those loaders were written
against (found in covidgraph/motherlode and its loaders, e.g. covidgraph/data_template,
data-lens-org-covid19-patents, data_cord19):

- ``NEO4J``: a JSON object passed unchanged as keyword arguments to ``py2neo.Graph(**cfg)``
  (data_template: ``graph = Graph(**json.loads(os.getenv("NEO4J")))``; motherlode's
  .env.template: "parameter names follow py2neo 2020.0 individual settings", e.g.
  ``{"host": "db.example.org", "user": "neo4j", "password": "pw"}``). We write ``scheme``
  (``bolt``: py2neo 2020.0 has no ``neo4j://`` routing scheme, so ``neo4j[+s|+ssc]`` is sent
  as ``bolt``), ``host``, ``port`` (int), ``user``, ``password``; ``secure: true`` for
  ``+s``/``+ssc`` URIs and ``verify: false`` for ``+ssc`` (self-signed); ``name`` (the
  database, py2neo 2020's ``Graph(name=...)``) only when a database is set.
- ``CONFIGS_NEO4J``: the same JSON. DZD's ``Configs`` module, which Motherlode and its
  loaders use, lets an env var ``CONFIGS_<NAME>`` override config attribute ``<NAME>``
  (values parsed as JSON), so loaders read ``config.NEO4J`` from ``CONFIGS_NEO4J``
  (motherlode's docker-compose passes ``CONFIGS_NEO4J: ${NEO4J}``; the patents loader is run
  with ``-e CONFIGS_NEO4J={"host": ...}``). copili hands every env var over a second time
  with that prefix; here that is done for each variable this module sets.
- ``GC_NEO4J_URL``, ``GC_NEO4J_USER``, ``GC_NEO4J_PASSWORD``: the legacy names early
  Motherlode gave loaders (data_cord19 still documents them), the URL in full.

``NEO4J``/``CONFIGS_NEO4J`` carry the password inside a value whose name does not look
secret: callers must treat every name in ``SECRET_NAMES`` as secret (or redact by value).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from orecart.errors import GraphError
from orecart.model import Graph, Handover

DEFAULT_PORT = 7687
CONFIGS_PREFIX = "CONFIGS_"
SECRET_NAMES = frozenset(
    {
        "NEO4J_PASSWORD",
        "NEO4J",
        "GC_NEO4J_PASSWORD",
        CONFIGS_PREFIX + "NEO4J_PASSWORD",
        CONFIGS_PREFIX + "NEO4J",
        CONFIGS_PREFIX + "GC_NEO4J_PASSWORD",
    }
)


def graph_env(graph: Graph, handover: Handover) -> dict[str, str]:
    """The variables a member with ``handover`` needs to reach ``graph``."""
    env = {
        "NEO4J_URI": graph.uri,
        "NEO4J_USERNAME": graph.user,
        "NEO4J_PASSWORD": graph.password,
    }
    if graph.database:
        env["NEO4J_DATABASE"] = graph.database
    if handover is Handover.MOTHERLODE:
        env.update(_motherlode_env(graph))
        env.update({CONFIGS_PREFIX + name: value for name, value in list(env.items())})
    return env


def _motherlode_env(graph: Graph) -> dict[str, str]:
    return {
        "NEO4J": json.dumps(py2neo_settings(graph)),
        "GC_NEO4J_URL": graph.uri,
        "GC_NEO4J_USER": graph.user,
        "GC_NEO4J_PASSWORD": graph.password,
    }


def py2neo_settings(graph: Graph) -> dict[str, Any]:
    """``graph`` as py2neo 2020.0 ``Graph(**settings)`` keyword arguments."""
    parts = urlsplit(graph.uri)
    scheme, _, security = parts.scheme.partition("+")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        port = 0
    if scheme not in ("bolt", "neo4j") or security not in ("", "s", "ssc") or not port:
        raise GraphError(
            f"cannot hand graph URI {graph.uri!r} to Motherlode loaders: "
            "expected bolt:// or neo4j:// (optionally +s or +ssc), a host and a port"
        )
    if not parts.hostname:
        raise GraphError(f"cannot hand graph URI {graph.uri!r} to Motherlode loaders: no host")
    settings: dict[str, Any] = {
        "scheme": "bolt",
        "host": parts.hostname,
        "port": port,
        "user": graph.user,
        "password": graph.password,
    }
    if security:
        settings["secure"] = True
    if security == "ssc":
        settings["verify"] = False
    if graph.database:
        settings["name"] = graph.database
    return settings
