"""Building the tasks of a run: each carries every secret the pipeline knows, and building
them stays linear in the member count."""

from __future__ import annotations

import time
from pathlib import Path

from orecart.environ import inherited_env, member_env
from orecart.model import Container, Handover, Member, Pipeline
from orecart.planner import plan
from orecart.secrets import known_secrets, secret_values
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


def varied_pipeline(tmp_path: Path) -> Pipeline:
    """Members whose environments share more or less: an override of a pipeline value that
    only the member declares secret, Motherlode copies, a container, a passthrough, a need
    whose name looks secret (its ORECART_INPUT_ variable does too)."""
    members = (
        Member(name="token-maker", shell="true"),
        Member(name="plain", shell="true", needs=("token-maker",)),
        Member(name="declares", shell="true", secrets=frozenset({"X_VALUE"})),
        Member(name="replaces", shell="true", secrets=frozenset({"X_VALUE"}),
               env={"X_VALUE": "own-value-77"}),
        Member(name="copies", shell="true", handover=Handover.MOTHERLODE,
               env={"DB_PASSWORD": "pw-of-copies"}),
        Member(name="boxed", container=Container(image="x:1"), env_passthrough=("EXTRA_*",)),
        Member(name="passes", shell="true", env_passthrough=("EXTRA_*",)),
        Member(name="excludes", shell="true", exclude_env=frozenset({"X_VALUE"})),
    )  # fmt: skip
    return Pipeline(
        name="varied", source=tmp_path / "pipeline.yaml", members=members,
        env={"X_VALUE": "pipeline-value-1", "SHARED_TOKEN": "tok-shared-9"},
        params={"api_key": "param-key-123"},
    )  # fmt: skip


def test_a_tasks_env_and_secrets_are_those_of_its_whole_environment(tmp_path: Path) -> None:
    """What members share is built once per run, yet each task is what building it whole
    for that member gives: ``member_env``, and the secret values of all it receives."""
    pipeline = varied_pipeline(tmp_path)
    environ = {"PATH": "/bin", "HOME": "/root", "EXTRA_AUTH": "inherited-secret-5"}
    graph_env = {Handover.MOTHERLODE: {"NEO4J_PASSWORD": "graph-pw-4"}}
    tasks = Tasks(plan(pipeline), "run-1", tmp_path / "runs", False, (graph_env, environ))
    known = known_secrets(pipeline)
    for step in tasks.plan.steps:
        member = step.member
        task = tasks.task(step, 1)
        inherited = inherited_env(member, environ)
        folders = (task.artifacts, dict(task.inputs))
        env = member_env(pipeline, member, "run-1", folders,
                         graph_env.get(member.handover, {}), inherited)  # fmt: skip
        declared = pipeline.secrets | member.secrets
        secrets = (secret_values(env, declared) | secret_values(pipeline.params, declared)
                   | secret_values(inherited) | known)  # fmt: skip
        assert task.env == env, member.name
        assert task.secrets == secrets, member.name
    by_name = {s.member.name: tasks.task(s, 1) for s in tasks.plan.steps}
    assert "pipeline-value-1" in by_name["declares"].secrets
    assert "pipeline-value-1" not in by_name["replaces"].secrets  # it never received it
    assert "own-value-77" in by_name["replaces"].secrets
    assert "graph-pw-4" in by_name["copies"].secrets
    assert "inherited-secret-5" in by_name["passes"].secrets
    assert by_name["plain"].env["ORECART_INPUT_TOKEN_MAKER"] in by_name["plain"].secrets
