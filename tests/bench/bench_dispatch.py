"""Micro-benchmarks of the Socket.IO dispatch: an incoming event to its handler and back.

An in-memory engine session stands in for the transport (it only collects what is written),
so what is measured is decoding, routing, the inline handler driver and encoding the answer.
"""

from __future__ import annotations

from typing import Any

import pytest

import turbosio
from turbosio.engineio.io import SharedMessage
from turbosio.socketio.dispatch import call_handler

PAYLOAD = '{"user":"bench","seq":12345,"text":"' + "a" * 60 + '"}'


class _Request:
    method = "GET"
    path = "/socket.io/"
    query_string = "EIO=4&transport=websocket"
    query = {"EIO": "4", "transport": "websocket"}
    headers: dict[str, str] = {}
    body = b""
    client = ("127.0.0.1", 50000)
    scheme = "http"

    def respond(self, status: int, headers: Any, body: bytes) -> None:
        raise AssertionError("not used")

    def on_disconnect(self, callback: Any) -> None:
        pass


class MemorySession:
    """An engine session that keeps what is written."""

    def __init__(self, sid: str) -> None:
        self.sid = sid
        self.transport = "websocket"
        self.request = _Request()
        self.context: object = None
        self.sent: list[Any] = []

    def write(self, packet: str) -> None:
        self.sent.append(packet)

    def write_binary(self, data: bytes) -> None:
        self.sent.append(data)

    def write_shared(self, message: SharedMessage) -> None:
        self.sent.append(message.data)

    def close(self, reason: str = "forced close") -> None:
        pass


@pytest.fixture
def sio() -> turbosio.Server:
    server = turbosio.Server(connect_timeout=None)

    @server.on("echo")
    async def echo(socket: turbosio.Socket, data: Any) -> Any:
        return data

    @server.on("req")
    async def req(socket: turbosio.Socket, data: Any) -> None:
        socket.emit("res", data)

    @server.on("bcast")
    async def bcast(socket: turbosio.Socket, room: str, data: Any) -> str:
        server.to(room).emit("msg", data)
        return "ok"

    return server


def connect(sio: turbosio.Server, sid: str) -> MemorySession:
    session = MemorySession(sid)
    sio.engine_open(session)
    sio.engine_message(session, "0")
    assert session.sent and session.sent[0].startswith("40{"), session.sent
    session.sent.clear()
    return session


def test_echo_with_ack(benchmark: Any, sio: turbosio.Server) -> None:
    """``21["echo",{...}]`` in, ``431[{...}]`` out."""
    session = connect(sio, "s1")
    message = '21["echo",' + PAYLOAD + "]"

    def one() -> None:
        sio.engine_message(session, message)

    benchmark(one)
    assert session.sent[-1] == "431[" + PAYLOAD + "]"


def test_event_answered_by_event(benchmark: Any, sio: turbosio.Server) -> None:
    """``2["req",{...}]`` in, ``42["res",{...}]`` out."""
    session = connect(sio, "s1")
    message = '2["req",' + PAYLOAD + "]"
    benchmark(sio.engine_message, session, message)
    assert session.sent[-1] == '42["res",' + PAYLOAD + "]"


def test_broadcast_to_100(benchmark: Any, sio: turbosio.Server) -> None:
    """One ``bcast`` to a room of 100: encoded once, delivered 100 times."""
    sessions = [connect(sio, f"s{i}") for i in range(101)]
    for session in sessions[1:]:
        conn: Any = session.context
        conn.nsps["/"].join("room")
    message = '21["bcast","room",' + PAYLOAD + "]"

    def one() -> None:
        sio.engine_message(sessions[0], message)
        for session in sessions:
            session.sent.clear()

    benchmark(one)
    sio.engine_message(sessions[0], message)
    assert sessions[1].sent == ['42["msg",' + PAYLOAD + "]"]
    assert sessions[0].sent == ['431["ok"]']


def test_call_handler_inline(benchmark: Any) -> None:
    """The inline driver of an async handler that does not suspend."""
    results: list[Any] = []

    async def handler(value: int) -> int:
        return value + 1

    def done(result: Any, exc: BaseException | None) -> None:
        results.append(result)

    benchmark(call_handler, handler, True, (1,), done)
    assert results[-1] == 2
