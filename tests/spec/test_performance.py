"""A 10,000-member pipeline parses and validates well within the budget."""

from __future__ import annotations

import random
import subprocess
import sys
import time

import pytest

from orecart.spec import load_pipeline
from tests.spec.conftest import Write

MEMBERS = 10_000
BUDGET = 2.0  # seconds of CPU; wall time depends on what else the machine runs


def _pipeline(shape: str) -> str:
    rng = random.Random(7)
    lines = ["pipeline: big", "pools: {writers: 2}", "members:"]
    for i in range(MEMBERS):
        lines += [f"  - name: member-{i}", f"    run: [python, -m, loader, '{i}']"]
        if i and shape == "chain":
            lines.append(f"    needs: [member-{i - 1}]")
        elif i:
            needs = {rng.randrange(i) for _ in range(3)}
            lines.append(f"    needs: [{', '.join(f'member-{n}' for n in sorted(needs))}]")
        if i % 3 == 0:
            lines += ["    pool: writers", "    timeout: 1h30m", "    env: {BATCH: '${BATCH:-10}'}"]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("shape", ["chain", "random"])
def test_ten_thousand_members_load_fast(write: Write, shape: str) -> None:
    path = write(_pipeline(shape))
    started = time.process_time()
    pipeline = load_pipeline(path, environ={})
    elapsed = time.process_time() - started
    assert len(pipeline.members) == MEMBERS
    assert pipeline.members[-1].line > MEMBERS
    assert elapsed < BUDGET, f"took {elapsed:.2f}s of CPU"


def test_an_error_in_a_large_pipeline_is_still_fast(write: Write) -> None:
    path = write(_pipeline("chain").replace("needs: [member-9998]", "needs: [member-99999]"))
    started = time.process_time()
    with pytest.raises(Exception, match="unknown member 'member-99999'; did you mean"):
        load_pipeline(path, environ={})
    assert time.process_time() - started < BUDGET


def test_reading_a_file_without_hooks_does_not_import_the_hook_machinery(write: Write) -> None:
    """The hooks check imports ``orecart.hooks`` (pluggy, events, planner) only when the
    file names hooks; a plain file pays for none of it."""
    path = write("members:\n  - name: a\n    run: [echo]\n")
    code = (
        "import sys; from pathlib import Path; from orecart.spec import load_pipeline; "
        f"load_pipeline(Path({str(path)!r}), environ={{}}); "
        "print(sorted(m for m in ('pluggy', 'orecart.hooks', 'orecart.planner') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
