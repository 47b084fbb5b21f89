"""Playwright with Debian's chromium against pytest-django's live_server.

One browser per session; a fresh context per test. The `page` fixture fails
the test on any console error, which is where CSP violations show up.
"""

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

# Playwright's sync API runs an event loop in this thread; the live server's
# database access from the test thread is still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
ROOT = Path(__file__).resolve().parents[2]
AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's 'chromium' package (make test does).")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session", autouse=True)
def one_request_at_a_time_on_a_shared_connection(django_db_setup: None) -> Iterator[None]:
    """On SQLite's in-memory test database Django's live server hands every request thread
    the one connection the tests hold (connections_override), and sqlite3 shares its prepared
    statements per connection: two requests at once (two pages of one test) read each other's
    rows, a 500 on /form/close/ in one CI run (IndexError in the ORM's row converters). A
    server's threads each open their own connection; here they take turns on the shared one.
    Django's test client runs no WSGIHandler, so only the live server waits."""
    from django.core.handlers.wsgi import WSGIHandler
    from django.db import connections
    from django.db.backends.sqlite3.base import DatabaseWrapper

    default = connections["default"]
    if not (isinstance(default, DatabaseWrapper) and default.is_in_memory_db()):
        yield
        return
    turn = threading.Lock()
    serve = WSGIHandler.__call__

    def in_turn(self: WSGIHandler, environ: Any, start_response: Any) -> Any:
        with turn:
            return serve(self, environ, start_response)

    WSGIHandler.__call__ = in_turn  # type: ignore[method-assign]
    try:
        yield
    finally:
        WSGIHandler.__call__ = serve  # type: ignore[method-assign]


@pytest.fixture
def console_errors() -> list[str]:
    return []


@pytest.fixture
def page(browser: Browser, live_server: Any, console_errors: list[str]) -> Iterator[Page]:
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            console_errors.append(f"{page.url}: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: console_errors.append(f"{page.url}: {error}"))
    yield page
    context.close()
    if console_errors:
        pytest.fail("Console errors:\n" + "\n".join(console_errors))


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot under test-artifacts/screenshots/ and return its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def run_axe(page: Page) -> list[dict[str, Any]]:
    """Run the vendored axe-core on the page; return its serious and critical violations."""
    # Evaluated through the DevTools protocol: a <script> tag would (rightly) be
    # blocked by the page's CSP and reported as a console error.
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))
    result: dict[str, Any] = page.evaluate("axe.run()")
    return [v for v in result["violations"] if v["impact"] in {"serious", "critical"}]


def describe(violations: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"{v['impact']}: {v['id']}: {v['help']} ({len(v['nodes'])} element(s), "
        f"e.g. {v['nodes'][0]['target']})"
        for v in violations
    )
