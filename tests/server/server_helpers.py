"""Helpers for the server tests: the echo App, and a raw HTTP / WebSocket client on sockets."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from dataclasses import dataclass

from turbosio.engineio.io import Request, WebSocket, WebSocketRequest

#: Seconds any single read in a test may take: generous, as a hung server fails the test.
TIMEOUT = 10.0


class EchoHandler:
    """Echoes what it gets; a few text commands make it do other things."""

    def __init__(self, app: EchoApp, ws: WebSocket) -> None:
        self.app = app
        self.ws = ws
        self.messages: list[str | bytes] = []
        self.close_codes: list[int] = []

    def on_ws_message(self, data: str | bytes) -> None:
        self.messages.append(data)
        if isinstance(data, bytes):
            self.ws.send_bytes(data)
        elif data.startswith("close:"):
            self.ws.close(int(data[6:]), "bye")
        elif data.startswith("burst:"):
            for i in range(int(data[6:])):
                self.ws.send_text(f"m{i}")
        elif data == "boom":
            raise RuntimeError("handler bug")
        else:
            self.ws.send_text(data)

    def on_ws_close(self, code: int) -> None:
        self.close_codes.append(code)
        self.app.closes.put_nowait(code)


class EchoApp:
    """A tiny App: /echo describes the request as JSON, /hold holds it, /boom raises."""

    def __init__(self) -> None:
        self.max_body_size = 1024
        self.max_message_size = 1024
        self.requests: list[Request] = []
        self.held: asyncio.Queue[Request] = asyncio.Queue()
        self.disconnected: asyncio.Queue[Request] = asyncio.Queue()
        self.handlers: list[EchoHandler] = []
        self.closes: asyncio.Queue[int] = asyncio.Queue()

    def handle_request(self, request: Request) -> None:
        self.requests.append(request)
        if request.path == "/hold":
            request.on_disconnect(lambda: self.disconnected.put_nowait(request))
            self.held.put_nowait(request)
        elif request.path == "/hold-quietly":
            self.held.put_nowait(request)
        elif request.path == "/boom":
            raise RuntimeError("application bug")
        elif request.path.startswith("/echo"):
            description = {
                "method": request.method,
                "path": request.path,
                "query_string": request.query_string,
                "query": dict(request.query),
                "headers": dict(request.headers),
                "body": request.body.decode("latin-1"),
                "client": list(request.client) if request.client else None,
                "scheme": request.scheme,
            }
            request.respond(
                200, [("Content-Type", "application/json")], json.dumps(description).encode()
            )
        else:
            request.respond(404, [], b"not found")

    def handle_websocket(self, request: WebSocketRequest) -> None:
        self.requests.append(request)
        if request.path == "/reject":
            request.reject(403, [("X-Why", "test")], b"go away")
            return
        if request.path == "/ws-later":
            # Accept on a later loop iteration, as an app that checks something first would.
            asyncio.get_running_loop().call_later(0.05, self._accept, request)
            return
        self._accept(request)

    def _accept(self, request: WebSocketRequest) -> None:
        ws = request.accept(self.max_message_size)
        handler = EchoHandler(self, ws)
        self.handlers.append(handler)
        ws.set_handler(handler)


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


async def read_response(reader: asyncio.StreamReader) -> Response:
    """Read one HTTP/1.1 response with a Content-Length (or none: then an empty body)."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    body = await asyncio.wait_for(reader.readexactly(length), TIMEOUT) if length else b""
    return Response(status, headers, body)


async def read_eof(reader: asyncio.StreamReader) -> bytes:
    """Read until the server closes the connection; return what came."""
    return await asyncio.wait_for(reader.read(), TIMEOUT)


async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


def client_frame(
    opcode: int,
    payload: bytes,
    *,
    fin: bool = True,
    rsv: int = 0,
    masked: bool = True,
    mask: bytes = b"\x37\xfa\x21\x3d",
) -> bytes:
    """Build a client-to-server frame by hand, breaking whichever rule a test asks for."""
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload)
    if n < 126:
        header = bytes((first, (0x80 if masked else 0) | n))
    elif n < 65536:
        header = bytes((first, (0x80 if masked else 0) | 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((first, (0x80 if masked else 0) | 127)) + n.to_bytes(8, "big")
    if not masked:
        return header + payload
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def read_frame(reader: asyncio.StreamReader) -> tuple[bool, int, bytes]:
    """Read one server frame: ``(fin, opcode, payload)``; server frames are never masked."""
    head = await asyncio.wait_for(reader.readexactly(2), TIMEOUT)
    assert not head[1] & 0x80, "server frames must not be masked"
    n = head[1] & 0x7F
    if n == 126:
        n = int.from_bytes(await reader.readexactly(2), "big")
    elif n == 127:
        n = int.from_bytes(await reader.readexactly(8), "big")
    payload = await asyncio.wait_for(reader.readexactly(n), TIMEOUT) if n else b""
    return bool(head[0] & 0x80), head[0] & 0x0F, payload


def upgrade_request(path: str = "/ws", key: str | None = None, version: str = "13") -> bytes:
    key = key if key is not None else base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {path} HTTP/1.1",
        "Host: 127.0.0.1",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Version: {version}",
    ]
    if key:
        lines.append(f"Sec-WebSocket-Key: {key}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def ws_connect(
    port: int, path: str = "/ws", first: bytes = b""
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Open a WebSocket by hand (``first``: frames sent with the handshake) and read the 101."""
    reader, writer = await connect(port)
    writer.write(upgrade_request(path) + first)
    response = await read_response(reader)
    assert response.status == 101, response
    return reader, writer
