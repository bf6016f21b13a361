"""Cluster adapters: rooms and broadcasts shared by several servers.

A cluster adapter is an in-memory adapter that also tells the other servers what it does, and
does what they tell it. This module holds what every cluster adapter shares:

* :class:`ClusterAdapter`, the message model of Node's ``socket.io-adapter`` ``ClusterAdapter``
  (the base of the sharded Redis adapter and of the Redis streams adapter): one message type per
  operation, responses addressed to the requesting server's ``uid``. A transport subclasses it
  and supplies ``_publish``, ``_publish_response`` and ``server_count``, and hands what it
  receives to ``_on_message``;
* the pieces the classic Redis adapter (:mod:`turbosio.adapters.redis`) uses too: how a packet,
  broadcast options and a socket travel, :class:`SocketDetails` for sockets of other servers,
  the pending-request book and :class:`RequestTimeout`.

Local delivery never waits for the cluster: a broadcast is written to this server's sockets at
once (encoded once, as in memory) and published once.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import IntEnum
from functools import partial
from typing import Any

import orjson

from ..exceptions import AckTimeout
from ..protocol.errors import TurbosioError
from ..protocol.socketio import Packet, PacketType
from .base import BroadcastFlags, BroadcastOptions, NamespaceView
from .memory import InMemoryAdapter

__all__ = [
    "ClusterAdapter",
    "MessageType",
    "RequestTimeout",
    "SocketDetails",
    "decode_options",
    "encode_options",
    "json_dumps",
]

logger = logging.getLogger("turbosio.cluster")


class RequestTimeout(TurbosioError, TimeoutError):
    """A request to the other servers of a cluster (``fetch_sockets()``, ``all_rooms()``) did
    not get every answer within the adapter's ``request_timeout``.

    A server that stopped without leaving the cluster is still counted until Redis notices
    its connection is gone; try again, or use ``.local`` for this server's sockets only.
    ``server_side_emit_with_ack`` reports its timeout as :class:`turbosio.AckTimeout` instead,
    with the replies that did arrive.
    """


class MessageType(IntEnum):
    """Message types of Node's ClusterAdapter (socket.io-adapter ``MessageType``)."""

    INITIAL_HEARTBEAT = 1
    HEARTBEAT = 2
    BROADCAST = 3
    SOCKETS_JOIN = 4
    SOCKETS_LEAVE = 5
    DISCONNECT_SOCKETS = 6
    FETCH_SOCKETS = 7
    FETCH_SOCKETS_RESPONSE = 8
    SERVER_SIDE_EMIT = 9
    SERVER_SIDE_EMIT_RESPONSE = 10
    BROADCAST_CLIENT_COUNT = 11
    BROADCAST_ACK = 12
    ADAPTER_CLOSE = 13


@dataclass(frozen=True, slots=True)
class SocketDetails:
    """A socket of another server, as ``fetch_sockets()`` receives it.

    ``BroadcastOperator.fetch_sockets()`` turns these into :class:`turbosio.RemoteSocket`.
    """

    id: str
    #: Node's handshake object: headers, time, address, xdomain, secure, issued, url, query, auth.
    handshake: dict[str, Any]
    rooms: list[str]
    data: Any


# -- how things travel -------------------------------------------------------------------------


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (bytes, bytearray, memoryview)):
        # What JSON.stringify makes of a Node Buffer.
        return {"type": "Buffer", "data": list(bytes(obj))}
    if isinstance(obj, (set, frozenset)):
        return list(obj)
    return str(obj)


def json_dumps(obj: Any) -> bytes:
    """``obj`` as JSON, as Node's cluster packages write JSON messages (``JSON.stringify``).

    Binary values become Node's ``{"type": "Buffer", "data": [...]}``, sets become lists and
    values JSON has no form for their ``str()``, so a message is never lost to one odd value.
    """
    return orjson.dumps(obj, default=_json_default, option=orjson.OPT_NON_STR_KEYS)


def _flags_to_wire(flags: BroadcastFlags) -> dict[str, Any]:
    # Node sends only the flags that were set; "timeout" is in milliseconds.
    out: dict[str, Any] = {}
    if flags.volatile:
        out["volatile"] = True
    if not flags.compress:
        out["compress"] = False
    if flags.timeout is not None:
        millis = flags.timeout * 1000
        out["timeout"] = int(millis) if float(millis).is_integer() else millis
    return out


def _flags_from_wire(raw: Any) -> BroadcastFlags:
    if not isinstance(raw, dict):
        return BroadcastFlags()
    timeout = raw.get("timeout")
    return BroadcastFlags(
        volatile=bool(raw.get("volatile")),
        compress=raw.get("compress") is not False,
        timeout=timeout / 1000 if isinstance(timeout, (int, float)) else None,
    )


def encode_options(opts: BroadcastOptions, flags: bool = True) -> dict[str, Any]:
    """Broadcast options as Node sends them: ``{rooms, except, flags}`` (``flags`` left out
    when ``flags`` is false, as in Node's join, leave and fetch requests)."""
    out: dict[str, Any] = {"rooms": list(opts.rooms), "except": list(opts.except_)}
    if flags:
        out["flags"] = _flags_to_wire(opts.flags)
    return out


def _rooms(raw: Any) -> frozenset[str]:
    if not isinstance(raw, list):
        return frozenset()
    # Node allows numbers as room names; they travel as numbers.
    return frozenset(r if isinstance(r, str) else str(r) for r in raw if r is not None)


def decode_options(raw: Any) -> BroadcastOptions:
    """Broadcast options received from another server (missing parts: everyone, no flags)."""
    if not isinstance(raw, dict):
        return BroadcastOptions()
    return BroadcastOptions(
        _rooms(raw.get("rooms")), _rooms(raw.get("except")), _flags_from_wire(raw.get("flags"))
    )


def packet_from_wire(raw: Any, nsp: str) -> Packet | None:
    """The EVENT packet of a received broadcast, or None if it is not one."""
    if not isinstance(raw, dict) or raw.get("type") not in (2, 5):
        return None
    data = raw.get("data")
    if not isinstance(data, list) or not data:
        return None
    return Packet(PacketType.EVENT, nsp, data)


def socket_details(socket: Any, rooms: Iterable[str]) -> dict[str, Any]:
    """A local socket as Node describes it to other servers (``fetchSockets`` responses)."""
    h = socket.handshake
    handshake = {
        "headers": dict(h.headers),
        "time": h.time,
        "address": h.address,
        "xdomain": h.xdomain,
        "secure": h.secure,
        "issued": h.issued,
        "url": h.url,
        "query": dict(h.query),
        "auth": h.auth,
    }
    extra = getattr(h, "extra", None)
    if extra:
        for key, value in extra.items():
            handshake.setdefault(key, value)
    return {"id": socket.id, "handshake": handshake, "rooms": list(rooms), "data": socket.data}


def details_from_wire(raw: Any) -> SocketDetails | None:
    """A socket of another server from its wire form, or None if malformed."""
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
        return None
    handshake = raw.get("handshake")
    rooms = raw.get("rooms")
    return SocketDetails(
        raw["id"],
        handshake if isinstance(handshake, dict) else {},
        [r if isinstance(r, str) else str(r) for r in rooms] if isinstance(rooms, list) else [],
        raw.get("data"),
    )


def first_value(values: tuple[Any, ...]) -> tuple[bool, Any]:
    """A client's acknowledgement as one value, as Node forwards it across servers (its first
    argument): ``(present, value)``."""
    return (True, values[0]) if values else (False, None)


def reply_once(answer: Callable[[Any], None]) -> Callable[[Any], None]:
    """The ``reply`` given to a server-side handler for a request of another server: it
    answers through ``answer`` the first time only (one reply per server, as in Node)."""
    replied = False

    def reply(value: Any) -> None:
        nonlocal replied
        if not replied:
            replied = True
            answer(value)

    return reply


# -- requests waiting for other servers --------------------------------------------------------


class _Pending:
    __slots__ = ("current", "expected", "future", "kind", "responses", "timer")

    def __init__(self, kind: int, expected: int, responses: list[Any]) -> None:
        self.kind = kind
        self.expected = expected
        self.current = 0
        self.responses = responses
        self.future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self.timer: asyncio.TimerHandle | None = None


class RequestBook:
    """Requests sent to the other servers, by id, until every answer is in or time is up."""

    def __init__(self) -> None:
        self._pending: dict[str, _Pending] = {}

    def __contains__(self, request_id: object) -> bool:
        return request_id in self._pending

    def open(
        self,
        request_id: str,
        kind: int,
        expected: int,
        timeout: float,
        on_timeout: Callable[[_Pending], BaseException],
        responses: list[Any] | None = None,
    ) -> asyncio.Future[list[Any]]:
        """Record a request; its future resolves with the responses once ``expected`` came."""
        pending = _Pending(kind, expected, responses if responses is not None else [])
        pending.timer = asyncio.get_running_loop().call_later(
            timeout, self._expire, request_id, on_timeout
        )
        self._pending[request_id] = pending
        return pending.future

    def get(self, request_id: Any) -> _Pending | None:
        """The pending request ``request_id``, if any."""
        return self._pending.get(request_id) if isinstance(request_id, str) else None

    def answered(self, request_id: str, pending: _Pending) -> None:
        """Count one answer; resolve the request when all came."""
        pending.current += 1
        if pending.current >= pending.expected:
            self._finish(request_id, pending)

    def _finish(self, request_id: str, pending: _Pending) -> None:
        self._pending.pop(request_id, None)
        if pending.timer is not None:
            pending.timer.cancel()
        if not pending.future.done():
            pending.future.set_result(pending.responses)

    def _expire(self, request_id: str, on_timeout: Callable[[_Pending], BaseException]) -> None:
        pending = self._pending.pop(request_id, None)
        if pending is not None and not pending.future.done():
            pending.future.set_exception(on_timeout(pending))

    def close(self) -> None:
        """Fail every pending request (the adapter is closing)."""
        for pending in self._pending.values():
            if pending.timer is not None:
                pending.timer.cancel()
            if not pending.future.done():
                pending.future.set_exception(RequestTimeout("the adapter was closed"))
        self._pending.clear()


def timeout_message(pending: _Pending) -> str:
    """Node's words for a request that did not get every answer."""
    return f"timeout reached: only {pending.current} responses received out of {pending.expected}"


def new_request_id() -> str:
    """A random request id (16 hex digits, as Node's ClusterAdapter makes them)."""
    return secrets.token_hex(8)


# -- the ClusterAdapter message model ------------------------------------------------------------


class ClusterAdapter(InMemoryAdapter):
    """Node's ClusterAdapter: every operation is a message to the other servers.

    Subclasses send messages with ``_publish(message)`` and responses with
    ``_publish_response(requester_uid, response)`` (both must return at once: queue, do not
    wait), count servers with ``server_count()``, and pass each message received to
    ``_on_message``. ``request_timeout`` (seconds) bounds ``fetch_sockets`` and
    ``server_side_emit_with_ack`` (Node: 5 s).
    """

    def __init__(self, nsp: NamespaceView, request_timeout: float = 5.0) -> None:
        super().__init__(nsp)
        #: This server's id in the cluster (16 hex digits, as Node's).
        self.uid = secrets.token_hex(8)
        self.request_timeout = request_timeout
        self._requests = RequestBook()
        self._ack_requests: dict[str, tuple[Callable[[int], None], Callable[..., None]]] = {}

    # -- to be supplied by the transport ----------------------------------------------------

    def _publish(self, message: dict[str, Any]) -> None:
        raise NotImplementedError

    def _publish_response(self, requester_uid: str, response: dict[str, Any]) -> None:
        raise NotImplementedError

    # -- sending -------------------------------------------------------------------------------

    def _send(self, kind: MessageType, data: dict[str, Any]) -> None:
        # Node builds {type, data} and then sets uid and nsp: the same key order here.
        self._publish({"type": int(kind), "data": data, "uid": self.uid, "nsp": self.nsp.name})

    def _respond(self, requester_uid: str, kind: MessageType, data: dict[str, Any]) -> None:
        response = {"type": int(kind), "data": data, "uid": self.uid, "nsp": self.nsp.name}
        self._publish_response(requester_uid, response)

    def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        """Publish ``packet`` to the other servers, then send it to local sockets."""
        if not opts.flags.local:
            wire = {"type": 2, "data": packet.data}
            self._send(MessageType.BROADCAST, {"packet": wire, "opts": encode_options(opts)})
        super().broadcast(packet, opts)

    def broadcast_with_ack(
        self,
        packet: Packet,
        opts: BroadcastOptions,
        client_count: Callable[[int], None],
        ack: Callable[..., None],
    ) -> None:
        """Broadcast ``packet`` to every server; each reports its client count, then acks."""
        if not opts.flags.local:
            request_id = new_request_id()
            self._ack_requests[request_id] = (client_count, ack)
            wire = {"type": 2, "data": packet.data}
            data = {"packet": wire, "requestId": request_id, "opts": encode_options(opts)}
            self._send(MessageType.BROADCAST, data)
            keep = opts.flags.timeout if opts.flags.timeout is not None else self.request_timeout
            asyncio.get_running_loop().call_later(keep, self._ack_requests.pop, request_id, None)
        super().broadcast_with_ack(packet, opts, client_count, ack)

    def add_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        """Make the selected sockets of every server join ``rooms``."""
        rooms = list(rooms)
        if not opts.flags.local:
            data = {"opts": encode_options(opts), "rooms": rooms}
            self._send(MessageType.SOCKETS_JOIN, data)
        super().add_sockets(opts, rooms)

    def del_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        """Make the selected sockets of every server leave ``rooms``."""
        rooms = list(rooms)
        if not opts.flags.local:
            data = {"opts": encode_options(opts), "rooms": rooms}
            self._send(MessageType.SOCKETS_LEAVE, data)
        super().del_sockets(opts, rooms)

    def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None:
        """Disconnect the selected sockets of every server."""
        if not opts.flags.local:
            self._send(
                MessageType.DISCONNECT_SOCKETS, {"opts": encode_options(opts), "close": close}
            )
        super().disconnect_sockets(opts, close)

    async def fetch_sockets(self, opts: BroadcastOptions) -> list[Any]:
        """This server's selected sockets, then :class:`SocketDetails` of the other servers'.

        Raises :class:`RequestTimeout` when a server does not answer in time.
        """
        local: list[Any] = list(self._select(opts))
        if opts.flags.local:
            return local
        expected = await self.server_count() - 1
        if expected <= 0:
            return local
        request_id = new_request_id()
        timeout = opts.flags.timeout or self.request_timeout
        future = self._requests.open(
            request_id,
            MessageType.FETCH_SOCKETS,
            expected,
            timeout,
            lambda p: RequestTimeout(timeout_message(p)),
            local,
        )
        data = {"opts": encode_options(opts), "requestId": request_id}
        self._send(MessageType.FETCH_SOCKETS, data)
        return await future

    def server_side_emit(self, data: list[Any]) -> None:
        """Send ``[event, *args]`` to the other servers' ``on_server_side`` handlers."""
        self._send(MessageType.SERVER_SIDE_EMIT, {"packet": data})

    async def server_side_emit_with_ack(
        self, data: list[Any], timeout: float | None = None
    ) -> list[Any]:
        """Send ``[event, *args]`` to the other servers; one reply per server.

        Raises :class:`turbosio.AckTimeout` (with the replies that came) after ``timeout``
        seconds (the adapter's ``request_timeout`` by default).
        """
        expected = await self.server_count() - 1
        if expected <= 0:
            return []
        request_id = new_request_id()
        future = self._requests.open(
            request_id,
            MessageType.SERVER_SIDE_EMIT,
            expected,
            timeout if timeout is not None else self.request_timeout,
            lambda p: AckTimeout(timeout_message(p), list(p.responses)),
        )
        self._send(MessageType.SERVER_SIDE_EMIT, {"requestId": request_id, "packet": data})
        return await future

    # -- receiving -----------------------------------------------------------------------------

    def _on_message(self, message: Any) -> None:
        """Act on a message of another server (ignoring this server's own)."""
        if not isinstance(message, dict) or message.get("uid") == self.uid:
            return
        if message.get("nsp") != self.nsp.name:
            return
        kind = message.get("type")
        data = message.get("data")
        if not isinstance(data, dict):
            return
        sender = message.get("uid")
        if kind == MessageType.BROADCAST:
            self._on_broadcast(sender, data)
        elif kind == MessageType.SOCKETS_JOIN:
            InMemoryAdapter.add_sockets(self, decode_options(data.get("opts")), _names(data))
        elif kind == MessageType.SOCKETS_LEAVE:
            InMemoryAdapter.del_sockets(self, decode_options(data.get("opts")), _names(data))
        elif kind == MessageType.DISCONNECT_SOCKETS:
            opts = decode_options(data.get("opts"))
            InMemoryAdapter.disconnect_sockets(self, opts, bool(data.get("close")))
        elif kind == MessageType.FETCH_SOCKETS:
            opts = decode_options(data.get("opts"))
            sockets = [socket_details(s, self.socket_rooms(s.id)) for s in self._select(opts)]
            reply = {"requestId": data.get("requestId"), "sockets": sockets}
            self._respond(str(sender), MessageType.FETCH_SOCKETS_RESPONSE, reply)
        elif kind == MessageType.SERVER_SIDE_EMIT:
            self._on_server_side_emit(str(sender), data)
        elif kind in _RESPONSES:
            self._on_response(message)

    def _on_broadcast(self, sender: Any, data: dict[str, Any]) -> None:
        packet = packet_from_wire(data.get("packet"), self.nsp.name)
        if packet is None:
            return
        opts = decode_options(data.get("opts"))
        request_id = data.get("requestId")
        if request_id is None:
            InMemoryAdapter.broadcast(self, packet, opts)
            return
        packet = Packet(packet.type, packet.namespace, packet.data, self.nsp._next_ack_id())
        InMemoryAdapter.broadcast_with_ack(
            self,
            packet,
            opts,
            partial(self._count_reply, str(sender), request_id),
            partial(self._ack_reply, str(sender), request_id),
        )

    def _count_reply(self, sender: str, request_id: Any, count: int) -> None:
        data = {"requestId": request_id, "clientCount": count}
        self._respond(sender, MessageType.BROADCAST_CLIENT_COUNT, data)

    def _ack_reply(self, sender: str, request_id: Any, *values: Any) -> None:
        present, value = first_value(values)
        data: dict[str, Any] = {"requestId": request_id}
        if present:
            data["packet"] = value
        self._respond(sender, MessageType.BROADCAST_ACK, data)

    def _on_server_side_emit(self, sender: str, data: dict[str, Any]) -> None:
        packet = data.get("packet")
        if not isinstance(packet, list) or not packet:
            return
        request_id = data.get("requestId")
        if request_id is None:
            self.nsp._on_server_side_emit(packet, None)  # type: ignore[attr-defined]
            return

        def answer(value: Any) -> None:
            response = {"requestId": request_id, "packet": value}
            self._respond(sender, MessageType.SERVER_SIDE_EMIT_RESPONSE, response)

        self.nsp._on_server_side_emit(packet, reply_once(answer))  # type: ignore[attr-defined]

    def _on_response(self, response: Any) -> None:
        """Act on a response to one of this server's requests."""
        if not isinstance(response, dict):
            return
        data = response.get("data")
        if not isinstance(data, dict):
            return
        kind = response.get("type")
        request_id = data.get("requestId")
        if kind == MessageType.BROADCAST_CLIENT_COUNT:
            callbacks = self._ack_requests.get(request_id) if isinstance(request_id, str) else None
            count = data.get("clientCount")
            if callbacks is not None and isinstance(count, int):
                callbacks[0](count)
        elif kind == MessageType.BROADCAST_ACK:
            callbacks = self._ack_requests.get(request_id) if isinstance(request_id, str) else None
            if callbacks is not None:
                callbacks[1](data.get("packet"))
        elif kind == MessageType.FETCH_SOCKETS_RESPONSE:
            pending = self._requests.get(request_id)
            if pending is None or pending.kind != MessageType.FETCH_SOCKETS:
                return
            assert isinstance(request_id, str)
            sockets = data.get("sockets")
            if isinstance(sockets, list):
                for raw in sockets:
                    details = details_from_wire(raw)
                    if details is not None:
                        pending.responses.append(details)
            self._requests.answered(request_id, pending)
        elif kind == MessageType.SERVER_SIDE_EMIT_RESPONSE:
            pending = self._requests.get(request_id)
            if pending is None or pending.kind != MessageType.SERVER_SIDE_EMIT:
                return
            assert isinstance(request_id, str)
            pending.responses.append(data.get("packet"))
            self._requests.answered(request_id, pending)

    def close(self) -> None:
        """Fail the requests still waiting and forget the broadcasts awaiting acks."""
        self._requests.close()
        self._ack_requests.clear()


_RESPONSES = frozenset(
    (
        MessageType.FETCH_SOCKETS_RESPONSE,
        MessageType.SERVER_SIDE_EMIT_RESPONSE,
        MessageType.BROADCAST_CLIENT_COUNT,
        MessageType.BROADCAST_ACK,
    )
)


def _names(data: dict[str, Any]) -> list[str]:
    rooms = data.get("rooms")
    if not isinstance(rooms, list):
        return []
    return [r if isinstance(r, str) else str(r) for r in rooms if r is not None]
