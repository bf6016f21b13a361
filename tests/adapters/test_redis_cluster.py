"""Two turbosio servers sharing rooms through a real Redis (turbosio.RedisAdapter)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
import redis.asyncio

import turbosio
from turbosio.adapters.cluster import RequestTimeout
from turbosio.adapters.redis import RedisAdapter, RedisUnavailable
from turbosio.socketio.remote import RemoteSocket

from .conftest import free_port
from .peer import Peer


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


def build(redis_url: str, key: str, **options: Any) -> turbosio.Server:
    sio = turbosio.Server(adapter=RedisAdapter(redis_url, key=key, **options))
    for name in ("/", "/chat"):

        @sio.on("connect", namespace=name)
        def connect(socket: turbosio.Socket, auth: dict[str, Any]) -> None:
            socket.join(auth.get("rooms") or [])
            socket.data = auth.get("data") or {}

    return sio


@pytest.fixture
async def cluster(redis_url: str, key: str) -> AsyncIterator[tuple[Node, Node]]:
    nodes = []
    for _ in range(2):
        sio = build(redis_url, key, request_timeout=3)
        nodes.append(Node(sio, await sio.serve(port=0)))
    yield nodes[0], nodes[1]
    for node in nodes:
        for peer in node.peers:
            await peer.close()
        await node.handle.close()


async def test_broadcasts_reach_the_clients_of_both_servers(cluster: tuple[Node, Node]) -> None:
    a, b = cluster
    pa = await a.peer(["red"])
    pb = await b.peer(["red", "blue"])
    pb2 = await b.peer(["blue"])

    a.sio.emit("everyone", 1, "two", {"three": [3]})
    for peer in (pa, pb, pb2):
        assert await peer.next() == ("everyone", [1, "two", {"three": [3]}])

    # One room (its own channel), binary, from the other side.
    b.sio.to("red").emit("red only", b"\x00\x01\xff", {"nested": [b"\x02"]})
    b.sio.emit("marker")
    assert await pa.until("marker") == [("red only", [b"\x00\x01\xff", {"nested": [b"\x02"]}])]
    assert await pb.until("marker") == [("red only", [b"\x00\x01\xff", {"nested": [b"\x02"]}])]
    assert await pb2.until("marker") == []

    # Several rooms minus a room; a socket id is a room too.
    a.sio.to(["red", "blue"]).except_(pb.sid).emit("rooms minus one")
    a.sio.emit("marker")
    assert await pa.until("marker") == [("rooms minus one", [])]
    assert await pb.until("marker") == []
    assert await pb2.until("marker") == [("rooms minus one", [])]

    # .local stays on its server.
    a.sio.local.emit("local")
    a.sio.emit("marker")
    assert await pa.until("marker") == [("local", [])]
    assert await pb.until("marker") == []


async def test_namespaces_stay_apart(cluster: tuple[Node, Node]) -> None:
    a, b = cluster
    main = await b.peer()
    chat = await b.peer(nsp="/chat")
    a.sio.of("/chat").emit("in chat")
    a.sio.emit("in main")
    assert await chat.next() == ("in chat", [])
    assert await main.next() == ("in main", [])


async def test_socket_broadcast_from_a_handler(cluster: tuple[Node, Node]) -> None:
    a, b = cluster

    @a.sio.on("say")
    def say(socket: turbosio.Socket, text: str) -> None:
        socket.to("room").emit("said", text)

    sender = await a.peer(["room"])
    other = await b.peer(["room"])
    await sender.emit("say", "hi")
    assert await other.next() == ("said", ["hi"])
    a.sio.emit("marker")
    assert await sender.until("marker") == []  # not to the sender itself


async def test_fetch_sockets_sees_both_servers(cluster: tuple[Node, Node]) -> None:
    a, b = cluster
    pa = await a.peer(["room"], {"name": "on a"})
    pb = await b.peer(["room", "b-room"], {"name": "on b", "n": [1, 2]})
    await b.peer(["elsewhere"])

    sockets = await a.sio.in_("room").fetch_sockets()
    by_id = {s.id: s for s in sockets}
    assert set(by_id) == {pa.sid, pb.sid}
    local, remote = by_id[pa.sid], by_id[pb.sid]
    assert isinstance(local, turbosio.Socket)
    assert isinstance(remote, RemoteSocket)
    assert remote.rooms == {pb.sid, "room", "b-room"}
    assert remote.data == {"name": "on b", "n": [1, 2]}
    assert remote.handshake.auth == {"rooms": ["room", "b-room"], "data": remote.data}
    assert remote.handshake.address == "127.0.0.1"
    assert remote.handshake.query["EIO"] == "4"

    everyone = await b.sio.fetch_sockets()
    assert len(everyone) == 3
    assert len(await a.sio.local.fetch_sockets()) == 1

    # A remote socket is acted on where it lives.
    remote.emit("direct", 42)
    assert await pb.next() == ("direct", [42])
    reply = await remote.timeout(5).emit_with_ack("question", "?")
    assert reply == "ack"  # the client's first value, as Node forwards it
    assert await pb.next() == ("question", ["?"])
    remote.join("joined")
    remote.leave("room")
    after = {s.id: s for s in await a.sio.fetch_sockets()}
    assert after[pb.sid].rooms == {pb.sid, "b-room", "joined"}
    remote.disconnect()
    assert await pb.next() == ("<disconnect>", [])


async def test_sockets_join_leave_and_disconnect_across_servers(
    cluster: tuple[Node, Node],
) -> None:
    a, b = cluster
    pa = await a.peer(["team"])
    pb = await b.peer(["team"])
    pb_other = await b.peer()

    a.sio.in_("team").sockets_join("project")
    # The join reaches B before this request does (one publisher, one channel: in order).
    assert len(await a.sio.in_("project").fetch_sockets()) == 2
    b.sio.to("project").emit("project news")
    assert await pa.next() == ("project news", [])
    assert await pb.next() == ("project news", [])

    b.sio.in_("team").except_(pa.sid).sockets_leave("project")
    a.sio.to("project").emit("still in project")
    a.sio.emit("marker")
    assert await pa.until("marker") == [("still in project", [])]
    assert await pb.until("marker") == []

    a.sio.in_("team").disconnect_sockets()
    assert await pa.next() == ("<disconnect>", [])
    assert await pb.next() == ("<disconnect>", [])
    b.sio.emit("marker")
    assert await pb_other.until("marker") == []

    rooms = await a.sio.sockets.adapter.all_rooms()
    assert pb_other.sid in rooms and "team" not in rooms


async def test_server_side_emit_with_and_without_acks(cluster: tuple[Node, Node]) -> None:
    a, b = cluster
    seen: list[Any] = []

    @b.sio.on_server_side("hello")
    async def hello(*args: Any) -> None:  # async: runs inline, in the order messages come
        seen.append(args)

    @b.sio.on_server_side("ask")
    async def ask(x: int) -> dict[str, int]:
        return {"double": 2 * x}

    @a.sio.on_server_side("ask")
    async def ask_a(x: int) -> str:
        return "a answers"

    a.sio.server_side_emit("hello", 1, {"two": 2})
    assert await a.sio.server_side_emit_with_ack("ask", 21) == [{"double": 42}]
    assert seen == [(1, {"two": 2})]  # Redis keeps the order of one publisher's messages
    assert await b.sio.server_side_emit_with_ack("ask", 1) == ["a answers"]

    # No handler on the other server: no answer, the timeout says how many came.
    with pytest.raises(turbosio.AckTimeout) as info:
        await a.sio.server_side_emit_with_ack("nobody", timeout=0.3)
    assert info.value.responses == []
    assert "0 responses received out of 1" in str(info.value)


async def test_broadcast_acks_from_both_servers(cluster: tuple[Node, Node]) -> None:
    a, b = cluster
    await a.peer(["room"])
    await b.peer(["room"])
    await b.peer(["room"])
    await b.peer()
    replies = await a.sio.to("room").timeout(5).emit_with_ack("vote", 7)
    assert sorted(map(str, replies)) == ["('ack', 'vote', 7)", "ack", "ack"]
    replies = await b.sio.to("nobody").timeout(5).emit_with_ack("vote")
    assert replies == []
    replies = await a.sio.local.timeout(5).emit_with_ack("vote")
    assert replies == [("ack", "vote")]


async def test_a_server_that_does_not_answer(redis_url: str, key: str) -> None:
    sio = build(redis_url, key, request_timeout=0.3)
    handle = await sio.serve(port=0)
    # Something else listens on the request channel (counted as a server) and never answers.
    client = redis.asyncio.Redis.from_url(redis_url)
    silent = client.pubsub()
    await silent.subscribe(f"{key}-request#/#")
    try:
        assert await sio.sockets.adapter.server_count() == 2
        with pytest.raises(RequestTimeout):
            await sio.fetch_sockets()
        with pytest.raises(TimeoutError):  # RequestTimeout is a TimeoutError
            await sio.sockets.adapter.all_rooms()
        with pytest.raises(turbosio.AckTimeout):
            await sio.server_side_emit_with_ack("anyone")
    finally:
        await silent.aclose()
        await client.aclose()
        await handle.close()


async def test_redis_unreachable_at_start() -> None:
    url = f"redis://127.0.0.1:{free_port()}"
    sio = turbosio.Server(adapter=RedisAdapter(url))
    with pytest.raises(RedisUnavailable, match=f"cannot reach Redis at {url}"):
        await sio.serve(port=0)
    await sio.shutdown(0)


async def test_one_adapter_per_server(redis_url: str) -> None:
    adapter = RedisAdapter(redis_url)
    turbosio.Server(adapter=adapter)
    with pytest.raises(RuntimeError, match="give each Server its own"):
        turbosio.Server(adapter=adapter)


async def test_a_client_with_decode_responses_is_refused(redis_url: str) -> None:
    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    with pytest.raises(ValueError, match="decode_responses=False"):
        RedisAdapter(client)
    await client.aclose()


async def test_served_again_and_namespaces_made_while_running(redis_url: str, key: str) -> None:
    a = build(redis_url, key)
    b = turbosio.Server(
        adapter=RedisAdapter(redis_url, key=key), cleanup_empty_child_namespaces=True
    )
    b.of(re.compile(r"^/dyn-\w+$"))
    handle_a = await a.serve(port=0)
    handle_b = await b.serve(port=0)
    await handle_a.close()
    handle_a = await a.serve(port=0)  # A listens again after a shutdown
    try:
        for round_ in range(2):  # the child namespace is made, emptied, removed, made again
            peer = await Peer.connect(handle_b.url, nsp="/dyn-x")
            chat = a.of("/dyn-x")  # made while A runs
            for _ in range(200):  # until B's new namespace is subscribed (bounded)
                if await chat.adapter.server_count() == 2:
                    break
                await asyncio.sleep(0.025)
            chat.emit("hello", round_)
            assert await peer.next() == ("hello", [round_])
            await peer.close()
            for _ in range(200):
                if "/dyn-x" not in b._nsps:
                    break
                await asyncio.sleep(0.025)
            assert "/dyn-x" not in b._nsps
    finally:
        await handle_a.close()
        await handle_b.close()


async def test_cluster_calls_from_a_sync_handler(cluster: tuple[Node, Node]) -> None:
    a, b = cluster
    heard: list[Any] = []

    @b.sio.on_server_side("hello")
    async def hello(text: str) -> None:  # runs inline: done before the next message is read
        heard.append(text)

    @a.sio.on("work")
    def work(socket: turbosio.Socket) -> str:  # a plain def: runs in a worker thread
        a.sio.server_side_emit("hello", "from a thread")
        a.sio.in_("team").sockets_join("done")
        a.sio.to("done").emit("finished")
        return "ok"

    worker = await a.peer()
    member = await b.peer(["team"])
    await worker.emit("work")
    assert await member.next() == ("finished", [])  # the join, then the broadcast, in order
    assert heard == ["from a thread"]


async def test_the_password_stays_out_of_messages() -> None:
    url = f"redis://user:s3cret@127.0.0.1:{free_port()}/0"
    sio = turbosio.Server(adapter=RedisAdapter(url))
    with pytest.raises(RedisUnavailable) as info:
        await sio.serve(port=0)
    assert "s3cret" not in str(info.value)
    assert "redis://user:***@127.0.0.1" in str(info.value)
    await sio.shutdown(0)
