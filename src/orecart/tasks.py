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

from orecart.environ import inherited_env, own_env, shared_env
from orecart.model import Handover, Member, Task
from orecart.planner import Decision, Plan, Step
from orecart.secrets import known_secrets, secret_values

Secrets = frozenset[str]


class Tasks:
    """Builds the task of each attempt of one run of ``plan``.

    Most of a task is the same for every member of a run: the layers of the environment
    below the member's own ``env`` and their secrets, the secrets of the parameters and of
    what members inherit, the pipeline's known secrets. Those are built once per kind of
    member (``_Shared``), and per member only what is its own: its ``env``, folders and
    ``ORECART_*`` variables, and the secrets among them.
    """

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
        self.run_dir = runs_dir / run_id
        self.logs_dir = self.run_dir / "logs"
        #: every secret the pipeline knows, found once: walking every member's env per
        #: task made a run's task building quadratic in its member count
        self.known = known_secrets(plan.pipeline)
        self._shared: dict[tuple[object, ...], _Shared] = {}
        self.labels = {"orecart.pipeline": plan.pipeline.name, "orecart.run": run_id}

    def task(self, step: Step, attempt: int) -> Task:
        """The task of one attempt; its artifacts folder exists once this returns."""
        member, pipeline = step.member, self.plan.pipeline
        artifacts = self.artifacts(member.name)
        artifacts.mkdir(parents=True, exist_ok=True)
        inputs = {need: self._input_folder(need) for need in member.needs}
        shared = self._shared_of(member)
        env = own_env(shared.env, pipeline, member, self.run_id, (artifacts, inputs))
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
            secrets=shared.secrets_of(env),
            digest=step.digest,
            keep=self.keep,
            labels={**self.labels, "orecart.member": member.name},
        )

    def _shared_of(self, member: Member) -> _Shared:
        """What ``member`` shares with the members that agree in what decides it."""
        key = (member.container is not None, member.env_passthrough, member.exclude_env,
               member.handover, member.secrets)  # fmt: skip
        shared = self._shared.get(key)
        if shared is None:
            if len(self._shared) >= SHARED_KEPT:  # members that each differ: nothing shared
                self._shared.clear()
            shared = self._shared[key] = self._share(member)
        return shared

    def _share(self, member: Member) -> _Shared:
        pipeline = self.plan.pipeline
        inherited = inherited_env(member, self.environ)
        graph_env = self.graph_env.get(member.handover, {})
        env = shared_env(pipeline, member, graph_env, inherited)
        declared = pipeline.secrets | member.secrets
        fixed = (
            secret_values(pipeline.params, declared)
            | secret_values(inherited)
            | self.known
        )
        return _Shared(env, declared, fixed)

    def unused(self, task: Task) -> None:
        """``task`` never ran (its member was cancelled): its empty artifacts folder goes."""
        try:
            task.artifacts.rmdir()
        except OSError:
            return  # not empty after all, or gone: leave it

    def artifacts(self, member: str, run_id: str | None = None) -> Path:
        """The artifacts folder of ``member`` in this run (or in run ``run_id``)."""
        return (self.runs_dir / run_id if run_id else self.run_dir) / member

    def log_path(self, member: str) -> Path:
        return self.logs_dir / f"{member}.log"

    def _input_folder(self, need: str) -> Path:
        """A need that ran now hands over this run's folder; a skipped one its last run's."""
        step = self.steps[need]
        source = step.done_by if step.decision is Decision.SKIP and step.done_by else None
        return self.artifacts(need, source)


#: Kinds of member whose shared part a run keeps (see ``Tasks._shared_of``).
SHARED_KEPT = 64


class _Shared:
    """The part of their tasks that members of one kind share: the lower layers of their
    environment (``environ.shared_env``), and every secret that is not in their own."""

    def __init__(self, env: dict[str, str], declared: frozenset[str], fixed: Secrets) -> None:
        self.env, self.declared, self.fixed = env, declared, fixed
        self.secrets = fixed | secret_values(env, declared)  # one set, shared where it fits

    def secrets_of(self, env: Mapping[str, str]) -> Secrets:
        """What ``secret_values(env, declared)`` adds to the shared secrets, for ``env``
        built on ``self.env``: only its entries not in ``self.env`` are looked at, unless
        the member's own ``env`` replaced one of those (then all of it is)."""
        own = {k: v for k, v in env.items() if self.env.get(k) != v}
        if len(env) - len(own) < len(self.env):  # a shared value was replaced
            return self.fixed | secret_values(env, self.declared)
        found = secret_values(own, self.declared)
        return self.secrets if found <= self.secrets else self.secrets | found
