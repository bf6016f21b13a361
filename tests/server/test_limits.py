"""The embedded server's limits: slow-loris and idle timeouts, the connection limit, the header
size limit, and the outbound buffer (writable past the high-water mark, dropped past the hard
limit). Real sockets on 127.0.0.1; every test runs on asyncio's loop and on uvloop."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from server_helpers import TIMEOUT, EchoApp, read_response

from turbosio.server import Limits, Server, serve
from turbosio.server.http import LINGER_TIME
from turbosio.server.websocket import WebSocketConnection

Serve = Callable[..., Awaitable[Server]]


@pytest.fixture
async def limited(app: EchoApp) -> AsyncIterator[Serve]:
    """``await limited(**limits)``: the echo app served with these limits."""
    servers: list[Server] = []

    async def start(**limits: float | int | None) -> Server:
        srv = await serve(app, "127.0.0.1", 0, limits=Limits(**limits))  # type: ignore[arg-type]
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.close()
        await asyncio.wait_for(srv.wait_closed(), 10)


async def closed_by_server(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection."""
    return await asyncio.wait_for(reader.read(), TIMEOUT)


def test_limits_are_checked() -> None:
    with pytest.raises(ValueError, match="request_timeout"):
        Limits(request_timeout=0)
    with pytest.raises(ValueError, match="max_connections"):
        Limits(max_connections=0)
    with pytest.raises(ValueError, match="max_header_size"):
        Limits(max_header_size=10)
    assert Limits(request_timeout=0.4).tick == pytest.approx(0.1)


async def test_slow_loris_gets_408(limited: Serve, caplog: pytest.LogCaptureFixture) -> None:
    srv = await limited(request_timeout=0.5)
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    writer.write(b"GET /echo HTTP/1.1\r\nHost: x\r\n")
    caplog.set_level(logging.INFO, "turbosio.server")

    # One header byte every 50 ms for 0.4 s: activity does not move the deadline, which runs
    # from the request's first byte. (The next test trickles on past the deadline.)
    for byte in b"X-Slow: a":
        writer.write(bytes((byte,)))
        await asyncio.sleep(0.05)
    response = await read_response(reader)
    assert response.status == 408
    assert await closed_by_server(reader) == b""
    writer.close()
    assert any("408" in r.getMessage() and "0.5 s" in r.getMessage() for r in caplog.records)


async def test_slow_loris_still_sending_gets_408_then_is_closed(limited: Serve) -> None:
    # The client trickles on past its deadline: the 408 reaches it all the same (the server
    # shuts its side down and keeps reading rather than resetting the connection), and the
    # connection is closed LINGER_TIME later although the client never stops.
    srv = await limited(request_timeout=0.5)
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    writer.write(b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Slow: ")

    async def trickle() -> None:
        while True:
            writer.write(b"a")
            await writer.drain()
            await asyncio.sleep(0.05)

    trickling = asyncio.create_task(trickle())
    response = await read_response(reader)
    assert response.status == 408
    assert await closed_by_server(reader) == b""
    with pytest.raises(ConnectionError):
        await asyncio.wait_for(trickling, LINGER_TIME + TIMEOUT)
    writer.close()
    assert srv.connection_count == 0


async def test_silent_and_idle_connections_are_closed(limited: Serve) -> None:
    srv = await limited(request_timeout=0.4, keep_alive_timeout=0.4)
    # Opened, never a byte: closed without a word.
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    assert await closed_by_server(reader) == b""
    writer.close()
    # A keep-alive connection: answered, then closed once idle.
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    writer.write(b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await read_response(reader)).status == 200
    assert await closed_by_server(reader) == b""
    writer.close()
    assert srv.connection_count == 0


async def test_a_held_request_is_not_timed_out(app: EchoApp, limited: Serve) -> None:
    srv = await limited(request_timeout=0.2, keep_alive_timeout=0.2)
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    writer.write(b"GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")
    held = await asyncio.wait_for(app.held.get(), TIMEOUT)
    await asyncio.sleep(0.8)  # four timeouts: a long-poll waits as long as the app wants
    held.respond(200, [], b"late")
    assert (await read_response(reader)).body == b"late"
    writer.close()


async def test_max_connections(limited: Serve, caplog: pytest.LogCaptureFixture) -> None:
    srv = await limited(max_connections=2)
    caplog.set_level(logging.WARNING, "turbosio.server")
    kept = [await asyncio.open_connection("127.0.0.1", srv.port) for _ in range(2)]
    for reader, writer in kept:  # both served
        writer.write(b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await read_response(reader)).status == 200
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    refused = await read_response(reader)
    assert (refused.status, refused.headers["connection"]) == (503, "close")
    assert await closed_by_server(reader) == b""
    writer.close()
    assert [r.getMessage() for r in caplog.records if "max_connections" in r.getMessage()]
    # A place frees up: the next one is served.
    kept[0][1].close()
    await asyncio.wait_for(_until(lambda: srv.connection_count == 1), TIMEOUT)
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    writer.write(b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await read_response(reader)).status == 200
    writer.close()
    kept[1][1].close()


async def test_max_header_size(limited: Serve) -> None:
    srv = await limited(max_header_size=2048)
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    writer.write(b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 3000 + b"\r\n\r\n")
    assert (await read_response(reader)).status == 431
    writer.close()


async def _until(check: Callable[[], bool]) -> None:
    while not check():
        await asyncio.sleep(0.01)


async def _websocket(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A WebSocket to /ws, its 101 read; the caller decides whether to read on."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=16 * 1024)
    key = base64.b64encode(os.urandom(16))
    writer.write(
        b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key + b"\r\n\r\n"
    )
    assert (await read_response(reader)).status == 101
    return reader, writer


def _text_frame(text: str) -> bytes:
    payload = text.encode()
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes((0x81, 0x80 | len(payload))) + mask + masked


async def test_a_client_that_does_not_read_is_dropped(
    app: EchoApp, limited: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    app.outbound_high_water = 16 * 1024  # type: ignore[attr-defined]
    app.max_outbound_buffer = 256 * 1024  # type: ignore[attr-defined]
    srv = await limited()
    caplog.set_level(logging.WARNING, "turbosio.server")
    _, writer = await _websocket(srv.port)
    # Ask for ~1.5 MB per burst, and never read: the kernel's buffers fill, then ours.
    for _ in range(40):
        writer.write(_text_frame("burst:150000"))
        await asyncio.sleep(0.01)
        if app.closes.qsize():
            break
    assert await asyncio.wait_for(app.closes.get(), TIMEOUT) == 1008
    assert [r for r in caplog.records if "waiting to be sent" in r.getMessage()]
    assert not [r for r in caplog.records if r.exc_info]  # a client's doing: no traceback
    writer.close()
    await asyncio.wait_for(_until(lambda: srv.connection_count == 0), TIMEOUT)


async def test_writable_follows_the_high_water_mark(app: EchoApp, limited: Serve) -> None:
    app.outbound_high_water = 16 * 1024  # type: ignore[attr-defined]
    srv = await limited()
    reader, writer = await _websocket(srv.port)
    await asyncio.wait_for(_until(lambda: bool(app.handlers)), TIMEOUT)
    ws = app.handlers[0].ws
    assert isinstance(ws, WebSocketConnection) and ws.writable
    for _ in range(100):  # not reading: the backlog passes the high-water mark
        writer.write(_text_frame("burst:20000"))
        await asyncio.sleep(0.01)
        if not ws.writable:
            break
    assert not ws.writable
    # Reading it all drains the backlog: writable again.
    drained = asyncio.ensure_future(reader.read())
    await asyncio.wait_for(_until(lambda: ws.writable), TIMEOUT)
    writer.close()
    await asyncio.wait_for(drained, TIMEOUT)
