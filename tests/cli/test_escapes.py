"""Member processes that leave their process group (setsid, double fork, setpgid, nohup)
are still stopped, however orecart ends: the member exits, Ctrl-C, SIGTERM, a hang-up, or
``kill -9`` of orecart; on both containment paths (cgroup v2, and the subreaper fallback).

Every process of the run carries a unique ``ESCAPE_TOKEN`` in its environment (orecart and
its reaper too), so "nothing left behind" is: no process on the machine carries it.
"""

from __future__ import annotations

import signal
import time
import uuid
from pathlib import Path

import pytest
from tests.cli.conftest import Cli
from tests.cli.test_interrupts import wait_for
from tests.fixtures import ESCAPEES, ESCAPER, marked, wait_unmarked

from orecart.executors.reaper import kill_all

PIPELINE = """
pipeline: escapes
env_passthrough: [ESCAPE_TOKEN, READY]  # the member is told where and how to mark itself
members:
  - name: escaper
    shell: |
{script}
"""
ENDINGS = {  # how orecart's run ends -> the exit code it must give
    "exit": None,
    "SIGINT": 130,
    "SIGTERM": 130,
    "SIGHUP": 130,
    "SIGKILL": -signal.SIGKILL,
}


@pytest.mark.parametrize("mode", ["cgroup", "subreaper"])
@pytest.mark.parametrize("ending", list(ENDINGS))
def test_no_member_process_is_left_behind(
    cli: Cli, tmp_path: Path, mode: str, ending: str
) -> None:
    token = uuid.uuid4().hex
    script = ESCAPER.replace("wait", "sleep 0.3" if ending == "exit" else "wait")
    cli.write(PIPELINE.format(script="\n".join("      " + line for line in script.split("\n"))))
    ready = tmp_path / "ready"
    env = {"ESCAPE_TOKEN": token, "ORECART_CONTAINMENT": mode, "READY": str(ready)}
    process = cli.start("run", "pipeline.yaml", env=env)
    try:
        wait_for(ready)
        if ending != "exit":
            time.sleep(0.2)  # every escapee has done its setsid / setpgid
            assert len(marked(token)) >= ESCAPEES + 2, "the escapees did not start"
            process.send_signal(signal.Signals[ending])
        _, err = process.communicate(timeout=30)
        expected = ENDINGS[ending]
        assert process.returncode == (0 if expected is None else expected), err
        assert wait_unmarked(token) == [], f"left behind after {ending} ({mode})"
    finally:
        process.kill()
        process.communicate()
        kill_all(marked(token))  # a failed test leaves no sleepers behind
