"""Run an ASGI app under a real ASGI server (uvicorn or hypercorn) in a background thread.

The server gets its own thread and event loop, as it would in production; the tests talk to
it over 127.0.0.1 with aiohttp from the test's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

STARTUP_TIMEOUT = 20.0


@contextlib.contextmanager
def run_uvicorn(app: Any, **options: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1, port 0; yield its base URL."""
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(STARTUP_TIMEOUT)


@contextlib.contextmanager
def run_hypercorn(app: Any) -> Iterator[str]:
    """Serve ``app`` with hypercorn on 127.0.0.1, port 0; yield its base URL."""
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    # Hypercorn reports no bound port, so it gets a socket bound here (port 0) by its fd.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = Config()
    config.bind = [f"fd://{sock.detach()}"]
    config.accesslog = None
    config.errorlog = None
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    started = threading.Event()

    async def main() -> None:
        # Serving begins within the first turns of the loop; the first request retries.
        loop.call_soon(started.set)
        await serve(app, config, shutdown_trigger=stop.wait)  # type: ignore[arg-type]

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    try:
        started.wait(STARTUP_TIMEOUT)
        _wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(STARTUP_TIMEOUT)
        loop.close()


def _wait_for_port(port: int) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)
