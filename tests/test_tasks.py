"""Building the tasks of a run: each carries every secret the pipeline knows, and building
them stays linear in the member count."""

from __future__ import annotations

import time
from pathlib import Path

from orecart.model import Member, Pipeline
from orecart.planner import plan
from orecart.tasks import Tasks
from tests.fixtures import command, make_task

MEMBERS = 1000


def big_pipeline(tmp_path: Path) -> Pipeline:
    members = tuple(
        Member(name=f"m{i:04d}", shell="true", env={"API_TOKEN": f"token-{i:04d}-x9"})
        for i in range(MEMBERS)
    )
    return Pipeline(name="big", source=tmp_path / "pipeline.yaml", members=members)


def test_every_task_holds_every_secret_the_pipeline_knows(tmp_path: Path) -> None:
    the_plan = plan(big_pipeline(tmp_path))
    tasks = Tasks(the_plan, "run-1", tmp_path / "runs", False, ({}, {"PATH": "/bin"}))
    first, last = the_plan.steps[0], the_plan.steps[-1]
    assert "token-0999-x9" in tasks.task(first, 1).secrets  # another member's secret
    assert "token-0000-x9" in tasks.task(last, 1).secrets


def test_building_every_task_is_not_quadratic(tmp_path: Path) -> None:
    """The pipeline's secrets are found once per run, not once per task (which took
    about 10 s for these 1,000 members, and grew with the square of their count)."""
    the_plan = plan(big_pipeline(tmp_path))
    tasks = Tasks(the_plan, "run-1", tmp_path / "runs", False, ({}, {"PATH": "/bin"}))
    started = time.perf_counter()
    for step in the_plan.steps:
        tasks.task(step, 1)
    elapsed = time.perf_counter() - started
    assert elapsed < 3.0, f"{MEMBERS} tasks took {elapsed:.1f}s"


def test_a_tasks_repr_holds_no_environment_and_no_secret(tmp_path: Path) -> None:
    """A task's repr reaches logs (a Dask worker's "Compute Failed" prints its arguments):
    it names the member and never a value of its environment."""
    member = command("load", "true", env={"API_TOKEN": "s3cr3t-value"})
    task = make_task(tmp_path, member)
    assert "s3cr3t-value" in task.secrets
    shown = repr(task)
    assert "load" in shown and "s3cr3t-value" not in shown and "ORECART_RUN_ID" not in shown
