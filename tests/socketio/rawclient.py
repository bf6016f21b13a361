"""A wire-level Socket.IO client for the server's own tests: it sends and reads raw packets.

It is our own protocol code under test from the other side, not a stand-in for a real peer:
the official JavaScript client is exercised in tests/interop.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import orjson


class RawClient:
    """One WebSocket connection speaking Engine.IO v4 packets."""

    def __init__(self, session: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.session = session
        self.ws = ws
        self.handshake: dict[str, Any] = {}

    @classmethod
    async def open(cls, url: str, path: str = "/socket.io/", query: str = "") -> RawClient:
        session = aiohttp.ClientSession()
        ws_url = url.replace("http", "ws", 1) + f"{path}?EIO=4&transport=websocket{query}"
        ws = await session.ws_connect(ws_url, autoping=False)
        client = cls(session, ws)
        first = await client.recv()
        assert isinstance(first, str) and first.startswith("0")
        client.handshake = orjson.loads(first[1:])
        return client

    async def recv(self, timeout: float = 5) -> str | bytes:
        """The next message, answering pings on the way."""
        while True:
            msg = await asyncio.wait_for(self.ws.receive(), timeout)
            if msg.type == aiohttp.WSMsgType.TEXT:
                if msg.data == "2":
                    await self.ws.send_str("3")
                    continue
                return str(msg.data)
            if msg.type == aiohttp.WSMsgType.BINARY:
                return bytes(msg.data)
            raise ConnectionError(f"websocket closed: {msg.type} {msg.data}")

    async def send(self, data: str | bytes) -> None:
        if isinstance(data, bytes):
            await self.ws.send_bytes(data)
        else:
            await self.ws.send_str(data)

    async def connect(self, nsp: str = "/", auth: Any = None) -> str:
        """Join ``nsp``; returns the CONNECT reply (or CONNECT_ERROR) packet."""
        prefix = "40" if nsp == "/" else f"40{nsp},"
        await self.send(prefix + (orjson.dumps(auth).decode() if auth is not None else ""))
        return str(await self.recv())

    async def closed(self, timeout: float = 5) -> bool:
        """Wait until the server closes the connection; True if it did."""
        try:
            while True:
                msg = await asyncio.wait_for(self.ws.receive(), timeout)
                if msg.type in (
                    aiohttp.WSMsgType.CLOSE,
                    aiohttp.WSMsgType.CLOSED,
                    aiohttp.WSMsgType.CLOSING,
                    aiohttp.WSMsgType.ERROR,
                ):
                    return True
        except asyncio.TimeoutError:
            return False

    async def close(self) -> None:
        await self.ws.close()
        await self.session.close()


def event(text: str) -> list[Any]:
    """The data of an EVENT packet in the main namespace ('42[...]')."""
    assert text.startswith("42"), text
    return list(orjson.loads(text[2:]))
