"""The Engine.IO v4 client: handshake, HTTP long-polling, WebSocket, upgrade, heartbeat.

Built on aiohttp (the ``client`` extra), with the codecs of :mod:`turbosio.protocol.engineio`.
One :class:`EngineClient` is one Engine.IO session; the Socket.IO manager above it sees four
things only: the session opened (``open()`` returned), a message (text or bytes), a ping, and
the session closed with one of the JavaScript client's reasons:

* ``"transport close"``: the server closed the connection (a close packet, the WebSocket
  closed, the TCP connection ended);
* ``"transport error"``: a request failed or the server answered with an error;
* ``"ping timeout"``: no ping from the server within ``ping_interval + ping_timeout``;
* ``"parse error"``: the server sent something that does not decode;
* ``"forced close"``: we closed it (:meth:`EngineClient.close`).

Design rules, as in engine.io-client: what is sent goes to one write buffer, drained by one
writer task (a POST carries everything queued, up to the server's ``maxPayload``; on a
WebSocket each packet is one frame); the heartbeat timer is reset by the server's pings only;
while an upgrade pauses polling, writes wait in the buffer and go out on the WebSocket.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

import orjson

from ..protocol.engineio import (
    PONG,
    PROBE_PING,
    PROBE_PONG,
    UPGRADE,
    Packet,
    PacketType,
    decode_payload,
    encode_payload,
)
from ..protocol.errors import DecodeError
from .errors import ConnectError

if TYPE_CHECKING:
    import aiohttp

__all__ = ["EngineClient", "load_aiohttp"]

logger = logging.getLogger("turbosio.client")

OnMessage = Callable[[str | bytes], None]
OnClose = Callable[[str, "BaseException | None"], None]

#: How long a graceful close may take (flushing, the WebSocket closing handshake).
CLOSE_TIMEOUT = 2.0
#: The close handshake of a connection that already failed is not worth waiting for.
_ABORT_TIMEOUT = 0.1
_POLLING_HEADERS = {"Content-Type": "text/plain;charset=UTF-8"}
_OPENING, _OPEN, _CLOSING, _CLOSED = "opening", "open", "closing", "closed"


def load_aiohttp() -> ModuleType:
    """Import aiohttp, or say which extra to install."""
    try:
        import aiohttp
    except ImportError as exc:  # pragma: no cover - aiohttp is a dev dependency
        raise ImportError(
            "the turbosio client needs aiohttp: pip install 'turbosio[client]'"
        ) from exc
    return aiohttp


def _http_error(status: int, body: bytes) -> ConnectError:
    """The server's refusal, with its ``{"code", "message"}`` body when it sent one."""
    try:
        data = orjson.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return ConnectError(data["message"], data, status=status)
    text = body.decode("utf-8", "replace").strip()
    return ConnectError(f"HTTP {status}" + (f": {text}" if text else ""), status=status)


def _payload_size(item: str | bytes) -> int:
    if isinstance(item, str):
        return len(item.encode("utf-8")) if not item.isascii() else len(item)
    return 1 + 4 * math.ceil(len(item) / 3)  # "b" + base64


class EngineClient:
    """One Engine.IO session over polling and/or WebSocket.

    ``url`` is the endpoint, ``http(s)://host:port/path/``; ``query`` extra query parameters;
    ``transports`` the transports to use, in order (the first one opens the session, a later
    ``"websocket"`` is upgraded to when ``upgrade`` is true and the server offers it).
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        *,
        query: Mapping[str, str] | None = None,
        transports: Sequence[str] = ("polling", "websocket"),
        headers: Mapping[str, str] | None = None,
        ssl: Any = True,
        upgrade: bool = True,
        on_message: OnMessage,
        on_close: OnClose,
        on_ping: Callable[[], None] | None = None,
        on_upgrade: Callable[[str], None] | None = None,
    ) -> None:
        if not transports:
            raise ValueError('no transports: use "polling" and/or "websocket"')
        for name in transports:
            if name not in ("polling", "websocket"):
                raise ValueError(f'unknown transport "{name}": use "polling" and/or "websocket"')
        self._aiohttp = load_aiohttp()
        self._session = session
        self._url = url
        self._query = dict(query or {})
        self._transports = tuple(transports)
        self._headers = dict(headers or {})
        self._ssl = ssl
        self._upgrade = upgrade
        self._on_message = on_message
        self._on_close = on_close
        self._on_ping = on_ping
        self._on_upgrade = on_upgrade
        self._loop = asyncio.get_running_loop()

        #: "opening", "open", "closing" or "closed".
        self.state = _OPENING
        #: The session id the server gave.
        self.sid: str | None = None
        #: The transport in use: "polling" or "websocket".
        self.transport: str | None = None
        #: The server's heartbeat settings, in seconds, and its largest accepted message.
        self.ping_interval = 0.0
        self.ping_timeout = 0.0
        self.max_payload = 0
        #: The upgrades the server offered.
        self.upgrades: list[str] = []

        self._buffer: list[str | bytes] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()  # nothing queued, nothing in flight
        self._idle.set()
        self._in_flight = False
        self._landed = asyncio.Event()  # no request of the writer in flight
        self._landed.set()
        self._pausing = False  # an upgrade is pausing polling: no new GET or POST
        self._ws: aiohttp.ClientWebSocketResponse[bool] | None = None
        self._probe_ws: aiohttp.ClientWebSocketResponse[bool] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._poll_task: asyncio.Task[Any] | None = None
        self._probe_task: asyncio.Task[Any] | None = None
        self._early: list[Packet] = []  # packets that came with the handshake
        self._ping_timer: asyncio.TimerHandle | None = None
        self._ping_deadline = math.inf
        self._cleanup: asyncio.Task[None] | None = None
        self._opener: asyncio.Task[None] | None = None
        self._open_cancelled = False
        self._cache_buster = itertools.count()

    def __repr__(self) -> str:
        return f"<EngineClient {self.sid} {self.transport} {self.state}>"

    # -- public ------------------------------------------------------------------------------

    async def open(self) -> None:
        """Open the session on the first transport. Raises :class:`ConnectError`."""
        # The handshake runs in a task of its own, which close() can cancel (and wait for)
        # without cancelling our caller.
        opener = self._opener = self._loop.create_task(self._open_first())
        try:
            try:
                await opener
            except asyncio.CancelledError:
                if not self._open_cancelled:
                    raise
            if self.state != _OPENING:
                raise ConnectError("the connection was closed while it opened")
        except BaseException as exc:
            self._abort()
            if isinstance(exc, (ConnectError, asyncio.CancelledError)):
                raise
            if isinstance(exc, (self._aiohttp.ClientError, OSError, ValueError)):
                raise ConnectError(_describe(exc)) from exc
            raise
        finally:
            self._opener = None
        self.state = _OPEN
        self._reset_ping_timer()
        self._spawn(self._write_loop())
        if self.transport == "polling":
            self._poll_task = self._spawn(self._poll_loop())
            if self._upgrade and "websocket" in self.upgrades and "websocket" in self._transports:
                self._probe_task = self._spawn(self._probe())
        else:
            self._spawn(self._ws_read_loop(self._ws))

    async def _open_first(self) -> None:
        if self._transports[0] == "polling":
            await self._open_polling()
        else:
            await self._open_websocket()

    def send(self, data: str | bytes) -> None:
        """Queue one packet: ``str`` an encoded text packet (``"4..."``), ``bytes`` a binary
        message. Dropped once the session is closing, as engine.io-client does."""
        if self.state != _OPEN:
            return
        self._buffer.append(data)
        self._idle.clear()
        self._wake.set()

    @property
    def writable(self) -> bool:
        """Whether a packet sent now goes out at once (volatile packets are dropped otherwise):
        the session is open, no upgrade is pausing it, and on polling no POST is in flight."""
        return (
            self.state == _OPEN
            and not self._pausing
            and (self.transport == "websocket" or not self._in_flight)
        )

    def ping_expired(self) -> bool:
        """True when the server's ping is overdue (a timer the machine's sleep delayed)."""
        return self._loop.time() > self._ping_deadline

    async def close(self) -> None:
        """Send what is queued, close the session ("forced close"), wait until it is closed."""
        if self.state == _OPENING:
            self._closed("forced close", None)  # open() sees it and gives up
        elif self.state == _OPEN:
            self.state = _CLOSING
            try:
                if self._probe_task is not None and not self._probe_task.done():
                    # An upgrade in progress holds the writes back; let it finish first.
                    await asyncio.wait({self._probe_task}, timeout=CLOSE_TIMEOUT)
                if self.transport == "polling" and self.state == _CLOSING:
                    self._buffer.append("1")  # the close packet, after what is queued
                    self._idle.clear()
                    self._wake.set()
                await asyncio.wait_for(self._idle.wait(), CLOSE_TIMEOUT)
            except asyncio.TimeoutError:
                pass
            self._closed("forced close", None)
        await self.wait_closed()

    async def wait_closed(self) -> None:
        """Wait until the session's tasks and sockets are gone (after it closed)."""
        if self._cleanup is not None:
            await asyncio.shield(self._cleanup)

    # -- opening -----------------------------------------------------------------------------

    def _params(self, transport: str) -> dict[str, str]:
        params = dict(self._query)
        params["EIO"] = "4"
        params["transport"] = transport
        if self.sid is not None:
            params["sid"] = self.sid
        if transport == "polling":
            params["t"] = f"{next(self._cache_buster):x}"  # caches must not answer a poll
        return params

    def _handshake(self, data: str | bytes | None) -> None:
        try:
            info = orjson.loads(data or b"")
            self.sid = str(info["sid"])
            self.upgrades = [str(u) for u in info.get("upgrades", [])]
            self.ping_interval = float(info["pingInterval"]) / 1000
            self.ping_timeout = float(info["pingTimeout"]) / 1000
            self.max_payload = int(info.get("maxPayload", 0))
        except (ValueError, KeyError, TypeError) as exc:
            raise ConnectError(f"invalid handshake from the server: {data!r:.200}") from exc

    async def _open_polling(self) -> None:
        async with self._session.get(
            self._url, params=self._params("polling"), headers=self._headers, ssl=self._ssl
        ) as resp:
            body = await resp.read()
            if resp.status != 200:
                raise _http_error(resp.status, body)
        packets = decode_payload(body.decode("utf-8"))
        if packets[0].type != PacketType.OPEN:
            raise ConnectError(f"invalid handshake from the server: {body!r:.200}")
        self._handshake(packets[0].data)
        self.transport = "polling"
        self._early = packets[1:]

    async def _ws_connect(self) -> aiohttp.ClientWebSocketResponse[bool]:
        aiohttp = self._aiohttp
        try:
            # The http(s) URL (aiohttp upgrades it): proxies from the environment are looked up
            # by that scheme, the same as for polling.
            return await self._session.ws_connect(
                self._url,
                params=self._params("websocket"),
                headers=self._headers,
                ssl=self._ssl,
                autoping=True,
                max_msg_size=0,  # the server bounds what it sends; the JS client has no limit
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=CLOSE_TIMEOUT),
            )
        except aiohttp.WSServerHandshakeError as exc:
            raise ConnectError(
                f"WebSocket handshake refused: HTTP {exc.status} {exc.message}".rstrip(),
                status=exc.status,
            ) from exc

    async def _open_websocket(self) -> None:
        ws = await self._ws_connect()
        self._ws = ws
        msg = await ws.receive()
        if msg.type != self._aiohttp.WSMsgType.TEXT:
            raise ConnectError("the server closed the WebSocket before the handshake")
        packet = Packet.decode(msg.data)
        if packet.type != PacketType.OPEN:
            raise ConnectError(f"invalid handshake from the server: {msg.data!r:.200}")
        self._handshake(packet.data)
        self.transport = "websocket"

    # -- receiving ---------------------------------------------------------------------------

    def _on_packet(self, packet: Packet) -> None:
        kind = packet.type
        if kind == PacketType.MESSAGE:
            data = packet.data
            self._on_message(data if data is not None else "")
        elif kind == PacketType.PING:
            self.send(PONG)
            self._reset_ping_timer()
            if self._on_ping is not None:
                self._on_ping()
        elif kind == PacketType.CLOSE:
            self._closed("transport close", None)
        # OPEN, PONG, UPGRADE and NOOP mean nothing here (a NOOP ends a poll during upgrade).

    async def _poll_loop(self) -> None:
        aiohttp = self._aiohttp
        try:
            early, self._early = self._early, []
            for packet in early:
                self._on_packet(packet)
            while self.state in (_OPEN, _CLOSING) and not self._pausing:
                async with self._session.get(
                    self._url, params=self._params("polling"), headers=self._headers, ssl=self._ssl
                ) as resp:
                    body = await resp.read()
                    if resp.status != 200:
                        self._closed("transport error", _http_error(resp.status, body))
                        return
                for packet in decode_payload(body.decode("utf-8")):
                    if self.state == _CLOSED:
                        return
                    self._on_packet(packet)
        except (DecodeError, UnicodeDecodeError) as exc:
            self._closed("parse error", exc)
        except (aiohttp.ClientError, OSError) as exc:
            self._closed("transport error", exc)

    async def _ws_read_loop(self, ws: aiohttp.ClientWebSocketResponse[bool] | None) -> None:
        assert ws is not None
        WSMsgType = self._aiohttp.WSMsgType
        decode = Packet.decode
        try:
            while True:
                msg = await ws.receive()
                if msg.type == WSMsgType.TEXT:
                    self._on_packet(decode(msg.data))
                elif msg.type == WSMsgType.BINARY:
                    self._on_message(msg.data)
                elif msg.type == WSMsgType.ERROR:
                    self._closed("transport error", ws.exception())
                    return
                else:  # CLOSE, CLOSING, CLOSED
                    self._closed("transport close", None)
                    return
                if self.state == _CLOSED:
                    return
        except DecodeError as exc:
            self._closed("parse error", exc)
        except (self._aiohttp.ClientError, OSError) as exc:
            self._closed("transport error", exc)

    # -- sending -----------------------------------------------------------------------------

    def _take_batch(self) -> list[str | bytes]:
        """What one POST carries: everything queued, or as much as fits in ``maxPayload``
        (engine.io-client's rule: the first packet always goes)."""
        buffer = self._buffer
        limit = self.max_payload
        if limit and len(buffer) > 1:
            size = 1
            for i, item in enumerate(buffer):
                size += _payload_size(item)
                if i > 0 and size > limit:
                    batch, self._buffer = buffer[:i], buffer[i:]
                    return batch
                size += 2
        self._buffer = []
        return buffer

    async def _write_loop(self) -> None:
        aiohttp = self._aiohttp
        try:
            while self.state != _CLOSED:
                await self._wake.wait()
                self._wake.clear()
                while self._buffer and self.state in (_OPEN, _CLOSING) and not self._pausing:
                    self._in_flight = True
                    self._landed.clear()
                    try:
                        if self.transport == "polling":
                            await self._post(encode_payload(self._take_batch()))
                        else:
                            ws = self._ws
                            assert ws is not None
                            batch, self._buffer = self._buffer, []
                            for item in batch:
                                if isinstance(item, str):
                                    await ws.send_str(item)
                                else:
                                    await ws.send_bytes(item)
                    finally:
                        self._in_flight = False
                        self._landed.set()
                if not self._buffer:
                    self._idle.set()
        except (aiohttp.ClientError, OSError) as exc:
            self._closed("transport error", exc)

    async def _post(self, body: str) -> None:
        async with self._session.post(
            self._url,
            params=self._params("polling"),
            data=body.encode("utf-8"),
            headers={**self._headers, **_POLLING_HEADERS},
            ssl=self._ssl,
        ) as resp:
            answer = await resp.read()
            if resp.status != 200:
                self._closed("transport error", _http_error(resp.status, answer))

    # -- upgrade -----------------------------------------------------------------------------

    async def _probe(self) -> None:
        """Probe a WebSocket; once it answers, pause polling and move over to it."""
        aiohttp = self._aiohttp
        try:
            ws = self._probe_ws = await self._ws_connect()
            await ws.send_str(PROBE_PING)
            msg = await asyncio.wait_for(ws.receive(), self.ping_interval + self.ping_timeout)
            if msg.type != aiohttp.WSMsgType.TEXT or msg.data != PROBE_PONG:
                raise ConnectError(f"probe error: {msg.data!r:.100}")
        except (ConnectError, aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
            logger.debug("upgrade to websocket failed, staying on polling: %s", exc)
            await self._drop_probe()
            return
        # Pause polling: no new request; the poll in flight ends (the server answers it with a
        # noop once it saw the probe) and so does the POST in flight.
        self._pausing = True
        poll = self._poll_task
        if poll is not None and not poll.done():
            await asyncio.wait({poll})
        await self._landed.wait()
        if self.state not in (_OPEN, _CLOSING):
            await self._drop_probe()
            return
        self._probe_ws = None
        self._ws = ws
        self.transport = "websocket"
        try:
            await ws.send_str(UPGRADE)
        except (aiohttp.ClientError, OSError) as exc:
            self._closed("transport error", exc)
            return
        self._pausing = False
        self._spawn(self._ws_read_loop(ws))
        if self._buffer:
            self._wake.set()
        if self._on_upgrade is not None:
            self._on_upgrade("websocket")

    async def _drop_probe(self) -> None:
        ws, self._probe_ws = self._probe_ws, None
        if ws is not None:
            await _close_ws(ws, _ABORT_TIMEOUT)

    # -- heartbeat and closing ---------------------------------------------------------------

    def _reset_ping_timer(self) -> None:
        if self._ping_timer is not None:
            self._ping_timer.cancel()
        delay = self.ping_interval + self.ping_timeout
        self._ping_deadline = self._loop.time() + delay
        self._ping_timer = self._loop.call_later(delay, self._closed, "ping timeout", None)

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _stop(self, graceful: bool) -> None:
        self.state = _CLOSED
        if self._ping_timer is not None:
            self._ping_timer.cancel()
            self._ping_timer = None
        current = asyncio.current_task()
        tasks = [task for task in self._tasks if task is not current]
        opener = self._opener
        if opener is not None and not opener.done() and opener is not current:
            self._open_cancelled = True
            tasks.append(opener)
        for task in tasks:
            task.cancel()
        self._buffer = []
        self._idle.set()
        self._wake.set()
        self._cleanup = self._loop.create_task(self._release(tasks, graceful))

    def _abort(self) -> None:
        """Give up an opening session (nobody was told it opened)."""
        if self.state != _CLOSED:
            self._stop(graceful=False)

    def _closed(self, reason: str, exc: BaseException | None) -> None:
        if self.state == _CLOSED:
            return
        logger.debug("engine session %s closed: %s (%s)", self.sid, reason, exc)
        self._stop(graceful=reason == "forced close")
        self._on_close(reason, exc)

    async def _release(self, tasks: list[asyncio.Task[Any]], graceful: bool) -> None:
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        # Our own close goes through the WebSocket closing handshake; a connection that
        # already failed is cut.
        timeout = CLOSE_TIMEOUT if graceful else _ABORT_TIMEOUT
        for ws in (self._ws, self._probe_ws):
            if ws is not None:
                await _close_ws(ws, timeout)


async def _close_ws(ws: aiohttp.ClientWebSocketResponse[bool], timeout: float) -> None:
    if ws.closed:
        return
    # On timeout aiohttp's close is cancelled, which cuts the connection; any other failure
    # means it is cut already.
    with contextlib.suppress(Exception):
        await asyncio.wait_for(ws.close(), timeout)


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"cannot connect: {text}"
