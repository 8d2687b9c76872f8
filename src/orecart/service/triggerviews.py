"""What ``orecart triggers`` shows of a pipeline's triggers: each one's pattern in one
line, its action, its cursor (position, last poll, error) and its firings by status."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from orecart.model import Pipeline
from orecart.secrets import Redactor, known_secrets
from orecart.stores import StateStore
from orecart.triggering import Match, QueryAction, Trigger, TriggerCursor, TriggerKind


@dataclass(frozen=True)
class TriggerView:
    trigger: Trigger
    cursor: TriggerCursor
    firings: dict[str, int] = field(default_factory=dict)  # status -> how many
    #: masks the pipeline's secrets in what is shown (a ``where`` value may be a ${VAR})
    redact: Callable[[str], str] = field(default=str, compare=False)

    @property
    def pattern(self) -> str:
        return pattern_line(self.trigger, self.redact)

    @property
    def action(self) -> str:
        return action_line(self.trigger)


def trigger_views(pipeline: Pipeline, store: StateStore) -> list[TriggerView]:
    """Every declared trigger of ``pipeline`` in file order, with what the store holds."""
    cursors = {c.trigger: c for c in store.trigger_cursors(pipeline.name)}
    counts = store.firing_counts(pipeline.name)
    redact = Redactor(known_secrets(pipeline))
    return [TriggerView(t, cursors.get(t.name, TriggerCursor(pipeline.name, t.name)),
                        dict(counts.get(t.name, {})), redact) for t in pipeline.triggers]


def pattern_line(trigger: Trigger, redact: Callable[[str], str] = str) -> str:
    """``(:Label {k: v})`` or ``(:A)-[:TYPE]->(:B)``, mapped properties as ``prop->param``;
    ``where`` values through ``redact`` (the pipeline's secrets masked)."""
    if trigger.kind is TriggerKind.NODE:
        return f"({_part(trigger.node, redact)})"
    return (f"({_part(trigger.start, redact)})-[{_part(trigger.relationship, redact)}]->"
            f"({_part(trigger.end, redact)})")


def _part(match: Match | None, redact: Callable[[str], str]) -> str:
    match = match or Match()
    terms = [f"{k}: {redact(repr(v))}" for k, v in match.where.items()]
    terms += [f"{prop}->{param}" for prop, param in match.properties.items()]
    name = f":{match.name}" if match.name else ""
    return f"{name} {{{', '.join(terms)}}}" if terms else name


def action_line(trigger: Trigger) -> str:
    action = trigger.action
    if isinstance(action, QueryAction):
        return f"query {action.query}"
    return f"run {action.member}" if action.member else "run pipeline"
