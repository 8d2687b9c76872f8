"""What ``orecart triggers`` shows of a pipeline's triggers: each one's pattern in one
line, its action, its cursor (position, last poll, error) and its firings by status."""

from __future__ import annotations

from dataclasses import dataclass, field

from orecart.model import Pipeline
from orecart.stores import StateStore
from orecart.triggering import Match, QueryAction, Trigger, TriggerCursor, TriggerKind


@dataclass(frozen=True)
class TriggerView:
    trigger: Trigger
    cursor: TriggerCursor
    firings: dict[str, int] = field(default_factory=dict)  # status -> how many

    @property
    def pattern(self) -> str:
        return pattern_line(self.trigger)

    @property
    def action(self) -> str:
        return action_line(self.trigger)


def trigger_views(pipeline: Pipeline, store: StateStore) -> list[TriggerView]:
    """Every declared trigger of ``pipeline`` in file order, with what the store holds."""
    cursors = {c.trigger: c for c in store.trigger_cursors(pipeline.name)}
    counts = store.firing_counts(pipeline.name)
    return [TriggerView(t, cursors.get(t.name, TriggerCursor(pipeline.name, t.name)),
                        counts.get(t.name, {})) for t in pipeline.triggers]


def pattern_line(trigger: Trigger) -> str:
    """``(:Label {k: v})`` or ``(:A)-[:TYPE]->(:B)``, mapped properties as ``prop->param``."""
    if trigger.kind is TriggerKind.NODE:
        return f"({_part(trigger.node)})"
    return (f"({_part(trigger.start)})-[{_part(trigger.relationship)}]->"
            f"({_part(trigger.end)})")


def _part(match: Match | None) -> str:
    match = match or Match()
    terms = [f"{k}: {v!r}" for k, v in match.where.items()]
    terms += [f"{prop}->{param}" for prop, param in match.properties.items()]
    name = f":{match.name}" if match.name else ""
    return f"{name} {{{', '.join(terms)}}}" if terms else name


def action_line(trigger: Trigger) -> str:
    action = trigger.action
    if isinstance(action, QueryAction):
        return f"query {action.query}"
    return f"run {action.member}" if action.member else "run pipeline"
