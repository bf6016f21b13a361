"""The seed's page in real Chromium: it loads socket.io-client 4.5.4 with a script tag,
connects with ``io.connect(url)``, emits, and shows the broadcast response.

The client script comes from tests/js/node_modules (tests have no internet), served by a
Flask route of the test app, which is the seed's app plus that route and the page. Chromium
is the system's (``/usr/bin/chromium``, installed by ``make test`` when missing), driven by
Playwright's Python package; without them these tests are skipped loudly (failed under CI).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from conftest import Serve
from flask import Flask, send_file
from turbosio.flask import SocketIO, emit

pytestmark = pytest.mark.timeout(90)

TESTS_DIR = Path(__file__).resolve().parent.parent
CLIENT_SCRIPT = TESTS_DIR / "js" / "node_modules" / "socket.io-client-454" / "dist"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

#: The seed's page: the CDN script tag pointed at the local copy, io.connect to the server.
PAGE = """<!doctype html>
<html>
  <body>
    <ul id="log"></ul>
    <script src="/js/socket.io.min.js"></script>
    <script>
      const socket = io.connect("%(url)s", %(options)s);
      socket.on("connect", () => socket.send("%(name)s says hi"));
      socket.on("response", (data) => {
        const item = document.createElement("li");
        item.textContent = data.msg;
        document.getElementById("log").appendChild(item);
      });
    </script>
  </body>
</html>
"""


def _missing_browser() -> str | None:
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "the playwright package is missing (make install)"
    if not CHROMIUM.is_file():
        return f"{CHROMIUM} is missing (make test installs it: apt-get install -y chromium)"
    if not (CLIENT_SCRIPT / "socket.io.min.js").is_file():
        return "tests/js/node_modules/socket.io-client-454 is missing (run `make js`)"
    return None


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """Chromium; skipped loudly (failed under CI=true) when it cannot run."""
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


def seed_app() -> tuple[Flask, SocketIO, dict[str, str]]:
    """The seed's app, plus the page and the client script."""
    app = Flask(__name__)
    socketio = SocketIO(app)
    page_vars: dict[str, str] = {}

    @socketio.on("message")
    def handle_message(data: Any) -> None:
        emit("response", {"msg": data}, broadcast=True)

    @app.route("/page/<name>")
    def page(name: str) -> str:
        return PAGE % {**page_vars, "name": name}

    @app.route("/js/socket.io.min.js")
    def client_script() -> Any:
        return send_file(CLIENT_SCRIPT / "socket.io.min.js", mimetype="application/javascript")

    return app, socketio, page_vars


@pytest.mark.parametrize("transport", ["default", "polling"])
async def test_seed_page_in_chromium(browser: Any, serve: Serve, transport: str) -> None:
    """Two visitors, one after the other: each page connects and emits, and every page shows
    the broadcasts made while it is connected."""
    app, socketio, page_vars = seed_app()
    handle = await serve(socketio, app)
    # The seed's page says io.connect("http://localhost:5000"); only the port differs.
    page_vars["url"] = f"http://localhost:{handle.port}"
    page_vars["options"] = "{}" if transport == "default" else '{transports: ["polling"]}'
    pages = {}
    for name in ("ana", "bob"):
        context = await browser.new_context()
        page = await context.new_page()
        await page.goto(f"http://localhost:{handle.port}/page/{name}")
        # Its own message, broadcast back to it: it is connected.
        await page.wait_for_selector(f"#log li:text('{name} says hi')")
        pages[name] = page
    await pages["ana"].evaluate("socket.send('ana again')")
    expected = {
        "ana": ["ana says hi", "bob says hi", "ana again"],
        "bob": ["bob says hi", "ana again"],
    }
    for name, page in pages.items():
        count = len(expected[name])
        await page.wait_for_function(f"document.querySelectorAll('#log li').length >= {count}")
        lines = await page.eval_on_selector_all("#log li", "items => items.map(i => i.textContent)")
        assert lines == expected[name]
        used = await page.evaluate("socket.io.engine.transport.name")
        assert used == ("polling" if transport == "polling" else "websocket")
    for page in pages.values():
        await page.context.close()
