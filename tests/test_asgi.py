"""turbosio.asgi.ASGIApp under real ASGI servers (uvicorn, hypercorn), with a tiny echo App.

The echo App implements what ASGIApp needs of turbosio's engine (``max_body_size``, ``owns``,
``handle_request``, ``handle_websocket``) and nothing else, so these tests pin the front end
alone; the tests at the end mount turbosio's real Server.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

import turbosio
from asgi_servers import run_hypercorn, run_uvicorn
from turbosio.asgi import ASGIApp
from turbosio.engineio.io import Request, SharedMessage, WebSocket, WebSocketRequest

pytestmark = pytest.mark.uvicorn

MAX_BODY = 1000
MAX_MESSAGE = 100
#: What "interleave" sends: the handler's own sends first, then those of the callbacks it
#: scheduled.
INTERLEAVED = [f"r{i}" for i in range(20)] + ["r-last"] + [f"w{i}" for i in range(20)]


class EchoHandler:
    """Echoes every WebSocket message; "close" makes the server close with 4000."""

    def __init__(self, app: EchoApp, ws: WebSocket) -> None:
        self.app = app
        self.ws = ws

    def on_ws_message(self, data: str | bytes) -> None:
        if data == "close":
            self.ws.close(4000, "bye")
        elif data == "burst":
            for i in range(50):
                self.ws.send_text(f"m{i}")
        elif data == "interleave":
            # Sends made while a message is handled, interleaved with callbacks that send
            # after it: all arrive once, the handler's first, each group in its order.
            loop = asyncio.get_running_loop()
            for i in range(20):
                self.ws.send_text(f"r{i}")
                loop.call_soon(self.ws.send_text, f"w{i}")
            self.ws.send_text("r-last")
        elif data == "shared":
            message = SharedMessage(b"\x00shared")
            self.ws.send_shared(message)
            self.ws.send_shared(SharedMessage("text shared"))
        elif isinstance(data, str):
            self.ws.send_text(data)
        else:
            self.ws.send_bytes(data)

    def on_ws_close(self, code: int) -> None:
        self.app.ws_closes.append(code)


class EchoApp:
    """Owns /echo/...; answers, holds or echoes requests (see each path below)."""

    max_body_size = MAX_BODY

    def __init__(self) -> None:
        self.held: list[Request] = []
        self.disconnected: list[str] = []
        self.ws_closes: list[int] = []

    def owns(self, path: str) -> bool:
        return path.startswith("/echo/")

    def handle_request(self, req: Request) -> None:
        if req.path == "/echo/now":
            info = {
                "method": req.method,
                "path": req.path,
                "query_string": req.query_string,
                "query": dict(req.query),
                "headers": dict(req.headers),
                "body": req.body.decode("latin-1"),
                "client": list(req.client) if req.client else None,
                "scheme": req.scheme,
            }
            headers = [("Content-Type", "application/json"), ("Content-Length", "999")]
            req.respond(200, headers, json.dumps(info).encode())
        elif req.path == "/echo/hold":
            # A long-poll: answered by a later POST /echo/release, or abandoned.
            self.held.append(req)
            req.on_disconnect(lambda: self.disconnected.append(req.query.get("id", "")))
        elif req.path == "/echo/release":
            held, self.held = self.held, []
            for waiting in held:
                waiting.respond(200, [("content-type", "text/plain")], b"released:" + req.body)
            req.respond(200, [], str(len(held)).encode())
        elif req.path == "/echo/crash":
            raise RuntimeError("the handler failed")
        else:
            req.respond(404, [("content-type", "text/plain")], b"not found")

    def handle_websocket(self, req: WebSocketRequest) -> None:
        if req.path == "/echo/ws":
            ws = req.accept(MAX_MESSAGE)
            ws.set_handler(EchoHandler(self, ws))
            ws.send_text("hello " + req.query.get("name", "?"))
        elif req.path == "/echo/ws-later":
            # Accepted one loop turn later, as an engine checking something first would.
            def accept() -> None:
                ws = req.accept(MAX_MESSAGE)
                ws.set_handler(EchoHandler(self, ws))

            asyncio.get_running_loop().call_soon(accept)
        else:
            req.reject(403, [("content-type", "text/plain")], b"no websocket here")


async def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait until ``condition()`` holds (state changed by the server's thread)."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def echo_app() -> EchoApp:
    return EchoApp()


@pytest.fixture
def uvicorn_url(echo_app: EchoApp) -> Any:
    with run_uvicorn(ASGIApp(echo_app)) as url:
        yield url


async def test_request_fields(uvicorn_url: str, http: aiohttp.ClientSession) -> None:
    url = uvicorn_url + "/echo/now?EIO=4&transport=polling&a=%C3%A9&a=2&empty="
    async with http.post(url, data=b"4hello", headers={"X-Two": "1"}) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "application/json"
        raw = await resp.read()
        # The front end sets Content-Length itself, whatever the App put there.
        assert resp.headers["Content-Length"] == str(len(raw))
    info = json.loads(raw)
    assert info["method"] == "POST"
    assert info["path"] == "/echo/now"
    assert info["query_string"] == "EIO=4&transport=polling&a=%C3%A9&a=2&empty="
    assert info["query"] == {"EIO": "4", "transport": "polling", "a": "é", "empty": ""}
    assert info["headers"]["x-two"] == "1"
    assert info["headers"]["host"].startswith("127.0.0.1:")
    assert info["body"] == "4hello"
    assert info["client"][0] == "127.0.0.1"
    assert info["scheme"] == "http"


async def test_unowned_path_goes_to_the_app_without_other_app(
    uvicorn_url: str, http: aiohttp.ClientSession
) -> None:
    async with http.get(uvicorn_url + "/elsewhere") as resp:
        assert resp.status == 404
        assert await resp.read() == b"not found"


async def test_handler_error_answers_500(uvicorn_url: str, http: aiohttp.ClientSession) -> None:
    async with http.get(uvicorn_url + "/echo/crash") as resp:
        assert resp.status == 500


async def test_long_poll_held_then_answered(
    uvicorn_url: str, echo_app: EchoApp, http: aiohttp.ClientSession
) -> None:
    async def poll(i: int) -> bytes:
        async with http.get(f"{uvicorn_url}/echo/hold?id={i}") as resp:
            assert resp.status == 200
            return await resp.read()

    polls = [asyncio.ensure_future(poll(i)) for i in range(3)]
    await wait_for(lambda: len(echo_app.held) == 3)
    assert not any(p.done() for p in polls)
    async with http.post(uvicorn_url + "/echo/release", data=b"go") as resp:
        assert await resp.read() == b"3"
    assert await asyncio.gather(*polls) == [b"released:go"] * 3
    assert echo_app.disconnected == []


async def test_long_poll_client_gone_fires_on_disconnect(
    uvicorn_url: str, echo_app: EchoApp
) -> None:
    async with aiohttp.ClientSession() as session:
        poll = asyncio.ensure_future(session.get(uvicorn_url + "/echo/hold?id=gone"))
        await wait_for(lambda: len(echo_app.held) == 1)
        poll.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await poll
    await wait_for(lambda: echo_app.disconnected == ["gone"])
    # A respond() after the client left is ignored; the server keeps serving.
    async with aiohttp.ClientSession() as session:
        async with session.post(uvicorn_url + "/echo/release", data=b"late") as resp:
            assert await resp.read() == b"1"
        async with session.get(uvicorn_url + "/echo/now") as resp:
            assert resp.status == 200


async def test_body_limit_413(uvicorn_url: str, http: aiohttp.ClientSession) -> None:
    async with http.post(uvicorn_url + "/echo/now", data=b"x" * MAX_BODY) as resp:
        assert resp.status == 200
        assert len((await resp.json())["body"]) == MAX_BODY
    async with http.post(uvicorn_url + "/echo/now", data=b"x" * (MAX_BODY + 1)) as resp:
        assert resp.status == 413

    async def chunked() -> AsyncIterator[bytes]:
        # No Content-Length: the limit is enforced while reading.
        for _ in range(4):
            yield b"y" * 300

    async with http.post(uvicorn_url + "/echo/now", data=chunked()) as resp:
        assert resp.status == 413


async def test_websocket_echo(uvicorn_url: str, echo_app: EchoApp) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(uvicorn_url + "/echo/ws?name=ada") as ws,
    ):
        assert await ws.receive_str(timeout=5) == "hello ada"
        await ws.send_str("4hello")
        assert await ws.receive_str(timeout=5) == "4hello"
        await ws.send_bytes(b"\x01\x02\x03\x04")
        assert await ws.receive_bytes(timeout=5) == b"\x01\x02\x03\x04"
        await ws.send_str("burst")
        # Sends made in one call arrive whole and in order.
        assert [await ws.receive_str(timeout=5) for _ in range(50)] == [f"m{i}" for i in range(50)]
        await ws.send_str("interleave")
        assert [await ws.receive_str(timeout=5) for _ in range(41)] == INTERLEAVED
        await ws.send_str("shared")
        assert await ws.receive_bytes(timeout=5) == b"\x00shared"
        assert await ws.receive_str(timeout=5) == "text shared"
        await ws.send_str("x" * MAX_MESSAGE)
        assert await ws.receive_str(timeout=5) == "x" * MAX_MESSAGE
    await wait_for(lambda: echo_app.ws_closes == [1000])


async def test_websocket_too_big_closes_1009(uvicorn_url: str, echo_app: EchoApp) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(uvicorn_url + "/echo/ws") as ws,
    ):
        assert await ws.receive_str(timeout=5) == "hello ?"
        # 60 code points but 120 UTF-8 bytes: the limit counts bytes.
        await ws.send_str("é" * 60)
        message = await ws.receive(timeout=5)
        assert message.type == aiohttp.WSMsgType.CLOSE
        assert ws.close_code == 1009
    await wait_for(lambda: echo_app.ws_closes == [1009])
    await asyncio.sleep(0.1)
    assert echo_app.ws_closes == [1009]


async def test_websocket_server_close(uvicorn_url: str, echo_app: EchoApp) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(uvicorn_url + "/echo/ws") as ws,
    ):
        assert await ws.receive_str(timeout=5) == "hello ?"
        await ws.send_str("close")
        message = await ws.receive(timeout=5)
        assert message.type == aiohttp.WSMsgType.CLOSE
        assert ws.close_code == 4000
        assert message.extra == "bye"
    await wait_for(lambda: echo_app.ws_closes == [4000])


async def test_websocket_accepted_later(uvicorn_url: str, echo_app: EchoApp) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(uvicorn_url + "/echo/ws-later") as ws,
    ):
        await ws.send_str("ping")
        assert await ws.receive_str(timeout=5) == "ping"
    await wait_for(lambda: echo_app.ws_closes == [1000])


async def test_websocket_reject_is_an_http_response(uvicorn_url: str) -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await session.ws_connect(uvicorn_url + "/echo/nope")
        assert info.value.status == 403


# Passthrough to another ASGI app (Starlette) for the paths the engine does not own.


def starlette_app(events: list[str]) -> Any:
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket as StarletteWebSocket

    async def hello(request: Any) -> PlainTextResponse:
        return PlainTextResponse("hello from starlette " + request.url.path)

    async def ws_echo(websocket: StarletteWebSocket) -> None:
        await websocket.accept()
        text = await websocket.receive_text()
        await websocket.send_text("starlette " + text)
        await websocket.close()

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        events.append("startup")
        yield
        events.append("shutdown")

    return Starlette(
        routes=[Route("/hello", hello), WebSocketRoute("/ws", ws_echo)], lifespan=lifespan
    )


async def test_passthrough_to_other_app(echo_app: EchoApp, http: aiohttp.ClientSession) -> None:
    events: list[str] = []
    app = ASGIApp(echo_app, other_app=starlette_app(events))
    with run_uvicorn(app, lifespan="on") as url:
        assert events == ["startup"]
        async with http.get(url + "/hello") as resp:
            assert resp.status == 200
            assert await resp.text() == "hello from starlette /hello"
        async with http.get(url + "/missing") as resp:
            assert resp.status == 404  # Starlette's 404, not the engine's
            assert await resp.read() == b"Not Found"
        async with http.get(url + "/echo/now?x=1") as resp:
            assert (await resp.json())["query"] == {"x": "1"}
        async with http.ws_connect(url + "/ws") as ws:
            await ws.send_str("hi")
            assert await ws.receive_str(timeout=5) == "starlette hi"
        async with http.ws_connect(url + "/echo/ws") as ws:
            assert await ws.receive_str(timeout=5) == "hello ?"
    assert events == ["startup", "shutdown"]


async def test_lifespan_without_other_app(echo_app: EchoApp) -> None:
    # lifespan="on" makes uvicorn fail to start if startup is not answered.
    with run_uvicorn(ASGIApp(echo_app), lifespan="on") as url:
        async with aiohttp.ClientSession() as session, session.get(url + "/echo/now") as resp:
            assert resp.status == 200


async def test_under_hypercorn(echo_app: EchoApp, http: aiohttp.ClientSession) -> None:
    events: list[str] = []
    with run_hypercorn(ASGIApp(echo_app, other_app=starlette_app(events))) as url:
        poll = asyncio.ensure_future(http.get(url + "/echo/hold"))
        await wait_for(lambda: len(echo_app.held) == 1)
        async with http.post(url + "/echo/release", data=b"h") as resp:
            assert resp.status == 200
        async with await poll as resp:
            assert await resp.read() == b"released:h"
        async with http.post(url + "/echo/now", data=b"z" * (MAX_BODY + 1)) as resp:
            assert resp.status == 413
        async with http.get(url + "/hello") as resp:
            assert await resp.text() == "hello from starlette /hello"
        async with http.ws_connect(url + "/echo/ws") as ws:
            assert await ws.receive_str(timeout=5) == "hello ?"
            await ws.send_bytes(b"\xff")
            assert await ws.receive_bytes(timeout=5) == b"\xff"
            await ws.send_str("interleave")
            assert [await ws.receive_str(timeout=5) for _ in range(41)] == INTERLEAVED
            await ws.send_bytes(b"b" * (MAX_MESSAGE + 1))
            message = await ws.receive(timeout=5)
            assert message.type == aiohttp.WSMsgType.CLOSE
            assert ws.close_code == 1009
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await http.ws_connect(url + "/echo/nope")
        assert info.value.status == 403
        await wait_for(lambda: echo_app.ws_closes == [1009])
    assert events == ["startup", "shutdown"]


async def test_websocket_lost_connection_reports_close_once(
    uvicorn_url: str, echo_app: EchoApp
) -> None:
    from websockets.asyncio.client import connect

    ws_url = uvicorn_url.replace("http://", "ws://") + "/echo/ws"
    async with connect(ws_url) as client:
        assert await client.recv() == "hello ?"
        client.transport.abort()  # no close frame: the TCP connection just goes away
    await wait_for(lambda: len(echo_app.ws_closes) == 1)
    assert echo_app.ws_closes[0] in (1005, 1006)
    await asyncio.sleep(0.1)
    assert len(echo_app.ws_closes) == 1


# turbosio's real Server mounted beside FastAPI (sio.asgi(other_app=...)).

needs_server = pytest.mark.skipif(
    not hasattr(turbosio, "Server"), reason="turbosio.Server is not there yet"
)


def fastapi_beside_sio() -> Any:
    from fastapi import FastAPI

    api = FastAPI()

    @api.get("/api/hello")
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    sio = turbosio.Server()

    async def echo(socket: Any, *args: Any) -> Any:
        return args

    sio.on("echo", echo)
    return sio.asgi(other_app=api)


async def next_packet(ws: aiohttp.ClientWebSocketResponse) -> str:
    """The next Engine.IO packet that is not a ping (pings are answered)."""
    while True:
        packet = await ws.receive_str(timeout=10)
        if packet != "2":
            return packet
        await ws.send_str("3")


@needs_server
async def test_server_beside_fastapi_polling_and_upgrade(http: aiohttp.ClientSession) -> None:
    with run_uvicorn(fastapi_beside_sio()) as url:
        async with http.get(url + "/api/hello") as resp:
            assert await resp.json() == {"hello": "world"}

        base = url + "/socket.io/?EIO=4&transport=polling"
        async with http.get(base) as resp:
            assert resp.status == 200
            body = await resp.text()
        assert body.startswith("0{")
        handshake = json.loads(body[1:])
        assert handshake["upgrades"] == ["websocket"]
        sid = handshake["sid"]
        polling = f"{base}&sid={sid}"

        async with http.post(polling, data="40") as resp:
            assert await resp.text() == "ok"
        async with http.get(polling) as resp:
            assert (await resp.text()).startswith('40{"sid":')
        async with http.post(polling, data='421["echo","hi",{"n":1}]') as resp:
            assert await resp.text() == "ok"
        async with http.get(polling) as resp:
            assert await resp.text() == '431["hi",{"n":1}]'

        ws_url = (
            url.replace("http://", "ws://") + f"/socket.io/?EIO=4&transport=websocket&sid={sid}"
        )
        async with http.ws_connect(ws_url) as ws:
            await ws.send_str("2probe")
            assert await ws.receive_str(timeout=10) == "3probe"
            await ws.send_str("5")
            await ws.send_str('422["echo","over websocket"]')
            assert await next_packet(ws) == '432["over websocket"]'


@needs_server
async def test_server_beside_fastapi_websocket_only(http: aiohttp.ClientSession) -> None:
    with run_uvicorn(fastapi_beside_sio()) as url:
        ws_url = url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        async with http.ws_connect(ws_url) as ws:
            opened = await ws.receive_str(timeout=10)
            assert opened.startswith("0{")
            assert json.loads(opened[1:])["upgrades"] == []
            await ws.send_str("40")
            assert (await next_packet(ws)).startswith('40{"sid":')
            await ws.send_str('427["echo",1,"2",{"3":[true]}]')
            assert await next_packet(ws) == '437[1,"2",{"3":[true]}]'
        async with http.get(url + "/api/hello") as resp:
            assert resp.status == 200


async def _silent_websocket_client(url: str, first_event: str) -> socket.socket:
    """Joins "/" over a WebSocket opened by hand, emits ``first_event``, then never reads."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    host, port = url.removeprefix("http://").split(":")
    await loop.sock_connect(sock, (host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    await loop.sock_sendall(
        sock,
        (
            "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Key: {key}\r\n\r\n"
        ).encode(),
    )
    seen = b""
    # The open packet, then the CONNECT reply (both carry a sid) before the event.
    for sids, text in ((1, b"40"), (2, f'42["{first_event}"]'.encode())):
        while seen.count(b'"sid"') < sids:
            seen += await asyncio.wait_for(loop.sock_recv(sock, 4096), 10)
        mask = os.urandom(4)
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(text))
        await loop.sock_sendall(sock, bytes((0x81, 0x80 | len(payload))) + mask + payload)
    return sock


@needs_server
async def test_slow_websocket_client_not_writable_then_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Under uvicorn, a client that stops reading while the server keeps sending to it: past
    # outbound_high_water it is not writable (so volatile packets skip it), past
    # max_outbound_buffer it is disconnected ("transport error") with one WARNING line, and
    # nothing more is queued for it.
    high_water, limit = 16 * 1024, 512 * 1024
    sio = turbosio.Server(outbound_high_water=high_water, max_outbound_buffer=limit)
    writable: list[bool] = []
    reasons: list[str] = []
    chunk = b"x" * 8192

    async def flood(socket: Any) -> None:
        while socket.connected and len(writable) < 20_000:
            writable.append(socket.conn.writable)
            socket.emit("chunk", chunk)
            await asyncio.sleep(0.001)

    async def disconnect(socket: Any, reason: str) -> None:
        reasons.append(reason)

    sio.on("flood", flood)
    sio.on("disconnect", disconnect)
    caplog.set_level(logging.WARNING, "turbosio")
    with run_uvicorn(sio.asgi()) as url:
        sock = await _silent_websocket_client(url, "flood")
        host, port = sock.getsockname()[:2]
        address = f"{host}:{port}"
        await wait_for(lambda: bool(reasons), timeout=30)
        sock.close()
    assert reasons == ["transport error"]
    # Writable at first; then, once the client's buffers and uvicorn's were full, the queue
    # passed the high-water mark about 60 chunks (of 8 KiB) before it passed the limit, and
    # those chunks all saw the connection not writable.
    assert writable[0] is True
    assert writable[-50:] == [False] * 50
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        f"closing the connection of {address}: over {limit} bytes waiting to be sent (the "
        "client does not read fast enough)"
    ]
    assert warnings[0].exc_info is None
