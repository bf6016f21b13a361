"""A WSGI application beside a :class:`turbosio.Server`, on the embedded server.

:class:`WSGIMount` is what the embedded server serves when a WSGI app (Flask, Django, any
PEP 3333 callable) shares the port with Socket.IO: requests under the Socket.IO path (and the
server's static files) and every WebSocket upgrade go to the :class:`turbosio.Server`
unchanged, so the Socket.IO path costs one prefix test more than without it; every other
request is turned into a WSGI ``environ`` and run in a thread pool. The WSGI app's answer is
collected whole and sent with one write, as the embedded server answers every request: a
streamed response (a generator) is sent when it ends, not piece by piece.

Why not a2wsgi's ``WSGIMiddleware`` behind an ASGI host inside the embedded server: the
embedded server already has the whole request (headers and body) and answers with one call,
so the ASGI message round trips (a queue, a sender task and awaits per response) would only
add work between the same two ends. Under an ASGI server (uvicorn), a2wsgi is the bridge:
``sio.asgi(other_app=a2wsgi.WSGIMiddleware(wsgi_app))``.
"""

from __future__ import annotations

import asyncio
import io
import logging
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING, Any

from .engineio.io import Headers, Request, WebSocketRequest

if TYPE_CHECKING:
    from .socketio.server import Server

__all__ = ["WSGIApp", "WSGIMount", "build_environ", "call_wsgi"]

logger = logging.getLogger("turbosio.wsgi")

#: A PEP 3333 application: ``app(environ, start_response) -> iterable of bytes``.
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_SCHEMES = {"ws": "http", "wss": "https"}
_INTERNAL_ERROR = (500, [("Content-Type", "text/plain; charset=utf-8")], b"Internal Server Error")
_DEFAULT_PORTS = {"http": "80", "https": "443"}


def build_environ(
    request: Request, *, server_name: str | None = None, server_port: str | None = None
) -> dict[str, Any]:
    """The WSGI ``environ`` (PEP 3333) of ``request``, a :class:`turbosio.engineio.io.Request`.

    ``SERVER_NAME`` and ``SERVER_PORT`` come from the ``Host`` header when they are not given.
    Header names with an underscore are left out (as nginx does by default), so that no
    client can pass ``X_Forwarded_For`` off as ``X-Forwarded-For``.
    """
    scheme = _SCHEMES.get(request.scheme, request.scheme)
    headers = request.headers
    if server_name is None:
        host = headers.get("host", "")
        name, sep, port = host.rpartition(":")
        if not sep or "]" in port:  # no port, or an IPv6 address without one
            name, port = host, ""
        server_name = name or "localhost"
        if server_port is None:
            server_port = port or _DEFAULT_PORTS.get(scheme, "80")
    # PEP 3333: the path as bytes decoded with latin-1 (WSGI apps re-decode it as UTF-8).
    path = request.path
    if not path.isascii():
        path = path.encode("utf-8", "surrogateescape").decode("latin-1")
    client = request.client
    body = request.body
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": request.query_string,
        "SERVER_NAME": server_name,
        "SERVER_PORT": server_port or _DEFAULT_PORTS.get(scheme, "80"),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": client[0] if client else "",
        "REMOTE_PORT": str(client[1]) if client else "",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scheme,
        "wsgi.input": io.BytesIO(body),
        "wsgi.input_terminated": True,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in headers.items():
        if "_" in name:
            continue
        if name == "content-type":
            environ["CONTENT_TYPE"] = value
        elif name == "content-length":
            environ["CONTENT_LENGTH"] = value
        else:
            environ["HTTP_" + name.upper().replace("-", "_")] = value
    if body and "CONTENT_LENGTH" not in environ:
        environ["CONTENT_LENGTH"] = str(len(body))
    return environ


def call_wsgi(app: WSGIApp, environ: dict[str, Any]) -> tuple[int, Headers, bytes]:
    """Run ``app`` on ``environ`` and collect its whole response: (status, headers, body).

    Blocking: call it in a worker thread. An exception (or no ``start_response``) gives a
    500 response and a log line with the traceback.
    """
    chunks: list[bytes] = []
    started: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        if exc_info is not None and started and chunks:
            # Too late to change the response (PEP 3333): re-raise the app's exception.
            raise exc_info[1].with_traceback(exc_info[2])
        started[:] = [status, headers]
        return chunks.append

    try:
        result = app(environ, start_response)
        try:
            for chunk in result:
                if chunk:
                    chunks.append(chunk)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        if not started:
            raise RuntimeError("the WSGI app returned without calling start_response")
        status_line, headers = started
        status = int(str(status_line).split(" ", 1)[0])
    except Exception:
        logger.exception(
            "error in the WSGI app on %s %s", environ.get("REQUEST_METHOD"), environ["PATH_INFO"]
        )
        return _INTERNAL_ERROR[0], list(_INTERNAL_ERROR[1]), _INTERNAL_ERROR[2]
    return status, list(headers), b"".join(chunks)


class WSGIMount:
    """An app for the embedded server: ``sio`` for its own paths, ``wsgi_app`` for the rest.

    Serve it with :func:`turbosio.server.serve` or :func:`turbosio.server.run`. WSGI requests
    run in ``executor`` (a thread pool of 32 by default). ``max_body_size`` bounds a request
    body for the WSGI app (16 MiB by default; the Socket.IO path keeps its own
    ``max_http_buffer_size``). With ``access_log``, each WSGI request is logged there at INFO.
    """

    def __init__(
        self,
        sio: Server,
        wsgi_app: WSGIApp,
        *,
        executor: Executor | None = None,
        max_body_size: int | None = None,
        access_log: logging.Logger | None = None,
    ) -> None:
        self.sio = sio
        self.wsgi_app = wsgi_app
        self.executor = executor or ThreadPoolExecutor(32, thread_name_prefix="turbosio-wsgi")
        #: The largest request body accepted (the embedded server answers 413 above it).
        self.max_body_size = max(sio.max_body_size, max_body_size or 16 * 1024 * 1024)
        self.access_log = access_log
        # Bound once: the Socket.IO path goes through these without further lookups.
        self._owns = sio.owns
        self._sio_request = sio.handle_request
        #: Set by the server once it listens, for SERVER_NAME/SERVER_PORT without a Host header.
        self.server_address: tuple[str, int] | None = None

    def owns(self, path: str) -> bool:
        """Every path is answered here (the Socket.IO server's, or the WSGI app's)."""
        return True

    def handle_request(self, request: Request) -> None:
        """Route one HTTP request: the Socket.IO server's paths, else the WSGI app."""
        if self._owns(request.path):
            self._sio_request(request)
            return
        environ = build_environ(request)
        if not request.headers.get("host") and self.server_address is not None:
            environ["SERVER_NAME"] = self.server_address[0]
            environ["SERVER_PORT"] = str(self.server_address[1])
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self.executor, call_wsgi, self.wsgi_app, environ)
        future.add_done_callback(partial(self._respond, request))

    def handle_websocket(self, request: WebSocketRequest) -> None:
        """WebSocket upgrades are the Socket.IO server's (WSGI has none)."""
        self.sio.handle_websocket(request)

    def _respond(
        self, request: Request, future: asyncio.Future[tuple[int, Headers, bytes]]
    ) -> None:
        if future.cancelled():
            return
        exc = future.exception()
        status, headers, body = _INTERNAL_ERROR if exc is not None else future.result()
        if exc is not None:
            logger.error("error running the WSGI app", exc_info=exc)
        if self.access_log is not None:
            self.access_log.info(
                '%s - "%s %s" %d', _peer(request), request.method, request.path, status
            )
        try:
            request.respond(status, list(headers), body)
        except ValueError:
            # A header with a line break: nothing was sent, so answer 500 instead.
            logger.error(
                "the WSGI app's response to %s %s has an invalid header",
                request.method,
                request.path,
            )
            request.respond(_INTERNAL_ERROR[0], list(_INTERNAL_ERROR[1]), _INTERNAL_ERROR[2])


def _peer(request: Request) -> str:
    client = request.client
    return client[0] if client else "-"
