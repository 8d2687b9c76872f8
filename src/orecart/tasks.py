"""What each attempt of a member run receives, and where the member runs of one run keep
their files: ``<runs_dir>/<run>/<member>/`` (artifacts) and ``<run>/logs/<member>.log``.

A task holds the member's whole environment (``environ.member_env``), so secrets too: it
is handed to an executor and never stored. Its ``secrets`` are every value to redact from
the member's output: the secret values of what it receives (its env, the parameters, what
it inherits of orecart's environment) and every secret the pipeline knows.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from orecart.environ import inherited_env, member_env
from orecart.model import Handover, Member, Task
from orecart.planner import Decision, Plan, Step
from orecart.secrets import known_secrets, secret_values

Secrets = frozenset[str]


class Tasks:
    """Builds the task of each attempt of one run of ``plan``."""

    def __init__(
        self,
        plan: Plan,
        run_id: str,
        runs_dir: Path,
        keep: bool,
        environs: tuple[Mapping[Handover, Mapping[str, str]], Mapping[str, str]],
    ) -> None:
        """``environs`` is (the graph variables by handover, orecart's own environment)."""
        self.plan, self.run_id, self.runs_dir = plan, run_id, runs_dir
        self.keep, (self.graph_env, self.environ) = keep, environs
        self.steps = {s.member.name: s for s in plan.steps}
        #: every secret the pipeline knows, found once: walking every member's env per
        #: task made a run's task building quadratic in its member count
        self.known = known_secrets(plan.pipeline)
        #: what members inherit of orecart's environment, and its secrets, by what decides
        #: it (a container or not, the passthrough patterns): the same for most members
        self._inherited: dict[tuple[bool, tuple[str, ...]], tuple[dict[str, str], Secrets]] = {}
        self._param_secrets: dict[frozenset[str], Secrets] = {}  # by declared names

    def task(self, step: Step, attempt: int) -> Task:
        """The task of one attempt; its artifacts folder exists once this returns."""
        member, pipeline = step.member, self.plan.pipeline
        artifacts = self.artifacts(member.name)
        artifacts.mkdir(parents=True, exist_ok=True)
        inputs = {need: self._input_folder(need) for need in member.needs}
        graph_env = self.graph_env.get(member.handover, {})
        inherited, inherited_secrets = self._inherit(member)
        env = member_env(
            pipeline, member, self.run_id, (artifacts, inputs), graph_env, inherited
        )
        declared = pipeline.secrets | member.secrets
        secrets = (
            secret_values(env, declared)
            | self._secret_params(declared)
            | inherited_secrets
            | self.known
        )
        return Task(
            run_id=self.run_id,
            pipeline=pipeline.name,
            member=member,
            attempt=attempt,
            env=env,
            base_dir=pipeline.base_dir,
            artifacts=artifacts,
            inputs=inputs,
            log_path=self.log_path(member.name),
            secrets=secrets,
            digest=step.digest,
            keep=self.keep,
            labels={
                "orecart.pipeline": pipeline.name,
                "orecart.run": self.run_id,
                "orecart.member": member.name,
            },
        )

    def _inherit(self, member: Member) -> tuple[dict[str, str], Secrets]:
        key = (member.container is not None, member.env_passthrough)
        if key not in self._inherited:
            inherited = inherited_env(member, self.environ)
            self._inherited[key] = inherited, secret_values(inherited)
        return self._inherited[key]

    def _secret_params(self, declared: frozenset[str]) -> Secrets:
        if declared not in self._param_secrets:
            self._param_secrets[declared] = secret_values(self.plan.pipeline.params, declared)
        return self._param_secrets[declared]

    def unused(self, task: Task) -> None:
        """``task`` never ran (its member was cancelled): its empty artifacts folder goes."""
        try:
            task.artifacts.rmdir()
        except OSError:
            return  # not empty after all, or gone: leave it

    def artifacts(self, member: str, run_id: str | None = None) -> Path:
        """The artifacts folder of ``member`` in this run (or in run ``run_id``)."""
        return self.runs_dir / (run_id or self.run_id) / member

    def log_path(self, member: str) -> Path:
        return self.runs_dir / self.run_id / "logs" / f"{member}.log"

    def _input_folder(self, need: str) -> Path:
        """A need that ran now hands over this run's folder; a skipped one its last run's."""
        step = self.steps[need]
        source = step.done_by if step.decision is Decision.SKIP and step.done_by else None
        return self.artifacts(need, source)
