"""Fixtures for the demo site's tests: the site on 127.0.0.1, and real Chromium to open it.

The browser tests drive the system's Chromium (``/usr/bin/chromium``, which ``make test``
installs with apt-get when it is missing) through Playwright's Python package. The pages load
the official client that turbosio serves from tests/js/node_modules (``make js``). When either
is missing the browser tests are skipped with a loud reason; under ``CI=true`` they fail.

One browser serves the whole package (its event loop is the package's); each test opens its
pages in fresh browser contexts, as separate visitors would.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from turbosio.demo import create_server

TESTS_DIR = Path(__file__).resolve().parent.parent
CLIENT_DIST = TESTS_DIR / "js" / "node_modules" / "socket.io-client" / "dist"
CHROMIUM = Path("/usr/bin/chromium")
#: Where the tests save their screenshots (gitignored).
ARTIFACTS = TESTS_DIR / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

#: The transports the pages are asked to use: the default (polling, then the upgrade to
#: WebSocket) and long-polling only (``?transport=polling``).
TRANSPORTS = ("default", "polling")

OpenPage = Callable[..., Awaitable[Any]]


def _missing_browser() -> str | None:
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "the playwright package is missing (make install)"
    if not CHROMIUM.is_file():
        return f"{CHROMIUM} is missing (make test installs it: apt-get install -y chromium)"
    if not (CLIENT_DIST / "socket.io.js").is_file():
        return "tests/js/node_modules/socket.io-client is missing (run `make js`)"
    return None


def pytest_report_header() -> str:
    """Say up front whether the browser tests can run, so a skip is never silent."""
    missing = _missing_browser()
    return f"browser: {'MISSING: ' + missing if missing else f'{CHROMIUM} via playwright'}"


@pytest_asyncio.fixture(scope="package", loop_scope="package")
async def browser() -> AsyncIterator[Any]:
    """Chromium, launched once for the package; skipped loudly (failed under CI) if absent."""
    missing = _missing_browser()
    if missing is not None:
        message = f"!!! browser tests unavailable: {missing}; these tests did NOT run"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (CI=true: this is an error)", pytrace=False)
        pytest.skip(message)
    from playwright.async_api import async_playwright

    async with async_playwright() as driver:
        chromium = await driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    """ "default" or "polling": what the pages ask the client for."""
    return str(request.param)


@pytest_asyncio.fixture(loop_scope="package")
async def site_url() -> AsyncIterator[str]:
    """A fresh demo site (short quiz pauses, a fast dashboard) on 127.0.0.1, port 0."""
    # The reveal lasts long enough for the quiz test to read both pages before the next
    # question clears it, even on a busy machine.
    sio = create_server(
        question_seconds=20, reveal_seconds=1.5, metrics_interval=0.25, client_dir=CLIENT_DIST
    )
    handle = await sio.serve(host="127.0.0.1", port=0)
    try:
        yield handle.url
    finally:
        await handle.close(timeout=2)


@pytest_asyncio.fixture(loop_scope="package")
async def open_page(browser: Any, site_url: str, transport: str) -> AsyncIterator[OpenPage]:
    """``await open_page("/chat")``: a page in a new browser context (a separate visitor).

    The page asks for ``transport``; any JavaScript error on it fails the test.
    """
    contexts: list[Any] = []
    errors: list[str] = []

    async def open_(path: str, width: int = 1100, height: int = 680) -> Any:
        context = await browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        page = await context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        query = "" if transport == "default" else f"?transport={transport}"
        await page.goto(site_url + path + query)
        return page

    try:
        yield open_
    finally:
        for context in contexts:
            await context.close()
    assert not errors, f"JavaScript errors on the pages: {errors}"


async def screenshot(page: Any, name: str) -> Path:
    """Save ``page`` as tests/artifacts/demo-<name>.png (docs/img holds copies of some)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"demo-{name}.png"
    await page.screenshot(path=str(path))
    return path
