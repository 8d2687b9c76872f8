"""Motherlode/copili pipeline files, read unchanged and meaning what they meant there.

The format (copili's ``ContainerRegistry``; covidgraph/motherlode's ``pipeline.yaml``) is a
single top-level key, the pipeline name, whose value lists containers::

    CovidGraphPipeline:
      - name: JHU
        image_repo: covidgraph/data_jhu_population
        tag: latest
        env_vars: {CONFIGS_NO_OF_PROCESSES: 25}
        dependencies: [CREATE_FULL_TEXT_INDEXES]

What the copili source says each key means, and how it maps here:

* ``image_repo`` + ``tag`` (default ``latest``) -> ``Container.image``.
* ``env_vars`` -> ``Member.env``; ``dependencies`` -> ``Member.needs`` (copili only warned
  about an unknown dependency; here it is an error, like any unknown need).
* ``force_rerun: true`` -> ``Rerun.ALWAYS``; ``is_service_container`` -> ``Container.service``.
* ``image_reg_username``/``image_reg_password`` -> ``Container.auth``.
* ``exlude_in_env`` (sic) is *not* a list of variables to withhold. It lists deployment
  environments: names compared with the global ``ENV`` variable that Motherlode also hands
  to every container (``ENV=PROD``, ``DEV``...). copili's ``get_ordered_containers`` drops
  a container from the run when ``os.getenv("ENV")`` is in its list. So a member whose
  list holds the current ``ENV`` (process environment first, then ``.env``) goes into
  ``Pipeline.excluded``; with ``ENV`` unset nothing is excluded, as in copili.
* Every ``.env`` entry becomes pipeline env (copili's ``global_env_vars``, passed to
  every container), and ``${VAR}`` as well as ``$VAR`` expand (copili used expandvars).
* The Neo4j connection is Motherlode's ``NEO4J`` variable, a JSON (or Python-literal)
  object with py2neo's settings (host, port, scheme, secure, user, password, name).
* Sidecars are copili items too; of their keys name, image_repo, tag, env_vars and
  command are supported.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping
from typing import Any

from orecart.errors import Location, SpecError
from orecart.model import (
    Container,
    Format,
    Graph,
    Member,
    Pipeline,
    RegistryAuth,
    Rerun,
    Settings,
    Sidecar,
)
from orecart.spec.expand import DOTENV, Variables
from orecart.spec.fields import GRAPH_URI, NAME, NAME_HINT, NAME_PATTERN, ROOT, VOLUMES
from orecart.spec.graph_checks import Placed, check_members
from orecart.spec.kinds import Ctx
from orecart.spec.loader import Node
from orecart.spec.native import Origin, volumes
from orecart.spec.scalars import Boolean, Command, Text
from orecart.spec.structures import Field, ListOf, MapOf, Struct

NEO4J = "NEO4J"  # Motherlode's connection variable; it carries the password
ENV = "ENV"  # the deployment environment exlude_in_env is compared with
_NEO4J_HINT = 'expected a JSON object like {"host": ..., "user": ..., "password": ...}'

_ENV_MAP = MapOf(Text(scalars=True), r"[^=\x00]+", "an environment variable name")
_IMAGE = (
    Field("image_repo", Text(non_empty=True), "Image repository.", required=True),
    Field("tag", Text(non_empty=True, scalars=True), "Image tag (default latest)."),
)

SIDECAR_ITEM = Struct(
    (
        Field("name", Text(NAME_PATTERN, NAME_HINT), "Sidecar name.", required=True),
        *_IMAGE,
        Field("env_vars", _ENV_MAP, "Environment of the sidecar."),
        Field("command", Command(), "Command of the sidecar."),
    )
)

ITEM = Struct(
    (
        Field("name", NAME, "Unique container name.", required=True),
        *_IMAGE,
        Field("info_link", Text(), "Where to read about this loader."),
        Field("desc", Text(), "What this loader does."),
        Field(
            "image_reg_username",
            Text(scalars=True),
            "Registry user.",
            only_with="image_reg_password",
        ),
        Field(
            "image_reg_password",
            Text(scalars=True),
            "Registry password.",
            only_with="image_reg_username",
        ),
        Field("is_service_container", Boolean(), "Started, not waited for."),
        Field("env_vars", _ENV_MAP, "Environment of the container."),
        Field("dependencies", ListOf(NAME, single=True), "Needed containers."),
        Field("exlude_in_env", ListOf(Text(scalars=True), single=True), "ENV values that skip it."),
        Field("volumes", VOLUMES, "Volumes: {host: {bind, mode}}."),
        Field("command", Command(), "Container command."),
        Field("sidecars", ListOf(SIDECAR_ITEM, label="name"), "Helper containers."),
        Field("labels", MapOf(Text(scalars=True)), "Container labels."),
        Field("force_rerun", Boolean(), "Run even when it ran before."),
    )
)

MEMBERS = ListOf(ITEM, min_items=1, label="name")


def is_motherlode(root: Node) -> bool:
    """A single non-native top-level key holding a list in which some item has image_repo."""
    if not root.is_map or len(root.value) != 1:
        return False
    ((key, value),) = root.value.items()
    if key in ROOT.by_name or not value.is_seq or not value.value:
        return False
    return any(item.is_map and "image_repo" in item.value for item in value.value)


def load_motherlode(root: Node, origin: Origin, variables: Variables) -> Pipeline:
    """The pipeline a Motherlode/copili document describes."""
    ((name, members_node),) = root.value.items()
    ctx = Ctx(variables)
    items: list[dict[str, Any]] = MEMBERS.check(members_node, name, ctx)
    env = dict(variables.dotenv)
    declared = frozenset({NEO4J})
    placed = [
        Placed(_member(item, node, env, declared), node, f"{name}[{item['name']}]", "dependencies")
        for item, node in zip(items, members_node.value, strict=True)
    ]
    check_members(placed, {})
    return Pipeline(
        name=name,
        source=origin.source,
        members=tuple(entry.member for entry in placed),
        format=Format.MOTHERLODE,
        env=env,
        settings=Settings(),
        graph=_graph(variables, origin),
        secrets=declared,
        excluded=_excluded(items, variables),
        params=dict(origin.params),
    )


def _image(data: Mapping[str, Any]) -> str:
    return f"{data['image_repo']}:{data.get('tag') or 'latest'}"


def _member(
    data: Mapping[str, Any], node: Node, env: Mapping[str, str], declared: frozenset[str]
) -> Member:
    own_env: dict[str, str] = data.get("env_vars", {})
    return Member(
        name=data["name"],
        container=_container(data),
        env=own_env,
        needs=tuple(dict.fromkeys(data.get("dependencies", ()))),
        rerun=Rerun.ALWAYS if data.get("force_rerun") else Rerun.ON_CHANGE,
        info_link=data.get("info_link"),
        desc=data.get("desc"),
        secrets=declared,
        line=node.line,
    )


def _container(data: Mapping[str, Any]) -> Container:
    user, password = data.get("image_reg_username"), data.get("image_reg_password")
    return Container(
        image=_image(data),
        command=data.get("command"),
        volumes=volumes(data.get("volumes", ())),
        labels=data.get("labels", {}),
        sidecars=tuple(
            Sidecar(s["name"], _image(s), s.get("env_vars", {}), s.get("command"))
            for s in data.get("sidecars", ())
        ),
        auth=RegistryAuth(user, password) if user is not None and password is not None else None,
        service=data.get("is_service_container", False),
    )


def _excluded(items: list[dict[str, Any]], variables: Variables) -> frozenset[str]:
    current = variables.lookup(ENV)
    if current is None:
        return frozenset()
    return frozenset(item["name"] for item in items if current in item.get("exlude_in_env", ()))


def _graph(variables: Variables, origin: Origin) -> Graph | None:
    """The graph Motherlode's ``NEO4J`` variable describes, if it is set."""
    text = variables.lookup(NEO4J)
    if not text:
        return None
    from_dotenv = variables.environ.get(NEO4J) is None
    where = Location(str(origin.source.parent / DOTENV)) if from_dotenv else Location(f"${NEO4J}")
    settings = _parse_settings(text, where)
    uri = settings.get("uri") or _uri(settings)
    graph = Graph(
        uri=str(uri),
        user=str(settings.get("user", "neo4j")),
        password=str(settings.get("password", "")),
        database=str(settings["name"]) if settings.get("name") else None,
    )
    if not _matches_uri(graph.uri):
        raise SpecError(f"{graph.uri!r} is not a bolt:// or neo4j:// URI", where, NEO4J)
    return graph


def _parse_settings(text: str, where: Location) -> dict[str, Any]:
    """py2neo settings as JSON or as the Python dict literal Motherlode's template used."""
    try:
        value = json.loads(text)
    except ValueError:
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError) as exc:
            raise SpecError(_NEO4J_HINT, where, NEO4J) from exc
    if not isinstance(value, dict):
        raise SpecError(_NEO4J_HINT, where, NEO4J)
    return value


def _uri(settings: Mapping[str, Any]) -> str:
    secure = str(settings.get("secure", "")).lower() in {"true", "1", "yes"}
    scheme = settings.get("scheme") or ("bolt+s" if secure else "bolt")
    host = settings.get("host", "localhost")
    return f"{scheme}://{host}:{settings.get('port', 7687)}"


def _matches_uri(uri: str) -> bool:
    return re.fullmatch(GRAPH_URI, uri) is not None
