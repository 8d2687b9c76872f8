"""One entry point from a pipeline file to the frozen ``Pipeline``: read, pick the format,
gather variables (environment, ``.env``, parameters), and hand over to that format."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from orecart.model import Pipeline
from orecart.secrets import known_secrets
from orecart.spec.expand import Variables, read_dotenv
from orecart.spec.kinds import Ctx
from orecart.spec.loader import paused_gc, read_document
from orecart.spec.motherlode import is_motherlode, load_motherlode
from orecart.spec.native import Origin, load_native
from orecart.spec.profiles import PROFILES

PROFILE_VARIABLE = "ORECART_PROFILE"


def load_pipeline(
    path: str | os.PathLike[str],
    *,
    profile: str | None = None,
    params: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    params_unknown: bool = False,
) -> Pipeline:
    """The pipeline in the YAML or JSON file at ``path``, native or Motherlode/copili format.

    ``environ`` (default ``os.environ``) wins over the ``.env`` file beside the pipeline
    file; ``profile`` defaults to ``$ORECART_PROFILE``. Raises SpecError (CycleError for
    cyclic needs) whose text is ``FILE:LINE:COL: FIELD: message``. ``params_unknown``:
    the parameters are not known yet (a pipeline ``serve`` watches, before any request), so
    a ``${params.NAME}`` without a value reads as empty instead of being an error.
    """
    env: Mapping[str, str] = os.environ if environ is None else environ
    chosen = profile if profile is not None else env.get(PROFILE_VARIABLE)
    with paused_gc():
        # the document tree dies when _load returns, before the collector is back on
        given = (UnknownParams if params_unknown else dict)(params or {})
        return _load(Path(path), chosen or None, given, env, explicit=bool(profile))


class UnknownParams(dict[str, str]):
    """Parameters not known yet: each one asked for and not given reads as empty."""

    def get(self, key: str, default: str | None = None) -> str:  # type: ignore[override]
        return super().get(key, "")


def pipeline_name(path: str | os.PathLike[str]) -> str:
    """The name a pipeline file gives its pipeline, read without expanding anything, so a
    run history can be found where the file's variables or parameters are not set."""
    root = read_document(Path(path))
    if is_motherlode(root):
        return str(next(iter(root.value)))
    name = root.value.get("pipeline") if root.is_map else None
    if name is not None and isinstance(name.value, str) and "${" not in name.value:
        return name.value
    return Path(path).stem


def _load(
    source: Path,
    profile: str | None,
    params: dict[str, str],
    env: Mapping[str, str],
    *,
    explicit: bool,
) -> Pipeline:
    root = read_document(source)
    dotenv = read_dotenv(source.parent, env)
    if is_motherlode(root):
        if explicit:
            raise root.error(PROFILES, "Motherlode/copili pipeline files have no profiles")
        variables = Variables(env, dotenv, params, copili=True)
        pipeline = load_motherlode(root, Origin(source, params), variables)
    else:
        variables = Variables(env, dotenv, params)
        pipeline = load_native(root, Origin(source, params, profile), Ctx(variables))
    hidden = variables.used_secrets | variables.values_of(pipeline.secrets)
    pipeline = replace(pipeline, secret_values=frozenset(hidden))
    known = known_secrets(pipeline)
    return replace(pipeline, secret_values=known | variables.params_behind(known))
