"""Faults: Redis restarted under traffic. Local delivery never stops; both servers log the
loss once, reconnect, subscribe again and deliver across once more.

The test runs its own redis-server on a free port (the shared one is left alone), so the
``redis-server`` program is needed; without it the test is skipped loudly (fails under CI).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
from collections.abc import Iterator

import pytest

import turbosio
from turbosio.adapters.redis import RedisAdapter

from .conftest import free_port, skip_or_fail
from .peer import Peer
from .test_redis_cluster import Node, build


class RedisServer:
    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    async def ready(self) -> None:
        for _ in range(200):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            await writer.wait_closed()
            return
        raise AssertionError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    binary = shutil.which("redis-server")
    if binary is None:
        skip_or_fail("redis-server is not installed (apt-get install redis-server)")
    assert binary is not None
    server = RedisServer(binary)
    server.start()
    yield server
    server.stop()


async def wait_connected(*servers: turbosio.Server) -> None:
    for _ in range(400):  # bounded: the backoff tops at 5 s
        if all(s._adapter_factory.connected for s in servers):  # type: ignore[attr-defined]
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the adapters did not reconnect")


async def test_redis_restarted_during_traffic(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="turbosio.redis")
    await redis_server.ready()
    nodes = []
    for _ in range(2):
        sio = build(redis_server.url, "faults")
        nodes.append(Node(sio, await sio.serve(port=0)))
    a, b = nodes
    try:
        pa = await a.peer(["room"])
        pb = await b.peer(["room"])
        a.sio.emit("before")
        assert await pb.next() == ("before", [])
        assert await pa.next() == ("before", [])

        # Traffic from A all along; its own client must get every message.
        sent = 0
        stop = asyncio.Event()

        async def traffic() -> None:
            nonlocal sent
            while not stop.is_set():
                a.sio.to("room").emit("tick", sent)
                sent += 1
                await asyncio.sleep(0.01)

        task = asyncio.get_running_loop().create_task(traffic())
        await asyncio.sleep(0.1)
        redis_server.stop()
        for _ in range(200):  # until both servers noticed
            if not a.sio._adapter_factory.connected and not b.sio._adapter_factory.connected:
                break
            await asyncio.sleep(0.025)
        # While Redis is away: local delivery, and this server counts as alone.
        assert [s.id for s in await a.sio.fetch_sockets()] == [pa.sid]
        assert await a.sio.server_side_emit_with_ack("anyone") == []
        assert await a.sio.timeout(5).emit_with_ack("local ack") == [("ack", "local ack")]
        await asyncio.sleep(0.2)
        redis_server.start()
        await redis_server.ready()
        await wait_connected(a.sio, b.sio)
        await asyncio.sleep(0.1)
        stop.set()
        await task

        a.sio.local.emit("end")
        events = await pa.until("end")
        assert ("local ack", []) in events
        ticks = [args[0] for event, args in events if event == "tick"]
        assert ticks == list(range(sent))  # not one lost locally
        assert sent > 20

        # Across again, both ways.
        a.sio.emit("after a")
        await pb.until("after a")  # raises if it never comes
        b.sio.emit("after b")
        await pa.until("after b")
        assert {s.id for s in await b.sio.fetch_sockets()} == {pa.sid, pb.sid}
    finally:
        for node in nodes:
            for peer in node.peers:
                await peer.close()
            await node.handle.close()
    messages = [r.getMessage() for r in caplog.records]
    assert sum("lost the connection to Redis" in m for m in messages) == 2  # once per server
    assert sum("reconnected to Redis" in m for m in messages) == 2
    assert len(messages) == 4, messages  # and nothing else: one line when lost, one when back


async def test_first_use_without_serve_connects_in_the_background(redis_url: str, key: str) -> None:
    # An app served by an ASGI server may emit before anything awaited the adapter's start.
    sio = turbosio.Server(adapter=RedisAdapter(redis_url, key=key))
    other = build(redis_url, key)
    handle = await other.serve(port=0)
    peer = await Peer.connect(handle.url)
    try:
        sio.emit("early")  # starts the connection; kept until it is up
        assert await peer.next() == ("early", [])
    finally:
        await peer.close()
        await handle.close()
        await sio.shutdown(0)
