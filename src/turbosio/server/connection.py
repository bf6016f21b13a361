"""What every connection of the embedded server shares: the output buffer and its flusher.

Output leaves a connection in one ``transport.write`` per flush: writes append to the
connection's list, the first append registers the connection with the server's
:class:`Flusher`, and the flusher's ``call_soon`` callback joins and writes every dirty
connection's buffer. The flush runs in the loop turn after the first connection became dirty;
under load, while each turn makes more connections dirty, it waits up to
:data:`COALESCE_TURNS` turns more, so that the writes of several turns go out back to back
(see :class:`Flusher`). Nothing here allocates a task, queue, lock or timer per message or per
connection.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from .limits import DEFAULT_HIGH_WATER, DEFAULT_MAX_OUTBOUND, Limits

if TYPE_CHECKING:
    from .http import App

__all__ = ["COALESCE_TURNS", "Connection", "Flusher", "ServerState", "logger"]

logger = logging.getLogger("turbosio.server")

#: How many loop turns more a flush may wait while each turn brings more connections with
#: output (0: always flush in the turn after the first write).
COALESCE_TURNS = 5


class Flusher:
    """Writes every dirty connection's buffer, once per flush (one flusher per server).

    A flush is due in the loop turn after the first connection became dirty. If that turn's
    reads made more connections dirty, it waits one more turn, and so on while each turn adds
    some, for at most :data:`COALESCE_TURNS` turns: an idle server flushes one turn later
    (one ``epoll_wait`` that returns at once), a busy one writes the answers of several turns
    back to back. That matters where the peers run on the same machine (a reverse proxy in
    front of the server, a load generator): a write to a local socket whose reader sleeps
    wakes that reader on its CPU, at the writer's expense, and writes that come together find
    it awake. On loopback this took a WebSocket connect's share of that wake-up from 15% of
    the server's CPU to 6% (docs/performance.md).
    """

    __slots__ = ("_dirty", "_loop", "_scheduled", "_seen", "_turns")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._dirty: list[Connection] = []
        self._scheduled = False
        # How many connections were dirty at the last turn, and how many turns were waited.
        self._seen = 0
        self._turns = 0

    def add(self, conn: Connection) -> None:
        """Flush ``conn`` with the next flush (it has just become dirty)."""
        self._dirty.append(conn)
        if not self._scheduled:
            self._scheduled = True
            self._seen = 0
            self._turns = 0
            self._loop.call_soon(self._turn)

    def _turn(self) -> None:
        count = len(self._dirty)
        if count > self._seen and self._turns < COALESCE_TURNS:
            # This turn brought more output: wait one more (the loop polls without blocking
            # while a callback is ready, so this only lets the reads already there come in).
            self._seen = count
            self._turns += 1
            self._loop.call_soon(self._turn)
            return
        self._run()

    def _run(self) -> None:
        self._scheduled = False
        dirty = self._dirty
        self._dirty = []
        for conn in dirty:
            try:
                conn._flush()
            except Exception:
                # One broken transport must not leave the others unflushed (and stuck dirty).
                conn._dirty = False
                logger.exception("error writing to %r", conn)


class ServerState:
    """What the connections of one listening server share."""

    __slots__ = (
        "_timer",
        "app",
        "closing",
        "connections",
        "emptied",
        "flusher",
        "high_water",
        "limits",
        "max_outbound",
        "now",
        "scheme",
    )

    def __init__(
        self, app: App, flusher: Flusher, scheme: str, limits: Limits | None = None
    ) -> None:
        self.app = app
        self.flusher = flusher
        #: "http", or "https" when the listener has TLS.
        self.scheme = scheme
        self.limits = limits or Limits()
        # The outbound buffer's bounds are the application's (the engine bounds its polling
        # buffers with the same numbers); an App without them gets the defaults.
        self.high_water = int(getattr(app, "outbound_high_water", DEFAULT_HIGH_WATER))
        self.max_outbound = int(getattr(app, "max_outbound_buffer", DEFAULT_MAX_OUTBOUND))
        #: Every open connection (HTTP or WebSocket), for shutdown.
        self.connections: set[Connection] = set()
        #: Set by ``Server.wait_closed`` and fired when the last connection goes.
        self.emptied: asyncio.Event | None = None
        self.closing = False
        #: The loop's clock at the last deadline check: connections set their deadlines from
        #: it, so the request path never reads the clock.
        self.now = flusher._loop.time()
        self._timer: asyncio.TimerHandle | None = None

    def remove(self, conn: Connection) -> None:
        """Forget ``conn`` (its TCP connection is gone)."""
        self.connections.discard(conn)
        if not self.connections and self.emptied is not None:
            self.emptied.set()

    def start_timer(self) -> None:
        """Start checking the connections' deadlines (one timer for the whole server)."""
        if self._timer is None:
            loop = self.flusher._loop
            self.now = loop.time()
            self._timer = loop.call_later(self.limits.tick, self._check_deadlines)

    def stop_timer(self) -> None:
        """Stop checking deadlines (the server is closed)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _check_deadlines(self) -> None:
        loop = self.flusher._loop
        now = self.now = loop.time()
        expired = [c for c in self.connections if 0.0 < c._deadline <= now]
        for conn in expired:
            conn._deadline = 0.0
            try:
                conn._expire()
            except Exception:
                logger.exception("error closing %r after its deadline", conn)
        self._timer = loop.call_later(self.limits.tick, self._check_deadlines)


class Connection(asyncio.Protocol):
    """Base of the server's protocols: a transport and a buffer flushed once per iteration."""

    __slots__ = (
        "_closing",
        "_deadline",
        "_dirty",
        "_out",
        "_state",
        "_transport",
        "_write_paused",
    )

    def __init__(self, state: ServerState) -> None:
        self._state = state
        self._transport: asyncio.Transport | None = None
        self._out: list[bytes] = []
        self._dirty = False
        # Close the transport once the buffer is written.
        self._closing = False
        # The transport's buffer passed its high-water mark (``outbound_high_water``): the
        # connection is not writable, volatile packets are dropped, and every flush checks the
        # buffer against ``max_outbound_buffer``.
        self._write_paused = False
        #: Loop time at which ``_expire`` is called (0: no deadline); see ServerState.
        self._deadline = 0.0

    def _write(self, data: bytes) -> None:
        self._out.append(data)
        if not self._dirty:
            self._dirty = True
            self._state.flusher.add(self)

    def _flush(self) -> None:
        self._dirty = False
        out = self._out
        transport = self._transport
        if out:
            if transport is not None and not transport.is_closing():
                transport.write(out[0] if len(out) == 1 else b"".join(out))
                # Only a connection over its high-water mark pays for this check.
                if (
                    self._write_paused
                    and transport.get_write_buffer_size() > self._state.max_outbound
                ):
                    out.clear()
                    self._overflow(transport)
                    return
            out.clear()
        if self._closing and transport is not None:
            transport.close()

    def _flush_now(self) -> None:
        """Write what is buffered at once (only at a protocol switch, never per message)."""
        out = self._out
        transport = self._transport
        if out and transport is not None and not transport.is_closing():
            transport.write(b"".join(out))
        # Still registered with the flusher if dirty; it will find nothing left to write.
        out.clear()

    def _close_transport(self) -> None:
        """Close the TCP connection after everything buffered is written."""
        self._closing = True
        if not self._dirty and self._transport is not None:
            self._transport.close()

    @property
    def writable(self) -> bool:
        """Whether the outbound buffer is under its high-water mark (and the connection open)."""
        return not self._write_paused and not self._closing and self._transport is not None

    def _overflow(self, transport: asyncio.Transport) -> None:
        """The client holds more than ``max_outbound_buffer`` unread: drop the connection.

        Aborting (not closing) frees the buffer now; a client that does not read would never
        take a close frame anyway.
        """
        logger.warning(
            "closing the connection of %s: over %d bytes waiting to be sent (the client does "
            "not read fast enough)",
            _peer(transport),
            self._state.max_outbound,
        )
        self._closing = True
        transport.abort()

    def _expire(self) -> None:
        """The connection's deadline passed (see :class:`ServerState`)."""

    def pause_writing(self) -> None:
        """The transport's write buffer is over its high-water mark."""
        self._write_paused = True

    def resume_writing(self) -> None:
        """The transport's write buffer drained below its low-water mark."""
        self._write_paused = False

    def shutdown(self) -> None:
        """Close this connection because the server is stopping."""
        self._close_transport()


def _peer(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer)
