"""Trusted proxies, volatile packets, the polling buffer's bound and packet logging, through the
embedded server on 127.0.0.1 with wire-level clients."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import aiohttp
import orjson
import pytest

import turbosio
from turbosio.socketio.proxies import TrustedProxies

TIMEOUT = 10.0


def _request(peer: str, headers: dict[str, str], scheme: str = "http") -> Any:
    return SimpleNamespace(client=(peer, 1234), headers=headers, scheme=scheme)


def test_trusted_proxies_read_x_forwarded_for_from_the_right() -> None:
    proxies = TrustedProxies(["10.0.0.0/8", "127.0.0.1"])
    xff = {"x-forwarded-for": "6.6.6.6, 203.0.113.7, 10.1.2.3"}
    # The nearest proxy (10.1.2.3) is trusted, so is the peer: 203.0.113.7 is the client.
    assert proxies.client_address(_request("127.0.0.1", xff)) == "203.0.113.7"
    # An untrusted peer's header is ignored.
    assert proxies.client_address(_request("192.0.2.1", xff)) == "192.0.2.1"
    # No header: the peer.
    assert proxies.client_address(_request("127.0.0.1", {})) == "127.0.0.1"
    # Garbage stops the walk at the last address a trusted proxy vouched for.
    garbage = {"x-forwarded-for": "203.0.113.7, unknown"}
    assert proxies.client_address(_request("127.0.0.1", garbage)) == "127.0.0.1"
    # Every hop trusted: the leftmost.
    assert proxies.client_address(_request("127.0.0.1", {"x-forwarded-for": "10.9.9.9"})) == (
        "10.9.9.9"
    )


def test_trusted_proxies_forms() -> None:
    assert not TrustedProxies(None)
    assert TrustedProxies("*").trusts("198.51.100.1")
    v6 = TrustedProxies("::1")
    assert v6.trusts("::1") and not v6.trusts("::2")
    assert TrustedProxies("127.0.0.1").trusts("::ffff:127.0.0.1")  # dual-stack sockets
    bracketed = {"x-forwarded-for": "[2001:db8::1]:443"}
    assert v6.client_address(_request("::1", bracketed)) == "2001:db8::1"
    assert TrustedProxies("127.0.0.1").client_address(
        _request("127.0.0.1", {"x-forwarded-for": "198.51.100.4:5555"})
    ) == ("198.51.100.4")
    with pytest.raises(ValueError, match="not an IP address"):
        TrustedProxies(["localhost"])


def test_x_forwarded_proto() -> None:
    proxies = TrustedProxies("127.0.0.1")
    https = {"x-forwarded-proto": "https"}
    assert proxies.is_secure(_request("127.0.0.1", https))
    assert not proxies.is_secure(_request("192.0.2.1", https))  # not from a proxy
    assert not TrustedProxies().is_secure(_request("127.0.0.1", https))
    assert TrustedProxies().is_secure(_request("192.0.2.1", {}, scheme="https"))


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _ws_connect(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str] | None = None
) -> aiohttp.ClientWebSocketResponse:
    ws = await http.ws_connect(
        url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket", headers=headers
    )
    assert (await ws.receive_str(timeout=TIMEOUT)).startswith("0{")
    await ws.send_str("40")
    assert (await ws.receive_str(timeout=TIMEOUT)).startswith("40{")
    return ws


async def test_handshake_address_behind_a_trusted_proxy(http: aiohttp.ClientSession) -> None:
    seen: list[tuple[str, bool]] = []
    for trusted in ("127.0.0.1", None):
        sio = turbosio.Server(trusted_proxies=trusted)

        @sio.on("connect")
        async def connect(socket: turbosio.Socket, auth: Any) -> None:
            seen.append((socket.handshake.address, socket.handshake.secure))

        handle = await sio.serve(port=0)
        try:
            headers = {"X-Forwarded-For": "198.51.100.7", "X-Forwarded-Proto": "https"}
            ws = await _ws_connect(http, handle.url, headers)
            await ws.close()
        finally:
            await handle.close()
    assert seen == [("198.51.100.7", True), ("127.0.0.1", False)]


class _Polling:
    """A polling client driven by hand: the test decides when it polls."""

    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http = http
        self.base = url + "/socket.io/?EIO=4&transport=polling"

    async def open(self) -> None:
        async with self.http.get(self.base) as response:
            self.base += "&sid=" + orjson.loads((await response.text())[1:])["sid"]
        await self.post("40")
        assert (await self.poll()).startswith("40{")

    async def post(self, body: str) -> None:
        headers = {"Content-Type": "text/plain;charset=UTF-8"}
        async with self.http.post(self.base, data=body.encode(), headers=headers) as response:
            assert await response.text() == "ok"

    async def poll(self) -> str:
        async with self.http.get(self.base, timeout=aiohttp.ClientTimeout(TIMEOUT)) as response:
            return await response.text()


async def test_volatile_is_dropped_when_not_writable(http: aiohttp.ClientSession) -> None:
    sio = turbosio.Server()
    handle = await sio.serve(port=0)
    try:
        client = _Polling(http, handle.url)
        await client.open()
        # No GET waiting: not writable, the volatile packet is dropped; the other one waits.
        sio.volatile.emit("typing", 1)
        sio.emit("chat", "kept")
        assert await client.poll() == '42["chat","kept"]'
        # A GET waiting: writable, the volatile packet goes out.
        poll = asyncio.ensure_future(client.poll())
        await asyncio.sleep(0.2)
        sio.volatile.emit("typing", 2)
        assert await poll == '42["typing",2]'
    finally:
        await handle.close()


async def test_a_polling_client_that_stops_polling_is_dropped(
    http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    sio = turbosio.Server(max_outbound_buffer=20_000)
    reasons: asyncio.Queue[str] = asyncio.Queue()

    @sio.on("disconnect")
    async def disconnect(socket: turbosio.Socket, reason: str) -> None:
        reasons.put_nowait(reason)

    handle = await sio.serve(port=0)
    caplog.set_level(logging.WARNING, "turbosio.engineio")
    try:
        client = _Polling(http, handle.url)
        await client.open()
        for _ in range(10):
            sio.emit("news", "x" * 1000)
        assert reasons.empty()  # 10 kB waiting: under the limit
        for _ in range(15):
            sio.emit("news", "x" * 1000)
        assert await asyncio.wait_for(reasons.get(), TIMEOUT) == "transport error"
        assert not sio.engine.sessions
        lines = [r.getMessage() for r in caplog.records]
        assert any("over 20000 bytes waiting to be polled" in line for line in lines), lines
    finally:
        await handle.close()


async def test_packet_logging_on_demand(
    http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    sio = turbosio.Server()

    @sio.on("echo")
    async def echo(socket: turbosio.Socket, text: str) -> str:
        return text

    handle = await sio.serve(port=0)
    try:
        quiet = await _ws_connect(http, handle.url)  # opened while packet logging is off
        caplog.set_level(logging.DEBUG, "turbosio.packets")
        ws = await _ws_connect(http, handle.url)
        await ws.send_str('421["echo","' + "y" * 400 + '"]')
        assert (await ws.receive_str(timeout=TIMEOUT)).startswith("431[")
        await quiet.send_str('421["echo","unseen"]')
        assert await quiet.receive_str(timeout=TIMEOUT) == '431["unseen"]'
        await ws.close()
        await quiet.close()
    finally:
        await handle.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "turbosio.packets"]
    sid = lines[0].split()[0]
    assert lines[0].startswith(f'{sid} > 0{{"sid":"{sid}"')
    assert f"{sid} < 40" in lines
    assert any(line.startswith(f"{sid} < 421[") and "characters)" in line for line in lines)
    assert not any("unseen" in line for line in lines)


async def test_frames_sent_with_the_upgrade_request_reach_the_session() -> None:
    # A client may send its first frames right behind the upgrade request, in one write; the
    # Socket.IO layer must know the session before they are delivered (found by tests/fuzz).
    import base64
    import os

    sio = turbosio.Server()
    handle = await sio.serve(port=0)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", handle.port)
        mask = os.urandom(4)
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(b"40"))
        writer.write(
            b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n"
            b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            b"Sec-WebSocket-Key: "
            + base64.b64encode(os.urandom(16))
            + b"\r\n\r\n"
            + bytes((0x81, 0x82))
            + mask
            + payload
        )
        seen = b""
        while b'40{"sid"' not in seen:
            chunk = await asyncio.wait_for(reader.read(4096), TIMEOUT)
            assert chunk, seen
            seen += chunk
        writer.close()
    finally:
        await handle.close()
