"""`orecart status` and `show` of a run larger than a table: what did not succeed listed,
the rest counted (the store summarises it), and `--json` still every member and attempt."""

from __future__ import annotations

from tests.cli.conftest import Cli

MEMBERS = 60


def large_failed_run(cli: Cli) -> str:
    """A run of 60 members: m007 and m041 fail, m042 (which needs m041) is cancelled."""
    lines = ["pipeline: wide", "settings: {max_parallel: 4}", "members:"]
    for i in range(MEMBERS):
        command = '["false"]' if i in (7, 41) else '["true"]'
        needs = ", needs: [m041]" if i == 42 else ""
        lines.append(f"  - {{name: m{i:03d}, run: {command}{needs}}}")
    cli.write("\n".join(lines) + "\n")
    done = cli("run", "pipeline.yaml")
    assert done.code == 1, done.err
    run_id: str = cli("status", "pipeline.yaml", "--json").json()["run"]["id"]
    return run_id


def test_status_of_a_large_run_lists_what_did_not_succeed_and_counts_the_rest(
    cli: Cli,
) -> None:
    run_id = large_failed_run(cli)
    done = cli("status", "pipeline.yaml")
    assert done.code == 0, done.err
    listed = [line.split("│")[1].strip() for line in done.out.splitlines()
              if line.startswith("│") and line.split("│")[1].strip().startswith("m0")]
    assert listed == ["m007", "m041", "m042"]
    assert f"run {run_id} of wide: failed" in done.out
    assert "57 members not listed (57 succeeded); --json lists every member" in done.out
    assert cli("show", run_id).out == done.out  # `show` summarises the same way


def test_status_json_of_a_large_run_is_complete(cli: Cli) -> None:
    large_failed_run(cli)
    data = cli("status", "pipeline.yaml", "--json").json()
    assert len(data["members"]) == MEMBERS
    assert len(data["attempts"]) == MEMBERS - 1  # the cancelled member never started
    statuses = {m["name"]: m["status"] for m in data["members"]}
    assert (statuses["m007"], statuses["m041"], statuses["m042"]) == (
        "failed", "failed", "cancelled")
