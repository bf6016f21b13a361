"""In-memory stand-ins for our own engine seam (io.py): requests, WebSockets, a handler.

They are fakes of turbosio's interfaces, not of a peer: they record what the engine answers
so the tests can assert the exact wire behaviour.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode

from turbosio.engineio import Engine, EngineSession, Headers, SharedMessage, WebSocketHandler


class FakeRequest:
    """An HTTP request; ``response`` is ``(status, headers, body)`` once answered."""

    def __init__(
        self,
        method: str = "GET",
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes | str = b"",
    ) -> None:
        query = dict(query or {})
        self.method = method
        self.path = "/engine.io/"
        self.query_string = urlencode(query)
        self.query = query
        self.headers = {k.lower(): v for k, v in (headers or {}).items()}
        self.body = body.encode() if isinstance(body, str) else body
        self.client = ("127.0.0.1", 40000)
        self.scheme = "http"
        self.response: tuple[int, Headers, bytes] | None = None
        self.disconnect_callback: Callable[[], None] | None = None

    def respond(self, status: int, headers: Headers, body: bytes) -> None:
        assert self.response is None, "respond() called twice"
        self.response = (status, list(headers), body)

    def on_disconnect(self, callback: Callable[[], None] | None) -> None:
        self.disconnect_callback = callback

    # -- for the tests --

    def disconnect(self) -> None:
        """The client goes away before the answer."""
        assert self.response is None
        assert self.disconnect_callback is not None
        self.disconnect_callback()

    @property
    def answered(self) -> bool:
        return self.response is not None

    @property
    def status(self) -> int:
        assert self.response is not None, "no response yet"
        return self.response[0]

    @property
    def text(self) -> str:
        assert self.response is not None, "no response yet"
        return self.response[2].decode()

    def json(self) -> Any:
        return json.loads(self.text)

    def header(self, name: str) -> str | None:
        assert self.response is not None, "no response yet"
        values = [v for k, v in self.response[1] if k.lower() == name.lower()]
        return ", ".join(values) if values else None


class FakeWebSocket:
    """An accepted WebSocket: ``sent`` holds what the engine sent, in order."""

    def __init__(self, max_message_size: int) -> None:
        self.max_message_size = max_message_size
        self.handler: WebSocketHandler | None = None
        self.sent: list[str | bytes] = []
        self.close_code: int | None = None
        self.closed = False  # on_ws_close delivered

    def set_handler(self, handler: WebSocketHandler) -> None:
        self.handler = handler

    def send_text(self, data: str) -> None:
        assert self.close_code is None, "send after close"
        self.sent.append(data)

    def send_bytes(self, data: bytes) -> None:
        assert self.close_code is None, "send after close"
        self.sent.append(bytes(data))

    def send_shared(self, message: SharedMessage) -> None:
        assert self.close_code is None, "send after close"
        self.sent.append(message.data)

    def close(self, code: int = 1000, reason: str = "") -> None:
        if self.close_code is not None:
            return
        self.close_code = code
        # The closing handshake completes on a later loop turn, as with a real socket.
        asyncio.get_running_loop().call_soon(self._closed, code)

    def _closed(self, code: int) -> None:
        if not self.closed:
            self.closed = True
            assert self.handler is not None
            self.handler.on_ws_close(code)

    # -- for the tests: what the client does --

    def receive(self, data: str | bytes) -> None:
        """The client sends a message."""
        assert self.handler is not None
        self.handler.on_ws_message(data)

    def peer_close(self, code: int = 1000) -> None:
        """The client closes (or the connection is lost, code 1006)."""
        self.close_code = code
        self._closed(code)

    def take(self) -> list[str | bytes]:
        sent, self.sent = self.sent, []
        return sent


class FakeWebSocketRequest(FakeRequest):
    """A WebSocket upgrade request: accepted (``ws``) or rejected (``response``)."""

    def __init__(
        self,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        method: str = "GET",
    ) -> None:
        super().__init__(method, query, headers)
        self.ws: FakeWebSocket | None = None

    def accept(self, max_message_size: int) -> FakeWebSocket:
        assert self.ws is None and self.response is None
        self.ws = FakeWebSocket(max_message_size)
        return self.ws

    def reject(self, status: int, headers: Headers, body: bytes) -> None:
        assert self.ws is None
        self.respond(status, headers, body)


class RecordingHandler:
    """The layer above: records every call; ``echo`` sends each message back."""

    def __init__(self, echo: bool = False) -> None:
        self.echo = echo
        self.opened: list[EngineSession] = []
        self.messages: list[tuple[str, str | bytes]] = []
        self.closed: list[tuple[str, str]] = []

    def engine_open(self, session: EngineSession) -> None:
        self.opened.append(session)

    def engine_message(self, session: EngineSession, data: str | bytes) -> None:
        self.messages.append((session.sid, data))
        if self.echo:
            if isinstance(data, str):
                session.write("4" + data)
            else:
                session.write_binary(data)

    def engine_close(self, session: EngineSession, reason: str) -> None:
        self.closed.append((session.sid, reason))

    def reasons(self, sid: str) -> list[str]:
        return [reason for s, reason in self.closed if s == sid]


async def until(predicate: Callable[[], object], timeout: float = 2.0) -> None:
    """Wait (a few loop turns or more) until ``predicate()`` is true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.001)


def q(**params: str) -> dict[str, str]:
    """Query parameters of an EIO=4 request (EIO=4 unless given)."""
    params.setdefault("EIO", "4")
    return params


def handshake(engine: Engine, headers: Mapping[str, str] | None = None) -> str:
    """Open a polling session; return its sid."""
    req = FakeRequest("GET", q(transport="polling"), headers)
    engine.handle_request(req)
    assert req.status == 200, req.response
    assert req.text.startswith("0")
    sid: str = json.loads(req.text[1:])["sid"]
    return sid


def ws_handshake(engine: Engine) -> tuple[str, FakeWebSocket]:
    """Open a WebSocket session; return its sid and socket (open packet consumed)."""
    req = FakeWebSocketRequest(q(transport="websocket"))
    engine.handle_websocket(req)
    assert req.ws is not None, req.response
    first = req.ws.take()
    assert isinstance(first[0], str) and first[0].startswith("0")
    return json.loads(first[0][1:])["sid"], req.ws


def poll(engine: Engine, sid: str, **headers: str) -> FakeRequest:
    req = FakeRequest("GET", q(transport="polling", sid=sid), headers)
    engine.handle_request(req)
    return req


def post(
    engine: Engine, sid: str, body: bytes | str, headers: Mapping[str, str] | None = None
) -> FakeRequest:
    req = FakeRequest("POST", q(transport="polling", sid=sid), headers, body)
    engine.handle_request(req)
    return req
