"""A hook module everything.yaml names as ``orecart_hooks.slack:notify``."""

from __future__ import annotations


def notify() -> None:
    """Stands in for a real notifier."""
