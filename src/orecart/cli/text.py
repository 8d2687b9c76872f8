"""What a user-controlled string may put on a terminal: its printable characters only.

Member output, error details, parameters, image names and paths reach a terminal or a pipe
read by one. Escape sequences in them would clear the screen, move the cursor over lines
already shown, set the window title or plant a hyperlink; a carriage return or backspace
would rewrite a line; a bidi override would show text in another order than it has. Every
rendering of such a string goes through ``printable`` (``orecart.cli.console`` applies it to
everything Rich draws), while the log files keep the bytes as they came.

Imports nothing heavy: plain progress lines use it without Rich.
"""

from __future__ import annotations

import re

__all__ = ["printable"]

_UNPRINTABLE = re.compile(
    r"""
      (?:\x1b[P\]X^_]|[\x90\x98\x9d\x9e\x9f])   # DCS, OSC, SOS, PM, APC: a string ...
      [^\x07\x1b\x9c\n]*(?:\x07|\x1b\\|\x9c)?   # ... to BEL or ST (or to the line's end)
    | (?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?         # CSI: parameters, intermediates, final
    | \x1b[ -/]*[0-~]?                          # any other escape sequence, or a lone ESC
    | [\x00-\x08\x0b-\x1f\x7f-\x9f]             # other C0 (not tab or newline), DEL, C1
    | [\u202a-\u202e\u2066-\u2069]              # bidi embeddings, overrides, isolates
    """,
    re.VERBOSE,
)
#: Where every match of ``_UNPRINTABLE`` starts: most text has none, and one search says so
#: at a fraction of the cost of trying each alternative at each character.
_START = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` without control sequences and control characters (tab and newline kept):
    what remains is shown as it reads, and cannot move the cursor or change the screen."""
    return _UNPRINTABLE.sub("", text) if _START.search(text) else text
