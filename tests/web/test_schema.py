"""The OpenAPI document is complete and true: schemathesis, with every check, against the
running ``serve --http`` finds no 5xx and no response the document contradicts, on every
operation (runs, events, logs, artifacts, diff, pipelines and their sensors, versions,
queries and triggers, metrics)."""

from __future__ import annotations

import subprocess
import sys

import httpx

from tests.web.conftest import Api

#: a cursor is opaque: one the server never gave out is refused (422), although any string
#: fits its schema; a run without graph changes has no diff (409, documented); every other
#: operation is held to schemathesis' own expectations
CONFIG = r"""
[[operations]]
include-path-regex = "^/api/v1/runs(/\\{run_id\\}/diff)?$"
include-method = "GET"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409",
                                                     "422"]
"""
RUN = ("import sys; from schemathesis.cli import schemathesis; "
       "sys.argv[0] = 'st'; sys.exit(schemathesis())")


def test_schemathesis_finds_no_server_error_and_no_schema_violation(api: Api) -> None:
    config = api.folder / "schemathesis.toml"
    config.write_text(CONFIG)
    done = subprocess.run(
        [sys.executable, "-c", RUN, "--config-file", str(config), "run",
         f"{api.url}/openapi.json", "--checks", "all", "--max-examples", "10",
         "--phases", "examples,coverage,fuzzing", "--request-timeout", "10",
         "--header", f"Authorization: Bearer {api.tokens['admin']}", "--no-color"],
        capture_output=True, text=True, timeout=240, cwd=api.folder)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    document = httpx.get(f"{api.url}/openapi.json").json()
    operations = sum(len(methods) for methods in document["paths"].values())
    assert f"Selected: {operations}/{operations}" in done.stdout, done.stdout[-3000:]
