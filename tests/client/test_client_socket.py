"""The namespace socket: connection state recovery (pid and offset on reconnection,
``recovered``) and the auth payload, evaluated again at each connection."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

import pytest
from client_helpers import PeerProcess, Recorder

from turbosio.client import AsyncClient, ConnectError

MakeClient = Callable[..., AsyncClient]
Spawn = Callable[..., PeerProcess]

RECOVERY_KINDS = ["turbosio", pytest.param("node", marks=pytest.mark.js)]


@pytest.mark.parametrize("server_kind", RECOVERY_KINDS)
async def test_connection_state_recovery(
    server_kind: str, transports: list[str], spawn: Spawn, make_client: MakeClient
) -> None:
    """With recovery on the server: after a lost connection the client sends its pid and
    last offset, gets its session back (same id, ``recovered``) and the events it missed."""
    peer = spawn(server_kind, recovery=True)
    # Reconnect only once the event emitted 0.3 s after the drop has been missed.
    client = make_client(reconnection_delay=0.8, randomization_factor=0)
    seen = Recorder()
    for name in ("connect", "disconnect", "news", "missed"):
        client.on(name, seen.handler(name))
    await client.connect(peer.url, transports=transports)
    first = client.id
    assert not client.recovered
    client.emit("relay", "news", 1)  # recovery needs one event with an offset
    [news] = await seen.wait("news")
    assert news[0] == 1 and isinstance(news[-1], str)  # the server appends its offset
    assert await client.emit_with_ack("later", "missed", 0.3) is True
    client.emit("drop")
    assert await seen.wait("disconnect") == [("transport close",)]
    await seen.wait("connect", 2)
    assert client.recovered and client.id == first
    [missed] = await seen.wait("missed")
    assert missed[0] == 0.3


async def test_auth_callable_runs_at_each_connection(
    server_kind: str, peer_url: str, transports: list[str], make_client: MakeClient
) -> None:
    """auth may be a callable, sync or async: it runs before each connection, so a
    reconnection sends a fresh token."""
    tokens = itertools.count(1)

    async def fresh() -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"token": next(tokens)}

    for auth in (lambda: {"token": next(tokens)}, fresh):
        client = make_client()
        seen = Recorder()
        client.on("connect", seen.handler("connect"))
        await client.connect(peer_url, auth=auth, transports=transports)
        before = (await client.emit_with_ack("whoami"))["auth"]["token"]
        client.emit("drop")
        await seen.wait("connect", 2)
        after = (await client.emit_with_ack("whoami"))["auth"]["token"]
        assert after == before + 1
        await client.disconnect()


async def test_failing_auth_fails_the_connection(
    peer_url: str, transports: list[str], make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    """An auth callable that raises: no CONNECT is sent, connect() raises ConnectError, the
    connect_error handler hears of it, and the failure is logged."""

    def broken() -> dict[str, Any]:
        raise RuntimeError("no token today")

    client = make_client()
    seen = Recorder()
    client.on("connect_error", seen.handler("connect_error"))
    with pytest.raises(ConnectError, match="no token today"):
        await client.connect(peer_url, auth=broken, transports=transports)
    [(err,)] = seen.of("connect_error")
    assert err.namespace == "/"
    assert "the auth failed" in caplog.text
    await asyncio.wait_for(client.wait(), 5)
