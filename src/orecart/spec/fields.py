"""The native pipeline format as one declarative table: validation and JSON Schema both
read it, so the schema an editor uses is exactly what ``orecart`` accepts."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from orecart.errors import UsageError
from orecart.model import NOTIFY_DEFAULT, Handover, PullPolicy, Rerun, RunOutcome
from orecart.querying import TYPE_NAMES, QueryMode
from orecart.spec import names, references
from orecart.spec.durations import SHORTEST_EVERY
from orecart.spec.kinds import Ctx, Kind
from orecart.spec.loader import Node
from orecart.spec.scalars import (
    Amount,
    Argv,
    Boolean,
    Choice,
    Command,
    CronText,
    Duration,
    Integer,
    MemorySize,
    Number,
    Pattern,
    Text,
    TimezoneName,
    VolumeSpec,
)
from orecart.spec.structures import Anything, Field, ListOf, MapOf, Partial, Shaped, Struct
from orecart.spec.triggers import TRIGGER
from orecart.stores import ALIASES, STORES, check_url

NAME_PATTERN = names.PATTERN
NAME_HINT = names.HINT
ENV_KEY = r"[^=\x00]+"
ENV_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
ENV_GLOB = r"[A-Za-z_*?][A-Za-z0-9_*?]*"  # a name, or a pattern of one: AWS_*, LC_?
ENV_GLOB_HINT = "an environment variable name or a pattern like AWS_*"
DOTTED = r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*(:[A-Za-z_][A-Za-z0-9_.]*)?"
GRAPH_URI = r"(bolt|neo4j)(\+s|\+ssc)?://\S+"
HTTP_URL = r"https?://\S+"

_SCHEMES = "|".join(sorted({*STORES, *ALIASES}))
STATE_URL = rf"(?:{_SCHEMES})(?:\+[A-Za-z0-9_]+)?://.*"
STATE_HINT = "a state store URL (sqlite:///PATH or postgresql://USER@HOST/DB)"
IMAGE = Text(references.REFERENCE, references.HINT)


@dataclass(frozen=True)
class StateUrl(Text):
    """A state store URL that the store itself can read: a bad port or host is an error
    here, with its line, not an internal error when the run opens the store."""

    def check(self, node: Node, path: str, ctx: Ctx) -> str:
        text = super().check(node, path, ctx)
        if ctx.variables is None and "${" in text:
            return text  # judged when the pipeline is loaded with its variables
        try:
            check_url(text)
        except UsageError as exc:
            raise node.error(path, str(exc)) from None
        return text

KIND_KEYS = ("run", "shell", "image")


def _values(enum: type[StrEnum]) -> tuple[str, ...]:
    return tuple(member.value for member in enum)


def _env() -> MapOf:
    return MapOf(Text(scalars=True), ENV_KEY, "an environment variable name")


NAME = names.MEMBER_NAME


_PASSTHROUGH_DOC = "Variables of orecart's environment passed on (names or patterns like AWS_*)."


def _names(hint: str = NAME_HINT, pattern: str = NAME_PATTERN) -> ListOf:
    return ListOf(Text(pattern, hint, scalars=pattern == NAME_PATTERN), single=True)


CHECK = Struct(
    (
        Field("name", Text(non_empty=True), "Name shown in reports.", required=True),
        Field("query", Text(non_empty=True), "Cypher query; its single value is compared."),
        Field("stored_query", Text(NAME_PATTERN, NAME_HINT),
              "Instead of `query`: a read query of `queries:` without parameters."),
        Field("expect", Anything(), "The value the query must return (default: true)."),
    ),
    exactly_one=("query", "stored_query"),
)

RETRY = Struct(
    (
        Field("count", Integer(0), "Attempts after the first."),
        Field("backoff", Duration(), "Wait before the first retry (default 1s)."),
        Field("factor", Number(positive=True), "Each further wait is this many times longer."),
        Field("max_backoff", Duration(), "Longest wait between attempts (default 5m)."),
    )
)

BIND = Struct(
    (
        Field("bind", Text(non_empty=True), "Path inside the container.", required=True),
        Field("mode", Choice(("ro", "rw")), "ro or rw (default rw)."),
    )
)

VOLUMES = Shaped(
    seq=ListOf(VolumeSpec()),
    mapping=MapOf(BIND),  # docker SDK form, as copili wrote it: {host: {bind, mode}}
)

SIDECAR = Struct(
    (
        Field(
            "name", Text(NAME_PATTERN, NAME_HINT), "Sidecar name (its host name).", required=True
        ),
        Field("image", IMAGE, "Image of the sidecar.", required=True),
        Field("env", _env(), "Environment of the sidecar."),
        Field("command", Command(), "Command of the sidecar."),
    )
)

REGISTRY_AUTH = Struct(
    (
        Field("username", Text(scalars=True), "Registry user.", required=True),
        Field("password", Text(scalars=True), "Registry password (secret).", required=True),
    )
)


EXECUTORS = ("local", "docker", "dask")
DASK_ADDRESS = r"local|(tcp|tls)://\S+:\d+"
EXECUTOR = Shaped(
    scalar=Choice(EXECUTORS),
    mapping=Struct(
        (
            Field("name", Choice(EXECUTORS), "local, docker or dask.", required=True),
            Field("address", Text(DASK_ADDRESS, "tcp://HOST:PORT or local"),
                  "dask: the scheduler, tcp://HOST:PORT (local: a LocalCluster orecart "
                  "starts; default: the run's or the pipeline's, else local)."),
            Field("artifacts", Choice(("copy", "shared")),
                  "dask: copy artifact folders to and from the worker (default), or use "
                  "their paths as they are (shared: every worker mounts them alike)."),
        )
    ),
)


def _container_field(name: str, kind: Kind, doc: str) -> Field:
    return Field(name, kind, doc, only_with="image")


MEMBER = Struct(
    (
        Field("name", NAME, "Unique member name.", required=True),
        Field("run", Argv(), "Command to run: a list of words, or a string split like a shell."),
        Field("shell", Text(non_empty=True), "Command run through /bin/sh -c."),
        Field("image", IMAGE, "Container image to run."),
        Field("cwd", Text(), "Working folder (relative to the pipeline file)."),
        Field("env", _env(), "Environment of this member."),
        Field("needs", _names(), "Members that must succeed before this one."),
        Field("pool", Text(non_empty=True), "A pool (under `pools`) this member holds a lease of."),
        Field("timeout", Duration(positive=True), "Longest run time, e.g. 2h."),
        Field("retries", Shaped(scalar=Integer(0), mapping=RETRY), "Retries: a count or details."),
        Field("rerun", Choice(_values(Rerun)), "When to run again (default on-change)."),
        Field("info_link", Text(), "Where to read about this loader."),
        Field("desc", Text(), "What this loader does."),
        Field("secrets", _names("an environment variable name", ENV_NAME), "Secret env names."),
        Field(
            "complete_when", Text(non_empty=True), "Cypher returning true when the work is done."
        ),
        Field("checks", ListOf(CHECK), "Cypher checks after this member ran."),
        Field("snapshot", Boolean(), "Count the graph before and after."),
        Field(
            "handover",
            Choice(_values(Handover)),
            "Graph variables it gets: orecart (NEO4J_*) or motherlode (also NEO4J, CONFIGS_*).",
        ),
        Field(
            "exclude_env",
            _names("an environment variable name", ENV_KEY),
            "Pipeline env names not passed.",
        ),
        Field("env_passthrough", _names(ENV_GLOB_HINT, ENV_GLOB), _PASSTHROUGH_DOC),
        Field(
            "max_age",
            Duration(positive=True),
            "Rerun when its last success is older than this, e.g. 7d.",
        ),
        Field("executor", EXECUTOR,
              "Where it runs: local, docker or dask, or {name: dask, address: ...}."),
        Field("resources", MapOf(Amount(), NAME_PATTERN, "a resource name"),
              "Dask worker resources it holds while it runs, e.g. {neo4j: 1, memory: 2GB}."),
        _container_field(
            "pull", Choice(_values(PullPolicy)), "Pull policy (default settings.pull)."
        ),
        _container_field("command", Command(), "Container command."),
        _container_field("entrypoint", Command(), "Container entrypoint."),
        _container_field(
            "volumes", VOLUMES, "Volumes: 'host:container[:ro|rw]' or {host: {bind, mode}}."
        ),
        _container_field("labels", MapOf(Text(scalars=True)), "Container labels."),
        _container_field("network_mode", Text(non_empty=True), "Docker network mode."),
        _container_field("user", Text(scalars=True), "User in the container."),
        _container_field("working_dir", Text(), "Working folder in the container."),
        _container_field("cpus", Number(positive=True), "CPU limit."),
        _container_field("memory", MemorySize(), "Memory limit (at least 6m)."),
        _container_field("sidecars", ListOf(SIDECAR, label="name"), "Helper containers."),
        _container_field("registry_auth", REGISTRY_AUTH, "Credentials for a private registry."),
    ),
    exactly_one=KIND_KEYS,
)

GRAPH = Struct(
    (
        Field(
            "uri", Text(GRAPH_URI, "a bolt:// or neo4j:// URI"), "Bolt URI of Neo4j.", required=True
        ),
        Field("user", Text(scalars=True), "User (default neo4j)."),
        Field("password", Text(scalars=True), "Password (secret)."),
        Field("database", Text(non_empty=True), "Database name (default: the server's)."),
        Field("wait", Duration(), "How long to wait for the database (default 60s)."),
    )
)

SETTINGS = Struct(
    (
        Field("max_parallel", Integer(1),
              "Members running at once (default: the CPU count, at least 4)."),
        Field(
            "state",
            StateUrl(STATE_URL, STATE_HINT),
            "State store URL (default: SQLite beside the file).",
        ),
        Field("fail_fast", Boolean(), "Cancel everything on the first failure."),
        Field("network_mode", Text(non_empty=True), "Default network mode of containers."),
        Field("pull", Choice(_values(PullPolicy)), "Default pull policy of containers."),
        Field(
            "handover",
            Choice(_values(Handover)),
            "Default graph variables of members: orecart or motherlode (default orecart).",
        ),
        Field(
            "max_runs",
            Integer(1),
            "Runs at a time per graph target under `orecart serve` (default 1).",
        ),
        Field(
            "trigger_depth",
            Integer(0),
            "How deep a write query's writes fire triggers again (default 5: cycles end).",
        ),
        Field("executor", EXECUTOR,
              "Where members run (default: by kind): e.g. {name: dask, address: "
              "tcp://host:8786}."),
    )
)

SCHEDULE = Struct(
    (
        Field("cron", CronText(non_empty=True), "Cron expression: minute hour day month weekday."),
        Field(
            "every",
            Duration(minimum=SHORTEST_EVERY),
            "Interval, e.g. 10m (ticks at multiples of it since 1970-01-01 UTC; at least 1s).",
        ),
        Field(
            "timezone",
            TimezoneName(non_empty=True),
            "Timezone of the cron expression (default UTC).",
            only_with="cron",
        ),
    ),
    exactly_one=("cron", "every"),
)

GIT_WATCH = Struct(
    (
        Field("remote", Text(non_empty=True), "Any URL git understands (file:// too).",
              required=True),
        Field("refs", Text(non_empty=True), "Refs by glob, e.g. refs/tags/v*: each is a version."),
        Field("branch", Text(non_empty=True), "A branch: each of its new commits is a version."),
    ),
    exactly_one=("refs", "branch"),
)

HTTP_WATCH = Struct(
    (
        Field("url", Text(HTTP_URL, "an http:// or https:// URL"), "The watched URL.",
              required=True),
        Field("headers", MapOf(Text(scalars=True)), "Request headers (e.g. Authorization)."),
    )
)

FILE_WATCH = Struct(
    (
        Field("glob", Text(non_empty=True), "Files by glob, relative to the pipeline file.",
              required=True),
    )
)

SENSOR = Struct(
    (
        Field("name", Text(NAME_PATTERN, NAME_HINT), "Sensor name (in run keys).", required=True),
        Field("git", GIT_WATCH, "Watch a git remote: refs by glob, or a branch's commits."),
        Field("http", HTTP_WATCH, "Watch a URL: its ETag, Last-Modified and content hash."),
        Field("file", FILE_WATCH, "Watch files: a new one, or a changed content hash."),
        Field("every", Duration(minimum=SHORTEST_EVERY),
              "How often `orecart serve` looks (default 1m; at least 1s)."),
        Field("version_pattern", Pattern(non_empty=True),
              "Regex on the ref name, commit subject or file path: params.version is its "
              "first group; what it does not match is no version."),
        Field("latest_only", Boolean(),
              "Of the new versions with one params.version, only the newest runs."),
        Field("retries", Integer(0),
              "Submit a version again this often when its run failed (default 2)."),
        Field("timeout", Duration(), "How long one look may take (default 60s)."),
    ),
    exactly_one=("git", "http", "file"),
)

@dataclass(frozen=True)
class TypeName(Choice):
    """A stored query parameter's type; ``[int]`` (another tool's spelling of a list) is
    told the one spelling orecart reads."""

    def check(self, node: Node, path: str, ctx: Ctx) -> str:
        text = node.value if isinstance(node.value, str) else ""
        if text.startswith("[") and text.endswith("]") and f"list{text}" in self.values:
            raise node.error(path, f"{text!r} is not a type: a list is written list{text}")
        return super().check(node, path, ctx)


#: A Cypher parameter name: what ``$name`` can be without backticks.
PARAM_NAME = r"[A-Za-z_][A-Za-z0-9_]*"

QUERY = Struct(
    (
        Field("name", Text(NAME_PATTERN, NAME_HINT), "Query name (`orecart query FILE NAME`).",
              required=True),
        Field("cypher", Text(non_empty=True),
              "The Cypher; parameters as $name, each declared under params.", required=True),
        Field("params", MapOf(TypeName(TYPE_NAMES), PARAM_NAME, "a Cypher parameter name"),
              "Parameter: type (str, int, float, bool, date, datetime or list[TYPE])."),
        Field("mode", Choice(_values(QueryMode)),
              "read (default: a read transaction) or write."),
        Field("desc", Text(), "What the query does."),
    )
)

BACKUP = Struct(
    (
        Field("before", Boolean(), "Back the graph up before a run."),
        Field("after", Boolean(), "Back the graph up after a successful run."),
        Field("dir", Text(non_empty=True), "Folder of backups (default backups)."),
        Field("keep", Integer(1), "How many backups to keep."),
    )
)

#: An apprise URL: a scheme, ``://`` and something after it (apprise checks the rest when
#: it sends; importing it to check here would cost every load a second).
NOTIFY_URL = r"[A-Za-z][A-Za-z0-9+.-]*://\S+"
_DEFAULT_ON = ", ".join(sorted(NOTIFY_DEFAULT))

NOTIFY = Struct(
    (
        Field(
            "url",
            Text(NOTIFY_URL, "an apprise URL (mailto://, json://, form://, ...)"),
            "Where to send: an apprise URL (mailto://, json://, form://, ...); a secret.",
            required=True,
        ),
        Field(
            "on",
            ListOf(Choice(_values(RunOutcome)), single=True),
            f"Outcomes to send for: {', '.join(_values(RunOutcome))} (default {_DEFAULT_ON}).",
        ),
    )
)

_SHARED = (
    Field("graph", GRAPH, "The target Neo4j database."),
    Field("settings", SETTINGS, "How the pipeline runs."),
    Field("env", _env(), "Environment for every member."),
    Field("env_passthrough", _names(ENV_GLOB_HINT, ENV_GLOB), _PASSTHROUGH_DOC),
    Field(
        "pools", MapOf(Integer(1), NAME_PATTERN, NAME_HINT), "Named limits on concurrent members."
    ),
    Field("hooks", ListOf(Text(DOTTED, "a dotted path like package.module.hook")), "Hook plugins."),
    Field(
        "secrets",
        ListOf(Text(ENV_NAME, "an environment variable name")),
        "Env names that are secret.",
    ),
    Field("checks", ListOf(CHECK), "Cypher checks after the whole pipeline ran."),
    Field(
        "keys",
        MapOf(Text(NAME_PATTERN, "a property name"), NAME_PATTERN, "a label"),
        "Label: key property, for diffs.",
    ),
    Field("backup", BACKUP, "Graph backups around runs."),
    Field("notify", ListOf(NOTIFY), "Notifications of a run's outcome, through apprise."),
)

PROFILE = Struct(
    (
        *_SHARED,
        Field(
            "members",
            MapOf(MEMBER, NAME_PATTERN, NAME_HINT, expand=False),
            "Overlays merged into members, by name.",
        ),
        Field("exclude", _names(), "Members left out of the run."),
    )
)

ROOT = Struct(
    (
        Field("pipeline", Text(NAME_PATTERN, NAME_HINT), "Pipeline name (default: the file name)."),
        Field("schedule", SCHEDULE, "When `orecart serve` submits the pipeline by itself."),
        Field("sensors", ListOf(SENSOR, label="name"),
              "Watched sources: `orecart serve` submits a run for each new version."),
        Field("queries", ListOf(QUERY, label="name"),
              "Stored parameterized queries: `orecart query FILE NAME -p k=v`."),
        Field("triggers", ListOf(TRIGGER, label="name"),
              "Graph patterns: each new matching node or relationship runs a query or a member."),
        *_SHARED,
        Field(
            "profiles",
            MapOf(Partial(PROFILE), NAME_PATTERN, NAME_HINT, expand=False),
            "Named overlays (--profile NAME).",
        ),
        Field("members", ListOf(MEMBER, min_items=1, label="name"), "The loaders.", required=True),
    ),
    extensions=True,
)


def pipeline_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of the native pipeline format."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://orecart.dev/schema/pipeline.json",
        "title": "orecart pipeline",
        "description": "A pipeline file: members (loaders), their needs, and how they run.",
        **ROOT.schema(),
    }
