"""A mixed cluster: Node's socket.io 4.8 with @socket.io/redis-adapter 8.3 and a turbosio
server with turbosio.RedisAdapter, on one Redis and one key."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio

from turbosio.adapters import notepack
from turbosio.socketio.remote import RemoteSocket

from .conftest import NodeProcess
from .peer import Peer
from .test_redis_cluster import Node, build


def bin_(data: bytes) -> dict[str, str]:
    return {"$bin": data.hex()}


class Mixed:
    def __init__(self, ours: Node, node: NodeProcess) -> None:
        self.ours = ours
        self.node = node
        self.url = f"http://127.0.0.1:{node.ready['port']}"
        self.node_peers: list[Peer] = []

        @ours.sio.on_server_side("barrier")
        def barrier() -> bool:
            return True

    async def node_barrier(self) -> None:
        """Return once both servers have acted on what Node published before.

        Node applies its own join, leave and disconnect requests when Redis hands them back,
        and so do we: a server-side emit with ack, published after them on the same channel,
        is answered only after both sides read them.
        """
        result = await self.node.call("serverSideEmitWithAck", event="barrier")
        assert result == {"replies": [True]}

    async def node_peer(self, rooms: Sequence[str] = (), data: Any = None, nsp: str = "/") -> Peer:
        peer = await Peer.connect(self.url, {"rooms": list(rooms), "data": data}, nsp)
        self.node_peers.append(peer)
        return peer


@pytest.fixture(scope="module")
def node_server(redis_url: str, node: str, js_dir: Path) -> Iterator[tuple[str, NodeProcess]]:
    """One Node server for the module (it takes seconds to start), on a key of its own."""
    key = "tsio-test-" + secrets.token_hex(6)
    process = NodeProcess(
        [node, "cluster-node.mjs", "--redis", redis_url, "--key", key, "--server", "classic"],
        js_dir,
    )
    yield key, process
    process.stop()


@pytest.fixture
async def mixed(redis_url: str, node_server: tuple[str, NodeProcess]) -> AsyncIterator[Mixed]:
    key, process = node_server
    sio = build(redis_url, key, request_timeout=3)
    ours = Node(sio, await sio.serve(port=0))
    m = Mixed(ours, process)
    try:
        yield m
    finally:
        for peer in [*ours.peers, *m.node_peers]:
            await peer.close()
        await ours.handle.close()
        await process.call("received")  # what a test left unread


async def test_broadcasts_both_ways(mixed: Mixed) -> None:
    ours = mixed.ours
    py = await ours.peer(["red"])
    py_blue = await ours.peer(["blue"])
    js = await mixed.node_peer(["red", "blue"])

    # Node -> our clients: text, binary, one room, rooms minus a socket.
    await mixed.node.call("emit", event="hi", args=[1, "two", {"x": [None, True]}])
    assert await py.next() == ("hi", [1, "two", {"x": [None, True]}])
    assert await py_blue.next() == ("hi", [1, "two", {"x": [None, True]}])
    assert await js.next() == ("hi", [1, "two", {"x": [None, True]}])
    await mixed.node.call(
        "emit", to=["red"], event="bin", args=[bin_(b"\x01\x02"), {"b": bin_(b"")}]
    )
    await mixed.node.call("emit", event="marker")
    assert await py.until("marker") == [("bin", [b"\x01\x02", {"b": b""}])]
    assert await py_blue.until("marker") == []
    assert await js.until("marker") == [("bin", [b"\x01\x02", {"b": b""}])]
    await mixed.node.call("emit", to=["red", "blue"], event="x")
    await mixed.node.call("emit", to=["red", "blue"], **{"except": [py.sid]}, event="y")
    await mixed.node.call("emit", event="marker")
    assert await py.until("marker") == [("x", [])]
    assert await py_blue.until("marker") == [("x", []), ("y", [])]
    assert await js.until("marker") == [("x", []), ("y", [])]

    # Ours -> Node's clients.
    ours.sio.to("blue").except_(py_blue.sid).emit("from python", b"\xff", [1.5, "é"])
    ours.sio.emit("marker")
    assert await js.until("marker") == [("from python", [b"\xff", [1.5, "é"]])]
    assert await py_blue.until("marker") == []
    ours.sio.local.emit("local only")
    ours.sio.emit("marker")
    assert await js.until("marker") == []


async def test_the_same_bytes_on_the_wire(
    mixed: Mixed, redis_url: str, node_server: tuple[str, NodeProcess]
) -> None:
    key = node_server[0]
    client = redis.asyncio.Redis.from_url(redis_url)
    listener = client.pubsub()
    await listener.psubscribe(f"{key}#/#*")
    await listener.get_message(timeout=5)  # the confirmation
    try:
        args = [1, "two", bin_(b"\x01\x02\x03"), {"a": [True, None]}, -7, 300, 70000, 2**33, 1.5]
        await mixed.node.call("emit", to=["room1"], **{"except": ["x"]}, event="ev", args=args)
        from_node = await listener.get_message(timeout=5)
        mixed.ours.sio.to("room1").except_("x").emit(
            "ev", 1, "two", b"\x01\x02\x03", {"a": [True, None]}, -7, 300, 70000, 2**33, 1.5
        )
        from_us = await listener.get_message(timeout=5)
    finally:
        await listener.aclose()
        await client.aclose()
    assert from_node["channel"] == from_us["channel"] == f"{key}#/#room1#".encode()
    node_uid = notepack.decode(from_node["data"])[0]
    our_uid = mixed.ours.sio.sockets.adapter.uid
    assert len(node_uid) == len(our_uid) == 6
    assert from_us["data"] == from_node["data"].replace(node_uid.encode(), our_uid.encode(), 1)


async def test_fetch_sockets_both_ways(mixed: Mixed) -> None:
    ours = mixed.ours
    py = await ours.peer(["room"], {"lang": "python"})
    js = await mixed.node_peer(["room", "js"], {"lang": "js", "bytes": 3})

    seen = await mixed.node.call("fetchSockets", to=["room"])
    by_id = {s["id"]: s for s in seen}
    assert set(by_id) == {py.sid, js.sid}
    assert sorted(by_id[py.sid]["rooms"]) == sorted([py.sid, "room"])
    assert by_id[py.sid]["data"] == {"lang": "python"}
    assert by_id[py.sid]["auth"] == {"rooms": ["room"], "data": {"lang": "python"}}
    assert by_id[py.sid]["address"] == "127.0.0.1"

    sockets = {s.id: s for s in await ours.sio.in_("room").fetch_sockets()}
    remote = sockets[js.sid]
    assert isinstance(remote, RemoteSocket)
    assert remote.rooms == {js.sid, "room", "js"}
    assert remote.data == {"lang": "js", "bytes": 3}
    assert remote.handshake.auth == {"rooms": ["room", "js"], "data": remote.data}
    assert remote.handshake.headers["upgrade"] == "websocket"
    assert isinstance(remote.handshake.issued, int) and remote.handshake.issued > 0

    # Acting on the other server's sockets.
    reply = await remote.emit_with_ack("q", 1, timeout=5)
    assert reply == "ack"
    assert await js.next() == ("q", [1])
    answer = await mixed.node.call("remoteEmitWithAck", sid=py.sid, event="q2", timeout=5000)
    assert answer == {"reply": "ack"}
    assert await py.next() == ("q2", [])
    # Each side's fetch comes after its own join request on the same channel: in order.
    await mixed.node.call("remoteJoin", sid=py.sid, room="joined-by-node")
    await mixed.node_barrier()
    assert ours.sio.sockets.sockets[py.sid].rooms == {py.sid, "room", "joined-by-node"}
    remote.join("joined-by-python")
    assert [s.id for s in await ours.sio.in_("joined-by-python").fetch_sockets()] == [js.sid]


async def test_joins_leaves_and_disconnects_both_ways(mixed: Mixed) -> None:
    ours = mixed.ours
    py = await ours.peer(["team"])
    js = await mixed.node_peer(["team"])
    js_alone = await mixed.node_peer()

    # Each side's fetch comes after its own request on the same channel: in order.
    await mixed.node.call("socketsJoin", to=["team"], rooms=["a", "b"])
    await mixed.node_barrier()
    seen = await mixed.node.call("fetchSockets", to=["b"])
    assert {s["id"] for s in seen} == {py.sid, js.sid}
    assert ours.sio.sockets.sockets[py.sid].rooms == {py.sid, "team", "a", "b"}
    ours.sio.in_("a").sockets_leave("b")
    assert await ours.sio.in_("b").fetch_sockets() == []
    ours.sio.in_("team").sockets_join("c")
    assert {s.id for s in await ours.sio.in_("c").fetch_sockets()} == {py.sid, js.sid}

    await mixed.node.call("disconnectSockets", to=["team"], **{"except": [js.sid]})
    assert await py.next() == ("<disconnect>", [])
    ours.sio.in_("team").disconnect_sockets()
    assert await js.next() == ("<disconnect>", [])
    await mixed.node.call("emit", event="marker")
    assert await js_alone.until("marker") == []


async def test_server_side_emit_both_ways(mixed: Mixed) -> None:
    ours = mixed.ours
    seen: list[Any] = []

    @ours.sio.on_server_side("hello")
    async def hello(*args: Any) -> None:  # async: runs inline, in the order messages come
        seen.append(args)

    @ours.sio.on_server_side("ask")
    async def ask(x: Any) -> Any:
        return {"from": "python", "x": x}

    ours.sio.server_side_emit("hello", 1, {"two": 2})
    replies = await ours.sio.server_side_emit_with_ack("ask", 5)
    assert replies == [{"from": "node", "args": [5]}]
    received = await mixed.node.call("received")
    assert received == [
        {"nsp": "/", "event": "hello", "args": [1, {"two": 2}], "ack": False},
        {"nsp": "/", "event": "ask", "args": [5], "ack": True},
    ]
    await mixed.node.call("serverSideEmit", event="hello", args=["from node"])
    result = await mixed.node.call("serverSideEmitWithAck", event="ask", args=[[1, 2]])
    assert result == {"replies": [{"from": "python", "x": [1, 2]}]}
    assert seen == [("from node",)]


async def test_broadcast_acks_both_ways(mixed: Mixed) -> None:
    ours = mixed.ours
    await ours.peer(["room"])
    await ours.peer(["room"])
    await mixed.node_peer(["room"])
    await mixed.node_peer()

    result = await mixed.node.call("emitWithAck", to=["room"], event="vote", args=[1], timeout=5000)
    assert sorted(result["replies"]) == ["ack", "ack", "ack"]  # first values, as Node forwards
    replies = await ours.sio.to("room").timeout(5).emit_with_ack("vote", b"\x01")
    assert sorted(map(str, replies)) == ["('ack', 'vote', b'\\x01')"] * 2 + ["ack"]
    assert await mixed.node.call("serverCount") == 2
    assert await ours.sio.sockets.adapter.server_count() == 2


async def test_custom_namespace_across(mixed: Mixed) -> None:
    ours = mixed.ours
    py = await ours.peer(["r"], nsp="/chat")
    js = await mixed.node_peer(["r"], nsp="/chat")
    await mixed.node.call("emit", nsp="/chat", to=["r"], event="chat")
    assert await py.next() == ("chat", [])
    ours.sio.of("/chat").to("r").emit("chat back")
    assert await js.next() == ("chat", [])
    assert await js.next() == ("chat back", [])
    seen = await mixed.node.call("fetchSockets", nsp="/chat")
    assert {s["id"] for s in seen} == {py.sid, js.sid}
