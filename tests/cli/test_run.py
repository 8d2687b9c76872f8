"""`orecart run` end to end: real processes, the real SQLite store, the real CLI."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

from tests.cli.conftest import Cli

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart"


def statuses(cli: Cli, file: str = "pipeline.yaml") -> dict[str, str]:
    data = cli("status", file, "--json").json()
    return {m["member"]: m["status"] for m in data["members"]}


def test_quickstart_runs_then_resumes(cli: Cli, tmp_path: Path) -> None:
    import shutil

    shutil.copytree(QUICKSTART, tmp_path / "qs", ignore=shutil.ignore_patterns(".orecart"))
    first = cli("run", "qs/pipeline.yaml")
    assert first.code == 0, first.err
    assert "publish | no graph configured" in first.out
    assert set(statuses(cli, "qs/pipeline.yaml").values()) == {"succeeded"}
    second = cli("run", "qs/pipeline.yaml")
    assert second.code == 0, second.err
    assert set(statuses(cli, "qs/pipeline.yaml").values()) == {"skipped"}
    third = cli("run", "qs/pipeline.yaml", "--from", "links")
    assert third.code == 0, third.err
    assert statuses(cli, "qs/pipeline.yaml") == {
        "countries": "skipped",
        "cities": "skipped",
        "rivers": "skipped",
        "links": "succeeded",
        "publish": "succeeded",
    }
    assert len(cli("runs", "qs/pipeline.yaml", "--json").json()) == 3


def test_independent_members_run_in_parallel(cli: Cli) -> None:
    cli.write("""
pipeline: par
settings: {max_parallel: 3}
members:
  - {name: a, shell: "sleep 1"}
  - {name: b, shell: "sleep 1"}
  - {name: c, shell: "sleep 1"}
  - {name: d, shell: "true", needs: [a, b, c]}
""")
    done = cli("run", "pipeline.yaml")
    assert done.code == 0, done.err
    members = {m["member"]: m for m in cli("status", "pipeline.yaml", "--json").json()["members"]}
    starts = [datetime.fromisoformat(members[n]["started_at"]) for n in "abc"]
    ends = [datetime.fromisoformat(members[n]["finished_at"]) for n in "abc"]
    assert max(starts) < min(ends)  # all three were running at the same moment
    assert datetime.fromisoformat(members["d"]["started_at"]) >= max(ends)


def test_failure_cancels_dependents_and_exits_1(cli: Cli) -> None:
    cli.write("""
pipeline: fails
members:
  - {name: bad, shell: "echo broken >&2; exit 3"}
  - {name: after, shell: "true", needs: [bad]}
  - {name: other, shell: "echo fine"}
""")
    done = cli("run", "pipeline.yaml")
    assert done.code == 1
    data = cli("status", "pipeline.yaml", "--json").json()
    members = {m["member"]: m for m in data["members"]}
    assert data["run"]["status"] == "failed"
    assert members["bad"]["status"] == "failed" and members["bad"]["exit_code"] == 3
    assert members["after"]["status"] == "cancelled"
    assert members["after"]["error"] == "needs bad, which failed"
    assert members["other"]["status"] == "succeeded"
    for field in ("name", "status", "attempts", "exit_code", "started_at", "finished_at"):
        assert field in members["bad"]
    assert members["bad"]["name"] == "bad"
    rerun = cli("run", "pipeline.yaml", "--only-failed")
    assert rerun.code == 1
    assert statuses(cli)["other"] == "skipped"


def test_command_not_found_is_errored(cli: Cli) -> None:
    cli.write("pipeline: nf\nmembers:\n  - {name: x, run: [no-such-program-here]}\n"
              "  - {name: y, shell: no-such-program-either}\n")
    assert cli("run", "pipeline.yaml").code == 1
    x, y = cli("status", "pipeline.yaml", "--json").json()["members"]
    assert x["status"] == "errored" and "no-such-program-here" in x["error"]
    assert y["status"] == "errored" and y["error"] == "command not found (shell exit code 127)"


def test_environment_and_artifacts_reach_members(cli: Cli) -> None:
    cli.write("""
pipeline: envs
env: {SHARED: from-pipeline}
members:
  - name: first
    shell: 'echo "$SHARED $OWN $ORECART_MEMBER" > "$ORECART_ARTIFACTS/out.txt"'
    env: {OWN: mine}
  - name: second
    needs: [first]
    shell: 'cat "$ORECART_INPUT_FIRST/out.txt"; echo "params=$ORECART_PARAMS"'
""")
    done = cli("run", "pipeline.yaml", "-p", "release=7")
    assert done.code == 0, done.err
    assert "second | from-pipeline mine first" in done.out
    assert 'second | params={"release": "7"}' in done.out


def test_secrets_never_reach_logs_or_the_store(cli: Cli, tmp_path: Path) -> None:
    cli.write("""
pipeline: sec
secrets: [PLAIN_NAME]
members:
  - name: leak
    shell: 'echo "pw=$DB_PASSWORD plain=$PLAIN_NAME"; exit 1'
    env: {DB_PASSWORD: "hunter2-secret", PLAIN_NAME: "declared-secret-value"}
""")
    done = cli("run", "pipeline.yaml")
    assert done.code == 1
    assert "pw=*** plain=***" in done.out
    everything = done.out + done.err
    for path in (tmp_path / ".orecart").rglob("*"):
        if path.is_file():
            everything += path.read_bytes().decode(errors="replace")
    everything += cli("status", "pipeline.yaml", "--json").out
    assert "hunter2-secret" not in everything
    assert "declared-secret-value" not in everything


def test_invalid_file_exits_2_without_traceback(cli: Cli) -> None:
    cli.write("pipeline: bad\nmembers:\n  - name: a\n    run: [true]\n    neds: [b]\n")
    done = cli("run", "pipeline.yaml")
    assert done.code == 2
    assert "pipeline.yaml:5" in done.err and "needs" in done.err
    assert "Traceback" not in done.err


def test_unknown_selection_exits_2(cli: Cli) -> None:
    cli.write("pipeline: s\nmembers:\n  - {name: a, run: [true]}\n")
    done = cli("run", "pipeline.yaml", "--only", "zzz")
    assert done.code == 2 and "no member named 'zzz'" in done.err


def test_plan_prints_decisions_and_reasons(cli: Cli) -> None:
    cli.write(
        "pipeline: p\nmembers:\n  - {name: a, run: [true]}\n"
        "  - {name: b, run: [true], needs: [a]}\n"
    )
    before = cli("plan", "pipeline.yaml", "--json").json()
    assert [(s["member"], s["decision"]) for s in before["steps"]] == [("a", "run"), ("b", "run")]
    assert {s["code"] for s in before["steps"]} == {"new"}
    assert cli("run", "pipeline.yaml").code == 0
    after = cli("plan", "pipeline.yaml", "--json").json()
    assert {s["decision"] for s in after["steps"]} == {"skip"}
    assert {s["code"] for s in after["steps"]} == {"done"}
    assert after["steps"][0]["reason"].startswith("done by run ")
    assert "skip" in cli("plan", "pipeline.yaml").out
    assert cli("run", "pipeline.yaml", "--only", "b").code == 0
    run_id = cli("status", "pipeline.yaml", "--json").json()["run"]["id"]
    shown = cli("show", run_id, "--json").json()
    assert {m["name"]: m["reason_code"] for m in shown["members"]} == {
        "a": "not-selected", "b": "selected"}


def test_show_and_logs(cli: Cli) -> None:
    cli.write("pipeline: l\nmembers:\n  - {name: talk, shell: 'echo hello-log'}\n")
    assert cli("run", "pipeline.yaml").code == 0
    run_id = cli("status", "pipeline.yaml", "--json").json()["run"]["id"]
    shown = cli("show", run_id[:12], "--json").json()
    assert shown["run"]["id"] == run_id
    assert shown["attempts"][0]["status"] == "succeeded"
    logs = cli("logs", run_id, "talk")
    assert logs.code == 0 and "hello-log" in logs.out
    assert cli("logs", "nope").code == 2


def test_a_second_run_is_locked_out(cli: Cli) -> None:
    cli.write("pipeline: lock\nmembers:\n  - {name: slow, shell: 'sleep 3'}\n")
    first = cli.start("run", "pipeline.yaml")
    time.sleep(1.2)
    second = cli("run", "pipeline.yaml")
    first.communicate(timeout=30)
    assert second.code == 3
    assert f"pid {first.pid}" in second.err and "host" in second.err


def test_hooks_from_the_pipeline_file(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "myhooks.py").write_text(
        "from pathlib import Path\n"
        "from orecart.hooks import hookimpl\n"
        "LOG = Path(__file__).with_name('hooks.log')\n"
        "def note(text):\n"
        "    with LOG.open('a') as f: f.write(text + '\\n')\n"
        "@hookimpl\n"
        "def before_pipeline_run(run, pipeline): note('before ' + pipeline.name)\n"
        "@hookimpl\n"
        "def after_member_run(member_run): note('member ' + member_run.member + ' '"
        " + member_run.status)\n"
        "@hookimpl\n"
        "def on_member_error(member_run): note('error ' + member_run.member)\n"
        "@hookimpl\n"
        "def after_pipeline_run(run, pipeline): note('after ' + run.status)\n"
    )
    cli.write(
        'pipeline: hk\nhooks: [myhooks]\nmembers:\n  - {name: a, run: ["true"]}\n'
        '  - {name: b, run: ["false"]}\n'
    )
    done = cli("run", "pipeline.yaml", "--max-parallel", "1")  # found beside the file
    assert done.code == 1, done.err
    lines = (tmp_path / "hooks.log").read_text().splitlines()
    assert lines == [
        "before hk",
        "member a succeeded",
        "member b failed",
        "error b",
        "after failed",
    ]


def test_version_and_schema(cli: Cli) -> None:
    assert cli("--version").out.startswith("orecart ")
    assert cli("schema").json()["type"] == "object"


def test_hooks_from_the_entry_point_group(cli: Cli, tmp_path: Path) -> None:
    site = tmp_path / "site"
    info = site / "orecart_demo_plugin-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: orecart-demo-plugin\n"
                                   "Version: 1.0\n")
    (info / "entry_points.txt").write_text("[orecart]\ndemo = demo_plugin\n")
    (site / "demo_plugin.py").write_text(
        "from pathlib import Path\nfrom orecart.hooks import hookimpl\n"
        "@hookimpl\ndef after_pipeline_run(run, pipeline):\n"
        f"    Path({str(tmp_path / 'seen')!r}).write_text(run.status)\n"
    )
    cli.write("pipeline: ep\nmembers:\n  - {name: a, run: [\"true\"]}\n")
    assert cli("run", "pipeline.yaml", env={"PYTHONPATH": str(site)}).code == 0
    assert (tmp_path / "seen").read_text() == "succeeded"


def test_secret_params_are_masked_in_the_store_and_output(cli: Cli, tmp_path: Path) -> None:
    cli.write("pipeline: sp\nmembers:\n  - {name: a, shell: 'echo \"$ORECART_PARAMS\"'}\n")
    done = cli("run", "pipeline.yaml", "-p", "API_TOKEN=tok-very-secret", "-p", "release=3")
    assert done.code == 0, done.err
    assert "tok-very-secret" not in done.out + done.err
    run = cli("status", "pipeline.yaml", "--json").json()["run"]
    assert run["params"] == {"API_TOKEN": "***", "release": "3"}
    stored = b"".join(p.read_bytes() for p in (tmp_path / ".orecart").rglob("*") if p.is_file())
    assert b"tok-very-secret" not in stored
    planned = cli("plan", "pipeline.yaml", "-p", "API_TOKEN=tok-very-secret", "--json")
    assert planned.json()["params"] == {"API_TOKEN": "***"}


def test_logs_follow_prints_until_the_run_ends(cli: Cli, tmp_path: Path) -> None:
    cli.write("pipeline: fl\nmembers:\n  - name: talk\n"
              "    shell: 'for i in 1 2 3; do echo line-$i; sleep 0.7; done'\n")
    running = cli.start("run", "pipeline.yaml")
    deadline = time.monotonic() + 20
    run_id = None
    while run_id is None:
        assert time.monotonic() < deadline, "the run never showed up"
        data = cli("status", "pipeline.yaml", "--json")
        if data.code == 0 and data.json()["run"] and data.json()["members"]:
            run_id = data.json()["run"]["id"]
        time.sleep(0.1)
    followed = cli("logs", run_id, "talk", "-f", timeout=60)
    running.communicate(timeout=30)
    assert followed.code == 0
    assert [line.split()[-1] for line in followed.out.splitlines() if "stdout" in line] == [
        "line-1", "line-2", "line-3"]


def test_a_member_that_failed_after_succeeding_runs_again(cli: Cli, tmp_path: Path) -> None:
    cli.write(f"pipeline: again\nmembers:\n  - {{name: a, shell: 'test ! -e {tmp_path}/flag'}}\n")
    assert cli("run", "pipeline.yaml").code == 0
    (tmp_path / "flag").touch()
    assert cli("run", "pipeline.yaml", "--force").code == 1
    (tmp_path / "flag").unlink()
    step = cli("plan", "pipeline.yaml", "--json").json()["steps"][0]
    assert (step["decision"], step["reason"]) == ("run", "no earlier success here")
    assert cli("run", "pipeline.yaml", "--only-failed").code == 0
    assert statuses(cli) == {"a": "succeeded"}


def test_history_needs_neither_parameters_nor_the_file(cli: Cli) -> None:
    cli.write("pipeline: hist\nmembers:\n  - {name: a, shell: 'echo ${params.who}'}\n")
    assert cli("run", "pipeline.yaml", "-p", "who=me").code == 0
    history = cli("runs", "pipeline.yaml", "--json")  # no -p who=...
    assert history.code == 0, history.err
    run_id = history.json()[0]["id"]
    state = f"sqlite:///{cli.folder}/.orecart/state.db"
    (cli.folder / "pipeline.yaml").unlink()
    shown = cli("show", run_id, "--state", state, "--json")
    assert shown.code == 0, shown.err
    assert shown.json()["run"]["params"] == {"who": "me"}
    assert "me" in cli("logs", run_id, "a", "--state", state).out


def test_expanded_secrets_are_redacted_wherever_they_land(cli: Cli, tmp_path: Path) -> None:
    cli.write("pipeline: exp\nmembers:\n"
              "  - name: a\n    run: [sh, -c, 'echo using $0 and $DB_URL', '${API_TOKEN}']\n"
              "    env: {DB_URL: 'pg://u:${DB_PASSWORD}@h/db'}\n")
    env = {"API_TOKEN": "tok-expanded-1", "DB_PASSWORD": "pw-expanded-1"}
    done = cli("run", "pipeline.yaml", env=env)
    assert done.code == 0, done.err
    assert "a | using *** and pg://u:***@h/db" in done.out
    stored = b"".join(p.read_bytes() for p in (tmp_path / ".orecart").rglob("*") if p.is_file())
    assert b"tok-expanded-1" not in stored and b"pw-expanded-1" not in stored
    rotated = {"API_TOKEN": "tok-expanded-2", "DB_PASSWORD": "pw-expanded-2"}
    step = cli("plan", "pipeline.yaml", "--json", env=rotated).json()["steps"][0]
    assert step["decision"] == "skip"  # a rotated secret is not a new definition


def test_by_default_at_least_four_members_run_at_once(cli: Cli) -> None:
    cli.write("pipeline: wide\nmembers:\n"
              + "".join(f"  - {{name: m{i}, shell: 'sleep 1'}}\n" for i in range(4)))
    done = cli("run", "pipeline.yaml")
    assert done.code == 0, done.err
    members = cli("status", "pipeline.yaml", "--json").json()["members"]
    starts = [datetime.fromisoformat(m["started_at"]) for m in members]
    ends = [datetime.fromisoformat(m["finished_at"]) for m in members]
    assert max(starts) < min(ends)  # all four at the same moment, whatever the CPU count


def test_a_bad_state_url_or_pull_policy_is_invalid_input(cli: Cli) -> None:
    cli.write("pipeline: bad\nmembers:\n  - {name: a, run: [\"true\"]}\n")
    done = cli("run", "pipeline.yaml", "--state", "mysql://u@h/db")
    assert done.code == 2 and "scheme 'mysql' is not known" in done.err
    assert cli("run", "pipeline.yaml", env={"ORECART_PULL": "sometimes"}).code == 2


def test_plain_output_drops_what_would_rewrite_the_line(cli: Cli) -> None:
    cli.write("""
pipeline: controls
members:
  - {name: bar, shell: 'printf "10%%\\r50%%\\r100%%\\a done\\tok :smile:\\n"'}
""")
    done = cli("run", "pipeline.yaml")
    assert done.code == 0, done.err
    assert "bar | 10%50%100% done\tok :smile:" in done.out.splitlines()
