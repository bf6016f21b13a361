"""Bad input costs one log line at most, never a traceback, and no other client notices."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest

import turbosio
from turbosio.socketio import Socket

from .rawclient import RawClient


@pytest.fixture
async def url() -> AsyncIterator[str]:
    sio = turbosio.Server(max_http_buffer_size=1000)

    @sio.on("echo")
    async def echo(socket: Socket, value: object) -> object:
        return value

    handle = await sio.serve(port=0)
    yield handle.url
    await handle.close(timeout=0.5)


async def bad_ws_packet(url: str) -> None:
    c = await RawClient.open(url)
    await c.connect()
    await c.send('42abc["echo"]')
    assert await c.closed()
    await c.close()


async def oversized_ws_message(url: str) -> None:
    c = await RawClient.open(url)
    await c.connect()
    await c.send('42["echo","' + "x" * 2000 + '"]')
    assert await c.closed()
    await c.close()


async def garbage_post(url: str) -> None:
    async with aiohttp.ClientSession() as http:
        base = f"{url}/socket.io/?EIO=4&transport=polling"
        async with http.get(base) as r:
            sid = (await r.text())[9:29]
        async with http.post(f"{base}&sid={sid}", data="\xffgarbage") as r:
            assert r.status == 200
        async with http.get(f"{base}&sid={sid}") as r:
            assert r.status == 400


async def unknown_sid(url: str) -> None:
    target = f"{url}/socket.io/?EIO=4&transport=polling&sid=nope"
    async with aiohttp.ClientSession() as http, http.get(target) as r:
        assert r.status == 400
        assert await r.json() == {"code": 1, "message": "Session ID unknown"}


async def bad_http(url: str) -> None:
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"NOT HTTP AT ALL\r\n\r\n")
    data = await reader.read()
    assert data.startswith(b"HTTP/1.1 400")
    writer.close()


@pytest.mark.parametrize(
    "bad", [bad_ws_packet, oversized_ws_message, garbage_post, unknown_sid, bad_http]
)
async def test_one_log_line_no_traceback_others_unaffected(
    url: str, bad: Callable[[str], Awaitable[None]], caplog: pytest.LogCaptureFixture
) -> None:
    good = await RawClient.open(url)
    await good.connect()
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="turbosio"):
        await bad(url)
        await asyncio.sleep(0.05)
    records = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert len(records) <= 1, [r.getMessage() for r in records]
    assert all(r.exc_info is None for r in records)
    await good.send('421["echo","still here"]')
    assert await good.recv() == '431["still here"]'
    await good.close()
