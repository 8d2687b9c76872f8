"""The `orecart` command. Each command: parse -> one service call -> render -> exit code.

Exit codes (one table, used everywhere):
    0   every member succeeded or was skipped (or the command did what was asked)
    1   some member failed, errored or was cancelled; or the run could not be completed
    2   invalid input: a bad pipeline file, selection, option or run id
    3   another run of the same pipeline holds the lock
    130 interrupted (Ctrl-C or SIGTERM)

Importing this package is cheap and changes nothing; ``app`` and ``Exit`` are imported
when first asked for, and ``main`` imports them itself.
"""

from __future__ import annotations

import gc
import importlib
from typing import Any

__all__ = ["Exit", "app", "main"]

#: importing registers the commands; this is their --help order
_COMMANDS = ("running", "serving", "access", "sensing", "triggering", "history", "graph",
             "querying")


def main() -> None:
    """The console script: run the command line, then exit."""
    # Start-up builds long-lived objects only (modules, classes): collecting them is wasted
    # work. Collection resumes once a command has what it needs (base.started_up).
    gc.disable()
    try:
        _app()()
    finally:
        gc.enable()
        gc.freeze()  # nothing left to collect at exit: skip the interpreter's last passes


def _app() -> Any:
    for name in _COMMANDS:
        importlib.import_module(f"orecart.cli.{name}")
    return importlib.import_module("orecart.cli.base").app


def __getattr__(name: str) -> Any:
    if name == "app":
        return _app()
    if name == "Exit":
        return importlib.import_module("orecart.cli.base").Exit
    raise AttributeError(f"module 'orecart.cli' has no attribute {name!r}")
