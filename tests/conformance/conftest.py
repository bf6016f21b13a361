"""Servers under test for the conformance suites.

Every test runs twice: against turbosio ("turbosio") and against Node's reference server
("node": engine.io 6.6 / socket.io 4.8 from tests/js/node_modules, started once per run by
tests/js/conformance-server.mjs with the official suites' settings). A Node run proves that the
expectation is Node's behaviour; it is skipped loudly when Node or the npm packages are
missing, and fails instead under CI=true (the ``node`` fixture of tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import json
import select
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from .wire import MAX_PAYLOAD, Peer

SERVER_SCRIPT = "conformance-server.mjs"
ENGINE_PATH = "/engine.io/"
SOCKETIO_PATH = "/socket.io/"
TARGETS = ["turbosio", "node"]


# --- Node reference servers ---------------------------------------------------------------
# ``node`` and ``js_dir`` come from tests/conftest.py: they skip loudly when Node or the npm
# packages are missing, and fail under CI=true.


def _start_node(node: str, js_dir: Path, mode: str) -> tuple[subprocess.Popen[bytes], int]:
    proc = subprocess.Popen(
        [node, SERVER_SCRIPT, mode], cwd=js_dir, stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 30)
    line = proc.stdout.readline() if ready else b""
    if not line:
        proc.kill()
        proc.wait()
        pytest.fail(f"the Node {mode} reference server did not start", pytrace=False)
    port = json.loads(line)["port"]
    assert isinstance(port, int)
    return proc, port


def _stop_node(proc: subprocess.Popen[bytes]) -> None:
    # the script exits when its stdin closes; kill only if it does not
    assert proc.stdin is not None
    proc.stdin.close()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


@pytest.fixture(scope="session")
def node_engineio(node: str, js_dir: Path) -> Iterator[int]:
    """Port of Node's engine.io echo server (shared by the whole run)."""
    proc, port = _start_node(node, js_dir, "engineio")
    yield port
    _stop_node(proc)


@pytest.fixture(scope="session")
def node_socketio(node: str, js_dir: Path) -> Iterator[int]:
    """Port of Node's socket.io server with the suite's handlers (shared by the whole run)."""
    proc, port = _start_node(node, js_dir, "socketio")
    yield port
    _stop_node(proc)


# --- turbosio servers ---------------------------------------------------------------------


class EchoHandler:
    """The official Engine.IO suite's server: every message goes straight back."""

    def engine_open(self, session: Any) -> None:
        """Nothing to do: the suite only echoes."""

    def engine_message(self, session: Any, data: str | bytes) -> None:
        """Echo text as a message packet, binary as a binary message."""
        if isinstance(data, str):
            session.write("4" + data)
        else:
            session.write_binary(data)

    def engine_close(self, session: Any, reason: str) -> None:
        """Nothing to do: the suite only echoes."""


class EngineApp:
    """What the embedded server serves: the engine under /engine.io/, 404 elsewhere."""

    max_body_size = MAX_PAYLOAD

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    def _ours(self, path: str) -> bool:
        return path == ENGINE_PATH.rstrip("/") or path.startswith(ENGINE_PATH)

    def handle_request(self, req: Any) -> Any:
        """Hand an engine request to the engine; anything else is not found."""
        if self._ours(req.path):
            return self.engine.handle_request(req)
        req.respond(404, [("Content-Type", "text/plain")], b"not found")
        return None

    def handle_websocket(self, req: Any) -> Any:
        """Hand an engine upgrade to the engine; anything else is not found."""
        if self._ours(req.path):
            return self.engine.handle_websocket(req)
        req.reject(404, [("Content-Type", "text/plain")], b"not found")
        return None


async def _serve_engine() -> tuple[Any, Any]:
    from turbosio.engineio import Engine
    from turbosio.server import serve

    engine = Engine(
        EchoHandler(),
        ping_interval=0.3,
        ping_timeout=0.2,
        max_http_buffer_size=MAX_PAYLOAD,
        cors_allowed_origins="*",
    )
    return engine, await serve(EngineApp(engine), "127.0.0.1", 0)


def build_socketio_server() -> Any:
    """turbosio.Server with the official Socket.IO suite's settings and handlers (plus
    socketioxide's "emit-with-ack")."""
    import turbosio

    sio = turbosio.Server(
        ping_interval=0.3,
        ping_timeout=0.2,
        max_http_buffer_size=MAX_PAYLOAD,
        connect_timeout=1,
        cors_allowed_origins="*",
    )

    @sio.on("connect")
    async def connect(socket: Any, auth: Any) -> None:
        socket.emit("auth", socket.handshake.auth)

    @sio.on("message")
    async def message(socket: Any, *args: Any) -> None:
        socket.emit("message-back", *args)

    @sio.on("message-with-ack")
    async def message_with_ack(socket: Any, *args: Any) -> tuple[Any, ...]:
        return args

    @sio.on("emit-with-ack")
    async def emit_with_ack(socket: Any, *args: Any) -> None:
        reply = await socket.emit_with_ack("emit-with-ack", *args, timeout=5)
        # one value, or a tuple when the client acknowledged with several
        socket.emit("emit-with-ack", *(reply if isinstance(reply, tuple) else (reply,)))

    custom = sio.of("/custom")

    @custom.on("connect")
    async def custom_connect(socket: Any, auth: Any) -> None:
        socket.emit("auth", socket.handshake.auth)

    return sio


# --- the fixtures tests use ---------------------------------------------------------------


@pytest.fixture(params=TARGETS)
async def eio(request: pytest.FixtureRequest) -> AsyncIterator[Peer]:
    """A client of an Engine.IO echo server under /engine.io/: ours, then Node's."""
    if request.param == "node":
        peer = Peer("node", request.getfixturevalue("node_engineio"), ENGINE_PATH)
        try:
            yield peer
        finally:
            await peer.aclose()
        return
    engine, server = await _serve_engine()
    peer = Peer("turbosio", server.port, ENGINE_PATH)
    try:
        yield peer
    finally:
        await peer.aclose()
        engine.close_all()
        server.close()
        await asyncio.wait_for(server.wait_closed(), 10)


@pytest.fixture(params=TARGETS)
async def sio(request: pytest.FixtureRequest) -> AsyncIterator[Peer]:
    """A client of a Socket.IO server under /socket.io/ with the suite's handlers: ours, then
    Node's."""
    if request.param == "node":
        peer = Peer("node", request.getfixturevalue("node_socketio"), SOCKETIO_PATH)
        try:
            yield peer
        finally:
            await peer.aclose()
        return
    handle = await build_socketio_server().serve(host="127.0.0.1", port=0)
    peer = Peer("turbosio", handle.port, SOCKETIO_PATH)
    try:
        yield peer
    finally:
        await peer.aclose()
        await handle.close()
