"""The Engine.IO v4 server: request routing, handshake, errors, CORS, cookie, shutdown.

A front end (the embedded server or the ASGI app) hands every HTTP request under the engine's
path to :meth:`Engine.handle_request` and every WebSocket upgrade request to
:meth:`Engine.handle_websocket`; the engine answers through :mod:`turbosio.engineio.io` and
calls the layer above through its :class:`~turbosio.engineio.io.EngineHandler`.

Requests are checked in Node's order, with Node's answers (HTTP 400, or 403 for code 4, body
``{"code": N, "message": M}``; a WebSocket request is rejected with 400 and the message):

====  =============================  ===================================================
code  message                        when
====  =============================  ===================================================
0     Transport unknown              ``transport`` missing or not enabled
1     Session ID unknown             ``sid`` not (or no longer) known
2     Bad handshake method           a handshake (no ``sid``) that is not a GET
3     Bad request                    transport mismatch, WebSocket handshake over plain
                                     HTTP, invalid ``Origin`` characters
4     Forbidden                      ``allow_request`` refused, or the origin is not allowed
5     Unsupported protocol version   ``EIO`` is not ``4``
====  =============================  ===================================================
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import orjson

from ..protocol.engineio import encode_open
from .cors import CorsPolicy, OriginsSetting, origin_is_invalid
from .heartbeat import Scheduler, resolution_for
from .ids import random_id
from .io import EngineHandler, Headers, Request, WebSocketRequest
from .packetlog import LoggedSession, packet_logger
from .polling import handle_poll, handle_post
from .session import _OPEN, Session
from .websocket import Upgrade

__all__ = ["ERROR_MESSAGES", "Engine"]

#: Node's engine.io error codes and their messages.
ERROR_MESSAGES: Mapping[int, str] = {
    0: "Transport unknown",
    1: "Session ID unknown",
    2: "Bad handshake method",
    3: "Bad request",
    4: "Forbidden",
    5: "Unsupported protocol version",
}

_UNKNOWN_TRANSPORT = 0
_UNKNOWN_SID = 1
_BAD_HANDSHAKE_METHOD = 2
_BAD_REQUEST = 3
_FORBIDDEN = 4
_UNSUPPORTED_PROTOCOL_VERSION = 5

_TRANSPORTS = ("polling", "websocket")
_POLL_CONTENT_TYPE = ("Content-Type", "text/plain; charset=UTF-8")
_NO_STORE = ("Cache-Control", "no-store")

AllowRequest = Callable[[Request], bool | Awaitable[bool]]


class _ClosedSocket:
    """Handler for a WebSocket we accept only to close (Node's answer to a late upgrade)."""

    __slots__ = ()

    def on_ws_message(self, data: str | bytes) -> None:
        """Ignore it: the socket is closing."""

    def on_ws_close(self, code: int) -> None:
        """Nothing to clean up."""


_CLOSED_SOCKET = _ClosedSocket()


class Engine:
    """An Engine.IO v4 server: sessions over HTTP long-polling and WebSocket.

    ``handler`` receives ``engine_open``/``engine_message``/``engine_close``. Times are in
    seconds (fractions allowed); the handshake advertises them in milliseconds, as Node does.

    ``cors_allowed_origins``: ``None`` allows the same origin only, ``"*"`` any origin, or give
    an origin, a list of them, or a callable ``origin -> bool``. ``cookie``: ``True`` sets
    Node's ``io`` cookie (``Path=/; HttpOnly; SameSite=Lax``) on the polling handshake; a dict
    changes its ``name``, ``path``, ``domain``, ``max_age``, ``http_only``, ``same_site``,
    ``secure`` (Node's camelCase names work too). ``allow_request(request)`` may return a
    bool or an awaitable of one; a false answer refuses the handshake with 403 (code 4).
    ``max_outbound_buffer``: a polling session whose client leaves more than this many
    characters unfetched is closed ("transport error").
    """

    # Bound to the running loop by the first request (an Engine may be built before it runs).
    _loop: asyncio.AbstractEventLoop
    _thread: int = 0  # the thread of _loop
    _scheduler: Scheduler

    def __init__(
        self,
        handler: EngineHandler,
        *,
        ping_interval: float = 25,
        ping_timeout: float = 20,
        max_http_buffer_size: int = 1_000_000,
        transports: Sequence[str] = _TRANSPORTS,
        cors_allowed_origins: OriginsSetting = None,
        cors_credentials: bool = True,
        allow_upgrades: bool = True,
        upgrade_timeout: float = 10,
        allow_request: AllowRequest | None = None,
        cookie: bool | dict[str, Any] | None = None,
        logger: logging.Logger | None = None,
        max_outbound_buffer: int = 8 * 1024 * 1024,
    ) -> None:
        if isinstance(transports, str):
            transports = (transports,)
        unknown = [t for t in transports if t not in _TRANSPORTS]
        if unknown or not transports:
            raise ValueError(
                f"transports must be a non-empty selection of {list(_TRANSPORTS)}, "
                f"not {list(transports)!r}"
            )
        for name, value in (
            ("ping_interval", ping_interval),
            ("ping_timeout", ping_timeout),
            ("upgrade_timeout", upgrade_timeout),
        ):
            if not value > 0:
                raise ValueError(f"{name} must be a positive number of seconds, not {value!r}")
        if max_http_buffer_size <= 0:
            raise ValueError("max_http_buffer_size must be a positive number of bytes")
        if max_outbound_buffer <= 0:
            raise ValueError("max_outbound_buffer must be a positive number of bytes")
        self.handler = handler
        self.ping_interval = float(ping_interval)
        self.ping_timeout = float(ping_timeout)
        self.max_http_buffer_size = int(max_http_buffer_size)
        self.max_outbound_buffer = int(max_outbound_buffer)
        self.transports: tuple[str, ...] = tuple(transports)
        self.allow_upgrades = allow_upgrades
        self.upgrade_timeout = float(upgrade_timeout)
        self.allow_request = allow_request
        self.logger = logger or logging.getLogger("turbosio.engineio")
        #: Open sessions by sid.
        self.sessions: dict[str, Session] = {}
        self._cors = CorsPolicy(cors_allowed_origins, cors_credentials)
        self._cookie = _cookie_options(cookie)
        self._upgrades = ["websocket"] if allow_upgrades and "websocket" in self.transports else []
        self._ping_interval_ms = round(self.ping_interval * 1000)
        self._ping_timeout_ms = round(self.ping_timeout * 1000)
        self._resolution = resolution_for(self.ping_interval, self.ping_timeout)
        self._dirty: list[Session] = []
        self._flush_scheduled = False
        self._shutting_down = False
        self._idle: asyncio.Event | None = None
        self._pending: set[asyncio.Task[None]] = set()

    # -- entry points -----------------------------------------------------------------------

    def handle_request(self, req: Request) -> None:
        """Handle one HTTP request under the engine's path (answered now or later)."""
        self._bind()
        headers = req.headers
        origin = headers.get("origin")
        if origin is not None:
            if origin_is_invalid(origin):
                self._error(req, _BAD_REQUEST)
                return
            if not self._cors.is_allowed(origin, headers):
                self.logger.warning(self._cors.refusal(origin, headers))
                self._error(req, _FORBIDDEN, cors=False)
                return
            if req.method == "OPTIONS":
                req.respond(204, self._cors.preflight_headers(origin, headers), b"")
                return
        query = req.query
        transport = query.get("transport")
        if transport not in self.transports:
            self._error(req, _UNKNOWN_TRANSPORT)
            return
        sid = query.get("sid")
        if sid:
            session = self.sessions.get(sid)
            if session is None:
                self._error(req, _UNKNOWN_SID)
                return
            if transport != "polling" or session.transport != "polling":
                self._error(req, _BAD_REQUEST)
                return
            method = req.method
            if method == "GET":
                handle_poll(session, req)
            elif method == "POST":
                handle_post(session, req)
            else:
                self._respond(req, 500, [], b"")
            return
        if req.method != "GET":
            self._error(req, _BAD_HANDSHAKE_METHOD)
            return
        if transport != "polling":
            # A WebSocket handshake that came as plain HTTP (no Upgrade).
            self._error(req, _BAD_REQUEST)
            return
        if self._shutting_down:
            self._respond(req, 503, [], b"")
            return
        self._handshake(req, None)

    def handle_websocket(self, req: WebSocketRequest) -> None:
        """Handle one WebSocket upgrade request: a new session, or an upgrade of one."""
        self._bind()
        headers = req.headers
        origin = headers.get("origin")
        if origin is not None:
            if origin_is_invalid(origin):
                self._reject(req, _BAD_REQUEST)
                return
            if not self._cors.is_allowed(origin, headers):
                self.logger.warning(self._cors.refusal(origin, headers))
                self._reject(req, _FORBIDDEN)
                return
        query = req.query
        transport = query.get("transport")
        if transport not in self.transports:
            self._reject(req, _UNKNOWN_TRANSPORT)
            return
        sid = query.get("sid")
        if sid:
            session = self.sessions.get(sid)
            if session is None:
                self._reject(req, _UNKNOWN_SID)
                return
            if transport != "websocket":
                self._reject(req, _BAD_REQUEST)
                return
            ws = req.accept(self.max_http_buffer_size)
            if (
                session.transport != "polling"
                or session._upgrade is not None
                or session._state != _OPEN
                or not self.allow_upgrades
            ):
                # Node accepts, then closes: already upgraded, upgrading, or closing.
                ws.set_handler(_CLOSED_SOCKET)
                ws.close()
                return
            Upgrade(session, ws)
            return
        if req.method != "GET":
            self._reject(req, _BAD_HANDSHAKE_METHOD)
            return
        if transport != "websocket":
            self._reject(req, _BAD_REQUEST)
            return
        if self._shutting_down:
            req.reject(503, [("Content-Type", "text/html")], b"Server shutting down")
            return
        self._handshake(req, req)

    # -- shutdown ---------------------------------------------------------------------------

    def close_all(self, reason: str = "forced close") -> None:
        """Close every session now; polling clients lose what they had not fetched."""
        for session in list(self.sessions.values()):
            session._discard(reason)

    async def shutdown(self, reason: str = "forced close", timeout: float = 5.0) -> None:
        """Stop taking sessions, close every session gracefully, and wait for them to end.

        WebSocket sessions end at once (their queued messages go first); polling sessions
        end when their client fetches its last payload, or after ``timeout`` seconds, when
        what is left is closed with :meth:`close_all`. New handshakes get HTTP 503.
        """
        self._shutting_down = True
        for task in list(self._pending):
            task.cancel()
        for session in list(self.sessions.values()):
            session.close(reason)
        if self.sessions:
            idle = self._idle = asyncio.Event()
            try:
                await asyncio.wait_for(idle.wait(), timeout)
            except asyncio.TimeoutError:
                pass
            finally:
                self._idle = None
        self.close_all(reason)
        scheduler: Scheduler | None = getattr(self, "_scheduler", None)
        if scheduler is not None:
            scheduler.close()
        # Let the front ends write the last responses and close frames.
        await asyncio.sleep(0)

    # -- internals used by sessions ---------------------------------------------------------

    def _bind(self) -> None:
        # Called for every request: while the loop it is bound to runs in this thread, it is
        # the running loop (one thread runs one loop at a time), which asyncio would tell at
        # the cost of a getpid() system call on Python 3.11.
        try:
            bound: asyncio.AbstractEventLoop | None = self._loop
        except AttributeError:  # never bound yet
            bound = None
        if bound is not None and self._thread == threading.get_ident() and bound.is_running():
            return
        loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        if loop is not bound:
            # A new loop (a server started again, a test): sessions of the old one are dead
            # with their connections, and so is any flush or shutdown it had pending.
            self._loop = loop
            self._scheduler = Scheduler(loop, self._resolution)
            self.sessions.clear()
            self._dirty = []
            self._flush_scheduled = False
            self._shutting_down = False

    def _mark_dirty(self, session: Session) -> None:
        self._dirty.append(session)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        # Everything the polling sessions were given during one loop turn: one response each.
        self._flush_scheduled = False
        dirty = self._dirty
        self._dirty = []
        for session in dirty:
            session._dirty = False
            session._flush_poll()

    def _forget(self, session: Session) -> None:
        if self.sessions.get(session.sid) is session:
            del self.sessions[session.sid]
            if not self.sessions and self._idle is not None:
                self._idle.set()

    def _cors_headers(self, req: Request) -> Headers:
        return self._cors.response_headers(req.headers.get("origin"))

    def _respond(self, req: Request, status: int, headers: Headers, body: bytes) -> None:
        if "origin" in req.headers:
            headers.extend(self._cors_headers(req))
        req.respond(status, headers, body)

    def _respond_poll(self, req: Request, payload: str, extra: Headers | None = None) -> None:
        headers: Headers = [_POLL_CONTENT_TYPE, _NO_STORE]
        user_agent = req.headers.get("user-agent")
        if user_agent and (";MSIE" in user_agent or "Trident/" in user_agent):
            # Keep old Internet Explorer from mangling the payload as a reflected XSS.
            headers.append(("X-XSS-Protection", "0"))
        if extra:
            headers.extend(extra)
        if "origin" in req.headers:
            headers.extend(self._cors_headers(req))
        req.respond(200, headers, payload.encode())

    def _error(self, req: Request, code: int, *, cors: bool = True) -> None:
        self._log_refusal(req, code)
        status = 403 if code == _FORBIDDEN else 400
        body = orjson.dumps({"code": code, "message": ERROR_MESSAGES[code]})
        headers: Headers = [("Content-Type", "application/json")]
        if cors:
            headers.extend(self._cors_headers(req))
        req.respond(status, headers, body)

    def _log_refusal(self, req: Request, code: int) -> None:
        # Node emits "connection_error" here; a debug line is its equivalent.
        if code == _UNKNOWN_SID:
            self.logger.debug(
                "%s %s?%s: Session ID unknown (closed or timed out, or with several server "
                "processes, a request that reached another process: use sticky sessions)",
                req.method,
                req.path,
                req.query_string,
            )
        else:
            self.logger.debug(
                "%s %s?%s: %s", req.method, req.path, req.query_string, ERROR_MESSAGES[code]
            )

    def _reject(self, req: WebSocketRequest, code: int) -> None:
        self._log_refusal(req, code)
        # Node answers every refused upgrade "400 Bad Request" with the message as text/html.
        req.reject(400, [("Content-Type", "text/html")], ERROR_MESSAGES[code].encode())

    # -- handshake --------------------------------------------------------------------------

    def _handshake(self, req: Request, ws_req: WebSocketRequest | None) -> None:
        allow = self.allow_request
        if allow is not None:
            try:
                verdict = allow(req)
            except Exception:
                self.logger.exception("allow_request failed; refusing the connection")
                verdict = False
            if inspect.isawaitable(verdict):
                task = self._loop.create_task(self._handshake_later(verdict, req, ws_req))
                self._pending.add(task)
                task.add_done_callback(self._pending.discard)
                return
            if not verdict:
                self._refuse(req, ws_req)
                return
        self._open(req, ws_req)

    async def _handshake_later(
        self, verdict: Awaitable[bool], req: Request, ws_req: WebSocketRequest | None
    ) -> None:
        try:
            allowed = bool(await verdict)
        except asyncio.CancelledError:
            self._refuse(req, ws_req)
            raise
        except Exception:
            self.logger.exception("allow_request failed; refusing the connection")
            allowed = False
        if not allowed or self._shutting_down:
            self._refuse(req, ws_req)
        else:
            self._open(req, ws_req)

    def _refuse(self, req: Request, ws_req: WebSocketRequest | None) -> None:
        if ws_req is not None:
            self._reject(ws_req, _FORBIDDEN)
        else:
            self._error(req, _FORBIDDEN)

    def _open(self, req: Request, ws_req: WebSocketRequest | None) -> None:
        if req.query.get("EIO") != "4":
            if ws_req is not None:
                self._reject(ws_req, _UNSUPPORTED_PROTOCOL_VERSION)
            else:
                self._error(req, _UNSUPPORTED_PROTOCOL_VERSION)
            return
        sessions = self.sessions
        sid = _generate_id()
        while sid in sessions:
            sid = _generate_id()
        transport = "polling" if ws_req is None else "websocket"
        # Packet logging costs nothing unless it is on when the session opens.
        cls = LoggedSession if packet_logger.isEnabledFor(logging.DEBUG) else Session
        session = cls(self, sid, transport, req)
        packet = encode_open(
            sid,
            self._upgrades if ws_req is None else [],
            self._ping_interval_ms,
            self._ping_timeout_ms,
            self.max_http_buffer_size,
        )
        sessions[sid] = session
        if cls is LoggedSession:
            packet_logger.debug("%s > %s", sid, packet)
        self._scheduler.schedule(session, self._loop.time() + self.ping_interval)
        if ws_req is None:
            cookie = self._cookie
            extra = [("Set-Cookie", _serialize_cookie(cookie, sid))] if cookie else None
            self._respond_poll(req, packet, extra)
        else:
            ws = ws_req.accept(self.max_http_buffer_size)
            session._ws = ws
            ws.send_text(packet)
        try:
            self.handler.engine_open(session)
        except Exception:
            self.logger.exception("engine_open handler failed for session %s", sid)
        if ws_req is not None:
            # Only now: set_handler delivers the frames that came with the upgrade request
            # at once, and the layer above must know the session before its first message.
            ws.set_handler(session)


def _generate_id() -> str:
    # Node's base64id: 15 random bytes, URL-safe base64, 20 characters.
    return random_id()


_COOKIE_ALIASES = {
    "httpOnly": "http_only",
    "httponly": "http_only",
    "sameSite": "same_site",
    "samesite": "same_site",
    "maxAge": "max_age",
}


def _cookie_options(cookie: bool | dict[str, Any] | None) -> dict[str, Any] | None:
    if not cookie:
        return None
    options: dict[str, Any] = {"name": "io", "path": "/", "http_only": True, "same_site": "lax"}
    if isinstance(cookie, dict):
        for key, value in cookie.items():
            options[_COOKIE_ALIASES.get(key, key)] = value
    unknown = set(options) - {
        "name",
        "path",
        "domain",
        "max_age",
        "http_only",
        "same_site",
        "secure",
    }
    if unknown:
        raise ValueError(f"unknown cookie options {sorted(unknown)}")
    same_site = options["same_site"]
    if same_site not in (False, None, True) and str(same_site).lower() not in (
        "lax",
        "strict",
        "none",
    ):
        raise ValueError('cookie same_site must be "lax", "strict", "none", True or False')
    return options


def _serialize_cookie(options: dict[str, Any], value: str) -> str:
    # Attribute order and spelling as the "cookie" npm package writes them.
    parts = [f"{options['name']}={value}"]
    if options.get("max_age") is not None:
        parts.append(f"Max-Age={int(options['max_age'])}")
    if options.get("domain"):
        parts.append(f"Domain={options['domain']}")
    if options.get("path"):
        parts.append(f"Path={options['path']}")
    if options.get("http_only"):
        parts.append("HttpOnly")
    if options.get("secure"):
        parts.append("Secure")
    same_site = options.get("same_site")
    if same_site:
        if same_site is True:
            parts.append("SameSite=Strict")
        else:
            parts.append("SameSite=" + str(same_site).lower().capitalize())
    return "; ".join(parts)
