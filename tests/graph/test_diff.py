"""Diffs over recorded member runs: plain data in, plain data out, no database."""

from __future__ import annotations

import json
from typing import Any

from orecart.graph.diff import MemberChange, compare_runs, member_changes, summed
from orecart.model import MemberRun, MemberStatus

S, F, K = MemberStatus.SUCCEEDED, MemberStatus.FAILED, MemberStatus.SKIPPED


def mr(run: str, member: str, status: MemberStatus = S, **fields: Any) -> MemberRun:
    return MemberRun(run_id=run, member=member, status=status, **fields)


def change(nodes: dict[str, int], rels: dict[str, int] | None = None, **keys: Any) -> Any:
    return {
        "nodes": nodes,
        "relationships": rels or {},
        "added": keys.get("added", {}),
        "removed": keys.get("removed", {}),
    }


RUN_A = [
    mr(
        "a",
        "genes",
        digest="sha256:1",
        fingerprint="f1",
        delta=change({"Gene": 10}, {"CODES": 4}, added={"Gene": ["g1", "g2"]}),
    ),
    mr("a", "cells", digest="sha256:2", fingerprint="f2", delta=change({"Cell": 3})),
    mr("a", "notes", status=K),
]
RUN_B = [
    mr(
        "b",
        "genes",
        digest="sha256:9",
        fingerprint="f9",
        delta=change({"Gene": -2}, removed={"Gene": ["g1", "g2"]}),
    ),
    mr("b", "cells", status=F, digest="sha256:2", fingerprint="f2", delta=change({"Cell": 1})),
    mr("b", "pathways", delta=change({"Pathway": 5}, {"IN": 5})),
]


def test_member_changes_come_from_deltas() -> None:
    changes = member_changes(RUN_A)
    assert [c.member for c in changes] == ["genes", "cells"]  # skipped: no delta
    genes = changes[0]
    assert genes == MemberChange(
        member="genes",
        run_id="a",
        status="succeeded",
        nodes={"Gene": 10},
        relationships={"CODES": 4},
        added={"Gene": ("g1", "g2")},
    )
    assert genes.to_dict()["added"] == {"Gene": ["g1", "g2"]}
    json.dumps([c.to_dict() for c in changes])


def test_summed_deltas() -> None:
    assert summed(RUN_A, "nodes") == {"Cell": 3, "Gene": 10}
    assert summed(RUN_A + RUN_B, "nodes") == {"Cell": 4, "Gene": 8, "Pathway": 5}
    assert summed([], "relationships") == {}


def test_compare_runs() -> None:
    result = compare_runs(RUN_A, RUN_B)
    assert result["runs"] == {"a": "a", "b": "b"}
    assert result["nodes"] == {
        "Cell": {"a": 3, "b": 1, "difference": -2},
        "Gene": {"a": 10, "b": -2, "difference": -12},
        "Pathway": {"a": 0, "b": 5, "difference": 5},
    }
    assert result["relationships"] == {
        "CODES": {"a": 4, "b": 0, "difference": -4},
        "IN": {"a": 0, "b": 5, "difference": 5},
    }
    members = result["members"]
    assert list(members) == ["genes", "cells", "notes", "pathways"]
    assert members["genes"]["changed"] == ["digest", "fingerprint"]
    assert members["cells"]["changed"] == ["status"]
    assert members["notes"]["b"] is None and members["notes"]["changed"] == ["status"]
    assert members["pathways"]["a"] is None
    assert json.loads(json.dumps(result)) == result


def test_same_run_compares_equal() -> None:
    result = compare_runs(RUN_A, RUN_A)
    assert all(v["difference"] == 0 for v in result["nodes"].values())
    assert all(m["changed"] == [] for m in result["members"].values())


def test_malformed_deltas_are_ignored() -> None:
    odd = [mr("c", "x", delta={"nodes": {"A": "many", "B": 2}, "added": "nope"})]
    assert member_changes(odd)[0].nodes == {"B": 2}
    assert member_changes(odd)[0].added == {}
