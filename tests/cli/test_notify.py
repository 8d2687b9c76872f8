"""`notify:` with the real `orecart run`: mails to a local SMTP server, posts to a local
webhook, retries against a closed port, each send recorded on the run and shown."""

from __future__ import annotations

import json
import time
from datetime import datetime

from tests.cli.conftest import Cli
from tests.services.receivers import Mailbox, Webhook, free_port

FAILING = """\
pipeline: mailed
notify:
  - url: "mailto://127.0.0.1:{port}?from=orecart@example.org&to=ops@example.org&mode=insecure"
members:
  - {{name: ok, run: ["true"]}}
  - name: loader
    needs: [ok]
    shell: "for i in 1 2 3 4 5; do echo line $i; done; echo broken input >&2; exit 3"
  - {{name: after, run: ["true"], needs: [loader]}}
"""


def show(cli: Cli, run_id: str) -> dict:  # type: ignore[type-arg]
    done = cli("show", run_id, "--json")
    assert done.code == 0, done.err
    return done.json()  # type: ignore[no-any-return]


def last_run_id(cli: Cli) -> str:
    done = cli("runs", "pipeline.yaml", "--json")
    return str(done.json()[0]["id"])


def test_a_failing_run_mails_the_failed_member_and_its_last_log_lines(
    cli: Cli, smtp_server: Mailbox
) -> None:
    cli.write(FAILING.format(port=smtp_server.port))
    done = cli("run", "pipeline.yaml")
    assert done.code == 1, done.err
    [mail] = smtp_server.mails
    assert mail["To"] == "ops@example.org"
    assert "mailed failed" in mail["Subject"]
    body = mail.get_body().get_content()  # type: ignore[union-attr]
    assert "Failed members:" in body and "- loader: failed, exit code 3" in body
    assert "stdout: line 5" in body and "stderr: broken input" in body
    assert "after" not in body.split("Failed members:")[1]  # cancelled, not failed
    [sent] = show(cli, last_run_id(cli))["notifications"]
    assert sent["outcome"] == "sent" and sent["attempts"] == 1 and sent["error"] is None


SUCCEEDING = """\
pipeline: hooked
env: {{API_TOKEN: tok-{secret}}}
notify:
  - {{url: "json://robot:{secret}@127.0.0.1:{port}/done", on: [succeeded]}}
  - {{url: "form://127.0.0.1:{port}/form", on: succeeded}}
  - url: "json://127.0.0.1:{port}/failures-only"
members:
  - {{name: a, shell: "echo token is $API_TOKEN"}}
"""


def test_on_succeeded_posts_json_to_the_webhook_without_its_password(
    cli: Cli, webhook: Webhook
) -> None:
    secret = "hunter2-zq8"
    cli.write(SUCCEEDING.format(port=webhook.port, secret=secret))
    done = cli("run", "pipeline.yaml")
    assert done.code == 0, done.err
    by_path = {r.path: r for r in webhook.requests}
    assert set(by_path) == {"/done", "/form"}  # the default `on` is failed and invalid
    payload = json.loads(by_path["/done"].body)
    assert by_path["/done"].content_type.startswith("application/json")
    assert "hooked succeeded" in payload["title"] and "run " in payload["title"]
    assert "Pipeline hooked" in payload["message"] and "1 succeeded" in payload["message"]
    assert by_path["/form"].content_type.startswith("application/x-www-form-urlencoded")
    detail = show(cli, last_run_id(cli))
    urls = [n["url"] for n in detail["notifications"]]
    assert urls == [f"json://robot:***@127.0.0.1:{webhook.port}/done",
                    f"form://127.0.0.1:{webhook.port}/form"]
    text = cli("show", detail["run"]["id"])
    assert text.code == 0 and "notifications" in text.out and secret not in text.out
    assert secret not in done.out + done.err
    assert secret not in (cli.folder / ".orecart" / "state.db").read_bytes().decode("latin-1")


REFUSED = """\
pipeline: refused
notify:
  - {{url: "json://127.0.0.1:{port}/nobody", on: [succeeded, failed]}}
members:
  - {{name: a, run: ["true"]}}
"""


def test_a_refusing_receiver_is_retried_and_recorded_failed_while_the_run_succeeds(
    cli: Cli,
) -> None:
    port = free_port()  # nothing listens there: every connection is refused
    cli.write(REFUSED.format(port=port))
    began = time.monotonic()
    done = cli("run", "pipeline.yaml")
    took = time.monotonic() - began
    assert done.code == 0, done.err
    assert f"notification to json://127.0.0.1:{port}/nobody failed after 3 tries" in done.err
    detail = show(cli, last_run_id(cli))
    run = detail["run"]
    assert run["status"] == "succeeded"
    length = datetime.fromisoformat(run["finished_at"]) - datetime.fromisoformat(run["started_at"])
    assert length.total_seconds() < 1.5  # sending happens after the run, not in it
    assert took < 15  # tries with backoff (0.5 s, 1 s), bounded
    [sent] = detail["notifications"]
    assert sent["outcome"] == "failed" and sent["attempts"] == 3
    assert "connection" in sent["error"].lower()


SLOW_HOOK = """\
pipeline: slowhook
hooks: [slowhooks]
members:
  - {name: a, run: ["true"]}
  - {name: b, run: ["true"], needs: [a]}
"""


def test_a_slow_hook_does_not_hold_up_the_run(cli: Cli) -> None:
    (cli.folder / "slowhooks.py").write_text(
        "import time\nfrom pathlib import Path\nfrom orecart.hooks import hookimpl\n"
        "LOG = Path(__file__).with_name('hooks.log')\n"
        "@hookimpl\ndef before_pipeline_run(run, pipeline): time.sleep(1.5)\n"
        "@hookimpl\ndef after_member_run(member_run):\n"
        "    with LOG.open('a') as f: f.write(member_run.member + '\\n')\n"
        "@hookimpl\ndef after_pipeline_run(run, pipeline): raise RuntimeError('hook bug')\n"
    )
    cli.write(SLOW_HOOK)
    done = cli("run", "pipeline.yaml")
    assert done.code == 0, done.err
    run = show(cli, last_run_id(cli))["run"]
    length = datetime.fromisoformat(run["finished_at"]) - datetime.fromisoformat(run["started_at"])
    assert length.total_seconds() < 1.0  # the hook's 1.5 s are not in the run
    assert (cli.folder / "hooks.log").read_text().split() == ["a", "b"]  # drained at the end
    assert "hook failed: RunFinished: RuntimeError('hook bug')" in done.err
