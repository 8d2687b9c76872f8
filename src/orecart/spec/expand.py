"""``${VAR}`` substitution: where variable values come from and how references expand.

Values come from the process environment, then the ``.env`` file beside the pipeline file
(the environment wins, as in docker compose), and ``${params.NAME}`` from the run's
parameters. ``${VAR:-default}`` uses the default when VAR is unset or empty,
``${VAR-default}`` only when it is unset; defaults may themselves hold references.
``$${`` writes a literal ``${``. An undefined variable is an error, never an empty string:
a loader silently pointed at "" is worse than a refused pipeline.

Motherlode/copili files (``copili=True``) keep copili's own rules (its ``expandvars``):
``$NAME`` expands as well as ``${NAME}``, ``\\$`` writes a literal ``$`` (so ``\\$HOME``
reaches a container as ``$HOME``, for its shell to expand there), ``\\\\`` writes one
backslash, and ``$$`` writes ``$`` (copili wrote its own process id).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from dotenv.parser import parse_stream

from orecart.errors import Location, SpecError
from orecart.secrets import is_secret, ordinary
from orecart.spec.loader import read_text

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PARAM = re.compile(r"params\.([A-Za-z0-9_][A-Za-z0-9_.-]*)")
PARAMS_PREFIX = "params."
DOTENV = ".env"
#: deepest nesting of defaults in one reference (``${A:-${B:-...}}``); real files use 2 or 3
MAX_NESTING = 20
ESCAPE = "\\"  # copili's escape character


class ExpansionError(ValueError):
    """A reference that cannot be expanded; the caller adds file, line and field."""


@dataclass(frozen=True)
class Variables:
    """Everything ``${...}`` can refer to. ``copili`` applies copili's rules: ``$NAME``
    expands too, and a backslash escapes ``$`` and itself."""

    environ: Mapping[str, str]
    dotenv: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    copili: bool = False
    #: values of secret-looking variables that were expanded somewhere: they must be
    #: redacted wherever they land (a command line, a URL in a plain-named variable)
    used_secrets: set[str] = field(default_factory=set)
    #: the parameters each expanded text refers to, by the text it became: a parameter
    #: that lands in a secret place is a secret
    params_in: dict[str, set[str]] = field(default_factory=dict)

    def lookup(self, name: str) -> str | None:
        if name.startswith(PARAMS_PREFIX):
            value = self.params.get(name[len(PARAMS_PREFIX) :])
        else:
            found = self.environ.get(name)
            value = found if found is not None else self.dotenv.get(name)
        if value and is_secret(name.removeprefix(PARAMS_PREFIX), value):
            self.used_secrets.add(value)
        return value

    def params_behind(self, texts: Iterable[str]) -> set[str]:
        """The values of the parameters that went into any of ``texts``, ordinary words
        and numbers left out (see ``secrets.ordinary``)."""
        names = {name for text in texts for name in self.params_in.get(text, ())}
        values = {self.params.get(name, "") for name in names}
        return {value for value in values if not ordinary(value)}

    def values_of(self, names: Iterable[str]) -> set[str]:
        """The values of the named variables (declared secrets), where they are set."""
        return {v for v in map(self.lookup, names) if v}

    def expand(self, text: str) -> str:
        """``text`` with every reference replaced; ExpansionError names the culprit."""
        if "$" not in text and not (self.copili and ESCAPE in text):
            return text
        expansion = _Expansion(self, text)
        result = expansion.run()
        if expansion.params:
            self.params_in.setdefault(result, set()).update(expansion.params)
        return result


class _Expansion:
    """One left-to-right pass over a string (recursing into defaults, ``depth`` deep)."""

    def __init__(self, variables: Variables, text: str, depth: int = 0) -> None:
        if depth > MAX_NESTING:
            raise ExpansionError(f"references are nested deeper than {MAX_NESTING} levels")
        self.variables = variables
        self.text = text
        self.depth = depth
        self.params: set[str] = set()  # names of the parameters referred to

    def run(self) -> str:
        text, out, index = self.text, [], 0
        while (special := self._next_special(index)) >= 0:
            out.append(text[index:special])
            value, index = self._special(special)
            out.append(value)
        out.append(text[index:])
        return "".join(out)

    def _next_special(self, index: int) -> int:
        """Where the next ``$`` (or, in copili files, backslash) is; -1 if none."""
        dollar = self.text.find("$", index)
        if not self.variables.copili:
            return dollar
        escape = self.text.find(ESCAPE, index)
        return escape if escape >= 0 and (dollar < 0 or escape < dollar) else dollar

    def _special(self, index: int) -> tuple[str, int]:
        if self.text[index] == ESCAPE:
            return _escaped(self.text, index)
        return self._reference(index)

    def _reference(self, dollar: int) -> tuple[str, int]:
        """The expansion of the reference at ``dollar`` and where the text goes on."""
        text = self.text
        if text.startswith("$${", dollar):
            return "${", dollar + 3
        if text.startswith("${", dollar):
            return self._braced(dollar + 2)
        if self.variables.copili:
            if text.startswith("$$", dollar):
                return "$", dollar + 2
            match = _NAME.match(text, dollar + 1)
            if match:
                return self._value(match.group(0), None, False), match.end()
        return "$", dollar + 1

    def _braced(self, start: int) -> tuple[str, int]:
        text = self.text
        close = _closing_brace(text, start)
        if close < 0:
            raise ExpansionError(f"unterminated '${{' in {text!r}")
        body = text[start:close]
        name, operator, default = _split_reference(body)
        if not (_NAME.fullmatch(name) or _PARAM.fullmatch(name)):
            raise ExpansionError(f"bad variable reference '${{{body}}}'")
        if operator is None:
            return self._value(name, None, False), close + 1
        inner = _Expansion(self.variables, default, self.depth + 1)
        expanded_default = inner.run()
        self.params |= inner.params
        return self._value(name, expanded_default, operator == ":-"), close + 1

    def _value(self, name: str, default: str | None, empty_is_unset: bool) -> str:
        if name.startswith(PARAMS_PREFIX):
            self.params.add(name[len(PARAMS_PREFIX) :])
        value = self.variables.lookup(name)
        if value is None or (empty_is_unset and value == ""):
            if default is not None:
                return default
            raise ExpansionError(_undefined(name, self.variables.copili))
        return value


def _escaped(text: str, index: int) -> tuple[str, int]:
    """copili's backslash at ``index``: before ``$`` or a backslash it yields that character
    alone; anywhere else (and at the end) it is an ordinary character."""
    following = text[index + 1 : index + 2]
    if following in ("$", ESCAPE):
        return following, index + 2
    return ESCAPE, index + 1


def _undefined(name: str, copili: bool = False) -> str:
    default = f"or write ${{{name}:-...}}"
    if name.startswith(PARAMS_PREFIX):
        shown = name[len(PARAMS_PREFIX) :]
        return f"undefined parameter {shown!r} (pass -p {shown}=..., {default})"
    message = f"undefined variable {name!r} (set it in the environment or .env, {default}"
    if copili:
        message += '; copili would have substituted ""'
    return message + ")"


def _closing_brace(text: str, start: int) -> int:
    """Index of the ``}`` closing a reference whose body starts at ``start``; -1 if none."""
    depth, index = 0, start
    while index < len(text):
        if text.startswith("${", index):
            depth, index = depth + 1, index + 2
            continue
        if text[index] == "}":
            if depth == 0:
                return index
            depth -= 1
        index += 1
    return -1


def _split_reference(body: str) -> tuple[str, str | None, str]:
    """("NAME", ":-" or "-" or None, default) of a reference body.

    Parameter names may contain "-" (``release-date``), so for them only ":-" is an operator.
    """
    if body.startswith(PARAMS_PREFIX):
        operator = body.find(":-")
        if operator < 0:
            return body, None, ""
        return body[:operator], ":-", body[operator + 2 :]
    match = _NAME.match(body)
    end = match.end() if match else 0
    rest = body[end:]
    if rest.startswith(":-"):
        return body[:end], ":-", rest[2:]
    if rest.startswith("-"):
        return body[:end], "-", rest[1:]
    return body, None, ""


def read_dotenv(folder: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """The ``.env`` beside the pipeline file, its own ``${VAR}`` references expanded.

    A value may use the environment and the .env entries above it. Missing file: {}. A
    line that is no ``NAME=VALUE`` (python-dotenv only warns and skips it) is an error.
    """
    path = folder / DOTENV
    if not path.is_file():
        return {}
    text = read_text(path, str(path), f"the {DOTENV} file")
    values: dict[str, str] = {}
    for binding in parse_stream(io.StringIO(text)):
        where = Location(str(path), binding.original.line, 1)
        if binding.error or "\x00" in binding.original.string:
            raise SpecError("expected NAME=VALUE (or a comment)", where)
        if binding.key is None or binding.value is None:
            continue
        try:
            values[binding.key] = Variables(environ, values).expand(binding.value)
        except ExpansionError as exc:
            column = binding.original.string.find(binding.key) + 1
            raise SpecError(str(exc), replace(where, column=column), binding.key) from exc
    return values
