"""What every connection of the embedded server shares: the output buffer and its flusher.

All output caused by one loop iteration leaves a connection in one ``transport.write``: writes
append to the connection's list, the first append in an iteration registers the connection with
the server's :class:`Flusher`, and the flusher's single ``call_soon`` callback joins and writes
every dirty connection's buffer. Nothing here allocates a task, queue, lock or timer per message
or per connection.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .http import App

__all__ = ["Connection", "Flusher", "ServerState", "logger"]

logger = logging.getLogger("turbosio.server")


class Flusher:
    """Writes every dirty connection's buffer once per loop iteration (one per server)."""

    __slots__ = ("_dirty", "_loop", "_scheduled")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._dirty: list[Connection] = []
        self._scheduled = False

    def add(self, conn: Connection) -> None:
        """Flush ``conn`` at the end of this iteration (it has just become dirty)."""
        self._dirty.append(conn)
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._run)

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

    __slots__ = ("app", "closing", "connections", "emptied", "flusher", "scheme")

    def __init__(self, app: App, flusher: Flusher, scheme: str) -> None:
        self.app = app
        self.flusher = flusher
        #: "http", or "https" when the listener has TLS.
        self.scheme = scheme
        #: Every open connection (HTTP or WebSocket), for shutdown.
        self.connections: set[Connection] = set()
        #: Set by ``Server.wait_closed`` and fired when the last connection goes.
        self.emptied: asyncio.Event | None = None
        self.closing = False

    def remove(self, conn: Connection) -> None:
        """Forget ``conn`` (its TCP connection is gone)."""
        self.connections.discard(conn)
        if not self.connections and self.emptied is not None:
            self.emptied.set()


class Connection(asyncio.Protocol):
    """Base of the server's protocols: a transport and a buffer flushed once per iteration."""

    __slots__ = ("_closing", "_dirty", "_out", "_state", "_transport", "_write_paused")

    def __init__(self, state: ServerState) -> None:
        self._state = state
        self._transport: asyncio.Transport | None = None
        self._out: list[bytes] = []
        self._dirty = False
        # Close the transport once the buffer is written.
        self._closing = False
        # Back-pressure hook: the transport's buffer passed its high-water mark. Writes still
        # append; limiting what a slow reader may hold is the robustness work's to add here.
        self._write_paused = False

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

    def pause_writing(self) -> None:
        """The transport's write buffer is over its high-water mark."""
        self._write_paused = True

    def resume_writing(self) -> None:
        """The transport's write buffer drained below its low-water mark."""
        self._write_paused = False

    def shutdown(self) -> None:
        """Close this connection because the server is stopping."""
        self._close_transport()
