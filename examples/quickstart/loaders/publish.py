"""Loader 5 (Python): publish the graph.

With a graph configured (orecart run ... --graph bolt://...), orecart hands over NEO4J_URI,
NEO4J_USERNAME, NEO4J_PASSWORD and NEO4J_DATABASE and this loader MERGEs everything into
Neo4j with the official driver. Without one it writes graph.json, a summary, as artifact.
"""

import json
import os
from collections import Counter
from pathlib import Path

from table import read

nodes = read("links", "nodes.jsonl")
links = read("links", "relationships.jsonl")


def to_neo4j() -> None:
    from neo4j import GraphDatabase

    auth = (os.environ["NEO4J_USERNAME"], os.environ["NEO4J_PASSWORD"])
    with GraphDatabase.driver(os.environ["NEO4J_URI"], auth=auth) as driver:
        database = os.environ.get("NEO4J_DATABASE") or None
        for label in sorted({n["label"] for n in nodes}):
            rows = [{k: v for k, v in n.items() if k != "label"} for n in nodes
                    if n["label"] == label]
            driver.execute_query(
                f"UNWIND $rows AS row MERGE (n:`{label}` {{key: row.key}}) SET n += row",
                rows=rows, database_=database)
        for kind in sorted({link["type"] for link in links}):
            rows = [link for link in links if link["type"] == kind]
            driver.execute_query(
                "UNWIND $rows AS row "
                "MATCH (a {key: row.from[1]}) WHERE row.from[0] IN labels(a) "
                "MATCH (b {key: row.to[1]}) WHERE row.to[0] IN labels(b) "
                f"MERGE (a)-[:`{kind}`]->(b)",
                rows=rows, database_=database)
    print(f"merged {len(nodes)} nodes and {len(links)} relationships into {os.environ['NEO4J_URI']}")


if os.environ.get("NEO4J_URI"):
    to_neo4j()
else:
    summary = {"nodes": Counter(n["label"] for n in nodes),
               "relationships": Counter(link["type"] for link in links)}
    out = Path(os.environ["ORECART_ARTIFACTS"]) / "graph.json"
    out.write_text(json.dumps(summary, indent=2))
    print(f"no graph configured; wrote {out}: {json.dumps(summary)}")
