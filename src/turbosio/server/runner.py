"""Start and stop the embedded server: :func:`serve` inside a running loop, :func:`run` as a
program's main call (uvloop, signals, graceful shutdown)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import ssl as _ssl
from collections.abc import Awaitable, Callable, Coroutine
from types import TracebackType
from typing import Any

from .connection import Flusher, ServerState, logger
from .http import App, HttpConnection
from .limits import Limits

__all__ = ["Server", "run", "serve", "ssl_context"]

#: Seconds ``run`` gives connections to close once listeners are shut, before it returns.
CLOSE_GRACE = 5.0


class Server:
    """A listening embedded server, as :func:`serve` returns it.

    ``port`` is the port actually bound (useful with ``port=0``). :meth:`close` stops listening
    and closes every connection (WebSockets get close code 1001); :meth:`wait_closed` waits until
    they are all gone. Usable as an async context manager.
    """

    def __init__(self, server: asyncio.AbstractServer, state: ServerState) -> None:
        self._server = server
        self._state = state
        # Kept: the listening sockets are gone once the server is closed.
        name = self.sockets[0].getsockname() if self.sockets else ("", 0)
        self._host = str(name[0])
        self._port = int(name[1])

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        """The listening sockets."""
        return tuple(getattr(self._server, "sockets", ()) or ())

    @property
    def host(self) -> str:
        """The address of the first listening socket."""
        return self._host

    @property
    def port(self) -> int:
        """The port of the first listening socket."""
        return self._port

    @property
    def connection_count(self) -> int:
        """How many HTTP and WebSocket connections are open."""
        return len(self._state.connections)

    def close(self) -> None:
        """Stop listening and close every open connection."""
        self._state.closing = True
        self._state.stop_timer()
        self._server.close()
        for conn in list(self._state.connections):
            conn.shutdown()

    async def wait_closed(self) -> None:
        """Wait until the listeners and every connection are closed."""
        state = self._state
        if state.connections:
            if state.emptied is None:
                state.emptied = asyncio.Event()
            await state.emptied.wait()
        await self._server.wait_closed()

    async def __aenter__(self) -> Server:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
        await self.wait_closed()


async def serve(
    app: App,
    host: str = "127.0.0.1",
    port: int = 5000,
    *,
    ssl: _ssl.SSLContext | None = None,
    sock: socket.socket | None = None,
    backlog: int = 2048,
    limits: Limits | None = None,
) -> Server:
    """Start serving ``app`` on ``host``:``port`` (or on the listening socket ``sock``).

    Returns at once with a :class:`Server`; serving goes on in the running loop until
    ``Server.close()``. With ``ssl`` the listener speaks TLS and requests have scheme "https".
    ``limits`` bounds what each client may cost (:class:`~turbosio.server.limits.Limits`;
    the defaults when ``None``).
    """
    loop = asyncio.get_running_loop()
    state = ServerState(app, Flusher(loop), "https" if ssl is not None else "http", limits)

    def factory() -> HttpConnection:
        return HttpConnection(state)

    if sock is not None:
        server = await loop.create_server(factory, sock=sock, ssl=ssl, backlog=backlog)
    else:
        server = await loop.create_server(factory, host, port, ssl=ssl, backlog=backlog)
    state.start_timer()
    return Server(server, state)


def ssl_context(
    certfile: str | os.PathLike[str], keyfile: str | os.PathLike[str] | None = None
) -> _ssl.SSLContext:
    """A server-side TLS context for a certificate (PEM, with its chain) and its private key
    (``keyfile``; ``None`` when the key is in ``certfile``). Raises ``ssl.SSLError`` or
    ``OSError`` naming the problem when they do not load."""
    context = _ssl.create_default_context(_ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certfile, keyfile)
    return context


def _run_loop(main: Coroutine[Any, Any, None]) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    uvloop.run(main)


def run(
    app: App,
    host: str = "127.0.0.1",
    port: int = 5000,
    *,
    ssl: _ssl.SSLContext | None = None,
    on_startup: Callable[[], Awaitable[None]] | None = None,
    on_shutdown: Callable[[], Awaitable[None]] | None = None,
    limits: Limits | None = None,
) -> None:
    """Serve ``app`` until SIGINT or SIGTERM, then shut down gracefully and return.

    Runs on uvloop where it is installed. ``on_startup`` is awaited before listening starts;
    on a signal, ``on_shutdown`` is awaited while the listeners are still open (the app tells its
    clients and finishes within its own timeout), then listeners and connections are closed.
    A second signal during shutdown stops waiting. ``limits`` as for :func:`serve`.
    """
    _run_loop(_main(app, host, port, ssl, on_startup, on_shutdown, limits))


async def _main(
    app: App,
    host: str,
    port: int,
    ssl: _ssl.SSLContext | None,
    on_startup: Callable[[], Awaitable[None]] | None,
    on_shutdown: Callable[[], Awaitable[None]] | None,
    limits: Limits | None = None,
) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    installed: list[signal.Signals] = []
    main_task = asyncio.current_task()
    server: Server | None = None

    def on_signal() -> None:
        if stop.is_set() and main_task is not None:
            # A second signal: stop waiting for the graceful part.
            main_task.cancel()
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, on_signal)
            installed.append(sig)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - Windows
            signal.signal(sig, lambda *_: loop.call_soon_threadsafe(on_signal))
    try:
        if on_startup is not None:
            await on_startup()
        server = await serve(app, host, port, ssl=ssl, limits=limits)
        scheme = "https" if ssl is not None else "http"
        shown = f"[{server.host}]" if ":" in server.host else server.host
        logger.info(
            "turbosio running on %s://%s:%d (Press CTRL+C to quit)", scheme, shown, server.port
        )
        await stop.wait()
        logger.info("shutting down")
        if on_shutdown is not None:
            await on_shutdown()
        server.close()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(server.wait_closed(), CLOSE_GRACE)
    except asyncio.CancelledError:
        if not stop.is_set():
            raise
        logger.info("shutdown cut short by a second signal")
    finally:
        if server is not None:
            server.close()
        for sig in installed:
            loop.remove_signal_handler(sig)
