"""uvicorn in a thread of the serve process: serve keeps its own SIGTERM/SIGINT handlers
(uvicorn installs none outside the main thread), and serve's stop ends it too."""

from __future__ import annotations

import socket
import threading

import uvicorn

from orecart.errors import UsageError
from orecart.service.served import Served
from orecart.web.app import Notice, create_app

#: how long open streams may go on once serve stops, before uvicorn closes them
GRACE_S = 2


class HttpServer:
    """``start`` binds HOST:PORT here (a taken port is a UsageError, not a dead thread)
    and serves in a thread; ``stop`` ends it and waits."""

    def __init__(self, served: Served, address: tuple[str, int], notice: Notice) -> None:
        self.address, self.notice = address, notice
        config = uvicorn.Config(create_app(served, notice), log_config=None,
                                access_log=False, timeout_graceful_shutdown=GRACE_S,
                                lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        sock = _bind(*self.address)
        host, port = sock.getsockname()[:2]
        self._thread = threading.Thread(target=self._serve, args=(sock,), daemon=True,
                                        name="orecart-http")
        self._thread.start()
        self.notice(f"http: serving the API on http://{_shown(host)}:{port}/api/v1")

    def _serve(self, sock: socket.socket) -> None:
        try:
            self._server.run(sockets=[sock])
        except Exception as exc:  # noqa: BLE001 - the thread's end is reported, not raised
            self.notice(f"error: http: the API server stopped: {exc!r}")

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=GRACE_S + 3)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named: asyncio sets TCP_NODELAY on accepted sockets only when their
    # proto says TCP; with proto 0, Nagle held every response's body for the client's
    # delayed ACK (40 ms a request on a keep-alive connection)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"--http {host}:{port}: cannot listen there: {exc.strerror}") from exc
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _shown(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def parse_address(text: str) -> tuple[str, int]:
    """HOST:PORT (``[::1]:8765`` for IPv6) -> (host, port); UsageError when it is not."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UsageError(f"--http: expected HOST:PORT (e.g. 127.0.0.1:8765), got {text!r}")
    return host, int(port)
