"""max_age (STALE) and the scheduled rerun of service containers (SCHEDULED), and how
both give way to the profile, --skip, --only, --force and rerun: never."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from tests.planner.test_planner import T0, member, pipeline, success

from orecart.model import Container, Member, Pipeline, ReasonCode, Rerun
from orecart.planner import Decision, Facts, Selection, plan

WEEK = 7 * 86400.0
STALE = pipeline(member("old", max_age=WEEK), member("after", "old"))


def service(name: str, *needs: str, **fields: object) -> Member:
    box = Container("registry.example.org/helper:1", service=True)
    return Member(name, container=box, needs=needs, **fields)  # type: ignore[arg-type]


DIGEST = "sha256:" + "a" * 64


def facts_at(p: Pipeline, days: float, **fields: object) -> Facts:
    """Every member succeeded, in file order, 10 s apart from T0 (images with one digest);
    the plan is made ``days`` later."""
    digests = {m.name: DIGEST for m in p.members if m.container}
    runs = {n: success(p, n, at=i * 10, digest=digests.get(n)) for i, n in enumerate(p.names)}
    now = T0 + timedelta(days=days)
    return Facts(successes=runs, digests=digests, now=now, **fields)  # type: ignore[arg-type]


def codes(p: Pipeline, facts: Facts, selection: Selection = Selection()) -> dict[str, ReasonCode]:
    return {s.member.name: s.code for s in plan(p, selection, facts).steps}


def test_a_success_older_than_max_age_runs_again_and_says_how_old() -> None:
    steps = plan(STALE, facts=facts_at(STALE, 8.01)).steps
    assert [(s.decision, s.code) for s in steps] == [
        (Decision.RUN, ReasonCode.STALE),
        (Decision.RUN, ReasonCode.NEED_RAN),
    ]
    assert steps[0].reason == "its last success is 8 days old (max_age 7d)"


def test_a_success_within_max_age_is_done() -> None:
    assert codes(STALE, facts_at(STALE, 6.9)) == {"old": ReasonCode.DONE, "after": ReasonCode.DONE}


def test_the_age_counts_from_the_finish_else_the_start() -> None:
    unfinished = replace(success(STALE, "old"), finished_at=None)
    facts = Facts(successes={"old": unfinished}, now=T0 + timedelta(days=7, seconds=0.5))
    assert plan(STALE, facts=facts).step("old").code is ReasonCode.STALE  # started T0
    finished = success(STALE, "old")  # finished T0 + 1 s
    facts = replace(facts, successes={"old": finished})
    assert plan(STALE, facts=facts).step("old").code is ReasonCode.DONE


def test_without_now_staleness_is_not_judged() -> None:
    facts = replace(facts_at(STALE, 400), now=None)
    assert codes(STALE, facts)["old"] is ReasonCode.DONE


def test_selection_profile_and_never_win_over_max_age() -> None:
    facts = facts_at(STALE, 30)
    assert codes(STALE, facts, Selection(skip=frozenset({"old"})))["old"] is (
        ReasonCode.SKIPPED_BY_USER
    )
    assert codes(STALE, facts, Selection(only=frozenset({"after"})))["old"] is (
        ReasonCode.NOT_SELECTED
    )
    excluded = replace(STALE, excluded=frozenset({"old"}), profile="prod")
    assert codes(excluded, facts)["old"] is ReasonCode.EXCLUDED_BY_PROFILE
    never = pipeline(member("old", max_age=WEEK, rerun=Rerun.NEVER))
    assert codes(never, facts_at(never, 30))["old"] is ReasonCode.NEVER
    assert codes(STALE, facts, Selection(force=True))["old"] is ReasonCode.FORCED


def test_a_changed_definition_is_named_before_staleness() -> None:
    changed = replace(success(STALE, "old"), fingerprint="0" * 16)
    facts = replace(facts_at(STALE, 30), successes={"old": changed})
    assert plan(STALE, facts=facts).step("old").code is ReasonCode.CHANGED


SERVICE = pipeline(service("helper"), member("loader", "helper"), member("plain"))


def test_on_a_scheduled_run_service_containers_rerun_and_only_they() -> None:
    steps = plan(SERVICE, facts=facts_at(SERVICE, 1, scheduled=True)).steps
    assert [(s.member.name, s.decision, s.code) for s in steps] == [
        ("helper", Decision.RUN, ReasonCode.SCHEDULED),
        ("loader", Decision.SKIP, ReasonCode.DONE),  # copili reran the service ones only
        ("plain", Decision.SKIP, ReasonCode.DONE),
    ]
    assert steps[0].reason == "service container: rerun on the schedule"


def test_a_service_container_is_not_rerun_on_a_run_someone_asked_for() -> None:
    facts = facts_at(SERVICE, 1)
    assert codes(SERVICE, facts)["helper"] is ReasonCode.DONE


def test_a_scheduled_rerun_of_a_need_does_not_make_dependents_stale_later() -> None:
    facts = facts_at(SERVICE, 1)
    rerun = replace(
        facts.successes["helper"],
        run_id="r2",
        started_at=T0 + timedelta(days=1),
        finished_at=T0 + timedelta(days=1, seconds=1),
        reason_code=ReasonCode.SCHEDULED,
    )
    facts = replace(facts, successes={**facts.successes, "helper": rerun})
    assert codes(SERVICE, facts)["loader"] is ReasonCode.DONE
    changed = replace(rerun, reason_code=ReasonCode.CHANGED)
    facts = replace(facts, successes={**facts.successes, "helper": changed})
    assert codes(SERVICE, facts)["loader"] is ReasonCode.NEED_RAN


def test_the_selection_and_never_win_over_the_schedule() -> None:
    facts = facts_at(SERVICE, 1, scheduled=True)
    skip = Selection(skip=frozenset({"helper"}))
    assert codes(SERVICE, facts, skip)["helper"] is ReasonCode.SKIPPED_BY_USER
    never = pipeline(service("helper", rerun=Rerun.NEVER))
    assert codes(never, facts_at(never, 1, scheduled=True))["helper"] is ReasonCode.NEVER

