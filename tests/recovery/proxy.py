"""A TCP proxy for tests that must break connections the way a network does.

``cut()`` drops every connection through it at once, with no Engine.IO or Socket.IO goodbye,
and refuses new ones until ``restore()``: what a client on a train sees in a tunnel.
"""

from __future__ import annotations

import asyncio
import contextlib


class _Pipe(asyncio.Protocol):
    def __init__(self, proxy: CuttingProxy) -> None:
        self.proxy = proxy
        self.transport: asyncio.Transport | None = None
        self.peer: _Pipe | None = None
        self.pending: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.proxy._pipes.add(self)

    def data_received(self, data: bytes) -> None:
        peer = self.peer
        if peer is not None and peer.transport is not None:
            peer.transport.write(data)
        else:
            self.pending.append(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.proxy._pipes.discard(self)
        peer = self.peer
        if peer is not None and peer.transport is not None:
            peer.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class CuttingProxy:
    """Listens on 127.0.0.1 (a free port) and forwards to ``target_port``."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.cut_off = False
        self._pipes: set[_Pipe] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> CuttingProxy:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def _accept(self) -> _Pipe:
        client = _Pipe(self)
        asyncio.get_running_loop().create_task(self._connect(client))
        return client

    async def _connect(self, client: _Pipe) -> None:
        await asyncio.sleep(0)
        if self.cut_off:
            client.abort()
            return
        loop = asyncio.get_running_loop()
        try:
            _, upstream = await loop.create_connection(
                lambda: _Pipe(self), "127.0.0.1", self.target_port
            )
        except OSError:
            client.abort()
            return
        upstream.peer = client
        client.peer = upstream
        for chunk in client.pending:
            assert upstream.transport is not None
            upstream.transport.write(chunk)
        client.pending.clear()

    def cut(self) -> None:
        """Drop every connection now and refuse new ones."""
        self.cut_off = True
        for pipe in list(self._pipes):
            pipe.abort()

    def restore(self) -> None:
        """Accept connections again."""
        self.cut_off = False

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
