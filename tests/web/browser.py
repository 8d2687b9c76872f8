"""Headless Debian Chromium driven by Playwright's sync API (its own browser download is
not used: ``/usr/bin/chromium``). A missing Chromium fails the test, it never skips."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
#: screenshots the UI tests keep (gitignored)
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ui"


@contextmanager
def chromium() -> Iterator[Browser]:
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: bash scripts/setup.d/60-browser.sh"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                             args=["--no-sandbox"], headless=True)
        try:
            yield browser
        finally:
            browser.close()
