"""--log-dir / ORECART_LOG_DIR: copili-style DIR/<member>.log files."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import Cli

from orecart.logdir import log_file_name

PIPELINE = """
secrets: [API_CODE]
env: {API_CODE: "${API_CODE}"}
members:
  - {name: fetch, shell: 'echo "fetched with $API_CODE"'}
  - {name: broken, shell: 'echo "about to fail"; exit 3'}
  - {name: after-broken, run: ["true"], needs: [broken]}
"""


def _block(failed: bool, status: object, skipped: bool, canceled: bool) -> str:
    return (
        f"========================================\nFAILED: {failed}\n"
        f"EXITED with status: {status}\nSKIPPED: {skipped}\nCANCELED: {canceled}\nRUNTIME: "
    )


def test_each_member_gets_copilis_log_file_appended_run_after_run(
    cli: Cli, tmp_path: Path
) -> None:
    (tmp_path / "pipeline.yaml").write_text(PIPELINE)
    env = {"API_CODE": "code-4711"}
    first = cli("run", "pipeline.yaml", "--log-dir", "log", env=env)
    assert first.code == 1, first.out + first.err
    logs = tmp_path / "log"
    assert sorted(p.name for p in logs.iterdir()) == [
        "after-broken.log", "broken.log", "fetch.log"
    ]
    fetch = (logs / "fetch.log").read_text()
    assert fetch.startswith("fetched with ***\n" + _block(False, 0, False, False))
    assert fetch.endswith(" minutes\n========================================\n\n")
    broken = (logs / "broken.log").read_text()
    assert broken.startswith("about to fail\n")
    assert _block(True, 3, False, False) in broken
    assert _block(True, 1, False, True) + "0.0 minutes" in (logs / "after-broken.log").read_text()

    second = cli("run", "pipeline.yaml", env={**env, "ORECART_LOG_DIR": str(logs)})
    assert second.code == 1
    fetch = (logs / "fetch.log").read_text()
    assert fetch.count("FAILED: False") == 2  # appended, as copili's FileHandler did
    assert fetch.endswith(_block(False, 0, True, False) + "0.0 minutes\n" + "=" * 40 + "\n\n")
    assert "code-4711" not in "".join(p.read_text() for p in logs.iterdir())


def test_a_log_dir_that_cannot_be_made_is_bad_input(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "pipeline.yaml").write_text("members: [{name: a, run: ['true']}]\n")
    (tmp_path / "taken").write_text("a file, not a folder")
    done = cli("run", "pipeline.yaml", "--log-dir", "taken/log")
    assert done.code == 2 and "--log-dir" in done.err and "Traceback" not in done.err


def test_log_file_names_are_single_safe_names() -> None:
    assert log_file_name("CORD19") == "CORD19.log"
    assert log_file_name("../etc/passwd") == "_.._etc_passwd.log"
    assert log_file_name("..") == "_...log"
