"""Fixtures of the Flask integration's tests: a fresh app per test, a server on port 0, a
wire-level WebSocket client, and the official JavaScript client (clients.cjs).

tests/flask has no ``__init__.py`` on purpose: with one, ``import flask`` in the tests would
find this directory before the real Flask.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from flask import Flask
from turbosio.flask import SocketIO

HERE = Path(__file__).resolve().parent
CLIENTS_SCRIPT = HERE / "clients.cjs"
#: How long one wait may take; far above what a working server needs.
TIMEOUT = 10.0


@pytest.fixture
def app() -> Flask:
    """A Flask app with a secret key (so the cookie session works)."""
    flask_app = Flask("turbosio_flask_tests", static_folder=str(HERE / "static"))
    flask_app.config["SECRET_KEY"] = "test secret"
    return flask_app


@pytest.fixture
def socketio(app: Flask) -> Iterator[SocketIO]:
    """A SocketIO attached to ``app``."""
    yield SocketIO(app)


Serve = Callable[..., Awaitable[Any]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """``await serve(socketio, app)``: the app and Socket.IO on 127.0.0.1, a free port; the
    handle (``.url``, ``.port``) is closed after the test."""
    handles: list[Any] = []

    async def start(socketio: SocketIO, app: Flask, **kwargs: Any) -> Any:
        handle = await socketio.serve(app, host="127.0.0.1", port=0, **kwargs)
        handles.append(handle)
        return handle

    yield start
    for handle in handles:
        # Short: a polling session left behind by a test would hold the graceful part.
        await handle.close(timeout=0.5)


class WireClient:
    """One Engine.IO WebSocket connection sending and reading raw Socket.IO packets."""

    def __init__(self, http: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.http = http
        self.ws = ws

    @classmethod
    async def open(cls, url: str, headers: dict[str, str] | None = None) -> WireClient:
        http = aiohttp.ClientSession()
        ws_url = url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"
        ws = await http.ws_connect(ws_url, headers=headers)
        client = cls(http, ws)
        assert str(await client.recv()).startswith("0{")
        return client

    async def recv(self) -> str | bytes:
        """The next packet that is not a ping (pings are answered)."""
        while True:
            msg = await self.ws.receive(timeout=TIMEOUT)
            if msg.type == aiohttp.WSMsgType.TEXT:
                if msg.data == "2":
                    await self.ws.send_str("3")
                    continue
                return str(msg.data)
            if msg.type == aiohttp.WSMsgType.BINARY:
                return bytes(msg.data)
            raise ConnectionError(f"websocket closed: {msg.type}")

    async def send(self, text: str) -> None:
        await self.ws.send_str(text)

    async def connect(self, namespace: str = "/", auth: Any = None) -> str:
        """Join ``namespace``; returns the reply (CONNECT or CONNECT_ERROR packet)."""
        prefix = "40" if namespace == "/" else f"40{namespace},"
        await self.send(prefix + (orjson.dumps(auth).decode() if auth is not None else ""))
        return str(await self.recv())

    async def emit(self, *data: Any, ack: int | None = None) -> None:
        await self.send("42" + ("" if ack is None else str(ack)) + orjson.dumps(data).decode())

    async def event(self) -> list[Any]:
        """The next EVENT packet's data, e.g. ``["response", {"msg": "hi"}]``."""
        packet = str(await self.recv())
        assert packet.startswith("42"), packet
        return list(orjson.loads(packet[2:].lstrip("0123456789")))

    async def close(self) -> None:
        await self.ws.close()
        await self.http.close()


@pytest.fixture
async def wire() -> AsyncIterator[Callable[..., Awaitable[WireClient]]]:
    """``await wire(url)``: a :class:`WireClient`, closed after the test."""
    clients: list[WireClient] = []

    async def open_client(url: str, **kwargs: Any) -> WireClient:
        client = await WireClient.open(url, **kwargs)
        clients.append(client)
        return client

    yield open_client
    for client in clients:
        await client.close()


NodeRunner = Callable[..., Awaitable[Any]]


@pytest.fixture
def js_clients(node: str, js_dir: Path) -> NodeRunner:
    """``await js_clients(scenario, url, *args)``: run a scenario of clients.cjs with the
    official socket.io-client 4.5.4 and return what it observed."""

    async def run(scenario: str, url: str, *args: str) -> Any:
        proc = await asyncio.create_subprocess_exec(
            node,
            str(CLIENTS_SCRIPT),
            str(js_dir),
            scenario,
            url,
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), 60)
        except asyncio.TimeoutError:
            proc.kill()
            out, err = await proc.communicate()
        lines = out.decode().strip().splitlines()
        report = json.loads(lines[-1]) if lines else {"ok": False, "error": "no output"}
        if not report["ok"]:
            pytest.fail(
                f"{scenario}: {report['error']}\n{err.decode(errors='replace')[-3000:]}",
                pytrace=False,
            )
        return report["result"]

    return run
