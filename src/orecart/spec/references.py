"""Docker's image reference grammar (distribution/reference), so a typo in an image is
refused when the file is read, not when a run reaches the member.

    reference := name [ ":" tag ] [ "@" digest ]
    name      := [ domain "/" ] component ( "/" component )*
"""

from __future__ import annotations

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[[a-fA-F0-9:]+\])"
_DOMAIN = rf"{_HOST}(?::[0-9]+)?"

#: an image's name without tag or digest (Motherlode's ``image_repo``)
NAME = rf"(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*"
TAG = r"[\w][\w.-]{0,127}"
DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
REFERENCE = rf"{NAME}(?::{TAG})?(?:@{DIGEST})?"
HINT = "an image reference like registry.example.org/team/loader:1.2 (lowercase name)"
NAME_HINT = "an image name like registry.example.org/team/loader (lowercase)"
TAG_HINT = "an image tag (letters, digits, '_', '.', '-'; up to 128)"
