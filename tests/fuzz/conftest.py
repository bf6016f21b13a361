"""The fuzzing target: a turbosio.Server on the embedded server, in a thread of its own with its
own event loop (uvloop where installed), so hypothesis drives it from plain blocking sockets.

Every record turbosio logs at ERROR or above while a test runs is kept: the fuzz tests require
there be none (a client's garbage is answered, refused or closed with one INFO line at most,
never a traceback), and after each example the server must still answer a normal handshake.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import turbosio
from turbosio.server import Limits

#: Seconds the server may take to answer or close before the example counts as a hang.
HANG = 5.0


class FuzzServer:
    """The server thread and what it logged."""

    def __init__(self) -> None:
        self.port = 0
        self.errors: list[logging.LogRecord] = []
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="fuzz-server", daemon=True)

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the fuzz server did not start")

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(15)

    def _run(self) -> None:
        try:
            import uvloop

            uvloop.run(self._main())
        except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
            asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        sio = build_server()
        handle = await sio.serve("127.0.0.1", 0, limits=Limits(request_timeout=3))
        self.port = handle.port
        self._ready.set()
        await self._stop.wait()
        await handle.close(timeout=2)


def build_server() -> turbosio.Server:
    """A server with a bit of everything a packet can reach: acks, binary, namespaces,
    a refusing middleware, a catch-all."""
    sio = turbosio.Server(
        cors_allowed_origins=["http://allowed.example"],
        ping_interval=0.5,
        ping_timeout=0.5,
        max_http_buffer_size=64 * 1024,
        connect_timeout=2,
    )

    @sio.on("echo")
    async def echo(socket: turbosio.Socket, *args: Any) -> tuple[Any, ...]:
        return args

    @sio.on("join")
    async def join(socket: turbosio.Socket, room: Any) -> None:
        if isinstance(room, str):
            socket.join(room)
            socket.to(room).emit("joined", socket.id)

    admin = sio.of("/admin")

    @admin.use
    async def refuse_most(socket: turbosio.Socket, auth: Any) -> None:
        if not (isinstance(auth, dict) and auth.get("token") == "ok"):
            raise turbosio.ConnectionRefused("not allowed")

    @admin.on("*")
    async def anything(socket: turbosio.Socket, event: Any, *args: Any) -> None:
        socket.emit("seen", event)

    return sio


class _Collect(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__(logging.ERROR)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="session")
def fuzz_server() -> Iterator[FuzzServer]:
    server = FuzzServer()
    handler = _Collect(server.errors)
    logger = logging.getLogger("turbosio")
    logger.addHandler(handler)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        logger.removeHandler(handler)


def exchange(port: int, data: bytes, *, half_close: bool = True) -> bytes:
    """Send ``data`` on a new connection (then half-close it) and read until the server closes.

    Raises AssertionError if the server neither closes nor stops talking within HANG seconds.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=HANG) as sock:
        try:
            sock.sendall(data)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except OSError:
            return b""  # the server closed first (a refused request): fine
        received = bytearray()
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                raise AssertionError(
                    f"hang: no close within {HANG} s after {data[:80]!r}"
                ) from None
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
            if len(received) > 4 * 1024 * 1024:
                raise AssertionError("the server keeps sending")
        return bytes(received)


def healthy(server: FuzzServer) -> None:
    """The server still answers a handshake, and logged no error."""
    reply = exchange(
        server.port, b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    assert reply.startswith(b"HTTP/1.1 200 "), reply[:200]
    assert b'0{"sid":' in reply
    assert not server.errors, [r.getMessage() for r in server.errors]
