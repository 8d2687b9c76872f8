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


def test_help_loads_none_of_them(tmp_path: Path) -> None:
    loaded = loaded_by(tmp_path, "run", "--help", heavy=(*HEAVY, "httpx"))
    assert loaded == {"code": 0, "loaded": []}
