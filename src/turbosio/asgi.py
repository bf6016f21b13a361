"""The ASGI front end: serve turbosio under uvicorn, hypercorn or any ASGI 3 server.

:class:`ASGIApp` carries HTTP requests and WebSocket connections from an ASGI server to the
engine over the seam in :mod:`turbosio.engineio.io`, the same seam the embedded server uses.
Requests for paths outside the engine's path go to ``other_app`` (FastAPI, Starlette, ...)
untouched, and so does the lifespan protocol.

How the ASGI model is fitted to the seam:

* ``Request.respond`` may come long after ``handle_request`` returned (a held long-poll): the
  request's coroutine waits on a future that ``respond`` resolves, and meanwhile watches
  ``receive`` for ``http.disconnect``, which fires the ``on_disconnect`` callback.
* ASGI sends need awaits and ``WebSocket.send_*`` must not block: sends append to the
  connection's buffer and wake that connection's single writer coroutine, which drains it in
  order. No task per message; one reader and one writer per connection.
* That buffer is bounded as the embedded server's is, by the application's
  ``outbound_high_water`` and ``max_outbound_buffer``: it counts the bytes queued and not yet
  taken by the ASGI server's ``send`` (which waits while its own write buffer is full, so a
  client that stops reading makes the count grow). Past the high-water mark the connection
  is not ``writable`` (volatile packets skip it); past the hard limit the queue is dropped, one
  WARNING line is logged, the engine hears of a close with 1008 ("transport error"), and the
  ASGI call ends. The ASGI server then closes the connection after writing what it holds
  already (ASGI has no way for an application to abort a connection).
* ``reject`` answers with a real HTTP response where the server offers the
  ``websocket.http.response`` extension, and with ``websocket.close`` (a 403) elsewhere.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any, Protocol

from .engineio.decoding import decode_headers, parse_query
from .engineio.io import Headers, Request, SharedMessage, WebSocketHandler, WebSocketRequest
from .server.limits import DEFAULT_HIGH_WATER, DEFAULT_MAX_OUTBOUND

__all__ = ["ASGIApp", "EngineApp"]

logger = logging.getLogger("turbosio.asgi")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGI3App = Callable[[Scope, Receive, Send], Awaitable[None]]

# A WebSocket closed before a close frame was exchanged (RFC 6455 section 7.1.5).
_ABNORMAL_CLOSURE = 1006
# What a connection dropped for not reading reports, as the embedded server's do.
_POLICY_VIOLATION = 1008
_MESSAGE_TOO_BIG = 1009
_INTERNAL_ERROR = 1011


class EngineApp(Protocol):
    """What :class:`ASGIApp` serves: the object the embedded server serves too.

    It routes by path and answers requests for paths it does not own (404) itself; ``owns``
    is asked only when there is an ``other_app`` to hand those paths to.
    """

    max_body_size: int

    def owns(self, path: str) -> bool:
        """Whether requests for ``path`` are the engine's (e.g. under ``/socket.io/``)."""

    def handle_request(self, req: Request) -> None:
        """Take an HTTP request (a :class:`turbosio.engineio.io.Request`)."""

    def handle_websocket(self, req: WebSocketRequest) -> None:
        """Take a WebSocket upgrade (a :class:`turbosio.engineio.io.WebSocketRequest`)."""


class ASGIApp:
    """An ASGI 3 application serving ``app`` (http, websocket and lifespan scopes).

    ``other_app``, when given, receives every request whose path ``app`` does not own, and
    the lifespan events; without it, lifespan startup and shutdown are answered at once and
    ``app`` answers every path itself.

    Run it with any ASGI server, e.g. ``uvicorn.run(sio.asgi(), port=5000)``; turbosio's
    :class:`~turbosio.Server` builds one with ``sio.asgi(other_app=None)``.

    A WebSocket's outbound queue is bounded by ``app.outbound_high_water`` and
    ``app.max_outbound_buffer`` (the options of :class:`~turbosio.Server`; the defaults of
    :mod:`turbosio.server.limits` when ``app`` has none), as under the embedded server.
    """

    def __init__(self, app: EngineApp, other_app: ASGI3App | None = None) -> None:
        self.app = app
        self.other_app = other_app
        self._bounds = (
            int(getattr(app, "outbound_high_water", DEFAULT_HIGH_WATER)),
            int(getattr(app, "max_outbound_buffer", DEFAULT_MAX_OUTBOUND)),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection (the ASGI 3 entry point)."""
        kind = scope["type"]
        other = self.other_app
        if kind == "http":
            if other is not None and not self.app.owns(scope["path"]):
                await other(scope, receive, send)
            else:
                await self._http(scope, receive, send)
        elif kind == "websocket":
            if other is not None and not self.app.owns(scope["path"]):
                await other(scope, receive, send)
            else:
                await self._websocket(scope, receive, send)
        elif kind == "lifespan":
            if other is not None:
                await other(scope, receive, send)
            else:
                await _lifespan(receive, send)
        elif other is not None:
            await other(scope, receive, send)
        else:
            raise ValueError(f"turbosio.ASGIApp cannot serve ASGI scope type {kind!r}")

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = _headers(scope)
        limit = self.app.max_body_size
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await _send_response(send, 413, [], b"")
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > limit:
                    await _send_response(send, 413, [], b"")
                    return
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        req = _HTTPRequest(scope, headers, body)
        try:
            self.app.handle_request(req)
        except Exception:
            logger.exception("turbosio: error while handling %s %s", req.method, req.path)
            req.respond(500, [], b"")
        if req.response is None:
            if not await req.wait_response(receive):
                return
        else:
            # Answered at once (a POST's "ok", a handshake): sent a loop turn later, closer to
            # what the other requests of this turn caused. A POST's packets often fill the held
            # GET of the same client, whose answer leaves a turn or two later: the answers then
            # come to the client together (and, where it runs on this machine, wake it once).
            await asyncio.sleep(0)
        response = req.response
        assert response is not None
        await _send_response(send, *response)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        req = _WebSocketRequest(scope, _headers(scope), self._bounds)
        try:
            self.app.handle_websocket(req)
        except Exception:
            logger.exception("turbosio: error while handling WebSocket %s", req.path)
            if req.decision is None:
                req.reject(500, [], b"")
        if req.decision is None and not await req.wait_decision(receive):
            return
        decision = req.decision
        if isinstance(decision, _ASGIWebSocket):
            await decision.run(receive, send)
            return
        assert decision is not None
        status, headers, body = decision
        if "websocket.http.response" in (scope.get("extensions") or {}):
            await send(
                {
                    "type": "websocket.http.response.start",
                    "status": status,
                    "headers": _encode_headers(headers, body),
                }
            )
            await send({"type": "websocket.http.response.body", "body": body})
        else:
            # Without the extension, closing before the accept is how ASGI refuses (403).
            await send({"type": "websocket.close", "code": 1008, "reason": ""})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _headers(scope: Scope) -> dict[str, str]:
    return decode_headers(scope.get("headers", ()))


def _encode_headers(headers: Headers, body: bytes) -> list[tuple[bytes, bytes]]:
    encoded = [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in headers
        if name.lower() != "content-length"
    ]
    encoded.append((b"content-length", str(len(body)).encode("ascii")))
    return encoded


async def _send_response(send: Send, status: int, headers: Headers, body: bytes) -> None:
    await send(
        {"type": "http.response.start", "status": status, "headers": _encode_headers(headers, body)}
    )
    await send({"type": "http.response.body", "body": body})


class _BaseRequest:
    """The request fields both scope types share (see :class:`turbosio.engineio.io.Request`)."""

    __slots__ = (
        "_disconnect_callback",
        "body",
        "client",
        "headers",
        "method",
        "path",
        "query",
        "query_string",
        "scheme",
    )

    def __init__(self, scope: Scope, headers: dict[str, str], method: str, body: bytes) -> None:
        self.method = method
        self.path: str = scope["path"]
        self.query_string = scope.get("query_string", b"").decode("latin-1")
        self.query: Mapping[str, str] = parse_query(self.query_string)
        self.headers: Mapping[str, str] = headers
        self.body = body
        client = scope.get("client")
        self.client: tuple[str, int] | None = (client[0], client[1]) if client else None
        self.scheme: str = scope.get("scheme", "http")
        self._disconnect_callback: Callable[[], None] | None = None

    def on_disconnect(self, callback: Callable[[], None] | None) -> None:
        """Call ``callback`` if the client goes away before the request is answered."""
        self._disconnect_callback = callback

    def _client_gone(self) -> None:
        callback = self._disconnect_callback
        self._disconnect_callback = None
        if callback is not None:
            try:
                callback()
            except Exception:
                logger.exception("turbosio: error in an on_disconnect callback")


async def _watch_disconnect(receive: Receive, disconnect_type: str) -> None:
    while (await receive())["type"] != disconnect_type:
        pass


async def _wait_or_disconnect(
    waiter: asyncio.Future[None], receive: Receive, disconnect_type: str
) -> bool:
    """Wait for ``waiter``; False if the client disconnected (or we were cancelled) first."""
    watcher = asyncio.ensure_future(_watch_disconnect(receive, disconnect_type))
    try:
        await asyncio.wait((waiter, watcher), return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        watcher.cancel()
        raise
    if waiter.done():
        watcher.cancel()
        return True
    return False


class _HTTPRequest(_BaseRequest):
    """An HTTP request whose answer may come later than ``handle_request`` returned."""

    __slots__ = ("_waiter", "response")

    def __init__(self, scope: Scope, headers: dict[str, str], body: bytes) -> None:
        super().__init__(scope, headers, scope["method"], body)
        self.response: tuple[int, Headers, bytes] | None = None
        self._waiter: asyncio.Future[None] | None = None

    def respond(self, status: int, headers: Headers, body: bytes) -> None:
        """Send the response (once; later calls, and calls after the client left, do nothing)."""
        if self.response is not None:
            return
        self.response = (status, headers, body)
        self._disconnect_callback = None
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait_response(self, receive: Receive) -> bool:
        """Wait for ``respond``; on a disconnect first, fire the callback and return False."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        answered = False
        try:
            answered = await _wait_or_disconnect(waiter, receive, "http.disconnect")
        finally:
            if not answered:
                # Swallow any later respond(): there is nobody left to send it to.
                self.response = self.response or (0, [], b"")
                self._client_gone()
        return answered


class _WebSocketRequest(_BaseRequest):
    """A WebSocket upgrade waiting for the engine to accept or reject it."""

    __slots__ = ("_abandoned", "_bounds", "_waiter", "decision")

    def __init__(self, scope: Scope, headers: dict[str, str], bounds: tuple[int, int]) -> None:
        super().__init__(scope, headers, "GET", b"")
        self.decision: _ASGIWebSocket | tuple[int, Headers, bytes] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._abandoned = False
        # (outbound_high_water, max_outbound_buffer) for the accepted WebSocket.
        self._bounds = bounds

    def accept(self, max_message_size: int) -> _ASGIWebSocket:
        """Complete the handshake; messages over ``max_message_size`` bytes close with 1009."""
        if self.decision is not None:
            raise RuntimeError("this WebSocket request was already accepted or rejected")
        ws = _ASGIWebSocket(max_message_size, *self._bounds, self.client)
        if self._abandoned:
            ws.abandon()
        self.decision = ws
        self._decided()
        return ws

    def reject(self, status: int, headers: Headers, body: bytes) -> None:
        """Answer with a plain HTTP response instead of upgrading."""
        if self.decision is None:
            self.decision = (status, headers, body)
            self._decided()

    def respond(self, status: int, headers: Headers, body: bytes) -> None:
        """Same as :meth:`reject`: an upgrade request answered over plain HTTP."""
        self.reject(status, headers, body)

    def _decided(self) -> None:
        self._disconnect_callback = None
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait_decision(self, receive: Receive) -> bool:
        """Wait for accept/reject; on a disconnect first, fire the callback and return False."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        decided = False
        try:
            decided = await _wait_or_disconnect(waiter, receive, "websocket.disconnect")
        finally:
            if not decided:
                self._abandoned = True
                self._client_gone()
        return decided


class _ASGIWebSocket:
    """An accepted WebSocket: sends are buffered and drained by one writer coroutine."""

    __slots__ = (
        "_client",
        "_close_code",
        "_closed",
        "_closing",
        "_dropped",
        "_handler",
        "_high_water",
        "_max_outbound",
        "_max_size",
        "_out",
        "_pending",
        "_queued",
        "_task",
        "_waiter",
    )

    def __init__(
        self,
        max_message_size: int,
        high_water: int = DEFAULT_HIGH_WATER,
        max_outbound: int = DEFAULT_MAX_OUTBOUND,
        client: tuple[str, int] | None = None,
    ) -> None:
        self._max_size = max_message_size
        # Each message with its size in bytes (0 for the accept and the close).
        self._out: deque[tuple[Message, int]] = deque([({"type": "websocket.accept"}, 0)])
        # Bytes queued and not yet taken by the ASGI server's send (the one being sent too).
        self._queued = 0
        self._high_water = high_water
        self._max_outbound = max_outbound
        self._client = client
        # Over max_outbound: the queue was dropped and the ASGI call is being ended.
        self._dropped = False
        # The task running ``run`` (the ASGI call), cancelled to drop the connection.
        self._task: asyncio.Task[Any] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._handler: WebSocketHandler | None = None
        # What arrived (or the close) before set_handler: delivered by set_handler.
        self._pending: list[str | bytes] = []
        self._closing = False  # close() was called: nothing more is queued
        self._closed = False  # on_ws_close was (or is due to be) delivered
        self._close_code: int | None = None

    # The WebSocket protocol (see turbosio.engineio.io.WebSocket).

    def set_handler(self, handler: WebSocketHandler) -> None:
        """Route incoming messages and the close to ``handler`` from now on."""
        self._handler = handler
        pending, self._pending = self._pending, []
        for data in pending:
            if self._closing:
                break
            self._deliver(handler, data)
        if self._closed and self._close_code is not None:
            code, self._close_code = self._close_code, None
            handler.on_ws_close(code)

    def send_text(self, data: str) -> None:
        """Queue one text message."""
        if not self._closing:
            # Its size in UTF-8, as the ASGI server will send it; ASCII needs no encoding.
            size = len(data) if data.isascii() else len(data.encode())
            self._out.append(({"type": "websocket.send", "text": data}, size))
            self._queued += size
            if self._queued > self._max_outbound:
                self._drop()
            else:
                self._wake()

    def send_bytes(self, data: bytes) -> None:
        """Queue one binary message."""
        if not self._closing:
            size = len(data)
            self._out.append(({"type": "websocket.send", "bytes": data}, size))
            self._queued += size
            if self._queued > self._max_outbound:
                self._drop()
            else:
                self._wake()

    def send_shared(self, message: SharedMessage) -> None:
        """Queue one shared message (ASGI frames it per connection; nothing to cache)."""
        data = message.data
        if isinstance(data, str):
            self.send_text(data)
        else:
            self.send_bytes(data)

    @property
    def writable(self) -> bool:
        """Whether a message sent now would not wait behind a backlog: open, and under
        ``outbound_high_water`` bytes queued (volatile packets are dropped otherwise)."""
        return not self._closing and self._queued <= self._high_water

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close after what is queued; ``on_ws_close(code)`` follows."""
        if not self._closing:
            self._closing = True
            self._out.append(({"type": "websocket.close", "code": code, "reason": reason}, 0))
            self._wake()
            if self._close_code is None:
                self._close_code = code

    def _drop(self) -> None:
        # Over max_outbound_buffer: the client does not read. Free the queue now and end the
        # ASGI call (its task is cancelled: it may be waiting in receive, and the writer in a
        # send that will not complete); run() then reports 1008, "transport error".
        client = self._client
        logger.warning(
            "closing the connection of %s: over %d bytes waiting to be sent (the client does "
            "not read fast enough)",
            f"{client[0]}:{client[1]}" if client else "?",
            self._max_outbound,
        )
        self._dropped = True
        self._closing = True
        self._out.clear()
        self._queued = 0
        task = self._task
        if task is not None:
            task.cancel()

    # The connection's coroutines.

    def abandon(self) -> None:
        """The client left before the accept: report the close to whoever sets a handler."""
        self._closing = True
        self._out.clear()
        self._queued = 0
        self._finish(_ABNORMAL_CLOSURE)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def run(self, receive: Receive, send: Send) -> None:
        """Serve the connection: read here, write in one writer task, until it closes."""
        if self._dropped:  # over the limit before it started: nothing to serve
            self._finish(_POLICY_VIOLATION)
            return
        task = self._task = asyncio.current_task()
        writer = asyncio.ensure_future(self._write_loop(send))
        try:
            await self._read_loop(receive)
        except asyncio.CancelledError:
            # Our own cancellation (_drop) ends the call normally; any other propagates.
            if not self._dropped or _still_cancelled(task):
                raise
        finally:
            self._task = None
            self._closing = True
            writer.cancel()
            await asyncio.wait((writer,))
            # Covers cancellation (server shutdown): the handler still hears of the close.
            self._finish(_POLICY_VIOLATION if self._dropped else _ABNORMAL_CLOSURE)

    async def _write_loop(self, send: Send) -> None:
        out = self._out
        loop = asyncio.get_running_loop()
        try:
            while True:
                while out:
                    message, size = out.popleft()
                    await send(message)
                    self._queued -= size
                    if message["type"] == "websocket.close":
                        return
                self._waiter = loop.create_future()
                await self._waiter
                self._waiter = None
        except asyncio.CancelledError:
            raise
        except Exception:
            # The peer is gone (servers raise on a send after the disconnect): the reader
            # gets websocket.disconnect and reports the close.
            self._closing = True
            out.clear()
            self._queued = 0

    async def _read_loop(self, receive: Receive) -> None:
        max_size = self._max_size
        while True:
            message = await receive()
            kind = message["type"]
            if kind == "websocket.receive":
                if self._closing:
                    continue  # past our close frame: only the peer's close matters now
                text = message.get("text")
                data: str | bytes = text if text is not None else message.get("bytes") or b""
                size = len(data)
                # A str has at most 4 UTF-8 bytes per code point: encode only when in doubt.
                if (
                    isinstance(data, str)
                    and size <= max_size < size * 4
                    and len(data.encode("utf-8")) > max_size
                ):
                    size = max_size + 1
                if size > max_size:
                    self.close(_MESSAGE_TOO_BIG, "message too big")
                    continue
                handler = self._handler
                if handler is None:
                    self._pending.append(data)
                else:
                    self._deliver(handler, data)
            elif kind == "websocket.disconnect":
                self._finish(message.get("code", 1005))
                return

    def _deliver(self, handler: WebSocketHandler, data: str | bytes) -> None:
        try:
            handler.on_ws_message(data)
        except Exception:
            logger.exception("turbosio: error while handling a WebSocket message")
            self.close(_INTERNAL_ERROR, "internal error")

    def _finish(self, code: int) -> None:
        """Deliver ``on_ws_close`` exactly once: our close code if we closed first."""
        if self._closed:
            return
        self._closed = True
        self._closing = True
        if self._close_code is None:
            self._close_code = code
        handler = self._handler
        if handler is not None:
            code, self._close_code = self._close_code, None
            try:
                handler.on_ws_close(code)
            except Exception:
                logger.exception("turbosio: error in on_ws_close")


def _still_cancelled(task: asyncio.Task[Any] | None) -> bool:
    """Take back one cancellation of ``task``; whether others are still pending (3.11+)."""
    uncancel = getattr(task, "uncancel", None)
    return uncancel is not None and uncancel() > 0
