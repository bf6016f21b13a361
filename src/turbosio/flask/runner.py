"""Serving a Flask app with its SocketIO: ``socketio.run(app)``, ``await socketio.serve(app)``.

The embedded server serves a :class:`turbosio.wsgi.WSGIMount`: Socket.IO on its path, the
Flask app (routes and static files) on every other path, in the extension's thread pool.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl as _ssl
import threading
from typing import TYPE_CHECKING, Any

import flask

from ..wsgi import WSGIMount
from .options import SSL_OPTIONS, default_port, ssl_context

if TYPE_CHECKING:
    from .extension import SocketIO

__all__ = ["FlaskServerHandle", "bind", "run", "serve"]

logger = logging.getLogger("turbosio.flask")


class FlaskServerHandle:
    """A running server from :meth:`SocketIO.serve`: ``port``, ``url``, ``await close()``."""

    def __init__(self, socketio: SocketIO, listener: Any, host: str, scheme: str) -> None:
        self._socketio = socketio
        self._listener = listener
        self.host = host
        #: The port actually bound (useful with port 0).
        self.port: int = listener.port
        #: ``http://host:port`` (or https).
        self.url = f"{scheme}://{host}:{self.port}"

    async def close(self, timeout: float = 5.0) -> None:
        """Disconnect every client ("server shutting down"; handlers see "server
        disconnect"), then stop listening and close what is left."""
        # The Socket.IO shutdown goes first, while connections are open, so clients are told
        # (the engine refuses new sessions meanwhile); then the listener and the connections.
        await self._socketio.server.shutdown(timeout)
        self._listener.close()
        try:
            await asyncio.wait_for(self._listener.wait_closed(), timeout)
        except asyncio.TimeoutError:  # pragma: no cover - connections that would not close
            logger.warning("some connections did not close within %.1f s", timeout)
        # Handlers still running finish first: after this, nothing calls into the loop.
        executor = self._socketio._release_executor()
        if executor is not None:
            try:
                await asyncio.wait_for(asyncio.to_thread(executor.shutdown, True), timeout)
            except asyncio.TimeoutError:  # pragma: no cover - a handler that never returns
                logger.warning("some handlers were still running after %.1f s", timeout)


def _mount(
    socketio: SocketIO, app: flask.Flask, *, debug: bool = False, access_log: bool = False
) -> WSGIMount:
    wsgi_app: Any = app
    if debug:
        from werkzeug.debug import DebuggedApplication

        wsgi_app = DebuggedApplication(app, evalex=True)
    limit = app.config.get("MAX_CONTENT_LENGTH")
    return WSGIMount(
        socketio.server,
        wsgi_app,
        executor=socketio._get_executor(),
        max_body_size=int(limit) if limit else None,
        access_log=logging.getLogger("turbosio.flask.access") if access_log else None,
    )


def bind(socketio: SocketIO) -> None:
    """Bind the core to the running loop (again, if the loop it had is closed)."""
    server = socketio.server
    loop = asyncio.get_running_loop()
    bound = server._loop
    if bound is not None and bound is not loop:
        if not bound.is_closed():
            raise RuntimeError(
                "this SocketIO already serves on another event loop: use one SocketIO "
                "per server (and a separate one for the test client)"
            )
        server._thread_id = None
    server._bind_loop()


async def serve(
    socketio: SocketIO,
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
    from ..server import serve as serve_app

    flask_app = socketio._app_or_raise(app)
    if debug:
        # Flask hands exceptions to the debugger only in debug mode.
        flask_app.debug = True
    bind(socketio)
    # A message queue's Redis is connected before clients are accepted, so that an unreachable
    # one fails the start (RedisUnavailable) instead of leaving this server alone.
    await socketio.server._start_adapters()
    mount = _mount(socketio, flask_app, debug=debug, access_log=log_output)
    listener = await serve_app(mount, host, port, ssl=ssl)
    mount.server_address = (host, listener.port)
    return FlaskServerHandle(socketio, listener, host, "https" if ssl else "http")


def run(
    socketio: SocketIO,
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
    flask_app = socketio._app_or_raise(app)
    if host is None:
        host = "127.0.0.1"
    if port is None:
        port = default_port(flask_app)
    debug = bool(kwargs.pop("debug", flask_app.debug))
    log_output = bool(kwargs.pop("log_output", debug))
    use_reloader = bool(kwargs.pop("use_reloader", debug))
    reloader_options = dict(kwargs.pop("reloader_options", None) or {})
    extra_files = kwargs.pop("extra_files", None)
    if extra_files:
        reloader_options["extra_files"] = extra_files
    kwargs.pop("allow_unsafe_werkzeug", None)
    ssl_options = {k: kwargs.pop(k) for k in list(kwargs) if k in SSL_OPTIONS}
    if kwargs:
        raise TypeError(f"run() got unexpected keyword argument(s) {', '.join(kwargs)}")
    flask_app.debug = debug
    context = ssl_context(ssl_options)
    _ensure_log_output()

    def main() -> None:
        _run_loop(_main(socketio, flask_app, host, port, context, debug, log_output))

    if use_reloader:
        from werkzeug._reloader import run_with_reloader

        run_with_reloader(main, **reloader_options)
    else:
        main()


async def _main(
    socketio: SocketIO,
    app: flask.Flask,
    host: str,
    port: int,
    context: _ssl.SSLContext | None,
    debug: bool,
    log_output: bool,
) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    main_task = asyncio.current_task()
    installed: list[signal.Signals] = []

    def on_signal() -> None:
        if stop.is_set() and main_task is not None:
            main_task.cancel()  # a second Ctrl-C: stop waiting for the graceful part
        stop.set()

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, on_signal)
                installed.append(sig)
            except (NotImplementedError, RuntimeError):  # pragma: no cover - Windows
                pass

    def stop_soon() -> None:
        loop.call_soon_threadsafe(stop.set)

    socketio._stop = stop_soon
    handle = None
    try:
        handle = await serve(
            socketio, app, host, port, ssl=context, debug=debug, log_output=log_output
        )
        shown = f"[{host}]" if ":" in host else host
        scheme = "https" if context is not None else "http"
        logger.info(
            "turbosio running on %s://%s:%d (Press CTRL+C to quit)", scheme, shown, handle.port
        )
        await stop.wait()
        logger.info("shutting down")
    except asyncio.CancelledError:
        if not stop.is_set():
            raise
    finally:
        socketio._stop = None
        for sig in installed:
            loop.remove_signal_handler(sig)
        if handle is not None:
            await handle.close()


def _ensure_log_output() -> None:
    # Flask prints where it serves; so do we, unless the program configured logging itself.
    root = logging.getLogger()
    turbosio_logger = logging.getLogger("turbosio")
    if not root.handlers and not turbosio_logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        turbosio_logger.addHandler(handler)
        if turbosio_logger.level == logging.NOTSET:
            turbosio_logger.setLevel(logging.INFO)


def _run_loop(main: Any) -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - Windows
        asyncio.run(main)
        return
    uvloop.run(main)
