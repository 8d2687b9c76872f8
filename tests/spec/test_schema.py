"""pipeline_schema() is valid draft 2020-12 and agrees with the loader on the examples."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

import orecart.spec
from orecart.spec import load_pipeline, pipeline_schema

HERE = Path(__file__).parent
NATIVE_EXAMPLES = sorted(
    p for p in (HERE / "examples").iterdir() if p.is_file() and p.stem != "motherlode"
)


@functools.cache
def _validator() -> jsonschema.Draft202012Validator:
    schema = pipeline_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _document(path: Path) -> Any:
    return yaml.safe_load(path.read_text("utf-8"))


def test_schema_is_draft_2020_12_and_json_serialisable() -> None:
    schema = pipeline_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert json.loads(json.dumps(schema)) == schema
    assert schema["required"] == ["members"]


@pytest.mark.parametrize("path", NATIVE_EXAMPLES, ids=lambda p: p.name)
def test_examples_are_valid_against_the_schema(path: Path) -> None:
    errors = list(_validator().iter_errors(_document(path)))
    assert errors == []
    load_pipeline(path, params={"release": "1"}, environ={"NEO4J_PASSWORD": "x", "PUBMED_URL": "u"})


@pytest.mark.parametrize(
    "name",
    [
        "unknown_member_key.yaml",
        "unknown_top_key.yaml",
        "two_kinds.yaml",
        "no_kind.yaml",
        "container_key_on_run.yaml",
        "bad_rerun.yaml",
        "bad_pull.yaml",
        "zero_max_parallel.yaml",
        "empty_members.yaml",
        "bad_member_name.yaml",
        "bad_volume.yaml",
        "bad_duration.yaml",
        "retries_list.yaml",
        "bad_graph_uri.yaml",
        "profile_typo_key.yaml",
        "missing_members.yaml",
        "check_missing_query.yaml",
        "schedule_cron_and_every.yaml",
        "schedule_timezone_without_cron.yaml",
        "schedule_unknown_key.yaml",
        "zero_max_runs.yaml",
    ],
)
def test_the_schema_rejects_what_the_loader_rejects(name: str) -> None:
    document = _document(HERE / "malformed" / name)
    assert not _validator().is_valid(document)


def test_schema_describes_every_member_key() -> None:
    member = pipeline_schema()["properties"]["members"]["items"]
    assert {"run", "shell", "image", "needs", "volumes", "sidecars"} <= set(member["properties"])
    assert all("description" in spec for spec in member["properties"].values())


def test_the_shipped_schema_file_is_up_to_date() -> None:
    """Editors point at pipeline.schema.json; regenerate it from ``pipeline_schema()``
    (``json.dumps(schema, indent=2)``) whenever the field table changes."""
    shipped = Path(orecart.spec.__file__).parent / "pipeline.schema.json"
    assert json.loads(shipped.read_text("utf-8")) == pipeline_schema()
