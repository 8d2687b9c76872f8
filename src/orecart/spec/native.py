"""The native pipeline format: a checked document becomes the frozen ``Pipeline``.

Order: apply the profile, check every field against ``fields.ROOT`` (expanding
``${VAR}`` on the way), map the cleaned values onto the model, then check what spans
members (names, needs, pools, cycles).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orecart.model import (
    Backup,
    Check,
    Container,
    ExecutorChoice,
    Format,
    Graph,
    Handover,
    Member,
    NotifyTarget,
    Pipeline,
    PullPolicy,
    RegistryAuth,
    Rerun,
    Retry,
    RunOutcome,
    Schedule,
    Settings,
    Sidecar,
    Volume,
)
from orecart.querying import Param, QueryMode, StoredQuery, referenced
from orecart.sensing import FileWatch, GitWatch, HttpWatch, Sensor, Watch
from orecart.spec.fields import ROOT
from orecart.spec.graph_checks import Placed, check_members
from orecart.spec.kinds import Ctx
from orecart.spec.loader import Node
from orecart.spec.names import unique_entries
from orecart.spec.profiles import apply_profile
from orecart.spec.triggers import Context, load_triggers

MOTHERLODE_GRAPH = "NEO4J"  # Motherlode's connection variable; it carries the password
CONFIGS_PREFIX = "CONFIGS_"  # DZD Configs reads CONFIGS_<NAME> as its setting <NAME>


@dataclass(frozen=True)
class Origin:
    """Where a pipeline comes from and what it was loaded with."""

    source: Path
    params: Mapping[str, str] = field(default_factory=dict)
    profile: str | None = None


def load_native(root: Node, origin: Origin, ctx: Ctx) -> Pipeline:
    """The pipeline a native document describes, under ``origin.profile``."""
    profiled = apply_profile(root, origin.profile, ctx)
    data: dict[str, Any] = ROOT.check(profiled.root, "", ctx)
    settings = settings_of(data.get("settings", {}), profiled.root.get("settings"))
    env: dict[str, str] = data.get("env", {})
    declared = frozenset(data.get("secrets", ()))
    passthrough = tuple(dict.fromkeys(data.get("env_passthrough", ())))
    members_node = profiled.root.value["members"]
    queries = _queries(data.get("queries", ()), profiled.root.get("queries"))
    named = {query.name: query for query in queries}
    placed = [
        Placed(
            _member(item, node, settings, (declared, passthrough), named),
            node,
            f"members[{item['name']}]",
        )
        for item, node in zip(data["members"], members_node.value, strict=True)
    ]
    pools: dict[str, int] = data.get("pools", {})
    check_members(placed, pools)
    _check_hooks(profiled.root.get("hooks"), data.get("hooks", ()), origin.source.parent)
    return Pipeline(
        name=data.get("pipeline") or origin.source.stem,
        source=origin.source,
        members=tuple(entry.member for entry in placed),
        format=Format.NATIVE,
        env=env,
        pools=pools,
        settings=settings,
        hooks=tuple(data.get("hooks", ())),
        graph=_graph(data["graph"]) if "graph" in data else None,
        secrets=declared,
        env_passthrough=passthrough,
        checks=_checks(data.get("checks", ()), profiled.root.get("checks"), named, "checks"),
        keys=data.get("keys", {}),
        backup=Backup(**data["backup"]) if "backup" in data else None,
        notify=tuple(_notify(item) for item in data.get("notify", ())),
        profile=origin.profile or None,
        excluded=profiled.excluded,
        params=dict(origin.params),
        schedule=Schedule(**data["schedule"]) if "schedule" in data else None,
        sensors=_sensors(data.get("sensors", ()), profiled.root.get("sensors")),
        queries=queries,
        triggers=load_triggers(data.get("triggers", ()), profiled.root.get("triggers"),
                               Context(named, tuple(e.member.name for e in placed),
                                       _params_used(ctx))),
    )


def _params_used(ctx: Ctx) -> frozenset[str]:
    """The run parameters the file's texts refer to (``${params.NAME}``), once expanded."""
    if ctx.variables is None:
        return frozenset()
    return frozenset().union(*ctx.variables.params_in.values())


def _queries(items: Sequence[Mapping[str, Any]], node: Node | None) -> tuple[StoredQuery, ...]:
    """The stored queries, their names unique, each ``$name`` of their Cypher declared and
    each declared parameter used (a typo on either side is found here, with its line)."""
    for item, at in unique_entries(items, node, "queries", "query"):
        _check_params(item, at)
    return tuple(_query(item) for item in items)


def _check_params(item: Mapping[str, Any], at: Node) -> None:
    name, declared = item["name"], item.get("params", {})
    used = referenced(item["cypher"])
    for param in used:
        if param not in declared:
            raise (at.get("cypher") or at).error(
                f"queries[{name}].cypher",
                f"${param} is not a declared parameter (declare it under params)")
    for param in declared:
        if param not in used:
            params = at.get("params")
            where = params.key_node(param) if params is not None else at
            raise where.error(f"queries[{name}].params.{param}",
                              f"parameter {param!r} is not used in the cypher")


def _query(item: Mapping[str, Any]) -> StoredQuery:
    params = tuple(Param.parse(k, v) for k, v in item.get("params", {}).items())
    return StoredQuery(item["name"], item["cypher"], params,
                       QueryMode(item.get("mode", QueryMode.READ)), item.get("desc"))


def _sensors(items: Sequence[Mapping[str, Any]], node: Node | None) -> tuple[Sensor, ...]:
    """The sensors, their names unique (they are in run keys and the store)."""
    sensors: list[Sensor] = []
    for item, at in unique_entries(items, node, "sensors", "sensor"):
        name = item["name"]
        if "http" in item and "version_pattern" in item:
            raise (at.get("version_pattern") or at).error(
                f"sensors[{name}].version_pattern",
                "applies to git refs and commits and to file paths, not to http")
        sensors.append(_sensor(item))
    return tuple(sensors)


def _sensor(item: Mapping[str, Any]) -> Sensor:
    watch: Watch
    if "git" in item:
        watch = GitWatch(**item["git"])
    elif "http" in item:
        watch = HttpWatch(**item["http"])
    else:
        watch = FileWatch(**item["file"])
    options = {key: item[key] for key in _SENSOR_OPTIONS if key in item}
    return Sensor(item["name"], watch, **options)


_SENSOR_OPTIONS = ("every", "version_pattern", "latest_only", "retries", "timeout")


def _check_hooks(node: Node | None, paths: Iterable[str], folder: Path) -> None:
    """Every hook module can be found (beside the file or installed), as runs will look.

    ``orecart.hooks`` (pluggy, the events, the planner) is imported only for a file that
    names hooks: reading one without them must not pay for it."""
    paths = tuple(paths)
    if not paths:
        return
    from orecart.hooks import findable

    for index, path in enumerate(paths):
        if not findable(path, folder):
            assert node is not None
            module = path.partition(":")[0]
            raise node.value[index].error(
                f"hooks[{index}]",
                f"no module {module!r} (not beside the pipeline file, nor installed)",
            )


def settings_of(data: Mapping[str, Any], node: Node | None) -> Settings:
    """The ``settings:`` entry, checked into ``data``, as the model's Settings."""
    values = dict(data)
    if "executor" in values:
        assert node is not None
        values["executor"] = executor_choice(values["executor"], node, "settings")
    if "pull" in values:
        values["pull"] = PullPolicy(values["pull"])
    if "handover" in values:
        values["handover"] = Handover(values["handover"])
    return Settings(**values)


def executor_choice(value: str | Mapping[str, str], parent: Node, path: str) -> ExecutorChoice:
    """An ``executor:`` value (a name or {name, address, artifacts}) under ``parent``;
    ``address`` and ``artifacts`` belong to dask only."""
    if isinstance(value, str):
        return ExecutorChoice(value)
    at = parent.get("executor")
    assert at is not None
    for key in ("address", "artifacts"):
        if key in value and value["name"] != "dask":
            raise (at.get(key) or at).error(f"{path}.executor.{key}",
                                            f"applies to the dask executor, not {value['name']!r}")
    return ExecutorChoice(value["name"], value.get("address"), value.get("artifacts"))


def _member_executor(data: Mapping[str, Any], node: Node) -> ExecutorChoice | None:
    """The member's ``executor:``; one that cannot run its kind is refused here."""
    if "executor" not in data:
        return None
    path = f"members[{data['name']}]"
    choice = executor_choice(data["executor"], node, path)
    wrong = {"local": "image", "docker": "run"}.get(choice.name)
    kind = "image" if "image" in data else "run"
    if wrong == kind:
        needs = "an image member runs on docker or dask" if kind == "image" else (
            "a local command runs on local or dask")
        raise (node.get("executor") or node).error(f"{path}.executor",
                                                   f"{choice.name!r} cannot run it: {needs}")
    return choice


def _graph(data: Mapping[str, Any]) -> Graph:
    return Graph(**data)


def _notify(data: Mapping[str, Any]) -> NotifyTarget:
    if "on" not in data:
        return NotifyTarget(data["url"])
    return NotifyTarget(data["url"], frozenset(RunOutcome(value) for value in data["on"]))


def _checks(items: Sequence[Mapping[str, Any]], node: Node | None,
            queries: Mapping[str, StoredQuery], path: str) -> tuple[Check, ...]:
    """The checks; one naming a ``stored_query`` gets its Cypher, which must be a read
    query without parameters (a check runs in a read transaction, with none to give)."""
    checks = []
    for index, item in enumerate(items):
        if "stored_query" not in item:
            checks.append(Check(item["name"], item["query"], item.get("expect", True)))
            continue
        assert node is not None
        at = node.value[index]
        stored = _check_query(item, queries, at.get("stored_query") or at, f"{path}[{index}]")
        checks.append(Check(item["name"], stored.cypher, item.get("expect", True)))
    return tuple(checks)


def _check_query(item: Mapping[str, Any], queries: Mapping[str, StoredQuery], at: Node,
                 path: str) -> StoredQuery:
    name, where = item["stored_query"], f"{path}.stored_query"
    stored = queries.get(name)
    if stored is None:
        known = ", ".join(queries) or "none"
        raise at.error(where, f"no stored query {name!r} under queries: (known: {known})")
    if stored.params or stored.mode is not QueryMode.READ:
        raise at.error(where, f"query {name!r} cannot be a check: a check runs a read "
                              "query without parameters")
    return stored


def _member(
    data: Mapping[str, Any],
    node: Node,
    settings: Settings,
    shared: tuple[frozenset[str], tuple[str, ...]],
    queries: Mapping[str, StoredQuery],
) -> Member:
    """``shared`` is what the pipeline gives every member: (secret names, passthrough)."""
    declared, passthrough = shared
    env: dict[str, str] = data.get("env", {})
    exclude_env = frozenset(data.get("exclude_env", ()))
    handover = Handover(data.get("handover", settings.handover))
    secret_names = declared | set(data.get("secrets", ())) | handover_secrets(handover)
    return Member(
        name=data["name"],
        run=data.get("run"),
        shell=data.get("shell"),
        container=container(data, settings) if "image" in data else None,
        cwd=data.get("cwd"),
        env=env,
        needs=tuple(dict.fromkeys(data.get("needs", ()))),
        pool=data.get("pool"),
        timeout=data.get("timeout"),
        retry=_retry(data.get("retries", 0)),
        rerun=Rerun(data.get("rerun", Rerun.ON_CHANGE)),
        info_link=data.get("info_link"),
        desc=data.get("desc"),
        secrets=frozenset(secret_names),
        exclude_env=exclude_env,
        env_passthrough=tuple(dict.fromkeys((*passthrough, *data.get("env_passthrough", ())))),
        complete_when=data.get("complete_when"),
        max_age=data.get("max_age"),
        checks=_checks(data.get("checks", ()), node.get("checks"), queries,
                       f"members[{data['name']}].checks"),
        snapshot=data.get("snapshot", False),
        handover=handover,
        line=node.line,
        executor=_member_executor(data, node),
        resources=dict(data.get("resources", {})),
    )


def handover_secrets(handover: Handover) -> frozenset[str]:
    """Names secret because of the handover: Motherlode's ``NEO4J`` JSON holds the password."""
    if handover is Handover.MOTHERLODE:
        return frozenset({MOTHERLODE_GRAPH, CONFIGS_PREFIX + MOTHERLODE_GRAPH})
    return frozenset()


def _retry(value: int | Mapping[str, Any]) -> Retry:
    if isinstance(value, int):
        return Retry(retries=value)
    defaults = Retry()
    return Retry(
        retries=value.get("count", defaults.retries),
        backoff=value.get("backoff", defaults.backoff),
        factor=value.get("factor", defaults.factor),
        max_backoff=value.get("max_backoff", defaults.max_backoff),
    )


def container(data: Mapping[str, Any], settings: Settings) -> Container:
    """The Container of an image member; unset options take the pipeline's settings."""
    auth = data.get("registry_auth")
    return Container(
        image=data["image"],
        pull=PullPolicy(data.get("pull", settings.pull)),
        command=data.get("command"),
        entrypoint=data.get("entrypoint"),
        volumes=volumes(data.get("volumes", ())),
        labels=data.get("labels", {}),
        network_mode=data.get("network_mode", settings.network_mode),
        user=data.get("user"),
        working_dir=data.get("working_dir"),
        cpus=data.get("cpus"),
        memory=data.get("memory"),
        sidecars=tuple(_sidecar(item) for item in data.get("sidecars", ())),
        auth=RegistryAuth(auth["username"], auth["password"]) if auth else None,
    )


def volumes(value: Iterable[Volume] | Mapping[str, Mapping[str, str]]) -> tuple[Volume, ...]:
    """Volumes from compose strings (already parsed) or the docker SDK's dict form."""
    if isinstance(value, Mapping):
        return tuple(
            Volume(source, bind["bind"], read_only=bind.get("mode") == "ro")
            for source, bind in value.items()
        )
    return tuple(value)


def _sidecar(data: Mapping[str, Any]) -> Sidecar:
    return Sidecar(data["name"], data["image"], data.get("env", {}), data.get("command"))
