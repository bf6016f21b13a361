"""A wire-level client for the conformance tests: raw Engine.IO / Socket.IO packets over HTTP
long-polling and WebSocket (aiohttp), with no protocol logic of its own beyond what a test
asks for, so every byte the server sends is seen exactly as it was sent."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from dataclasses import dataclass
from typing import Any

import aiohttp

#: How long a test waits for something the protocol says must happen. Generous because the
#: machine is small and shared; scale it with TURBOSIO_TEST_TIMEOUT_FACTOR on slower machines.
WAIT = 5.0 * float(os.environ.get("TURBOSIO_TEST_TIMEOUT_FACTOR", "1"))

#: The settings of the official suites (milliseconds on the wire).
PING_INTERVAL_MS = 300
PING_TIMEOUT_MS = 200
MAX_PAYLOAD = 1_000_000

_CLOSED_TYPES = (
    aiohttp.WSMsgType.CLOSE,
    aiohttp.WSMsgType.CLOSING,
    aiohttp.WSMsgType.CLOSED,
    aiohttp.WSMsgType.ERROR,
)


@dataclass
class Reply:
    """One HTTP response, read whole."""

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        """The body as UTF-8 text (what a polling client decodes)."""
        return self.body.decode("utf-8")

    def json(self) -> Any:
        """The body parsed as JSON (the engine's error answers)."""
        return json.loads(self.body)


class Closed(AssertionError):
    """The WebSocket closed while a test waited for a message."""


class WS:
    """One WebSocket connection, read one message at a time."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self.close_code: int | None = None

    async def send(self, data: str | bytes) -> None:
        """Send one text (``str``) or binary (``bytes``) message."""
        if isinstance(data, str):
            await self._ws.send_str(data)
        else:
            await self._ws.send_bytes(data)

    async def send_frame(self, payload: bytes, opcode: aiohttp.WSMsgType) -> None:
        """Send a frame exactly as given, even one a well-behaved client would refuse to send
        (text that is not UTF-8)."""
        await self._ws.send_frame(payload, opcode)

    async def recv(self, timeout: float = WAIT) -> str | bytes:
        """The next message; raises :class:`Closed` if the connection closes instead."""
        msg = await self._ws.receive(timeout=timeout)
        if msg.type == aiohttp.WSMsgType.TEXT:
            return str(msg.data)
        if msg.type == aiohttp.WSMsgType.BINARY:
            return bytes(msg.data)
        self._note_close()
        raise Closed(f"connection closed ({msg.type!r}, code {self.close_code})")

    async def recv_packet(self, timeout: float = WAIT) -> str | bytes:
        """The next message that is not an Engine.IO ping; pings are answered with a pong so
        the session stays alive while the test waits. ``timeout`` bounds the whole wait."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise asyncio.TimeoutError(f"no packet within {timeout} s")
            data = await self.recv(left)
            if data == "2":
                await self.send("3")
                continue
            return data

    async def recv_packets(self, count: int, timeout: float = WAIT) -> list[str | bytes]:
        """The next ``count`` messages that are not pings (see :meth:`recv_packet`)."""
        return [await self.recv_packet(timeout) for _ in range(count)]

    async def expect_closed(self, timeout: float = WAIT, answer_pings: bool = False) -> list[Any]:
        """Wait until the server closes the connection and return what arrived before.

        ``answer_pings`` keeps the heartbeat alive meanwhile, so a close cannot come from a
        ping timeout. Fails if the connection is still open after ``timeout`` seconds.
        """
        seen: list[Any] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise AssertionError(f"connection still open after {timeout} s; got {seen!r}")
            try:
                msg = await self._ws.receive(timeout=left)
            except asyncio.TimeoutError:
                raise AssertionError(
                    f"connection still open after {timeout} s; got {seen!r}"
                ) from None
            if msg.type in _CLOSED_TYPES:
                self._note_close()
                return seen
            seen.append(msg.data)
            if answer_pings and msg.data == "2":
                await self.send("3")

    def _note_close(self) -> None:
        if self.close_code is None:
            self.close_code = self._ws.close_code

    @property
    def closed(self) -> bool:
        """Whether the connection is closed (as far as the client has seen)."""
        return self._ws.closed

    async def close(self) -> None:
        """Close from the client side."""
        await self._ws.close()


@dataclass
class RawReply:
    """An HTTP response read off a raw socket (for answers aiohttp hides, such as the body of
    a refused WebSocket upgrade)."""

    status: int
    headers: dict[str, str]
    body: bytes


class Peer:
    """A client of one server under test: ``name`` is "turbosio" or "node"; ``path`` is the
    engine path ("/engine.io/" or "/socket.io/")."""

    def __init__(self, name: str, port: int, path: str) -> None:
        self.name = name
        self.host = "127.0.0.1"
        self.port = port
        self.path = path
        self.http = aiohttp.ClientSession()
        self._sockets: list[WS] = []
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: list[asyncio.Task[None]] = []

    def track(self, task: asyncio.Task[None]) -> None:
        """Cancel ``task`` when the peer closes (a background reader of a test's client)."""
        self._tasks.append(task)

    def url(self, query: str) -> str:
        """The HTTP URL of the engine path with ``query``."""
        return f"http://{self.host}:{self.port}{self.path}?{query}"

    def ws_url(self, query: str) -> str:
        """The WebSocket URL of the engine path with ``query``."""
        return f"ws://{self.host}:{self.port}{self.path}?{query}"

    async def request(
        self,
        method: str,
        query: str,
        body: str | bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """One HTTP request; the whole response is read."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        hdrs = {"Content-Type": "text/plain;charset=UTF-8"} if data is not None else {}
        hdrs.update(headers or {})
        async with self.http.request(
            method, self.url(query), data=data, headers=hdrs, timeout=aiohttp.ClientTimeout(WAIT)
        ) as resp:
            body_bytes = await resp.read()
            return Reply(resp.status, {k.lower(): v for k, v in resp.headers.items()}, body_bytes)

    async def get(self, query: str) -> Reply:
        """A GET (a poll, or a handshake without ``sid``)."""
        return await self.request("GET", query)

    async def post(
        self, query: str, body: str | bytes, headers: dict[str, str] | None = None
    ) -> Reply:
        """A POST carrying ``body`` (text unless ``headers`` say otherwise)."""
        return await self.request("POST", query, body, headers)

    async def open_polling(self) -> str:
        """Open a long-polling session and return its sid."""
        reply = await self.get("EIO=4&transport=polling")
        assert reply.status == 200, reply
        assert reply.text.startswith("0"), reply.text
        sid = json.loads(reply.text[1:])["sid"]
        assert isinstance(sid, str)
        return sid

    def poll_query(self, sid: str) -> str:
        """The query of a polling request within session ``sid``."""
        return f"EIO=4&transport=polling&sid={sid}"

    async def ws(self, query: str) -> WS:
        """Open a WebSocket to the engine path (fails if the upgrade is refused)."""
        raw = await self.http.ws_connect(self.ws_url(query), timeout=aiohttp.ClientWSTimeout(WAIT))
        sock = WS(raw)
        self._sockets.append(sock)
        return sock

    async def ws_open(self) -> tuple[WS, dict[str, Any]]:
        """Open a WebSocket-only session; return it and its handshake (the open packet)."""
        sock = await self.ws("EIO=4&transport=websocket")
        first = await sock.recv()
        assert isinstance(first, str) and first.startswith("0"), first
        return sock, json.loads(first[1:])

    async def ws_refused(self, query: str) -> int:
        """Try to open a WebSocket that the server must refuse; return the HTTP status."""
        try:
            sock = await self.ws(query)
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status
        # accepted after all: it must at least be closed at once, which the caller asserts
        await sock.expect_closed()
        return 101

    async def raw_exchange(self, request: bytes, timeout: float = WAIT) -> RawReply:
        """Send raw bytes on a new TCP connection and read one HTTP response (Content-Length
        framed, or up to the close; a 101 answer is returned without a body)."""
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            writer.write(request)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ", 2)[1])
            headers: dict[str, str] = {}
            for line in lines[1:]:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            if status == 101:
                # switched protocols: what follows is WebSocket, not an HTTP body
                body = b""
            elif "content-length" in headers:
                body = await asyncio.wait_for(
                    reader.readexactly(int(headers["content-length"])), timeout
                )
            else:
                body = await asyncio.wait_for(reader.read(), timeout)
            return RawReply(status, headers, body)
        finally:
            writer.close()

    async def raw_upgrade(self, query: str) -> RawReply:
        """A WebSocket upgrade request on a raw socket, to read a refusal exactly."""
        request = (
            f"GET {self.path}?{query} HTTP/1.1\r\n"
            f"Host: {self.host}:{self.port}\r\n"
            "Upgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode("ascii")
        return await self.raw_exchange(request)

    async def hold_get(self, query: str) -> asyncio.StreamWriter:
        """Start a GET on a raw connection and leave it pending; closing the returned writer
        aborts the request the way a browser cancelling a fetch does."""
        _, writer = await asyncio.open_connection(self.host, self.port)
        writer.write(
            f"GET {self.path}?{query} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n\r\n".encode()
        )
        await writer.drain()
        self._writers.append(writer)
        return writer

    async def aclose(self) -> None:
        """Close every connection this peer opened."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for sock in self._sockets:
            if not sock.closed:
                await sock.close()
        for writer in self._writers:
            writer.close()
        await self.http.close()


async def sio_connect(peer: Peer, connect_packet: str = "40") -> tuple[WS, str]:
    """A WebSocket-only Socket.IO connection to the main namespace, as the suites make it:
    open, CONNECT, read the CONNECT reply and the "auth" event. Returns the socket and the
    Socket.IO sid."""
    sock, _ = await peer.ws_open()
    await sock.send(connect_packet)
    reply = await sock.recv_packet()
    assert isinstance(reply, str) and reply.startswith("40{"), reply
    sid = json.loads(reply[2:])["sid"]
    auth = await sock.recv_packet()
    assert auth == '42["auth",{}]', auth
    return sock, sid
