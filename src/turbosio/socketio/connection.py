"""One Engine.IO connection seen by the Socket.IO layer (Node's ``Client``).

It decodes packets, routes them to the socket of their namespace, and ends the connection as
Node does when the client breaks the protocol: a packet that does not decode, a packet for a
namespace the client has not joined, or no namespace joined within ``connect_timeout``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import orjson

from ..engineio.io import EngineSession
from ..exceptions import DecodeError
from ..protocol.socketio import Packet, PacketType
from .reasons import DisconnectReason

_EVENT = PacketType.EVENT
_ACK = PacketType.ACK

if TYPE_CHECKING:
    from .server import Server
    from .socket import Socket

__all__ = ["Connection", "JoinDeadlines"]

logger = logging.getLogger("turbosio.server")


class JoinDeadlines:
    """``connect_timeout`` for every connection of a server, with one timer.

    Connections wait in the order they came, which is the order of their deadlines while the
    timeout stays the same, and the timer is armed for the first one only: a connection costs
    a dict insertion and removal, not a timer of its own. (A timeout changed while connections
    wait applies to new ones, and may be late by the difference.)
    """

    __slots__ = ("_loop", "_timer", "_waiting")

    def __init__(self) -> None:
        self._waiting: dict[Connection, float] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __len__(self) -> int:
        return len(self._waiting)

    def add(self, conn: Connection, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        """Close ``conn`` after ``timeout`` seconds unless :meth:`discard` is called first."""
        if loop is not self._loop:
            # Served on a new loop (the old one stopped): its connections are gone.
            self._waiting.clear()
            self._timer = None
            self._loop = loop
        deadline = loop.time() + timeout
        self._waiting[conn] = deadline
        if self._timer is None:
            self._timer = loop.call_at(deadline, self._fire)

    def discard(self, conn: Connection) -> None:
        """``conn`` joined a namespace, or closed."""
        self._waiting.pop(conn, None)

    def _fire(self) -> None:
        self._timer = None
        loop = self._loop
        assert loop is not None
        now = loop.time()
        waiting = self._waiting
        while waiting:
            conn, deadline = next(iter(waiting.items()))
            if deadline > now:
                self._timer = loop.call_at(deadline, self._fire)
                return
            del waiting[conn]
            try:
                conn._connect_timeout()
            except Exception:
                logger.exception("error closing %r after connect_timeout", conn)


class Connection:
    """The Socket.IO state of one Engine.IO session."""

    __slots__ = ("closed", "connecting", "decoder", "nsps", "server", "session")

    def __init__(self, server: Server, session: EngineSession) -> None:
        self.server = server
        self.session = session
        self.decoder = server.parser.decoder(max_attachments=server.max_attachments)
        #: namespace name -> connected socket
        self.nsps: dict[str, Socket] = {}
        #: namespace name -> socket whose middlewares / connect handler are running (None
        #: while there is none: an idle connection keeps no empty dict)
        self.connecting: dict[str, Socket] | None = None
        self.closed = False
        timeout = server.connect_timeout
        if timeout is not None:
            # Until it joins a namespace. The server's loop, bound before any session opens
            # (asking asyncio for the running loop costs a getpid() system call on Python 3.11).
            server._joins.add(self, server._loop or asyncio.get_running_loop(), timeout)

    def _connect_timeout(self) -> None:
        if not self.nsps and not self.closed:
            logger.info("closing %s: no namespace joined within connect_timeout", self._peer())
            self.close()

    def _peer(self) -> str:
        client = self.session.request.client
        return f"{client[0]}:{client[1]}" if client else self.session.sid

    # -- incoming ------------------------------------------------------------------------------

    def on_data(self, data: str | bytes) -> None:
        """An Engine.IO message arrived."""
        try:
            fields = self.decoder.feed_fields(data)
        except DecodeError as exc:
            logger.info("closing %s: invalid packet (%s)", self._peer(), exc)
            self._fail()
            return
        if fields is None:
            return
        # Events and acks for a joined namespace go straight to their socket: no Packet.
        kind = fields[0]
        if kind is _EVENT or kind is _ACK:
            socket = self.nsps.get(fields[1])
            if socket is not None:
                if kind is _EVENT:
                    socket._on_event(fields[2], fields[3])
                else:
                    socket._on_ack(fields[2], fields[3])
                return
        self.on_packet(Packet(*fields))

    def on_packet(self, packet: Packet) -> None:
        """Route a decoded packet."""
        name = packet.namespace
        socket = self.nsps.get(name)
        kind = packet.type
        if socket is not None:
            if kind != PacketType.CONNECT and kind != PacketType.CONNECT_ERROR:
                socket._on_packet(packet)
                return
        elif kind == PacketType.CONNECT:
            connecting = self.connecting
            if connecting is None or name not in connecting:
                self._connect(name, packet.data)
                return
        logger.info(
            "closing %s: invalid state (packet type %d for namespace %s)",
            self._peer(),
            kind,
            name,
        )
        self.close()

    def _connect(self, name: str, auth: Any) -> None:
        server = self.server
        nsp = server._nsps.get(name)
        if nsp is None:
            nsp = server._dynamic_namespace(name, auth if isinstance(auth, dict) else {})
        if nsp is None:
            prefix = "44" if name == "/" else f"44{name},"
            self.session.write(prefix + orjson.dumps({"message": "Invalid namespace"}).decode())
            return
        nsp._add(self, auth)

    # -- bookkeeping -----------------------------------------------------------------------------

    def _added(self, socket: Socket) -> None:
        self.nsps[socket.nsp.name] = socket
        self.server._joins.discard(self)

    def _remove(self, socket: Socket) -> None:
        if self.nsps.get(socket.nsp.name) is socket:
            del self.nsps[socket.nsp.name]

    # -- closing -------------------------------------------------------------------------------

    def _fail(self) -> None:
        # Node closes the engine connection on a decode error; its sockets then see the
        # engine's reason ("forced close").
        self.session.close(DisconnectReason.FORCED_CLOSE.value)

    def close(self, reason: str = DisconnectReason.FORCED_SERVER_CLOSE.value) -> None:
        """Close the connection; every socket disconnects with ``reason``."""
        if self.closed:
            return
        self.on_close(reason)
        self.session.close(reason)

    def disconnect_all(self) -> None:
        """``socket.disconnect(close=True)``: leave every namespace, then close."""
        for socket in list(self.nsps.values()):
            socket.disconnect()
        self.close()

    def on_close(self, reason: str) -> None:
        """The engine session closed (or we close it): disconnect every socket."""
        if self.closed:
            return
        self.closed = True
        self.server._joins.discard(self)
        for socket in list(self.nsps.values()):
            socket._on_close(reason)
        connecting = self.connecting
        if connecting is not None:
            self.connecting = None
            for socket in list(connecting.values()):
                socket.nsp._unregister(socket)
