"""The operators of a query's plan, as EXPLAIN on the real server gives them: the tests that
a query seeks by id instead of scanning use them."""

from __future__ import annotations

from typing import Any

from orecart.graph.connect import GraphConnection


def operators(conn: GraphConnection, text: str, params: dict[str, Any]) -> set[str]:
    with conn.session() as session:
        plan = session.run("EXPLAIN " + text, params).consume().plan
    assert plan is not None
    found, todo = set(), [plan]
    while todo:
        step = todo.pop()
        found.add(step["operatorType"].split("@")[0])
        todo.extend(step.get("children", ()))
    return found
