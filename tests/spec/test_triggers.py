"""triggers: in native files: the issue's example loads as written, every field maps onto
``orecart.triggering``, and a bad trigger is refused with its file, line and field (exit 2,
no traceback), its action checked against the file's queries, members and parameters."""

from __future__ import annotations

import subprocess
import sys

import pytest

from orecart.errors import SpecError
from orecart.spec import load_pipeline, pipeline_schema
from orecart.triggering import Match, Part, QueryAction, RunAction, Trigger, TriggerKind
from tests.spec.conftest import Write

ISSUE = """
    pipeline: hla
    graph: {uri: bolt://localhost:7687, user: neo4j, password: "${NEO4J_PASSWORD}"}
    sensors:
      - name: releases
        git: {remote: "file:///srv/IMGTHLA.git", refs: "refs/tags/v*"}
        every: 30s
        version_pattern: "v(.*)"         # params.version = first group of the tag
    members:
      - name: load
        run: [./load.sh, "${params.version}", "${params.commit}"]
    queries:
      - name: launch-ubam
        cypher: "CREATE (:Job {kind: 'ubam', sample: $sample, group: $read_group})"
        params: {sample: str, read_group: str}
        mode: write
    triggers:                            # Trellis' own trigger fields
      - name: fastq-to-ubam
        type: relationship
        start: {label: PersonalisSequencing}
        relationship: {type: GENERATED}
        end: {label: Fastq, properties: {sample: sample, readGroup: read_group}}
        query: launch-ubam               # or `run: MEMBER` with the same parameters
"""

ENV = {"NEO4J_PASSWORD": "pw"}
PARAMS = {"version": "1", "commit": "c"}

# Line 1-9 of every file below; triggers start on line 10.
HEAD = """\
pipeline: t
members:
  - name: load
    run: [./load.sh, "${params.version}", "${params.commit}"]
  - name: pipeline
    run: [true]
queries:
  - {name: jobs, cypher: "CREATE (:J {s: $sample, g: $group})", params: {sample: str, group: str}}
triggers:
"""


def load(write: Write, triggers: str) -> tuple[Trigger, ...]:
    return load_pipeline(write(HEAD + triggers), environ={}, params=PARAMS).triggers


def refused(write: Write, triggers: str) -> str:
    with pytest.raises(SpecError) as caught:
        load(write, triggers)
    return str(caught.value)


def test_the_issue_example_loads_as_written(write: Write) -> None:
    pipeline = load_pipeline(write(ISSUE), environ=ENV, params=PARAMS)
    assert pipeline.triggers == (
        Trigger("fastq-to-ubam", TriggerKind.RELATIONSHIP, QueryAction("launch-ubam"),
                start=Match("PersonalisSequencing"), relationship=Match("GENERATED"),
                end=Match("Fastq", properties={"sample": "sample", "readGroup": "read_group"})),
    )
    trigger = pipeline.triggers[0]
    assert (trigger.every, trigger.retries, trigger.retry_delay) == (10.0, 2, 5.0)
    assert trigger.mapping == ((Part.END, "sample", "sample"),
                               (Part.END, "readGroup", "read_group"))


def test_every_field_maps_onto_the_model(write: Write) -> None:
    node, whole, member, named = load(write, """\
  - name: n
    type: node
    node:
      label: "odd `label` ü"
      where: {kind: fastq, size: 3, ratio: 0.5, ok: true}
      properties: {"a b": sample, group: group}
    query: jobs
    every: 1m
    retries: 0
    retry_delay: 2s
  - {name: w, type: relationship, relationship: {where: {x: 1}, properties: {v: version}},
     run: pipeline}
  - {name: m, type: relationship, start: {properties: {c: commit}}, run: load}
  - {name: p, type: node, run: {member: pipeline}}
""")
    assert node == Trigger("n", TriggerKind.NODE, QueryAction("jobs"), node=Match(
        "odd `label` ü", {"kind": "fastq", "size": 3, "ratio": 0.5, "ok": True},
        {"a b": "sample", "group": "group"}), every=60.0, retries=0, retry_delay=2.0)
    assert whole.action == RunAction(None)
    assert whole.relationship == Match(None, {"x": 1}, {"v": "version"})
    assert member.action == RunAction("load") and member.params == ("commit",)
    assert named.action == RunAction("pipeline") and named.node is None


BAD = [
    # (triggers, line, field, message)
    ("  - {name: a, type: node, query: jobs, run: load}\n", 10, "triggers[a]",
     "give only one of 'query' or 'run'"),
    ("  - {name: a, type: node}\n", 10, "triggers[a]", "needs one of 'query' or 'run'"),
    ("  - {name: a, type: edge, run: load}\n", 10, "triggers[a].type",
     "'edge' is not 'node' or 'relationship'"),
    ("  - {name: a, type: node, run: load}\n  - {name: a, type: node, run: load}\n", 11,
     "triggers[a].name", "duplicate trigger name 'a' (first at line 10)"),
    ("  - name: a\n    type: node\n    start: {label: X}\n    run: load\n", 12,
     "triggers[a].start", "a node trigger has no 'start' (its parts: node)"),
    ("  - name: a\n    type: relationship\n    node: {label: X}\n    run: load\n", 12,
     "triggers[a].node", "a relationship trigger has no 'node' (its parts: start and"),
    ("  - name: a\n    type: node\n    query: jbos\n", 12, "triggers[a].query",
     "no stored query 'jbos' under queries: (known: jobs)"),
    ("  - name: a\n    type: node\n    node:\n      properties:\n        s: sample\n"
     "        grp: groups\n    query: jobs\n", 15, "triggers[a].node.properties.grp",
     "query 'jobs' has no parameter 'groups' (its parameters: sample, group)"),
    ("  - name: a\n    type: node\n    node: {properties: {s: sample}}\n    query: jobs\n", 13,
     "triggers[a].query", "parameter 'group' of query 'jobs' is mapped by no property"),
    ("  - name: a\n    type: node\n    run: lod\n", 12, "triggers[a].run",
     "no member 'lod'; did you mean 'load'?"),
    ("  - name: a\n    type: node\n    run: {member: lod}\n", 12, "triggers[a].run",
     "no member 'lod'"),
    ("  - name: a\n    type: relationship\n    end:\n      properties:\n        v: versoin\n"
     "    run: load\n", 14, "triggers[a].end.properties.v",
     "parameter 'versoin' is not a ${params.versoin} this file refers to (it refers to: "
     "commit, version)"),
    ("  - name: a\n    type: relationship\n    start: {properties: {s: sample}}\n"
     "    end:\n      properties:\n        t: sample\n    query: jobs\n", 15,
     "triggers[a].end.properties.t",
     "parameter 'sample' is mapped twice (first by start.properties.s at line 12)"),
    ("  - {name: a, type: node, node: {label: ''}, run: load}\n", 10, "triggers[a].node.label",
     "must not be empty"),
    ("  - {name: a, type: node, node: {label: \"a\\0b\"}, run: load}\n", 10, None,
     "NUL characters are not allowed"),  # the reader refuses them anywhere
    (f"  - {{name: a, type: relationship, relationship: {{type: {'T' * 101}}}, run: load}}\n",
     10, "triggers[a].relationship.type", "is 101 characters long; at most 100"),
    ("  - {name: a, type: node, node: {where: {'': 1}}, run: load}\n", 10,
     "triggers[a].node.where", "'' is not a property name"),
    (f"  - {{name: a, type: node, node: {{properties: {{{'p' * 101}: version}}}}, run: load}}\n",
     10, "triggers[a].node.properties", "is not a property name"),
    ("  - {name: a, type: node, node: {where: {x: [1]}}, run: load}\n", 10,
     "triggers[a].node.where.x", "expected a string, number or boolean, got a list"),
    ("  - {name: a, type: node, node: {where: {x: .nan}}, run: load}\n", 10,
     "triggers[a].node.where.x", "never equals a stored value"),
    ("  - {name: a, type: node, node: {properties: {x: 'not a param'}}, run: load}\n", 10,
     "triggers[a].node.properties.x", "is not a parameter name"),
    ("  - {name: a, type: node, run: load, every: 10ms}\n", 10, "triggers[a].every",
     "must be at least 1s"),
    ("  - {name: a, type: node, run: load, retries: -1}\n", 10, "triggers[a].retries",
     "must be at least 0"),
    ("  - {name: a, type: node, run: load, labl: X}\n", 10, "triggers[a]",
     "unknown key 'labl'"),
    ("  - {name: a, type: node, node: {lable: X}, run: load}\n", 10, "triggers[a].node",
     "unknown key 'lable'; did you mean 'label'?"),
]


@pytest.mark.parametrize(("triggers", "line", "field", "message"), BAD)
def test_a_bad_trigger_is_named_by_file_line_and_field(write: Write, triggers: str, line: int,
                                                       field: str | None, message: str) -> None:
    text = refused(write, triggers)
    assert f"pipeline.yaml:{line}:" in text and message in text
    assert field is None or f" {field}: " in text


def test_validate_refuses_a_bad_trigger_with_exit_2_and_no_traceback(write: Write) -> None:
    bad = write(HEAD + "  - name: a\n    type: node\n    query: jobs\n")
    done = subprocess.run([sys.executable, "-m", "orecart", "validate", str(bad),
                           "-p", "version=1", "-p", "commit=c"], capture_output=True, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"{bad}:12:12: triggers[a].query: parameter 'sample' of query 'jobs'" in done.stderr


def test_the_schema_knows_the_triggers() -> None:
    trigger = pipeline_schema()["properties"]["triggers"]["items"]
    assert set(trigger["properties"]) == {"name", "type", "node", "start", "relationship",
                                          "end", "query", "run", "every", "retries",
                                          "retry_delay"}
    assert set(trigger["properties"]["relationship"]["properties"]) == {"type", "where",
                                                                        "properties"}
