"""``SocketIO``: the Flask-SocketIO extension object, on turbosio's asyncio core.

How Flask-SocketIO's model is fitted onto the core:

* The core (:class:`turbosio.Server`) runs on one event loop. Each Flask handler is a plain
  function: the core hands its event to an ``async`` wrapper here, which runs the handler in
  this extension's thread pool (``async_handlers=True``, the default) with a Flask app context
  and request context pushed, and its return value becomes the acknowledgement.
* Every socket keeps the WSGI ``environ`` of the HTTP request that opened its connection,
  built once; each event gets a fresh request context over it, with ``request.sid`` (the
  socket's id in its namespace, :attr:`turbosio.Socket.id`), ``request.namespace`` and
  ``request.event``. With ``manage_session`` the Flask session is copied at the connection's
  first event and that copy is shared by its later events (in every namespace).
* Whatever a handler thread asks of the core (emit, join, leave, disconnect) is handed to the
  loop with ``call_soon_threadsafe``, which keeps the order in which one thread asked.
  ``rooms()`` waits for the loop's answer, so it sees the rooms joined just before.
* The Flask app's own routes and static files share the port: :class:`turbosio.wsgi.WSGIMount`
  runs them in the same thread pool.
* ``message_queue="redis://..."`` with an app makes the core's adapter a
  :class:`turbosio.RedisAdapter` keyed by ``channel``; without an app, the ``SocketIO`` only
  publishes, through a :class:`turbosio.Emitter` (Node's emitter format), from any thread.
"""

from __future__ import annotations

import asyncio
import builtins
import concurrent.futures
import contextvars
import inspect
import logging
import re
import ssl as _ssl
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar
from weakref import WeakKeyDictionary, WeakValueDictionary

from flask.ctx import RequestContext
from flask.sessions import SessionMixin

import flask

from ..exceptions import AckTimeout, ConnectionRefused
from ..socketio.remote import RemoteSocket
from ..socketio.server import Server
from ..socketio.socket import Socket
from ..socketio.workers import Workers
from ..wsgi import build_environ
from . import runner
from .options import (
    ASYNC_MODES,
    JsonHook,
    check_options,
    core_options,
    message_queue,
    named_logger,
)
from .runner import FlaskServerHandle

if TYPE_CHECKING:
    from ..emitter import Emitter
    from ..socketio.namespace import Namespace as CoreNamespace
    from .namespace import Namespace
    from .testing import SocketIOTestClient

__all__ = ["ConnectionRefusedError", "FlaskServerHandle", "SocketIO"]

logger = logging.getLogger("turbosio.flask")

F = TypeVar("F", bound=Callable[..., Any])

#: Seconds an ``emit(..., callback=)`` waits for a client connected to another server of the
#: cluster (a local client's acknowledgement is waited for as long as it stays connected).
REMOTE_ACK_TIMEOUT = 60.0

#: The socket whose event the current thread is handling (for callbacks emitted from it).
_current: contextvars.ContextVar[_Client | None] = contextvars.ContextVar(
    "turbosio_flask_client", default=None
)

#: Node's disconnect reasons (what the core reports) -> python-socketio's (what Flask-SocketIO
#: handlers compare with ``SocketIO.reason``).
_REASONS = {
    "client namespace disconnect": "client disconnect",
    "server namespace disconnect": "server disconnect",
    "forced server close": "server disconnect",
    "server shutting down": "server disconnect",
    "forced close": "transport error",
    "parse error": "transport error",
}


class ConnectionRefusedError(ConnectionRefused):
    """Raise it in a ``connect`` handler to refuse the connection (Flask-SocketIO's exception).

    ``ConnectionRefusedError()`` sends ``{"message": "Connection rejected by server"}``;
    ``ConnectionRefusedError("why")`` sends ``{"message": "why"}``; a second argument becomes
    ``data``, and more than two become a list in ``data``. (Python's own
    ``ConnectionRefusedError`` raised there refuses too, with "Connection refused by server".)
    """

    def __init__(self, *args: Any) -> None:
        message = str(args[0]) if args else "Connection rejected by server"
        data = None
        if len(args) == 2:
            data = args[1]
        elif len(args) > 2:
            data = list(args[1:])
        super().__init__(message, data)
        #: The CONNECT_ERROR payload, as python-socketio names it.
        self.error_args: dict[str, Any] = {"message": message}
        if len(args) > 1:
            self.error_args["data"] = data


class _ManagedSession(dict[str, Any], SessionMixin):
    """The connection's own copy of the Flask session (``manage_session=True``)."""


class _EventContext(RequestContext):
    """The request context of one Socket.IO event, over the connection's request."""

    def match_request(self) -> None:
        """Nothing to route: the connection's request is for the Socket.IO path."""


#: What a RequestContext must hold for :func:`_event_context` to clone it (Flask 2.3-3.1).
_CONTEXT_FIELDS = frozenset(("app", "request", "url_adapter", "_after_request_functions"))


class _Conn:
    """What the sockets of one Engine.IO connection share: the environ and the session, and
    a request context built once, which each event clones (see :func:`_event_context`)."""

    __slots__ = ("__weakref__", "environ", "lock", "session", "template")

    def __init__(self, environ: dict[str, Any]) -> None:
        self.environ = environ
        self.session: _ManagedSession | None = None
        self.lock = threading.Lock()
        self.template: dict[str, Any] | None = None


def _event_context(conn: _Conn, app: flask.Flask, session: SessionMixin | None) -> RequestContext:
    """A fresh request context for one event of ``conn``.

    Building one the ordinary way (a Request parsed from the environ, a URL adapter bound,
    the URL matched) costs more than most handlers; the connection's request never changes,
    so the first context is kept as a template and each event gets a shallow copy of it,
    with its own copy of the request (request.sid and request.event are per event). Where
    Flask's RequestContext does not look as expected, contexts are built the ordinary way.
    """
    template = conn.template
    if template is None:
        ctx = _EventContext(app, conn.environ, session=session)
        state = dict(ctx.__dict__)
        if not state.keys() >= _CONTEXT_FIELDS or state.get("_cv_tokens") != []:
            return ctx  # an unknown Flask: no template
        state.pop("_session", None)
        state.pop("session", None)
        # A copy taken before the handler runs: what it sets on its request stays its own.
        request = state["request"] = _clone(ctx.request)
        # The connection's request is a GET without a body, so it has no uploaded files for
        # Werkzeug's Request.close to close when each event's context ends: skip the call.
        request.__dict__["close"] = _nothing_to_close
        conn.template = state
        return ctx
    ctx = _EventContext.__new__(_EventContext)
    state = dict(template)
    state["request"] = _clone(template["request"])
    state["_after_request_functions"] = []
    state["_cv_tokens"] = []
    state[_SESSION_FIELD] = session
    ctx.__dict__.update(state)
    return ctx


def _nothing_to_close() -> None:
    """Stands in for ``Request.close`` on the event contexts' copies of the request."""


def _clone(request: Any) -> Any:
    """A shallow copy of a Werkzeug request (its attributes; the environ is shared)."""
    clone = object.__new__(type(request))
    clone.__dict__.update(request.__dict__)
    return clone


class _Client:
    """One socket (a connection in one namespace), as handler threads see it."""

    __slots__ = ("conn", "namespace", "sid", "socketio")

    def __init__(self, socketio: SocketIO, conn: _Conn, sid: str, namespace: str) -> None:
        self.socketio = socketio
        self.conn = conn
        self.sid = sid
        self.namespace = namespace


def current_client() -> _Client | None:
    """The client whose event the calling thread is handling (None outside handlers)."""
    return _current.get()


def _sender_sid() -> str:
    """``request.sid`` of the event being handled (for ``include_self=False``)."""
    client = _current.get()
    if client is not None:
        return client.sid
    sid: str = flask.request.sid  # type: ignore[attr-defined]
    return sid


class _Reasons:
    """Disconnect reasons given to ``disconnect`` handlers (python-socketio's strings)."""

    #: The server disconnected the client (``disconnect()``, or the server is shutting down).
    SERVER_DISCONNECT = "server disconnect"
    #: The client disconnected.
    CLIENT_DISCONNECT = "client disconnect"
    #: The client stopped answering pings.
    PING_TIMEOUT = "ping timeout"
    #: The connection was closed.
    TRANSPORT_CLOSE = "transport close"
    #: The connection failed (or the client broke the protocol).
    TRANSPORT_ERROR = "transport error"


def _fit(func: Callable[..., Any], args: tuple[Any, ...]) -> tuple[Any, ...]:
    """``args`` cut to what ``func`` takes: ``connect`` handlers may leave out ``auth`` and
    ``disconnect`` handlers ``reason``, as in Flask-SocketIO."""
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):  # pragma: no cover - builtins
        return args
    count = 0
    for param in params:
        if param.kind == param.VAR_POSITIONAL:
            return args
        if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            count += 1
    return args[:count]


def _norm(namespace: str | None) -> str:
    """A namespace name with its leading slash ("*" stays "*")."""
    if not namespace:
        return "/"
    if namespace == "*" or namespace.startswith("/"):
        return namespace
    return "/" + namespace


def _args(args: tuple[Any, ...]) -> list[Any]:
    """Flask-SocketIO's payload rules: one tuple is several arguments, one ``None`` is none."""
    if len(args) == 1:
        only = args[0]
        if isinstance(only, tuple):
            return list(only)
        if only is None:
            return []
    return list(args)


#: Where RequestContext keeps the session: Flask 3.1.3 made ``session`` a read-only
#: property over ``_session``.
_SESSION_FIELD = (
    "_session" if isinstance(getattr(RequestContext, "session", None), property) else "session"
)


def _set_ctx_session(ctx: RequestContext, session: SessionMixin) -> None:
    ctx.__dict__[_SESSION_FIELD] = session


class SocketIO:
    """The Flask-SocketIO API on turbosio: ``SocketIO(app=None, **options)``.

    Options (Flask-SocketIO's names): ``cors_allowed_origins``, ``cors_credentials``,
    ``path`` (or ``resource``), ``ping_interval``, ``ping_timeout``, ``max_http_buffer_size``,
    ``transports``, ``allow_upgrades``, ``cookie``, ``manage_session`` (default True),
    ``message_queue``/``channel`` (a Redis URL and the key of its channels, default
    ``"flask-socketio"``: see :meth:`init_app`), ``logger``,
    ``engineio_logger``, ``serializer`` ("default" or "msgpack"), ``json``,
    ``async_handlers`` (default True: handlers run in a thread pool), ``always_connect``,
    ``namespaces``; ``async_mode``, ``http_compression``, ``compression_threshold`` and
    ``monitor_clients`` are accepted and have no effect. turbosio adds ``thread_pool_size``
    (default 64): the threads that run handlers and the app's HTTP routes. Any other option
    is refused with :class:`TypeError`.
    """

    #: Disconnect reasons as ``disconnect`` handlers receive them.
    reason = _Reasons

    def __init__(self, app: flask.Flask | None = None, **options: Any) -> None:
        self.server: Server = None  # type: ignore[assignment]  # set by init_app
        self.app: flask.Flask | None = None
        self.server_options: dict[str, Any] = {}
        self.manage_session = True
        #: Always "threading": handlers are plain functions run in threads.
        self.async_mode = "threading"
        self.logger: logging.Logger | None = None
        self._handlers: dict[str, dict[str, Callable[..., Any]]] = {}
        self._namespace_handlers: dict[str, Namespace] = {}
        self._exception_handlers: dict[str, Callable[[Exception], Any]] = {}
        self._default_exception_handler: Callable[[Exception], Any] | None = None
        self._async_handlers = True
        self._always_connect = False
        self._json: JsonHook | None = None
        self._accept_all = False
        self._core_nsps: dict[str, CoreNamespace] = {}
        self._clients: WeakKeyDictionary[Socket, _Client] = WeakKeyDictionary()
        self._conns: WeakValueDictionary[str, _Conn] = WeakValueDictionary()
        self._executor: Workers | None = None
        # Core namespace -> whether its event handlers were registered for the thread pool.
        self._core_threaded: dict[str, bool] = {}
        self._executor_lock = threading.Lock()
        self._thread_pool_size = 64
        self._stop: Callable[[], None] | None = None
        #: Set without an app but with a message queue: what this SocketIO publishes through.
        self._emitter: Emitter | None = None
        self._cluster = False
        if app is not None or "message_queue" in options:
            self.init_app(app, **options)
        else:
            check_options(options)
            self.server_options.update(options)

    # -- setup -------------------------------------------------------------------------------------

    def init_app(self, app: flask.Flask | None, **options: Any) -> None:
        """Attach to ``app`` (the app-factory form of ``SocketIO(app)``), with more options.

        With ``message_queue`` (a ``redis://``, ``rediss://`` or ``unix://`` URL) the server
        shares broadcasts and rooms with the other servers on that Redis whose ``channel`` is
        the same (a :class:`turbosio.RedisAdapter` with ``key=channel``). Without an app, the
        SocketIO is an external emitter: ``emit``, ``send``, ``close_room``, ``enter_room``,
        ``leave_room`` and ``disconnect`` are published to the servers, and there is no server.
        """
        check_options(options)
        opts = {**self.server_options, **options}
        queue = message_queue(opts)
        self.server_options = opts
        self._close_emitter()
        self._cluster = queue is not None
        if queue is not None and app is None:
            from ..emitter import Emitter

            self._emitter = Emitter(queue[0], key=queue[1])
            self.server = None  # type: ignore[assignment]  # an emitter, not a server
            self._json = JsonHook(opts["json"], None) if opts.get("json") is not None else None
            return
        if app is not None:
            if not hasattr(app, "extensions"):  # pragma: no cover - very old Flask
                app.extensions = {}
            app.extensions["socketio"] = self
            self.app = app
        self.manage_session = bool(opts.get("manage_session", True))
        self._async_handlers = bool(opts.get("async_handlers", True))
        self._always_connect = bool(opts.get("always_connect", False))
        self._thread_pool_size = int(opts.get("thread_pool_size", 64))
        if opts.get("async_mode") not in ASYNC_MODES:
            raise ValueError(
                f"Invalid async_mode {opts['async_mode']!r}: use one of {ASYNC_MODES[1:]} "
                "(turbosio runs its own server whichever is given)"
            )
        self.logger = named_logger(opts.get("logger"), "turbosio.flask")
        json_module = opts.get("json")
        self._json = JsonHook(json_module, app) if json_module is not None else None
        core = core_options(opts)
        if queue is not None:
            from ..adapters.redis import RedisAdapter

            core["adapter"] = RedisAdapter(queue[0], key=queue[1])
        self.server = Server(**core)
        # Plain-function core handlers (the events, with async_handlers) run in our pool.
        self.server._get_workers = self._get_executor  # type: ignore[method-assign]
        self._core_nsps = {}
        namespaces = opts.get("namespaces")
        self._accept_all = namespaces == "*"
        self._manage("/")
        if self._accept_all:
            self._manage("*")
        elif namespaces:
            for name in namespaces:
                self._manage(name)
        for name in list(self._handlers) + list(self._namespace_handlers):
            self._manage(name)
        self._sync_core()

    # -- registration ------------------------------------------------------------------------------

    def on(self, message: str, namespace: str | None = None) -> Callable[[F], F]:
        """Decorator: ``handler`` handles event ``message`` in ``namespace`` ("/" by default).

        ``"connect"`` handlers take ``auth`` (or nothing) and may return False or raise
        :class:`ConnectionRefusedError`; ``"disconnect"`` handlers take ``reason`` (or
        nothing); ``"*"`` handles every event without a handler of its own (called with the
        event's name first); the namespace ``"*"`` applies to every namespace (the handler
        gets the namespace first). What a handler returns is the acknowledgement.
        """
        namespace = _norm(namespace)

        def decorator(handler: F) -> F:
            if not callable(handler):
                raise ValueError("the handler must be callable")
            self._handlers.setdefault(namespace, {})[message] = handler
            if self.server is not None:
                self._manage(namespace)
                self._sync_core()
            return handler

        return decorator

    def on_event(
        self, message: str, handler: Callable[..., Any], namespace: str | None = None
    ) -> None:
        """Register ``handler`` for ``message`` (the non-decorator form of :meth:`on`)."""
        self.on(message, namespace=namespace)(handler)

    def event(self, *args: Any, **kwargs: Any) -> Any:
        """Decorator: handle the event named like the function (``@socketio.event`` or
        ``@socketio.event(namespace="/chat")``)."""
        if len(args) == 1 and not kwargs and callable(args[0]):
            return self.on(args[0].__name__)(args[0])

        def set_handler(handler: F) -> F:
            return self.on(handler.__name__, *args, **kwargs)(handler)

        return set_handler

    def on_error(self, namespace: str | None = None) -> Callable[[F], F]:
        """Decorator: ``handler(exception)`` handles exceptions raised by the handlers of
        ``namespace``; what it returns is the acknowledgement."""
        namespace = _norm(namespace)

        def decorator(handler: F) -> F:
            if not callable(handler):
                raise ValueError("exception_handler must be callable")
            self._exception_handlers[namespace] = handler
            return handler

        return decorator

    def on_error_default(self, handler: F) -> F:
        """Decorator: the exception handler of namespaces without their own."""
        if not callable(handler):
            raise ValueError("exception_handler must be callable")
        self._default_exception_handler = handler
        return handler

    def on_namespace(self, namespace_handler: Namespace) -> None:
        """Register a class-based :class:`turbosio.flask.Namespace` (its ``on_<event>``
        methods handle the events of its namespace)."""
        from .namespace import Namespace

        if not isinstance(namespace_handler, Namespace):
            raise ValueError("Not a namespace instance.")
        namespace_handler._set_socketio(self)
        self._namespace_handlers[namespace_handler.namespace] = namespace_handler
        if self.server is not None:
            self._manage(namespace_handler.namespace)
            self._sync_core()

    def _manage(self, name: str) -> None:
        """Make ``name`` a core namespace handled here ("*": any namespace)."""
        if name == "*" and not self._accept_all:
            return  # "*" handlers apply to the namespaces that exist; they create none
        if name in self._core_nsps:
            return
        nsp = self.server.of(re.compile(r"^/.*") if name == "*" else name)
        nsp.on("connect", self._core_connect)
        nsp.on("disconnect", self._core_disconnect)
        self._core_nsps[name] = nsp

    def _events_of(self, name: str) -> tuple[set[str], bool]:
        """The events namespace ``name`` has handlers for, and whether it catches all."""
        events: set[str] = set()
        catch_all = False
        for table in (self._handlers.get(name), self._handlers.get("*")):
            if table:
                events.update(table)
                catch_all = catch_all or "*" in table
        ns_handler = self._namespace_handlers.get(name)
        if ns_handler is not None:
            events.update(ns_handler._event_names())
            catch_all = catch_all or ns_handler._catches_all()
        events.difference_update(("connect", "disconnect", "*"))
        return events, catch_all

    def _sync_core(self) -> None:
        """Register in the core every event some handler here can take."""
        for name, nsp in self._core_nsps.items():
            events, catch_all = self._events_of(name)
            # With async_handlers (the default) the core runs these plain functions in the
            # extension's thread pool (``_get_executor``), with no task per event. The test
            # client turns async_handlers off after they are registered: then they are
            # registered again, as coroutines run inline.
            threaded = self._async_handlers
            again = self._core_threaded.get(name) not in (None, threaded)
            self._core_threaded[name] = threaded
            for event in events:
                if again or event not in nsp.handlers:
                    if threaded:
                        nsp.on(event, partial(self._threaded_event, event))
                    else:
                        nsp.on(event, partial(self._core_event, event))
            if catch_all:
                nsp.on("*", self._threaded_catch_all if threaded else self._core_catch_all)

    def _handler_for(
        self, namespace: str, event: str, args: tuple[Any, ...]
    ) -> tuple[Callable[..., Any], tuple[Any, ...]] | None:
        """The handler of ``event`` in ``namespace`` and the arguments it gets."""
        table = self._handlers.get(namespace)
        lifecycle = event in ("connect", "disconnect")
        if table:
            handler = table.get(event)
            if handler is not None:
                return handler, args
            if not lifecycle and "*" in table:
                return table["*"], (event, *args)
        ns_handler = self._namespace_handlers.get(namespace)
        if ns_handler is not None:
            method = ns_handler._handler(event)
            if method is not None:
                return method, args
        table = self._handlers.get("*")
        if table:
            handler = table.get(event)
            if handler is not None:
                return handler, (namespace, *args)
            if not lifecycle and "*" in table:
                return table["*"], (event, namespace, *args)
        return None

    # -- the core's handlers (on the loop) -------------------------------------------------------

    def _attach(self, socket: Socket) -> _Client:
        engine_sid = socket.conn.sid
        conn = self._conns.get(engine_sid)
        if conn is None:
            conn = self._conns[engine_sid] = _Conn(build_environ(socket.conn.request))
            if self.app is not None:
                conn.environ["flask.app"] = self.app
        client = self._clients[socket] = _Client(self, conn, socket.id, socket.namespace)
        return client

    async def _core_connect(self, socket: Socket, auth: Any) -> None:
        client = self._attach(socket)
        found = self._handler_for(socket.namespace, "connect", ())
        if found is None:
            return
        handler, prefix = found
        args = _fit(handler, (*prefix, auth or None))
        if self._always_connect:
            # Accepted first (the CONNECT reply goes out when this returns); the handler runs
            # next, and a False answer disconnects.
            asyncio.get_running_loop().call_soon(self._late_connect, socket, client, handler, args)
            return
        result = await self._dispatch(client, handler, "connect", args)
        if result is False:
            raise ConnectionRefused("Connection rejected by server")

    def _late_connect(
        self, socket: Socket, client: _Client, handler: Callable[..., Any], args: tuple[Any, ...]
    ) -> None:
        async def run() -> Any:
            return await self._dispatch(client, handler, "connect", args)

        def done(result: Any, exc: BaseException | None) -> None:
            if isinstance(exc, ConnectionRefused):
                result = False
            elif exc is not None:
                logger.error("error in the connect handler of %s", client.namespace, exc_info=exc)
                result = False
            if result is False:
                socket.disconnect()

        if not self._async_handlers:
            try:
                done(self._invoke(client, handler, "connect", args), None)
            except Exception as exc:
                done(None, exc)
            return
        task = asyncio.ensure_future(run())
        task.add_done_callback(
            lambda t: done(None, t.exception()) if t.exception() else done(t.result(), None)
        )

    async def _core_disconnect(self, socket: Socket, reason: str) -> None:
        client = self._clients.pop(socket, None)
        if client is None:
            return
        found = self._handler_for(socket.namespace, "disconnect", ())
        if found is None:
            return
        handler, prefix = found
        args = _fit(handler, (*prefix, _REASONS.get(reason, reason)))
        await self._dispatch(client, handler, "disconnect", args)

    def _event_target(
        self, event: str, socket: Socket, args: tuple[Any, ...]
    ) -> tuple[_Client, Callable[..., Any], tuple[Any, ...]] | None:
        """The client, handler and handler arguments of an incoming event (None: no handler)."""
        client = self._clients.get(socket)
        if client is None:
            return None
        if self._json is not None:
            args = self._json.incoming(args)
        found = self._handler_for(client.namespace, event, args)
        if found is None:
            return None
        handler, call_args = found
        if self.logger is not None:
            self.logger.info(
                'received event "%s" from %s [%s]', event, client.sid, client.namespace
            )
        return client, handler, call_args

    async def _core_event(self, event: str, socket: Socket, *args: Any) -> Any:
        target = self._event_target(event, socket, args)
        if target is None:
            return None
        client, handler, call_args = target
        return await self._dispatch(client, handler, event, call_args)

    async def _core_catch_all(self, socket: Socket, event: str, *args: Any) -> Any:
        return await self._core_event(event, socket, *args)

    def _threaded_event(self, event: str, socket: Socket, *args: Any) -> Any:
        """:meth:`_core_event` in a worker thread (async_handlers): the core calls it there."""
        target = self._event_target(event, socket, args)
        if target is None:
            return None
        client, handler, call_args = target
        return self._invoke(client, handler, event, call_args)

    def _threaded_catch_all(self, socket: Socket, event: str, *args: Any) -> Any:
        return self._threaded_event(event, socket, *args)

    async def _dispatch(
        self, client: _Client, handler: Callable[..., Any], event: str, args: tuple[Any, ...]
    ) -> Any:
        if not self._async_handlers:
            return self._invoke(client, handler, event, args)
        return await self._get_executor().run(self._invoke, client, handler, event, args)

    # -- running a handler (in a worker thread) --------------------------------------------------

    def _app_for(self, client: _Client) -> flask.Flask:
        app: flask.Flask | None = client.conn.environ.get("flask.app") or self.app
        if app is None:
            raise RuntimeError("SocketIO has no Flask app: call socketio.init_app(app) first")
        return app

    def _invoke(
        self, client: _Client, handler: Callable[..., Any], event: str | None, args: tuple[Any, ...]
    ) -> Any:
        """Run ``handler(*args)`` in the client's Flask contexts; errors go to on_error."""
        conn = client.conn
        app = self._app_for(client)
        manage = self.manage_session
        ctx = _event_context(conn, app, conn.session if manage else None)
        token = _current.set(client)
        try:
            with ctx:
                if manage and conn.session is None:
                    with conn.lock:
                        if conn.session is None:
                            conn.session = _ManagedSession(ctx.session)
                    _set_ctx_session(ctx, conn.session)
                request: Any = ctx.request
                request.sid = client.sid
                request.namespace = client.namespace
                request.event = {"message": event, "args": args}
                try:
                    result = handler(*args)
                except ConnectionRefused:
                    raise
                except builtins.ConnectionRefusedError:
                    raise ConnectionRefused("Connection refused by server") from None
                except Exception as exc:
                    error_handler = self._exception_handlers.get(
                        client.namespace, self._default_exception_handler
                    )
                    if error_handler is None:
                        raise
                    return error_handler(exc)
                if not manage:
                    session = flask.session._get_current_object()  # type: ignore[attr-defined]
                    if getattr(session, "modified", True):
                        app.session_interface.save_session(app, session, app.response_class())
                return result
        finally:
            _current.reset(token)

    def _get_executor(self) -> Workers:
        executor = self._executor
        if executor is None:
            with self._executor_lock:
                executor = self._executor
                if executor is None:
                    executor = self._executor = Workers(
                        self._thread_pool_size, name="turbosio-flask"
                    )
        return executor

    def _release_executor(self) -> Workers | None:
        """Forget the thread pool (the next handler starts a new one) and return it."""
        with self._executor_lock:
            executor, self._executor = self._executor, None
        return executor

    # -- talking to the loop -----------------------------------------------------------------------

    def _require_server(self) -> Server:
        if self.server is None:
            if self._emitter is not None:
                raise RuntimeError(
                    "this SocketIO(message_queue=...) has no Flask app, so it only publishes "
                    "to the servers: emit, send, close_room, enter_room, leave_room and "
                    "disconnect work; call, rooms and acknowledgement callbacks need a server"
                )
            raise RuntimeError("SocketIO has no Flask app yet: call socketio.init_app(app) first")
        return self.server

    def _close_emitter(self) -> None:
        emitter, self._emitter = self._emitter, None
        if emitter is not None:
            emitter.close()

    def _external(self, namespace: str) -> Emitter:
        """The emitter for ``namespace`` (an external SocketIO: no server)."""
        emitter = self._emitter
        assert emitter is not None
        return emitter if namespace == "/" else emitter.of(namespace)

    def _soon(self, func: Callable[..., Any], *args: Any) -> None:
        """Run ``func(*args)`` on the loop: now when called there, else queued in order."""
        server = self._require_server()
        if server._foreign_thread():
            server._call_soon_threadsafe(partial(func, *args))
        else:
            func(*args)

    def _wait(self, func: Callable[..., Any], *args: Any, timeout: float = 30) -> Any:
        """Run ``func(*args)`` on the loop and return its result (waiting for it)."""
        server = self._require_server()
        if not server._foreign_thread():
            return func(*args)
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(func(*args))
            except BaseException as exc:
                future.set_exception(exc)

        server._call_soon_threadsafe(run)
        return future.result(timeout)

    def _nsp(self, namespace: str | None) -> CoreNamespace | None:
        nsps: dict[str, CoreNamespace] = self._require_server()._nsps
        return nsps.get(_norm(namespace))

    def _socket(self, sid: str, namespace: str | None) -> Socket | None:
        nsp = self._nsp(namespace)
        return nsp.sockets.get(sid) if nsp is not None else None

    # -- emitting ----------------------------------------------------------------------------------

    def emit(self, event: str, *args: Any, **kwargs: Any) -> None:
        """Emit ``event`` to clients, from anywhere (a route, a thread, a handler).

        Keyword arguments: ``namespace`` ("/"), ``to`` (or ``room``: a room, a sid, or a list
        of them; everyone in the namespace when left out), ``include_self`` (False leaves out
        the client whose event is being handled), ``skip_sid`` (a sid or a list of sids to
        leave out), ``callback`` (called with each addressed client's acknowledgement),
        ``ignore_queue`` (True: only this server's clients, not those of the other servers of
        a message queue). A single tuple argument is sent as several arguments.
        """
        namespace = _norm(kwargs.pop("namespace", None))
        to = kwargs.pop("to", None) or kwargs.pop("room", None)
        kwargs.pop("room", None)
        include_self = kwargs.pop("include_self", True)
        skip_sid = kwargs.pop("skip_sid", None)
        callback = kwargs.pop("callback", None)
        local = bool(kwargs.pop("ignore_queue", False))
        if kwargs:
            raise TypeError(f"emit() got unexpected keyword argument(s) {', '.join(kwargs)}")
        self._emit(event, args, namespace, to, include_self, skip_sid, callback, local)

    def _emit(
        self,
        event: str,
        args: tuple[Any, ...],
        namespace: str,
        to: Any,
        include_self: bool,
        skip_sid: Any,
        callback: Callable[..., Any] | None,
        local: bool,
    ) -> None:
        """:meth:`emit` with its options read (``namespace`` normalised)."""
        if not include_self and not skip_sid:
            skip_sid = _sender_sid()
        data = _args(args)
        if self._json is not None:
            data = self._json.outgoing(data)
        if self._emitter is not None:
            if callback is not None:
                raise RuntimeError(
                    "emit(callback=...) needs a server: acknowledgements do not come back over "
                    "the message queue to a SocketIO(message_queue=...) without an app"
                )
            target: Any = self._external(namespace)
            if to is not None:
                target = target.to(to)
            if skip_sid:
                target = target.except_(skip_sid)
            target.emit(event, *data)
            return
        if callback is not None:
            callback = self._wrap_callback(callback)
        self._soon(
            self._emit_now,
            event,
            data,
            namespace,
            to,
            skip_sid,
            callback,
            REMOTE_ACK_TIMEOUT,
            local,
        )

    def _emit_now(
        self,
        event: str,
        data: list[Any],
        namespace: str,
        to: Any,
        skip_sid: Any,
        callback: Callable[..., Any] | None,
        ack_timeout: float = REMOTE_ACK_TIMEOUT,
        local: bool = False,
    ) -> None:
        nsp = self._nsp(namespace)
        if nsp is None:
            return
        if callback is not None and isinstance(to, str) and not skip_sid:
            socket = nsp.sockets.get(to)
            if socket is not None:
                socket.emit(event, *data, callback=callback)
                return
        target: Any = nsp.local if local else nsp
        if to is not None:
            target = target.to(to)
        if skip_sid:
            target = target.except_(skip_sid)
        if callback is None:
            target.emit(event, *data)
            return

        async def each() -> None:
            for socket in await target.fetch_sockets():
                if isinstance(socket, RemoteSocket):
                    # A client of another server: its first value comes back over Redis.
                    ack = _remote_ack(nsp, socket.id, event, data, callback, ack_timeout)
                    asyncio.ensure_future(ack).add_done_callback(_ignore)
                else:
                    socket.emit(event, *data, callback=callback)

        asyncio.ensure_future(each()).add_done_callback(_ignore)

    def _wrap_callback(self, callback: Callable[..., Any]) -> Callable[..., None]:
        """A callback the core calls on the loop: it runs ``callback`` in a thread, in the
        contexts of the client whose handler emitted (when there is one)."""
        client = _current.get()
        invoke = self._invoke

        def run(*args: Any) -> None:
            if client is None:
                job: Callable[[], Any] = partial(callback, *args)
            else:
                job = partial(invoke, client, callback, None, args)
            if not self._async_handlers:
                _log_errors(job)
                return
            self._get_executor().submit(_log_errors, job)

        return run

    def send(
        self,
        data: Any,
        json: bool = False,
        namespace: str | None = None,
        to: Any = None,
        callback: Callable[..., Any] | None = None,
        include_self: bool = True,
        skip_sid: Any = None,
        **kwargs: Any,
    ) -> None:
        """Send a ``"message"`` event (``"json"`` with ``json=True``) from anywhere; the
        keyword arguments are :meth:`emit`'s."""
        if not include_self and not skip_sid:
            skip_sid = _sender_sid()
        to = to or kwargs.pop("room", None)
        self.emit(
            "json" if json else "message",
            data,
            namespace=namespace,
            to=to,
            skip_sid=skip_sid,
            callback=callback,
            **kwargs,
        )

    def call(self, event: str, *args: Any, **kwargs: Any) -> Any:
        """Emit ``event`` to one client (``to=sid``) and wait for its acknowledgement.

        Returns the client's answer (one value, a tuple for several, None for none); raises
        :class:`turbosio.AckTimeout` (a ``TimeoutError``) after ``timeout`` seconds (60).
        Blocks the calling thread: call it from a handler or another thread, not the loop.
        """
        namespace = _norm(kwargs.pop("namespace", None))
        to = kwargs.pop("to", None) or kwargs.pop("room", None) or kwargs.pop("sid", None)
        timeout = kwargs.pop("timeout", 60)
        kwargs.pop("ignore_queue", None)
        if kwargs:
            raise TypeError(f"call() got unexpected keyword argument(s) {', '.join(kwargs)}")
        if to is None:
            raise ValueError("Cannot use call() to broadcast: give to=<sid>.")
        server = self._require_server()
        if not self._async_handlers or not server._foreign_thread():
            raise RuntimeError(
                "call() waits for the client's answer, so it needs a running server and a "
                "thread other than the event loop's (not async_handlers=False, not the test "
                "client): call it from a handler or a background task"
            )
        answered = threading.Event()
        answer: list[tuple[Any, ...]] = []

        def on_ack(*values: Any) -> None:
            answer.append(values)
            answered.set()

        data = _args(args)
        if self._json is not None:
            data = self._json.outgoing(data)
        self._soon(self._emit_now, event, data, namespace, to, None, on_ack, timeout)
        if not answered.wait(timeout):
            raise AckTimeout()
        values = answer[0]
        if not values:
            return None
        return values[0] if len(values) == 1 else values

    # -- rooms and clients -------------------------------------------------------------------------

    def enter_room(self, sid: str, room: str, namespace: str | None = None) -> None:
        """Put client ``sid`` in ``room`` (with a message queue, on whichever server it is)."""
        if self._emitter is not None:
            self._external(_norm(namespace)).in_(sid).sockets_join(room)
            return
        self._soon(self._join_now, sid, room, namespace)

    def _join_now(self, sid: str, room: str, namespace: str | None) -> None:
        socket = self._socket(sid, namespace)
        if socket is not None:
            socket.join(room)
        elif self._cluster:
            self._elsewhere(namespace, sid, "sockets_join", room)

    def leave_room(self, sid: str, room: str, namespace: str | None = None) -> None:
        """Take client ``sid`` out of ``room`` (with a message queue, wherever it is)."""
        if self._emitter is not None:
            self._external(_norm(namespace)).in_(sid).sockets_leave(room)
            return
        self._soon(self._leave_now, sid, room, namespace)

    def _leave_now(self, sid: str, room: str, namespace: str | None) -> None:
        socket = self._socket(sid, namespace)
        if socket is not None:
            socket.leave(room)
        elif self._cluster:
            self._elsewhere(namespace, sid, "sockets_leave", room)

    def _elsewhere(self, namespace: str | None, sid: str, action: str, *args: Any) -> None:
        """Apply ``action`` (a BroadcastOperator method) to socket ``sid``, which is not
        here: the other servers of the cluster act on it if it is theirs."""
        nsp = self._nsp(namespace)
        if nsp is not None:
            getattr(nsp.in_(sid), action)(*args)

    def close_room(self, room: str, namespace: str | None = None) -> None:
        """Take every client out of ``room`` (of every server, with a message queue)."""
        if self._emitter is not None:
            self._external(_norm(namespace)).in_(room).sockets_leave(room)
            return
        self._soon(self._close_room_now, room, namespace)

    def _close_room_now(self, room: str, namespace: str | None) -> None:
        nsp = self._nsp(namespace)
        if nsp is not None:
            nsp.to(room).sockets_leave(room)

    def rooms(self, sid: str, namespace: str | None = None) -> list[str]:
        """The rooms client ``sid`` is in, its own room (its sid) included (a client of
        this server: with a message queue, a client of another server has none here)."""
        return list(self._wait(self._rooms_now, sid, namespace))

    def _rooms_now(self, sid: str, namespace: str | None) -> list[str]:
        socket = self._socket(sid, namespace)
        if socket is None:
            return []
        rooms = socket.rooms
        # The socket's own room first, as python-socketio lists it.
        return [sid, *sorted(r for r in rooms if r != sid)] if sid in rooms else sorted(rooms)

    def disconnect(self, sid: str, namespace: str | None = None) -> None:
        """Disconnect client ``sid`` from ``namespace`` (with a message queue, wherever it
        is connected)."""
        if self._emitter is not None:
            self._external(_norm(namespace)).in_(sid).disconnect_sockets()
            return
        self._soon(self._disconnect_now, sid, namespace)

    def _disconnect_now(self, sid: str, namespace: str | None) -> None:
        socket = self._socket(sid, namespace)
        if socket is not None:
            socket.disconnect()
        elif self._cluster:
            self._elsewhere(namespace, sid, "disconnect_sockets")

    # -- tasks -------------------------------------------------------------------------------------

    def start_background_task(
        self, target: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> threading.Thread:
        """Run ``target(*args, **kwargs)`` in a new daemon thread; returns the thread
        (``join()`` waits for it)."""
        thread = threading.Thread(target=target, args=args, kwargs=kwargs, daemon=True)
        thread.start()
        return thread

    def sleep(self, seconds: float = 0) -> None:
        """Sleep ``seconds`` (``time.sleep``: handlers and background tasks are threads)."""
        time.sleep(seconds)

    # -- serving -----------------------------------------------------------------------------------

    def _app_or_raise(self, app: flask.Flask | None) -> flask.Flask:
        if self.server is None:
            if app is None:
                raise RuntimeError("SocketIO has no Flask app: pass it, or call init_app(app)")
            self.init_app(app)
        elif app is not None and app is not self.app:
            self.app = app
            app.extensions["socketio"] = self
        found = app or self.app
        if found is None:
            raise RuntimeError("SocketIO has no Flask app: pass it, or call init_app(app)")
        return found

    async def serve(
        self,
        app: flask.Flask | None = None,
        host: str = "127.0.0.1",
        port: int = 5000,
        *,
        ssl: _ssl.SSLContext | None = None,
        debug: bool = False,
        log_output: bool = False,
    ) -> FlaskServerHandle:
        """Start serving (Socket.IO and the app's routes) in the running loop; returns a
        handle whose ``await close()`` stops it gracefully. (turbosio's addition, for apps
        that already run an event loop, and for tests: ``port=0`` binds a free port.)"""
        return await runner.serve(
            self, app, host, port, ssl=ssl, debug=debug, log_output=log_output
        )

    def run(
        self,
        app: flask.Flask | None = None,
        host: str | None = None,
        port: int | None = None,
        **kwargs: Any,
    ) -> None:
        """Serve the app and Socket.IO on the embedded server until Ctrl-C (or :meth:`stop`).

        ``host`` defaults to 127.0.0.1; ``port`` to the ``TURBOSIO_PORT`` environment
        variable, else the port of ``SERVER_NAME``, else 5000. Keyword arguments: ``debug``
        (default ``app.debug``: the Werkzeug debugger on the app's routes), ``use_reloader``
        (default ``debug``), ``reloader_options``, ``extra_files``, ``log_output`` (log each
        HTTP request to the app), ``allow_unsafe_werkzeug`` (accepted, nothing to allow:
        this is not Werkzeug's server), and TLS: ``certfile``, ``keyfile``, ``ca_certs``,
        ``cert_reqs``, ``ciphers``, ``ssl_version`` or a ready ``ssl_context``.
        """
        runner.run(self, app, host, port, **kwargs)

    def stop(self) -> None:
        """Stop the server started by :meth:`run` (gracefully: clients are disconnected)."""
        if self._stop is None:
            raise RuntimeError("the server is not running (start it with socketio.run(app))")
        self._stop()

    def asgi(self, app: flask.Flask | None = None, workers: int = 10) -> Any:
        """An ASGI app serving Socket.IO and the Flask app's routes (through a2wsgi, with
        ``workers`` threads): ``uvicorn module:asgi_app``. One process only (``--workers 1``)."""
        from a2wsgi import WSGIMiddleware

        flask_app = self._app_or_raise(app)
        wsgi_app: Any = flask_app
        return self.server.asgi(other_app=WSGIMiddleware(wsgi_app, workers=workers))

    # -- testing -----------------------------------------------------------------------------------

    def test_client(
        self,
        app: flask.Flask,
        namespace: str | None = None,
        query_string: str | None = None,
        headers: dict[str, str] | None = None,
        auth: dict[str, Any] | None = None,
        flask_test_client: Any = None,
    ) -> SocketIOTestClient:
        """An in-process client for tests (Flask-SocketIO's ``test_client``); it connects to
        ``namespace`` at once. As in Flask-SocketIO, handlers then run synchronously (as with
        ``async_handlers=False``), so each call returns once its handlers are done."""
        from .testing import SocketIOTestClient

        return SocketIOTestClient(
            app,
            self,
            namespace=namespace,
            query_string=query_string,
            headers=headers,
            auth=auth,
            flask_test_client=flask_test_client,
        )


async def _remote_ack(
    nsp: CoreNamespace,
    sid: str,
    event: str,
    data: list[Any],
    callback: Callable[..., Any],
    timeout: float,
) -> None:
    """Emit to ``sid`` on another server and give ``callback`` the client's answer (its
    first value: the adapters relay one); no answer in ``timeout`` seconds, no call."""
    try:
        replies = await nsp.to(sid).emit_with_ack(event, *data, timeout=timeout)
    except AckTimeout as exc:
        replies = list(exc.responses or ())
    if replies:
        callback(replies[0])


def _ignore(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("error in a background operation", exc_info=task.exception())


def _log_errors(job: Callable[[], Any]) -> None:
    try:
        job()
    except Exception:
        logger.exception("error in an acknowledgement callback")
