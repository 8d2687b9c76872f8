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
* The Neo4j connection is Motherlode's own setting ``CONFIGS_NEO4J`` (DZD Configs reads
  ``CONFIGS_<NAME>`` as setting ``<NAME>``; motherlode's compose file passes
  ``CONFIGS_NEO4J: ${NEO4J}``), else the ``NEO4J`` variable: a JSON (or Python-literal)
  object with py2neo's settings (host, port, scheme, secure, user, password, name).
* ``CONFIGS_GLOBAL_PIPELINE_ENV_VARS``, a JSON or Python-literal object, holds variables
  every container gets (copili's ``Pipeline.add_global_env_var``: below the container's
  own ``env_vars``, each with its ``CONFIGS_`` copy; values as docker-py writes them, so
  ``True`` stays ``True``); motherlode's compose file gives the legacy ``GC_NEO4J_*`` so.
* ``CONFIGS_DOCKER_NETWORK_MODE`` is the network mode of every container (copili's
  ``Pipeline.network_mode``; unset: Docker's default bridge, as copili's ``bridge``).
* These three are read from the environment, then ``.env``, like ``ENV``; an empty value is
  unset (compose passes ``CONFIGS_NEO4J: ${NEO4J}`` empty when its ``NEO4J`` is unset).
* Sidecars are copili items too; of their keys name, image_repo, tag, env_vars and
  command are supported.
* Service mode: copili's ``Pipeline.start_service_mode`` reran the service containers
  (``is_service_container: true``, and only those) with the ``schedule`` library, by
  default ``schedule.every().day.at("00:00")``: daily at midnight on the process's clock,
  which in Motherlode's container is UTC unless ``TZ`` says otherwise. Only a Python
  caller could change it (``Pipeline.service_schedule``); the file cannot. So a pipeline
  with a service container (one ``ENV`` leaves in) gets ``Pipeline.schedule`` =
  cron ``0 0 * * *`` in ``TZ`` (else UTC); ``ORECART_SERVICE_SCHEDULE`` (orecart's own
  setting, read like the others) replaces it with a cron expression or an interval
  (``10m``). On that schedule the service containers rerun (planner: ``SCHEDULED``).
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from orecart.errors import Location, SpecError
from orecart.model import (
    Container,
    Format,
    Graph,
    Handover,
    Member,
    Pipeline,
    RegistryAuth,
    Rerun,
    Schedule,
    Settings,
    Sidecar,
)
from orecart.spec import cron, durations, names, references
from orecart.spec.expand import DOTENV, Variables
from orecart.spec.fields import GRAPH_URI, NAME, NAME_HINT, NAME_PATTERN, ROOT, VOLUMES
from orecart.spec.graph_checks import Placed, check_members
from orecart.spec.kinds import Ctx
from orecart.spec.loader import Node
from orecart.spec.native import CONFIGS_PREFIX, MOTHERLODE_GRAPH, Origin, handover_secrets, volumes
from orecart.spec.scalars import Boolean, Command, Text, known_timezone
from orecart.spec.structures import Field, ListOf, MapOf, Struct

NEO4J = MOTHERLODE_GRAPH
ENV = "ENV"  # the deployment environment exlude_in_env is compared with
GLOBAL_ENV = CONFIGS_PREFIX + "GLOBAL_PIPELINE_ENV_VARS"
NETWORK_MODE = CONFIGS_PREFIX + "DOCKER_NETWORK_MODE"
SERVICE_SCHEDULE = "ORECART_SERVICE_SCHEDULE"  # replaces copili's default service schedule
SERVICE_CRON = "0 0 * * *"  # copili: schedule.every().day.at("00:00")
TIMEZONE = "TZ"  # the clock copili's schedule ran on
_NEO4J_HINT = 'expected a JSON object like {"host": ..., "user": ..., "password": ...}'
_GLOBAL_HINT = 'expected a JSON object of variables like {"GC_NEO4J_USER": "neo4j"}'

@dataclass(frozen=True)
class _DockerValue(Text):
    """An env or label value as copili handed it to docker-py, which writes ``str(value)``
    of what YAML read: ``true`` reaches the container as ``True``, ``1.10`` as ``1.1``."""

    def check(self, node: Node, path: str, ctx: Ctx) -> str:
        if node.is_scalar and node.value is not None and not isinstance(node.value, str):
            return str(node.value)
        return super().check(node, path, ctx)


_VALUE = _DockerValue(scalars=True)
_ENV_MAP = MapOf(_VALUE, r"[^=\x00]+", "an environment variable name")
_IMAGE = (
    Field("image_repo", Text(references.NAME, references.NAME_HINT), "Image.", required=True),
    Field("tag", Text(references.TAG, references.TAG_HINT, scalars=True), "Tag (default latest)."),
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
        Field("labels", MapOf(_VALUE), "Container labels."),
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
    names.check_free_name(root.key_node(name), "pipeline name", name)
    ctx = Ctx(variables)
    items: list[dict[str, Any]] = MEMBERS.check(members_node, name, ctx)
    env = dict(variables.dotenv)
    declared = frozenset({NEO4J}) | handover_secrets(Handover.MOTHERLODE)
    shared = _Shared(_global_env(variables, origin), _configured(variables, NETWORK_MODE))
    placed = [
        Placed(
            _member(item, node, (env, shared), declared),
            node,
            f"{name}[{item['name']}]",
            "dependencies",
        )
        for item, node in zip(items, members_node.value, strict=True)
    ]
    check_members(placed, {})
    excluded = _excluded(items, variables)
    members = tuple(entry.member for entry in placed)
    return Pipeline(
        name=name,
        source=origin.source,
        members=members,
        format=Format.MOTHERLODE,
        env=env,
        settings=Settings(network_mode=shared.network_mode, handover=Handover.MOTHERLODE),
        graph=_graph(variables, origin),
        secrets=declared,
        excluded=excluded,
        params=dict(origin.params),
        schedule=_schedule(members, excluded, variables, origin),
    )


def _image(data: Mapping[str, Any]) -> str:
    return f"{data['image_repo']}:{data.get('tag') or 'latest'}"


@dataclass(frozen=True)
class _Shared:
    """What Motherlode's own settings give every container."""

    env: Mapping[str, str]  # CONFIGS_GLOBAL_PIPELINE_ENV_VARS
    network_mode: str | None  # CONFIGS_DOCKER_NETWORK_MODE


def _member(
    data: Mapping[str, Any],
    node: Node,
    given: tuple[Mapping[str, str], _Shared],
    declared: frozenset[str],
) -> Member:
    env, shared = given
    own_env: dict[str, str] = {**shared.env, **data.get("env_vars", {})}
    return Member(
        name=data["name"],
        container=_container(data, shared.network_mode),
        env=own_env,
        needs=tuple(dict.fromkeys(data.get("dependencies", ()))),
        rerun=Rerun.ALWAYS if data.get("force_rerun") else Rerun.ON_CHANGE,
        info_link=data.get("info_link"),
        desc=data.get("desc"),
        secrets=declared,
        handover=Handover.MOTHERLODE,
        line=node.line,
    )


def _container(data: Mapping[str, Any], network_mode: str | None) -> Container:
    user, password = data.get("image_reg_username"), data.get("image_reg_password")
    return Container(
        image=_image(data),
        command=data.get("command"),
        volumes=volumes(data.get("volumes", ())),
        labels=data.get("labels", {}),
        network_mode=network_mode,
        sidecars=tuple(
            Sidecar(s["name"], _image(s), s.get("env_vars", {}), s.get("command"))
            for s in data.get("sidecars", ())
        ),
        auth=RegistryAuth(user, password) if user is not None and password is not None else None,
        service=data.get("is_service_container", False),
    )


def _excluded(items: list[dict[str, Any]], variables: Variables) -> frozenset[str]:
    current = _configured(variables, ENV)
    if current is None:
        return frozenset()
    return frozenset(item["name"] for item in items if current in item.get("exlude_in_env", ()))


def _schedule(
    members: tuple[Member, ...], excluded: frozenset[str], variables: Variables, origin: Origin
) -> Schedule | None:
    """copili's service mode: the schedule its service containers rerun on (None: none)."""
    if not any(m.container and m.container.service and m.name not in excluded for m in members):
        return None
    zone = _timezone(variables, origin)
    found = _setting(variables, origin, SERVICE_SCHEDULE)
    if found is None:
        return Schedule(cron=SERVICE_CRON, timezone=zone)
    text, where = found
    try:
        every = durations.parse_duration(text)
    except SpecError:
        try:
            cron.parse_cron(text)
        except cron.CronError as exc:
            message = f"expected a cron expression or an interval like 10m: {exc}"
            raise SpecError(message, where, SERVICE_SCHEDULE) from None
        return Schedule(cron=text.strip(), timezone=zone)
    if every < 1:
        raise SpecError(f"an interval must be at least 1s, got {text!r}", where, SERVICE_SCHEDULE)
    return Schedule(every=every)


def _timezone(variables: Variables, origin: Origin) -> str:
    """The zone of ``TZ`` (``:Europe/Berlin`` as libc also reads it), else UTC."""
    found = _setting(variables, origin, TIMEZONE)
    if found is None:
        return "UTC"
    text, where = found
    name = text.strip().removeprefix(":")
    if not known_timezone(name):
        hint = "an IANA name like Europe/Berlin"
        raise SpecError(f"unknown timezone {text!r} ({hint})", where, TIMEZONE)
    return name


def _setting(variables: Variables, origin: Origin, *names: str) -> tuple[str, Location] | None:
    """The text of the first of ``names`` that is set, and where it was set."""
    for name in names:
        if variables.environ.get(name):
            return variables.lookup(name) or "", Location(f"${name}")
        if variables.dotenv.get(name):
            return variables.dotenv[name], Location(str(origin.source.parent / DOTENV))
    return None


def _configured(variables: Variables, name: str) -> str | None:
    """A Motherlode setting: from the environment, then .env, an empty value being unset
    (compose hands ``CONFIGS_NEO4J: ${NEO4J}`` over empty when its NEO4J is not set)."""
    return variables.environ.get(name) or variables.dotenv.get(name) or None


def _global_env(variables: Variables, origin: Origin) -> dict[str, str]:
    """The variables ``CONFIGS_GLOBAL_PIPELINE_ENV_VARS`` gives every container."""
    found = _setting(variables, origin, GLOBAL_ENV)
    if found is None:
        return {}
    values = _parse_object(*found, GLOBAL_ENV, _GLOBAL_HINT)
    return {str(key): str(value) for key, value in values.items() if value is not None}


def _graph(variables: Variables, origin: Origin) -> Graph | None:
    """The graph ``CONFIGS_NEO4J`` (or ``NEO4J``) describes, if either is set."""
    configs = CONFIGS_PREFIX + NEO4J
    found = _setting(variables, origin, configs, NEO4J)
    if found is None:
        return None
    text, where = found
    settings = _parse_object(text, where, NEO4J, _NEO4J_HINT)
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


def _parse_object(text: str, where: Location, name: str, hint: str) -> dict[str, Any]:
    """An object as JSON or as the Python dict literal Motherlode's template used, quotes
    around it dropped as DZD Configs dropped them (compose hands them over)."""
    text = text.strip().strip("'\"").strip()
    value: Any = None
    for parse in (json.loads, ast.literal_eval):
        try:
            value = parse(text)
            break
        except (ValueError, SyntaxError):
            continue
    if not isinstance(value, dict):
        raise SpecError(hint, where, name)
    return value


def _uri(settings: Mapping[str, Any]) -> str:
    secure = str(settings.get("secure", "")).lower() in {"true", "1", "yes"}
    scheme = settings.get("scheme") or ("bolt+s" if secure else "bolt")
    host = settings.get("host", "localhost")
    return f"{scheme}://{host}:{settings.get('port', 7687)}"


def _matches_uri(uri: str) -> bool:
    return re.fullmatch(GRAPH_URI, uri) is not None
