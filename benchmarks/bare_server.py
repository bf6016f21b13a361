"""A bare Socket.IO-over-WebSocket server, only to calibrate the load generator.

It speaks just enough of the protocol for the load generator's WebSocket scenarios (the 101,
the open packet, ``40``, the four benchmark events) and does nothing else: no sessions, no
heartbeat, no JSON parsing, one write per connection per loop turn, a broadcast framed once.
What the load generator measures against it is the generator's own ceiling (or this server's,
whichever is lower: the load generator's CPU share, printed beside it, says which).

Usage: python bare_server.py PORT
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import sys

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_OPEN = (
    b'0{"sid":"bare","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}'
)


def _frame(payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return bytes((0x81, 126)) + n.to_bytes(2, "big") + payload
    return bytes((0x81, 127)) + n.to_bytes(8, "big") + payload


_dirty: list[Conn] = []
_rooms: dict[bytes, list[Conn]] = {}


def _flush() -> None:
    global _dirty
    dirty, _dirty = _dirty, []
    for conn in dirty:
        conn.dirty = False
        if conn.transport is not None:
            out = conn.out
            conn.transport.write(out[0] if len(out) == 1 else b"".join(out))
        conn.out = []


class Conn(asyncio.Protocol):
    """One client connection."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.http = True
        self.out: list[bytes] = []
        self.dirty = False
        self.loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def write(self, data: bytes) -> None:
        self.out.append(data)
        if not self.dirty:
            self.dirty = True
            if not _dirty:
                self.loop.call_soon(_flush)
            _dirty.append(self)

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        if self.http:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buf = buf
                return
            key = b""
            for line in buf[:end].split(b"\r\n"):
                if line[:18].lower() == b"sec-websocket-key:":
                    key = line[18:].strip()
            accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
            self.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            )
            self.write(_frame(_OPEN))
            self.http = False
            buf = buf[end + 4 :]
        pos = 0
        end = len(buf)
        while end - pos >= 6:
            length = buf[pos + 1] & 0x7F
            if length < 126:
                start = pos + 6
            elif length == 126:
                if end - pos < 8:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                start = pos + 8
            else:
                if end - pos < 14:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                start = pos + 14
            stop = start + length
            if stop > end:
                break
            opcode = buf[pos] & 0x0F
            mask = buf[start - 4 : start]
            payload = (
                int.from_bytes(buf[start:stop], "little")
                ^ int.from_bytes((mask * ((length + 3) >> 2))[:length], "little")
            ).to_bytes(length, "little")
            pos = stop
            if opcode == 8:
                if self.transport is not None:
                    self.transport.close()
                return
            self.handle(payload)
        self.buf = buf[pos:]

    def handle(self, p: bytes) -> None:
        if p[:2] != b"42":
            if p == b"40":
                self.write(_frame(b'40{"sid":"bare"}'))
            return
        i = 2
        while 48 <= p[i] <= 57:
            i += 1
        ack = p[2:i]
        rest = p[i:]
        if rest[:8] == b'["echo",':
            self.write(_frame(b"43" + ack + b"[" + rest[8:]))
        elif rest[:7] == b'["req",':
            self.write(_frame(b'42["res",' + rest[7:]))
        elif rest[:9] == b'["bcast",':
            room, _, data = rest[9:].partition(b",")
            message = _frame(b'42["msg",' + data)
            for member in _rooms.get(room, ()):
                member.write(message)
            self.write(_frame(b"43" + ack + b'["ok"]'))
        elif rest[:8] == b'["join",':
            _rooms.setdefault(rest[8:-1], []).append(self)
            self.write(_frame(b"43" + ack + b'["ok"]'))


async def main(port: int) -> None:
    """Serve until killed."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Conn, "127.0.0.1", port, backlog=4096)
    await server.serve_forever()


if __name__ == "__main__":
    import uvloop

    uvloop.run(main(int(sys.argv[1])))
