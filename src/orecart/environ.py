"""What a member receives: the environment of one member run, built in one place.

Order of precedence, lowest first: the pipeline ``env`` (less the member's
``exclude_env``), the graph handover (``NEO4J_*``), the member's own ``env``, then orecart's
``ORECART_*`` variables, which a member cannot override. Members with Motherlode's handover
(every member of a Motherlode-format pipeline, and ``handover: motherlode``) also get a
``CONFIGS_<NAME>`` copy of every variable, as copili hands them to its loaders.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path

from orecart.model import Handover, Member, Pipeline

_NOT_NAME = re.compile(r"[^A-Za-z0-9]+")


def input_variable(need: str) -> str:
    """The variable that holds the artifact folder of ``need``: ORECART_INPUT_<NEED>."""
    return "ORECART_INPUT_" + _NOT_NAME.sub("_", need).strip("_").upper()


def inherited_env(member: Member) -> Mapping[str, str]:
    """What a member receives beyond ``member_env``: a local member (a process of
    orecart's) inherits orecart's own environment; a container member nothing."""
    return {} if member.container else os.environ


def member_env(
    pipeline: Pipeline,
    member: Member,
    run_id: str,
    folders: tuple[Path, Mapping[str, Path]],
    graph_env: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The complete environment of one member run. ``folders`` is (its artifacts folder,
    the artifact folders of what it needs by name). Holds secrets: never store it."""
    artifacts, inputs = folders
    env = {k: v for k, v in pipeline.env.items() if k not in member.exclude_env}
    env.update(graph_env or {})
    env.update(member.env)
    if member.handover is Handover.MOTHERLODE:
        copies = {f"CONFIGS_{k}": v for k, v in env.items() if not k.startswith("CONFIGS_")}
        env.update(copies)
    env.update(
        ORECART_RUN_ID=run_id,
        ORECART_PIPELINE=pipeline.name,
        ORECART_MEMBER=member.name,
        ORECART_PARAMS=json.dumps(dict(pipeline.params), sort_keys=True),
        ORECART_ARTIFACTS=str(artifacts),
        ORECART_INPUTS=json.dumps({k: str(v) for k, v in inputs.items()}, sort_keys=True),
    )
    env.update({input_variable(name): str(path) for name, path in inputs.items()})
    return env
