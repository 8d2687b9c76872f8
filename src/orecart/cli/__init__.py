"""The `orecart` command. Each command: parse -> one service call -> render -> exit code.

Exit codes (one table, used everywhere):
    0   every member succeeded or was skipped (or the command did what was asked)
    1   some member failed, errored or was cancelled; or the run could not be completed
    2   invalid input: a bad pipeline file, selection, option or run id
    3   another run of the same pipeline holds the lock
    130 interrupted (Ctrl-C or SIGTERM)
"""

from __future__ import annotations

import gc

# Start-up builds long-lived objects only (modules, classes): collecting them is wasted
# work. Collection resumes once the command has what it needs (see base.started_up).
gc.disable()

import importlib  # noqa: E402

from orecart.cli.base import Exit, app, started_up  # noqa: E402

__all__ = ["Exit", "app", "main"]

for _commands in ("running", "history", "graph"):  # importing registers; this order is --help's
    importlib.import_module(f"orecart.cli.{_commands}")


def main() -> None:
    try:
        app()
    finally:
        started_up()
        gc.freeze()  # nothing left to collect at exit: skip the interpreter's last passes
