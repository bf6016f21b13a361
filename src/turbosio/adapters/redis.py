"""The Redis adapters: several servers, Python or Node, sharing rooms through Redis.

:class:`RedisAdapter` speaks the wire format of Node's ``@socket.io/redis-adapter`` 8.x
(classic Redis pub/sub); :class:`ShardedRedisAdapter` that of its ``createShardedAdapter``
(sharded pub/sub, ``SPUBLISH``/``SSUBSCRIBE``, Redis 7 and newer). A turbosio server and a Node
server on the same Redis and key serve one set of rooms::

    sio = turbosio.Server(adapter=turbosio.RedisAdapter("redis://127.0.0.1:6379"))

Both run on redis-py's asyncio client (``pip install turbosio[redis]``). Each adapter object
holds one connection to publish and one subscribed connection, read by one task, shared by
every namespace of the server; publishing goes through one writer task that sends whatever
accumulated in one pipeline. No task, lock or timer is created per message, and local sockets
get a broadcast at once, without waiting for Redis.

Faults: :meth:`Server.serve` raises :class:`RedisUnavailable` when Redis cannot be reached at
start. When the connection is lost while running, one warning is logged, local delivery goes
on (messages for other servers are dropped meanwhile), the subscriber reconnects with backoff
and subscribes again, and one line says when it is back. While Redis is unreachable this
server counts as the only one: ``fetch_sockets()`` returns local sockets and
``server_side_emit_with_ack()`` no replies. Requests to other servers that do not all answer in
``request_timeout`` seconds raise :class:`turbosio.adapters.cluster.RequestTimeout` (fetching
sockets, rooms) or :class:`turbosio.AckTimeout` (server-side emits with acks).
"""

from __future__ import annotations

import asyncio
import secrets
import string
from collections.abc import Callable, Iterable
from enum import IntEnum
from functools import partial
from typing import Any, Literal

import orjson

from ..exceptions import AckTimeout
from ..protocol.socketio import Packet
from . import notepack
from .base import BroadcastOptions, NamespaceView
from .cluster import (
    ClusterAdapter,
    MessageType,
    RequestBook,
    RequestTimeout,
    decode_options,
    details_from_wire,
    encode_options,
    first_value,
    json_dumps,
    packet_from_wire,
    reply_once,
    socket_details,
    timeout_message,
)
from .memory import InMemoryAdapter
from .redis_pubsub import Link, RedisUnavailable

_ALPHANUMERIC = string.ascii_letters + string.digits

__all__ = ["RedisAdapter", "RedisUnavailable", "ShardedRedisAdapter"]


def _glob_escape(text: str) -> str:
    # PSUBSCRIBE patterns are globs; a key or namespace may hold glob characters.
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def _uid2(size: int = 6) -> str:
    return "".join(secrets.choice(_ALPHANUMERIC) for _ in range(size))


# -- the adapter objects given to Server(adapter=...) ------------------------------------------


class _Factory:
    """What ``Server(adapter=...)`` calls once per namespace; one Redis link for all."""

    def __init__(self, redis: Any, request_timeout: float) -> None:
        self._link = Link(redis)
        self.request_timeout = request_timeout
        self._names: set[str] = set()

    @property
    def connected(self) -> bool:
        """True while the connection to Redis is up."""
        return self._link.up

    async def start(self) -> None:
        """Connect to Redis now (``Server.serve`` does it); raises :class:`RedisUnavailable`."""
        await self._link.start()

    async def aclose(self) -> None:
        """Close the connection to Redis (``Server.shutdown`` does it)."""
        await self._link.aclose()

    def _register(self, name: str) -> None:
        if name in self._names:
            raise RuntimeError(
                f"this adapter already serves namespace {name!r}: give each Server its own"
            )
        self._names.add(name)
        self._link.users += 1

    def _release(self, name: str) -> bool:
        # True when no namespace uses the connection any more.
        if name not in self._names:
            return False
        self._names.discard(name)
        self._link.users -= 1
        return self._link.users <= 0


class _NamespaceLifecycle:
    """Start and stop hooks of a per-namespace Redis adapter (used by the Server)."""

    _factory: _Factory
    nsp: NamespaceView
    _closed = False

    async def init(self) -> None:
        """Connect to Redis (raises :class:`RedisUnavailable` when it cannot be reached);
        after a close, listen to this namespace again (a server served anew)."""
        if self._closed:
            self._factory._register(self.nsp.name)
            self._subscribe()
            self._closed = False
        await self._factory.start()

    def _subscribe(self) -> None:
        raise NotImplementedError

    def _unsubscribe(self) -> None:
        raise NotImplementedError

    def _stop(self) -> bool:
        if self._closed:
            return False
        self._closed = True
        self._unsubscribe()
        return self._factory._release(self.nsp.name)

    def close(self) -> None:
        """Stop receiving this namespace's messages; the connection closes (in the
        background) once no namespace uses it."""
        if self._stop():
            self._factory._link.close_soon()

    async def aclose(self) -> None:
        """Stop receiving, and close the connection if no namespace uses it any more."""
        if self._stop():
            await self._factory._link.aclose()


class _Kind(IntEnum):
    """Request types of @socket.io/redis-adapter (classic)."""

    SOCKETS = 0
    ALL_ROOMS = 1
    REMOTE_JOIN = 2
    REMOTE_LEAVE = 3
    REMOTE_DISCONNECT = 4
    REMOTE_FETCH = 5
    SERVER_SIDE_EMIT = 6
    BROADCAST = 7
    BROADCAST_CLIENT_COUNT = 8
    BROADCAST_ACK = 9


class RedisAdapter(_Factory):
    """Redis pub/sub adapter, in the wire format of Node's @socket.io/redis-adapter 8.x.

    ``redis``: a URL (``"redis://127.0.0.1:6379/0"``, ``"rediss://..."``) or a
    ``redis.asyncio.Redis`` client (made with ``decode_responses=False``, the default).
    ``key``: the channel prefix (Node's ``key`` option); servers that share rooms use the same.
    ``request_timeout``: seconds to wait for the other servers' answers (Node's
    ``requestsTimeout``, 5 s). ``publish_on_specific_response_channel``: as Node's option of
    that name (answers go to the requester's own channel; every server must agree).

    Give each :class:`turbosio.Server` its own adapter object.
    """

    def __init__(
        self,
        redis: Any,
        key: str = "socket.io",
        request_timeout: float = 5,
        *,
        publish_on_specific_response_channel: bool = False,
    ) -> None:
        super().__init__(redis, request_timeout)
        self.key = key
        self.publish_on_specific_response_channel = publish_on_specific_response_channel

    def __call__(self, nsp: NamespaceView) -> RedisNamespaceAdapter:
        """The adapter of namespace ``nsp``."""
        return RedisNamespaceAdapter(nsp, self)


class RedisNamespaceAdapter(_NamespaceLifecycle, InMemoryAdapter):
    """One namespace's side of a :class:`RedisAdapter` (made by it, not by hand)."""

    def __init__(self, nsp: NamespaceView, factory: RedisAdapter) -> None:
        InMemoryAdapter.__init__(self, nsp)
        self._factory = factory
        self._link = factory._link
        #: This server's id in the cluster (6 characters, as Node's uid2(6)).
        self.uid = _uid2()
        self.request_timeout = factory.request_timeout
        self._specific = factory.publish_on_specific_response_channel
        key, name = factory.key, nsp.name
        self._channel = f"{key}#{name}#"
        self._channel_b = self._channel.encode()
        self._request_channel = f"{key}-request#{name}#".encode()
        self._response_channel = f"{key}-response#{name}#"
        self._specific_channel = f"{self._response_channel}{self.uid}#".encode()
        self._pattern = (_glob_escape(self._channel) + "*").encode()
        self._requests = RequestBook()
        self._ack_requests: dict[str, tuple[Callable[[int], None], Callable[..., None]]] = {}
        factory._register(name)
        self._subscribe()

    def _subscribe(self) -> None:
        link = self._link
        link.subscribe("pattern", self._pattern, self._on_broadcast)
        link.subscribe("channel", self._request_channel, self._on_request)
        link.subscribe("channel", self._response_channel.encode(), self._on_response)
        link.subscribe("channel", self._specific_channel, self._on_response)

    def _unsubscribe(self) -> None:
        link = self._link
        link.unsubscribe("pattern", self._pattern)
        link.unsubscribe("channel", self._request_channel)
        link.unsubscribe("channel", self._response_channel.encode())
        link.unsubscribe("channel", self._specific_channel)
        self._requests.close()
        self._ack_requests.clear()

    # -- sending -------------------------------------------------------------------------------

    def _request(self, payload: dict[str, Any]) -> None:
        self._link.publish(self._request_channel, json_dumps(payload))

    def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        """Publish ``packet`` once, then send it to this server's sockets (encoded once)."""
        if not opts.flags.local:
            wire = {"type": 2, "data": packet.data, "nsp": self.nsp.name}
            payload = notepack.encode([self.uid, wire, encode_options(opts)])
            channel = self._channel_b
            if len(opts.rooms) == 1:
                (room,) = opts.rooms
                channel = f"{self._channel}{room}#".encode()
            self._link.publish(channel, payload)
        InMemoryAdapter.broadcast(self, packet, opts)

    def broadcast_with_ack(
        self,
        packet: Packet,
        opts: BroadcastOptions,
        client_count: Callable[[int], None],
        ack: Callable[..., None],
    ) -> None:
        """Broadcast to every server; each reports its client count, then each client's ack."""
        if not opts.flags.local:
            request_id = _uid2()
            self._ack_requests[request_id] = (client_count, ack)
            request = {
                "uid": self.uid,
                "requestId": request_id,
                "type": int(_Kind.BROADCAST),
                "packet": {"type": 2, "data": packet.data, "nsp": self.nsp.name},
                "opts": encode_options(opts),
            }
            self._link.publish(self._request_channel, notepack.encode(request))
            keep = opts.flags.timeout if opts.flags.timeout is not None else self.request_timeout
            asyncio.get_running_loop().call_later(keep, self._ack_requests.pop, request_id, None)
        InMemoryAdapter.broadcast_with_ack(self, packet, opts, client_count, ack)

    def add_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        """Make the selected sockets of every server join ``rooms``."""
        rooms = list(rooms)
        if not opts.flags.local:
            self._request(
                {
                    "uid": self.uid,
                    "type": int(_Kind.REMOTE_JOIN),
                    "opts": encode_options(opts, flags=False),
                    "rooms": rooms,
                }
            )
        InMemoryAdapter.add_sockets(self, opts, rooms)

    def del_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        """Make the selected sockets of every server leave ``rooms``."""
        rooms = list(rooms)
        if not opts.flags.local:
            self._request(
                {
                    "uid": self.uid,
                    "type": int(_Kind.REMOTE_LEAVE),
                    "opts": encode_options(opts, flags=False),
                    "rooms": rooms,
                }
            )
        InMemoryAdapter.del_sockets(self, opts, rooms)

    def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None:
        """Disconnect the selected sockets of every server."""
        if not opts.flags.local:
            self._request(
                {
                    "uid": self.uid,
                    "type": int(_Kind.REMOTE_DISCONNECT),
                    "opts": encode_options(opts, flags=False),
                    "close": close,
                }
            )
        InMemoryAdapter.disconnect_sockets(self, opts, close)

    async def server_count(self) -> int:
        """Servers subscribed to this namespace (PUBSUB NUMSUB); 1 while Redis is away."""
        count = await self._link.numsub(self._request_channel)
        return count if count else 1

    async def fetch_sockets(self, opts: BroadcastOptions) -> list[Any]:
        """This server's selected sockets, then :class:`SocketDetails` of the other servers'.

        Raises :class:`~turbosio.adapters.cluster.RequestTimeout` when a server does not
        answer within ``request_timeout``.
        """
        local: list[Any] = list(self._select(opts))
        if opts.flags.local:
            return local
        count = await self.server_count()
        if count <= 1:
            return local
        request_id = _uid2()
        future = self._requests.open(
            request_id,
            _Kind.REMOTE_FETCH,
            count - 1,
            self.request_timeout,
            lambda p: RequestTimeout("timeout reached while waiting for fetchSockets response"),
            local,
        )
        self._request(
            {
                "uid": self.uid,
                "requestId": request_id,
                "type": int(_Kind.REMOTE_FETCH),
                "opts": encode_options(opts, flags=False),
            }
        )
        return await future

    async def all_rooms(self) -> set[str]:
        """Every room of every server (Node's ``allRooms``)."""
        rooms = set(self.rooms)
        count = await self.server_count()
        if count <= 1:
            return rooms
        request_id = _uid2()
        future = self._requests.open(
            request_id,
            _Kind.ALL_ROOMS,
            count - 1,
            self.request_timeout,
            lambda p: RequestTimeout("timeout reached while waiting for allRooms response"),
            [rooms],
        )
        self._request({"uid": self.uid, "requestId": request_id, "type": int(_Kind.ALL_ROOMS)})
        await future
        return rooms

    def server_side_emit(self, data: list[Any]) -> None:
        """Send ``[event, *args]`` to the other servers' ``on_server_side`` handlers."""
        self._request({"uid": self.uid, "type": int(_Kind.SERVER_SIDE_EMIT), "data": data})

    async def server_side_emit_with_ack(
        self, data: list[Any], timeout: float | None = None
    ) -> list[Any]:
        """Send ``[event, *args]`` to the other servers and collect one reply from each.

        Raises :class:`turbosio.AckTimeout` (with the replies that came) after ``timeout``
        seconds (``request_timeout`` by default).
        """
        expected = await self.server_count() - 1
        if expected <= 0:
            return []
        request_id = _uid2()
        future = self._requests.open(
            request_id,
            _Kind.SERVER_SIDE_EMIT,
            expected,
            timeout if timeout is not None else self.request_timeout,
            lambda p: AckTimeout(timeout_message(p), list(p.responses)),
        )
        self._request(
            {
                "uid": self.uid,
                "requestId": request_id,
                "type": int(_Kind.SERVER_SIDE_EMIT),
                "data": data,
            }
        )
        return await future

    # -- receiving -----------------------------------------------------------------------------

    def _on_broadcast(self, channel: bytes, payload: bytes) -> None:
        prefix = self._channel_b
        if not channel.startswith(prefix):
            return
        # A room channel for a room this server does not have: nothing to do, skip decoding.
        room = channel[len(prefix) : -1]
        if room and room.decode(errors="replace") not in self.rooms:
            return
        try:
            message = notepack.decode(payload)
        except ValueError:
            return
        if not isinstance(message, list) or len(message) < 3 or message[0] == self.uid:
            return
        raw = message[1]
        if not isinstance(raw, dict) or raw.get("nsp", "/") != self.nsp.name:
            return
        packet = packet_from_wire(raw, self.nsp.name)
        if packet is not None:
            InMemoryAdapter.broadcast(self, packet, decode_options(message[2]))

    def _respond(self, request: dict[str, Any], payload: bytes) -> None:
        channel = self._response_channel
        if self._specific:
            channel = f"{channel}{request.get('uid')}#"
        self._link.publish(channel.encode(), payload)

    def _on_request(self, channel: bytes, payload: bytes) -> None:
        request = _parse(payload)
        if request is None:
            return
        kind = request.get("type")
        request_id = request.get("requestId")
        if kind == _Kind.SOCKETS:
            if request_id in self._requests:
                return
            sids = self.sockets(_names(request.get("rooms")))
            self._respond(request, json_dumps({"requestId": request_id, "sockets": list(sids)}))
        elif kind == _Kind.ALL_ROOMS:
            if request_id in self._requests:
                return
            self._respond(request, json_dumps({"requestId": request_id, "rooms": list(self.rooms)}))
        elif kind in (_Kind.REMOTE_JOIN, _Kind.REMOTE_LEAVE, _Kind.REMOTE_DISCONNECT):
            self._on_remote_operation(kind, request)
        elif kind == _Kind.REMOTE_FETCH:
            if request_id in self._requests:
                return
            opts = decode_options(request.get("opts"))
            sockets = [socket_details(s, self.socket_rooms(s.id)) for s in self._select(opts)]
            self._respond(request, json_dumps({"requestId": request_id, "sockets": sockets}))
        elif kind == _Kind.SERVER_SIDE_EMIT:
            self._on_server_side_emit(request)
        elif kind == _Kind.BROADCAST:
            self._on_broadcast_with_ack(request)

    def _on_remote_operation(self, kind: int, request: dict[str, Any]) -> None:
        if "opts" in request:
            if request.get("uid") == self.uid:
                return  # done locally when it was sent
            opts = decode_options(request.get("opts"))
            if kind == _Kind.REMOTE_JOIN:
                InMemoryAdapter.add_sockets(self, opts, _names(request.get("rooms")))
            elif kind == _Kind.REMOTE_LEAVE:
                InMemoryAdapter.del_sockets(self, opts, _names(request.get("rooms")))
            else:
                InMemoryAdapter.disconnect_sockets(self, opts, bool(request.get("close")))
            return
        # The older form: one socket by id, answered when done.
        socket = self.nsp.sockets.get(str(request.get("sid")))
        if socket is None:
            return
        if kind == _Kind.REMOTE_JOIN:
            socket.join(request.get("room"))
        elif kind == _Kind.REMOTE_LEAVE:
            socket.leave(request.get("room"))
        else:
            socket.disconnect(bool(request.get("close")))
        self._respond(request, json_dumps({"requestId": request.get("requestId")}))

    def _on_server_side_emit(self, request: dict[str, Any]) -> None:
        if request.get("uid") == self.uid:
            return
        data = request.get("data")
        if not isinstance(data, list) or not data:
            return
        request_id = request.get("requestId")
        if request_id is None:
            self.nsp._on_server_side_emit(data, None)  # type: ignore[attr-defined]
            return

        def answer(value: Any) -> None:
            # Node answers server-side emits on the shared response channel, whatever the
            # publishOnSpecificResponseChannel option says.
            response = {"type": int(_Kind.SERVER_SIDE_EMIT), "requestId": request_id}
            response["data"] = value
            self._link.publish(self._response_channel.encode(), json_dumps(response))

        self.nsp._on_server_side_emit(data, reply_once(answer))  # type: ignore[attr-defined]

    def _on_broadcast_with_ack(self, request: dict[str, Any]) -> None:
        request_id = request.get("requestId")
        if not isinstance(request_id, str) or request_id in self._ack_requests:
            return  # our own request
        packet = packet_from_wire(request.get("packet"), self.nsp.name)
        if packet is None:
            return
        packet = Packet(packet.type, packet.namespace, packet.data, self.nsp._next_ack_id())
        InMemoryAdapter.broadcast_with_ack(
            self,
            packet,
            decode_options(request.get("opts")),
            partial(self._count_reply, request, request_id),
            partial(self._ack_reply, request, request_id),
        )

    def _count_reply(self, request: dict[str, Any], request_id: str, count: int) -> None:
        response = {
            "type": int(_Kind.BROADCAST_CLIENT_COUNT),
            "requestId": request_id,
            "clientCount": count,
        }
        self._respond(request, json_dumps(response))

    def _ack_reply(self, request: dict[str, Any], request_id: str, *values: Any) -> None:
        present, value = first_value(values)
        response: dict[str, Any] = {"type": int(_Kind.BROADCAST_ACK), "requestId": request_id}
        if present:
            response["packet"] = value
        self._respond(request, notepack.encode(response))

    def _on_response(self, channel: bytes, payload: bytes) -> None:
        response = _parse(payload)
        if response is None:
            return
        request_id = response.get("requestId")
        callbacks = self._ack_requests.get(request_id) if isinstance(request_id, str) else None
        if callbacks is not None:
            kind = response.get("type")
            if kind == _Kind.BROADCAST_CLIENT_COUNT:
                count = response.get("clientCount")
                if isinstance(count, int):
                    callbacks[0](count)
            elif kind == _Kind.BROADCAST_ACK:
                callbacks[1](response.get("packet"))
            return
        pending = self._requests.get(request_id)
        if pending is None:
            return
        if pending.kind in (_Kind.REMOTE_FETCH, _Kind.SOCKETS):
            sockets = response.get("sockets")
            if isinstance(sockets, list):
                for raw in sockets:
                    details = details_from_wire(raw)
                    if details is not None:
                        pending.responses.append(details)
        elif pending.kind == _Kind.ALL_ROOMS:
            rooms = response.get("rooms")
            if isinstance(rooms, list):
                pending.responses[0].update(_names(rooms))
        elif pending.kind == _Kind.SERVER_SIDE_EMIT:
            pending.responses.append(response.get("data"))
        assert isinstance(request_id, str)
        self._requests.answered(request_id, pending)


def _parse(payload: bytes) -> dict[str, Any] | None:
    # Requests and responses are JSON when they start with "{", msgpack otherwise.
    try:
        value = orjson.loads(payload) if payload[:1] == b"{" else notepack.decode(payload)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _names(raw: Any) -> list[str]:
    if not isinstance(raw, list):
        return []
    return [r if isinstance(r, str) else str(r) for r in raw if r is not None]


# -- sharded -----------------------------------------------------------------------------------

#: Message types that may carry binary, encoded as msgpack when they do (as Node does).
_MAY_CARRY_BINARY = frozenset(
    (
        MessageType.BROADCAST,
        MessageType.BROADCAST_ACK,
        MessageType.FETCH_SOCKETS_RESPONSE,
        MessageType.SERVER_SIDE_EMIT,
        MessageType.SERVER_SIDE_EMIT_RESPONSE,
    )
)


class ShardedRedisAdapter(_Factory):
    """Sharded pub/sub adapter (Redis 7+: SPUBLISH/SSUBSCRIBE), in the wire format of Node's
    ``createShardedAdapter`` from @socket.io/redis-adapter 8.x.

    ``channel_prefix`` is Node's option of that name. ``subscription_mode``: "dynamic" (the
    default: one more channel per room that is not a socket id, so servers without that room
    are not bothered), "static" (two channels per namespace) or "dynamic-private" (a channel
    for every room, socket ids included). Every server of the cluster uses the same prefix and
    should use the same mode. Against a Redis Cluster, pass a URL or client of one node: this
    adapter does not route shard channels to other nodes itself.
    """

    def __init__(
        self,
        redis: Any,
        channel_prefix: str = "socket.io",
        subscription_mode: Literal["dynamic", "static", "dynamic-private"] = "dynamic",
        request_timeout: float = 5,
    ) -> None:
        if subscription_mode not in ("dynamic", "static", "dynamic-private"):
            raise ValueError('subscription_mode is "dynamic", "static" or "dynamic-private"')
        super().__init__(redis, request_timeout)
        self.channel_prefix = channel_prefix
        self.subscription_mode = subscription_mode

    def __call__(self, nsp: NamespaceView) -> ShardedNamespaceAdapter:
        """The adapter of namespace ``nsp``."""
        return ShardedNamespaceAdapter(nsp, self)


class ShardedNamespaceAdapter(_NamespaceLifecycle, ClusterAdapter):
    """One namespace's side of a :class:`ShardedRedisAdapter` (made by it, not by hand)."""

    def __init__(self, nsp: NamespaceView, factory: ShardedRedisAdapter) -> None:
        ClusterAdapter.__init__(self, nsp, factory.request_timeout)
        self._factory = factory
        self._link = factory._link
        self._mode = factory.subscription_mode
        self._channel = f"{factory.channel_prefix}#{nsp.name}#"
        self._channel_b = self._channel.encode()
        self._response_channel = f"{self._channel}{self.uid}#".encode()
        self._room_channels: set[str] = set()
        factory._register(nsp.name)
        self._subscribe()

    def _subscribe(self) -> None:
        self._link.subscribe("shard", self._channel_b, self._on_raw)
        self._link.subscribe("shard", self._response_channel, self._on_raw)

    def _unsubscribe(self) -> None:
        link = self._link
        link.unsubscribe("shard", self._channel_b)
        link.unsubscribe("shard", self._response_channel)
        for room in self._room_channels:
            link.unsubscribe("shard", self._room_channel(room))
        self._room_channels.clear()
        ClusterAdapter.close(self)

    # -- one channel per room (dynamic modes) --------------------------------------------------

    def _room_channel(self, room: str) -> bytes:
        return f"{self._channel}{room}#".encode()

    def _separate(self, room: str, sid: str) -> bool:
        if self._mode == "dynamic-private":
            return True
        return self._mode == "dynamic" and room != sid and room not in self.sids

    def add_all(self, sid: str, rooms: Iterable[str]) -> None:
        """Put socket ``sid`` in ``rooms``, listening to the channel of each new public room."""
        if self._mode == "static":
            InMemoryAdapter.add_all(self, sid, rooms)
            return
        rooms = list(rooms)
        new = [room for room in rooms if room not in self.rooms]
        InMemoryAdapter.add_all(self, sid, rooms)
        for room in new:
            if self._separate(room, sid) and room not in self._room_channels:
                self._room_channels.add(room)
                self._link.subscribe("shard", self._room_channel(room), self._on_raw)

    def _leave(self, sid: str, room: str) -> None:
        InMemoryAdapter._leave(self, sid, room)
        if room not in self.rooms and room in self._room_channels:
            self._room_channels.discard(room)
            self._link.unsubscribe("shard", self._room_channel(room))

    # -- the transport -------------------------------------------------------------------------

    def _encode(self, message: dict[str, Any]) -> bytes:
        if message["type"] in _MAY_CARRY_BINARY and notepack.has_binary(message.get("data")):
            return notepack.encode(message)
        return json_dumps(message)

    def _publish(self, message: dict[str, Any]) -> None:
        channel = self._channel_b
        data = message.get("data")
        if (
            message["type"] == MessageType.BROADCAST
            and self._mode != "static"
            and isinstance(data, dict)
            and "requestId" not in data
        ):
            # Plain broadcasts to exactly one room go to that room's channel (not broadcasts
            # with acks: the server count covers every server, not only the room's).
            rooms = data["opts"]["rooms"]
            if len(rooms) == 1 and (self._mode == "dynamic-private" or len(rooms[0]) != 20):
                channel = self._room_channel(rooms[0])
        self._link.publish(channel, self._encode(message), sharded=True)

    def _publish_response(self, requester_uid: str, response: dict[str, Any]) -> None:
        channel = f"{self._channel}{requester_uid}#".encode()
        self._link.publish(channel, self._encode(response), sharded=True)

    def _on_raw(self, channel: bytes, payload: bytes) -> None:
        message = _parse(payload)
        if message is None:
            return
        if channel == self._response_channel:
            self._on_response(message)
        else:
            self._on_message(message)

    async def server_count(self) -> int:
        """Servers subscribed to this namespace (PUBSUB SHARDNUMSUB); 1 while Redis is away."""
        count = await self._link.numsub(self._channel_b, sharded=True)
        return count if count else 1
