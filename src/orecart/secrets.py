"""Which values are secret, and the redactor that keeps them out of every output.

The rule, in two parts (the README's secrets line says the same):

- **Declared** secrets are always masked: values of names listed under ``secrets:``,
  registry passwords, the graph password, passwords in a URI's user info.
- **Looking** secret: a name looks secret when it holds PASSWORD, PASSWD, PASSPHRASE,
  SECRET, TOKEN, CREDENTIAL, APIKEY or PRIVATEKEY anywhere, or KEY, PASS, PWD, PW or AUTH
  as a whole word (``SORT_KEY``, ``apiKey``; not ``MONKEY``, ``AUTHOR``, ``KEYBOARD``).
  Its value is masked, except where only KEY or AUTH made the name look secret
  (``SORT_KEY``, ``AUTH_MODE``) and the value is ordinary: one word of at most 12 letters
  (``name``, ``false``) or a number of at most 5 digits (``3600``), which would otherwise
  mask ordinary text everywhere. Under PASSWORD, TOKEN, SECRET and the other words only a
  switch (``true``, ``off``) or a number of at most 5 digits (``TOKEN_TTL: 3600``) is left
  visible: ``DB_PASSWORD: letmein`` is masked. The shell's ``PWD``/``OLDPWD`` and
  ``SSH_AUTH_SOCK`` are not secret.

No value shorter than ``MIN_LENGTH`` is ever masked. A secret is masked in the forms a
member plausibly prints it: as it is, each of its lines, JSON-escaped (ASCII or not, and
twice: JSON inside JSON), URL-encoded, and as a Python ``repr``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlsplit

if TYPE_CHECKING:
    from orecart.model import Pipeline

#: words that make a name look secret wherever they are in it
ANYWHERE = ("PASSWORD", "PASSWD", "PASSPHRASE", "SECRET", "TOKEN", "CREDENTIAL", "APIKEY",
            "PRIVATEKEY")  # fmt: skip
#: short words that make a name look secret only as a whole word of it
WHOLE_WORDS = frozenset({"KEY", "PASS", "PWD", "PW", "AUTH"})
#: of those, the words that also name ordinary settings (SORT_KEY, AUTH_MODE)
AMBIGUOUS = frozenset({"KEY", "AUTH"})
#: names that hold a secret word but never a secret
NOT_SECRET = frozenset({"PWD", "OLDPWD", "SSH_AUTH_SOCK"})
MASK = "***"
MIN_LENGTH = 3  # shorter values would mask ordinary text everywhere

_ANYWHERE = re.compile("|".join(ANYWHERE), re.IGNORECASE)
_WORD_BREAK = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")
_ORDINARY = re.compile(r"[A-Za-z]{1,12}|[0-9]{1,5}")
#: values no secret ever is, whatever the name: a switch or a small number
_SETTING = re.compile(r"(?i:true|false|yes|no|on|off|none|null)|[0-9]{1,5}")
#: ``scheme://user:password@`` (a mangled scheme too): group 1 up to the colon, group 2
#: the password; a query's ``@`` (``mailto://host:25?to=a@b``) is no user info
_USERINFO = re.compile(r"((?:[A-Za-z][A-Za-z0-9+.-]*)?://[^\s/?#:@]*):([^\s/?#@]*)@")


def looks_secret(name: str) -> bool:
    """True when ``name`` looks like it holds a secret (see the module docstring)."""
    return _looks(name, WHOLE_WORDS)


def surely_secret(name: str) -> bool:
    """True when ``name`` looks secret by a word that names nothing else (PASSWORD, TOKEN,
    PASS, ...): its value is masked even when it reads like an ordinary word."""
    return _looks(name, WHOLE_WORDS - AMBIGUOUS)


def _looks(name: str, whole_words: frozenset[str]) -> bool:
    if name.upper() in NOT_SECRET:
        return False
    if _ANYWHERE.search(name):
        return True
    return any(word.upper() in whole_words for word in _WORD_BREAK.split(name))


def is_secret_name(name: str, declared: Iterable[str] = ()) -> bool:
    """True when ``name`` looks secret or is declared secret (whatever its value)."""
    return name in set(declared) or looks_secret(name)


def ordinary(value: str) -> bool:
    """A value that is no secret even under a secret-looking name: a plain word, a small
    number, or too short to mask."""
    return len(value) < MIN_LENGTH or bool(_ORDINARY.fullmatch(value))


def is_secret(name: str, value: str, declared: Iterable[str] = ()) -> bool:
    """True when the value of ``name`` is secret: declared, or looking secret and not
    ordinary."""
    if len(value) < MIN_LENGTH:
        return False
    if name in set(declared):
        return True
    if not looks_secret(name) or _SETTING.fullmatch(value):
        return False
    return surely_secret(name) or not ordinary(value)


def uri_passwords(text: str) -> set[str]:
    """The passwords in the user info of URIs in ``text``, as written and decoded."""
    found = {m.group(2) for m in _USERINFO.finditer(text) if m.group(2)}
    return found | {unquote(p) for p in found}


def url_secrets(url: str) -> set[str]:
    """The secrets in a URL: the password in its user info and, as apprise URLs carry them
    (``mailtos://host?user=me&pass=PW``, ``?token=...``), values of secret-named query
    parameters."""
    values = uri_passwords(url)
    for name, value in parse_qsl(urlsplit(url).query):
        if looks_secret(name) and len(value) >= MIN_LENGTH:
            values.add(value)
    return values


def hide_userinfo(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@`` masked."""
    return _USERINFO.sub(rf"\1:{MASK}@", text) if "://" in text else text


def hide_url(url: str) -> str:
    """``url`` as it may be shown: its scheme, host and port only, the user info, path and
    query masked (``https://***@host:8/***?***``): a webhook's token often is a path part
    (``/services/T0/B0/SECRET``), or a user name, or a query value."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return MASK
    if not parts.scheme or not host:
        return MASK
    user = f"{MASK}@" if "@" in parts.netloc else ""
    where = f"[{host}]" if ":" in host else host
    shown = f"{parts.scheme}://{user}{where}{f':{port}' if port is not None else ''}"
    path = f"/{MASK}" if parts.path not in ("", "/") else parts.path
    return f"{shown}{path}{f'?{MASK}' if parts.query else ''}"


def secret_values(env: Mapping[str, str], declared: Iterable[str] = ()) -> frozenset[str]:
    """The values of ``env`` that must never be shown, and the URI passwords in any."""
    names = set(declared)
    values = {value for name, value in env.items() if is_secret(name, value, names)}
    for value in env.values():
        values |= uri_passwords(value)
    return frozenset(values)


def masked_env(
    env: Mapping[str, str], declared: Iterable[str] = (), hidden: Iterable[str] = ()
) -> dict[str, str]:
    """A copy of ``env`` with every secret value, and every value in ``hidden``, masked."""
    names, known = set(declared), set(hidden)
    return {
        k: (MASK if v and (is_secret_name(k, names) or v in known) else hide_userinfo(v))
        for k, v in env.items()
    }


def known_secrets(pipeline: Pipeline) -> frozenset[str]:
    """Every secret value the pipeline holds: what the spec found while expanding
    (``Pipeline.secret_values``), the secret values of its env and its members' env, their
    registry passwords, the graph password and the passwords of ``notify:`` URLs."""
    values = set(pipeline.secret_values) | secret_values(pipeline.env, pipeline.secrets)
    for member in pipeline.members:
        values |= secret_values(member.env, pipeline.secrets | member.secrets)
        auth = member.container.auth if member.container else None
        values |= {auth.password} if auth and len(auth.password) >= MIN_LENGTH else set()
    for target in pipeline.notify:
        values |= url_secrets(target.url)
    graph = pipeline.graph
    if graph is not None and len(graph.password) >= MIN_LENGTH:
        values |= {graph.password} | uri_passwords(graph.uri)
    return frozenset(values)


def printed_forms(value: str) -> Iterator[str]:
    """``value`` as a member may print it: as is, line by line, JSON-escaped (ASCII and
    not, and twice), URL-encoded and as a Python repr."""
    yield value
    yield from value.splitlines()
    escaped = json.dumps(value)[1:-1]
    yield escaped
    yield json.dumps(escaped)[1:-1]  # JSON in JSON: ORECART_PARAMS in a JSON dump of env
    yield json.dumps(value, ensure_ascii=False)[1:-1]
    yield quote(value, safe="")
    yield quote(value)
    yield quote_plus(value)
    yield repr(value)[1:-1]


class Redactor:
    """Masks every secret value, in each of its printed forms, and the password of every
    URI's user info, in a text; longest forms first."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        forms = {
            form
            for value in values
            if len(value) >= MIN_LENGTH
            for form in printed_forms(value)
            if len(form) >= MIN_LENGTH
        }
        ordered = sorted(forms, key=len, reverse=True)
        encoded = [form.encode() for form in ordered]
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None
        self._bytes = re.compile(b"|".join(map(re.escape, encoded))) if encoded else None
        self._longest = max(map(len, encoded), default=0)

    def __call__(self, text: str) -> str:
        if self._pattern is not None:
            text = self._pattern.sub(MASK, text)
        return hide_userinfo(text)

    def safe_cut(self, data: bytes, at: int) -> int:
        """Where to cut ``data`` at or before ``at`` so that no secret and no UTF-8
        character is split: a cut line is redacted piece by piece."""
        cut = at
        while self._bytes is not None and (spanning := self._spanning(data, cut)) is not None:
            cut = spanning
        while 0 < cut < len(data) and data[cut] & 0xC0 == 0x80:
            cut -= 1
        return cut if cut > 0 else at

    def _spanning(self, data: bytes, at: int) -> int | None:
        """The start of the first secret that begins before ``at`` and ends after it."""
        assert self._bytes is not None
        for start in range(max(0, at - self._longest + 1), at):
            found = self._bytes.match(data, start)
            if found is not None and found.end() > at:
                return start
        return None


@lru_cache(maxsize=64)
def shared_redactor(values: frozenset[str]) -> Redactor:
    """The ``Redactor`` of ``values``, built once for every attempt that has the same
    secrets (the members of a run mostly do): building one costs about 5 µs per secret.
    A ``Redactor`` never changes after it is built, so threads share it."""
    return Redactor(values)
