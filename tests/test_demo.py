"""The demo chat (turbosio.demo): its page ships in the package, and messages reach everyone.

The clients here speak the wire protocol over aiohttp WebSockets, so what is checked is what
a browser running the page would receive.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

import turbosio
from turbosio.demo import INDEX_HTML, create_server

needs_server = pytest.mark.skipif(
    not hasattr(turbosio, "Server"), reason="turbosio.Server is not there yet"
)

TIMEOUT = 10


def test_page_ships_in_the_package() -> None:
    assert INDEX_HTML.is_file()
    assert INDEX_HTML.parent.parent.name == "demo"
    page = INDEX_HTML.read_text(encoding="utf-8")
    # The client comes from the server when it serves one, else from the 4.5.4 CDN build.
    assert '"/socket.io/socket.io.js"' in page
    assert '"https://cdn.socket.io/4.5.4/socket.io.min.js"' in page
    assert 'socket.emit("message"' in page
    assert 'socket.on("response"' in page


async def next_packet(ws: aiohttp.ClientWebSocketResponse) -> str:
    """The next Engine.IO packet that is not a ping (pings are answered)."""
    while True:
        packet = await ws.receive_str(timeout=TIMEOUT)
        if packet != "2":
            return packet
        await ws.send_str("3")


async def join(http: aiohttp.ClientSession, url: str) -> aiohttp.ClientWebSocketResponse:
    """Open a WebSocket-only Engine.IO session and connect to the main namespace."""
    ws = await http.ws_connect(
        url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    )
    assert (await next_packet(ws)).startswith("0{")
    await ws.send_str("40")
    assert (await next_packet(ws)).startswith("40{")
    return ws


def event(packet: str) -> list[Any]:
    assert packet.startswith("42"), packet
    decoded: list[Any] = json.loads(packet[2:])
    return decoded


@pytest.fixture
async def demo_url() -> AsyncIterator[str]:
    sio = create_server()
    handle = await sio.serve(host="127.0.0.1", port=0)
    try:
        yield handle.url
    finally:
        await handle.close()


@needs_server
async def test_page_at_root(demo_url: str) -> None:
    async with aiohttp.ClientSession() as http, http.get(demo_url + "/") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/html")
        assert await resp.read() == INDEX_HTML.read_bytes()


@needs_server
async def test_message_is_broadcast_to_every_client(demo_url: str) -> None:
    async with aiohttp.ClientSession() as http:
        alice = await join(http, demo_url)
        bob = await join(http, demo_url)
        await alice.send_str('42["message","hello from alice"]')
        expected = ["response", {"msg": "hello from alice"}]
        assert event(await next_packet(alice)) == expected
        assert event(await next_packet(bob)) == expected

        await bob.send_str('42["message",{"any":["json",1]}]')
        expected = ["response", {"msg": {"any": ["json", 1]}}]
        assert event(await next_packet(bob)) == expected
        assert event(await next_packet(alice)) == expected
        await alice.close()
        await bob.close()


@needs_server
async def test_create_server_passes_options() -> None:
    sio = create_server(path="/chat")
    handle = await sio.serve(host="127.0.0.1", port=0)
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(handle.url + "/chat/?EIO=4&transport=polling") as resp,
        ):
            assert resp.status == 200
            assert (await resp.text()).startswith("0{")
    finally:
        await handle.close()
