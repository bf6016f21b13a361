"""The Engine.IO side of the client: TLS, heartbeat, polling payload limits, refused
handshakes, URLs and paths, and the missing-extra message."""

from __future__ import annotations

import asyncio
import ssl
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from client_helpers import FINAL, PeerProcess, Recorder, until
from peer_app import build_server

import turbosio
from turbosio.client import AsyncClient, ConnectError

MakeClient = Callable[..., AsyncClient]


async def test_tls(
    server_kind: str,
    mode: str,
    transports: list[str],
    certificate: tuple[Path, Path],
    request: pytest.FixtureRequest,
    shared_peers: dict[str, PeerProcess],
) -> None:
    """HTTPS and WSS: an ssl context that trusts the certificate connects, ssl_verify=False
    connects, the default verification refuses a self-signed certificate."""
    handle = None
    if server_kind == "turbosio":
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*certificate)
        handle = await build_server().serve(host="127.0.0.1", port=0, ssl=context)
        url = handle.url
    else:
        peer = shared_peers.get("node-tls")
        if peer is None:
            node = request.getfixturevalue("node")
            peer = shared_peers["node-tls"] = PeerProcess("node", node, tls=certificate)
            peer.start()
        url = peer.url
    assert url.startswith("https://")
    trusting = AsyncClient(ssl=ssl.create_default_context(cafile=str(certificate[0])))
    lenient = AsyncClient(ssl_verify=False)
    strict = AsyncClient(reconnection=False)
    try:
        await trusting.connect(url, transports=transports)
        await until(lambda: trusting.transport == FINAL[mode], what="the final transport")
        assert await trusting.emit_with_ack("echo", b"\x00secure") == b"\x00secure"
        await lenient.connect(url.replace("https", "wss"), transports=transports)
        assert (await lenient.emit_with_ack("whoami"))["id"] == lenient.id
        with pytest.raises(ConnectError, match="certificate"):
            await strict.connect(url, transports=transports)
    finally:
        for client in (trusting, lenient, strict):
            await client.disconnect()
        if handle is not None:
            await handle.close()


async def test_answers_pings(mode: str, transports: list[str], make_client: MakeClient) -> None:
    """Our server pings every 0.1 s and drops a client that does not answer within 0.5 s:
    the client stays connected through many pings."""
    handle = await build_server(ping_interval=0.1, ping_timeout=0.5).serve(port=0)
    try:
        client = make_client()
        seen = Recorder()
        client.on("disconnect", seen.handler("disconnect"))
        await client.connect(handle.url, transports=transports)
        first = client.id
        await asyncio.sleep(1.2)  # more than two ping timeouts
        assert (await client.emit_with_ack("whoami"))["id"] == first
        assert seen.of("disconnect") == []
        await client.disconnect()
    finally:
        await handle.close()


async def test_polling_payloads_respect_max_payload(make_client: MakeClient) -> None:
    """Emits queued while a POST is in flight go out in POSTs no bigger than the server's
    maxPayload (it answers a bigger one with 413 and closes the session)."""
    sio = turbosio.Server(max_http_buffer_size=2_000)
    received: list[int] = []

    @sio.on("item")
    async def item(socket: object, i: int, filler: str) -> None:
        received.append(i)

    handle = await sio.serve(port=0)
    try:
        client = make_client()
        seen = Recorder()
        client.on("disconnect", seen.handler("disconnect"))
        await client.connect(handle.url, transports=["polling"])
        for i in range(60):  # 60 x ~120 bytes: several POSTs' worth
            client.emit("item", i, "x" * 100)
        await until(lambda: len(received) == 60, what="60 items")
        assert received == list(range(60))
        assert seen.of("disconnect") == [] and client.connected
        await client.disconnect()
    finally:
        await handle.close()


@pytest.mark.parametrize("transports", [["polling"], ["websocket"]], ids=["polling", "websocket"])
async def test_refused_handshake(transports: list[str], make_client: MakeClient) -> None:
    """A server that refuses the handshake (allow_request): ConnectError with its status,
    and on polling its {"code", "message"} body."""
    sio = turbosio.Server(allow_request=lambda request: False)
    handle = await sio.serve(port=0)
    try:
        client = make_client()
        seen = Recorder()
        client.on("connect_error", seen.handler("connect_error"))
        with pytest.raises(ConnectError) as refused:
            await client.connect(handle.url, transports=transports)
        assert refused.value.status in (400, 403)
        if transports == ["polling"]:
            assert refused.value.message == "Forbidden"
            assert refused.value.data == {"code": 4, "message": "Forbidden"}
        [(err,)] = seen.of("connect_error")
        assert err is refused.value
    finally:
        await handle.close()


async def test_url_namespace_query_and_path(make_client: MakeClient) -> None:
    """As in the JavaScript client: the URL's path is the namespace and its query goes with
    every request; ws:// works as http://; ``path`` is where the server listens."""
    sio = turbosio.Server(path="/realtime")

    @sio.of("/room").on("whoami")
    async def whoami(socket: turbosio.Socket) -> dict[str, str | None]:
        return {"nsp": socket.namespace, "peer": socket.handshake.query.get("peer")}

    handle = await sio.serve(port=0)
    try:
        client = make_client()
        url = handle.url.replace("http", "ws") + "/room?peer=p1"
        await client.connect(url, path="/realtime/")
        assert client.namespaces == ["/room"]
        assert await client.emit_with_ack("whoami", namespace="/room") == {
            "nsp": "/room",
            "peer": "p1",
        }
        assert await client.emit_with_ack("whoami") == {"nsp": "/room", "peer": "p1"}
        await client.disconnect()
        with pytest.raises(ConnectError):
            await client.connect(handle.url, wait_timeout=5)  # /socket.io: not served here
        with pytest.raises(ValueError, match="http"):
            await client.connect("ftp://127.0.0.1/")
    finally:
        await handle.close()


def test_missing_aiohttp_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without aiohttp, creating a client says which extra to install."""
    monkeypatch.setitem(sys.modules, "aiohttp", None)
    with pytest.raises(ImportError, match=r"turbosio\[client\]"):
        AsyncClient()


async def test_disconnect_while_connecting(transports: list[str]) -> None:
    """disconnect() during connect(): the handshake in flight is abandoned, connect() raises
    ConnectError, and nothing is left open (an unclosed socket would be a warning, and
    warnings are errors here)."""
    handle = await build_server().serve(port=0)
    try:
        client = AsyncClient()
        connecting = asyncio.ensure_future(client.connect(handle.url, transports=transports))
        await asyncio.sleep(0)  # the handshake request is on its way
        await client.disconnect()
        with pytest.raises(ConnectError, match="closed while it opened"):
            await connecting
        assert not client.connected
    finally:
        await handle.close()
