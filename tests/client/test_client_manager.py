"""Reconnection for real: the server runs in a subprocess that the tests kill, freeze and
restart on the same port; our server and Node's, on each transport."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from client_helpers import FINAL, PeerProcess, Recorder, free_port, until

import turbosio
from turbosio.client import AsyncClient, ConnectError

MakeClient = Callable[..., AsyncClient]
Spawn = Callable[..., PeerProcess]

#: What the JavaScript client reports when the server process dies: a failed poll is a
#: transport error, a WebSocket that ends is a transport close.
DEATH = {"polling": "transport error", "websocket": "transport close", "upgrade": "transport close"}


def watch(client: AsyncClient, seen: Recorder) -> None:
    for name in (
        "connect",
        "disconnect",
        "connect_error",
        "reconnect_attempt",
        "reconnect",
        "reconnect_error",
        "reconnect_failed",
        "seq",
    ):
        client.on(name, seen.handler(name))


async def test_server_restart(
    server_kind: str, mode: str, transports: list[str], spawn: Spawn, make_client: MakeClient
) -> None:
    """Kill the server, emit while it is down, restart it on the same port: the client
    reconnects by itself and what it emitted arrives after the reconnection, in order."""
    peer = spawn(server_kind)
    client = make_client(reconnection_delay=0.1, reconnection_delay_max=0.3)
    seen = Recorder()
    watch(client, seen)
    await client.connect(peer.url, transports=transports)
    await until(lambda: client.transport == FINAL[mode], what="the final transport")
    first = client.id
    peer.kill()
    assert await seen.wait("disconnect") == [(DEATH[mode],)]
    log = uuid.uuid4().hex
    for i in range(5):
        client.emit("seq", log, i)
    assert not client.connected
    [(error,)] = await seen.wait("reconnect_error")  # it tried while the server was down
    assert isinstance(error, ConnectError)
    peer.start()
    await seen.wait("reconnect")
    assert await seen.wait("seq", 5) == [(i,) for i in range(5)]
    assert await client.emit_with_ack("log", log) == [0, 1, 2, 3, 4]  # the new process's log
    assert client.connected and client.id != first
    attempts = seen.of("reconnect_attempt")
    assert attempts == [(n,) for n in range(1, len(attempts) + 1)]
    assert seen.of("reconnect") == [(len(attempts),)]
    assert len(seen.of("connect")) == 2


@pytest.mark.parametrize("transports", [["polling"], ["websocket"]], ids=["polling", "websocket"])
async def test_reconnect_failed(
    server_kind: str, transports: list[str], spawn: Spawn, make_client: MakeClient
) -> None:
    """A server that stays down: reconnect_failed after the configured attempts, then the
    client stops (wait() returns) and what waited for the connection fails."""
    peer = spawn(server_kind)
    client = make_client(
        reconnection_attempts=3, reconnection_delay=0.05, reconnection_delay_max=0.05
    )
    seen = Recorder()
    watch(client, seen)
    await client.connect(peer.url, transports=transports)
    peer.kill()
    await seen.wait("disconnect")
    pending = asyncio.ensure_future(client.emit_with_ack("echo", "buffered"))
    await seen.wait("reconnect_failed")
    await asyncio.wait_for(client.wait(), 5)
    assert seen.of("reconnect_attempt") == [(1,), (2,), (3,)]
    assert len(seen.of("reconnect_error")) == 3
    assert len(seen.of("connect_error")) == 3  # the namespace hears of each failure
    assert seen.of("reconnect") == []
    assert seen.names()[-1] == "reconnect_failed"
    with pytest.raises(turbosio.Disconnected):
        await pending
    with pytest.raises(turbosio.Disconnected):
        client.emit("echo")


async def test_silent_server_ping_timeout(
    server_kind: str, transports: list[str], spawn: Spawn, make_client: MakeClient
) -> None:
    """The client answers pings (the server would drop it otherwise), and a server that
    falls silent is detected by the ping timeout; once it is back, the client reconnects."""
    peer = spawn(server_kind, ping_interval=0.2, ping_timeout=0.3)
    client = make_client()
    seen = Recorder()
    watch(client, seen)
    await client.connect(peer.url, transports=transports)
    first = client.id
    await asyncio.sleep(1.0)  # five pings: each one answered, or the server drops us
    assert await client.emit_with_ack("whoami") is not None
    assert client.connected and client.id == first and seen.of("disconnect") == []
    peer.pause()  # alive, connected, and silent
    assert await seen.wait("disconnect") == [("ping timeout",)]
    peer.resume()
    await seen.wait("reconnect")
    await until(lambda: client.connected, what="connected again")
    assert (await client.emit_with_ack("whoami"))["id"] == client.id != first


async def test_connect_retry_until_the_server_starts(
    server_kind: str, request: pytest.FixtureRequest, make_client: MakeClient
) -> None:
    """connect(retry=True) keeps trying, with the reconnection delays, until the server is
    up; without retry it raises at once."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    client = make_client(reconnection_delay=0.05, reconnection_delay_max=0.1)
    seen = Recorder()
    watch(client, seen)
    with pytest.raises(ConnectError, match="cannot connect") as refused:
        await client.connect(url)
    assert isinstance(refused.value, ConnectionError)
    assert len(seen.of("connect_error")) == 1
    connecting = asyncio.ensure_future(client.connect(url, retry=True))
    await seen.wait("reconnect_error", 2)
    node = request.getfixturevalue("node") if server_kind == "node" else None
    peer = PeerProcess(server_kind, node, port=port).start()
    try:
        await asyncio.wait_for(connecting, 10)
        assert client.connected
        assert await client.emit_with_ack("echo", "up") == "up"
        await client.disconnect()
    finally:
        peer.stop()


async def test_no_reconnection_when_disabled(
    server_kind: str, spawn: Spawn, make_client: MakeClient
) -> None:
    """reconnection=False: a lost connection stays lost and the client stops."""
    peer = spawn(server_kind)
    client = make_client(reconnection=False)
    seen = Recorder()
    watch(client, seen)
    await client.connect(peer.url, transports=["websocket"])
    peer.kill()
    assert await seen.wait("disconnect") == [("transport close",)]
    await asyncio.wait_for(client.wait(), 5)
    assert seen.of("reconnect_attempt") == []


def test_connect_twice_is_refused() -> None:
    """A connected client must disconnect before connecting again."""

    async def scenario() -> Any:
        from peer_app import build_server

        handle = await build_server().serve(host="127.0.0.1", port=0)
        client = AsyncClient()
        try:
            await client.connect(handle.url)
            with pytest.raises(RuntimeError, match="disconnect"):
                await client.connect(handle.url)
        finally:
            await client.disconnect()
            await handle.close()

    asyncio.run(scenario())
