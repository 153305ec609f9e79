"""Tier `ui`: Swagger UI. test_swagger_ui_page.py checks each page in-process (in `make test-fast`);
test_swagger_ui_browser.py drives headless Chromium against a live server (`live`: `make test`,
`make ui-check`).

Headless Chromium (Debian's `chromium` package, `make ui-deps`) driven by Playwright, and a live server.

Playwright is only the driver: it is launched on the system Chromium and never downloads a browser. Without
Chromium or Playwright the browser tests are skipped with the reason, except with CI=true, where they must run.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from tests.live_server import live_server

# Headless on a closed network as root: no sandbox (root), no GPU, and nothing that phones home. Playwright
# gives every launch a fresh temporary profile (its own --user-data-dir).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Long enough for a loaded CI machine, short enough that a broken page fails in seconds, not minutes.
UI_TIMEOUT_MS = 20_000


def chromium_executable() -> str:
    executable = shutil.which("chromium")
    missing = [
        what
        for what, present in (
            ("Debian's chromium package", executable),
            ("the playwright Python package", importlib.util.find_spec("playwright")),
        )
        if not present
    ]
    if not missing:
        return executable
    message = f"not installed: {', '.join(missing)} (`make ui-deps` installs them for the browser tests)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    executable = chromium_executable()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class WatchedPage:
    """A page and what went wrong in it: uncaught script errors, console errors (CSP refusals among
    them), requests that got no response."""

    page: object
    problems: list[str] = field(default_factory=list)


@pytest.fixture
def watched(browser) -> Iterator[WatchedPage]:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    watched = WatchedPage(page)
    problems = watched.problems
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    page.on("console", lambda message: message.type == "error" and problems.append(f"console: {message.text}"))
    page.on("requestfailed", lambda request: problems.append(f"failed: {request.url} {request.failure}"))
    try:
        yield watched
    finally:
        context.close()


@pytest.fixture(scope="module")
def ui_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`tmfserver serve` on the test database; yields its origin (http://127.0.0.1:PORT)."""
    chromium_executable()  # no server start when the browser tests cannot run
    env = {"TMF_LOG_LEVEL": "WARNING", "TMF_BACKGROUND_WORKERS": "false"}
    with live_server(database_url, tmp_path_factory.mktemp("ui") / "server.log", env=env) as origin:
        yield origin
