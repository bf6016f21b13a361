"""A client's connection to one namespace: the object handlers receive."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ..adapters.base import BroadcastOptions
from ..engineio.io import EngineSession, SharedMessage
from ..exceptions import AckTimeout, ConnectionRefused, Disconnected
from ..protocol.socketio import Packet, PacketType, encode_ack_text, encode_event_text
from .broadcast import BroadcastOperator, ack_value
from .dispatch import call_handler, continue_in_task
from .reasons import RESERVED_EVENTS, DisconnectReason
from .recovery import RECOVERABLE_REASONS

if TYPE_CHECKING:
    from .connection import Connection
    from .namespace import Namespace

__all__ = ["Handshake", "Socket"]

logger = logging.getLogger("turbosio.server")
_packet_logger = logging.getLogger("turbosio.packets")


_NO_EXTRA: Mapping[str, Any] = MappingProxyType({})


def _no_extra() -> Mapping[str, Any]:
    return _NO_EXTRA


@dataclass(slots=True)
class Handshake:
    """What the client sent when it connected (Node's ``socket.handshake``)."""

    #: Request headers, lower-case names.
    headers: Mapping[str, str]
    #: Query parameters of the first request (first value of each).
    query: Mapping[str, str]
    #: The CONNECT packet's payload (``auth`` option of the JS client), ``{}`` when absent.
    auth: dict[str, Any]
    #: The client's IP address.
    address: str
    #: When the connection was made, as a string (as Node's ``new Date().toString()``).
    time: str
    #: When the connection was made, in milliseconds since the epoch.
    issued: int
    #: The URL of the first request (path and query).
    url: str
    #: True when the connection came over TLS.
    secure: bool
    #: True when the request came from another origin than the server's.
    xdomain: bool
    #: Fields of a remote socket's handshake that this class does not name (read-only; shared
    #: and empty for local sockets).
    extra: Mapping[str, Any] = field(default_factory=_no_extra)


def _ack_args(result: Any) -> list[Any]:
    if result is None:
        return []
    if isinstance(result, tuple):
        return list(result)
    return [result]


class Socket:
    """One client connected to one namespace.

    Handlers receive it as their first argument. ``emit`` is synchronous and never blocks;
    awaiting is needed only for acknowledgements (``emit_with_ack``).
    """

    __slots__ = (
        "__weakref__",
        "_acks",
        "_auth",
        "_conn",
        "_handshake",
        "_issued",
        "_pending",
        "_session",
        "connected",
        "data",
        "id",
        "nsp",
        "pid",
        "recovered",
    )

    def __init__(self, nsp: Namespace, conn: Connection, auth: dict[str, Any], sid: str) -> None:
        self.nsp = nsp
        self._conn = conn
        self._session = conn.session
        # The handshake is built from these on first use: most applications never read it,
        # and an idle connection should cost little memory.
        self._handshake: Handshake | None = None
        self._auth = auth
        self._issued = time.time()
        #: The socket's id (not the Engine.IO session id), as the client sees it.
        self.id = sid
        #: Free for the application: anything it wants to keep with this socket.
        self.data: dict[str, Any] = {}
        self.connected = False
        #: True when the session was restored by connection state recovery.
        self.recovered = False
        #: The private session id given to the client under connection state recovery.
        self.pid: str | None = None
        self._acks: dict[int, Any] | None = None
        # While the connect handler runs, what is sent waits here for the CONNECT reply.
        self._pending: list[Any] | None = []

    @property
    def handshake(self) -> Handshake:
        """What the client sent when it connected (Node's ``socket.handshake``)."""
        handshake = self._handshake
        if handshake is None:
            request = self._session.request
            proxies = self.nsp.server.trusted_proxies
            handshake = self._handshake = new_handshake(
                request,
                self._auth,
                secure=proxies.is_secure(request),
                xdomain="origin" in request.headers,
                address=proxies.client_address(request),
                now=self._issued,
            )
        return handshake

    def __repr__(self) -> str:
        return f"<Socket {self.id} {self.nsp.name}>"

    # -- properties --------------------------------------------------------------------------

    @property
    def namespace(self) -> str:
        """The namespace's name, e.g. ``"/"`` or ``"/chat"``."""
        return self.nsp.name

    @property
    def rooms(self) -> set[str]:
        """The rooms this socket is in (a copy), its own id included."""
        return set(self.nsp.adapter.socket_rooms(self.id))

    @property
    def server(self) -> Any:
        """The :class:`turbosio.Server` this socket belongs to."""
        return self.nsp.server

    @property
    def conn(self) -> EngineSession:
        """The underlying Engine.IO session (Node's ``socket.conn``): ``conn.sid`` is the
        connection's id, shared by its sockets in every namespace; ``conn.transport`` the
        transport in use."""
        return self._session

    @property
    def transport(self) -> str:
        """``"polling"`` or ``"websocket"``: the transport in use now."""
        return self._session.transport

    # -- sending -----------------------------------------------------------------------------

    def _write_text(self, text: str) -> None:
        if self._pending is not None:
            self._pending.append(text)
        else:
            self._session.write(text)

    def _send_packet(self, packet: Packet) -> None:
        items = self.nsp.parser.encode(packet)
        first = items[0]
        if isinstance(first, str):
            self._write_text("4" + first)
        else:
            self._write_binary(first)
        for attachment in items[1:]:
            assert isinstance(attachment, bytes)
            self._write_binary(attachment)

    def _write_binary(self, data: bytes) -> None:
        if self._pending is not None:
            self._pending.append(data)
        else:
            self._session.write_binary(data)

    def _deliver(self, messages: list[SharedMessage], volatile: bool = False) -> None:
        if volatile and (self._pending is not None or not getattr(self._session, "writable", True)):
            # Node: "volatile packet is discarded since the transport is not currently
            # writable". Also while connecting: a volatile packet does not wait.
            _packet_logger.debug("volatile packet dropped for %s: not writable", self.id)
            return
        if self._pending is not None:
            self._pending.extend(messages)
            return
        write = self._session.write_shared
        for message in messages:
            write(message)

    def _flush_pending(self) -> None:
        pending, self._pending = self._pending, None
        if not pending:
            return
        session = self._session
        for item in pending:
            if isinstance(item, str):
                session.write(item)
            elif isinstance(item, bytes):
                session.write_binary(item)
            else:
                session.write_shared(item)

    def emit(self, event: str, *args: Any, callback: Callable[..., Any] | None = None) -> None:
        """Send ``event`` with ``args`` to this client.

        With ``callback``, the client's acknowledgement calls it with the client's arguments.
        Safe to call from another thread (it is then handed to the loop).
        """
        server = self.nsp.server
        if server._foreign_thread():
            server._call_soon_threadsafe(partial(self.emit, event, *args, callback=callback))
            return
        if event in RESERVED_EVENTS:
            raise ValueError(f'"{event}" is a reserved event name: choose another one')
        if callback is None and server.recovery is not None:
            # Through the adapter, as Node does under recovery, so the packet gets an offset
            # and is kept: even once the socket is gone, a client that recovers gets it.
            self.nsp.adapter.broadcast(
                Packet(PacketType.EVENT, self.nsp.name, [event, *args]),
                BroadcastOptions(rooms=frozenset((self.id,))),
            )
            return
        if not self.connected and self._pending is None:
            return
        ack_id = None
        if callback is not None:
            ack_id = self.nsp._next_ack_id()
            self._expect_ack(ack_id, callback)
        data = [event, *args]
        text = encode_event_text(self.nsp.name, data, ack_id) if self.nsp.fast_text else None
        if text is not None:
            self._write_text(text)
        else:
            self._send_packet(Packet(PacketType.EVENT, self.nsp.name, data, ack_id))

    def send(self, *args: Any, callback: Callable[..., Any] | None = None) -> None:
        """Emit a ``"message"`` event (the JS client's ``socket.send``)."""
        self.emit("message", *args, callback=callback)

    async def emit_with_ack(self, event: str, *args: Any, timeout: float | None = None) -> Any:
        """Send ``event`` and wait for the client's acknowledgement.

        Returns the client's single argument, or a tuple when it sent several (``None`` for
        none). Raises :class:`turbosio.AckTimeout` after ``timeout`` seconds, and
        :class:`turbosio.Disconnected` if the socket disconnects first.
        """
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        if not self.connected and self._pending is None:
            raise Disconnected()
        self.emit(event, *args, callback=_AckWaiter(fut))
        if timeout is None:
            return await fut
        handle = loop.call_later(timeout, _expire, fut)
        try:
            return await fut
        finally:
            handle.cancel()

    def _expect_ack(self, ack_id: int, callback: Callable[..., Any]) -> None:
        if self._acks is None:
            self._acks = {}
        self._acks[ack_id] = callback

    def _send_ack(self, ack_id: int, result: Any, exc: BaseException | None) -> None:
        if exc is not None:
            _log_handler_error(self, exc)
            return
        if not self.connected:
            return
        args = _ack_args(result)
        nsp = self.nsp
        text = encode_ack_text(nsp.name, args, ack_id) if nsp.fast_text else None
        if text is not None:
            pending = self._pending
            if pending is None:
                self._session.write(text)
            else:
                pending.append(text)
        else:
            self._send_packet(Packet(PacketType.ACK, self.nsp.name, args, ack_id))

    # -- rooms and broadcasting ----------------------------------------------------------------

    def join(self, room: str | Iterable[str]) -> None:
        """Join ``room`` (or each room of an iterable of names)."""
        server = self.nsp.server
        if server._foreign_thread():
            server._call_soon_threadsafe(partial(self.join, room))
            return
        rooms = [room] if isinstance(room, str) else list(room)
        self.nsp.adapter.add_all(self.id, rooms)

    def leave(self, room: str) -> None:
        """Leave ``room``."""
        server = self.nsp.server
        if server._foreign_thread():
            server._call_soon_threadsafe(partial(self.leave, room))
            return
        self.nsp.adapter.delete(self.id, room)

    def _operator(self) -> BroadcastOperator:
        return BroadcastOperator(self.nsp, except_=frozenset((self.id,)))

    def to(self, room: str | Iterable[str]) -> BroadcastOperator:
        """Everyone in ``room`` but this socket."""
        return self._operator().to(room)

    def in_(self, room: str | Iterable[str]) -> BroadcastOperator:
        """Same as :meth:`to`."""
        return self._operator().to(room)

    def except_(self, room: str | Iterable[str]) -> BroadcastOperator:
        """Everyone but this socket and the sockets in ``room``."""
        return self._operator().except_(room)

    @property
    def broadcast(self) -> BroadcastOperator:
        """Everyone in the namespace but this socket."""
        return self._operator()

    # -- disconnection -----------------------------------------------------------------------

    def disconnect(self, close: bool = False) -> None:
        """Disconnect from the namespace; with ``close``, close the whole connection.

        The client sees the reason "io server disconnect" and does not reconnect by itself.
        """
        server = self.nsp.server
        if server._foreign_thread():
            server._call_soon_threadsafe(partial(self.disconnect, close))
            return
        if not self.connected:
            return
        if close:
            self._conn.disconnect_all()
        else:
            self._write_text("41" if self.nsp.name == "/" else f"41{self.nsp.name},")
            self._on_close(DisconnectReason.SERVER_NAMESPACE_DISCONNECT)

    # -- incoming ----------------------------------------------------------------------------

    def _on_packet(self, packet: Packet) -> None:
        kind = packet.type
        if kind == PacketType.EVENT or kind == PacketType.BINARY_EVENT:
            self._on_event(packet.data, packet.id)
        elif kind == PacketType.ACK or kind == PacketType.BINARY_ACK:
            self._on_ack(packet.data, packet.id)
        elif kind == PacketType.DISCONNECT:
            self._on_close(DisconnectReason.CLIENT_NAMESPACE_DISCONNECT)

    def _on_event(self, data: list[Any], ack_id: int | None) -> None:
        nsp = self.nsp
        event = data[0]
        for listener in nsp._any_listeners:
            call_handler(listener[0], listener[1], (self, *data), None)
        entry = nsp.handlers.get(event)
        if entry is not None:
            handler, is_async = entry
            args: tuple[Any, ...] = (self, *data[1:])
        elif nsp._catch_all is not None:
            handler, is_async = nsp._catch_all
            args = (self, *data)
        else:
            return
        if is_async:
            # The usual handler: an async function that returns without suspending. Driven
            # here, it costs no partial and no call through the dispatcher; one that suspends
            # goes on in a task, as call_handler would do.
            try:
                coro = handler(*args)
                waiting = coro.send(None)
            except StopIteration as stop:
                if ack_id is not None:
                    self._send_ack(ack_id, stop.value, None)
                return
            except Exception as exc:
                _log_handler_error(self, exc)
                return
            done = (
                partial(_report_error, self) if ack_id is None else partial(self._send_ack, ack_id)
            )
            continue_in_task(coro, waiting, done)
            return
        server = nsp.server
        if ack_id is None:
            done = partial(_report_error, self)
            server._get_workers().call(handler, args, done, True, server._loop)
        else:
            done = partial(self._send_ack, ack_id)
            server._get_workers().call(handler, args, done, False, server._loop)

    def _on_ack(self, data: list[Any], ack_id: int | None) -> None:
        acks = self._acks
        callback = acks.pop(ack_id, None) if acks and ack_id is not None else None
        if callback is not None:
            callback(*data)

    def _on_close(self, reason: str) -> None:
        if not self.connected:
            return
        nsp = self.nsp
        lifecycle = nsp._lifecycle  # handlers of the namespace's own events, often none
        if lifecycle:
            nsp._call_lifecycle("disconnecting", self, reason)
        if self.pid is not None and reason in RECOVERABLE_REASONS:
            persist = getattr(nsp.adapter, "persist_session", None)
            if persist is not None:
                persist(self.id, self.pid, list(nsp.adapter.socket_rooms(self.id)), self.data)
        nsp.adapter.delete_all(self.id)
        nsp._remove(self)
        self._conn._remove(self)
        self.connected = False
        acks, self._acks = self._acks, None
        if acks:
            for callback in acks.values():
                if isinstance(callback, _AckWaiter):
                    callback.fail(Disconnected())
        if lifecycle:
            nsp._call_lifecycle("disconnect", self, reason)


class _AckWaiter:
    """An acknowledgement awaited by ``emit_with_ack``: resolves its future."""

    __slots__ = ("fut",)

    def __init__(self, fut: asyncio.Future[Any]) -> None:
        self.fut = fut

    def __call__(self, *values: Any) -> None:
        if not self.fut.done():
            self.fut.set_result(ack_value(values))

    def fail(self, exc: BaseException) -> None:
        if not self.fut.done():
            self.fut.set_exception(exc)


def _expire(fut: asyncio.Future[Any]) -> None:
    if not fut.done():
        fut.set_exception(AckTimeout())


def _log_handler_error(socket: Socket, exc: BaseException) -> None:
    if isinstance(exc, ConnectionRefused):
        return
    logger.error("error in a handler of %r", socket, exc_info=exc)


def _report_error(socket: Socket, result: Any, exc: BaseException | None) -> None:
    if exc is not None:
        _log_handler_error(socket, exc)


# (second, its text): the clients that connect within one second share one string.
_last_date: tuple[int, str] = (0, "")


def _date_text(now: float) -> str:
    """``now`` as Node's ``new Date().toString()`` writes it (to the second)."""
    global _last_date
    second = int(now)
    if _last_date[0] != second:
        _last_date = (second, time.strftime("%a %b %d %Y %H:%M:%S GMT%z", time.localtime(now)))
    return _last_date[1]


def new_handshake(
    request: Any,
    auth: dict[str, Any],
    *,
    secure: bool,
    xdomain: bool,
    address: str | None = None,
    now: float | None = None,
) -> Handshake:
    """Build the :class:`Handshake` of a socket from the engine session's first request.

    ``address``: the client's address when known better than the peer's (trusted proxies);
    ``now``: when the socket connected (``time.time()``), by default now.
    """
    if now is None:
        now = time.time()
    client = request.client
    qs = request.query_string
    return Handshake(
        headers=request.headers,
        query=request.query,
        auth=auth,
        address=address if address is not None else (client[0] if client else ""),
        time=_date_text(now),
        issued=int(now * 1000),
        url=request.path + ("?" + qs if qs else ""),
        secure=secure,
        xdomain=xdomain,
    )
