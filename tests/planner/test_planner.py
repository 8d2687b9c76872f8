"""The planner on plain data: order, selection, the rerun rule, and random DAGs."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orecart.errors import CycleError, SelectionError
from orecart.model import (
    Container,
    Member,
    MemberRun,
    MemberStatus,
    Pipeline,
    ReasonCode,
    Rerun,
)
from orecart.planner import (
    Decision,
    Facts,
    Selection,
    downstream,
    fingerprint,
    plan,
    topological_order,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def pipeline(*members: Member, **fields: object) -> Pipeline:
    return Pipeline("p", Path("/tmp/p.yaml"), tuple(members), **fields)  # type: ignore[arg-type]


def member(name: str, *needs: str, **fields: object) -> Member:
    return Member(name, run=("true",), needs=needs, **fields)  # type: ignore[arg-type]


def success(
    p: Pipeline,
    name: str,
    run_id: str = "r1",
    at: int = 0,
    digest: str | None = None,
    fp: str | None = None,
) -> MemberRun:
    m = p.member(name)
    return MemberRun(
        run_id=run_id,
        member=name,
        status=MemberStatus.SUCCEEDED,
        fingerprint=fp or fingerprint(m, p, digest),
        digest=digest,
        started_at=T0 + timedelta(seconds=at),
        finished_at=T0 + timedelta(seconds=at + 1),
    )


def done(p: Pipeline, *names: str) -> Facts:
    return Facts(successes={n: success(p, n, at=i * 10) for i, n in enumerate(names)})


def decisions(p: Pipeline, selection: Selection = Selection(), facts: Facts = Facts()) -> dict:
    return {s.member.name: s.decision for s in plan(p, selection, facts).steps}


DIAMOND = pipeline(member("a"), member("b", "a"), member("c", "a"), member("d", "b", "c"))


def test_order_respects_needs_and_file_order() -> None:
    p = pipeline(member("x", "z"), member("y"), member("z"))
    assert topological_order(p) == ["y", "z", "x"]


def test_cycle_is_named() -> None:
    p = pipeline(member("a", "c"), member("b", "a"), member("c", "b"), member("d", "a"))
    with pytest.raises(CycleError) as caught:
        topological_order(p)
    assert caught.value.cycle == ["a", "c", "b", "a"]
    assert "a -> c -> b -> a" in str(caught.value)


def test_fresh_ledger_runs_everything() -> None:
    steps = plan(DIAMOND).steps
    assert [s.decision for s in steps] == [Decision.RUN] * 4
    assert steps[0].reason == "no earlier success here"


def test_everything_done_is_skipped_with_the_run_that_did_it() -> None:
    the_plan = plan(DIAMOND, facts=done(DIAMOND, "a", "b", "c", "d"))
    assert {s.decision for s in the_plan.steps} == {Decision.SKIP}
    assert the_plan.step("d").done_by == "r1"
    assert "done by run r1" in the_plan.step("d").reason


def test_changed_definition_reruns_it_and_everything_downstream() -> None:
    facts = done(DIAMOND, "a", "b", "c", "d")
    changed = pipeline(
        member("a"), member("b", "a", env={"X": "2"}), member("c", "a"), member("d", "b", "c")
    )
    result = decisions(changed, facts=facts)
    assert result == {"a": Decision.SKIP, "b": Decision.RUN, "c": Decision.SKIP, "d": Decision.RUN}
    assert plan(changed, facts=facts).step("d").reason == "needs b, which runs now"


def test_a_need_that_ran_since_reruns_the_dependent() -> None:
    facts = done(DIAMOND, "a", "b", "c", "d")
    later = dict(facts.successes)
    later["a"] = success(DIAMOND, "a", run_id="r9", at=1000)
    the_plan = plan(DIAMOND, facts=Facts(successes=later))
    assert the_plan.step("b").decision is Decision.RUN
    assert "ran since (run r9)" in the_plan.step("b").reason


def test_params_are_part_of_the_fingerprint() -> None:
    facts = done(DIAMOND, "a", "b", "c", "d")
    other = replace(DIAMOND, params={"release": "2"})
    assert set(decisions(other, facts=facts).values()) == {Decision.RUN}


def test_secret_values_are_not_part_of_the_fingerprint() -> None:
    one = pipeline(member("a", env={"DB_PASSWORD": "one", "MODE": "x"}))
    two = pipeline(member("a", env={"DB_PASSWORD": "two", "MODE": "x"}))
    three = pipeline(member("a", env={"DB_PASSWORD": "two", "MODE": "y"}))
    fp = [fingerprint(p.members[0], p, None) for p in (one, two, three)]
    assert fp[0] == fp[1] != fp[2]


def test_digest_change_reruns_an_image_member() -> None:
    image = Member("img", container=Container(image="reg/loader:prod"))
    p = pipeline(image)
    facts = Facts(
        successes={"img": success(p, "img", digest="sha256:aaa")}, digests={"img": "sha256:bbb"}
    )
    step = plan(p, facts=facts).step("img")
    assert step.decision is Decision.RUN
    assert step.reason == "image digest changed: aaa -> bbb"
    same = Facts(successes=facts.successes, digests={"img": "sha256:aaa"})
    assert plan(p, facts=same).step("img").decision is Decision.SKIP


def test_unresolvable_digest_is_never_a_skip() -> None:
    p = pipeline(Member("img", container=Container(image="reg/loader:prod")))
    facts = Facts(successes={"img": success(p, "img", digest=None)}, digests={"img": None})
    assert plan(p, facts=facts).step("img").reason == "image digest could not be resolved"


def test_rerun_always_and_never() -> None:
    p = pipeline(member("a", rerun=Rerun.ALWAYS), member("b", rerun=Rerun.NEVER, env={"V": "1"}))
    facts = Facts(successes={"a": success(p, "a"), "b": success(p, "b", fp="old")})
    assert decisions(p, facts=facts) == {"a": Decision.RUN, "b": Decision.SKIP}


def test_complete_when_must_hold_for_a_skip() -> None:
    p = pipeline(member("a", complete_when="RETURN false"))
    facts = done(p, "a")
    assert plan(p, facts=facts).step("a").reason == "complete_when does not hold"
    holds = Facts(successes=facts.successes, complete={"a": True})
    assert plan(p, facts=holds).step("a").decision is Decision.SKIP


def test_force_only_from_and_skip() -> None:
    facts = done(DIAMOND, "a", "b", "c", "d")
    assert set(decisions(DIAMOND, Selection(force=True), facts).values()) == {Decision.RUN}
    assert decisions(DIAMOND, Selection(only=frozenset({"c"})), facts) == {
        "a": Decision.SKIP,
        "b": Decision.SKIP,
        "c": Decision.RUN,
        "d": Decision.SKIP,
    }
    assert decisions(DIAMOND, Selection(start=frozenset({"b"})), facts) == {
        "a": Decision.SKIP,
        "b": Decision.RUN,
        "c": Decision.SKIP,
        "d": Decision.RUN,
    }
    skipped = decisions(DIAMOND, Selection(skip=frozenset({"a"})))
    assert skipped == {
        "a": Decision.SKIP,
        "b": Decision.CANCEL,
        "c": Decision.CANCEL,
        "d": Decision.CANCEL,
    }


def test_only_failed_runs_what_did_not_succeed_last_time() -> None:
    facts = Facts(
        successes=done(DIAMOND, "a", "b").successes,
        last_statuses={
            "a": MemberStatus.SUCCEEDED,
            "b": MemberStatus.SUCCEEDED,
            "c": MemberStatus.FAILED,
            "d": MemberStatus.CANCELLED,
        },
    )
    assert decisions(DIAMOND, Selection(only_failed=True), facts) == {
        "a": Decision.SKIP,
        "b": Decision.SKIP,
        "c": Decision.RUN,
        "d": Decision.RUN,
    }


def test_only_failed_says_how_each_left_out_member_ended_last_time() -> None:
    facts = Facts(
        successes=done(DIAMOND, "a").successes,
        last_statuses={
            "a": MemberStatus.SUCCEEDED,
            "b": MemberStatus.SKIPPED,
            "c": MemberStatus.FAILED,
            "d": MemberStatus.CANCELLED,
        },
    )
    steps = {s.member.name: s for s in plan(DIAMOND, Selection(only_failed=True), facts).steps}
    assert steps["a"].reason.startswith("succeeded in the last run; done by run ")
    assert steps["b"].reason == "skipped in the last run"


def codes(p: Pipeline, selection: Selection = Selection(), facts: Facts = Facts()) -> dict:
    return {s.member.name: s.code for s in plan(p, selection, facts).steps}


def test_every_decision_carries_its_reason_code() -> None:
    R = ReasonCode
    facts = done(DIAMOND, "a", "b", "c", "d")
    assert set(codes(DIAMOND).values()) == {R.NEW}
    assert set(codes(DIAMOND, facts=facts).values()) == {R.DONE}
    assert set(codes(DIAMOND, Selection(force=True), facts).values()) == {R.FORCED}
    assert codes(DIAMOND, Selection(only=frozenset({"c"})), facts) == {
        "a": R.NOT_SELECTED, "b": R.NOT_SELECTED, "c": R.SELECTED, "d": R.NOT_SELECTED}
    assert codes(DIAMOND, Selection(skip=frozenset({"a"}))) == {
        "a": R.SKIPPED_BY_USER, "b": R.NEED_NEVER_SUCCEEDED, "c": R.NEED_NEVER_SUCCEEDED,
        "d": R.NEED_CANCELLED}
    changed = pipeline(
        member("a"), member("b", "a", env={"X": "2"}), member("c", "a"), member("d", "b", "c")
    )
    assert codes(changed, facts=facts) == {
        "a": R.DONE, "b": R.CHANGED, "c": R.DONE, "d": R.NEED_RAN}
    excluded = replace(DIAMOND, excluded=frozenset({"c"}), profile="dev")
    assert codes(excluded)["c"] is R.EXCLUDED_BY_PROFILE
    failed = Facts(successes=facts.successes, last_statuses={"c": MemberStatus.FAILED})
    assert codes(DIAMOND, Selection(only_failed=True), failed)["c"] is R.FAILED_LAST
    ruled = pipeline(member("a", rerun=Rerun.ALWAYS), member("b", rerun=Rerun.NEVER),
                     member("w", complete_when="RETURN false"))
    assert codes(ruled, facts=done(ruled, "a", "b", "w")) == {
        "a": R.ALWAYS, "b": R.NEVER, "w": R.INCOMPLETE}
    image = pipeline(Member("img", container=Container(image="reg/loader:prod")))
    ran = {"img": success(image, "img", digest="sha256:aaa")}
    assert codes(image, facts=Facts(successes=ran, digests={"img": "sha256:b"}))["img"] is (
        R.DIGEST_CHANGED)
    assert codes(image, facts=Facts(successes=ran, digests={"img": None}))["img"] is (
        R.DIGEST_UNKNOWN)
    assert plan(DIAMOND).to_dict()["steps"][0]["code"] == "new"


def test_unknown_selection_is_an_error() -> None:
    with pytest.raises(SelectionError, match="no member named 'zzz'"):
        plan(DIAMOND, Selection(only=frozenset({"zzz"})))


def test_profile_exclusion_does_not_block_dependents() -> None:
    p = replace(DIAMOND, excluded=frozenset({"c"}), profile="dev")
    result = plan(p)
    assert result.step("c").decision is Decision.SKIP
    assert result.step("c").reason == "excluded by profile 'dev'"
    assert result.step("d").decision is Decision.RUN


# -- properties on random DAGs -----------------------------------------------------------


@st.composite
def dags(draw: st.DrawFn) -> Pipeline:
    size = draw(st.integers(1, 25))
    members = []
    for i in range(size):
        needs = draw(st.sets(st.integers(0, i - 1), max_size=3)) if i else set()
        members.append(member(f"m{i}", *(f"m{n}" for n in sorted(needs))))
    order = draw(st.permutations(members))
    return pipeline(*order)


@settings(max_examples=150, deadline=None)
@given(dags(), st.data())
def test_random_dags_plan_consistently(p: Pipeline, data: st.DataObject) -> None:
    names = list(p.names)
    succeeded = data.draw(st.sets(st.sampled_from(names)))
    facts = Facts(
        successes={
            n: success(p, n, at=10 * i)
            for i, n in enumerate(sorted(succeeded, key=topological_order(p).index))
        }
    )
    the_plan = plan(p, Selection(), facts)
    position = {s.member.name: i for i, s in enumerate(the_plan.steps)}
    assert sorted(position) == sorted(names)
    for step in the_plan.steps:
        for need in step.member.needs:
            assert position[need] < position[step.member.name]
            if the_plan.step(need).decision is Decision.RUN:
                assert step.decision is Decision.RUN  # the rerun rule cascades
        if step.member.name not in succeeded:
            assert step.decision is Decision.RUN  # never skip without a success
    start = data.draw(st.sets(st.sampled_from(names), max_size=2))
    if start:
        chosen = plan(p, Selection(start=frozenset(start)), facts)
        below = downstream(p, frozenset(start))
        for step in chosen.steps:
            if step.member.name not in below:
                assert step.decision is not Decision.RUN
            elif step.decision is Decision.CANCEL:  # a need outside the selection never ran
                assert step.code in (ReasonCode.NEED_NEVER_SUCCEEDED, ReasonCode.NEED_CANCELLED)
            else:
                assert step.decision is Decision.RUN
