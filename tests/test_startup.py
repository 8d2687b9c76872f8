"""Start-up cost: a command loads only what it uses. ``orecart run`` of a pipeline with no
graph never imports the Neo4j driver (about 0.2 s of every command's start-up before it
was loaded lazily); ``--help`` loads neither the driver nor the HTTP client."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEAVY = ("neo4j", "fastapi", "uvicorn", "distributed", "docker", "jinja2")

RUN = """
import json, runpy, sys
sys.argv = ["orecart", *sys.argv[1:]]
try:
    runpy.run_module("orecart", run_name="__main__")
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "loaded": sorted(m for m in %r if m in sys.modules)}))
"""


def loaded_by(tmp_path: Path, *args: str, heavy: tuple[str, ...] = HEAVY) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", RUN % (heavy,), *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_run_without_a_graph_loads_no_driver(tmp_path: Path) -> None:
    (tmp_path / "pipeline.yaml").write_text(
        "pipeline: lean\nmembers:\n  - {name: a, run: [\"true\"]}\n", "utf-8")
    assert loaded_by(tmp_path, "run", "pipeline.yaml") == {"code": 0, "loaded": []}
    # nor the HTTP client: no callback to post (its import and TLS set-up cost 0.15 s)
    loaded = loaded_by(tmp_path, "run", "pipeline.yaml", heavy=(*HEAVY, "httpx"))
    assert loaded == {"code": 0, "loaded": []}


def test_help_loads_none_of_them(tmp_path: Path) -> None:
    loaded = loaded_by(tmp_path, "run", "--help", heavy=(*HEAVY, "httpx"))
    assert loaded == {"code": 0, "loaded": []}


#: what `orecart status` never needs: the other commands' modules, the runner, rich's live
#: display and progress bars
NOT_FOR_STATUS = (*HEAVY, "httpx", "orecart.cli.running", "orecart.cli.serving",
                  "orecart.cli.graph", "orecart.cli.querying", "orecart.runner",
                  "orecart.service.core", "orecart.executors", "rich.live", "rich.progress")


def test_status_loads_only_its_own_command(tmp_path: Path) -> None:
    (tmp_path / "pipeline.yaml").write_text(
        "pipeline: lean\nmembers:\n  - {name: a, run: [\"true\"]}\n", "utf-8")
    assert loaded_by(tmp_path, "run", "pipeline.yaml")["code"] == 0
    for args in (("status", "pipeline.yaml"), ("status", "pipeline.yaml", "--json")):
        assert loaded_by(tmp_path, *args, heavy=NOT_FOR_STATUS) == {"code": 0, "loaded": []}


TABLE = """
import importlib, json
import orecart.cli as cli
app = cli.app
added = {}
for module in cli._COMMANDS:
    before = set(app.commands)
    importlib.import_module(f"orecart.cli.{module}")
    added[module] = " ".join(c for c in app.commands if c not in before)
print(json.dumps({"table": cli._COMMANDS, "added": added}))
"""


def test_the_command_table_names_what_each_module_adds() -> None:
    """A command missing from ``orecart.cli._COMMANDS`` would be unknown until --help."""
    done = subprocess.run([sys.executable, "-c", TABLE], capture_output=True, text=True,
                          timeout=60, check=True)
    found = json.loads(done.stdout)
    assert found["added"] == found["table"]
