"""What a member receives: the environment of one member run, built in one place.

Nothing of orecart's own environment reaches a member unasked (a service's secrets would
reach every loader): a local member inherits only the allow-list ``INHERITED`` (what a
program needs to find commands, files, its language, time zone and proxies), a container
member nothing; either gets the variables its ``env_passthrough`` names or matches.

Order of precedence, lowest first: what it inherits, the pipeline ``env`` (less the member's
``exclude_env``), the graph handover (``NEO4J_*``), the member's own ``env``, then orecart's
``ORECART_*`` variables, which a member cannot override. Members with Motherlode's handover
(every member of a Motherlode-format pipeline, and ``handover: motherlode``) also get a
``CONFIGS_<NAME>`` copy of every variable, as copili hands them to its loaders.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from fnmatch import translate
from functools import lru_cache
from pathlib import Path

from orecart.model import Handover, Member, Pipeline

_NOT_NAME = re.compile(r"[^A-Za-z0-9]+")

_PROXIES = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY")

#: What a local member inherits from orecart's environment without asking (glob patterns).
INHERITED: tuple[str, ...] = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LANGUAGE",
    "LC_*",
    "TZ",
    "TMPDIR",
    "TERM",
    *_PROXIES,
    *(name.lower() for name in _PROXIES),
)


def input_variable(need: str) -> str:
    """The variable that holds the artifact folder of ``need``: ORECART_INPUT_<NEED>."""
    return "ORECART_INPUT_" + _NOT_NAME.sub("_", need).strip("_").upper()


def passes(name: str, patterns: tuple[str, ...]) -> bool:
    """True when ``name`` is one of ``patterns`` or matches one (case matters: ``AWS_*``)."""
    return _matcher(patterns).match(name) is not None


@lru_cache(maxsize=256)
def _matcher(patterns: tuple[str, ...]) -> re.Pattern[str]:
    """``patterns`` as one regular expression, built once: every member run asks of every
    variable of orecart's environment (fnmatch pattern by pattern was 1 ms a member)."""
    return re.compile("|".join(translate(pattern) for pattern in patterns) or "(?!)")


def inherited_env(member: Member, environ: Mapping[str, str]) -> dict[str, str]:
    """What ``member`` receives of orecart's environment ``environ``: the allow-list (a
    local member only) and what its ``env_passthrough`` names or matches."""
    patterns = member.env_passthrough if member.container else INHERITED + member.env_passthrough
    return {k: v for k, v in environ.items() if passes(k, patterns)}


def member_env(
    pipeline: Pipeline,
    member: Member,
    run_id: str,
    folders: tuple[Path, Mapping[str, Path]],
    graph_env: Mapping[str, str] | None = None,
    inherited: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The complete environment of one member run. ``folders`` is (its artifacts folder,
    the artifact folders of what it needs by name); ``inherited`` what it gets of orecart's
    environment (``inherited_env``). Holds secrets: never store it."""
    shared = shared_env(pipeline, member, graph_env, inherited)
    return own_env(shared, pipeline, member, run_id, folders)


def shared_env(
    pipeline: Pipeline,
    member: Member,
    graph_env: Mapping[str, str] | None = None,
    inherited: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The layers of ``member_env`` below the member's own ``env``: what it inherits, the
    pipeline ``env`` less its ``exclude_env``, the graph handover. Members that agree in
    those (most of a run's) share it, so a run builds it once (``tasks.Tasks``)."""
    env = dict(inherited or {})
    env.update((k, v) for k, v in pipeline.env.items() if k not in member.exclude_env)
    env.update(graph_env or {})
    return env


def own_env(
    shared: Mapping[str, str],
    pipeline: Pipeline,
    member: Member,
    run_id: str,
    folders: tuple[Path, Mapping[str, Path]],
) -> dict[str, str]:
    """``member_env`` from its ``shared_env``: the member's own ``env``, the Motherlode
    copies, then orecart's ``ORECART_*`` variables on top."""
    artifacts, inputs = folders
    env = dict(shared)
    env.update(member.env)
    if member.handover is Handover.MOTHERLODE:
        copies = {f"CONFIGS_{k}": v for k, v in env.items() if not k.startswith("CONFIGS_")}
        env.update(copies)
    env.update(
        ORECART_RUN_ID=run_id,
        ORECART_PIPELINE=pipeline.name,
        ORECART_MEMBER=member.name,
        ORECART_PARAMS=json.dumps(dict(pipeline.params), sort_keys=True),
    )
    env.update(folder_variables(artifacts, inputs))
    return env


def folder_variables(artifacts: Path, inputs: Mapping[str, Path]) -> dict[str, str]:
    """The variables naming a member's folders: ORECART_ARTIFACTS, ORECART_INPUTS (JSON) and
    ORECART_INPUT_<NEED> each (an executor that moves the folders sets them anew)."""
    return {
        "ORECART_ARTIFACTS": str(artifacts),
        "ORECART_INPUTS": json.dumps({k: str(v) for k, v in inputs.items()}, sort_keys=True),
        **{input_variable(name): str(path) for name, path in inputs.items()},
    }
