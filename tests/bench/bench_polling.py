"""Micro-benchmark of one acknowledged message over HTTP long-polling on the embedded server.

One iteration is what the "polling-only echo" row costs the server outside the kernel: a POST
carrying ``421["echo",{...}]`` parsed, dispatched to the handler and answered ``ok``, and the
client's next GET answered with the acknowledgement ``431[...]``. The two requests come on two
connections, as a browser sends them, over transports that keep what is written; the event
loop runs the flushes as it does for real requests.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

import turbosio
from turbosio.server.connection import Flusher, ServerState
from turbosio.server.http import HttpConnection

from .bench_connect import _Transport

PAYLOAD = b'{"text":"' + b"x" * 80 + b'"}'


def _post(target: bytes, body: bytes) -> bytes:
    return (
        b"POST " + target + b" HTTP/1.1\r\nHost: 127.0.0.1:5000\r\n"
        b"Content-Type: text/plain;charset=UTF-8\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    )


def _get(target: bytes) -> bytes:
    return b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1:5000\r\n\r\n"


def _body(response: bytes) -> bytes:
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n"), head
    return body


BATCH = 100


def test_polling_echo(benchmark: Any) -> None:
    """POST an acked event, GET its acknowledgement; a round is 100 messages."""
    sio = turbosio.Server(ping_interval=25, ping_timeout=20)

    @sio.on("echo")
    async def echo(socket: turbosio.Socket, data: Any) -> Any:
        return data

    loop = asyncio.new_event_loop()
    state = ServerState(sio, Flusher(loop), "http")
    gets, posts = HttpConnection(state), HttpConnection(state)
    get_out, post_out = _Transport(), _Transport()
    gets.connection_made(get_out)
    posts.connection_made(post_out)

    async def turn() -> None:
        # The engine's flush and the server's write run as call_soon callbacks.
        await asyncio.sleep(0)
        await asyncio.sleep(0)

    async def connect() -> bytes:
        sio._bind_loop()
        gets.data_received(_get(b"/socket.io/?EIO=4&transport=polling"))
        await turn()
        sid = json.loads(_body(get_out.written[-1])[1:])["sid"]
        target = f"/socket.io/?EIO=4&transport=polling&sid={sid}".encode()
        posts.data_received(_post(target, b"40"))
        gets.data_received(_get(target))
        await turn()
        assert _body(get_out.written[-1]).startswith(b'40{"sid":"')
        return target

    target = loop.run_until_complete(connect())
    post, get = _post(target, b'421["echo",' + PAYLOAD + b"]"), _get(target)

    async def batch() -> None:
        for _ in range(BATCH):
            posts.data_received(post)
            gets.data_received(get)
            await turn()

    def run() -> None:
        get_out.written.clear()
        post_out.written.clear()
        loop.run_until_complete(batch())

    try:
        benchmark(run)
        # Each message: its POST answered "ok", its GET answered with the acknowledgement.
        assert [_body(w) for w in post_out.written] == [b"ok"] * BATCH
        assert [_body(w) for w in get_out.written] == [b"431[" + PAYLOAD + b"]"] * BATCH
    finally:
        loop.close()


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__, "-p", "no:cacheprovider", "-o", "python_files=bench_*.py"])
