"""The web UI's files (``web/ui/``: index.html, plain ES modules, CSS), served at ``/`` by
the API's own process: no build step, no CDN, nothing fetched from elsewhere."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

FILES = Path(__file__).with_name("ui")


def mount(app: FastAPI) -> None:
    """Serve the UI at ``/``; mounted last, so every API route is matched first."""
    app.mount("/", StaticFiles(directory=FILES, html=True), name="ui")
