"""The client's connection to one namespace (the JavaScript client's ``Socket``).

It follows socket.io-client 4.8's socket.ts:

* emits made while disconnected wait in a send buffer (bounded by ``max_buffer``) and go out,
  in order, once the namespace is connected again; ``volatile`` emits are dropped instead when
  the transport cannot take them at once;
* events that arrive before the CONNECT reply wait in a receive buffer;
* acknowledgements: an ack timeout fails the emit with :class:`~turbosio.AckTimeout` ("operation
  has timed out") and takes it out of the send buffer; on a disconnect, acks whose packet was
  sent fail with :class:`~turbosio.Disconnected` ("socket has been disconnected");
* ``retries``: emits go through a queue, one at a time, each with an ack id, and are sent again
  (after each ack timeout, and after a reconnection) until acknowledged or tried
  ``retries + 1`` times;
* connection state recovery: the CONNECT reply's ``pid`` is kept, the last string argument of
  each event (the server's offset) too, and both go in the next CONNECT; ``recovered`` says
  whether the server restored the session.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..exceptions import AckTimeout, Disconnected
from ..protocol.socketio import RESERVED_EVENTS, Packet, PacketType
from .errors import BufferFull, ConnectError

if TYPE_CHECKING:
    from .manager import Manager

__all__ = ["ClientSocket", "Owner", "ack_value"]

logger = logging.getLogger("turbosio.client")

#: An acknowledgement callback, error first: ``(None, args)`` or ``(exception, [])``.
AckCallback = Callable[[BaseException | None, list[Any]], None]
#: Sends the acknowledgement of a received event (once; later calls do nothing).
Reply = Callable[[list[Any]], None]
Auth = dict[str, Any] | Callable[[], "dict[str, Any] | Awaitable[dict[str, Any]] | None"] | None

_V2_MESSAGE = (
    "It seems you are trying to reach a Socket.IO server in v2.x with a v3.x client, "
    "but they are not compatible"
)


class Owner:
    """What a :class:`ClientSocket` tells the application (the :class:`AsyncClient`)."""

    def _on_event(
        self, socket: ClientSocket, event: Any, args: list[Any], reply: Reply | None
    ) -> None:
        """An event arrived; ``reply`` sends its acknowledgement when the server asked one."""

    def _on_lifecycle(self, socket: ClientSocket, event: str, arg: Any) -> None:
        """``connect`` (arg None), ``connect_error`` (a ConnectError), ``disconnect`` (reason)."""


def ack_value(args: list[Any]) -> Any:
    """What ``emit_with_ack`` returns: nothing -> None, one value -> it, several -> a tuple."""
    if not args:
        return None
    if len(args) == 1:
        return args[0]
    return tuple(args)


def reply_args(result: Any) -> list[Any]:
    """A handler's return value as acknowledgement arguments (a tuple is several)."""
    if result is None:
        return []
    if isinstance(result, tuple):
        return list(result)
    return [result]


@dataclass(slots=True)
class _Ack:
    callback: AckCallback
    #: Told about timeouts and disconnections too (emit_with_ack), not only answers.
    with_error: bool
    timer: asyncio.TimerHandle | None = None


@dataclass(slots=True)
class _Queued:
    """An emit in the ``retries`` queue."""

    event: str
    args: list[Any]
    timeout: float | None
    user_ack: AckCallback | None
    try_count: int = 0
    pending: bool = False
    on_ack: AckCallback = field(default=lambda err, args: None)


class ClientSocket:
    """One namespace of a client connection. :class:`turbosio.AsyncClient` drives these; its
    ``emit``/``emit_with_ack`` with ``namespace=`` land here."""

    def __init__(
        self,
        manager: Manager,
        namespace: str,
        owner: Owner,
        *,
        auth: Auth = None,
        ack_timeout: float | None = None,
        retries: int = 0,
        max_buffer: int | None = 1000,
    ) -> None:
        self.manager = manager
        #: The namespace, e.g. ``"/"`` or ``"/chat"``.
        self.namespace = namespace
        self.auth = auth
        self.ack_timeout = ack_timeout
        self.retries = retries
        self.max_buffer = max_buffer
        self._owner = owner
        #: The socket id the server gave (``None`` while disconnected).
        self.id: str | None = None
        #: Whether the namespace is connected.
        self.connected = False
        #: Whether the last connection restored the previous session (connection state
        #: recovery); the server must support it.
        self.recovered = False
        #: Whether the socket wants to be connected (reconnects with the manager); false after
        #: a disconnect from either side and after a refusal.
        self.active = False
        self._send_buffer: list[Packet] = []
        self._receive_buffer: list[tuple[list[Any], int | None]] = []
        self._acks: dict[int, _Ack] = {}
        self._ids = 0
        self._queue: deque[_Queued] = deque()
        self._pid: str | None = None
        self._last_offset: str | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._auth_task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        state = "connected" if self.connected else "disconnected"
        return f"<ClientSocket {self.namespace} {self.id} {state}>"

    # -- connecting --------------------------------------------------------------------------

    def open(self) -> asyncio.Future[None]:
        """Want to be connected; the future completes on the CONNECT reply (or fails with
        :class:`ConnectError` on a refusal)."""
        self.active = True
        self._waiter = asyncio.get_running_loop().create_future()
        if self.manager.state == "open":
            self._onopen()
        return self._waiter

    def _onopen(self) -> None:
        """The engine session is open: ask to join the namespace."""
        auth = self.auth
        try:
            if callable(auth):
                result = auth()
                if isinstance(result, Awaitable):
                    self._auth_task = asyncio.ensure_future(self._send_connect_later(result))
                    return
                auth = result
            self._send_connect(auth)
        except Exception as exc:
            self._auth_failed(exc)

    async def _send_connect_later(self, pending: Awaitable[dict[str, Any] | None]) -> None:
        try:
            auth = await pending
            if self.active and self.manager.state == "open":
                self._send_connect(auth)
        except Exception as exc:
            self._auth_failed(exc)

    def _auth_failed(self, exc: Exception) -> None:
        logger.error("no CONNECT sent to %s: the auth failed", self.namespace, exc_info=exc)
        err = ConnectError(f"the auth failed: {exc}", namespace=self.namespace)
        _fail_waiter(self._waiter, err)
        self._destroy()
        self._fail(err)

    def _send_connect(self, auth: dict[str, Any] | None) -> None:
        if auth is not None and not isinstance(auth, dict):
            raise TypeError(f"auth must be a dict (or a callable returning one), not {auth!r}")
        data: dict[str, Any] | None = auth
        if self._pid is not None:
            data = {"pid": self._pid, "offset": self._last_offset, **(auth or {})}
        self.manager.packet(Packet(PacketType.CONNECT, self.namespace, data))

    # -- emitting ----------------------------------------------------------------------------

    def emit(
        self,
        event: str,
        args: list[Any],
        *,
        ack: _Ack | None = None,
        volatile: bool = False,
        timeout: float | None = None,
        from_queue: bool = False,
    ) -> None:
        """Send ``event`` with ``args``; ``ack`` receives the acknowledgement."""
        if not isinstance(event, str):
            raise TypeError(f"the event name must be a str, not {type(event).__name__}")
        if event in RESERVED_EVENTS:
            raise ValueError(f'"{event}" is a reserved event name')
        if self.retries and not from_queue and not volatile:
            self._add_to_queue(event, args, ack, timeout)
            return
        packet_id = None
        if ack is not None:
            packet_id = self._ids
            self._ids += 1
        packet = Packet(PacketType.EVENT, self.namespace, [event, *args], packet_id)
        engine = self.manager.engine
        if volatile and (not self.connected or engine is None or not engine.writable):
            logger.debug("volatile packet dropped: the transport is not writable")
            if ack is not None:
                ack.callback(Disconnected("volatile packet dropped: not connected"), [])
            return
        if self.connected and engine is not None and not engine.ping_expired():
            if ack is not None:
                self._register_ack(packet_id, ack, timeout)  # type: ignore[arg-type]
            self.manager.packet(packet)
            return
        if self.max_buffer is not None and len(self._send_buffer) >= self.max_buffer:
            raise BufferFull(
                f"the offline buffer of {self.namespace} holds {self.max_buffer} packets "
                "(max_buffer): wait for the connection, or emit volatile"
            )
        if ack is not None:
            self._register_ack(packet_id, ack, timeout)  # type: ignore[arg-type]
        self._send_buffer.append(packet)

    def _register_ack(self, packet_id: int, ack: _Ack, timeout: float | None) -> None:
        if timeout is None:
            timeout = self.ack_timeout
        if timeout is not None:
            ack.with_error = True
            ack.timer = asyncio.get_running_loop().call_later(
                timeout, self._ack_timed_out, packet_id
            )
        self._acks[packet_id] = ack

    def _ack_timed_out(self, packet_id: int) -> None:
        ack = self._acks.pop(packet_id, None)
        if ack is None:
            return
        self._send_buffer = [p for p in self._send_buffer if p.id != packet_id]
        ack.callback(AckTimeout(), [])

    def _add_to_queue(
        self, event: str, args: list[Any], ack: _Ack | None, timeout: float | None
    ) -> None:
        if self.max_buffer is not None and len(self._queue) >= self.max_buffer:
            raise BufferFull(
                f"the retry queue of {self.namespace} holds {self.max_buffer} packets "
                "(max_buffer): wait for the acknowledgements"
            )
        entry = _Queued(event, args, timeout, ack.callback if ack is not None else None)

        def on_ack(err: BaseException | None, response: list[Any]) -> None:
            if not self._queue or self._queue[0] is not entry:
                return  # already acknowledged (an answer after the timeout)
            if err is not None:
                if entry.try_count > self.retries:
                    logger.debug("packet %r discarded after %d tries", event, entry.try_count)
                    self._queue.popleft()
                    if entry.user_ack is not None:
                        entry.user_ack(err, [])
            else:
                self._queue.popleft()
                if entry.user_ack is not None:
                    entry.user_ack(None, response)
            entry.pending = False
            self._drain_queue()

        entry.on_ack = on_ack
        self._queue.append(entry)
        self._drain_queue()

    def _drain_queue(self, force: bool = False) -> None:
        if not self.connected or not self._queue:
            return
        entry = self._queue[0]
        if entry.pending and not force:
            return
        entry.pending = True
        entry.try_count += 1
        self.emit(
            entry.event,
            entry.args,
            ack=_Ack(entry.on_ack, with_error=True),
            timeout=entry.timeout,
            from_queue=True,
        )

    # -- receiving ---------------------------------------------------------------------------

    def _onpacket(self, packet: Packet) -> None:
        kind = packet.type
        if kind == PacketType.EVENT or kind == PacketType.BINARY_EVENT:
            if self.connected:
                self._emit_event(packet.data, packet.id)
            else:
                self._receive_buffer.append((packet.data, packet.id))
        elif kind == PacketType.ACK or kind == PacketType.BINARY_ACK:
            ack = self._acks.pop(packet.id, None) if packet.id is not None else None
            if ack is None:
                logger.debug("acknowledgement %s matches no emit", packet.id)
                return
            if ack.timer is not None:
                ack.timer.cancel()
            ack.callback(None, packet.data)
        elif kind == PacketType.CONNECT:
            data = packet.data
            if isinstance(data, dict) and isinstance(data.get("sid"), str):
                pid = data.get("pid")
                self._onconnect(data["sid"], pid if isinstance(pid, str) else None)
            else:
                self._lifecycle(
                    "connect_error", ConnectError(_V2_MESSAGE, namespace=self.namespace)
                )
        elif kind == PacketType.DISCONNECT:
            self._destroy()
            self._onclose("io server disconnect")
        elif kind == PacketType.CONNECT_ERROR:
            data = packet.data
            if isinstance(data, dict):
                err = ConnectError(
                    str(data.get("message", "")), data.get("data"), namespace=self.namespace
                )
            else:
                err = ConnectError(str(data), namespace=self.namespace)
            # connect() learns the refusal before the manager closes (and fails the rest).
            _fail_waiter(self._waiter, err)
            self._destroy()
            self._fail(err)

    def _emit_event(self, data: list[Any], packet_id: int | None) -> None:
        reply: Reply | None = None
        if packet_id is not None:
            reply = self._replier(packet_id)
        self._owner._on_event(self, data[0], data[1:], reply)
        # Connection state recovery: the server appends its offset to every event it stores.
        if self._pid is not None and packet_id is None and isinstance(data[-1], str):
            self._last_offset = data[-1]

    def _replier(self, packet_id: int) -> Reply:
        sent = False

        def reply(args: list[Any]) -> None:
            nonlocal sent
            if sent:
                return
            sent = True
            if self.manager.state == "open":
                self.manager.packet(Packet(PacketType.ACK, self.namespace, args, packet_id))

        return reply

    def _onconnect(self, sid: str, pid: str | None) -> None:
        self.id = sid
        self.recovered = pid is not None and self._pid == pid
        self._pid = pid
        self.connected = True
        received, self._receive_buffer = self._receive_buffer, []
        for data, packet_id in received:
            self._emit_event(data, packet_id)
        buffered, self._send_buffer = self._send_buffer, []
        for packet in buffered:
            self.manager.packet(packet)
        self._drain_queue(force=True)
        self._lifecycle("connect", None)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, err: ConnectError) -> None:
        """The connection attempt failed: tell the handlers and whoever waits in connect()."""
        self._lifecycle("connect_error", err)
        _fail_waiter(self._waiter, err)

    def _onerror(self, err: ConnectError) -> None:
        """The manager could not open the connection."""
        if not self.connected:
            self._lifecycle("connect_error", err)

    def _onclose(self, reason: str) -> None:
        """The connection closed, or we left the namespace."""
        was_connected = self.connected
        self.connected = False
        self.id = None
        if self._auth_task is not None:
            self._auth_task.cancel()
            self._auth_task = None
        if was_connected:
            self._lifecycle("disconnect", reason)
        self._clear_acks()

    def _clear_acks(self) -> None:
        buffered = {p.id for p in self._send_buffer if p.id is not None}
        for packet_id in [i for i in self._acks if i not in buffered]:
            ack = self._acks.pop(packet_id)
            if ack.timer is not None:
                ack.timer.cancel()
            if ack.with_error:
                ack.callback(Disconnected(), [])

    # -- leaving -----------------------------------------------------------------------------

    def _destroy(self) -> None:
        self.active = False
        self.manager.destroy(self)

    def disconnect(self) -> None:
        """Leave the namespace ("io client disconnect"); the last namespace closes the
        connection."""
        connected = self.connected
        if connected:
            self.manager.packet(Packet(PacketType.DISCONNECT, self.namespace))
        if self.active:
            self._destroy()
        if connected:
            self._onclose("io client disconnect")
        _fail_waiter(self._waiter, ConnectError("disconnected", namespace=self.namespace))

    def give_up(self, err: ConnectError) -> None:
        """The manager stopped for good: fail pending acks and a waiting connect()."""
        _fail_waiter(self._waiter, err)
        for packet_id in list(self._acks):
            ack = self._acks.pop(packet_id)
            if ack.timer is not None:
                ack.timer.cancel()
            if ack.with_error:
                ack.callback(Disconnected(), [])
        self._send_buffer = []
        queue, self._queue = self._queue, deque()
        for entry in queue:
            if entry.user_ack is not None:
                entry.user_ack(Disconnected(), [])

    def _lifecycle(self, event: str, arg: Any) -> None:
        self._owner._on_lifecycle(self, event, arg)


def _fail_waiter(waiter: asyncio.Future[None] | None, err: ConnectError) -> None:
    if waiter is not None and not waiter.done():
        waiter.set_exception(err)
        waiter.exception()  # retrieved: connect() may have stopped waiting already
