"""``turbosio.Server``: the Socket.IO server and its entry points (embedded server, ASGI)."""

from __future__ import annotations

import asyncio
import logging
import mimetypes
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any, TypeVar, overload

from ..adapters.memory import InMemoryAdapter
from ..adapters.recovery import SessionAwareAdapter
from ..engineio import Engine
from ..engineio.io import EngineSession, Request, WebSocketRequest
from ..protocol.socketio import json_parser
from ..server.limits import DEFAULT_HIGH_WATER, DEFAULT_MAX_OUTBOUND, Limits
from .broadcast import BroadcastOperator
from .client_files import ClientFiles, find_client_dir
from .connection import Connection, JoinDeadlines
from .namespace import Namespace, ParentNamespace
from .proxies import TrustedProxies
from .reasons import DisconnectReason
from .recovery import Recovery
from .workers import Workers

__all__ = ["Server", "ServerHandle"]

logger = logging.getLogger("turbosio.server")

F = TypeVar("F", bound=Callable[..., Any])


class ServerHandle:
    """A running embedded server (from :meth:`Server.serve`)."""

    def __init__(self, sio: Server, listener: Any, host: str, port: int, scheme: str) -> None:
        self._sio = sio
        self._listener = listener
        self.host = host
        #: The port actually bound (useful with port 0).
        self.port = port
        #: ``http://host:port`` (or https).
        self.url = f"{scheme}://{host}:{port}"

    async def close(self, timeout: float = 5.0) -> None:
        """Stop accepting, disconnect every client ("server shutting down"), stop serving."""
        self._listener.close()
        await self._sio.shutdown(timeout)
        try:
            await asyncio.wait_for(self._listener.wait_closed(), timeout)
        except asyncio.TimeoutError:  # pragma: no cover - connections that would not close
            logger.warning("some connections did not close within %.1f s", timeout)


class Server:
    """A Socket.IO server.

    ``cors_allowed_origins``: ``None`` accepts browsers of the same origin only, ``"*"`` any
    origin, or a list of origins (or a callable ``origin -> bool``). ``ping_interval`` and
    ``ping_timeout`` are in seconds. ``max_http_buffer_size`` bounds one message (and one polling
    POST) in bytes. ``adapter`` creates each namespace's adapter (in-memory by default).
    ``connect_timeout``: seconds a client may stay connected without joining a namespace.
    ``connection_state_recovery``: a :class:`turbosio.Recovery` to let clients that drop for a
    moment get their session and missed events back (off by default, as in Node).
    ``static_files`` maps URL paths to files (``{"/": "index.html"}``) or, for a path ending in
    ``/``, to a directory. ``serve_client`` (Node's ``serveClient``) answers
    ``<path>/socket.io.js`` and the other client builds from an installed npm socket.io-client,
    found in ``client_dir``, ``$TURBOSIO_CLIENT_DIR`` or ``node_modules`` from the working
    directory upward (see :mod:`turbosio.socketio.client_files`); 404 when there is none.
    ``trusted_proxies``: addresses or networks (or ``"*"``) of reverse proxies whose
    ``X-Forwarded-For``/``X-Forwarded-Proto`` give ``socket.handshake.address``/``secure``
    (see :mod:`turbosio.socketio.proxies`). ``outbound_high_water`` and
    ``max_outbound_buffer`` (bytes) bound what waits for one client: past the first, volatile
    packets are dropped; past the second, the client is disconnected ("transport error").
    """

    def __init__(
        self,
        cors_allowed_origins: str | Sequence[str] | Callable[[str], bool] | None = None,
        ping_interval: float = 25,
        ping_timeout: float = 20,
        max_http_buffer_size: int = 1_000_000,
        transports: Sequence[str] = ("polling", "websocket"),
        path: str = "/socket.io",
        adapter: Callable[[Any], Any] | None = None,
        *,
        connect_timeout: float | None = 45,
        connection_state_recovery: Recovery | None = None,
        max_attachments: int = 10,
        parser: Any = None,
        allow_request: Callable[[Request], Any] | None = None,
        cors_credentials: bool = True,
        allow_upgrades: bool = True,
        upgrade_timeout: float = 10,
        cookie: bool | dict[str, Any] | None = None,
        static_files: Mapping[str, str | Path] | None = None,
        cleanup_empty_child_namespaces: bool = False,
        logger: logging.Logger | None = None,
        serve_client: bool = True,
        client_dir: str | Path | None = None,
        trusted_proxies: str | Sequence[str] | None = None,
        outbound_high_water: int = DEFAULT_HIGH_WATER,
        max_outbound_buffer: int = DEFAULT_MAX_OUTBOUND,
    ) -> None:
        for name in transports:
            if name not in ("polling", "websocket"):
                raise ValueError(f'unknown transport "{name}": use "polling" and/or "websocket"')
        self.path = "/" + path.strip("/")
        # What the path's own requests start with ("/socket.io/?EIO=4..."), made once.
        self._prefix = self.path + "/"
        self.parser = parser if parser is not None else json_parser
        self.max_attachments = max_attachments
        self.connect_timeout = connect_timeout
        self.max_http_buffer_size = max_http_buffer_size
        #: The largest request body the front ends accept (``max_http_buffer_size``).
        self.max_body_size = max_http_buffer_size
        #: Read by the embedded server and the ASGI app: the outbound buffer's high-water mark
        #: and hard limit.
        self.outbound_high_water = outbound_high_water
        self.max_outbound_buffer = max_outbound_buffer
        #: Whose X-Forwarded-For to believe for ``socket.handshake.address``.
        self.trusted_proxies = TrustedProxies(trusted_proxies)
        self.cleanup_empty_child_namespaces = cleanup_empty_child_namespaces
        #: Connection state recovery settings, or None when it is off.
        self.recovery = connection_state_recovery
        if adapter is None and connection_state_recovery is not None:
            adapter = partial(
                SessionAwareAdapter,
                max_disconnection_duration=connection_state_recovery.max_disconnection_duration,
                max_packets=connection_state_recovery.max_packets,
            )
        self._adapter_factory: Callable[[Any], Any] = adapter or InMemoryAdapter
        self.engine = Engine(
            self,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            max_http_buffer_size=max_http_buffer_size,
            transports=tuple(transports),
            cors_allowed_origins=cors_allowed_origins,
            cors_credentials=cors_credentials,
            allow_upgrades=allow_upgrades,
            upgrade_timeout=upgrade_timeout,
            allow_request=allow_request,
            cookie=cookie,
            logger=logger,
            max_outbound_buffer=max_outbound_buffer,
        )
        self._nsps: dict[str, Namespace] = {}
        self._parents: list[ParentNamespace] = []
        self._static = {k: Path(v) for k, v in (static_files or {}).items()}
        self._client_files = ClientFiles(find_client_dir(client_dir)) if serve_client else None
        self._thread_id: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        #: The connections that have not joined a namespace yet (``connect_timeout``).
        self._joins = JoinDeadlines()
        self._workers: Workers | None = None
        self.of("/")

    # -- namespaces and handlers --------------------------------------------------------------

    def of(self, name: str | re.Pattern[str] | Callable[[str, dict[str, Any]], bool]) -> Namespace:
        """The namespace ``name`` (created on first use).

        A compiled regular expression or a callable ``(name, auth) -> bool`` makes a dynamic
        namespace: clients may connect to any name it matches.
        """
        if isinstance(name, str):
            if not name.startswith("/"):
                name = "/" + name
            nsp = self._nsps.get(name)
            if nsp is None:
                nsp = self._nsps[name] = Namespace(self, name)
            return nsp
        parent = ParentNamespace(self, name)
        self._parents.append(parent)
        return parent

    def _dynamic_namespace(self, name: str, auth: dict[str, Any]) -> Namespace | None:
        for parent in self._parents:
            try:
                if parent.matches(name, auth):
                    return parent.create_child(name)
            except Exception:
                logger.exception("error in the namespace matcher of %r", parent)
        return None

    @property
    def sockets(self) -> Namespace:
        """The main namespace (Node's ``io.sockets``)."""
        return self._nsps["/"]

    @overload
    def on(self, event: str, *, namespace: str = "/") -> Callable[[F], F]: ...

    @overload
    def on(self, event: str, handler: F, namespace: str = "/") -> F: ...

    def on(
        self, event: str, handler: Callable[..., Any] | None = None, namespace: str = "/"
    ) -> Any:
        """Register a handler for ``event`` in ``namespace``; usable as a decorator.

        See :meth:`Namespace.on` for what each kind of handler receives.
        """
        nsp = self.of(namespace)
        return nsp.on(event) if handler is None else nsp.on(event, handler)

    def event(self, func: F) -> F:
        """Decorator: handle the event named like the function, in the main namespace."""
        return self.of("/").event(func)

    def on_any(self, listener: F) -> F:
        """Listen to every incoming event of the main namespace (Node's ``onAny``)."""
        return self.of("/").on_any(listener)

    def use(self, middleware: F) -> F:
        """Add a connection middleware ``(socket, auth)`` to the main namespace."""
        return self.of("/").use(middleware)

    # -- broadcasting (main namespace) ----------------------------------------------------------

    def emit(self, event: str, *args: Any) -> None:
        """Send ``event`` to every client of the main namespace."""
        self.sockets.emit(event, *args)

    def send(self, *args: Any) -> None:
        """Emit a ``"message"`` event to every client of the main namespace."""
        self.sockets.send(*args)

    async def emit_with_ack(
        self, event: str, *args: Any, timeout: float | None = None
    ) -> list[Any]:
        """Send ``event`` to every client and collect their acknowledgements."""
        return await self.sockets.emit_with_ack(event, *args, timeout=timeout)

    def to(self, room: str | Iterable[str]) -> BroadcastOperator:
        """The clients of the main namespace in ``room``."""
        return self.sockets.to(room)

    def in_(self, room: str | Iterable[str]) -> BroadcastOperator:
        """Same as :meth:`to`."""
        return self.sockets.to(room)

    def except_(self, room: str | Iterable[str]) -> BroadcastOperator:
        """Every client of the main namespace but those in ``room``."""
        return self.sockets.except_(room)

    @property
    def volatile(self) -> BroadcastOperator:
        """A broadcast that may be dropped for clients not ready to receive it."""
        return self.sockets.volatile

    @property
    def local(self) -> BroadcastOperator:
        """A broadcast to this server's clients only."""
        return self.sockets.local

    def timeout(self, seconds: float) -> BroadcastOperator:
        """A broadcast whose acknowledgements are awaited at most ``seconds``."""
        return self.sockets.timeout(seconds)

    async def fetch_sockets(self) -> list[Any]:
        """Every socket of the main namespace."""
        return await self.sockets.fetch_sockets()

    def sockets_join(self, room: str | Iterable[str]) -> None:
        """Make every socket of the main namespace join ``room``."""
        self.sockets.sockets_join(room)

    def sockets_leave(self, room: str | Iterable[str]) -> None:
        """Make every socket of the main namespace leave ``room``."""
        self.sockets.sockets_leave(room)

    def disconnect_sockets(self, close: bool = False) -> None:
        """Disconnect every socket of the main namespace."""
        self.sockets.disconnect_sockets(close)

    # -- between servers (cluster adapters) ------------------------------------------------------

    def on_server_side(
        self, event: str, handler: Callable[..., Any] | None = None, namespace: str = "/"
    ) -> Any:
        """Handle ``event`` from :meth:`server_side_emit` on other servers; a decorator too.

        See :meth:`Namespace.on_server_side`.
        """
        nsp = self.of(namespace)
        return nsp.on_server_side(event) if handler is None else nsp.on_server_side(event, handler)

    def server_side_emit(self, event: str, *args: Any) -> None:
        """Send ``event`` to the other servers of the cluster (main namespace)."""
        self.sockets.server_side_emit(event, *args)

    async def server_side_emit_with_ack(
        self, event: str, *args: Any, timeout: float | None = None
    ) -> list[Any]:
        """Send ``event`` to the other servers and collect one reply from each."""
        return await self.sockets.server_side_emit_with_ack(event, *args, timeout=timeout)

    async def _start_adapters(self) -> None:
        # Cluster adapters connect here, so that a server that cannot reach Redis fails to
        # start with a clear error rather than running alone.
        for nsp in list(self._nsps.values()):
            init = getattr(nsp.adapter, "init", None)
            if init is not None:
                await init()

    # -- threads ---------------------------------------------------------------------------------

    def _bind_loop(self) -> None:
        loop = self._loop
        if self._thread_id is None or loop is None or not loop.is_running():
            # First use, or served again on a new loop (the old one stopped).
            self._loop = asyncio.get_running_loop()
            self._thread_id = threading.get_ident()

    def _get_workers(self) -> Workers:
        """The threads that run plain ``def`` event handlers (started on first use; the Flask
        extension puts its own pool here)."""
        workers = self._workers
        if workers is None:
            workers = self._workers = Workers(name="turbosio-handler")
        return workers

    def _foreign_thread(self) -> bool:
        return self._thread_id is not None and threading.get_ident() != self._thread_id

    def _call_soon_threadsafe(self, callback: Callable[[], Any]) -> None:
        assert self._loop is not None
        # Through the handler threads' queue back to the loop: in order with their results,
        # and one wake-up of the loop for a whole batch.
        self._get_workers().post(callback, self._loop)

    # -- the engine's handler (io.EngineHandler) -------------------------------------------------

    def engine_open(self, session: EngineSession) -> None:
        """A new Engine.IO session: give it its Socket.IO state."""
        session.context = Connection(self, session)

    def engine_message(self, session: EngineSession, data: str | bytes) -> None:
        """A message from a client."""
        conn = session.context
        assert isinstance(conn, Connection)
        conn.on_data(data)

    def engine_close(self, session: EngineSession, reason: str) -> None:
        """A session closed."""
        conn = session.context
        if isinstance(conn, Connection):
            # The session no longer refers back to its connection, so a closed connection is
            # freed at once rather than left for the cyclic garbage collector.
            session.context = None
            conn.on_close(reason)

    # -- the app served by the front ends (server.App) -------------------------------------------

    def owns(self, path: str) -> bool:
        """True for paths this server answers itself (the Socket.IO path, static files)."""
        if path.startswith(self._prefix) or path == self.path:
            return True
        return self._static_target(path) is not None

    def handle_request(self, request: Request) -> None:
        """Answer an HTTP request (front-end entry point)."""
        loop = self._loop
        if loop is None or not loop.is_running():
            self._bind_loop()
        path = request.path
        if path.startswith(self._prefix) or path == self.path:
            # Engine.IO's own requests come to the path itself (no file name): no lookup.
            filename = path[len(self._prefix) :]
            client_files = self._client_files
            if not filename or client_files is None or not client_files.handles(request, filename):
                self.engine.handle_request(request)
            return
        target = self._static_target(path)
        if target is None or request.method not in ("GET", "HEAD"):
            request.respond(404, [("Content-Type", "text/plain")], b"Not Found")
            return
        try:
            body = target.read_bytes()
        except OSError:
            request.respond(404, [("Content-Type", "text/plain")], b"Not Found")
            return
        ctype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if ctype.startswith("text/") or ctype in ("application/javascript", "application/json"):
            ctype += "; charset=utf-8"
        request.respond(200, [("Content-Type", ctype)], b"" if request.method == "HEAD" else body)

    def handle_websocket(self, request: WebSocketRequest) -> None:
        """Answer a WebSocket upgrade request (front-end entry point)."""
        loop = self._loop
        if loop is None or not loop.is_running():
            self._bind_loop()
        path = request.path
        if path.startswith(self._prefix) or path == self.path:
            self.engine.handle_websocket(request)
        else:
            request.reject(404, [("Content-Type", "text/plain")], b"Not Found")

    def _static_target(self, path: str) -> Path | None:
        if not self._static:
            return None
        exact = self._static.get(path)
        if exact is not None and not path.endswith("/"):
            return exact
        if exact is not None and exact.is_file():
            return exact
        for prefix, root in self._static.items():
            if prefix.endswith("/") and path.startswith(prefix) and root.is_dir():
                rel = path[len(prefix) :] or "index.html"
                candidate = (root / rel).resolve()
                if candidate.is_relative_to(root.resolve()) and candidate.is_file():
                    return candidate
        return None

    # -- running -----------------------------------------------------------------------------

    async def serve(
        self,
        host: str = "127.0.0.1",
        port: int = 5000,
        *,
        ssl: Any = None,
        ssl_certfile: str | Path | None = None,
        ssl_keyfile: str | Path | None = None,
        limits: Limits | None = None,
    ) -> ServerHandle:
        """Start the embedded server in the running loop and return its handle.

        ``await handle.close()`` stops it gracefully. For a blocking call, see :meth:`run`;
        the TLS and ``limits`` options are the same.
        """
        from ..server import serve

        ssl = _tls(ssl, ssl_certfile, ssl_keyfile)
        self._bind_loop()
        await self._start_adapters()
        listener = await serve(self, host, port, ssl=ssl, limits=limits)
        return ServerHandle(self, listener, host, listener.port, "https" if ssl else "http")

    def run(
        self,
        host: str = "127.0.0.1",
        port: int = 5000,
        *,
        ssl: Any = None,
        shutdown_timeout: float = 5.0,
        ssl_certfile: str | Path | None = None,
        ssl_keyfile: str | Path | None = None,
        limits: Limits | None = None,
    ) -> None:
        """Serve on ``host:port`` until Ctrl-C or SIGTERM, then shut down gracefully.

        HTTPS: ``ssl_certfile`` (PEM certificate with its chain) and ``ssl_keyfile`` (its
        private key), or a ready ``ssl.SSLContext`` as ``ssl``. ``limits``: the embedded
        server's timeouts and connection limit (:class:`turbosio.server.Limits`).
        """
        from ..server import run

        ssl = _tls(ssl, ssl_certfile, ssl_keyfile)

        async def on_startup() -> None:
            self._bind_loop()
            await self._start_adapters()

        async def on_shutdown() -> None:
            await self.shutdown(shutdown_timeout)

        run(
            self,
            host,
            port,
            ssl=ssl,
            on_startup=on_startup,
            on_shutdown=on_shutdown,
            limits=limits,
        )

    def asgi(self, other_app: Any = None) -> Any:
        """An ASGI app serving this server (and ``other_app`` for every other path)."""
        from ..asgi import ASGIApp

        return ASGIApp(self, other_app)

    async def shutdown(self, timeout: float = 5.0) -> None:
        """Disconnect every client with "server shutting down" and close their sessions.

        Clients see the connection close (not a namespace disconnect), so the JS client
        reconnects, to another server if there is one. Polling clients get ``timeout`` seconds
        to fetch their last payload; new connections are refused meanwhile.
        """
        reason = DisconnectReason.SERVER_SHUTTING_DOWN.value
        for session in list(self.engine.sessions.values()):
            conn = session.context
            if isinstance(conn, Connection):
                conn.on_close(reason)
        await self.engine.shutdown(reason, timeout)
        for nsp in list(self._nsps.values()):
            aclose = getattr(nsp.adapter, "aclose", None)
            close = getattr(nsp.adapter, "close", None)
            if aclose is not None:
                await aclose()
            elif close is not None:
                close()


def _tls(ssl: Any, certfile: str | Path | None, keyfile: str | Path | None) -> Any:
    if certfile is None:
        if keyfile is not None:
            raise ValueError("ssl_keyfile needs ssl_certfile (the certificate)")
        return ssl
    if ssl is not None:
        raise ValueError("give either ssl (an SSLContext) or ssl_certfile/ssl_keyfile, not both")
    from ..server import ssl_context

    return ssl_context(certfile, keyfile)
