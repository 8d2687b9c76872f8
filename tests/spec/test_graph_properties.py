"""Properties of the member graph checks on generated pipelines."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from orecart.errors import CycleError
from orecart.model import Pipeline
from orecart.spec import load_pipeline


@st.composite
def dags(draw: st.DrawFn) -> list[list[int]]:
    """needs[i] lists earlier members only, so the graph is acyclic."""
    size = draw(st.integers(1, 25))
    return [draw(st.lists(st.integers(0, i - 1), max_size=4)) if i else [] for i in range(size)]


def _load(needs: list[list[int]]) -> Pipeline:
    lines = ["members:"]
    for i, edges in enumerate(needs):
        listed = ", ".join(f"m{n}" for n in edges)
        lines.append(f"  - {{name: m{i}, run: 'true', needs: [{listed}]}}")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "pipeline.yaml"
        path.write_text("\n".join(lines) + "\n")
        return load_pipeline(path, environ={})


@settings(max_examples=60, deadline=None)
@given(dags())
def test_acyclic_needs_load_in_order_and_unchanged(needs: list[list[int]]) -> None:
    pipeline = _load(needs)
    for member, edges in zip(pipeline.members, needs, strict=True):
        assert member.needs == tuple(dict.fromkeys(f"m{n}" for n in edges))


@settings(max_examples=60, deadline=None)
@given(dags(), st.data())
def test_a_back_edge_is_reported_as_a_real_cycle(
    needs: list[list[int]], data: st.DataObject
) -> None:
    late = data.draw(st.integers(0, len(needs) - 1))
    early = data.draw(st.integers(0, late))
    needs[early] = [*needs[early], late]  # early now needs late, which may reach early
    try:
        _load(needs)
    except CycleError as error:
        cycle = error.cycle
        assert cycle[0] == cycle[-1]
        for member, need in zip(cycle, cycle[1:], strict=False):
            assert int(need[1:]) in needs[int(member[1:])]
    else:
        assert not _reaches(needs, late, early)


def _reaches(needs: list[list[int]], start: int, goal: int) -> bool:
    seen, stack = set(), [start]
    while stack:
        node = stack.pop()
        if node == goal:
            return True
        if node not in seen:
            seen.add(node)
            stack.extend(needs[node])
    return False
