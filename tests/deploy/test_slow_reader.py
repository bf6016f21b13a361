"""Slow readers cannot grow the server's memory, and do not slow the others down.

10 clients connect and then stop reading (8 over WebSocket: their TCP receive windows fill;
2 over polling: they stop polling) while the server broadcasts 200 MiB to everyone, in 1 MiB
binary events. 3 clients read and acknowledge a "sync" every 4 chunks (the application's own
flow control, which only clients that read can answer).

What must hold, with the default limits (``max_outbound_buffer`` 8 MiB):

* every slow client is disconnected ("transport error"), with one WARNING line each naming the
  limit and no traceback;
* each reading client receives all 200 chunks, whole;
* the server's peak RSS (VmHWM) grows by less than BOUND over its RSS before the broadcast:
  10 clients x 8 MiB of outbound buffer, plus 64 MiB for the chunks in flight to the readers
  and the allocator's slack. Without the limit the slow clients alone would hold 2 GiB.

The server runs in its own process (tests/deploy/app.py), so its memory is its own: once with
the embedded server, once as ``sio.asgi()`` under uvicorn (whose WebSocket outbound queue is
bounded by the same options).
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson
import pytest

from .conftest import ServerProcess

MiB = 1024 * 1024
CHUNKS = 200
CHUNK_SIZE = 1 * MiB
SYNC_EVERY = 4
FAST = 3
SLOW_WEBSOCKET = 8
SLOW_POLLING = 2
MAX_OUTBOUND = 8 * MiB
#: The stated bound on the server's RSS growth during the broadcast (see the docstring).
BOUND = (SLOW_WEBSOCKET + SLOW_POLLING) * MAX_OUTBOUND + 64 * MiB
TIMEOUT = 60.0


async def fast_client(
    http: aiohttp.ClientSession,
    url: str,
    pump: bool,
    connected: asyncio.Event,
    finished: asyncio.Event,
) -> dict[str, Any]:
    """Reads everything, answers pings and syncs; the first one also asks for the pump and
    gets its answer (the server's figures), while the others stay until then."""
    received: dict[int, int] = {}
    result: dict[str, Any] = {}
    ws_url = url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"
    async with http.ws_connect(ws_url, max_msg_size=0) as ws:
        assert (await ws.receive_str()).startswith("0{")
        await ws.send_str('40{"role":"fast"}')
        assert (await ws.receive_str()).startswith("40{")
        if pump:
            await connected.wait()
            await ws.send_str(f'421["pump",{CHUNKS},{CHUNK_SIZE},{SYNC_EVERY}]')
        chunk = -1
        while True:
            msg = await ws.receive()
            if msg.type == aiohttp.WSMsgType.BINARY:
                received[chunk] = len(msg.data)
                continue
            assert msg.type == aiohttp.WSMsgType.TEXT, msg
            text: str = msg.data
            if text == "2":
                await ws.send_str("3")
            elif text.startswith('451-["chunk"'):
                chunk = orjson.loads(text[4:])[1]
            elif text.startswith("42"):
                ack_id, _, body = text[2:].partition("[")
                last = orjson.loads("[" + body)[1]
                await ws.send_str(f"43{ack_id}[]")
                if last == CHUNKS and not pump:
                    await finished.wait()
                    break
            elif text.startswith("431["):
                result = orjson.loads(text[3:])[0]
                finished.set()
                break
    return {"received": received, "result": result}


async def slow_websocket_client(port: int) -> socket.socket:
    """Completes the handshakes, joins "/", then never reads again."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, ("127.0.0.1", port))
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
    while b'"sid"' not in seen:
        seen += await loop.sock_recv(sock, 4096)
    # A masked text frame "40": join the main namespace.
    mask = os.urandom(4)
    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(b'40{"role":"slow"}'))
    await loop.sock_sendall(sock, bytes((0x81, 0x80 | len(payload))) + mask + payload)
    while seen.count(b'"sid"') < 2:  # the CONNECT reply carries a sid too
        seen += await loop.sock_recv(sock, 4096)
    return sock  # and it is never read from again


async def slow_polling_client(http: aiohttp.ClientSession, url: str) -> None:
    """Opens a polling session, joins "/", then never polls again."""
    base = url + "/socket.io/?EIO=4&transport=polling"
    async with http.get(base) as response:
        sid = orjson.loads((await response.text())[1:])["sid"]
    headers = {"Content-Type": "text/plain;charset=UTF-8"}
    post = http.post(f"{base}&sid={sid}", data=b'40{"role":"slow"}', headers=headers)
    async with post as response:
        assert await response.text() == "ok"
    async with http.get(f"{base}&sid={sid}") as response:
        assert (await response.text()).startswith("40{")


@pytest.mark.parametrize("front", ["embedded", pytest.param("uvicorn", marks=pytest.mark.uvicorn)])
async def test_slow_readers_are_dropped_and_memory_stays_bounded(
    start_server: Callable[..., ServerProcess], front: str
) -> None:
    asgi = ["--asgi"] if front == "uvicorn" else []
    server = start_server("--max-outbound", str(MAX_OUTBOUND), *asgi)
    connected, finished = asyncio.Event(), asyncio.Event()
    async with aiohttp.ClientSession() as http:
        slow_sockets = [await slow_websocket_client(server.port) for _ in range(SLOW_WEBSOCKET)]
        for _ in range(SLOW_POLLING):
            await slow_polling_client(http, server.url)
        readers = [
            asyncio.create_task(fast_client(http, server.url, i == 0, connected, finished))
            for i in range(FAST)
        ]
        await asyncio.sleep(0.5)  # the readers joined (the pump only syncs with those)
        connected.set()
        results = await asyncio.wait_for(asyncio.gather(*readers), TIMEOUT)
    for sock in slow_sockets:
        sock.close()

    for result in results:  # every reader got every chunk, whole
        assert result["received"] == dict.fromkeys(range(CHUNKS), CHUNK_SIZE)
    stats = results[0]["result"]
    before, after = stats["before"], stats["after"]
    assert before["sockets"] == FAST + SLOW_WEBSOCKET + SLOW_POLLING
    # The slow ones were dropped for not reading; the readers are all still there.
    assert after["reasons"] == {"transport error": SLOW_WEBSOCKET + SLOW_POLLING}
    assert after["sockets"] == FAST
    growth = after["peak_rss"] - before["rss"]
    print(f"server RSS {before['rss'] / MiB:.0f} MiB before, peak {after['peak_rss'] / MiB:.0f}")
    assert growth < BOUND, f"peak RSS grew by {growth / MiB:.0f} MiB (bound {BOUND / MiB:.0f})"
    log = server.log
    assert log.count("waiting to be sent") == SLOW_WEBSOCKET, log
    assert log.count("waiting to be polled") == SLOW_POLLING, log
    assert "Traceback" not in log
