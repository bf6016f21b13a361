"""A small wire-level Socket.IO client for the demo's protocol tests (one namespace each).

It speaks Engine.IO v4 over a WebSocket and Socket.IO v5 text packets, so what the tests see
is exactly what a browser running the pages receives. The browser itself is exercised in
test_browser.py.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

TIMEOUT = 10


class WireClient:
    """One connection to one namespace of the demo site."""

    def __init__(self, http: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.http = http
        self.ws = ws
        self.nsp = "/"
        self.ack_id = 0
        #: Events received and not yet taken by :meth:`event`, in order.
        self.inbox: list[tuple[str, list[Any]]] = []
        self.acks: dict[int, list[Any]] = {}

    @classmethod
    async def connect(cls, url: str, nsp: str, auth: Any = None) -> WireClient:
        """Open a session and join ``nsp``; raises ``ConnectionRefusedError`` on CONNECT_ERROR."""
        http = aiohttp.ClientSession()
        ws = await http.ws_connect(
            url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        )
        client = cls(http, ws)
        assert (await client._packet()).startswith("0{")
        client.nsp = nsp
        await ws.send_str(f"40{nsp}," + (json.dumps(auth) if auth is not None else ""))
        reply = await client._packet()
        if reply.startswith(f"44{nsp},"):
            await client.close()
            raise ConnectionRefusedError(json.loads(reply[len(nsp) + 3 :])["message"])
        assert reply.startswith(f"40{nsp},"), reply
        return client

    async def _packet(self) -> str:
        while True:
            packet = await self.ws.receive_str(timeout=TIMEOUT)
            if packet == "2":
                await self.ws.send_str("3")
                continue
            return packet

    async def _pump(self) -> None:
        """Read one Socket.IO packet of our namespace into the inbox or the acks."""
        packet = await self._packet()  # '42/chat,["event",...]' or '43/chat,7[...]'
        kind = packet[1]
        assert packet[2:].startswith(self.nsp + ","), packet
        body = packet[3 + len(self.nsp) :]
        digits = ""
        while body and body[0].isdigit():
            digits, body = digits + body[0], body[1:]
        data = json.loads(body)
        if kind == "2":
            self.inbox.append((data[0], data[1:]))
        elif kind == "3":
            self.acks[int(digits)] = data

    async def emit(self, event: str, *args: Any) -> None:
        """Send an event without asking for an acknowledgement."""
        await self.ws.send_str(f"42{self.nsp}," + json.dumps([event, *args]))

    async def call(self, event: str, *args: Any) -> Any:
        """Send an event asking for an acknowledgement; returns its first value."""
        self.ack_id += 1
        ack_id = self.ack_id
        await self.ws.send_str(f"42{self.nsp},{ack_id}" + json.dumps([event, *args]))
        while ack_id not in self.acks:
            await self._pump()
        values = self.acks.pop(ack_id)
        return values[0] if values else None

    async def event(self, name: str) -> list[Any]:
        """The arguments of the next ``name`` event (earlier events of other names stay)."""
        while True:
            for index, (event, args) in enumerate(self.inbox):
                if event == name:
                    del self.inbox[index]
                    return args
            await self._pump()

    async def nothing_more(self, name: str, wait: float = 0.3) -> bool:
        """True when no ``name`` event arrives within ``wait`` seconds."""
        try:
            await asyncio.wait_for(self.event(name), wait)
        except asyncio.TimeoutError:
            return True
        return False

    async def close(self) -> None:
        await self.ws.close()
        await self.http.close()
