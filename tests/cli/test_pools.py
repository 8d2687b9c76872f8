"""Pools across pipelines: a pool is a name in a state store, and the smallest limit any
current holder declared holds. Real orecart processes; members write their own times."""

from __future__ import annotations

import time
from pathlib import Path

from tests.cli.conftest import Cli

# each member appends "start <time>" and "end <time>" lines, tagged with its name
MEMBER = (
    '{{name: {name}, pool: writers, shell: "echo {name} start $(date +%s.%N) >> {log};'
    ' sleep {sleep}; echo {name} end $(date +%s.%N) >> {log}"}}'
)


def pipeline(name: str, limit: int, members: dict[str, float], log: Path) -> str:
    lines = [MEMBER.format(name=m, sleep=s, log=log) for m, s in members.items()]
    body = "\n".join(f"  - {line}" for line in lines)
    return f"pipeline: {name}\npools: {{writers: {limit}}}\nmembers:\n{body}\n"


def intervals(log: Path) -> dict[str, tuple[float, float]]:
    times: dict[str, dict[str, float]] = {}
    for line in log.read_text().splitlines():
        member, what, when = line.split()
        times.setdefault(member, {})[what] = float(when)
    return {member: (t["start"], t["end"]) for member, t in times.items()}


def overlapping(spans: dict[str, tuple[float, float]], member: str) -> set[str]:
    start, end = spans[member]
    return {other for other, (s, e) in spans.items() if other != member and s < end and e > start}


def peak(spans: dict[str, tuple[float, float]]) -> int:
    """The most members that ran at one moment."""
    edges = sorted([(s, 1) for s, _ in spans.values()] + [(e, -1) for _, e in spans.values()])
    running = most = 0
    for _, step in edges:  # an end sorts before a start at the same instant
        running += step
        most = max(most, running)
    return most


def test_a_pool_shared_by_two_pipelines_keeps_the_smaller_limit(cli: Cli, tmp_path: Path) -> None:
    log = tmp_path / "times.log"
    # both files sit in one folder, so they share its default state store
    cli.write(pipeline("strict", 1, {"s1": 1.5, "s2": 0.3}, log), "strict.yaml")
    cli.write(pipeline("loose", 2, {"l1": 0.4, "l2": 0.4, "l3": 0.4}, log), "loose.yaml")
    strict = cli.start("run", "strict.yaml")
    deadline = time.monotonic() + 30
    while not (log.exists() and "start" in log.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)  # strict's first member holds the pool before loose asks
    loose = cli("run", "loose.yaml")
    out, err = strict.communicate(timeout=60)
    assert strict.returncode == 0, err
    assert loose.code == 0, loose.err
    spans = intervals(log)
    assert set(spans) == {"s1", "s2", "l1", "l2", "l3"}
    for member in ("s1", "s2"):  # strict's members never ran beside another writer
        assert overlapping(spans, member) == set(), spans
    assert peak(spans) == 2  # loose's own limit: two at a time, and it did run two at once
