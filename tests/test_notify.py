"""What a notification says, and which outcomes a run counts as (pure functions), and
that a notifier sends nothing with a secret in it (through a real local webhook)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from orecart.events import MemberFinished, RunFinished
from orecart.model import (
    MemberRun,
    MemberStatus,
    NotifyTarget,
    Pipeline,
    Run,
    RunOutcome,
    RunStatus,
    SendStatus,
)
from orecart.notify import Notifier, message, outcomes, tail
from orecart.stores import open_store
from tests.runner.test_runner_logic import m
from tests.services.receivers import Webhook

START = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


def run(status: RunStatus, error: str | None = None, backups: tuple[str, ...] = ()) -> Run:
    return Run("r1", "p", status, started_at=START, finished_at=START + timedelta(seconds=42),
               error=error, backups=backups)


def mr(name: str, status: MemberStatus, exit_code: int | None = None,
       error: str | None = None, **fields: object) -> MemberRun:
    return MemberRun("r1", name, status, attempts=1, exit_code=exit_code, error=error,
                     **fields)  # type: ignore[arg-type]


def test_outcomes_tell_a_failed_check_from_a_failed_member() -> None:
    ok = mr("a", MemberStatus.SUCCEEDED, 0)
    checked = mr("b", MemberStatus.FAILED, 0, "check 'rows' failed: got 0, expected 3")
    broken = mr("c", MemberStatus.FAILED, 2, "exit code 2")
    assert outcomes(run(RunStatus.SUCCEEDED), [ok]) == {RunOutcome.SUCCEEDED}
    assert outcomes(run(RunStatus.CANCELLED), [ok]) == {RunOutcome.CANCELLED}
    assert outcomes(run(RunStatus.FAILED), [ok, checked]) == {RunOutcome.INVALID}
    assert outcomes(run(RunStatus.FAILED), [ok, broken]) == {RunOutcome.FAILED}
    assert outcomes(run(RunStatus.FAILED), [checked, broken]) == {
        RunOutcome.FAILED, RunOutcome.INVALID}
    pipeline_checks = run(RunStatus.FAILED, "check 'total' failed: got 1, expected 2")
    assert outcomes(pipeline_checks, [ok]) == {RunOutcome.INVALID}
    assert outcomes(run(RunStatus.ABORTED, "internal error: boom"), [ok]) == {RunOutcome.FAILED}


def test_the_message_holds_failures_checks_graph_changes_and_backups(tmp_path: Path) -> None:
    log = tmp_path / "c.log"
    log.write_text("".join(
        f"2026-11-22T03:00:0{i}.000Z stdout row {i}\n" for i in range(5)
    ) + "2026-11-22T03:00:06.000Z orecart attempt 1 of 'c' finished: failed\n")
    delta = {"nodes": {"Paper": 120, "Author": -2}, "relationships": {"WROTE": 300}}
    members = [
        mr("a", MemberStatus.SUCCEEDED, 0, delta=delta),
        mr("b", MemberStatus.FAILED, 0, "check 'rows' failed: got 0, expected 3"),
        mr("c", MemberStatus.FAILED, 2, "exit code 2", log_path=str(log)),
        mr("d", MemberStatus.CANCELLED, error="needs c, which failed"),
    ]
    title, body = message(run(RunStatus.FAILED, backups=("/b/r1-before.json",)), members,
                          Pipeline("p", tmp_path / "p.yaml", ()))
    assert title == "orecart: p failed (run r1)"
    assert "took 42.0 s" in body and "1 succeeded, 2 failed, 1 cancelled" in body
    failed = body.split("Failed members:")[1].split("Failed checks:")[0]
    assert "- c: failed, exit code 2" in failed and "- d:" not in failed
    assert "stdout: row 0" in failed and "stdout: row 4" in failed and "orecart:" not in failed
    assert "Failed checks:\n- b: check 'rows' failed: got 0, expected 3" in body
    assert "- a: nodes +118 (Author -2, Paper +120); relationships +300 (WROTE +300)" in body
    assert "Backups taken:\n- /b/r1-before.json" in body


def test_tail_keeps_the_last_lines_of_a_long_log(tmp_path: Path) -> None:
    log = tmp_path / "long.log"
    log.write_text("".join(f"2026-11-22T03:00:00.000Z stderr {'x' * 100} {i}\n"
                           for i in range(5000)))
    lines = tail(log, 3)
    assert [line.rsplit(" ", 1)[1] for line in lines] == ["4997", "4998", "4999"]
    assert tail(tmp_path / "missing.log") == []


def test_a_notifier_sends_and_records_nothing_secret(tmp_path: Path, webhook: Webhook) -> None:
    secret = "s3cret-pw-77"
    url = f"json://bot:{secret}@127.0.0.1:{webhook.port}/x?token=tok-98765"
    pipeline = Pipeline("p", tmp_path / "p.yaml", (m("a"),),
                        notify=(NotifyTarget(url, frozenset({RunOutcome.FAILED})),),
                        secret_values=frozenset({secret, "tok-98765"}))
    store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        store.save_run(run(RunStatus.FAILED))
        notifier = Notifier(pipeline, store)
        notifier.emit(MemberFinished(mr("a", MemberStatus.FAILED, 1, f"said {secret}")))
        notifier.emit(RunFinished(run(RunStatus.FAILED)))
        [request] = webhook.requests
        assert "said ***" in json.loads(request.body)["message"]
        assert secret not in request.body.decode()
        [sent] = store.notifications("r1")
        assert sent.outcome is SendStatus.SENT
        assert secret not in sent.url and "tok-98765" not in sent.url
        assert sent.url.startswith("json://bot:***@127.0.0.1")
    finally:
        store.close()
