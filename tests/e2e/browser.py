"""Debian's Chromium driven by Playwright for Python (never ``playwright install``: browsers come from
apt), with a guard that fails the test when the page asks for anything outside 127.0.0.1."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(__file__).parent / "vendor" / "axe.min.js"  # axe-core 4.14.1 (MPL-2.0), for the audit only
LOCAL_HOSTS = {"127.0.0.1"}


def chromium_path() -> Path:
    found = CHROMIUM if CHROMIUM.exists() else shutil.which("chromium")
    if found is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it with apt)")
    return Path(found)


class OffHostGuard:
    """Routes every request of a context: anything not on 127.0.0.1 is aborted and remembered."""

    def __init__(self) -> None:
        self.refused: list[str] = []

    def __call__(self, route, request) -> None:  # playwright's (Route, Request)
        parts = urlsplit(request.url)
        if parts.scheme in {"http", "https", "ws", "wss"} and parts.hostname not in LOCAL_HOSTS:
            self.refused.append(request.url)
            route.abort()
        else:
            route.continue_()


@contextmanager
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(chromium_path()), args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield launched
        finally:
            launched.close()


def serious_violations(page) -> list[dict]:
    """axe-core's serious and critical findings on the page as it is now."""
    page.evaluate(AXE.read_text())  # evaluated by the browser's devtools, which the page's CSP allows
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
        if v["impact"] in {"serious", "critical"}
    ]
