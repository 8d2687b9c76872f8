"""``member_summary``: a large run's member runs to list, and the others counted in SQL,
on every store; the same choice as listing every member run and cutting in Python."""

from __future__ import annotations

from collections import Counter

from orecart.model import MemberRun, MemberStatus, RunStatus
from orecart.stores.sql import SqlStore
from tests.stores.test_contract import dead_pid, make_run, member_run

S, F, E, R = (MemberStatus.SUCCEEDED, MemberStatus.FAILED, MemberStatus.ERRORED,
              MemberStatus.RUNNING)


def saved(store: SqlStore, statuses: list[MemberStatus], **run: object) -> str:
    """A run whose member runs have ``statuses``, in plan order (names sort the other way,
    so an order by name would show)."""
    store.save_run(make_run("r-1", **run))
    found = [member_run("r-1", f"m{len(statuses) - i:03d}", status, position=i)
             for i, status in enumerate(statuses)]
    store.record("r-1", member_runs=found)
    return "r-1"


def cut(member_runs: list[MemberRun], rows: int) -> tuple[list[str], dict[str, int]]:
    """What the summary must say, worked out from every member run."""
    notable = [mr for mr in member_runs if not mr.status.ok][:rows]
    names = [mr.member for mr in notable]
    rest = Counter(str(mr.status) for mr in member_runs if mr.member not in names)
    return names, dict(rest)


def test_a_run_of_at_most_rows_member_runs_lists_every_one(store: SqlStore) -> None:
    run_id = saved(store, [S, F, S])
    found = store.member_summary(run_id, rows=3)
    assert found.listed == store.member_runs(run_id)
    assert found.unlisted == {}


def test_a_larger_run_lists_what_did_not_succeed_in_plan_order_and_counts_the_rest(
    store: SqlStore,
) -> None:
    run_id = saved(store, [S, F, S, E, S, F, S, F, S, S])
    found = store.member_summary(run_id, rows=2)
    names, rest = cut(store.member_runs(run_id), rows=2)
    assert [mr.member for mr in found.listed] == names == ["m009", "m007"]
    assert found.listed == store.member_runs(run_id)[1:4:2]  # whole rows, as read one by one
    assert found.unlisted == rest == {"succeeded": 6, "failed": 2}


def test_a_large_run_that_succeeded_lists_none(store: SqlStore) -> None:
    run_id = saved(store, [S] * 60)
    found = store.member_summary(run_id, rows=50)
    assert found.listed == []
    assert found.unlisted == {"succeeded": 60}


def test_the_running_members_of_a_run_whose_orecart_died_count_as_aborted(
    store: SqlStore,
) -> None:
    run_id = saved(store, [S, R, S, R, MemberStatus.PENDING, S],
                   status=RunStatus.RUNNING, pid=dead_pid())
    found = store.member_summary(run_id, rows=2)
    assert [(mr.member, mr.status) for mr in found.listed] == [
        ("m005", MemberStatus.ABORTED), ("m003", MemberStatus.ABORTED)]
    assert found.unlisted == {"succeeded": 3, "aborted": 1}
    assert cut(store.member_runs(run_id), rows=2) == (["m005", "m003"], found.unlisted)
