"""``/healthz`` (no token: a load balancer's probe; it names no pipeline, only how many
kinds of work this serve leads) and ``/metrics`` (Prometheus text, read scope: the kinds
led, by name)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse

from orecart.service.served import Metrics
from orecart.web.auth import READ, served_of
from orecart.web.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
def healthz(request: Request) -> Health:
    served = served_of(request)
    return Health(status="stopping" if served.stopping else "ok",
                  leading=len(served.leads))


@router.get("/metrics", dependencies=[READ], response_class=Response, responses={
    200: {"content": {"text/plain": {"schema": {"type": "string"}}},
          "description": "the Prometheus text format"}})
def metrics(request: Request) -> Response:
    return PlainTextResponse(exposition(served_of(request).metrics()),
                             media_type="text/plain; version=0.0.4")


def exposition(metrics: Metrics) -> str:
    """The Prometheus text format (version 0.0.4) of ``metrics``."""
    lines = _family("orecart_runs", "Runs in the state store, by status.",
                    {(("status", s),): n for s, n in metrics.runs_by_status.items()})
    lines += _family("orecart_pipeline_runs", "Runs in the state store, by pipeline and "
                     "status.", {(("pipeline", p), ("status", s)): n
                                 for (p, s), n in sorted(metrics.runs_by_pipeline.items())})
    lines += _family("orecart_queue_length", "Runs waiting to start.", {(): metrics.queued})
    lines += _family("orecart_running", "Runs this serve executes now.", {(): metrics.running})
    lines += _family("orecart_leads", "Kinds of work this serve leads among the serves "
                     "of its store (recovery, each pipeline's schedule, sensors and "
                     "triggers), 1 by kind.", {(("kind", k),): 1 for k in metrics.leads})
    lines += _family("orecart_member_runs", "Member runs in the state store, by status.",
                     _by_status(metrics.member_runs))
    lines += _family("orecart_callback_deliveries", "Callback deliveries, by status.",
                     _by_status(metrics.deliveries))
    lines += _family("orecart_trigger_firings", "Trigger firings, by status.",
                     _by_status(metrics.firings))
    return "\n".join(lines) + "\n"


Labels = tuple[tuple[str, str], ...]


def _by_status(counts: dict[str, int]) -> dict[Labels, int]:
    return {(("status", s),): n for s, n in sorted(counts.items())}


def _family(name: str, help_text: str, samples: dict[Labels, int]) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
    for labels, value in samples.items():
        shown = ",".join(f'{k}="{_escaped(v)}"' for k, v in labels)
        lines.append(f"{name}{{{shown}}} {value}" if shown else f"{name} {value}")
    return lines


def _escaped(value: str) -> str:
    """A label value as the text format writes it (a pipeline name is free text)."""
    return value.replace("\\", "\\\\").replace("\"", '\\"').replace("\n", "\\n")
