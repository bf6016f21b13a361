"""The WebSocket side of a connection, after the 101 (implements ``engineio.io.WebSocket``).

The transport is handed from :class:`~turbosio.server.http.HttpConnection` to a
:class:`WebSocketConnection` with ``transport.set_protocol``, so an upgraded connection carries
no HTTP state. Frames are parsed by :class:`~turbosio.server.frames.FrameParser`; every message
and control frame one read delivers is handled in that read, and every frame it causes (pongs,
the engine's replies) goes out with the connection's next flush: one ``write``.

Closing (RFC 6455 section 7):

* the peer closes: we echo its code (an empty close frame if it sent none), close the TCP
  connection after the echo, and report the peer's code;
* we close (:meth:`WebSocketConnection.close`): the close frame follows what is queued; the
  peer's close frame completes the handshake, or after :data:`CLOSE_TIMEOUT` seconds the TCP
  connection is dropped (one ``call_later`` per closing connection) and 1006 is reported;
* the peer breaks the protocol: we send the close code the parser chose (1002, 1007, 1009),
  drop the TCP connection after it and report that code;
* the TCP connection is lost without a close frame: 1006;
* the client does not read and more than ``max_outbound_buffer`` bytes wait for it: the TCP
  connection is dropped at once (one WARNING line) and 1008 (policy violation) is reported,
  which the engine takes as a "transport error".

``on_ws_close`` is called exactly once, whichever comes first.
"""

from __future__ import annotations

import asyncio

from ..engineio.io import SharedMessage, WebSocketHandler
from .connection import Connection, ServerState, logger
from .frames import (
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    FrameError,
    FrameParser,
    binary_frame,
    close_frame,
    parse_close,
    pong_frame,
    text_frame,
)

__all__ = ["CLOSE_TIMEOUT", "WebSocketConnection"]

#: Seconds to wait for the peer's close frame after ours before dropping the connection.
CLOSE_TIMEOUT = 3.0

_OPEN = 0
_CLOSING = 1  # our close frame is queued or sent; waiting for the peer's
_CLOSED = 2  # on_ws_close was called (or is owed to a handler not yet set)

# Two-byte frame headers for payloads under 126 bytes, the common case, built once.
_TEXT_HEADERS = [bytes((0x81, n)) for n in range(126)]
_BINARY_HEADERS = [bytes((0x82, n)) for n in range(126)]


class WebSocketConnection(Connection):
    """One accepted WebSocket connection, server side."""

    __slots__ = ("_close_timer", "_early", "_handler", "_lost_code", "_parser", "_ws_state")

    def __init__(self, state: ServerState, max_message_size: int) -> None:
        super().__init__(state)
        self._parser = FrameParser(max_message_size)
        self._handler: WebSocketHandler | None = None
        self._ws_state = _OPEN
        self._close_timer: asyncio.TimerHandle | None = None
        # What arrived before set_handler: messages, then the close code (0: not closed).
        self._early: list[str | bytes] | None = None
        self._lost_code = 0

    def __repr__(self) -> str:
        return f"<WebSocketConnection {self._client_repr()}>"

    def _client_repr(self) -> str:
        transport = self._transport
        return str(transport.get_extra_info("peername")) if transport is not None else "closed"

    # Called by HttpConnection when the handshake is accepted.

    def _start(self, transport: asyncio.Transport, handshake: bytes, tail: bytes) -> None:
        self._transport = transport
        self._state.connections.add(self)
        self._write(handshake)
        if tail:
            self.data_received(tail)
        if not transport.is_closing():
            transport.resume_reading()

    def _lost_before_start(self) -> None:
        self._ws_state = _CLOSED
        self._lost_code = 1006

    # engineio.io.WebSocket

    def set_handler(self, handler: WebSocketHandler) -> None:
        """Route incoming messages and the close to ``handler`` from now on."""
        self._handler = handler
        early = self._early
        if early:
            self._early = None
            for message in early:
                self._deliver(handler, message)
        if self._lost_code:
            code = self._lost_code
            self._lost_code = 0
            self._notify_handler(handler, code)

    def send_text(self, data: str) -> None:
        """Queue one text message (dropped once the connection is closing)."""
        if self._ws_state:
            return
        payload = data.encode()
        n = len(payload)
        # Connection._write, inlined: one call less for every message sent.
        self._out.append(_TEXT_HEADERS[n] + payload if n < 126 else text_frame(data))
        if not self._dirty:
            self._dirty = True
            self._state.flusher.add(self)

    def send_bytes(self, data: bytes) -> None:
        """Queue one binary message (dropped once the connection is closing)."""
        if self._ws_state:
            return
        n = len(data)
        self._write(_BINARY_HEADERS[n] + data if n < 126 else binary_frame(data))

    def send_shared(self, message: SharedMessage) -> None:
        """Queue a shared message, framing it on first use so a broadcast is framed once."""
        if self._ws_state:
            return
        frame = message.frame
        if frame is None:
            data = message.data
            frame = message.frame = (
                text_frame(data) if isinstance(data, str) else binary_frame(data)
            )
        self._write(frame)

    @property
    def writable(self) -> bool:
        """Whether a message sent now would not wait behind a backlog: the connection is open
        and its outbound buffer under ``outbound_high_water`` (volatile packets are dropped
        otherwise)."""
        return self._ws_state == _OPEN and not self._write_paused

    def _overflow(self, transport: asyncio.Transport) -> None:
        super()._overflow(transport)
        if self._ws_state != _CLOSED:
            self._closed(1008)

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Send a close frame after what is queued; ``on_ws_close`` follows."""
        if self._ws_state != _OPEN:
            return
        self._ws_state = _CLOSING
        self._write(close_frame(code, reason))
        transport = self._transport
        if transport is not None:
            self._close_timer = asyncio.get_running_loop().call_later(
                CLOSE_TIMEOUT, self._close_timed_out
            )

    # asyncio.Protocol

    def data_received(self, data: bytes) -> None:
        """Handle every frame in ``data``."""
        parser = self._parser
        for opcode, payload in parser.feed(data):
            if opcode <= OP_BINARY:  # OP_TEXT or OP_BINARY: the parser emits no continuations
                if self._ws_state == _OPEN:
                    handler = self._handler
                    if handler is None:
                        if self._early is None:
                            self._early = []
                        self._early.append(payload)
                        continue
                    try:
                        handler.on_ws_message(payload)
                    except Exception:
                        self._handler_failed(handler)
            elif opcode == OP_PING:
                if self._ws_state == _OPEN:
                    assert isinstance(payload, bytes)
                    self._write(pong_frame(payload))
            elif opcode == OP_CLOSE:
                assert isinstance(payload, bytes)
                self._close_received(payload)
        if parser.error is not None:
            self._fail(parser.error)

    def connection_lost(self, exc: Exception | None) -> None:
        """Report 1006 unless the close was already reported."""
        self._transport = None
        self._state.remove(self)
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None
        if self._ws_state != _CLOSED:
            self._closed(1006)

    def eof_received(self) -> bool | None:
        """The peer half-closed: the connection is over (``connection_lost`` follows).

        What is buffered and not flushed yet (the 101 and the open packet, answers to the
        last frames) is written first: the peer may still be reading.
        """
        self._flush_now()
        return None

    def shutdown(self) -> None:
        """The server is stopping: send 1001, close the TCP connection, report 1001."""
        if self._ws_state == _OPEN:
            self._write(close_frame(1001, "server shutting down"))
        self._close_transport()
        if self._ws_state != _CLOSED:
            self._closed(1001)

    # internals

    def _deliver(self, handler: WebSocketHandler, message: str | bytes) -> None:
        try:
            handler.on_ws_message(message)
        except Exception:
            self._handler_failed(handler)

    def _handler_failed(self, handler: WebSocketHandler) -> None:
        logger.exception("error in WebSocket message handler %r", handler)
        if self._ws_state == _OPEN:
            self._fail(FrameError(1011, "internal error"), log=False)

    def _close_received(self, payload: bytes) -> None:
        code, _reason = parse_close(payload)
        if self._ws_state == _OPEN:
            # Echo the peer's code; an empty close frame answers one that carried none.
            self._write(close_frame(None if code == 1005 else code))
        self._close_transport()
        if self._ws_state != _CLOSED:
            self._closed(code)

    def _fail(self, error: FrameError, log: bool = True) -> None:
        if log:
            logger.info(
                "closing WebSocket %s with %d: %s", self._client_repr(), error.code, error.reason
            )
        if self._ws_state == _OPEN:
            self._write(close_frame(error.code, error.reason))
        self._close_transport()
        if self._ws_state != _CLOSED:
            self._closed(error.code)

    def _close_timed_out(self) -> None:
        self._close_timer = None
        if self._transport is not None:
            self._transport.abort()

    def _closed(self, code: int) -> None:
        self._ws_state = _CLOSED
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None
        handler = self._handler
        if handler is None:
            self._lost_code = code
        else:
            self._notify_handler(handler, code)

    def _notify_handler(self, handler: WebSocketHandler, code: int) -> None:
        try:
            handler.on_ws_close(code)
        except Exception:
            logger.exception("error in WebSocket close handler %r", handler)
