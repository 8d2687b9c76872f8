"""Who may use the REST API: bearer tokens with a scope, ``read`` < ``operate`` < ``admin``.

A token is shown once, when it is made; the state store keeps only its sha256 digest, so a
copy of the store lets no one in.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

#: what a token starts with, so a leaked one is recognisable (and greppable) as orecart's
PREFIX = "oc_"


class Scope(StrEnum):
    READ = "read"  # history, pipelines, plans, events, metrics
    OPERATE = "operate"  # and submit, cancel, retry
    ADMIN = "admin"  # everything

    def allows(self, needed: Scope) -> bool:
        return _RANK[self] >= _RANK[needed]


_RANK = {Scope.READ: 0, Scope.OPERATE: 1, Scope.ADMIN: 2}


@dataclass(frozen=True)
class ApiToken:
    """A token as the store knows it: its name and scope, never its value."""

    name: str
    scope: Scope
    created_at: datetime


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def digest(token: str) -> str:
    """The sha256 hex digest of ``token``: what the store keeps and looks tokens up by."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
