"""The engine behind the embedded server, on 127.0.0.1, with aiohttp as the client."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest

from turbosio.engineio import Engine
from turbosio.engineio.io import Request, WebSocketRequest
from turbosio.server import Server, serve

from .fakes import RecordingHandler, until

TIMEOUT = aiohttp.ClientTimeout(total=10)


class EngineApp:
    """What the embedded server serves: the engine under /engine.io/."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.max_body_size = engine.max_http_buffer_size

    def handle_request(self, request: Request) -> None:
        if request.path.startswith("/engine.io"):
            self.engine.handle_request(request)
        else:
            request.respond(404, [], b"")

    def handle_websocket(self, request: WebSocketRequest) -> None:
        self.engine.handle_websocket(request)


@pytest.fixture
def handler() -> RecordingHandler:
    return RecordingHandler(echo=True)


@pytest.fixture
def engine(handler: RecordingHandler) -> Engine:
    return Engine(handler, ping_interval=0.3, ping_timeout=0.2, cors_allowed_origins="*")


@pytest.fixture
async def server(engine: Engine) -> AsyncIterator[Server]:
    srv = await serve(EngineApp(engine), "127.0.0.1", 0)
    try:
        yield srv
    finally:
        engine.close_all()
        srv.close()
        await asyncio.wait_for(srv.wait_closed(), 10)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        yield session


def _url(server: Server, **query: str) -> str:
    params = "&".join(f"{k}={v}" for k, v in {"EIO": "4", **query}.items())
    return f"http://127.0.0.1:{server.port}/engine.io/?{params}"


async def _open(http: aiohttp.ClientSession, server: Server) -> str:
    async with http.get(_url(server, transport="polling")) as resp:
        assert resp.status == 200
        body = await resp.text()
    sid: str = json.loads(body[1:])["sid"]
    return sid


async def test_polling_round_trip(server: Server, http: aiohttp.ClientSession) -> None:
    sid = await _open(http, server)
    url = _url(server, transport="polling", sid=sid)
    async with http.post(url, data="4hello\x1ebAQIDBA==") as resp:
        assert (resp.status, await resp.text()) == (200, "ok")
        assert resp.headers["Content-Type"] == "text/html"
    async with http.get(url) as resp:
        assert resp.headers["Content-Type"] == "text/plain; charset=UTF-8"
        assert await resp.text() == "4hello\x1ebAQIDBA=="


async def test_long_poll_answered_by_a_write(
    server: Server, http: aiohttp.ClientSession, engine: Engine
) -> None:
    sid = await _open(http, server)
    url = _url(server, transport="polling", sid=sid)
    get = asyncio.ensure_future(http.get(url))
    await asyncio.sleep(0.05)
    assert not get.done()
    engine.sessions[sid].write("4a")
    engine.sessions[sid].write("4b")
    async with await get as resp:
        assert await resp.text() == "4a\x1e4b"


async def test_cancelled_poll_closes_the_session(
    server: Server, http: aiohttp.ClientSession, handler: RecordingHandler
) -> None:
    sid = await _open(http, server)
    url = _url(server, transport="polling", sid=sid)
    get = asyncio.ensure_future(http.get(url))
    await asyncio.sleep(0.05)
    get.cancel()
    await until(lambda: handler.closed, timeout=5)
    assert handler.reasons(sid) == ["transport error"]
    async with http.get(url) as resp:
        assert resp.status == 400


async def test_websocket_session(server: Server, http: aiohttp.ClientSession) -> None:
    url = _url(server, transport="websocket").replace("http", "ws", 1)
    async with http.ws_connect(url) as ws:
        opened = await ws.receive_str()
        assert json.loads(opened[1:])["upgrades"] == []
        await ws.send_str("4hello")
        assert await ws.receive_str() == "4hello"
        await ws.send_bytes(b"\x01\x02\x03")
        assert await ws.receive_bytes() == b"\x01\x02\x03"
        assert await ws.receive_str() == "2"  # ping after 300 ms
        await ws.send_str("3")


async def test_upgrade(server: Server, http: aiohttp.ClientSession, engine: Engine) -> None:
    sid = await _open(http, server)
    poll_url = _url(server, transport="polling", sid=sid)
    ws_url = _url(server, transport="websocket", sid=sid).replace("http", "ws", 1)
    async with http.ws_connect(ws_url) as ws:
        pending = asyncio.ensure_future(http.get(poll_url))
        await asyncio.sleep(0.02)
        await ws.send_str("2probe")
        assert await ws.receive_str() == "3probe"
        async with await pending as resp:
            assert await resp.text() == "6"
        await ws.send_str("5")
        await ws.send_str("4hello")
        assert await ws.receive_str() == "4hello"
        assert engine.sessions[sid].transport == "websocket"
        async with http.get(poll_url) as resp:
            assert resp.status == 400


async def test_ping_timeout(
    server: Server, http: aiohttp.ClientSession, handler: RecordingHandler
) -> None:
    # As the official suite does: sleep pingInterval + pingTimeout, then the session is gone.
    sid = await _open(http, server)
    await asyncio.sleep(0.5)
    async with http.get(_url(server, transport="polling", sid=sid)) as resp:
        assert resp.status == 400
        assert await resp.json() == {"code": 1, "message": "Session ID unknown"}
    assert handler.reasons(sid) == ["ping timeout"]


async def test_cors_preflight(server: Server, http: aiohttp.ClientSession) -> None:
    headers = {"Origin": "http://page.example", "Access-Control-Request-Method": "POST"}
    async with http.options(_url(server, transport="polling"), headers=headers) as resp:
        assert resp.status == 204
        assert resp.headers["Access-Control-Allow-Origin"] == "http://page.example"
        assert resp.headers["Access-Control-Allow-Credentials"] == "true"


async def test_websocket_rejected(server: Server, http: aiohttp.ClientSession) -> None:
    url = _url(server, transport="websocket", sid="nope").replace("http", "ws", 1)
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await http.ws_connect(url)
    assert info.value.status == 400


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_ping_timeout_is_one_log_line(
    server: Server,
    http: aiohttp.ClientSession,
    handler: RecordingHandler,
    caplog: pytest.LogCaptureFixture,
    transport: str,
) -> None:
    # A client that stops answering: over WebSocket it keeps reading but never answers the
    # ping; over polling it stops polling. Either way the session ends with "ping timeout" and
    # exactly one line naming the session and the client's address.
    caplog.set_level(logging.INFO, "turbosio")
    if transport == "websocket":
        url = _url(server, transport="websocket").replace("http", "ws", 1)
        async with http.ws_connect(url) as ws:
            sid = json.loads((await ws.receive_str())[1:])["sid"]
            host, port = ws.get_extra_info("sockname")[:2]
            assert await ws.receive_str() == "2"  # the ping, never answered
            closing = await ws.receive()  # the server closes once ping_timeout passed
            assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    else:
        # The handshake by hand, to know the client's address; then it never polls.
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        host, port = writer.get_extra_info("sockname")[:2]
        writer.write(b"GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ")
        body = await reader.readuntil(b"}")
        sid = json.loads(body[1:])["sid"]
        writer.close()
    await until(lambda: handler.closed, timeout=5)
    assert handler.reasons(sid) == ["ping timeout"]
    lines = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert [r.getMessage() for r in lines] == [
        f"closing session {sid} of {host}:{port}: ping timeout (no answer to the ping within 0.2 s)"
    ]
    assert (lines[0].name, lines[0].levelname, lines[0].exc_info) == (
        "turbosio.engineio",
        "INFO",
        None,
    )
