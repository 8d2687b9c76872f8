"""Commands of stored queries: `query` (run one, print its rows) and `queries` (list them;
`--stats`: count, p50, p95, max duration and errors per query)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from orecart.cli.base import (
    Exit,
    _params,
    app,
    err,
    file_arg,
    graph_opt,
    guarded,
    json_opt,
    out,
    print_json,
    source_of,
    state_opt,
    wait_opt,
)
from orecart.cli.graph import GRAPH as QUERIES
from orecart.model import to_data
from orecart.querying import CLI


@app.add(QUERIES)
@file_arg
@click.argument("name")
@click.option("--param", "-p", multiple=True, metavar="NAME=VALUE",
              help="A query parameter, converted to its declared type (repeatable).")
@state_opt
@graph_opt
@wait_opt
@json_opt
@guarded
def query(file: Path, name: str, param: Sequence[str], state: str | None, graph: str | None,
          wait: float | None, as_json: bool) -> None:
    """Run the stored query NAME of FILE and print its rows; each run is recorded.

    Parameters travel as driver parameters, never in the query's text. Exit 1 when the
    server refused the query (its message on stderr), 2 for a wrong parameter.
    """
    source = source_of(file, None, None, state, graph, wait=wait)
    answer = _tools().query(source, name, _params(param), origin=CLI)
    if as_json:
        print_json({"query": name, "rows": answer.rows, "error": answer.execution.error,
                    "duration": answer.execution.duration})
    elif answer.ok:
        _print_rows(answer.rows)
    if not answer.ok:
        if not as_json:
            err().print(f"error: query {name}: {answer.execution.error}", soft_wrap=True)
        raise click.exceptions.Exit(Exit.FAILED)


def _tools() -> Any:
    from orecart.cli.base import waiting_notice
    from orecart.service import Tools

    return Tools(on_wait=waiting_notice)


def _print_rows(rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        out().print("(no rows)")
        return
    table = Table(show_header=True, title_justify="left")
    columns = list(rows[0])
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(_cell(row.get(c)) for c in columns))
    out().print(table)


def _cell(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


@app.add(QUERIES)
@file_arg
@state_opt
@click.option("--stats", is_flag=True,
              help="Per query: executions, p50, p95 and max duration, errors.")
@json_opt
@guarded
def queries(file: Path, state: str | None, stats: bool, as_json: bool) -> None:
    """The pipeline's stored queries; with --stats, how their executions went."""
    source = source_of(file, None, None, state)
    if stats:
        _stats(_tools().query_stats(source), as_json)
        return
    found = _tools().queries(source)
    if as_json:
        print_json([{"name": q.name, "mode": str(q.mode), "cypher": q.cypher, "desc": q.desc,
                     "params": {p.name: p.spelled for p in q.params}} for q in found])
        return
    table = Table(title="queries", title_justify="left")
    for column in ("query", "mode", "params", "cypher"):
        table.add_column(column)
    for q in found:
        table.add_row(q.name, str(q.mode), ", ".join(f"{p.name}: {p.spelled}" for p in q.params),
                      " ".join(q.cypher.split()))
    out().print(table)


def _stats(found: Sequence[Any], as_json: bool) -> None:
    if as_json:
        print_json([to_data(s) for s in found])
        return
    table = Table(title="query stats", title_justify="left")
    for column in ("query", "count", "p50", "p95", "max", "errors"):
        table.add_column(column, justify="left" if column == "query" else "right")
    for s in found:
        table.add_row(s.query, str(s.count), _seconds(s.p50), _seconds(s.p95), _seconds(s.max),
                      str(s.errors))
    out().print(table)


def _seconds(value: float) -> str:
    return f"{value * 1000:.1f}ms" if value < 1 else f"{value:.2f}s"
