"""Connection state recovery on one node, spoken to packet by packet."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

import turbosio
from turbosio.socketio import Socket

from .rawclient import RawClient


@pytest.fixture
async def sio() -> turbosio.Server:
    return turbosio.Server(
        connection_state_recovery=turbosio.Recovery(max_disconnection_duration=0.5)
    )


@pytest.fixture
async def url(sio: turbosio.Server) -> AsyncIterator[str]:
    handle = await sio.serve(port=0)
    yield handle.url
    await handle.close(timeout=0.5)


async def until(predicate: Any, timeout: float = 5) -> None:
    for _ in range(int(timeout / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in time")


def events(packets: list[str]) -> list[list[Any]]:
    out = []
    for p in packets:
        assert p.startswith("42"), p
        out.append(orjson.loads(p[2:]))
    return out


async def test_missed_events_are_replayed_in_order_with_the_same_id(
    sio: turbosio.Server, url: str
) -> None:
    connects: list[tuple[str, bool, set[str], dict[str, Any]]] = []
    reasons: list[str] = []

    @sio.on("connect")
    async def connect(socket: Socket) -> None:
        if not socket.recovered:
            socket.join("room")
            socket.data["name"] = "ada"
        connects.append((socket.id, socket.recovered, socket.rooms, dict(socket.data)))
        socket.emit("hello")

    @sio.on("disconnect")
    async def disconnect(socket: Socket, reason: str) -> None:
        reasons.append(reason)

    c = await RawClient.open(url)
    reply = orjson.loads((await c.connect())[2:])
    assert set(reply) == {"sid", "pid"}
    sid, pid = reply["sid"], reply["pid"]
    hello = events([str(await c.recv())])[0]
    assert hello[0] == "hello" and isinstance(hello[1], str)  # the offset comes last
    offset = hello[1]

    # The connection breaks (no Socket.IO disconnect): the server keeps the session.
    await c.close()
    await until(lambda: reasons == ["transport close"])
    for n in range(100):
        (sio.to(sid) if n % 2 else sio.to("room")).emit("n", n)
    sio.to("other-room").emit("not-for-you")

    c = await RawClient.open(url)
    reply = orjson.loads((await c.connect(auth={"pid": pid, "offset": offset}))[2:])
    assert reply == {"sid": sid, "pid": pid}
    received = events([str(await c.recv()) for _ in range(101)])
    assert [e[1] for e in received[:100]] == list(range(100))
    assert all(e[0] == "n" for e in received[:100])
    assert received[100][0] == "hello"  # the connect handler's emit, after the missed ones
    offsets = [e[-1] for e in received]
    assert len(set(offsets)) == 101
    assert connects[1] == (sid, True, {sid, "room"}, {"name": "ada"})
    await c.close()


async def test_a_deliberate_disconnect_keeps_no_session(sio: turbosio.Server, url: str) -> None:
    c = await RawClient.open(url)
    reply = orjson.loads((await c.connect())[2:])
    sio.emit("x")
    offset = events([str(await c.recv())])[0][-1]
    await c.send("41")  # the client leaves the namespace: nothing to recover
    await asyncio.sleep(0.05)
    reply2 = orjson.loads((await c.connect(auth={"pid": reply["pid"], "offset": offset}))[2:])
    assert reply2["sid"] != reply["sid"]
    await c.close()


async def test_after_max_disconnection_duration_the_session_is_fresh(
    sio: turbosio.Server, url: str
) -> None:
    recovered: list[bool] = []

    @sio.on("connect")
    async def connect(socket: Socket) -> None:
        recovered.append(socket.recovered)

    c = await RawClient.open(url)
    reply = orjson.loads((await c.connect())[2:])
    sio.emit("x")
    offset = events([str(await c.recv())])[0][-1]
    await c.close()
    await asyncio.sleep(0.7)  # past max_disconnection_duration (0.5 s)
    c = await RawClient.open(url)
    reply2 = orjson.loads((await c.connect(auth={"pid": reply["pid"], "offset": offset}))[2:])
    assert reply2["sid"] != reply["sid"]
    assert recovered == [False, False]
    await c.close()


async def test_acks_and_volatile_packets_are_not_stored(sio: turbosio.Server, url: str) -> None:
    sockets: list[Socket] = []

    @sio.on("connect")
    async def connect(socket: Socket) -> None:
        sockets.append(socket)

    c = await RawClient.open(url)
    await c.connect()
    sio.volatile.emit("v")
    assert events([str(await c.recv())])[0] == ["v"]  # no offset appended
    sockets[0].emit("with-ack", callback=lambda *a: None)
    packet = str(await c.recv())
    assert packet.startswith("42") and packet.endswith('["with-ack"]')
    await c.close()


async def test_an_unknown_offset_gives_a_fresh_session(sio: turbosio.Server, url: str) -> None:
    c = await RawClient.open(url)
    reply = orjson.loads((await c.connect())[2:])
    await c.close()
    await asyncio.sleep(0.05)
    c = await RawClient.open(url)
    reply2 = orjson.loads((await c.connect(auth={"pid": reply["pid"], "offset": "zz-1"}))[2:])
    assert reply2["sid"] != reply["sid"]
    await c.close()


async def test_recovery_off_sends_no_pid() -> None:
    sio = turbosio.Server()
    handle = await sio.serve(port=0)
    c = await RawClient.open(handle.url)
    assert list(orjson.loads((await c.connect())[2:])) == ["sid"]
    sio.emit("x")
    assert await c.recv() == '42["x"]'
    await c.close()
    await handle.close(timeout=0.5)
