"""Real sources for sensor tests: a bare git repository made here (commits, tags, pushes,
force-pushes, deleted tags) reached over file://, and a local HTTP server whose file,
ETag and manners the test changes while it serves."""

from __future__ import annotations

import http.server
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path


class GitSource:
    """A bare repository ``remote`` and a clone ``work`` that pushes to it."""

    def __init__(self, folder: Path) -> None:
        self.bare = folder / "source.git"
        self.work = folder / "work"
        self._clock = 1_600_000_000
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(self.bare)], check=True)
        subprocess.run(["git", "init", "-q", "-b", "main", str(self.work)], check=True)
        self.git("remote", "add", "origin", str(self.bare))

    @property
    def url(self) -> str:
        return self.bare.as_uri()

    def git(self, *args: str) -> str:
        self._clock += 60  # each commit and tag a minute later: dates order them
        stamp = f"@{self._clock} +0000"
        env = {**os.environ, "GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp,
               "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
               "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}
        done = subprocess.run(["git", "-C", str(self.work), *args], env=env, check=True,
                              capture_output=True, text=True)
        return done.stdout.strip()

    def commit(self, subject: str) -> str:
        (self.work / "data.txt").write_text(f"{subject} {self._clock}\n")  # never empty
        self.git("add", "data.txt")
        self.git("commit", "-q", "-m", subject)
        return self.git("rev-parse", "HEAD")

    def tag(self, name: str, annotated: bool = False) -> None:
        self.git("tag", *(["-a", "-m", name] if annotated else []), name)

    def push(self, force: bool = False) -> None:
        self.git("push", "-q", *(["--force"] if force else []), "origin", "HEAD:main", "--tags")

    def delete_tag(self, name: str) -> None:
        self.git("tag", "-d", name)
        self.git("push", "-q", "origin", f":refs/tags/{name}")


@dataclass
class Served:
    """What the HTTP server answers: ``body`` with ``etag``; ``delay`` before answering."""

    body: bytes = b"a,b\n1,2\n"
    etag: str | None = '"v1"'
    delay: float = 0.0
    status: int = 200
    requests: list[dict[str, str]] = field(default_factory=list)


@contextmanager
def http_source(served: Served) -> Iterator[str]:
    """A local HTTP server for ``served``; the URL of its file."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            served.requests.append(dict(self.headers))
            time.sleep(served.delay)
            if served.status != 200:
                self.send_error(served.status)
                return
            if served.etag and self.headers.get("If-None-Match") == served.etag:
                self.send_response(304)
                self.end_headers()
                return
            self.send_response(200)
            if served.etag:
                self.send_header("ETag", served.etag)
            self.send_header("Content-Length", str(len(served.body)))
            self.end_headers()
            self.wfile.write(served.body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    class Server(http.server.ThreadingHTTPServer):
        def handle_error(self, request: object, client_address: object) -> None:
            pass  # a client that gave up (the timeout tests) closed its end: expected

    server = Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/data.csv"
    finally:
        server.shutdown()
        server.server_close()
