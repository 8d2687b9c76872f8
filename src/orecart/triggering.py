"""The model of graph triggers: what a pipeline's ``triggers:`` declares (a node or
relationship pattern, a mapping from the matched properties to parameters, an action),
a trigger's polling cursor, and the record of one firing.

A trigger fires once per matching element (a node, or a relationship with its two ends):
its mapped property values become the action's parameters, and the action is a stored
query (``orecart.querying``) or a run of this pipeline or one of its members. Firings are
kept in the state store, one per (pipeline, trigger, element); the cursor is the highest
internal id of a node (node pattern) or relationship (relationship pattern) already
looked at, so a poll reads only what was created after it.

Plain frozen dataclasses and enums, beside ``orecart.model`` (which holds a pipeline's
``triggers``); the Cypher of a pattern is ``orecart.graph.patterns``, the tables
``orecart.stores``, the evaluation ``orecart.service.triggering``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

#: The run key prefix of a run a trigger asks for: ``trigger:<trigger>:<element id>``.
KEY_PREFIX = "trigger"

Scalar = str | int | float | bool


class TriggerKind(StrEnum):
    NODE = "node"
    RELATIONSHIP = "relationship"


class Part(StrEnum):
    """Where in a pattern a property is read: the node of a node pattern, or the start,
    the relationship or the end of a relationship pattern."""

    NODE = "node"
    START = "start"
    RELATIONSHIP = "relationship"
    END = "end"


@dataclass(frozen=True)
class Match:
    """One part of a pattern. ``name`` is a label (a node, a relationship's ends) or a
    relationship type, None for any; ``where`` are equality conditions on its properties
    (literal values); ``properties`` maps a property to the parameter it gives."""

    name: str | None = None
    where: Mapping[str, Scalar] = field(default_factory=dict)
    properties: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class QueryAction:
    """Run the stored query ``query`` of this pipeline with the mapped parameters."""

    query: str


@dataclass(frozen=True)
class RunAction:
    """Submit a run of this pipeline with the mapped parameters as its params: the whole
    pipeline (``member`` None) or that member alone."""

    member: str | None = None


Action = QueryAction | RunAction


@dataclass(frozen=True)
class Trigger:
    """One entry of ``triggers:``. A node trigger has ``node``; a relationship trigger has
    ``start``, ``relationship`` (its ``name`` the type) and ``end``."""

    name: str
    kind: TriggerKind
    action: Action
    node: Match | None = None
    start: Match | None = None
    relationship: Match | None = None
    end: Match | None = None
    every: float = 10.0  # seconds between polls under `orecart serve`
    retries: int = 2  # a failed action is tried again this often, then the firing failed
    retry_delay: float = 5.0  # seconds before the first retry, doubled for each next one

    @property
    def parts(self) -> tuple[tuple[Part, Match], ...]:
        """The pattern's parts in order, those the kind has."""
        if self.kind is TriggerKind.NODE:
            return ((Part.NODE, self.node or Match()),)
        return ((Part.START, self.start or Match()),
                (Part.RELATIONSHIP, self.relationship or Match()),
                (Part.END, self.end or Match()))

    @property
    def mapping(self) -> tuple[tuple[Part, str, str], ...]:
        """Every (part, property, parameter) the action receives, in file order."""
        return tuple((part, prop, param) for part, match in self.parts
                     for prop, param in match.properties.items())

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(param for _, _, param in self.mapping)


def run_key(trigger: str, element_id: str) -> str:
    """The run key of a run action's firing: ``trigger:<trigger>:<element id>``, ending in
    a digest of its tail when longer than a run key may be (200)."""
    key = f"{KEY_PREFIX}:{trigger}:{element_id}"
    if len(key) <= 200:
        return key
    return f"{key[:135]}~{hashlib.sha256(key.encode()).hexdigest()}"


def params_key(values: Mapping[str, Any]) -> str:
    """A digest of a firing's parameter values (canonical JSON): after a restore, a match
    whose values equal a forgotten firing's takes that firing over instead of firing again."""
    text = json.dumps(values, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class FiringStatus(StrEnum):
    RUNNING = "running"  # its action is being carried out (by ``owner``)
    WAITING = "waiting"  # its last attempt failed; it is tried again at ``next_at``
    SUCCEEDED = "succeeded"  # the query ran / the run was queued (``run_id``)
    FAILED = "failed"  # every attempt failed, or the element no longer matches
    FORGOTTEN = "forgotten"  # a restore took its element away; kept, status too, till the sweep


@dataclass(frozen=True)
class Firing:
    """One firing as the state store keeps it. ``element`` is the element's internal id
    (None once a restore made it unknown), ``element_id`` its elementId; ``params`` are
    the values as JSON with secret ones masked; ``origin`` says who polled (``run``,
    ``serve``, ``tick``); ``depth`` counts firings that led here within one evaluation."""

    pipeline: str
    trigger: str
    element: int | None
    element_id: str
    params: Mapping[str, Any] = field(default_factory=dict)
    params_key: str = ""
    status: FiringStatus = FiringStatus.RUNNING
    attempts: int = 1
    error: str | None = None
    run_id: str | None = None  # a run action's run
    origin: str = "serve"
    depth: int = 0
    owner: str | None = None  # the process carrying out the current attempt
    created_at: datetime | None = None
    started_at: datetime | None = None  # the current attempt's start
    ended_at: datetime | None = None
    next_at: datetime | None = None  # when a waiting firing is tried again
    id: int | None = None


@dataclass(frozen=True)
class TriggerCursor:
    """What the store keeps of one trigger between polls: the highest internal id looked
    at, the last poll that answered, its error (None: it answered)."""

    pipeline: str
    trigger: str
    position: int = -1
    polled_at: datetime | None = None
    error: str | None = None
    error_at: datetime | None = None
