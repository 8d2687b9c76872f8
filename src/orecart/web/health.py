"""``/healthz`` (no token: a load balancer's probe) and ``/metrics`` (Prometheus text)."""

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
    return Health(status="stopping" if served.stopping else "ok")


@router.get("/metrics", dependencies=[READ], response_class=Response, responses={
    200: {"content": {"text/plain": {"schema": {"type": "string"}}},
          "description": "the Prometheus text format"}})
def metrics(request: Request) -> Response:
    return PlainTextResponse(exposition(served_of(request).metrics()))


def exposition(metrics: Metrics) -> str:
    """The Prometheus text format (version 0.0.4) of ``metrics``."""
    lines = ["# HELP orecart_runs Runs in the state store, by status.",
             "# TYPE orecart_runs gauge"]
    lines += [f'orecart_runs{{status="{s}"}} {n}' for s, n in metrics.runs_by_status.items()]
    lines += ["# HELP orecart_queue_length Runs waiting to start.",
              "# TYPE orecart_queue_length gauge", f"orecart_queue_length {metrics.queued}",
              "# HELP orecart_running Runs this serve executes now.",
              "# TYPE orecart_running gauge", f"orecart_running {metrics.running}",
              "# HELP orecart_member_runs Member runs in the state store, by status.",
              "# TYPE orecart_member_runs gauge"]
    lines += [f'orecart_member_runs{{status="{s}"}} {n}'
              for s, n in sorted(metrics.member_runs.items())]
    return "\n".join(lines) + "\n"
