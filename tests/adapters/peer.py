"""A small Socket.IO client at the wire level, for the cluster tests (WebSocket only).

It connects to a server (turbosio or Node's), joins one namespace, queues the events it
receives and acknowledges those that ask for it with ``["ack", event, *args]`` (or what
``reply`` returns). It is test tooling on top of our own codec, not a stand-in for a peer under
test: what is under test is the servers' adapters.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson

from turbosio.protocol import Packet, PacketType, json_parser

Reply = Callable[[str, list[Any]], list[Any] | None]


def _default_reply(event: str, args: list[Any]) -> list[Any] | None:
    return ["ack", event, *args]


class Peer:
    """One client connected to one namespace of one server."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, session: aiohttp.ClientSession):
        self.ws = ws
        self.session = session
        self.sid = ""
        self.events: asyncio.Queue[tuple[str, list[Any]]] = asyncio.Queue()
        self.nsp = "/"
        self.reply: Reply | None = _default_reply
        self.closed = asyncio.Event()
        self._decoder = json_parser.decoder()
        self._connected: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def connect(
        cls, url: str, auth: Any = None, nsp: str = "/", reply: Reply | None = _default_reply
    ) -> Peer:
        session = aiohttp.ClientSession()
        ws_url = url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"
        ws = await session.ws_connect(ws_url, autoping=False)
        peer = cls(ws, session)
        peer.nsp = nsp
        peer.reply = reply
        first = await ws.receive(timeout=10)
        assert str(first.data).startswith("0"), first
        peer._task = asyncio.get_running_loop().create_task(peer._read())
        prefix = "40" if nsp == "/" else f"40{nsp},"
        await ws.send_str(prefix + (orjson.dumps(auth).decode() if auth is not None else ""))
        peer.sid = await asyncio.wait_for(peer._connected, 10)
        return peer

    async def _read(self) -> None:
        try:
            async for msg in self.ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    text = str(msg.data)
                    if text == "2":
                        await self.ws.send_str("3")
                        continue
                    if not text.startswith("4"):
                        continue
                    packet = self._decoder.feed(text[1:])
                elif msg.type == aiohttp.WSMsgType.BINARY:
                    packet = self._decoder.feed(bytes(msg.data))
                else:
                    break
                if packet is not None:
                    await self._on_packet(packet)
        finally:
            self.closed.set()
            if not self._connected.done():
                self._connected.set_exception(ConnectionError("closed before connecting"))

    async def _on_packet(self, packet: Packet) -> None:
        kind = packet.type
        if kind == PacketType.CONNECT:
            self._connected.set_result(packet.data["sid"])
        elif kind == PacketType.CONNECT_ERROR:
            self._connected.set_exception(ConnectionError(str(packet.data)))
        elif kind == PacketType.DISCONNECT:
            self.events.put_nowait(("<disconnect>", []))
        elif kind in (PacketType.EVENT, PacketType.BINARY_EVENT):
            event, args = packet.data[0], list(packet.data[1:])
            self.events.put_nowait((event, args))
            if packet.id is not None and self.reply is not None:
                answer = self.reply(event, args)
                if answer is not None:
                    out = Packet(PacketType.ACK, self.nsp, answer, packet.id)
                    for item in json_parser.encode(out):
                        if isinstance(item, str):
                            await self.ws.send_str("4" + item)
                        else:
                            await self.ws.send_bytes(item)

    async def next(self, timeout: float = 10) -> tuple[str, list[Any]]:
        """The next event received: ``(event, args)``."""
        return await asyncio.wait_for(self.events.get(), timeout)

    async def until(self, marker: str, timeout: float = 10) -> list[tuple[str, list[Any]]]:
        """Every event received before the event named ``marker`` (which is consumed)."""
        seen: list[tuple[str, list[Any]]] = []
        while True:
            event = await self.next(timeout)
            if event[0] == marker:
                return seen
            seen.append(event)

    async def emit(self, event: str, *args: Any) -> None:
        """Send an event to the server."""
        for item in json_parser.encode(Packet(PacketType.EVENT, self.nsp, [event, *args])):
            if isinstance(item, str):
                await self.ws.send_str("4" + item)
            else:
                await self.ws.send_bytes(item)

    async def close(self) -> None:
        await self.ws.close()
        if self._task is not None:
            await self._task
        await self.session.close()
