"""Which values are secret, and the redactor that keeps them out of every output.

A value is secret when its env name looks secret (PASSWORD, TOKEN, SECRET, KEY, ...) or is
listed under ``secrets:``. Redaction replaces each secret value wherever it appears.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

SECRET_WORDS = ("PASSWORD", "PASSWD", "PWD", "TOKEN", "SECRET", "KEY", "CREDENTIAL", "AUTH")
_SECRET_NAME = re.compile("|".join(SECRET_WORDS), re.IGNORECASE)
MASK = "***"
MIN_LENGTH = 3  # shorter values would mask ordinary text everywhere


def is_secret_name(name: str, declared: Iterable[str] = ()) -> bool:
    """True when ``name`` looks secret or is declared secret."""
    return name in set(declared) or bool(_SECRET_NAME.search(name))


def secret_values(env: Mapping[str, str], declared: Iterable[str] = ()) -> frozenset[str]:
    """The values of ``env`` that must never be shown."""
    names = set(declared)
    return frozenset(
        value
        for name, value in env.items()
        if value and len(value) >= MIN_LENGTH and is_secret_name(name, names)
    )


def masked_env(env: Mapping[str, str], declared: Iterable[str] = ()) -> dict[str, str]:
    """A copy of ``env`` with every secret value replaced by the mask."""
    names = set(declared)
    return {k: (MASK if is_secret_name(k, names) and v else v) for k, v in env.items()}


class Redactor:
    """Replaces every secret value in a text by the mask; longest values first."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        ordered = sorted({v for v in values if len(v) >= MIN_LENGTH}, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def __call__(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(MASK, text)
