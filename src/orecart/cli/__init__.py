"""The `orecart` command. Each command: parse -> one service call -> render -> exit code.

Exit codes (one table, used everywhere):
    0   every member succeeded or was skipped (or the command did what was asked)
    1   some member failed, errored or was cancelled; or the run could not be completed
    2   invalid input: a bad pipeline file, selection, option or run id
    3   another run of the same pipeline holds the lock
    130 interrupted (Ctrl-C or SIGTERM)
"""

from __future__ import annotations

import importlib

from orecart.cli.base import Exit, app

__all__ = ["Exit", "app", "main"]

for _commands in ("running", "history", "graph"):  # importing registers; this order is --help's
    importlib.import_module(f"orecart.cli.{_commands}")


def main() -> None:
    app()
