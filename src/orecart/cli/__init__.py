"""The `orecart` command. Each command: parse -> one service call -> render -> exit code.

Exit codes (one table, used everywhere):
    0   every member succeeded or was skipped (or the command did what was asked)
    1   some member failed, errored or was cancelled; or the run could not be completed
    2   invalid input: a bad pipeline file, selection, option or run id
    3   another run of the same pipeline holds the lock
    130 interrupted (Ctrl-C or SIGTERM)

Importing this package is cheap and changes nothing; ``app`` and ``Exit`` are imported
when first asked for, and ``main`` imports them itself; a command's module only when the
command is (``--help`` imports them all).
"""

from __future__ import annotations

import gc
import importlib
from typing import Any

__all__ = ["Exit", "app", "main"]

#: the module adding each command (importing it registers them); this is their --help
#: order. A command is imported only when asked for (``base.Commands.lazily``).
_COMMANDS = {
    "running": "validate schema plan run",
    "serving": "serve submit cancel queue callbacks",
    "access": "token",
    "sensing": "sensors versions",
    "triggering": "triggers",
    "history": "status runs show logs",
    "graph": "images diff backup restore graph",
    "querying": "query queries",
}


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
    app = importlib.import_module("orecart.cli.base").app
    app.lazily({command: f"orecart.cli.{module}"
                for module, commands in _COMMANDS.items() for command in commands.split()})
    return app


def __getattr__(name: str) -> Any:
    if name == "app":
        return _app()
    if name == "Exit":
        return importlib.import_module("orecart.cli.base").Exit
    raise AttributeError(f"module 'orecart.cli' has no attribute {name!r}")
