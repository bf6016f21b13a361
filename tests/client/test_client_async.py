"""turbosio.AsyncClient against our server and Node's socket.io 4.8, on each transport.

Every test here runs six times: servers "turbosio" and "node" (see conftest.py) times modes
polling, websocket and upgrade. The handlers the servers run are described in peer_app.py.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from client_helpers import FINAL, Recorder, until

import turbosio
from turbosio.client import AsyncClient, BufferFull, ConnectError

MakeClient = Callable[..., AsyncClient]


def key() -> str:
    """A log name no other test uses (the Node peer is shared by the session)."""
    return uuid.uuid4().hex


async def test_connect_handshake_and_transport(
    make_client: MakeClient, peer_url: str, transports: list[str], mode: str
) -> None:
    """connect() returns connected; the server saw the auth, headers and query; the
    connection ends on the transport the mode asks for."""
    client = make_client()
    seen = Recorder()
    client.on("connect", seen.handler("connect"))
    await client.connect(
        peer_url + "/?peer=q1",
        auth={"token": "abc"},
        headers={"X-Peer": "h1"},
        transports=transports,
    )
    assert client.connected
    assert seen.of("connect") == [()]
    await until(lambda: client.transport == FINAL[mode], what=f"transport {FINAL[mode]}")
    who = await client.emit_with_ack("whoami", timeout=5)
    assert who["id"] == client.id == client.get_sid("/")
    assert who["engine"] == client.sid
    assert (who["nsp"], who["auth"], who["header"], who["query"]) == (
        "/",
        {"token": "abc"},
        "h1",
        "q1",
    )
    assert who["transport"] == FINAL[mode]
    assert client.namespaces == ["/"]


async def test_acknowledgement_values(
    make_client: MakeClient, peer_url: str, transports: list[str]
) -> None:
    """emit_with_ack gives one value as is, several as a tuple, none as None; emit's
    callback gets the arguments."""
    client = make_client()
    await client.connect(peer_url, transports=transports)
    assert await client.emit_with_ack("echo", 1, "two", {"three": [3, None, True]}) == (
        1,
        "two",
        {"three": [3, None, True]},
    )
    assert await client.emit_with_ack("echo", "one") == "one"
    assert await client.emit_with_ack("echo") is None
    got: asyncio.Future[tuple[Any, ...]] = asyncio.get_running_loop().create_future()
    client.emit("echo", "cb", 2, callback=lambda *args: got.set_result(args))
    assert await asyncio.wait_for(got, 5) == ("cb", 2)


async def test_binary_both_ways(
    make_client: MakeClient, peer_url: str, transports: list[str]
) -> None:
    """Nested bytes go out and come back, in acks and in events."""
    client = make_client()
    seen = Recorder()
    client.on("blob", seen.handler("blob"))
    await client.connect(peer_url, transports=transports)
    data = {"name": "x", "raw": b"\x00\x01\x02", "list": [b"\xff" * 300, "s", {"d": b""}]}
    assert await client.emit_with_ack("echo", data, b"ab") == (data, b"ab")
    client.emit("relay", "blob", b"\x09\x08", {"k": [bytes(range(256))]})
    [args] = await seen.wait("blob")
    assert args == (b"\x09\x08", {"k": [bytes(range(256))]})


async def test_events_catch_all_and_on_any(
    make_client: MakeClient, peer_url: str, transports: list[str]
) -> None:
    """Server events reach their handler; events without one reach the catch-all as
    (event, *args); on_any listeners see every event first."""
    client = make_client()
    seen = Recorder()
    client.on("news", seen.handler("news"))
    client.on("*", seen.handler("*"))
    client.on_any(seen.handler("any"))
    await client.connect(peer_url, transports=transports)
    client.emit("relay", "news", 1, {"a": 2})
    client.emit("relay", "unhandled", "x")
    await seen.wait("*")
    assert seen.of("news") == [(1, {"a": 2})]
    assert seen.of("*") == [("unhandled", "x")]
    assert seen.of("any") == [("news", 1, {"a": 2}), ("unhandled", "x")]


async def test_handler_return_value_is_the_ack(
    make_client: MakeClient, peer_url: str, transports: list[str]
) -> None:
    """When the server asks for an ack, the handler's return value is it: a tuple is several
    arguments; an async handler may await before answering; the catch-all answers too."""
    client = make_client()
    seen = Recorder()
    client.on("answer", seen.handler("answer"))

    @client.on("question")
    def question(*args: Any) -> tuple[Any, ...]:
        return ("answered", *args)

    @client.on("slow-question")
    async def slow(value: Any) -> dict[str, Any]:
        await asyncio.sleep(0.01)
        return {"slow": value}

    @client.on("*")
    def anything(event: str, *args: Any) -> str:
        return f"caught {event}"

    await client.connect(peer_url, transports=transports)
    client.emit("ask", "question", 1, b"\x01")
    client.emit("ask", "slow-question", [2])
    client.emit("ask", "whatever")
    answers = await seen.wait("answer", 3)
    assert sorted(answers, key=repr) == sorted(
        [(["answered", 1, b"\x01"],), ([{"slow": [2]}],), (["caught whatever"],)], key=repr
    )


async def test_ack_timeout(make_client: MakeClient, peer_url: str, transports: list[str]) -> None:
    """No answer within the timeout: AckTimeout, Node's message; the client's ack_timeout
    is the default timeout."""
    client = make_client(ack_timeout=0.2)
    await client.connect(peer_url, transports=transports)
    with pytest.raises(turbosio.AckTimeout, match="operation has timed out"):
        await client.emit_with_ack("flaky", key(), 99, timeout=0.1)
    with pytest.raises(turbosio.AckTimeout):
        await client.emit_with_ack("flaky", key(), 99)
    assert client.connected  # a timeout is not a disconnection


async def test_namespaces_share_one_connection(
    make_client: MakeClient, peer_url: str, transports: list[str]
) -> None:
    """Several namespaces on one Engine.IO connection (the Manager): one engine id, one
    socket id per namespace, emits and handlers per namespace."""
    client = make_client()
    seen = Recorder()
    client.on("hello", seen.handler("main"))
    client.on("hello", seen.handler("custom"), namespace="/custom")
    await client.connect(peer_url, namespaces=["/", "/custom"], transports=transports)
    main = await client.emit_with_ack("whoami")
    custom = await client.emit_with_ack("whoami", namespace="/custom")
    assert main["engine"] == custom["engine"] == client.sid
    assert (main["nsp"], custom["nsp"]) == ("/", "/custom")
    assert main["id"] == client.get_sid("/") and custom["id"] == client.get_sid("/custom")
    assert main["id"] != custom["id"]
    client.emit("relay", "hello", "to custom", namespace="/custom")
    await seen.wait("custom")
    assert seen.of("main") == []
    assert sorted(client.namespaces) == ["/", "/custom"]


async def test_refused_namespace(
    make_client: MakeClient, peer_url: str, transports: list[str]
) -> None:
    """A refusal raises ConnectError with the server's message and data, and the
    connect_error handler gets the same; the right auth gets in."""
    client = make_client()
    seen = Recorder()
    client.on("connect_error", seen.handler("connect_error"), namespace="/refused")
    with pytest.raises(ConnectError) as refused:
        await client.connect(peer_url, namespace="/refused", transports=transports)
    assert refused.value.message == "refused by middleware"
    assert refused.value.data == {"code": 4001, "retry": False}
    assert refused.value.namespace == "/refused"
    assert isinstance(refused.value, ConnectionError)
    [(err,)] = seen.of("connect_error")
    assert (err.message, err.data) == ("refused by middleware", {"code": 4001, "retry": False})
    assert not client.connected

    with pytest.raises(ConnectError, match="invalid token") as wrong:
        await client.connect(peer_url, namespace="/guarded", auth={"token": "no"})
    assert wrong.value.data == {"reason": "token mismatch"}
    await client.connect(peer_url + "/guarded", auth={"token": "secret"}, transports=transports)
    assert (await client.emit_with_ack("whoami"))["nsp"] == "/guarded"


async def test_client_disconnect(
    make_client: MakeClient, peer_url: str, transports: list[str]
) -> None:
    """disconnect(): reason "io client disconnect", no reconnection, wait() returns; emitting
    afterwards raises Disconnected; connect() works again."""
    client = make_client()
    seen = Recorder()
    client.on("disconnect", seen.handler("disconnect"))
    client.on("reconnect_attempt", seen.handler("reconnect_attempt"))
    await client.connect(peer_url, transports=transports)
    await client.disconnect()
    assert seen.of("disconnect") == [("io client disconnect",)]
    assert not client.connected and client.id is None and client.transport is None
    await asyncio.wait_for(client.wait(), 5)
    with pytest.raises(turbosio.Disconnected):
        client.emit("echo")
    await client.connect(peer_url, transports=transports)
    assert await client.emit_with_ack("echo", 1) == 1
    assert seen.of("reconnect_attempt") == []


async def test_server_disconnect_does_not_reconnect(
    make_client: MakeClient, peer_url: str, transports: list[str]
) -> None:
    """The server disconnects the socket: "io server disconnect", and no reconnection, as in
    the JavaScript client; a pending ack fails with Disconnected."""
    client = make_client()
    seen = Recorder()
    client.on("disconnect", seen.handler("disconnect"))
    client.on("reconnect_attempt", seen.handler("reconnect_attempt"))
    await client.connect(peer_url, transports=transports)
    pending = asyncio.ensure_future(client.emit_with_ack("flaky", key(), 99))
    await asyncio.sleep(0)  # sent before the kick: the server closes on packets after it
    client.emit("kick")
    assert await seen.wait("disconnect") == [("io server disconnect",)]
    await asyncio.wait_for(client.wait(), 5)
    with pytest.raises(turbosio.Disconnected, match="socket has been disconnected"):
        await pending
    await asyncio.sleep(0.3)  # several reconnection delays
    assert seen.of("reconnect_attempt") == []


async def test_reconnects_and_flushes_the_offline_buffer(
    make_client: MakeClient, peer_url: str, transports: list[str]
) -> None:
    """The connection drops under the client ("transport close"): it reconnects by itself
    (reconnect_attempt, reconnect, connect), and what it emitted meanwhile arrives in order;
    volatile emits made meanwhile are dropped."""
    client = make_client()
    seen = Recorder()
    log = key()

    @client.on("disconnect")
    def gone(reason: str) -> None:
        seen.record("disconnect", reason)
        for i in range(5):
            client.emit("seq", log, i)
        client.volatile.emit("seq", log, "volatile")

    for name in ("connect", "reconnect_attempt", "reconnect", "seq"):
        client.on(name, seen.handler(name))
    await client.connect(peer_url, transports=transports)
    first_id = client.id
    client.emit("drop")
    assert await seen.wait("disconnect") == [("transport close",)]
    await seen.wait("seq", 5)
    assert seen.of("seq") == [(i,) for i in range(5)]
    assert await client.emit_with_ack("log", log) == [0, 1, 2, 3, 4]
    assert seen.of("reconnect_attempt")[0] == (1,)
    assert seen.of("reconnect") == [(len(seen.of("reconnect_attempt")),)]
    assert len(seen.of("connect")) == 2
    assert client.connected and client.id != first_id
    assert not client.recovered  # the server does not recover sessions here


async def test_offline_buffer_is_bounded(
    make_client: MakeClient, peer_url: str, transports: list[str]
) -> None:
    """max_buffer emits are kept while disconnected; one more raises BufferFull; an ack that
    times out while buffered takes its packet out of the buffer."""
    client = make_client(max_buffer=3, reconnection_delay=0.5, randomization_factor=0)
    seen = Recorder()
    log = key()
    outcome: list[Any] = []

    @client.on("disconnect")
    async def gone(reason: str) -> None:
        client.emit("seq", log, 0)
        timed = asyncio.ensure_future(client.emit_with_ack("seq", log, "timed out", timeout=0.05))
        timed.add_done_callback(lambda f: outcome.append(type(f.exception())))
        await asyncio.sleep(0)  # the task starts: its packet is in the buffer
        client.emit("seq", log, 1)
        try:
            client.emit("seq", log, 2)
        except BufferFull as exc:
            outcome.append(exc)
        seen.record("disconnect", reason)

    client.on("connect", seen.handler("connect"))
    await client.connect(peer_url, transports=transports)
    client.emit("drop")
    await seen.wait("disconnect")
    assert isinstance(outcome[0], BufferFull)
    await seen.wait("connect", 2)
    assert await client.emit_with_ack("log", log) == [0, 1]
    assert outcome[1:] == [turbosio.AckTimeout]


async def test_retries_until_acknowledged(
    make_client: MakeClient, peer_url: str, transports: list[str]
) -> None:
    """retries: an emit is sent again after each ack timeout until the server answers, or
    fails after retries + 1 tries; emits wait their turn, one at a time."""
    # An answer must come within the ack timeout, a polling round trip on a busy machine.
    client = make_client(retries=2, ack_timeout=0.3)
    await client.connect(peer_url, transports=transports)
    answered, failed = key(), key()
    assert await client.emit_with_ack("flaky", answered, 3) == 3
    with pytest.raises(turbosio.AckTimeout):
        await client.emit_with_ack("flaky", failed, 10)
    assert await client.emit_with_ack("tries", failed) == 3
    client.emit("flaky", answered, 0)  # plain emits go through the queue too
    assert await client.emit_with_ack("tries", answered) == 4


async def test_volatile_while_connected_and_send(
    make_client: MakeClient, peer_url: str, transports: list[str], mode: str
) -> None:
    """volatile emits go out when the transport can take them; send() emits "message"."""
    client = make_client()
    seen = Recorder()
    client.on("seq", seen.handler("seq"))
    client.on("message", seen.handler("message"))
    await client.connect(peer_url, transports=transports)
    # As in the JavaScript client, a volatile emit is dropped while an upgrade pauses the
    # transport or a polling POST is in flight: wait for an idle, final transport.
    engine = client._manager.engine  # type: ignore[union-attr]
    await until(lambda: client.transport == FINAL[mode] and engine.writable, what="writable")
    client.volatile.emit("seq", key(), "v")
    client.send("to the server")
    client.emit("relay", "message", "m")
    await seen.wait("message")
    assert seen.of("message") == [("m",)]
    assert seen.of("seq") == [("v",)]
