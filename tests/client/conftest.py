"""Fixtures of the client tests: the servers the client connects to, and the transports.

Most tests run against two servers with the same handlers (see peer_app.py):

* "turbosio": our server, in the test's event loop (``sio.serve(port=0)``);
* "node": Node's socket.io 4.8 (tests/js/client-peer.mjs), in a subprocess shared by the
  session; skipped loudly without Node (failed under CI=true), marked ``js``.

and in three modes: polling only, WebSocket only, and polling upgraded to WebSocket.
Tests that kill, freeze or restart their server start their own subprocess (``spawn``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from client_helpers import MODES, PeerProcess
from peer_app import build_server

SERVER_KINDS = [pytest.param("turbosio"), pytest.param("node", marks=pytest.mark.js)]


@pytest.fixture(params=SERVER_KINDS)
def server_kind(request: pytest.FixtureRequest) -> str:
    """ "turbosio" or "node"."""
    kind: str = request.param
    if kind == "node":
        request.getfixturevalue("node")  # skips (or fails under CI) without Node
    return kind


@pytest.fixture(params=list(MODES))
def mode(request: pytest.FixtureRequest) -> str:
    """ "polling", "websocket" or "upgrade"."""
    name: str = request.param
    return name


@pytest.fixture
def transports(mode: str) -> list[str]:
    """The client's ``transports`` option for the mode."""
    return MODES[mode]


@pytest.fixture(scope="session")
def shared_peers() -> Iterator[dict[str, PeerProcess]]:
    """Peers in subprocesses shared by the session, by kind, started on first use."""
    running: dict[str, PeerProcess] = {}
    yield running
    for peer in running.values():
        peer.stop()


@pytest.fixture
def shared_peer(
    server_kind: str, request: pytest.FixtureRequest, shared_peers: dict[str, PeerProcess]
) -> PeerProcess:
    """A subprocess peer of the kind under test, shared by the session (for the tests of the
    sync client, which has no event loop in the test's thread to serve from)."""
    peer = shared_peers.get(server_kind)
    if peer is None:
        node = request.getfixturevalue("node") if server_kind == "node" else None
        peer = shared_peers[server_kind] = PeerProcess(server_kind, node)
        peer.start()
    return peer


@pytest.fixture
async def peer_url(
    server_kind: str,
    request: pytest.FixtureRequest,
    clients: list[Any],
) -> AsyncIterator[str]:
    """The URL of a server with the peer handlers, of the kind under test: ours in the
    test's loop, Node's in the session's subprocess."""
    if server_kind == "node":
        yield request.getfixturevalue("shared_peer").url
        return
    release = asyncio.Event()
    handle = await build_server(release=release).serve(host="127.0.0.1", port=0)
    try:
        yield handle.url
    finally:
        await disconnect_all(clients)  # clients first: their connections end with them
        release.set()
        await handle.close(timeout=2)


@pytest.fixture
def spawn(request: pytest.FixtureRequest) -> Iterator[Callable[..., PeerProcess]]:
    """``spawn(kind, **options)``: a peer in a subprocess of its own, started, and stopped
    at the end of the test."""
    started: list[PeerProcess] = []

    def make(kind: str, **options: Any) -> PeerProcess:
        node = request.getfixturevalue("node") if kind == "node" else None
        peer = PeerProcess(kind, node, **options)
        started.append(peer)
        return peer.start()

    yield make
    for peer in started:
        peer.stop()


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (cert.pem, key.pem)."""
    from client_helpers import make_certificate

    return make_certificate(tmp_path_factory.mktemp("client-tls"))


@pytest.fixture
def clients() -> list[Any]:
    """The AsyncClients of the test; disconnected before its in-process server closes."""
    return []


async def disconnect_all(clients: list[Any]) -> None:
    for client in clients:
        await client.disconnect()


@pytest.fixture
async def make_client(clients: list[Any]) -> AsyncIterator[Callable[..., Any]]:
    """``make_client(**options)``: an AsyncClient that reconnects quickly (0.05 s, at most
    0.2 s, unless the test says otherwise), disconnected at the end of the test."""
    from turbosio.client import AsyncClient

    def make(**options: Any) -> AsyncClient:
        options = {"reconnection_delay": 0.05, "reconnection_delay_max": 0.2, **options}
        client = AsyncClient(**options)
        clients.append(client)
        return client

    yield make
    await disconnect_all(clients)
