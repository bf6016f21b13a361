"""Emitters: turbosio.Emitter / AsyncEmitter and Node's @socket.io/redis-emitter, each driving
turbosio servers and Node's."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio

import turbosio
from turbosio.emitter import AsyncEmitter, Emitter

from .conftest import NodeProcess
from .peer import Peer
from .test_redis_cluster import Node, build


@pytest.fixture
async def servers(redis_url: str, key: str) -> AsyncIterator[tuple[Node, Node]]:
    nodes = []
    for _ in range(2):
        sio = build(redis_url, key)
        nodes.append(Node(sio, await sio.serve(port=0)))
    yield nodes[0], nodes[1]
    for node in nodes:
        for peer in node.peers:
            await peer.close()
        await node.handle.close()


async def test_sync_emitter_drives_turbosio_servers(
    servers: tuple[Node, Node], redis_url: str, key: str
) -> None:
    a, b = servers
    pa = await a.peer(["room"])
    pb = await b.peer(["room", "vip"])
    pb2 = await b.peer()
    chat = await a.peer(nsp="/chat")
    heard: list[Any] = []

    async def reload(*args: Any) -> None:  # async: runs inline, in the order messages come
        heard.append(args)

    for node in servers:
        node.sio.on_server_side("reload", reload)

    def work() -> None:  # what a worker process does, here in a thread
        with Emitter(redis_url, key=key) as emitter:
            emitter.to("room").except_("vip").emit("news", 1, b"\x01", {"k": [None]})
            emitter.emit("to all")
            emitter.of("chat").emit("chat news")
            emitter.volatile.to(["room", "vip"]).emit("rooms")
            emitter.in_("vip").sockets_join("joined")
            emitter.to("joined").emit("in joined")
            emitter.in_("vip").sockets_leave("room")
            emitter.to("room").emit("in room")
            emitter.server_side_emit("reload", "now")
            emitter.in_("vip").disconnect_sockets()
            emitter.emit("end")

    await asyncio.to_thread(work)
    assert await pa.until("in room") == [
        ("news", [1, b"\x01", {"k": [None]}]),
        ("to all", []),
        ("rooms", []),
    ]
    assert await pb.until("<disconnect>") == [("to all", []), ("rooms", []), ("in joined", [])]
    assert await pa.until("end") == []
    assert await pb2.until("end") == [("to all", [])]
    assert await chat.next() == ("chat news", [])
    # Both servers heard the server-side emit (published before "end", which both delivered).
    assert heard == [("now",), ("now",)]


async def test_async_emitter(servers: tuple[Node, Node], redis_url: str, key: str) -> None:
    a, b = servers
    pa = await a.peer(["x"])
    pb = await b.peer()
    client = redis.asyncio.Redis.from_url(redis_url)
    emitter = AsyncEmitter(client, key=key)
    await emitter.to("x").emit("for x", "hi")
    await emitter.emit("for all")
    await emitter.in_("x").disconnect_sockets(close=True)
    await emitter.aclose()  # the client is the caller's: still usable
    assert await client.ping()
    await client.aclose()
    assert await pa.until("<disconnect>") == [("for x", ["hi"]), ("for all", [])]
    assert await pb.next() == ("for all", [])
    with pytest.raises(ValueError, match="reserved"):
        await emitter.emit("disconnect")


async def test_node_emitter_drives_a_turbosio_server(
    servers: tuple[Node, Node], redis_url: str, key: str, node: str, js_dir: Path
) -> None:
    a, b = servers
    pa = await a.peer(["room"])
    pb = await b.peer(["room", "vip"])
    chat = await b.peer(nsp="/chat")
    heard: list[Any] = []

    async def reload(*args: Any) -> None:
        heard.append(args)

    a.sio.on_server_side("reload", reload)
    process = NodeProcess([node, "cluster-node.mjs", "--redis", redis_url, "--key", key], js_dir)
    try:
        call = process.call
        await call("emitter", action="emit", to=["room"], event="news", args=[{"$bin": "0102"}])
        await call("emitter", action="emit", **{"except": ["vip"]}, event="not vip", args=[1])
        await call("emitter", action="emit", nsp="/chat", event="chat", args=[])
        await call("emitter", action="socketsJoin", to=["vip"], rooms=["joined"])
        await call("emitter", action="emit", to=["joined"], event="joined", args=[])
        await call("emitter", action="serverSideEmit", event="reload", args=[{"why": "test"}])
        await call("emitter", action="disconnectSockets", to=["vip"], close=True)
        await call("emitter", action="emit", event="end", args=[])
    finally:
        process.stop()
    assert await pa.until("not vip") == [("news", [b"\x01\x02"])]
    assert await pa.until("end") == []  # so A has read everything before it
    assert await pb.until("<disconnect>") == [("news", [b"\x01\x02"]), ("joined", [])]
    assert await chat.next() == ("chat", [])
    assert heard == [({"why": "test"},)]


async def test_turbosio_emitter_drives_a_node_server(
    redis_url: str, key: str, node: str, js_dir: Path
) -> None:
    process = NodeProcess(
        [node, "cluster-node.mjs", "--redis", redis_url, "--key", key, "--server", "classic"],
        js_dir,
    )
    url = f"http://127.0.0.1:{process.ready['port']}"
    peers = [
        await Peer.connect(url, {"rooms": ["room"]}),
        await Peer.connect(url, {"rooms": ["room", "vip"]}),
    ]
    emitter = AsyncEmitter(redis_url, key=key)
    try:
        await emitter.to("room").except_("vip").emit("news", b"\xff", {"a": 1.5})
        await emitter.in_("vip").sockets_join("joined")
        await emitter.to("joined").emit("joined")
        await emitter.server_side_emit("hello", "from python")
        await emitter.in_("vip").disconnect_sockets()
        assert await peers[0].next() == ("news", [b"\xff", {"a": 1.5}])
        assert await peers[1].until("<disconnect>") == [("joined", [])]
        received = await process.call("received")
        assert received == [{"nsp": "/", "event": "hello", "args": ["from python"], "ack": False}]
    finally:
        await emitter.aclose()
        for peer in peers:
            await peer.close()
        process.stop()


async def test_the_same_bytes_as_nodes_emitter(
    redis_url: str, key: str, node: str, js_dir: Path
) -> None:
    client = redis.asyncio.Redis.from_url(redis_url)
    listener = client.pubsub()
    await listener.psubscribe(f"{key}*")
    await listener.get_message(timeout=5)
    process = NodeProcess([node, "cluster-node.mjs", "--redis", redis_url, "--key", key], js_dir)
    emitter = AsyncEmitter(client, key=key)
    try:
        operations = [
            (
                dict(action="emit", to=["r"], event="e", args=[1, {"$bin": "00ff"}]),
                emitter.to("r").emit("e", 1, b"\x00\xff"),
            ),
            (
                dict(action="emit", nsp="/n", to=["a", "b"], volatile=True, event="e", args=[]),
                emitter.of("/n").volatile.to(["a", "b"]).emit("e"),
            ),
            (
                dict(action="emit", **{"except": ["x"]}, event="e", args=["é"]),
                emitter.except_("x").emit("e", "é"),
            ),
            (
                dict(action="socketsJoin", to=["a"], **{"except": ["b"]}, rooms=["c"]),
                emitter.in_("a").except_("b").sockets_join("c"),
            ),
            (
                dict(action="disconnectSockets", to=["a"], close=True),
                emitter.in_("a").disconnect_sockets(True),
            ),
            (
                dict(action="serverSideEmit", event="s", args=[1, "2"]),
                emitter.server_side_emit("s", 1, "2"),
            ),
        ]
        for node_args, ours in operations:
            await process.call("emitter", **node_args)
            from_node = await listener.get_message(timeout=5)
            await ours
            from_us = await listener.get_message(timeout=5)
            assert from_us["channel"] == from_node["channel"]
            assert from_us["data"] == from_node["data"], from_node["channel"]
    finally:
        process.stop()
        await listener.aclose()
        await client.aclose()


def test_a_client_with_decode_responses_is_refused(redis_url: str) -> None:
    import redis as redis_py

    client = redis_py.Redis.from_url(redis_url, decode_responses=True)
    with pytest.raises(ValueError, match="decode_responses=False"):
        Emitter(client)
    client.close()


def test_emitters_are_exported_where_documented() -> None:
    assert turbosio.emitter.Emitter is Emitter
