"""The sharded adapter (SPUBLISH/SSUBSCRIBE): two turbosio servers, and a mixed cluster with
Node's createShardedAdapter from @socket.io/redis-adapter 8.3."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio

import turbosio
from turbosio.adapters.redis import ShardedRedisAdapter
from turbosio.socketio.remote import RemoteSocket

from .conftest import NodeProcess
from .peer import Peer
from .test_redis_cluster import Node


def build(redis_url: str, key: str, mode: str = "dynamic") -> turbosio.Server:
    adapter = ShardedRedisAdapter(
        redis_url,
        channel_prefix=key,
        subscription_mode=mode,  # type: ignore[arg-type]
        request_timeout=3,
    )
    sio = turbosio.Server(adapter=adapter)
    for name in ("/", "/chat"):

        @sio.on("connect", namespace=name)
        def connect(socket: turbosio.Socket, auth: dict[str, Any]) -> None:
            socket.join(auth.get("rooms") or [])
            socket.data = auth.get("data") or {}

    @sio.on_server_side("ask")
    def ask(*args: Any) -> Any:
        return {"from": "python", "args": list(args)}

    return sio


@pytest.fixture(params=["dynamic", "static"])
async def pair(request: pytest.FixtureRequest, redis_url: str, key: str) -> AsyncIterator[Any]:
    nodes = []
    for _ in range(2):
        sio = build(redis_url, key, request.param)
        nodes.append(Node(sio, await sio.serve(port=0)))
    yield nodes[0], nodes[1]
    for node in nodes:
        for peer in node.peers:
            await peer.close()
        await node.handle.close()


async def test_two_turbosio_servers(pair: tuple[Node, Node]) -> None:
    a, b = pair
    pa = await a.peer(["red"])
    pb = await b.peer(["red", "blue"], {"n": 1})
    pb2 = await b.peer(["blue"])

    # Markers come from the same server as what they follow: one publisher keeps its order.
    a.sio.emit("all", b"\x01")  # binary: this message travels as msgpack
    a.sio.to(["red", "blue"]).except_(pb.sid).emit("minus pb")
    a.sio.emit("marker")
    assert await pa.until("marker") == [("all", [b"\x01"]), ("minus pb", [])]
    assert await pb.until("marker") == [("all", [b"\x01"])]
    assert await pb2.until("marker") == [("all", [b"\x01"]), ("minus pb", [])]
    b.sio.to("red").emit("red")  # one room: its own channel in dynamic mode
    b.sio.emit("marker")
    assert await pa.until("marker") == [("red", [])]
    assert await pb.until("marker") == [("red", [])]
    assert await pb2.until("marker") == []

    sockets = {s.id: s for s in await a.sio.fetch_sockets()}
    assert set(sockets) == {pa.sid, pb.sid, pb2.sid}
    remote = sockets[pb.sid]
    assert isinstance(remote, RemoteSocket)
    assert remote.data == {"n": 1} and remote.rooms == {pb.sid, "red", "blue"}

    a.sio.in_("blue").sockets_join("green")
    assert len(await a.sio.in_("green").fetch_sockets()) == 2
    b.sio.in_("green").sockets_leave("blue")
    assert await a.sio.in_("blue").fetch_sockets() == []

    assert await a.sio.server_side_emit_with_ack("ask", 1) == [{"from": "python", "args": [1]}]
    replies = await b.sio.to("red").timeout(5).emit_with_ack("vote")
    assert sorted(map(str, replies)) == ["('ack', 'vote')", "ack"]

    a.sio.in_("green").disconnect_sockets()
    assert await pb.until("<disconnect>") == [("vote", [])]
    assert await pb2.next() == ("<disconnect>", [])


async def test_room_channels_come_and_go(redis_url: str, key: str) -> None:
    sio = build(redis_url, key)
    handle = await sio.serve(port=0)
    client = redis.asyncio.Redis.from_url(redis_url)
    peer = await Peer.connect(handle.url, {"rooms": ["lobby"]})
    try:
        channels = await client.execute_command("PUBSUB", "SHARDCHANNELS", f"{key}*")
        names = sorted(c.decode() for c in channels)
        uid = sio.sockets.adapter.uid
        # The namespace, this server's response channel, and the public room; not the id.
        assert names == sorted(
            [
                *(f"{key}#/#", f"{key}#/#{uid}#", f"{key}#/#lobby#"),
                *(f"{key}#/chat#", f"{key}#/chat#{sio.of('/chat').adapter.uid}#"),
            ]
        )
        await peer.close()
        # The room is gone with its last socket: the server stops listening to its channel
        # (once the server has seen the client leave; bounded wait, not a timing check).
        for _ in range(200):
            channels = await client.execute_command("PUBSUB", "SHARDCHANNELS", f"{key}#/#lobby#")
            if not channels:
                break
            await asyncio.sleep(0.025)
        assert channels == []
    finally:
        await client.aclose()
        await handle.close()


@pytest.fixture(scope="module")
def node_sharded(redis_url: str, node: str, js_dir: Path) -> Iterator[tuple[str, NodeProcess]]:
    key = "tsio-test-" + secrets.token_hex(6)
    process = NodeProcess(
        [node, "cluster-node.mjs", "--redis", redis_url, "--key", key, "--server", "sharded"],
        js_dir,
    )
    yield key, process
    process.stop()


async def test_mixed_with_nodes_sharded_adapter(
    redis_url: str, node_sharded: tuple[str, NodeProcess]
) -> None:
    key, process = node_sharded
    sio = build(redis_url, key)
    ours = Node(sio, await sio.serve(port=0))
    url = f"http://127.0.0.1:{process.ready['port']}"
    js_peers: list[Peer] = []

    async def js_peer(rooms: Sequence[str], data: Any = None) -> Peer:
        peer = await Peer.connect(url, {"rooms": list(rooms), "data": data})
        js_peers.append(peer)
        return peer

    try:
        py = await ours.peer(["red"], {"lang": "py"})
        js = await js_peer(["red", "blue"], {"lang": "js"})
        js2 = await js_peer(["blue"])

        # Node -> ours, and ours -> Node's: all, one room (dynamic channel), binary, except.
        await process.call("emit", event="all", args=[{"$bin": "0a"}])
        await process.call("emit", to=["red"], event="red", args=["r"])
        await process.call("emit", to=["red", "blue"], **{"except": [js.sid]}, event="x")
        await process.call("emit", event="marker")
        assert await py.until("marker") == [("all", [b"\n"]), ("red", ["r"]), ("x", [])]
        assert await js.until("marker") == [("all", [b"\n"]), ("red", ["r"])]
        assert await js2.until("marker") == [("all", [b"\n"]), ("x", [])]
        sio.to("blue").emit("blue", b"\x00")
        sio.to("red").except_(py.sid).emit("red from py", {"n": [1]})
        sio.emit("marker")
        assert await js.until("marker") == [("blue", [b"\x00"]), ("red from py", [{"n": [1]}])]
        assert await js2.until("marker") == [("blue", [b"\x00"])]
        assert await py.until("marker") == []

        # fetchSockets both ways.
        seen = {s["id"]: s for s in await process.call("fetchSockets")}
        assert set(seen) == {py.sid, js.sid, js2.sid}
        assert seen[py.sid]["data"] == {"lang": "py"}
        mine = {s.id: s for s in await sio.in_("red").fetch_sockets()}
        assert set(mine) == {py.sid, js.sid}
        assert mine[js.sid].data == {"lang": "js"}
        assert mine[js.sid].handshake.auth["rooms"] == ["red", "blue"]

        # Joins both ways. Node's ClusterAdapter joins its own sockets once its publish is
        # answered: wait for that (bounded), then our request follows it on Node's side.
        await process.call("socketsJoin", to=["blue"], rooms=["green"])
        for _ in range(200):
            if len(await process.call("fetchSockets", to=["green"])) == 2:
                break
            await asyncio.sleep(0.025)
        assert {s.id for s in await sio.in_("green").fetch_sockets()} == {js.sid, js2.sid}
        sio.in_("red").sockets_join("green")
        # Our fetch request follows our join request: Node reads them in that order.
        assert {s.id for s in await sio.in_("green").fetch_sockets()} == {py.sid, js.sid, js2.sid}

        # Server-side emits with acks both ways, broadcast acks both ways.
        replies = await sio.server_side_emit_with_ack("ask", 2)
        assert replies == [{"from": "node", "args": [2]}]
        result = await process.call("serverSideEmitWithAck", event="ask", args=["q"])
        assert result == {"replies": [{"from": "python", "args": ["q"]}]}
        replies = await sio.to("red").timeout(5).emit_with_ack("vote")
        assert sorted(map(str, replies)) == ["('ack', 'vote')", "ack"]
        result = await process.call("emitWithAck", to=["red"], event="vote", timeout=5000)
        assert result == {"replies": ["ack", "ack"]}
        assert await process.call("serverCount") == 2

        await process.call("disconnectSockets", to=["red"])
        assert (await py.until("<disconnect>"))[-1] == ("vote", [])
    finally:
        for peer in [*ours.peers, *js_peers]:
            await peer.close()
        await ours.handle.close()
        await process.call("received")
