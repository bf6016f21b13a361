"""Namespaces: a set of handlers, middlewares and sockets under one name ("/", "/chat")."""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar, overload

import orjson

from ..engineio.ids import random_id
from ..engineio.io import SharedMessage
from ..exceptions import ConnectionRefused
from ..protocol.socketio import Packet, PacketType, encode_event_text, json_parser
from .broadcast import BroadcastOperator, broadcast_event
from .dispatch import call_handler, is_async_callable, spawn
from .reasons import RESERVED_EVENTS
from .socket import Socket

if TYPE_CHECKING:
    from ..adapters.base import BroadcastOptions
    from .connection import Connection
    from .server import Server

__all__ = ["Namespace", "ParentNamespace"]

logger = logging.getLogger("turbosio.server")

F = TypeVar("F", bound=Callable[..., Any])

#: The lifecycle events a namespace handles itself (not sent by clients as events).
LIFECYCLE = ("connect", "disconnect", "disconnecting")

Handler = tuple[Callable[..., Any], bool]


def _positional_count(func: Callable[..., Any]) -> int:
    """How many positional arguments ``func`` takes (a large number for ``*args``)."""
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):  # pragma: no cover - builtins
        return 99
    count = 0
    for param in sig.parameters.values():
        if param.kind == param.VAR_POSITIONAL:
            return 99
        if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            count += 1
    return count


class Namespace:
    """A communication channel: handlers, middlewares, sockets and rooms under one name.

    Get one with ``sio.of("/chat")``; the main namespace is ``sio.of("/")``.
    """

    def __init__(self, server: Server, name: str, parent: ParentNamespace | None = None) -> None:
        self.server = server
        self.name = name
        self.parser = server.parser
        # The fast text encoders apply to the default JSON parser only.
        self.fast_text = self.parser is json_parser
        if parent is not None:
            # Children of a dynamic namespace share its handlers and middlewares, so handlers
            # added to the parent later apply to every child too.
            self.handlers: dict[Any, Handler] = parent.handlers
            self._lifecycle: dict[str, tuple[Callable[..., Any], bool, int]] = parent._lifecycle
            self._middlewares: list[Handler] = parent._middlewares
            self._any_listeners: list[Handler] = parent._any_listeners
            self._catch_all_box: list[Handler | None] = parent._catch_all_box
            self._server_side: dict[str, Handler] = parent._server_side
        else:
            self.handlers = {}
            self._lifecycle = {}
            self._middlewares = []
            self._any_listeners = []
            self._catch_all_box = [None]
            self._server_side = {}
        self.parent = parent
        self._sockets: dict[str, Socket] = {}
        self._ack_id = 0
        self.adapter: Any = server._adapter_factory(self)

    def __repr__(self) -> str:
        return f"<Namespace {self.name}>"

    @property
    def _catch_all(self) -> Handler | None:
        return self._catch_all_box[0]

    @property
    def sockets(self) -> dict[str, Socket]:
        """Connected sockets of this namespace on this server, by socket id."""
        return self._sockets

    # -- registration ------------------------------------------------------------------------

    @overload
    def on(self, event: str) -> Callable[[F], F]: ...

    @overload
    def on(self, event: str, handler: F) -> F: ...

    def on(self, event: str, handler: Callable[..., Any] | None = None) -> Any:
        """Register ``handler`` for ``event``; usable as a decorator.

        ``connect`` handlers get ``(socket, auth)`` (or just ``socket``) and may raise
        :class:`turbosio.ConnectionRefused` or return ``False`` to refuse; ``disconnect`` and
        ``disconnecting`` handlers get ``(socket, reason)``; ``"*"`` is the catch-all, called
        with ``(socket, event, *args)`` for events that have no handler of their own. Other
        handlers get ``(socket, *args)``; what they return is the acknowledgement.
        """

        def register(func: F) -> F:
            entry = (func, is_async_callable(func))
            if event in LIFECYCLE:
                self._lifecycle[event] = (*entry, _positional_count(func))
            elif event == "*":
                self._catch_all_box[0] = entry
            else:
                self.handlers[event] = entry
            return func

        if handler is not None:
            return register(handler)
        return register

    def event(self, func: F) -> F:
        """Decorator: register ``func`` for the event named like the function."""
        self.on(func.__name__, func)
        return func

    def on_any(self, listener: F) -> F:
        """Call ``listener(socket, event, *args)`` for every incoming event, before its handler
        (Node's ``socket.onAny``); its return value is ignored."""
        self._any_listeners.append((listener, is_async_callable(listener)))
        return listener

    def off_any(self, listener: Callable[..., Any] | None = None) -> None:
        """Remove ``listener`` (every catch-all listener when None)."""
        if listener is None:
            self._any_listeners.clear()
        else:
            self._any_listeners[:] = [e for e in self._any_listeners if e[0] is not listener]

    def use(self, middleware: F) -> F:
        """Add a connection middleware ``middleware(socket, auth)``; raise
        :class:`turbosio.ConnectionRefused` in it to refuse the connection."""
        self._middlewares.append((middleware, is_async_callable(middleware)))
        return middleware

    # -- between servers (with a cluster adapter) -----------------------------------------------

    @overload
    def on_server_side(self, event: str) -> Callable[[F], F]: ...

    @overload
    def on_server_side(self, event: str, handler: F) -> F: ...

    def on_server_side(self, event: str, handler: Callable[..., Any] | None = None) -> Any:
        """Handle ``event`` sent by another server with :meth:`server_side_emit` (Node's
        ``io.on(event)`` for ``serverSideEmit``); usable as a decorator.

        The handler gets the event's arguments; what it returns answers a
        :meth:`server_side_emit_with_ack` (one value per server).
        """

        def register(func: F) -> F:
            self._server_side[event] = (func, is_async_callable(func))
            return func

        return register(handler) if handler is not None else register

    def server_side_emit(self, event: str, *args: Any) -> None:
        """Send ``event`` to the other servers of the cluster (none with the in-memory
        adapter); their :meth:`on_server_side` handlers get ``args`` (JSON values). Safe to
        call from another thread."""
        if event in RESERVED_EVENTS:
            raise ValueError(f'"{event}" is a reserved event name: choose another one')
        if self.server._foreign_thread():
            self.server._call_soon_threadsafe(partial(self.server_side_emit, event, *args))
            return
        emit = getattr(self.adapter, "server_side_emit", None)
        if emit is not None:
            emit([event, *args])

    async def server_side_emit_with_ack(
        self, event: str, *args: Any, timeout: float | None = None
    ) -> list[Any]:
        """Send ``event`` to the other servers and collect one reply from each (``[]`` with
        the in-memory adapter, or when this server is alone).

        Raises :class:`turbosio.AckTimeout`, carrying the replies that came, after
        ``timeout`` seconds (the adapter's request timeout by default, 5 s).
        """
        if event in RESERVED_EVENTS:
            raise ValueError(f'"{event}" is a reserved event name: choose another one')
        emit = getattr(self.adapter, "server_side_emit_with_ack", None)
        if emit is None:
            return []
        replies: list[Any] = await emit([event, *args], timeout)
        return replies

    def _on_server_side_emit(self, data: list[Any], ack: Callable[[Any], None] | None) -> None:
        """An event from another server (called by the adapter)."""
        entry = self._server_side.get(data[0]) if isinstance(data[0], str) else None
        if entry is None:
            return  # as in Node, a request with an ack then times out on the sender's side
        handler, is_async = entry

        def done(result: Any, exc: BaseException | None) -> None:
            if exc is not None:
                logger.error("error in the server-side handler of %r", data[0], exc_info=exc)
            elif ack is not None:
                ack(result)

        call_handler(handler, is_async, tuple(data[1:]), done)

    # -- broadcasting ------------------------------------------------------------------------

    def _operator(self) -> BroadcastOperator:
        return BroadcastOperator(self)

    def emit(self, event: str, *args: Any) -> None:
        """Send ``event`` to every socket of the namespace."""
        broadcast_event(self, event, args)

    def send(self, *args: Any) -> None:
        """Emit a ``"message"`` event to every socket of the namespace."""
        self._operator().emit("message", *args)

    async def emit_with_ack(
        self, event: str, *args: Any, timeout: float | None = None
    ) -> list[Any]:
        """Send ``event`` to every socket and collect their acknowledgements."""
        return await self._operator().emit_with_ack(event, *args, timeout=timeout)

    def to(self, room: str | Iterable[str]) -> BroadcastOperator:
        """The sockets in ``room``."""
        return self._operator().to(room)

    def in_(self, room: str | Iterable[str]) -> BroadcastOperator:
        """Same as :meth:`to`."""
        return self._operator().to(room)

    def except_(self, room: str | Iterable[str]) -> BroadcastOperator:
        """Every socket but those in ``room``."""
        return self._operator().except_(room)

    @property
    def volatile(self) -> BroadcastOperator:
        """A broadcast that may be dropped for clients not ready to receive it."""
        return self._operator().volatile

    @property
    def local(self) -> BroadcastOperator:
        """A broadcast to this server's sockets only."""
        return self._operator().local

    def timeout(self, seconds: float) -> BroadcastOperator:
        """A broadcast whose acknowledgements are awaited at most ``seconds``."""
        return self._operator().timeout(seconds)

    async def fetch_sockets(self) -> list[Any]:
        """Every socket of the namespace."""
        return await self._operator().fetch_sockets()

    def sockets_join(self, room: str | Iterable[str]) -> None:
        """Make every socket join ``room``."""
        self._operator().sockets_join(room)

    def sockets_leave(self, room: str | Iterable[str]) -> None:
        """Make every socket leave ``room``."""
        self._operator().sockets_leave(room)

    def disconnect_sockets(self, close: bool = False) -> None:
        """Disconnect every socket of the namespace."""
        self._operator().disconnect_sockets(close)

    # -- used by adapters and sockets ------------------------------------------------------------

    def _next_ack_id(self) -> int:
        self._ack_id += 1
        return self._ack_id

    def _encode_shared(self, packet: Packet) -> list[SharedMessage]:
        if self.fast_text and packet.type == PacketType.EVENT:
            text = encode_event_text(packet.namespace, packet.data, packet.id)
            if text is not None:
                return [SharedMessage(text)]
        out: list[SharedMessage] = []
        for item in self.parser.encode(packet):
            if isinstance(item, str) and not out:
                out.append(SharedMessage("4" + item))
            else:
                out.append(SharedMessage(item))
        return out

    def _call_lifecycle(self, name: str, socket: Socket, reason: str) -> None:
        entry = self._lifecycle.get(name)
        if entry is None:
            return
        handler, is_async, nargs = entry
        args = (socket, str(reason)) if nargs >= 2 else (socket,)
        call_handler(handler, is_async, args, None)

    def _remove(self, socket: Socket) -> None:
        self._sockets.pop(socket.id, None)
        if self.parent is not None and not self._sockets:
            self.parent._child_empty(self)

    # -- connecting ---------------------------------------------------------------------------

    def _add(self, conn: Connection, auth: Any) -> None:
        """A client asked to connect (CONNECT packet); run middlewares and the connect handler."""
        if not isinstance(auth, dict):
            auth = {}
        socket = Socket(self, conn, auth, random_id())
        if (
            self.server.recovery is None
            and not self._middlewares
            and "connect" not in self._lifecycle
        ):
            # Nothing to run or wait for (the common case of the main namespace): connected
            # at once, without a coroutine.
            try:
                self._register(socket)
            except Exception as exc:
                self._connect_failed(conn, socket, exc)
                return
            self._connected(conn, socket)
            return
        if conn.connecting is None:
            conn.connecting = {}
        conn.connecting[self.name] = socket
        spawn(self._connect(conn, socket, auth))

    async def _connect(self, conn: Connection, socket: Socket, auth: dict[str, Any]) -> None:
        recovery = self.server.recovery
        restored = None
        if recovery is not None:
            restored = await self._restore(auth)
            if restored is not None:
                socket.id = restored.sid
                socket.data = restored.data
                socket.recovered = True
                socket.pid = restored.pid
            else:
                socket.pid = random_id()
        middlewares = self._middlewares
        if restored is not None and recovery is not None and recovery.skip_middlewares:
            middlewares = []
        try:
            for middleware, is_async in middlewares:
                if is_async:
                    await middleware(socket, auth)
                else:
                    await asyncio.get_running_loop().run_in_executor(None, middleware, socket, auth)
                if conn.closed:
                    return
            # Registered before the connect handler, so that what it emits or broadcasts
            # reaches this socket too (held back until the CONNECT reply is out).
            self._register(socket)
            if restored is not None:
                self.adapter.add_all(socket.id, restored.rooms)
                for messages in restored.missed:
                    socket._deliver(messages)
            entry = self._lifecycle.get("connect")
            if entry is not None:
                handler, is_async, nargs = entry
                args = (socket, auth) if nargs >= 2 else (socket,)
                if is_async:
                    result = await handler(*args)
                else:
                    result = await asyncio.get_running_loop().run_in_executor(None, handler, *args)
                if result is False:
                    raise ConnectionRefused("Connection rejected by server")
        except ConnectionRefused as exc:
            self._refuse(conn, socket, exc.message, exc.data)
            return
        except Exception as exc:
            self._connect_failed(conn, socket, exc)
            return
        finally:
            connecting = conn.connecting
            if connecting is not None and connecting.get(self.name) is socket:
                del connecting[self.name]
                if not connecting:
                    conn.connecting = None
        self._connected(conn, socket)

    def _register(self, socket: Socket) -> None:
        socket.connected = True
        self._sockets[socket.id] = socket
        self.adapter.add_all(socket.id, (socket.id,))

    def _connect_failed(self, conn: Connection, socket: Socket, exc: Exception) -> None:
        logger.error("error in the connect handler or a middleware of %s", self.name, exc_info=exc)
        self._refuse(conn, socket, str(exc) or type(exc).__name__, None)

    def _connected(self, conn: Connection, socket: Socket) -> None:
        """Send the CONNECT reply, then what the socket was sent meanwhile."""
        if conn.closed or not socket.connected:
            self._unregister(socket)
            return
        conn._added(socket)
        reply: dict[str, Any] = {"sid": socket.id}
        if socket.pid is not None:
            reply["pid"] = socket.pid
        prefix = "40" if self.name == "/" else f"40{self.name},"
        conn.session.write(prefix + _dumps(reply))
        socket._flush_pending()

    async def _restore(self, auth: dict[str, Any]) -> Any:
        pid, offset = auth.get("pid"), auth.get("offset")
        restore = getattr(self.adapter, "restore_session", None)
        if not isinstance(pid, str) or not isinstance(offset, str) or restore is None:
            return None
        try:
            result = restore(pid, offset)
            if inspect.isawaitable(result):
                result = await result
        except Exception:
            logger.exception("could not restore the session of a reconnecting client")
            return None
        return result

    def _unregister(self, socket: Socket) -> None:
        socket.connected = False
        socket._pending = None
        self._sockets.pop(socket.id, None)
        self.adapter.delete_all(socket.id)

    def _refuse(self, conn: Connection, socket: Socket, message: str, data: Any) -> None:
        self._unregister(socket)
        if conn.closed:
            return
        payload: dict[str, Any] = {"message": message}
        if data is not None:
            payload["data"] = data
        packet = Packet(PacketType.CONNECT_ERROR, self.name, payload)
        for item in self.parser.encode(packet):
            if isinstance(item, str):
                conn.session.write("4" + item)
            else:
                conn.session.write_binary(item)


def _dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()


class ParentNamespace(Namespace):
    """A dynamic namespace: a child namespace is created for each matching name a client
    connects to; the children share the parent's handlers and middlewares."""

    _count = 0

    def __init__(
        self,
        server: Server,
        matcher: re.Pattern[str] | Callable[[str, dict[str, Any]], bool],
    ) -> None:
        ParentNamespace._count += 1
        super().__init__(server, f"/_{ParentNamespace._count}")
        self.matcher = matcher
        self.children: dict[str, Namespace] = {}
        # The adapter made for it by Namespace.__init__ is not needed: a parent has no sockets
        # (a cluster adapter would otherwise stay subscribed for nothing).
        close = getattr(self.adapter, "close", None)
        if close is not None:
            close()
        self.adapter = _ParentAdapter(self)

    def matches(self, name: str, auth: dict[str, Any]) -> bool:
        """True when a client may connect to ``name`` through this parent."""
        if isinstance(self.matcher, re.Pattern):
            return self.matcher.match(name) is not None
        return bool(self.matcher(name, auth))

    def create_child(self, name: str) -> Namespace:
        """The child namespace for ``name`` (created on first use)."""
        child = self.children.get(name)
        if child is None:
            child = self.children[name] = Namespace(self.server, name, parent=self)
            self.server._nsps[name] = child
        return child

    def _child_empty(self, child: Namespace) -> None:
        if self.server.cleanup_empty_child_namespaces:
            self.children.pop(child.name, None)
            if self.server._nsps.get(child.name) is child:
                del self.server._nsps[child.name]
            child.adapter.close()

    @property
    def sockets(self) -> dict[str, Socket]:
        """Sockets of every child namespace."""
        merged: dict[str, Socket] = {}
        for child in self.children.values():
            merged.update(child.sockets)
        return merged

    async def fetch_sockets(self) -> list[Any]:
        """Not available on a parent namespace (as in Node): ask its children."""
        raise RuntimeError("fetch_sockets() is not supported on a dynamic (parent) namespace")


class _ParentAdapter:
    """Fans a parent namespace's broadcasts out to its children."""

    def __init__(self, parent: ParentNamespace) -> None:
        self.parent = parent

    def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        for child in list(self.parent.children.values()):
            child.adapter.broadcast(replace(packet, namespace=child.name), opts)

    def broadcast_with_ack(self, *args: Any) -> None:
        raise RuntimeError("emit_with_ack() is not supported on a dynamic (parent) namespace")

    def add_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        for child in list(self.parent.children.values()):
            child.adapter.add_sockets(opts, rooms)

    def del_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        for child in list(self.parent.children.values()):
            child.adapter.del_sockets(opts, rooms)

    def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None:
        for child in list(self.parent.children.values()):
            child.adapter.disconnect_sockets(opts, close)

    def add_all(self, sid: str, rooms: Iterable[str]) -> None:  # pragma: no cover - no sockets
        raise RuntimeError("a parent namespace has no sockets of its own")

    def close(self) -> None:
        """Nothing to release."""
