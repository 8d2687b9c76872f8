"""The FastAPI application of ``serve --http``: its routes under ``/api/v1``, errors as
JSON ``{error}`` with their codes (never a traceback), one access-log line per request
through serve's log (the path only: a query string may hold a secret)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orecart.errors import (
    ConflictError,
    ExecutorError,
    GraphError,
    LockedError,
    NotFoundError,
    OrecartError,
    SelectionError,
    SensorError,
    SpecError,
    StateError,
    UsageError,
)
from orecart.service.served import Served
from orecart.service.tools import orecart_version
from orecart.web import events, health, outputs, pipelines, runs, static, watching
from orecart.web.schemas import Error

PREFIX = "/api/v1"
Notice = Callable[[str], None]

#: the errors every route may answer, documented once (schemathesis holds us to them)
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": Error, "description": why} for code, why in (
        (400, "a body that is not JSON"), (401, "no bearer token, or an unknown one"),
        (403, "the token's scope is too low"),
        (404, "no such run, member or pipeline"), (409, "the run's state forbids it"),
        (422, "a bad body or query"),
        (503, "the state store, graph, executor or a sensor's source is unavailable"))}

#: OrecartError classes to HTTP codes, most specific first
_CODES: tuple[tuple[type[OrecartError], int], ...] = (
    (NotFoundError, 404), (LockedError, 409), (ConflictError, 409), (SpecError, 422),
    (SelectionError, 422), (UsageError, 422), (StateError, 503), (GraphError, 503),
    (ExecutorError, 503), (SensorError, 503))


def create_app(served: Served, notice: Notice) -> FastAPI:
    app = FastAPI(title="orecart", version=orecart_version(),
                  description="Run, follow and browse orecart pipelines.")
    app.state.served = served
    for router in (runs.router, events.router, outputs.router, pipelines.router,
                   watching.router, health.router):
        app.include_router(router, prefix=PREFIX, responses=ERRORS)
    app.include_router(health.router, include_in_schema=False)  # /healthz, /metrics
    static.mount(app)  # last: the API's routes come first
    _errors(app, notice)
    app.add_middleware(AccessLog, notice=notice)
    return app


def _errors(app: FastAPI, notice: Notice) -> None:
    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # every method of the path, not just one route's
            headers["Allow"] = ", ".join(allowed(request))
        return JSONResponse({"error": str(exc.detail)}, exc.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        return JSONResponse({"error": invalid(exc)}, 422)

    @app.exception_handler(OrecartError)
    async def refused(request: Request, exc: OrecartError) -> Response:
        code = next((c for kind, c in _CODES if isinstance(exc, kind)), 500)
        if code >= 500:
            notice(f"error: http {request.method} {request.url.path}: {exc}")
        return JSONResponse({"error": str(exc)}, code)

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> Response:
        notice(f"error: http {request.method} {request.url.path}: internal error {exc!r}")
        return JSONResponse({"error": "internal error (see the serve log)"}, 500)


def allowed(request: Request) -> list[str]:
    """The methods some route of the request's path answers."""
    methods: set[str] = set()
    for route in request.app.routes:
        if isinstance(route, APIRoute) and route.path_regex.match(request.url.path):
            methods |= route.methods or set()
    return sorted(methods)


def invalid(exc: RequestValidationError) -> str:
    """Where the request is wrong and why, never the values it held (a secret may be one)."""
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ()))
        problems.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(problems) or "invalid request"


class AccessLog:
    """One serve-log line per request: method, path (never the query string), status and
    time. Plain ASGI: Starlette's ``BaseHTTPMiddleware`` costs a task per request."""

    def __init__(self, app: ASGIApp, notice: Notice) -> None:
        self.app, self.notice = app, notice

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), [500]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                took = (time.perf_counter() - started) * 1000
                self.notice(f"http {scope['method']} {scope['path']} {status[0]} "
                            f"{took:.0f}ms")
            await send(message)

        await self.app(scope, receive, sending)
