"""A pipeline file's heading: its name and settings, read without its members.

Reading a run history (``orecart status``, ``runs``, ``log``) needs only the pipeline's
name and where its state store is (``settings.state``, the ``.env`` beside the file, the
environment). Composing a 10,000-member file for that costs seconds, so the heading reads
the file with its top-level ``members:`` block cut out (its lines left blank, so every
line number stays what it was) and checks ``pipeline`` and ``settings`` with the same
field table and variables as ``load_pipeline``. Whatever the cut cannot be sure of (a
JSON or flow-style file, a Motherlode file, a profile, an alias to an anchor inside the
members, any error) is read by the full load instead, so the answers are always the
full load's.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from orecart.errors import SpecError
from orecart.model import Settings
from orecart.spec.expand import Variables, read_dotenv
from orecart.spec.fields import ROOT
from orecart.spec.kinds import Ctx
from orecart.spec.load import PROFILE_VARIABLE, UnknownParams, load_pipeline
from orecart.spec.loader import Node, parse_document, read_text
from orecart.spec.motherlode import is_motherlode
from orecart.spec.native import settings_of

_MEMBERS = re.compile(r"^members[ \t]*:", re.MULTILINE)
#: a line that starts a new top-level entry
_TOP_LEVEL = re.compile(r"^(?:[^\s#-]|-[^\s])", re.MULTILINE)


@dataclass(frozen=True)
class Heading:
    """What a pipeline file says about itself, besides its members."""

    name: str
    settings: Settings


def read_heading(
    path: str | os.PathLike[str],
    *,
    profile: str | None = None,
    params: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    params_unknown: bool = False,
) -> Heading:
    """The name and settings ``load_pipeline(path, ...)`` would give; SpecError as it."""
    env: Mapping[str, str] = os.environ if environ is None else environ
    source = Path(path)
    if not (profile or env.get(PROFILE_VARIABLE)):
        cut = _without_members(read_text(source, str(source)))
        if cut is not None:
            try:
                given = (UnknownParams if params_unknown else dict)(params or {})
                return _heading(parse_document(cut, str(source)), source, given, env)
            except SpecError:
                pass  # the full load below says what is wrong, where
    pipeline = load_pipeline(source, profile=profile, params=params, environ=env,
                             params_unknown=params_unknown)
    return Heading(pipeline.name, pipeline.settings)


def _without_members(text: str) -> str | None:
    """``text`` with its top-level ``members:`` entry blanked, or None without one. Two
    regular-expression searches, not a match per line: a 10,000-member file has 40,000."""
    start = _MEMBERS.search(text)
    if start is None:
        return None
    after = _TOP_LEVEL.search(text, start.end())
    end = len(text) if after is None else after.start()
    blank = "\n" * text.count("\n", start.start(), end)  # every line number stays
    return text[:start.start()] + "members:" + blank + text[end:]


def _heading(root: Node, source: Path, params: dict[str, str],
             env: Mapping[str, str]) -> Heading:
    if is_motherlode(root) or not root.is_map or "members" not in root.value:
        raise SpecError("not a native pipeline file with block-style members")
    ctx = Ctx(Variables(env, read_dotenv(source.parent, env), params))
    checked = {key: ROOT.by_name[key].kind.check(node, key, ctx)
               for key in ("pipeline", "settings")
               if (node := root.value.get(key)) is not None and node.value is not None}
    name = checked.get("pipeline") or source.stem
    return Heading(name, settings_of(checked.get("settings", {}), root.get("settings")))
