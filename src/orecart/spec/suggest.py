"""Nearest-name hints for misspelt keys, members, pools and profiles.

Only ever called once an error is certain, so the O(n) difflib scan never runs on the
happy path of a large pipeline.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(word: str, options: Iterable[str]) -> str:
    """ "; did you mean 'x'?" for the closest option, or "" when nothing is close."""
    matches = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f"; did you mean {matches[0]!r}?" if matches else ""


def one_of(options: Iterable[str]) -> str:
    """A readable list of the valid choices: 'a', 'b' or 'c'."""
    quoted = [repr(option) for option in options]
    if len(quoted) <= 1:
        return "".join(quoted) or "(none)"
    return ", ".join(quoted[:-1]) + " or " + quoted[-1]
