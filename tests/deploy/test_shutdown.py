"""Graceful shutdown: on SIGTERM the server stops accepting, tells its clients (their transport
closes, so the official client reconnects by itself), and exits within its shutdown timeout.
Here the client reconnects to a second server that took the port over, as it would to another
process behind nginx."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .conftest import CLIENT, STARTUP, ServerProcess


def _next_line(proc: subprocess.Popen[str]) -> dict[str, Any]:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, "the client ended early"
    result: dict[str, Any] = json.loads(line)
    return result


@pytest.mark.parametrize("transport", ["polling", "websocket"])
def test_sigterm_tells_clients_and_they_reconnect_elsewhere(
    transport: str,
    start_server: Callable[..., ServerProcess],
    node: str,
    js_dir: Path,
) -> None:
    first = start_server("--shutdown-timeout", "3")
    options = json.dumps({"transports": [transport]})
    client = subprocess.Popen(
        [node, str(CLIENT), str(js_dir), "reconnect", first.url, options],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert _next_line(client)["event"] == "connected"
        started = time.monotonic()
        assert first.terminate() == 0
        # Well within the shutdown timeout: the client was told at once, nothing waited.
        assert time.monotonic() - started < 3 + STARTUP / 4
        assert _next_line(client) == {"event": "disconnect", "reason": "transport close"}
        second = start_server("--port", str(first.port))
        result = _next_line(client)
        assert result["ok"], result
        ids = result["result"]["ids"]
        assert len(ids) == 2 and ids[0] != ids[1]
        assert result["result"]["whoami"]["transport"] == transport
        assert "shutting down" in first.log
        assert "Traceback" not in first.log + second.log
    finally:
        if client.poll() is None:
            client.kill()
        client.wait(10)
        if client.stdout is not None:
            client.stdout.close()
