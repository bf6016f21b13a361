"""The Socket.IO layer over real sockets, spoken to packet by packet."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

import turbosio
from turbosio.adapters import InMemoryAdapter
from turbosio.socketio import Socket

from .rawclient import RawClient, event


@pytest.fixture
async def sio() -> turbosio.Server:
    return turbosio.Server(connect_timeout=2)


@pytest.fixture
async def url(sio: turbosio.Server) -> AsyncIterator[str]:
    handle = await sio.serve(port=0)
    yield handle.url
    await handle.close()


async def client(url: str, nsp: str = "/", auth: Any = None) -> tuple[RawClient, str]:
    c = await RawClient.open(url)
    reply = await c.connect(nsp, auth)
    return c, reply


async def test_connect_replies_with_sid_and_handshake(sio: turbosio.Server, url: str) -> None:
    seen: dict[str, Any] = {}

    @sio.on("connect")
    async def connect(socket: Socket, auth: Any) -> None:
        seen["auth"] = auth
        seen["query"] = dict(socket.handshake.query)
        seen["address"] = socket.handshake.address
        seen["id"] = socket.id
        seen["rooms"] = socket.rooms
        seen["extra"] = socket.handshake.extra
        socket.emit("welcome", "hi")

    c, reply = await client(url, auth={"token": "abc"})
    assert reply.startswith("40")
    payload = orjson.loads(reply[2:])
    assert list(payload) == ["sid"]
    assert payload["sid"] == seen["id"]
    assert payload["sid"] != c.handshake["sid"]  # socket id is not the engine id
    assert seen["auth"] == {"token": "abc"}
    assert seen["query"]["EIO"] == "4"
    assert seen["address"] == "127.0.0.1"
    assert seen["rooms"] == {seen["id"]}
    # A local socket's handshake has no extra fields (a shared, read-only empty mapping).
    assert dict(seen["extra"]) == {}
    with pytest.raises(TypeError):
        seen["extra"]["x"] = 1
    # What the connect handler emitted comes after the CONNECT reply.
    assert event(str(await c.recv())) == ["welcome", "hi"]
    await c.close()


async def test_handshake_read_later_tells_when_the_socket_connected(
    sio: turbosio.Server, url: str
) -> None:
    # The handshake is built on first use; its time is still the connection's.
    @sio.on("when")
    async def when(socket: Socket, _data: Any) -> list[Any]:
        h = socket.handshake
        return [h.issued, h.time, h.url, h.address, dict(h.auth), h.xdomain, h.secure]

    before = time.time()
    c, _ = await client(url, auth={"token": "t"})
    connected = time.time()
    await asyncio.sleep(1.1)
    await c.send('421["when",null]')
    ack = orjson.loads(str(await c.recv())[3:])[0]
    issued, text, path, address, auth, xdomain, secure = ack
    assert int(before * 1000) <= issued <= int(connected * 1000) + 1
    assert re.match(r"\w{3} \w{3} \d{2} \d{4} \d{2}:\d{2}:\d{2} GMT[+-]\d{4}$", text)
    assert path.startswith("/socket.io/?EIO=4&transport=websocket")
    assert (address, auth, xdomain, secure) == ("127.0.0.1", {"token": "t"}, False, False)
    await c.close()


async def test_event_return_value_is_the_ack(sio: turbosio.Server, url: str) -> None:
    @sio.on("echo")
    async def echo(socket: Socket, *args: Any) -> Any:
        return args

    @sio.on("one")
    def one(socket: Socket, value: int) -> int:  # a sync handler, run in a thread
        return value + 1

    @sio.on("none")
    async def none(socket: Socket) -> None:
        return None

    c, _ = await client(url)
    await c.send('4212["echo",1,"2",{"3":[true]}]')
    assert await c.recv() == '4312[1,"2",{"3":[true]}]'
    await c.send('427["one",41]')
    assert await c.recv() == "437[42]"
    await c.send('428["none"]')
    assert await c.recv() == "438[]"
    await c.close()


async def test_sync_handler_runs_in_a_thread_and_can_emit(sio: turbosio.Server, url: str) -> None:
    threads: list[int] = []

    @sio.on("work")
    def work(socket: Socket, n: int) -> None:
        threads.append(threading.get_ident())
        socket.emit("done", n * 2)

    c, _ = await client(url)
    await c.send('42["work",21]')
    assert event(str(await c.recv())) == ["done", 42]
    assert threads and threads[0] != threading.get_ident()
    await c.close()


async def test_binary_event_and_binary_ack(sio: turbosio.Server, url: str) -> None:
    @sio.on("bin")
    async def on_bin(socket: Socket, data: dict[str, Any]) -> Any:
        return {"got": data["payload"], "len": len(data["payload"])}

    c, _ = await client(url)
    await c.send('451-3["bin",{"payload":{"_placeholder":true,"num":0}}]')
    await c.send(b"\x01\x02\x03")
    reply = await c.recv()
    assert reply == '461-3[{"got":{"_placeholder":true,"num":0},"len":3}]'
    assert await c.recv() == b"\x01\x02\x03"
    await c.close()


async def test_emit_with_ack_from_server(sio: turbosio.Server, url: str) -> None:
    results: list[Any] = []
    sockets: list[Socket] = []

    @sio.on("connect")
    async def connect(socket: Socket) -> None:
        sockets.append(socket)

    c, _ = await client(url)
    task = asyncio.ensure_future(sockets[0].emit_with_ack("question", 1))
    packet = str(await c.recv())
    m = re.fullmatch(r'42(\d+)\["question",1\]', packet)
    assert m, packet
    await c.send(f'43{m.group(1)}["answer",2]')
    results.append(await task)
    assert results == [("answer", 2)]
    with pytest.raises(turbosio.AckTimeout):
        await sockets[0].emit_with_ack("question", 2, timeout=0.05)
    await c.close()


async def test_emit_with_ack_fails_on_disconnect(sio: turbosio.Server, url: str) -> None:
    sockets: list[Socket] = []

    @sio.on("connect")
    async def connect(socket: Socket) -> None:
        sockets.append(socket)

    c, _ = await client(url)
    task = asyncio.ensure_future(sockets[0].emit_with_ack("question"))
    await c.recv()
    await c.send("41")
    with pytest.raises(turbosio.Disconnected):
        await task
    await c.close()


async def test_rooms_to_and_except(sio: turbosio.Server, url: str) -> None:
    @sio.on("join")
    async def join(socket: Socket, room: str) -> str:
        socket.join(room)
        return "ok"

    @sio.on("shout")
    async def shout(socket: Socket, room: str, text: str) -> None:
        socket.to(room).emit("shout", text)

    @sio.on("all-but")
    async def all_but(socket: Socket, room: str) -> None:
        sio.except_(room).emit("hello")

    a, _ = await client(url)
    b, _ = await client(url)
    c, _ = await client(url)
    for x in (a, b):
        await x.send('421["join","red"]')
        assert await x.recv() == '431["ok"]'
    await a.send('42["shout","red","hi"]')
    assert event(str(await b.recv())) == ["shout", "hi"]
    await c.send('42["all-but","red"]')
    assert event(str(await c.recv())) == ["hello"]
    # Neither a (the sender) nor anyone outside the room got the shout; a and b got no hello.
    for x in (a, b):
        with pytest.raises(asyncio.TimeoutError):
            await x.recv(timeout=0.2)
    for x in (a, b, c):
        await x.close()


async def test_namespaces_and_invalid_namespace(sio: turbosio.Server, url: str) -> None:
    chat = sio.of("/chat")

    @chat.on("connect")
    async def connect(socket: Socket, auth: Any) -> None:
        socket.emit("auth", auth)

    @chat.on("ping-me")
    async def ping(socket: Socket) -> str:
        return socket.namespace

    c = await RawClient.open(url)
    reply = await c.connect("/chat", {"k": 1})
    assert reply.startswith("40/chat,{")
    assert await c.recv() == '42/chat,["auth",{"k":1}]'
    await c.send('42/chat,5["ping-me"]')
    assert await c.recv() == '43/chat,5["/chat"]'
    assert await c.connect("/nope") == '44/nope,{"message":"Invalid namespace"}'
    # Both namespaces on one connection.
    main = await c.connect("/")
    assert main.startswith("40{")
    await c.close()


async def test_dynamic_namespace(sio: turbosio.Server, url: str) -> None:
    dyn = sio.of(re.compile(r"^/room-\d+$"))

    @dyn.on("where")
    async def where(socket: Socket) -> str:
        return socket.namespace

    c = await RawClient.open(url)
    assert (await c.connect("/room-12")).startswith("40/room-12,")
    await c.send('42/room-12,1["where"]')
    assert await c.recv() == '43/room-12,1["/room-12"]'
    assert (await c.connect("/room-x")).startswith("44/room-x,")
    await c.close()


async def test_connection_refused_by_handler_and_middleware(sio: turbosio.Server, url: str) -> None:
    private = sio.of("/private")

    @private.use
    async def check(socket: Socket, auth: dict[str, Any]) -> None:
        if auth.get("token") != "secret":
            raise turbosio.ConnectionRefused("not authorized", {"code": 401})

    @sio.on("connect")
    def connect(socket: Socket, auth: dict[str, Any]) -> bool:
        return auth.get("ok", True)

    c = await RawClient.open(url)
    assert await c.connect("/private", {"token": "no"}) == (
        '44/private,{"message":"not authorized","data":{"code":401}}'
    )
    assert (await c.connect("/private", {"token": "secret"})).startswith("40/private,")
    assert await c.connect("/", {"ok": False}) == '44{"message":"Connection rejected by server"}'
    assert (await c.connect("/", {"ok": True})).startswith("40{")
    await c.close()


async def test_catch_all_and_on_any(sio: turbosio.Server, url: str) -> None:
    seen: list[Any] = []

    @sio.on("*")
    async def anything(socket: Socket, event_name: str, *args: Any) -> Any:
        return [event_name, *args]

    @sio.on_any
    def listener(socket: Socket, event_name: str, *args: Any) -> None:
        seen.append((event_name, args))

    @sio.on("known")
    async def known(socket: Socket) -> str:
        return "known"

    c, _ = await client(url)
    await c.send('421["whatever",1]')
    assert await c.recv() == '431[["whatever",1]]'
    await c.send('422["known"]')
    assert await c.recv() == '432["known"]'
    for _ in range(50):
        if len(seen) == 2:
            break
        await asyncio.sleep(0.01)
    assert sorted(seen) == [("known", ()), ("whatever", (1,))]
    await c.close()


async def test_disconnect_reasons(sio: turbosio.Server, url: str) -> None:
    reasons: list[str] = []
    rooms_when_disconnecting: list[set[str]] = []
    sockets: list[Socket] = []

    @sio.on("connect")
    async def connect(socket: Socket) -> None:
        socket.join("r")
        sockets.append(socket)

    @sio.on("disconnecting")
    async def disconnecting(socket: Socket, reason: str) -> None:
        rooms_when_disconnecting.append(socket.rooms)

    @sio.on("disconnect")
    async def disconnect(socket: Socket, reason: str) -> None:
        reasons.append(reason)

    a, _ = await client(url)
    sockets[0].disconnect()
    assert await a.recv() == "41"
    b, _ = await client(url)
    await b.send("41")
    c, _ = await client(url)
    await c.close()
    for _ in range(100):
        if len(reasons) == 3:
            break
        await asyncio.sleep(0.01)
    assert reasons == [
        "server namespace disconnect",
        "client namespace disconnect",
        "transport close",
    ]
    assert all("r" in rooms for rooms in rooms_when_disconnecting)
    assert sio.sockets.adapter.rooms == {}
    await a.close()
    await b.close()


async def test_invalid_packet_closes_only_that_connection(sio: turbosio.Server, url: str) -> None:
    @sio.on("echo")
    async def echo(socket: Socket, value: Any) -> Any:
        return value

    good, _ = await client(url)
    bad, _ = await client(url)
    await bad.send('42{"not":"a list"}')
    assert await bad.closed()
    await good.send('421["echo",5]')
    assert await good.recv() == "431[5]"
    await good.close()
    await bad.close()


async def test_event_for_unjoined_namespace_closes(sio: turbosio.Server, url: str) -> None:
    c, _ = await client(url)
    await c.send('42/other,["x"]')
    assert await c.closed()
    await c.close()


async def test_broadcast_with_acks(sio: turbosio.Server, url: str) -> None:
    a, _ = await client(url)
    b, _ = await client(url)
    task = asyncio.ensure_future(sio.timeout(2).emit_with_ack("vote"))
    for x, answer in ((a, "yes"), (b, "no")):
        packet = str(await x.recv())
        m = re.fullmatch(r'42(\d+)\["vote"\]', packet)
        assert m, packet
        await x.send(f'43{m.group(1)}["{answer}"]')
    assert sorted(await task) == ["no", "yes"]

    task = asyncio.ensure_future(sio.timeout(0.2).emit_with_ack("vote"))
    packet = str(await a.recv())
    await b.recv()
    m = re.fullmatch(r'42(\d+)\["vote"\]', packet)
    assert m
    await a.send(f'43{m.group(1)}["only-a"]')
    with pytest.raises(turbosio.AckTimeout) as info:
        await task
    assert info.value.responses == ["only-a"]
    await a.close()
    await b.close()


async def test_connect_timeout_closes_idle_connection(url: str) -> None:
    c = await RawClient.open(url)
    assert await c.closed(timeout=5)
    await c.close()


async def test_connect_timeout_of_many_connections_shares_one_timer(
    sio: turbosio.Server, url: str
) -> None:
    """Connections opened one after another each get their own connect_timeout (2 s here)
    from the server's one timer: the idle ones close, the one that joined stays, and a
    connection opened later is not closed with the first."""
    first = await RawClient.open(url)
    joined = await RawClient.open(url)
    assert len(sio._joins) == 2
    assert (await joined.connect()).startswith("40")
    assert len(sio._joins) == 1  # joining takes it out at once
    await asyncio.sleep(1.5)
    later = await RawClient.open(url)
    assert len(sio._joins) == 2
    assert await first.closed(timeout=3)  # about 2 s after it opened
    # The later connection waits for its own deadline, 1.5 s after the first's.
    assert len(sio._joins) == 1
    assert await later.closed(timeout=4)
    assert len(sio._joins) == 0
    assert not await joined.closed(timeout=0.3)
    for c in (first, joined, later):
        await c.close()


async def test_emit_from_another_thread(sio: turbosio.Server, url: str) -> None:
    c, _ = await client(url)
    thread = threading.Thread(target=sio.emit, args=("from-thread", 1))
    thread.start()
    thread.join()
    assert event(str(await c.recv())) == ["from-thread", 1]
    await c.close()


async def test_reserved_event_names_are_refused(sio: turbosio.Server) -> None:
    with pytest.raises(ValueError, match="reserved"):
        sio.emit("disconnect")


async def test_join_leave_do_not_scan_rooms(sio: turbosio.Server, url: str) -> None:
    sockets: list[Socket] = []

    @sio.on("connect")
    async def connect(socket: Socket) -> None:
        sockets.append(socket)

    c, _ = await client(url)
    s = sockets[0]
    s.join(["a", "b"])
    adapter = sio.sockets.adapter
    assert adapter.rooms["a"] == {s.id}
    assert adapter.sids[s.id] == {s.id, "a", "b"}
    s.leave("a")
    assert "a" not in adapter.rooms
    assert s.rooms == {s.id, "b"}
    await c.close()


@pytest.mark.parametrize("with_handler", [False, True], ids=["no-connect-handler", "handler"])
async def test_a_failing_adapter_refuses_the_connection(with_handler: bool) -> None:
    """If the adapter cannot register the socket, the client gets CONNECT_ERROR with the
    error's message, whether or not a connect handler is there (with none, the connection is
    made without a coroutine)."""

    class BrokenAdapter(InMemoryAdapter):
        def add_all(self, sid: str, rooms: Any) -> None:
            raise RuntimeError("adapter down")

    sio = turbosio.Server(adapter=BrokenAdapter)
    connected: list[Socket] = []
    if with_handler:

        @sio.on("connect")
        async def connect(socket: Socket) -> None:
            connected.append(socket)

    handle = await sio.serve(port=0)
    try:
        c, reply = await client(handle.url)
        assert reply.startswith("44")
        assert orjson.loads(reply[2:]) == {"message": "adapter down"}
        assert connected == []
        assert list(sio.of("/").sockets) == []
        await c.close()
    finally:
        await handle.close()
