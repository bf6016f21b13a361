"""A bare Socket.IO-over-WebSocket server, only to calibrate the load generator.

It speaks just enough of the protocol for the load generator's scenarios (the 101, the open
packet, ``40``, the four benchmark events; over polling, the handshake, POSTs of ``40`` and
``echo``, held GETs, and the upgrade's probe) and does nothing else: no heartbeat, no JSON
parsing, no checks, one write per connection per loop turn, a broadcast framed once.
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
_OPEN_POLLING = (
    b'0{"sid":"%d","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,'
    b'"maxPayload":1000000}'
)
_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Length: %d\r\n\r\n"


def _frame(payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return bytes((0x81, 126)) + n.to_bytes(2, "big") + payload
    return bytes((0x81, 127)) + n.to_bytes(8, "big") + payload


_dirty: list[Conn] = []
_rooms: dict[bytes, list[Conn]] = {}
#: Polling sessions by sid: the packets waiting for a GET, and the GET held (its connection).
_sessions: dict[bytes, tuple[list[bytes], list[Conn]]] = {}
_next_sid = 0


def _reply(p: bytes) -> bytes | None:
    """The answer to an echo, req or CONNECT packet (as Engine.IO message text), if any."""
    if p == b"40":
        return b'40{"sid":"bare"}'
    if p[:2] != b"42":
        return None
    i = 2
    while 48 <= p[i] <= 57:
        i += 1
    rest = p[i:]
    if rest[:8] == b'["echo",':
        return b"43" + p[2:i] + b"[" + rest[8:]
    if rest[:7] == b'["req",':
        return b'42["res",' + rest[7:]
    return None


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
        #: The polling session this WebSocket is upgrading, until its "5".
        self.sid = b""

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
        while self.http:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buf = buf
                return
            key = b""
            length = 0
            for line in buf[:end].split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.lower()
                if name == b"sec-websocket-key":
                    key = value.strip()
                elif name == b"content-length":
                    length = int(value)
            if len(buf) < end + 4 + length:
                self.buf = buf
                return
            target = buf[: buf.find(b" HTTP/")]
            body = buf[end + 4 : end + 4 + length]
            buf = buf[end + 4 + length :]
            sid = target.partition(b"&sid=")[2].partition(b"&")[0]
            if key:
                accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
                self.write(
                    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                    b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
                )
                if sid:
                    self.sid = sid  # an upgrade: the probe comes next
                else:
                    self.write(_frame(_OPEN))
                self.http = False
            else:
                self.polling(target[:4] == b"POST", sid, body)
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

    def respond(self, body: bytes) -> None:
        self.write(_HEAD % len(body) + body)

    def polling(self, post: bool, sid: bytes, body: bytes) -> None:
        """One polling request: a handshake, a POST of packets, or a GET (held if need be)."""
        global _next_sid
        if not sid:
            _next_sid += 1
            _sessions[b"%d" % _next_sid] = ([], [])
            self.respond(_OPEN_POLLING % _next_sid)
            return
        queue, held = _sessions[sid]
        if post:
            for packet in body.split(b"\x1e"):
                reply = _reply(packet)
                if reply is not None:
                    queue.append(reply)
            self.respond(b"ok")
            if queue and held:
                held.pop().respond(b"\x1e".join(queue))
                queue.clear()
        elif queue:
            self.respond(b"\x1e".join(queue))
            queue.clear()
        else:
            held.append(self)

    def handle(self, p: bytes) -> None:
        if self.sid:
            # The upgrade of a polling session: answer the probe and end the held GET.
            if p == b"2probe":
                self.write(_frame(b"3probe"))
                held = _sessions.get(self.sid, ((), []))[1]
                if held:
                    held.pop().respond(b"6")
            elif p == b"5":
                _sessions.pop(self.sid, None)
                self.sid = b""
            return
        reply = _reply(p)
        if reply is not None:
            self.write(_frame(reply))
            return
        if p[:2] != b"42":
            return
        i = 2
        while 48 <= p[i] <= 57:
            i += 1
        ack = p[2:i]
        rest = p[i:]
        if rest[:9] == b'["bcast",':
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
