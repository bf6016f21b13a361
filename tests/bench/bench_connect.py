"""Micro-benchmark of a whole WebSocket connection's Python path on the embedded server.

One iteration is what the "connect over websocket" row costs the server outside the kernel
and the event loop: the HTTP upgrade request parsed and answered (101 and the open packet),
the client's ``40`` answered with the socket id, and the connection lost. A transport that
keeps what is written stands in for uvloop's (no system calls), so a change to the connect
path shows here in microseconds, beside the instruction counts of docs/performance.md.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import turbosio
from turbosio.server.connection import Flusher, ServerState
from turbosio.server.http import HttpConnection

UPGRADE = (
    b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
    b"Host: 127.0.0.1:5000\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"\r\n"
)


def _masked(text: str) -> bytes:
    """A client's text frame: masked, as RFC 6455 requires of clients."""
    payload = text.encode()
    mask = b"\x01\x02\x03\x04"
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes((0x81, 0x80 | len(payload))) + mask + body


CONNECT = _masked("40")


class _Transport:
    """What uvloop's TCP transport offers the server's protocols, keeping the writes."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.protocol: Any = None
        self.closing = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 50000) if name == "peername" else default

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0

    def set_protocol(self, protocol: Any) -> None:
        self.protocol = protocol

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = True


def test_websocket_connection(benchmark: Any) -> None:
    """Upgrade, open packet, ``40`` and its answer, connection lost."""
    sio = turbosio.Server(ping_interval=25, ping_timeout=20)
    loop = asyncio.new_event_loop()

    async def main() -> None:
        sio._bind_loop()
        state = ServerState(sio, Flusher(loop), "http")
        flush = state.flusher._run

        def one() -> _Transport:
            conn = HttpConnection(state)
            transport = _Transport()
            conn.connection_made(transport)
            conn.data_received(UPGRADE)
            flush()
            ws = transport.protocol
            ws.data_received(CONNECT)
            flush()
            ws.connection_lost(None)
            return transport

        transport = benchmark(one)
        head, reply = transport.written
        assert head.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
        assert b"\r\n\r\n\x81" in head  # the open packet in the same write as the 101
        assert reply[:1] == b"\x81" and reply[2:12] == b'40{"sid":"'
        assert not sio.engine.sessions and not sio.of("/").sockets
        assert len(sio._joins) == 0

    try:
        loop.run_until_complete(main())
    finally:
        loop.close()


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__, "-p", "no:cacheprovider", "-o", "python_files=bench_*.py"])
