"""``turbosio.AsyncClient``: the asyncio Socket.IO client."""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import ssl as ssl_module
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar, overload
from urllib.parse import parse_qsl, urlsplit

from ..exceptions import Disconnected
from ..protocol.socketio import Parser
from ..socketio.dispatch import call_handler, is_async_callable
from .errors import ConnectError
from .manager import MANAGER_EVENTS, Manager
from .socket import Auth, ClientSocket, Owner, Reply, _Ack, ack_value, reply_args

__all__ = ["AsyncClient"]

logger = logging.getLogger("turbosio.client")

F = TypeVar("F", bound=Callable[..., Any])
#: A registered handler: the function, whether it is async, how many arguments it takes.
Entry = tuple[Callable[..., Any], bool, float]

_SCHEMES = {"http": "http", "https": "https", "ws": "http", "wss": "https"}


def _positional_count(func: Callable[..., Any]) -> float:
    """How many positional arguments ``func`` takes (inf with ``*args``)."""
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature
        return math.inf
    count = 0
    for param in params:
        if param.kind == param.VAR_POSITIONAL:
            return math.inf
        if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            count += 1
    return count


def _namespace(name: str) -> str:
    if not isinstance(name, str):
        raise TypeError(f"a namespace is a str such as '/chat', not {name!r}")
    return name if name.startswith("/") else "/" + name


class AsyncClient(Owner):
    """A Socket.IO client for asyncio: connects to any Socket.IO v5 server (turbosio, Node's
    socket.io 4.x, python-socketio 5.x) over HTTP long-polling and/or WebSocket.

    Reconnection follows the JavaScript client: ``reconnection`` on, unlimited
    ``reconnection_attempts`` (``None``), delays from ``reconnection_delay`` (1 s) doubling up to
    ``reconnection_delay_max`` (5 s), each randomised by ``randomization_factor`` (0.5).
    ``timeout`` bounds each connection attempt (seconds). ``ack_timeout`` is the default
    timeout of ``emit_with_ack`` (``None``: wait as long as the connection lives);
    ``retries`` resends each emit until the server acknowledges it (needs ``ack_timeout``,
    and server handlers that always acknowledge). ``max_buffer`` bounds the emits kept while
    disconnected (``None``: unbounded). ``ssl`` takes an :class:`ssl.SSLContext`;
    ``ssl_verify=False`` accepts any certificate. ``trust_env`` uses the ``HTTP(S)_PROXY``
    environment variables. ``upgrade=False`` stays on polling. ``parser`` is the Socket.IO
    codec (``turbosio.protocol.MsgpackParser()`` for msgpack servers).

    Needs aiohttp: ``pip install 'turbosio[client]'``.
    """

    def __init__(
        self,
        *,
        reconnection: bool = True,
        reconnection_attempts: int | None = None,
        reconnection_delay: float = 1.0,
        reconnection_delay_max: float = 5.0,
        randomization_factor: float = 0.5,
        timeout: float = 20.0,
        ack_timeout: float | None = None,
        retries: int = 0,
        max_buffer: int | None = 1000,
        ssl: ssl_module.SSLContext | None = None,
        ssl_verify: bool = True,
        trust_env: bool = True,
        upgrade: bool = True,
        parser: Parser | None = None,
    ) -> None:
        from .engine import load_aiohttp

        load_aiohttp()  # fail here, with the extra to install, rather than at connect()
        if retries < 0:
            raise ValueError("retries must be 0 or more")
        self.reconnection = reconnection
        self.reconnection_attempts = reconnection_attempts
        self.reconnection_delay = reconnection_delay
        self.reconnection_delay_max = reconnection_delay_max
        self.randomization_factor = randomization_factor
        self.timeout = timeout
        self.ack_timeout = ack_timeout
        self.retries = retries
        self.max_buffer = max_buffer
        self.parser = parser
        self.trust_env = trust_env
        self.upgrade = upgrade
        self._ssl: Any = ssl if ssl is not None else bool(ssl_verify)
        self._handlers: dict[str, dict[str, Entry]] = {}
        self._catch_all: dict[str, Entry] = {}
        self._any: dict[str, list[Entry]] = {}
        self._manager_handlers: dict[str, Entry] = {}
        self._manager: Manager | None = None
        self._namespaces: list[str] = []

    def __repr__(self) -> str:
        state = "connected" if self.connected else "disconnected"
        return f"<{type(self).__name__} {state} {self._namespaces}>"

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.disconnect()

    # -- handlers ----------------------------------------------------------------------------

    @overload
    def on(self, event: str, *, namespace: str = "/") -> Callable[[F], F]: ...

    @overload
    def on(self, event: str, handler: F, namespace: str = "/") -> F: ...

    def on(
        self, event: str, handler: Callable[..., Any] | None = None, namespace: str = "/"
    ) -> Any:
        """Register ``handler`` for ``event`` in ``namespace``; usable as a decorator.

        Event handlers get the event's arguments; what they return is the acknowledgement
        when the server asked for one (a tuple is several arguments). ``"*"`` is the
        catch-all, called as ``(event, *args)`` for events without a handler of their own.
        Lifecycle events: ``connect`` ``()``, ``connect_error`` ``(error)`` (a
        :class:`ConnectError` with the server's ``message`` and ``data``), ``disconnect``
        ``(reason)`` (Node's reason strings: "io server disconnect", "io client disconnect",
        "ping timeout", "transport close", "transport error", "parse error"). Connection-wide
        events, whatever the namespace: ``reconnect_attempt`` ``(attempt)``, ``reconnect``
        ``(attempt)``, ``reconnect_error`` ``(error)``, ``reconnect_failed`` ``()``.
        Handlers may be ``async def`` or plain functions (which run on the event loop: keep
        them short).
        """
        namespace = _namespace(namespace)

        def register(func: F) -> F:
            entry = (func, is_async_callable(func), _positional_count(func))
            if event in MANAGER_EVENTS:
                self._manager_handlers[event] = entry
            elif event == "*":
                self._catch_all[namespace] = entry
            else:
                self._handlers.setdefault(namespace, {})[event] = entry
            return func

        if handler is not None:
            return register(handler)
        return register

    def event(self, func: F) -> F:
        """Decorator: handle the event named like the function, in the main namespace."""
        self.on(func.__name__, func)
        return func

    def on_any(self, listener: F, namespace: str = "/") -> F:
        """Call ``listener(event, *args)`` for every incoming event of ``namespace``, before
        its handler (the JavaScript client's ``onAny``); its return value is ignored."""
        self._any.setdefault(_namespace(namespace), []).append(
            (listener, is_async_callable(listener), math.inf)
        )
        return listener

    def off_any(self, listener: Callable[..., Any] | None = None, namespace: str = "/") -> None:
        """Remove ``listener`` (every catch-all listener of the namespace when None)."""
        listeners = self._any.get(_namespace(namespace), [])
        listeners[:] = [e for e in listeners if listener is not None and e[0] is not listener]

    # -- connecting --------------------------------------------------------------------------

    async def connect(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        auth: Auth = None,
        transports: Sequence[str] | str | None = None,
        namespace: str | None = None,
        namespaces: Sequence[str] | None = None,
        path: str = "/socket.io",
        wait_timeout: float | None = None,
        retry: bool = False,
    ) -> None:
        """Connect to the server at ``url`` and join the namespaces; returns once all of them
        are connected.

        ``url``: ``http(s)://`` or ``ws(s)://``; its query string goes with every request, and
        its path, if any, is the namespace (as in the JavaScript client) unless ``namespace``
        or ``namespaces`` is given (default ``"/"``). ``auth``: the CONNECT payload, a dict or
        a callable returning one (called before each connection, may be async). ``headers``:
        extra HTTP headers. ``transports``: ``["polling", "websocket"]`` (default: polling,
        then upgrade), ``["websocket"]``, or ``["polling"]``. ``path``: the server's path.
        ``wait_timeout``: how long to wait for the namespaces (default: ``timeout``).
        ``retry``: keep trying, with the reconnection delays, when the server cannot be
        reached.

        Raises :class:`ConnectError` (a :class:`ConnectionError`) when the server cannot be
        reached or refuses a namespace, with its ``message`` and ``data``.
        """
        if self._manager is not None and not self._manager.finished.is_set():
            raise RuntimeError("already connected: call disconnect() first")
        if self._manager is not None:
            await self._manager.wait_released()
        parts = urlsplit(url)
        scheme = _SCHEMES.get(parts.scheme.lower())
        if scheme is None or not parts.netloc:
            raise ValueError(f"cannot connect to {url!r}: use http://, https://, ws:// or wss://")
        if namespaces is None:
            if namespace is not None:
                namespaces = [namespace]
            elif parts.path not in ("", "/"):
                namespaces = [parts.path]
            else:
                namespaces = ["/"]
        names = list(dict.fromkeys(_namespace(n) for n in namespaces))
        if not names:
            raise ValueError("no namespace to connect to")
        if isinstance(transports, str):
            transports = [transports]
        if auth is not None and not isinstance(auth, dict) and not callable(auth):
            raise TypeError(f"auth must be a dict or a callable returning one, not {auth!r}")
        trimmed = path.strip("/")
        # The JavaScript client's addTrailingSlash: "/socket.io/".
        endpoint = f"{scheme}://{parts.netloc}/" + (trimmed + "/" if trimmed else "")

        manager = Manager(
            endpoint,
            owner=self,
            emit_manager=self._on_manager_event,
            query=dict(parse_qsl(parts.query)),
            transports=tuple(transports or ("polling", "websocket")),
            headers=headers,
            ssl=self._ssl,
            trust_env=self.trust_env,
            upgrade=self.upgrade,
            reconnection=self.reconnection,
            reconnection_attempts=self.reconnection_attempts,
            reconnection_delay=self.reconnection_delay,
            reconnection_delay_max=self.reconnection_delay_max,
            randomization_factor=self.randomization_factor,
            timeout=self.timeout,
            parser=self.parser,
        )
        self._manager = manager
        self._namespaces = names
        waiters = [
            manager.socket(
                name,
                auth=auth,
                ack_timeout=self.ack_timeout,
                retries=self.retries,
                max_buffer=self.max_buffer,
            ).open()
            for name in names
        ]
        try:
            try:
                await manager.open()
            except ConnectError:
                if not (retry and self.reconnection):
                    raise
                if not await manager.reconnect_loop():
                    raise manager.last_error or ConnectError("could not connect") from None
            limit = self.timeout if wait_timeout is None else wait_timeout
            try:
                await asyncio.wait_for(asyncio.gather(*waiters), limit)
            except asyncio.TimeoutError:
                raise ConnectError(
                    f"timeout: the server did not accept the namespaces within {limit} s"
                ) from None
        except BaseException:
            for sock in manager.nsps.values():
                sock.disconnect()
            manager.close()
            await manager.wait_released()
            raise

    async def disconnect(self) -> None:
        """Leave every namespace and close the connection ("io client disconnect"); stops
        reconnecting. Returns once the connection is closed."""
        manager = self._manager
        if manager is None:
            return
        for sock in list(manager.nsps.values()):
            sock.disconnect()
        manager.close()
        await manager.wait_released()

    async def wait(self) -> None:
        """Wait until the client stops for good: disconnected by us or by the server, or out
        of reconnection attempts. Reconnections happen while it waits."""
        manager = self._manager
        if manager is None:
            return
        await manager.wait_released()

    run_forever = wait

    # -- state -------------------------------------------------------------------------------

    def _sockets(self) -> list[ClientSocket]:
        manager = self._manager
        if manager is None:
            return []
        return [manager.nsps[name] for name in self._namespaces if name in manager.nsps]

    @property
    def connected(self) -> bool:
        """Whether every namespace of the last ``connect()`` is connected."""
        socks = self._sockets()
        return bool(socks) and all(sock.connected for sock in socks)

    @property
    def id(self) -> str | None:
        """The socket id of the first namespace (``None`` while disconnected)."""
        socks = self._sockets()
        return socks[0].id if socks else None

    def get_sid(self, namespace: str = "/") -> str | None:
        """The socket id in ``namespace`` (``None`` while disconnected)."""
        manager = self._manager
        sock = manager.nsps.get(_namespace(namespace)) if manager is not None else None
        return sock.id if sock is not None else None

    @property
    def namespaces(self) -> list[str]:
        """The namespaces connected now."""
        return [sock.namespace for sock in self._sockets() if sock.connected]

    @property
    def recovered(self) -> bool:
        """Whether the last reconnection of the first namespace restored its session
        (connection state recovery, when the server offers it)."""
        socks = self._sockets()
        return bool(socks) and socks[0].recovered

    @property
    def transport(self) -> str | None:
        """``"polling"`` or ``"websocket"`` (``None`` while disconnected)."""
        manager = self._manager
        engine = manager.engine if manager is not None else None
        return engine.transport if engine is not None else None

    @property
    def sid(self) -> str | None:
        """The Engine.IO session id of the connection (not a socket id)."""
        manager = self._manager
        engine = manager.engine if manager is not None else None
        return engine.sid if engine is not None else None

    # -- emitting ----------------------------------------------------------------------------

    def _socket(self, namespace: str | None) -> ClientSocket:
        manager = self._manager
        if manager is None:
            raise RuntimeError("not connected: call connect() first")
        name = self._namespaces[0] if namespace is None else _namespace(namespace)
        sock = manager.nsps.get(name)
        if sock is None:
            raise ValueError(f"not connected to namespace {name}: pass it to connect()")
        if not sock.active or manager.finished.is_set():
            raise Disconnected(f"disconnected from {name}: call connect() again")
        return sock

    def emit(
        self,
        event: str,
        *args: Any,
        namespace: str | None = None,
        callback: Callable[..., Any] | None = None,
    ) -> None:
        """Send ``event`` with ``args``; never blocks. While disconnected the packet waits for
        the reconnection (at most ``max_buffer`` of them, else :class:`BufferFull`).
        ``callback(*ack_args)`` is called with the server's acknowledgement, if it sends one.
        """
        ack = None
        if callback is not None:
            cb = callback
            ack = _Ack(lambda err, ack_args: None if err else cb(*ack_args), with_error=False)
        self._socket(namespace).emit(event, list(args), ack=ack)

    def send(self, *args: Any, namespace: str | None = None) -> None:
        """Emit a ``"message"`` event."""
        self.emit("message", *args, namespace=namespace)

    async def emit_with_ack(
        self, event: str, *args: Any, namespace: str | None = None, timeout: float | None = None
    ) -> Any:
        """Send ``event`` and wait for the server's acknowledgement: ``None`` for none, the
        value for one, a tuple for several. Raises :class:`~turbosio.AckTimeout` after
        ``timeout`` seconds (default ``ack_timeout``) and :class:`~turbosio.Disconnected` when
        the connection is lost after the packet was sent."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def done(err: BaseException | None, ack_args: list[Any]) -> None:
            if future.done():
                return
            if err is not None:
                future.set_exception(err)
            else:
                future.set_result(ack_value(ack_args))

        self._socket(namespace).emit(
            event, list(args), ack=_Ack(done, with_error=True), timeout=timeout
        )
        return await future

    call = emit_with_ack

    @property
    def volatile(self) -> VolatileEmitter:
        """``client.volatile.emit(...)``: dropped instead of buffered when the packet cannot
        go out at once (disconnected, or a polling request in flight)."""
        return VolatileEmitter(self)

    # -- dispatch (called by the namespaces and the manager) ----------------------------------

    def _run(self, entry: Entry, args: tuple[Any, ...], done: Callable[[Any, Any], None]) -> None:
        """Run a handler; ``done(result, exception)`` follows. Overridden by the sync client."""
        func, is_async, _ = entry
        if is_async:
            call_handler(func, True, args, done)
            return
        try:
            result = func(*args)
        except Exception as exc:
            done(None, exc)
            return
        done(result, None)

    def _on_event(
        self, socket: ClientSocket, event: Any, args: list[Any], reply: Reply | None
    ) -> None:
        namespace = socket.namespace
        for listener in self._any.get(namespace, ()):
            self._run(listener, (event, *args), _log_failure)
        entry = self._handlers.get(namespace, {}).get(event) if isinstance(event, str) else None
        call_args: tuple[Any, ...] = tuple(args)
        if entry is None:
            entry = self._catch_all.get(namespace)
            if entry is None:
                return
            call_args = (event, *args)

        def done(result: Any, exc: BaseException | None) -> None:
            if exc is not None:
                logger.error("error in the handler of %r", event, exc_info=exc)
            elif reply is not None:
                reply(reply_args(result))

        self._run(entry, call_args, done)

    def _on_lifecycle(self, socket: ClientSocket, event: str, arg: Any) -> None:
        entry = self._handlers.get(socket.namespace, {}).get(event)
        if entry is None:
            if event == "connect_error":
                logger.debug("connect_error on %s: %s", socket.namespace, arg)
            return
        args: tuple[Any, ...] = () if event == "connect" or entry[2] < 1 else (arg,)
        self._run(entry, args, _log_failure)

    def _on_manager_event(self, event: str, *args: Any) -> None:
        entry = self._manager_handlers.get(event)
        if entry is not None:
            self._run(entry, args[: int(min(len(args), entry[2]))], _log_failure)


class VolatileEmitter:
    """``client.volatile``: emits that are dropped rather than buffered."""

    __slots__ = ("_client",)

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    def emit(self, event: str, *args: Any, namespace: str | None = None) -> None:
        """Send ``event`` if the transport can take it now; drop it otherwise."""
        self._client._socket(namespace).emit(event, list(args), volatile=True)


def _log_failure(result: Any, exc: BaseException | None) -> None:
    if exc is not None:
        logger.error("error in a client handler", exc_info=exc)
