"""One Engine.IO session: its buffer, heartbeat, transport and close, as Node's engine.io has it.

A session lives on one transport at a time. On WebSocket every write goes straight to the
connection (the front end batches what one loop iteration wrote into one write). On polling,
writes go to a buffer of already encoded payload parts; when a GET is pending the session is
marked dirty and the engine answers every dirty session once per loop iteration, so whatever
one turn of the loop wrote leaves in one HTTP response.

States: open -> (closing ->) closed. "closing" exists only on polling, while a graceful
``close()`` waits for the client's next GET to carry the buffer and the close packet.

The polling buffer is bounded: past the engine's ``max_outbound_buffer`` (characters of
encoded packets waiting for a client that does not poll) the session ends with "transport
error" and one WARNING line; a ping timeout ends it with one INFO line. ``writable`` is
Node's notion, used to drop volatile packets: on polling, a GET is waiting; on WebSocket, the
connection's outbound buffer is under its high-water mark.

Close reasons are Node's strings: "transport close" (the client closed, or sent a close
packet), "transport error" (a poll cut short, overlapping polls, a ping from the client,
a bad content type), "parse error", "ping timeout", and whatever ``close(reason)`` is given
("forced close" by default).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..protocol.engineio import CLOSE, NOOP, PING, Packet, PacketType, encode_binary_polling
from ..protocol.errors import DecodeError
from .io import Request, SharedMessage, WebSocket

if TYPE_CHECKING:
    from .engine import Engine
    from .websocket import Upgrade

__all__ = ["Session"]

_OPEN = 0
_CLOSING = 1
_CLOSED = 2

# What the heartbeat timer means for an open session.
_WAIT_PING = 0  # next: send a ping
_WAIT_PONG = 1  # next: "ping timeout" unless a pong came

# Close codes a front end reports for connections that failed rather than ended
# (protocol error, policy violation such as an outbound buffer over its limit, invalid payload
# data, message too big): Node calls those "transport error".
_ERROR_CLOSE_CODES = frozenset((1002, 1007, 1008, 1009))

_MESSAGE = PacketType.MESSAGE
_PING = PacketType.PING
_PONG = PacketType.PONG
_CLOSE = PacketType.CLOSE


class Session:
    """An Engine.IO session; the Socket.IO layer sees it as an ``EngineSession``.

    ``write``/``write_binary``/``write_shared`` only queue; ``close`` ends the session after
    what is queued, and ``engine_close`` follows (at once on WebSocket, with the client's next
    poll on polling).
    """

    __slots__ = (
        "_buffer",
        "_buffered",
        "_close_reason",
        "_dirty",
        "_hb",
        "_poll",
        "_state",
        "_timer_key",
        "_upgrade",
        "_ws",
        "context",
        "engine",
        "request",
        "sid",
        "transport",
    )

    def __init__(self, engine: Engine, sid: str, transport: str, request: Request) -> None:
        self.engine = engine
        self.sid = sid
        #: "polling" or "websocket".
        self.transport = transport
        #: The request that opened the session.
        self.request = request
        #: Free for the layer above.
        self.context: object = None
        self._state = _OPEN
        self._ws: WebSocket | None = None
        self._buffer: list[str] = []
        # Characters in _buffer, checked against the engine's max_outbound_buffer.
        self._buffered = 0
        self._poll: Request | None = None
        self._dirty = False
        self._timer_key: int | None = None
        self._hb = _WAIT_PING
        self._upgrade: Upgrade | None = None
        self._close_reason = ""

    def __repr__(self) -> str:
        state = ("open", "closing", "closed")[self._state]
        return f"<Session {self.sid} {self.transport} {state}>"

    @property
    def closed(self) -> bool:
        """Whether the session has ended (``engine_close`` was called)."""
        return self._state == _CLOSED

    @property
    def writable(self) -> bool:
        """Whether a packet written now goes out without waiting behind a backlog (Node's
        ``transport.writable``): volatile packets are dropped when it is False."""
        ws = self._ws
        if ws is not None:
            # A front end without the notion would always be writable (both have it).
            return bool(getattr(ws, "writable", True))
        return self._state == _OPEN and self._poll is not None

    @property
    def upgrading(self) -> bool:
        """Whether a WebSocket is probing to take over this polling session."""
        return self._upgrade is not None

    # -- writing (the hot path) -------------------------------------------------------------

    def write(self, packet: str) -> None:
        """Queue one Engine.IO text packet, e.g. ``'42["chat","hi"]'``."""
        ws = self._ws
        if ws is not None:
            ws.send_text(packet)
        elif self._state == _OPEN:
            self._buffer.append(packet)
            self._buffered += len(packet)
            if self._buffered > self.engine.max_outbound_buffer:
                self._overflow()
            elif self._poll is not None and not self._dirty:
                self._dirty = True
                self.engine._mark_dirty(self)

    def write_binary(self, data: bytes) -> None:
        """Queue one binary message packet."""
        ws = self._ws
        if ws is not None:
            ws.send_bytes(data)
        elif self._state == _OPEN:
            part = encode_binary_polling(data)
            self._buffer.append(part)
            self._buffered += len(part)
            if self._buffered > self.engine.max_outbound_buffer:
                self._overflow()
            elif self._poll is not None and not self._dirty:
                self._dirty = True
                self.engine._mark_dirty(self)

    def write_shared(self, message: SharedMessage) -> None:
        """Queue one shared, already encoded packet (encoded for polling once, on first use)."""
        ws = self._ws
        if ws is not None:
            ws.send_shared(message)
        elif self._state == _OPEN:
            part = message.polling
            if part is None:
                data = message.data
                part = data if isinstance(data, str) else encode_binary_polling(data)
                message.polling = part
            self._buffer.append(part)
            self._buffered += len(part)
            if self._buffered > self.engine.max_outbound_buffer:
                self._overflow()
            elif self._poll is not None and not self._dirty:
                self._dirty = True
                self.engine._mark_dirty(self)

    def _overflow(self) -> None:
        # A polling client that stopped fetching: end it now rather than at the ping timeout,
        # so it cannot make the server hold an unbounded backlog meanwhile.
        self.engine.logger.warning(
            "closing session %s of %s: over %d bytes waiting to be polled (the client does not "
            "read fast enough)",
            self.sid,
            self._peer(),
            self.engine.max_outbound_buffer,
        )
        self._buffer = []
        self._buffered = 0
        self._finish("transport error")

    # -- closing ----------------------------------------------------------------------------

    def close(self, reason: str = "forced close") -> None:
        """Close the session after flushing what is queued; ``engine_close`` follows.

        On polling without a pending GET the buffer and the close packet wait for the
        client's next poll (at most ``ping_interval + ping_timeout``, as Node's ping timers
        would give it), then the session ends with ``reason``.
        """
        if self._state != _OPEN:
            return
        upgrade = self._upgrade
        if upgrade is not None:
            upgrade.abort()
        if self._ws is not None:
            self._finish(reason)
        elif self._poll is not None and not self._buffer:
            self._buffer.append(CLOSE)
            self._flush_poll()
            self._finish(reason)
        else:
            # As Node: what is buffered goes out first (now, to a pending GET), and the close
            # packet in a response of its own, with the next poll. The JS client handles
            # Socket.IO packets a tick after the Engine.IO close packet of the same payload,
            # so sending both together would turn "io server disconnect" into "transport close".
            self._flush_poll()
            self._state = _CLOSING
            self._close_reason = reason
            engine = self.engine
            wait = min(engine.ping_interval + engine.ping_timeout, 30.0)
            engine._scheduler.schedule(self, engine._loop.time() + wait)

    def _discard(self, reason: str) -> None:
        """Close at once, dropping what a polling client has not fetched (engine shutdown)."""
        if self._state == _CLOSED:
            return
        if self._state == _OPEN and self._poll is not None:
            self._buffer.append(CLOSE)
            self._flush_poll()
        self._finish(reason)

    def _finish(self, reason: str, poll_packet: str = CLOSE) -> None:
        """The session is over (Node's ``onClose``): release everything, tell the handler."""
        if self._state == _CLOSED:
            return
        self._state = _CLOSED
        engine = self.engine
        engine._scheduler.cancel(self)
        engine._forget(self)
        upgrade = self._upgrade
        if upgrade is not None:
            upgrade.abort()
        ws = self._ws
        if ws is not None:
            self._ws = None
            ws.close()
        req = self._poll
        if req is not None:
            # A pending poll learns the session is gone.
            self._poll = None
            engine._respond_poll(req, poll_packet)
        self._buffer = []
        try:
            engine.handler.engine_close(self, reason)
        except Exception:
            self.engine.logger.exception("engine_close handler failed for session %s", self.sid)

    # -- heartbeat --------------------------------------------------------------------------

    def _on_timer(self, now: float) -> None:
        state = self._state
        if state == _CLOSED:
            return
        if state == _CLOSING:
            # The client never came back for its close packet.
            self._finish(self._close_reason)
        elif self._hb == _WAIT_PING:
            self._hb = _WAIT_PONG
            self.write(PING)
            self.engine._scheduler.schedule(self, now + self.engine.ping_timeout)
        else:
            # A broken connection (a lost network, a frozen tab, a client too busy to answer):
            # one line, as for the other connections the server ends.
            self.engine.logger.info(
                "closing session %s of %s: ping timeout (no answer to the ping within %g s)",
                self.sid,
                self._peer(),
                self.engine.ping_timeout,
            )
            self._finish("ping timeout")

    def _peer(self) -> str:
        client = self.request.client
        return f"{client[0]}:{client[1]}" if client else "?"

    def _on_pong(self) -> None:
        # As Node: any pong (even an unasked one) restarts the interval to the next ping.
        self._hb = _WAIT_PING
        engine = self.engine
        engine._scheduler.schedule(self, engine._loop.time() + engine.ping_interval)

    # -- receiving --------------------------------------------------------------------------

    def _on_message(self, data: str | bytes) -> None:
        if self._state == _OPEN:
            try:
                self.engine.handler.engine_message(self, data)
            except Exception:
                self.engine.logger.exception(
                    "engine_message handler failed for session %s", self.sid
                )

    def _on_control(self, kind: PacketType) -> None:
        """A packet other than a message arrived on the session's transport."""
        if self._state != _OPEN:
            return
        if kind == _PONG:
            self._on_pong()
        elif kind == _PING:
            self.engine.logger.debug("session %s: invalid heartbeat direction", self.sid)
            self._finish("transport error")
        elif kind == _CLOSE:
            # On polling, a pending GET is ended with a noop (the client asked to close).
            self._finish("transport close", poll_packet=NOOP)
        # open, upgrade and noop packets mean nothing on an established transport.

    def _on_text(self, data: str) -> bool:
        """One text packet (a WebSocket text frame, or one item of a polling payload).

        Returns False if it did not decode (the session is then closed with "parse error").
        """
        if data[:1] == "4":
            self._on_message(data[1:])
            return True
        try:
            packet = Packet.decode(data)
        except DecodeError:
            self._finish("parse error")
            return False
        if packet.type == _MESSAGE:
            # "b" + base64: a binary message written as text, which Node accepts too.
            self._on_message(packet.data or b"")
        else:
            self._on_control(packet.type)
        return True

    def on_ws_message(self, data: str | bytes) -> None:
        """A WebSocket message for this session (the session is the socket's handler)."""
        # The hot path: a message packet goes up with no further call in between.
        if isinstance(data, str):
            if data[:1] != "4":
                self._on_text(data)
                return
            data = data[1:]
        if self._state == _OPEN:
            try:
                self.engine.handler.engine_message(self, data)
            except Exception:
                self.engine.logger.exception(
                    "engine_message handler failed for session %s", self.sid
                )

    def on_ws_close(self, code: int) -> None:
        """The session's WebSocket is gone (either side closed it, or it was lost)."""
        self._ws = None
        if self._state != _CLOSED:
            self._finish("transport error" if code in _ERROR_CLOSE_CODES else "transport close")

    # -- polling ----------------------------------------------------------------------------

    def _flush_poll(self) -> None:
        """Answer the pending GET with everything buffered (called once per loop turn)."""
        req = self._poll
        buffer = self._buffer
        if req is None or not buffer:
            return
        self._poll = None
        self._buffer = []
        self._buffered = 0
        self.engine._respond_poll(req, buffer[0] if len(buffer) == 1 else "\x1e".join(buffer))

    def _on_poll_gone(self, req: Request) -> None:
        # The client went away while its GET was held: Node's "poll connection closed
        # prematurely", a transport error.
        if self._poll is req:
            self._poll = None
            self._finish("transport error")

    def _on_probe(self) -> None:
        """A WebSocket probe succeeded: end the pending GET so the client can pause polling."""
        if self._poll is not None and not self._buffer:
            req = self._poll
            self._poll = None
            self.engine._respond_poll(req, NOOP)

    def _upgraded(self, ws: WebSocket) -> None:
        """The probing WebSocket sent "5": it carries the session from now on."""
        self.transport = "websocket"
        self._ws = ws
        ws.set_handler(self)
        req = self._poll
        if req is not None:
            self._poll = None
            self.engine._respond_poll(req, NOOP)
        buffered = self._buffer
        self._buffer = []
        self._buffered = 0
        # Parts buffered for polling are valid WebSocket text packets too ("b"+base64 is
        # decoded as binary by every v4 client).
        for part in buffered:
            ws.send_text(part)
