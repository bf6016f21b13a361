"""The Manager: one Engine.IO connection shared by a client's namespaces, and reconnection.

It follows socket.io-client 4.8's manager.ts:

* one engine session carries every namespace (:class:`~turbosio.client.socket.ClientSocket`)
  of the client; when it opens, each active namespace sends its CONNECT;
* when the session closes for any reason but our own, the manager reconnects after the
  backoff delays of :class:`~turbosio.client.backoff.Backoff` (1 s, 2 s, 4 s... capped at 5 s,
  each randomised by +-50 % by default), emitting ``reconnect_attempt`` (attempt number),
  ``reconnect_error`` (the error) after a failed attempt, ``reconnect`` (attempt number) on
  success and ``reconnect_failed`` once ``reconnection_attempts`` attempts failed;
* a namespace the server disconnects ("io server disconnect") or refuses stops being active;
  when none is active any more the manager closes for good, without reconnecting.
"""

from __future__ import annotations

import asyncio
import logging
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..protocol.errors import DecodeError
from ..protocol.socketio import Packet, PacketType, Parser, encode_event_text, json_parser
from .backoff import Backoff
from .engine import CLOSE_TIMEOUT, EngineClient, load_aiohttp
from .errors import ConnectError
from .socket import ClientSocket, Owner

__all__ = ["Manager"]

logger = logging.getLogger("turbosio.client")

#: Whether aiohttp must abort the TLS connections it closed (its ``enable_cleanup_closed``,
#: done every 2 s and when the HTTP session closes). A closed TLS connection waits for the
#: peer's close_notify, and on these Pythons may wait without end (python/cpython#118960,
#: fixed in 3.12.8 and 3.13.1): one still waiting when the event loop ends leaks its socket.
#: The WebSocket or HTTP exchange is over by then, so nothing is lost by cutting it. Newer
#: Pythons need no such cleanup, and aiohttp warns if it is asked for there.
SSL_CLEANUP_NEEDED = sys.version_info < (3, 12, 8) or (3, 13) <= sys.version_info < (3, 13, 1)

#: Events of the manager itself (not of a namespace), as the JavaScript client names them.
MANAGER_EVENTS = frozenset(
    {"reconnect_attempt", "reconnect", "reconnect_error", "reconnect_failed"}
)


class Manager:
    """One connection to a server, its namespaces, and its reconnection.

    ``url`` is the Engine.IO endpoint (``http(s)://host:port/socket.io/``). ``emit_manager``
    receives the manager's events (``reconnect_attempt``, ...) as ``(name, *args)``.
    """

    def __init__(
        self,
        url: str,
        *,
        owner: Owner,
        emit_manager: Callable[..., None],
        query: Mapping[str, str] | None = None,
        transports: Sequence[str] = ("polling", "websocket"),
        headers: Mapping[str, str] | None = None,
        ssl: Any = True,
        trust_env: bool = True,
        upgrade: bool = True,
        reconnection: bool = True,
        reconnection_attempts: float | None = None,
        reconnection_delay: float = 1.0,
        reconnection_delay_max: float = 5.0,
        randomization_factor: float = 0.5,
        timeout: float = 20.0,
        parser: Parser | None = None,
    ) -> None:
        self._aiohttp = load_aiohttp()
        self.url = url
        self._owner = owner
        self._emit_manager = emit_manager
        self._query = dict(query or {})
        self._transports = tuple(transports)
        self._headers = dict(headers or {})
        self._ssl = ssl
        self._trust_env = trust_env
        self._upgrade = upgrade
        self.reconnection = reconnection
        self.reconnection_attempts = (
            math.inf if reconnection_attempts is None else reconnection_attempts
        )
        self.backoff = Backoff(reconnection_delay, reconnection_delay_max, randomization_factor)
        self.timeout = timeout
        self.parser: Parser = parser if parser is not None else json_parser
        self._fast_events = self.parser is json_parser
        self._decoder = self.parser.decoder()

        #: "closed", "opening" or "open".
        self.state = "closed"
        #: The current Engine.IO session (None while closed).
        self.engine: EngineClient | None = None
        #: The namespaces, by name.
        self.nsps: dict[str, ClientSocket] = {}
        self.reconnecting = False
        self.skip_reconnect = False
        #: Why the manager stopped for good (set with ``finished``).
        self.last_error: ConnectError | None = None
        #: Set once the manager has stopped for good: closed by us or by the server, or out of
        #: reconnection attempts.
        self.finished = asyncio.Event()
        self._session: Any = None
        self._reconnect_task: asyncio.Task[bool] | None = None
        self._closing: set[asyncio.Task[Any]] = set()
        self._released: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"<Manager {self.url} {self.state}>"

    # -- namespaces --------------------------------------------------------------------------

    def socket(self, namespace: str, **options: Any) -> ClientSocket:
        """The namespace's socket (created on first use)."""
        sock = self.nsps.get(namespace)
        if sock is None:
            sock = self.nsps[namespace] = ClientSocket(self, namespace, self._owner, **options)
        return sock

    def destroy(self, socket: ClientSocket) -> None:
        """A namespace stopped being active; close the connection when none is left."""
        if any(sock.active for sock in self.nsps.values()):
            return
        self.close()

    def packet(self, packet: Packet) -> None:
        """Encode and send one Socket.IO packet."""
        engine = self.engine
        if engine is None:
            return
        if self._fast_events and packet.type == PacketType.EVENT:
            text = encode_event_text(packet.namespace, packet.data, packet.id)
            if text is not None:
                engine.send(text)
                return
        for item in self.parser.encode(packet):
            engine.send("4" + item if isinstance(item, str) else item)

    # -- opening -----------------------------------------------------------------------------

    def _session_for_requests(self) -> Any:
        if self._session is None:
            aiohttp = self._aiohttp
            self._session = aiohttp.ClientSession(
                # Long polls are held up to the ping interval; the ping timer, not a request
                # timeout, decides when the server is gone.
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.timeout),
                # Cookies set on an IP address too (sticky sessions behind load balancers).
                cookie_jar=aiohttp.CookieJar(unsafe=True),
                trust_env=self._trust_env,
                connector=aiohttp.TCPConnector(enable_cleanup_closed=SSL_CLEANUP_NEEDED),
            )
        return self._session

    async def open(self) -> None:
        """Open the Engine.IO session; raises :class:`ConnectError` (after telling the
        namespaces, which emit ``connect_error``)."""
        if self.state != "closed":
            return
        self.state = "opening"
        self.skip_reconnect = False

        def on_close(reason: str, exc: BaseException | None) -> None:
            if engine is self.engine:
                self._onclose(reason)

        engine = EngineClient(
            self._session_for_requests(),
            self.url,
            query=self._query,
            transports=self._transports,
            headers=self._headers,
            ssl=self._ssl,
            upgrade=self._upgrade,
            on_message=self._ondata,
            on_close=on_close,
        )
        self.engine = engine
        try:
            await asyncio.wait_for(engine.open(), self.timeout)
            if self.engine is not engine:
                raise ConnectError("the connection was closed while it opened")
        except (ConnectError, asyncio.TimeoutError) as exc:
            err = exc if isinstance(exc, ConnectError) else ConnectError("timeout")
            if self.engine is engine:
                self.engine = None
                self.state = "closed"
            self._retire(engine)
            for sock in list(self.nsps.values()):
                if sock.active:
                    sock._onerror(err)
            raise err from None
        except BaseException:
            if self.engine is engine:
                self.engine = None
                self.state = "closed"
            self._retire(engine)
            raise
        self.state = "open"
        self._decoder = self.parser.decoder()
        for sock in list(self.nsps.values()):
            if sock.active:
                sock._onopen()

    def _ondata(self, data: str | bytes) -> None:
        try:
            packet = self._decoder.feed(data)
        except DecodeError as exc:
            logger.warning("closing the connection: the server sent a bad packet (%s)", exc)
            self._onclose("parse error")
            return
        if packet is None:
            return
        sock = self.nsps.get(packet.namespace)
        if sock is not None and sock.active:
            sock._onpacket(packet)

    # -- closing and reconnecting ------------------------------------------------------------

    def _retire(self, engine: EngineClient) -> None:
        """Let an engine we no longer use close (gracefully) in the background."""
        task = asyncio.ensure_future(engine.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def _onclose(self, reason: str) -> None:
        engine, self.engine = self.engine, None
        if engine is not None:
            self._retire(engine)
        self.backoff.reset()
        self.state = "closed"
        for sock in list(self.nsps.values()):
            if sock.active:
                sock._onclose(reason)
        if self.reconnection and not self.skip_reconnect:
            self._reconnect()
        else:
            self._finish(ConnectError(f"disconnected: {reason}"))

    def close(self) -> None:
        """Close for good (the JavaScript client's ``_close``): no reconnection."""
        self.skip_reconnect = True
        self.reconnecting = False
        task = self._reconnect_task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        if self.state != "closed":
            self._onclose("forced close")
        else:
            self._finish(ConnectError("disconnected"))

    def _reconnect(self) -> None:
        if self.reconnecting or self.skip_reconnect:
            return
        self.reconnecting = True
        self._reconnect_task = asyncio.ensure_future(self.reconnect_loop())

    async def reconnect_loop(self) -> bool:
        """Try to open the connection again, with backoff, until it opens (True) or the
        attempts run out (False, after ``reconnect_failed``)."""
        self.reconnecting = True
        try:
            while not self.skip_reconnect:
                if self.backoff.attempts >= self.reconnection_attempts:
                    self.backoff.reset()
                    self.reconnecting = False
                    self._emit_manager("reconnect_failed")
                    self._finish(self.last_error or ConnectError("reconnection failed"))
                    return False
                await asyncio.sleep(self.backoff.duration())
                if self.skip_reconnect:
                    break
                self._emit_manager("reconnect_attempt", self.backoff.attempts)
                if self.skip_reconnect:
                    break
                try:
                    await self.open()
                except ConnectError as err:
                    self.last_error = err
                    self._emit_manager("reconnect_error", err)
                    continue
                attempt = self.backoff.attempts
                self.reconnecting = False
                self.backoff.reset()
                self._emit_manager("reconnect", attempt)
                return True
            return False
        finally:
            self.reconnecting = False

    def _finish(self, err: ConnectError) -> None:
        if self.finished.is_set():
            return
        self.last_error = self.last_error or err
        self.finished.set()
        for sock in list(self.nsps.values()):
            sock.give_up(self.last_error)
        # Free the HTTP session even if nobody calls disconnect() or wait().
        self._released = asyncio.ensure_future(self._release())

    async def _release(self) -> None:
        while self._closing:
            await asyncio.wait(set(self._closing), timeout=CLOSE_TIMEOUT * 2)
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def wait_released(self) -> None:
        """Wait until the manager finished and its connections and HTTP session are closed."""
        await self.finished.wait()
        released = self._released
        if released is not None:
            await asyncio.shield(released)
        reconnect = self._reconnect_task
        if reconnect is not None and not reconnect.done():
            await asyncio.wait({reconnect})
