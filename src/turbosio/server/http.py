"""HTTP/1.1 over a plain :class:`asyncio.Protocol`, parsed by httptools.

One :class:`HttpConnection` per TCP connection. Requests are handed to the application whole
(headers and body read) and one at a time: a request that arrives while the previous response is
still pending (a long-polling GET held open, say) is buffered and handed over once that response
went out, so pipelined requests are answered in order.

Client errors (malformed HTTP, oversized headers, URL or body, a slow request, a bad WebSocket
upgrade) get one plain response after what was already owed to the client, one log line at INFO
on the ``turbosio.server`` logger, and a lingering close. They never raise into the loop.

A lingering close: the client may still be sending (the rest of an oversized body, a request
that came too slowly), and closing a socket with unread bytes makes the kernel answer with a
reset, which can destroy the response before the client reads it (or stop the client at its
next send, before it reads anything). So the response is written, our sending side is shut
down (the client sees the response end), and what still arrives is read and thrown away until
the client closes, or for at most :data:`LINGER_TIME` seconds and :data:`LINGER_BYTES` bytes;
then the connection is closed.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import sys
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Protocol, cast
from urllib.parse import unquote

import httptools

from ..engineio.decoding import decode_headers, parse_query
from ..engineio.io import Headers, Request, WebSocket, WebSocketRequest
from .connection import Connection, ServerState, _peer, logger
from .websocket import WebSocketConnection

__all__ = [
    "LINGER_BYTES",
    "LINGER_TIME",
    "MAX_HEADER_BYTES",
    "MAX_PIPELINED",
    "MAX_URL_BYTES",
    "App",
    "HttpConnection",
    "HttpRequest",
    "HttpWebSocketRequest",
]

#: Request line target longer than this: 414 and close.
MAX_URL_BYTES = 16 * 1024
#: Header names and values together longer than this: 431 and close (the default of
#: ``Limits.max_header_size``).
MAX_HEADER_BYTES = 64 * 1024
#: Requests buffered behind a pending response before the connection stops reading.
MAX_PIPELINED = 16
#: After a client error, the longest the server reads and discards what the client still
#: sends before it closes the connection (seconds; kept to within the deadline check's
#: resolution, see ``Limits``), and the most it reads (bytes).
LINGER_TIME = 2.0
LINGER_BYTES = 8 * 1024 * 1024

_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_NO_BODY_STATUSES = frozenset((204, 304))
_status_lines: dict[int, bytes] = {}
_METHODS = {m.encode(): m for m in ("GET", "POST", "OPTIONS", "HEAD", "PUT", "DELETE", "PATCH")}
# The Content-Length lines of short bodies, made once ("ok", a payload of a few packets).
_SHORT_BODY = 512
_LENGTH_LINES = [b"content-length: %d\r\n" % n for n in range(_SHORT_BODY)]
# The header map of a connection between requests (never written to).
_NO_HEADERS: dict[str, str] = {}


class App(Protocol):
    """The application the embedded server serves; it routes by path itself."""

    #: Request bodies larger than this get 413 and the connection is closed.
    max_body_size: int

    def handle_request(self, request: Request) -> None:
        """Handle one HTTP request; call ``request.respond`` now or later, exactly once."""

    def handle_websocket(self, request: WebSocketRequest) -> None:
        """Handle a valid WebSocket upgrade request: ``request.accept()`` or ``reject()``."""


def _status_line(status: int) -> bytes:
    line = _status_lines.get(status)
    if line is None:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Unknown"
        line = _status_lines[status] = f"HTTP/1.1 {status} {phrase}\r\n".encode()
    return line


# Response header lists recur (a polling response's, a CORS answer's for one origin): each
# is checked and formatted once. Bounded, as values such as cookies can vary without end.
_header_blocks: dict[tuple[tuple[str, str], ...], tuple[bytes, bool]] = {}
_MAX_HEADER_BLOCKS = 256


def _header_block(headers: Headers) -> tuple[bytes, bool]:
    """The header lines of ``headers`` (without Content-Length, Transfer-Encoding and
    Connection, which the server writes itself), and whether they ask to close."""
    lines = []
    close = False
    for name, value in headers:
        if "\n" in value or "\r" in value or "\n" in name or "\r" in name:
            raise ValueError(f"line break in response header {name!r}")
        lname = name.lower()
        if lname == "content-length" or lname == "transfer-encoding":
            continue
        if lname == "connection":
            if "close" in value.lower():
                close = True
            continue
        lines.append(f"{name}: {value}\r\n")
    # Not latin-1: UnicodeEncodeError, a ValueError, as for a line break.
    return "".join(lines).encode("latin-1"), close


def _error_response(status: int) -> bytes:
    # 413 goes out with an empty body, as Node's engine.io answers an oversized POST.
    body = b"" if status == 413 else HTTPStatus(status).phrase.encode()
    return (
        _status_line(status)
        + b"content-type: text/plain; charset=utf-8\r\nconnection: close\r\n"
        + b"content-length: %d\r\n\r\n" % len(body)
        + body
    )


def accept_key(key: str) -> str:
    """Return the Sec-WebSocket-Accept value for a Sec-WebSocket-Key (RFC 6455 4.2.2)."""
    digest = hashlib.sha1(key.encode() + _WS_GUID).digest()
    return binascii.b2a_base64(digest, newline=False).decode()


class _Abort(Exception):
    """Raised from a parser callback to stop parsing; the status is on the connection."""


class HttpRequest:
    """One HTTP request (implements :class:`turbosio.engineio.io.Request`).

    ``path`` is percent-decoded, as ASGI gives it; ``query_string`` is the raw text after ``?``.
    """

    __slots__ = (
        "_conn",
        "_done",
        "_on_disconnect",
        "body",
        "client",
        "headers",
        "keep_alive",
        "method",
        "path",
        "query",
        "query_string",
        "scheme",
    )

    def __init__(
        self,
        conn: HttpConnection,
        method: str,
        target: bytes,
        headers: dict[str, str],
        body: bytes,
        keep_alive: bool,
    ) -> None:
        self._conn: HttpConnection | None = conn
        self._done = False
        self._on_disconnect: Callable[[], None] | None = None
        self.method = method
        if target[:1] != b"/":
            # Absolute form ("GET http://host/path") or "*": keep only the path and query.
            try:
                url = httptools.parse_url(target)
                target = (url.path or b"/") + (b"?" + url.query if url.query else b"")
            except httptools.HttpParserInvalidURLError:
                pass
        raw_path, _, query_string = target.partition(b"?")
        path = raw_path.decode("latin-1")
        if "%" in path:
            path = unquote(path)
        self.path = path
        # find, not "in": bytes' "in" first tries its operand as an int, and pays for the
        # TypeError it raises and clears.
        if query_string.find(b"#") >= 0:
            query_string = query_string.partition(b"#")[0]
        qs = query_string.decode("latin-1")
        self.query_string = qs
        self.query: Mapping[str, str] = parse_query(qs)
        self.headers: Mapping[str, str] = headers
        self.body = body
        self.client = conn._client
        self.scheme = conn._state.scheme
        self.keep_alive = keep_alive

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.method} {self.path}>"

    def respond(self, status: int, headers: Headers, body: bytes) -> None:
        """Send the response (Content-Length added here); a no-op if the client went away."""
        if self._done:
            raise RuntimeError("respond() was already called for this request")
        self._done = True
        conn = self._conn
        if conn is not None:
            try:
                conn._respond(self, status, headers, body)
            except ValueError:
                self._done = False  # a bad header: nothing was sent, the app may answer again
                raise
            self._conn = None
        self._on_disconnect = None

    def on_disconnect(self, callback: Callable[[], None] | None) -> None:
        """Call ``callback`` if the client goes away before :meth:`respond` (``None`` unsets).

        If the client is already gone, ``callback`` is called before this returns.
        """
        self._on_disconnect = callback
        conn = self._conn
        if callback is not None and not self._done and conn is not None and conn._lost:
            self._on_disconnect = None
            callback()


class HttpWebSocketRequest(HttpRequest):
    """A valid WebSocket upgrade request (implements ``WebSocketRequest``)."""

    __slots__ = ("_tail",)

    def accept(self, max_message_size: int) -> WebSocket:
        """Send the 101 response and switch the connection to WebSocket framing."""
        if self._done:
            raise RuntimeError("the upgrade request was already accepted or rejected")
        self._done = True
        self._on_disconnect = None
        conn = self._conn
        self._conn = None
        assert conn is not None
        ws = WebSocketConnection(conn._state, max_message_size)
        conn._switch(self, ws)
        return ws

    def reject(self, status: int, headers: Headers, body: bytes) -> None:
        """Answer with a plain HTTP response and close the connection."""
        self.respond(status, headers, body)


class HttpConnection(Connection):
    """The protocol of one HTTP/1.1 connection (until it upgrades to WebSocket)."""

    __slots__ = (
        "_body",
        "_body_len",
        "_client",
        "_current",
        "_dispatching",
        "_error",
        "_header_budget",
        "_header_map",
        "_headers",
        "_linger",
        "_lost",
        "_parser",
        "_paused",
        "_pending",
        "_reading",
        "_stopped",
        "_tail",
        "_url",
    )

    def __init__(self, state: ServerState) -> None:
        super().__init__(state)
        self._parser: httptools.HttpRequestParser | None = httptools.HttpRequestParser(self)
        self._client: tuple[str, int] | None = None
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        # What the headers of the request being read may still take (max_header_size).
        self._header_budget = 0
        # The headers of the request being read, decoded once they are all in.
        self._header_map: dict[str, str] = _NO_HEADERS
        self._body: list[bytes] = []
        self._body_len = 0
        # Requests parsed but not yet handed over, and the one the app is answering.
        self._pending: list[HttpRequest] = []
        self._current: HttpRequest | None = None
        self._dispatching = False
        # Parsing stopped: after "Connection: close", an upgrade, an error or EOF.
        self._stopped = False
        self._paused = False
        # The status to answer with once what is owed is written (a client error).
        self._error = 0
        # Bytes that followed a WebSocket upgrade request: the first frames, if any.
        self._tail: bytes | None = None
        # The TCP connection is gone (connection_lost was called).
        self._lost = False
        # A request has begun and is not whole yet (its request_timeout deadline runs).
        self._reading = False
        # Lingering after a client error: how many more bytes are read and discarded (0: not
        # lingering).
        self._linger = 0

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Register the connection with the server."""
        # uvloop's transports implement asyncio.Transport without subclassing it.
        if TYPE_CHECKING:  # cast() is a call: only the type checker needs it
            transport = cast(asyncio.Transport, transport)
        self._transport = transport
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            self._client = (str(peer[0]), int(peer[1]))
        state = self._state
        limit = state.limits.max_connections
        if limit is not None and len(state.connections) >= limit:
            logger.warning(
                "503 to %s: refused, %d connections open (max_connections)",
                _peer(transport),
                limit,
            )
            self._stopped = True
            self._parser = None
            transport.write(_error_response(503))
            transport.close()
            return
        state.connections.add(self)
        transport.set_write_buffer_limits(high=state.high_water)
        # The first request must come whole within request_timeout (slow-loris, or a
        # connection opened and left silent).
        self._deadline = state.now + state.limits.request_timeout

    def data_received(self, data: bytes) -> None:
        """Parse ``data``; hand over the requests it completed."""
        parser = self._parser
        if self._stopped or parser is None:
            if self._tail is not None:
                self._tail += data
            elif self._linger:
                self._linger = max(0, self._linger - len(data))
                if not self._linger:
                    self._close_transport()
            return
        try:
            parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            self._upgraded(data[exc.args[0] :])
        except httptools.HttpParserError as exc:
            # After "Connection: close" the rest is ignored, not an error.
            if not self._error and not self._stopped:
                self._client_error(400, f"malformed HTTP request: {exc}")
        if len(self._pending) >= MAX_PIPELINED and not self._paused:
            self._pause()
        self._dispatch()

    def eof_received(self) -> bool | None:
        """The client closed its side: it is gone, as Node's HTTP server also takes it.

        A pending request's ``on_disconnect`` fires (a long-polling client that left). What is
        already buffered for the client is written before the transport closes.
        """
        self._stopped = True
        self._flush_now()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        """Tell the pending request's ``on_disconnect`` callback the client went away."""
        self._transport = None
        self._stopped = True
        self._lost = True
        # The parser refers back to us: break the cycle so the memory goes now, not at a GC.
        self._parser = None
        self._state.remove(self)
        self._pending.clear()
        req = self._current
        self._current = None
        if req is not None:
            callback = req._on_disconnect
            req._on_disconnect = None
            if callback is not None and not req._done:
                try:
                    callback()
                except Exception:
                    logger.exception("error in on_disconnect callback of %r", req)

    def shutdown(self) -> None:
        """Close this connection because the server is stopping."""
        self._stopped = True
        self._close_transport()

    def _expire(self) -> None:
        """A request came too slowly (408), the connection stayed idle too long, or its
        lingering close has lasted long enough."""
        if self._linger:
            self._linger = 0
            self._close_transport()
            return
        if self._current is not None or self._transport is None or self._closing:
            return
        if self._reading:
            self._reading = False
            self._client_error(
                408, f"request not received whole within {self._state.limits.request_timeout} s"
            )
            self._dispatch()
        else:
            # A keep-alive connection left idle, or one that never sent a byte: nothing to
            # answer, and nothing worth more than a debug line.
            logger.debug("closing idle connection of %s", self._client)
            self._stopped = True
            self._close_transport()

    # httptools callbacks

    def on_message_begin(self) -> None:
        state = self._state
        limits = state.limits
        self._reading = True
        self._deadline = state.now + limits.request_timeout
        self._url = b""
        self._headers = []
        self._header_budget = limits.max_header_size
        self._body = []
        self._body_len = 0

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > MAX_URL_BYTES:
            self._client_error(414, "request URL too long")
            raise _Abort

    def on_header(self, name: bytes, value: bytes) -> None:
        budget = self._header_budget = self._header_budget - len(name) - len(value) - 4
        if budget < 0:
            self._client_error(431, "request headers too large")
            raise _Abort
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        headers = self._header_map = decode_headers(self._headers)
        length = headers.get("content-length")
        # (A length that is not a number, or a repeated one, is llhttp's to refuse.)
        if length is not None and length.isdigit() and int(length) > self._state.app.max_body_size:
            self._client_error(413, "request body too large")
            raise _Abort
        expect = headers.get("expect")
        if (
            expect is not None
            and expect.lower() == "100-continue"
            and self._current is None
            and not self._pending
        ):
            # The client waits for this before sending the body (curl does, for a second).
            self._write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self._body_len += len(body)
        if self._body_len > self._state.app.max_body_size:
            self._client_error(413, "request body too large")
            raise _Abort
        self._body.append(body)

    def on_message_complete(self) -> None:
        parser = self._parser
        assert parser is not None  # it is calling us
        # Whole: no deadline while the application answers (a long-poll may be held).
        self._reading = False
        self._deadline = 0.0
        headers = self._header_map
        self._header_map = _NO_HEADERS
        raw_method = parser.get_method()
        method = _METHODS.get(raw_method) or raw_method.decode("latin-1")
        body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        keep_alive = parser.should_keep_alive()
        upgrade = headers.get("upgrade")
        if upgrade is not None and upgrade.lower() == "websocket":
            problem = _websocket_problem(method, parser.get_http_version(), headers)
            if problem:
                self._client_error(400, f"invalid WebSocket upgrade: {problem}")
                raise _Abort
            request: HttpRequest = HttpWebSocketRequest(
                self, method, self._url, headers, body, False
            )
        else:
            request = HttpRequest(self, method, self._url, headers, body, keep_alive)
        self._pending.append(request)
        if not request.keep_alive:
            # Nothing after this request is read (httptools would call it an error anyway).
            self._stopped = True

    # internals

    def _upgraded(self, tail: bytes) -> None:
        last = self._pending[-1] if self._pending else None
        if isinstance(last, HttpWebSocketRequest):
            self._stopped = True
            self._tail = tail
            self._pause()
            return
        # Another protocol (h2c, CONNECT): not ours to switch to, so it stays plain HTTP/1.1.
        self._parser = httptools.HttpRequestParser(self)
        if tail and not self._stopped:
            self.data_received(tail)

    def _pause(self) -> None:
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.pause_reading()
            self._paused = True

    def _client_error(self, status: int, message: str) -> None:
        self._stopped = True
        self._error = status
        logger.info("%s from %s: %s", status, self._client, message)

    def _linger_close(self, transport: asyncio.Transport) -> None:
        # See "a lingering close" in the module docstring.
        self._flush_now()
        if transport.can_write_eof():
            transport.write_eof()  # TLS cannot half-close: the client reads the response anyway
        self._linger = LINGER_BYTES
        self._deadline = self._state.now + LINGER_TIME
        if self._paused:
            self._paused = False
            transport.resume_reading()

    def _dispatch(self) -> None:
        if self._dispatching:
            return
        self._dispatching = True
        try:
            while self._current is None and self._transport is not None:
                if self._pending:
                    request = self._current = self._pending.pop(0)
                    # The application's turn (inline: a call less per request).
                    try:
                        if isinstance(request, HttpWebSocketRequest):
                            self._state.app.handle_websocket(request)
                        else:
                            self._state.app.handle_request(request)
                    except Exception:
                        logger.exception("error in the application handling %r", request)
                        if not request._done:
                            request.respond(500, [], b"Internal Server Error")
                    continue
                if self._error:
                    self._write(_error_response(self._error))
                    self._error = 0
                    self._linger_close(self._transport)
                else:
                    if self._paused and not self._stopped:
                        self._paused = False
                        self._transport.resume_reading()
                    if not self._reading:
                        # Idle between requests: keep_alive_timeout runs.
                        state = self._state
                        self._deadline = state.now + state.limits.keep_alive_timeout
                break
        finally:
            self._dispatching = False

    def _respond(self, request: HttpRequest, status: int, headers: Headers, body: bytes) -> None:
        if self._transport is None:
            return
        keep_alive = request.keep_alive and not self._state.closing
        key = tuple(headers)
        block = _header_blocks.get(key)
        if block is None:
            block = _header_block(headers)
            if len(_header_blocks) >= _MAX_HEADER_BLOCKS:
                _header_blocks.clear()
            _header_blocks[key] = block
        if block[1]:
            keep_alive = False
        if status in _NO_BODY_STATUSES or status < 200:
            body = tail = b""
        else:
            size = len(body)
            tail = _LENGTH_LINES[size] if size < _SHORT_BODY else b"content-length: %d\r\n" % size
            if request.method == "HEAD":
                body = b""
        if not keep_alive:
            tail += b"connection: close\r\n"
        else:
            connection = request.headers.get("connection")
            if connection is not None and connection.lower() == "keep-alive":
                # An HTTP/1.0 client asked to keep the connection; say we do.
                tail += b"connection: keep-alive\r\n"
        line = _status_lines.get(status) or _status_line(status)
        # Connection._write, inlined: one response per request is the hot path.
        self._out.append(b"".join((line, block[0], tail, b"\r\n", body)))
        if not self._dirty:
            self._dirty = True
            self._state.flusher.add(self)
        if self._current is request:
            self._current = None
        if not keep_alive:
            self._stopped = True
            self._pending.clear()
            self._close_transport()
        elif not self._dispatching:  # else the running _dispatch goes on to the next request
            self._dispatch()

    def _switch(self, request: HttpWebSocketRequest, ws: Connection) -> None:
        """Hand the transport to the WebSocket protocol ``ws`` (after the 101 response)."""
        assert isinstance(ws, WebSocketConnection)
        transport = self._transport
        if self._current is request:
            self._current = None
        if transport is None:
            ws._lost_before_start()
            return
        # Responses to earlier pipelined requests still buffered go out before the 101.
        self._flush_now()
        self._deadline = 0.0
        ws._write_paused = self._write_paused
        self._transport = None
        self._parser = None
        tail = self._tail or b""
        self._tail = None
        key = request.headers["sec-websocket-key"].strip()
        transport.set_protocol(ws)
        ws._start(
            transport,
            b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n"
            b"sec-websocket-accept: " + accept_key(key).encode() + b"\r\n\r\n",
            tail,
        )
        # Removed only now that ``ws`` is counted, so wait_closed never sees a false "empty".
        self._state.remove(self)
        if self._state.closing:
            ws.shutdown()


if sys.version_info >= (3, 11):

    def _b64decode(text: str) -> bytes:
        # base64.b64decode(validate=True) without its two Python-level calls.
        return binascii.a2b_base64(text, strict_mode=True)

else:  # pragma: no cover - binascii has no strict mode before 3.11

    def _b64decode(text: str) -> bytes:
        return base64.b64decode(text, validate=True)


def _websocket_problem(method: str, version: str, headers: Mapping[str, str]) -> str:
    if method != "GET":
        return "method is not GET"
    if version != "1.1":
        return "HTTP version is not 1.1"
    connection = headers.get("connection", "")
    if connection != "Upgrade" and "upgrade" not in [
        t.strip().lower() for t in connection.split(",")
    ]:
        return "no 'Connection: Upgrade'"
    if headers.get("sec-websocket-version", "").strip() != "13":
        return "Sec-WebSocket-Version is not 13"
    key = headers.get("sec-websocket-key", "").strip()
    try:
        if len(_b64decode(key)) != 16:
            return "Sec-WebSocket-Key is not 16 bytes in base64"
    except ValueError:
        return "Sec-WebSocket-Key is not base64"
    return ""
