"""Two turbosio servers sharing rooms through a real Redis stream (turbosio.RedisStreamsAdapter),
and the wire format of Node's @socket.io/redis-streams-adapter 0.3."""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.asyncio

import turbosio
from turbosio.adapters import notepack
from turbosio.adapters.redis_streams import (
    RedisStreamsAdapter,
    decode_entry,
    hash_code,
    stream_for,
)
from turbosio.socketio.remote import RemoteSocket

from .conftest import NodeProcess
from .peer import Peer

OFFSET = re.compile(r"^[0-9]+-[0-9]+$")


class Node:
    """One turbosio server of the cluster, with the peers connected to it."""

    def __init__(self, sio: turbosio.Server, handle: turbosio.ServerHandle) -> None:
        self.sio = sio
        self.handle = handle
        self.peers: list[Peer] = []

    async def peer(self, rooms: Sequence[str] = (), data: Any = None, nsp: str = "/") -> Peer:
        peer = await Peer.connect(self.handle.url, {"rooms": list(rooms), "data": data}, nsp)
        self.peers.append(peer)
        return peer


def streams_options(key: str) -> dict[str, Any]:
    """Names of this test's own: channels under ``key`` (the ``key`` fixture checks that
    none stays subscribed), its own stream and session keys."""
    return {
        "channel_prefix": key,
        "stream_name": f"{key}-stream",
        "session_key_prefix": f"{key}:session:",
    }


def build(redis_url: str, key: str, recovery: bool = False, **options: Any) -> turbosio.Server:
    adapter = RedisStreamsAdapter(redis_url, request_timeout=3, **streams_options(key), **options)
    sio = turbosio.Server(
        adapter=adapter,
        connection_state_recovery=turbosio.Recovery(max_disconnection_duration=10)
        if recovery
        else None,
    )
    for name in ("/", "/chat"):

        @sio.on("connect", namespace=name)
        def connect(socket: turbosio.Socket, auth: dict[str, Any]) -> None:
            socket.join(auth.get("rooms") or [])
            socket.data = auth.get("data") or {}

    return sio


async def drop_keys(redis_url: str, key: str) -> None:
    """Delete what a test left in Redis under its key."""
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        names = [name async for name in client.scan_iter(match=f"{key}*")]
        if names:
            await client.delete(*names)
    finally:
        await client.aclose()


@pytest.fixture
async def cluster(redis_url: str, key: str) -> AsyncIterator[tuple[Node, Node]]:
    nodes = []
    for _ in range(2):
        sio = build(redis_url, key)
        nodes.append(Node(sio, await sio.serve(port=0)))
    yield nodes[0], nodes[1]
    for node in nodes:
        for peer in node.peers:
            await peer.close()
        await node.handle.close()
    await drop_keys(redis_url, key)


def test_stream_names_follow_node_hash_code() -> None:
    # The values Node's hashCode and % give for these names (computed with node -e).
    expected = {
        "/": (47, 2, 3),
        "/chat": (46457863, 1, 3),
        "/admin": (1438238848, 1, 0),
        "/a-very-long-namespace-name-xyz": (-1456438082, -2, -2),
        "/😀é": (56360279, 2, 3),
        "/orders": (2049197012, 2, 0),
    }
    for name, (code, mod3, mod4) in expected.items():
        assert hash_code(name) == code
        assert stream_for(name, "socket.io", 3) == f"socket.io-{mod3}"
        assert stream_for(name, "socket.io", 4) == f"socket.io-{mod4}"
        assert stream_for(name, "socket.io", 1) == "socket.io"


async def test_broadcasts_reach_the_clients_of_both_servers(cluster: tuple[Node, Node]) -> None:
    a, b = cluster
    pa = await a.peer(["red"])
    pb = await b.peer(["red", "blue"])
    pb2 = await b.peer(["blue"])

    a.sio.emit("everyone", 1, "two", {"three": [3]})
    for peer in (pa, pb, pb2):
        assert await peer.next() == ("everyone", [1, "two", {"three": [3]}])

    b.sio.to("red").emit("red only", b"\x00\x01\xff", {"nested": [b"\x02"]})
    b.sio.emit("marker")
    assert await pa.until("marker") == [("red only", [b"\x00\x01\xff", {"nested": [b"\x02"]}])]
    assert await pb.until("marker") == [("red only", [b"\x00\x01\xff", {"nested": [b"\x02"]}])]
    assert await pb2.until("marker") == []

    a.sio.to(["red", "blue"]).except_(pb.sid).emit("rooms minus one")
    a.sio.emit("marker")
    assert await pa.until("marker") == [("rooms minus one", [])]
    assert await pb.until("marker") == []
    assert await pb2.until("marker") == [("rooms minus one", [])]

    # In the order one server sent them, once each.
    for n in range(50):
        a.sio.to("blue").emit("n", n)
    a.sio.to("blue").emit("marker")
    for peer in (pb, pb2):
        assert [args[0] for _, args in await peer.until("marker")] == list(range(50))


async def test_namespaces_and_local(cluster: tuple[Node, Node]) -> None:
    a, b = cluster
    pa = await a.peer(["x"], nsp="/chat")
    pb = await b.peer(["x"], nsp="/chat")
    pmain = await b.peer(["x"])
    a.sio.of("/chat").to("x").emit("chat")
    assert await pa.next() == ("chat", [])
    assert await pb.next() == ("chat", [])
    a.sio.local.emit("local only")
    a.sio.emit("marker")
    assert await pmain.until("marker") == []


async def test_requests_between_servers(cluster: tuple[Node, Node]) -> None:
    a, b = cluster
    pa = await a.peer(["red"], data={"who": "a"})
    pb = await b.peer(["red"], data={"who": "b"})

    sockets = await a.sio.in_("red").fetch_sockets()
    by_id = {s.id: s for s in sockets}
    assert set(by_id) == {pa.sid, pb.sid}
    remote = by_id[pb.sid]
    assert isinstance(remote, RemoteSocket)
    assert remote.data == {"who": "b"}

    @b.sio.on_server_side("ask")
    def ask(n: int) -> dict[str, Any]:
        return {"from": "b", "n": n}

    assert await a.sio.server_side_emit_with_ack("ask", 7) == [{"from": "b", "n": 7}]

    replies = await a.sio.to("red").timeout(3).emit_with_ack("question", 1)
    # The local client's whole reply; the other server's client's first value (as in Node).
    assert sorted(replies, key=str) == sorted([("ack", "question", 1), "ack"], key=str)

    # Joins through the stream: b's socket joins "green" at a's request.
    a.sio.in_(pb.sid).sockets_join("green")
    a.sio.to("green").emit("green")
    assert await pb.until("green") == [("question", [1])]
    assert await a.sio.of("/").adapter.server_count() == 2


async def test_entries_in_the_stream_are_in_node_format(
    cluster: tuple[Node, Node], redis_url: str, key: str
) -> None:
    a, b = cluster
    pb = await b.peer(["red"])
    a.sio.to("red").except_("blue").emit("text", {"k": 1})
    a.sio.to("red").emit("bin", b"\x01\x02")
    assert await pb.next() == ("text", [{"k": 1}])
    assert await pb.next() == ("bin", [b"\x01\x02"])
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        entries = await client.xrange(f"{key}-stream", "-", "+")
    finally:
        await client.aclose()
    uid = a.sio.of("/").adapter.uid
    text = [f for _, f in entries if f[b"uid"] == uid.encode() and f[b"type"] == b"3"]
    assert len(text) == 2
    assert set(text[0]) == {b"uid", b"nsp", b"type", b"data"}
    assert text[0][b"nsp"] == b"/"
    assert orjson.loads(text[0][b"data"]) == {
        "packet": {"type": 2, "data": ["text", {"k": 1}]},
        "opts": {"rooms": ["red"], "except": ["blue"], "flags": {}},
    }
    # Binary: base64 of msgpack, as Node writes it.
    raw = notepack.decode(base64.b64decode(text[1][b"data"]))
    assert raw["packet"]["data"] == ["bin", b"\x01\x02"]
    assert decode_entry(text[1]) == {"uid": uid, "nsp": "/", "type": 3, "data": raw}


async def test_stream_is_trimmed_to_about_max_len(redis_url: str, key: str) -> None:
    sio = build(redis_url, key, max_len=100)
    handle = await sio.serve(port=0)
    try:
        for n in range(1000):
            sio.emit("n", n)
        await asyncio.sleep(0)
        client = redis.asyncio.Redis.from_url(redis_url)
        try:
            for _ in range(100):
                last = await client.xrevrange(f"{key}-stream", "+", "-", count=1)
                if last and orjson.loads(last[0][1][b"data"])["packet"]["data"] == ["n", 999]:
                    break
                await asyncio.sleep(0.05)
            length = await client.xlen(f"{key}-stream")
        finally:
            await client.aclose()
        # MAXLEN ~ trims whole macro nodes: about max_len, never the thousand written.
        assert 100 <= length < 300
    finally:
        await handle.close()
        await drop_keys(redis_url, key)


async def test_unreachable_redis_fails_at_start(key: str) -> None:
    from turbosio.adapters.redis_streams import RedisUnavailable

    sio = turbosio.Server(
        adapter=RedisStreamsAdapter("redis://127.0.0.1:1", **streams_options(key))
    )
    with pytest.raises(RedisUnavailable):
        await sio.serve(port=0)
    await sio.shutdown(0.1)


async def test_one_adapter_object_per_server(redis_url: str, key: str) -> None:
    adapter = RedisStreamsAdapter(redis_url, **streams_options(key))
    sio = turbosio.Server(adapter=adapter)
    sio.of("/")
    with pytest.raises(RuntimeError):
        turbosio.Server(adapter=adapter).of("/")
    await sio.shutdown(0.1)


# -- a Node server with @socket.io/redis-streams-adapter on the same stream -----------------------


@pytest.fixture
def node_streams(redis_url: str, key: str, node: str, js_dir: Path) -> Iterator[NodeProcess]:
    """Node's socket.io 4.8 with @socket.io/redis-streams-adapter 0.3.1 and recovery, on this
    test's stream and channels (stopped before the ``key`` fixture checks the channels)."""
    process = NodeProcess([node, "streams-node.mjs", "--redis", redis_url, "--key", key], js_dir)
    yield process
    process.stop()


async def test_mixed_cluster_with_node(node_streams: NodeProcess, redis_url: str, key: str) -> None:
    sio = build(redis_url, key, recovery=True)

    @sio.on_server_side("ask")
    def ask(*args: Any) -> dict[str, Any]:
        return {"from": "turbosio", "args": list(args)}

    ours = Node(sio, await sio.serve(port=0))
    node_url = f"http://127.0.0.1:{node_streams.ready['port']}"
    pn = await Peer.connect(node_url, {"rooms": ["red"], "data": {"who": "node"}})
    pn2 = await Peer.connect(node_url, {"rooms": ["blue"]})
    try:
        po = await ours.peer(["red"], data={"who": "turbosio"})
        for _ in range(100):
            if await node_streams.call("serverCount") == 2:
                break
            await asyncio.sleep(0.05)
        assert await sio.of("/").adapter.server_count() == 2

        # turbosio -> Node: both servers' clients get the event with the same offset, the id
        # of its stream entry.
        sio.to("red").emit("from turbosio", 1, {"two": [2]})
        event, args = await pn.next()
        assert (event, args[:-1]) == ("from turbosio", [1, {"two": [2]}])
        assert OFFSET.match(args[-1])
        assert await po.next() == (event, args)

        # Node -> turbosio, binary (base64 msgpack in the stream), rooms and exceptions.
        await node_streams.call(
            "emit", to=["red", "blue"], event="from node", args=[{"$bin": "00ff"}, "x"]
        )
        event, args = await po.next()
        assert (event, args[:-1]) == ("from node", [b"\x00\xff", "x"])
        assert OFFSET.match(args[-1])
        assert await pn.next() == (event, args)
        assert await pn2.next() == (event, args)
        await node_streams.call("emit", to=["red"], event="red")
        await node_streams.call("emit", to=["red"], **{"except": [po.sid]}, event="not po")
        await node_streams.call("emit", to=["red"], event="marker")
        assert [e for e, _ in await po.until("marker")] == ["red"]
        assert [e for e, _ in await pn.until("marker")] == ["red", "not po"]

        # Requests both ways over pub/sub.
        assert await sio.server_side_emit_with_ack("ask", 1) == [{"from": "node", "args": [1]}]
        reply = await node_streams.call("serverSideEmitWithAck", event="ask", args=[2])
        assert reply == {"replies": [{"from": "turbosio", "args": [2]}]}
        sockets = {s.id: s for s in await sio.in_("red").fetch_sockets()}
        assert set(sockets) == {po.sid, pn.sid}
        assert sockets[pn.sid].data == {"who": "node"}
        described = await node_streams.call("fetchSockets", to=["red"])
        assert {d["id"]: d["data"] for d in described} == {
            po.sid: {"who": "turbosio"},
            pn.sid: {"who": "node"},
        }

        # Joins through the stream, from Node to a turbosio client.
        await node_streams.call("socketsJoin", to=[po.sid], rooms=["green"])
        await node_streams.call("emit", to=["green"], event="green")
        event, args = await po.next()
        assert event == "green"
        assert po.sid in sio.of("/").adapter.rooms.get("green", ())
    finally:
        for peer in (pn, pn2, *ours.peers):
            await peer.close()
        await ours.handle.close()
        await drop_keys(redis_url, key)
