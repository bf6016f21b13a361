"""Emitters: send to the clients of a cluster from a process that is not a server.

A worker, a cron job or a Celery task publishes to Redis, and the servers of the cluster
(turbosio with :class:`turbosio.RedisAdapter`, or Node with ``@socket.io/redis-adapter``)
deliver to their clients. The wire format is that of Node's ``@socket.io/redis-emitter`` 5.x::

    emitter = turbosio.Emitter("redis://127.0.0.1:6379")
    emitter.to("room").emit("news", {"title": "..."})
    emitter.of("/admin").except_("quiet").emit("alert", 1)
    emitter.in_("room").sockets_join("other room")
    emitter.disconnect_sockets(close=True)
    emitter.server_side_emit("reload")          # the servers' on_server_side handlers

:class:`Emitter` is synchronous (redis-py's client), :class:`AsyncEmitter` the same with
``await`` on each action (redis-py's asyncio client). Both need ``pip install
turbosio[redis]``. An emitter is not a server: it gets no acknowledgements and cannot fetch
sockets; messages published while no server listens are lost (Redis pub/sub keeps nothing).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar

from .adapters import notepack
from .adapters.cluster import json_dumps
from .protocol.socketio import RESERVED_EVENTS

__all__ = ["AsyncEmitter", "AsyncEmitterOperator", "Emitter", "EmitterOperator"]

#: The uid an emitter's messages carry (servers do not count it as one of them).
EMITTER_UID = "emitter"

_REMOTE_JOIN = 2
_REMOTE_LEAVE = 3
_REMOTE_DISCONNECT = 4
_SERVER_SIDE_EMIT = 6


def _names(room: str | Iterable[str]) -> tuple[str, ...]:
    return (room,) if isinstance(room, str) else tuple(room)


def _namespace(name: str) -> str:
    return name if name.startswith("/") else "/" + name


def _check_client(client: Any) -> None:
    kwargs = getattr(getattr(client, "connection_pool", None), "connection_kwargs", {})
    if kwargs.get("decode_responses"):
        raise ValueError("pass a Redis client made with decode_responses=False, or a URL")


@dataclass(frozen=True)
class _Target:
    """Who an emitter operation is for, and how it is written (Node's emitter format)."""

    key: str
    nsp: str
    rooms: tuple[str, ...] = ()
    except_: tuple[str, ...] = ()
    flags: dict[str, bool] = field(default_factory=dict)

    def event(self, event: str, args: tuple[Any, ...]) -> tuple[bytes, bytes]:
        if event in RESERVED_EVENTS:
            raise ValueError(f'"{event}" is a reserved event name: choose another one')
        packet = {"type": 2, "data": [event, *args], "nsp": self.nsp}
        opts = {"rooms": list(self.rooms), "flags": dict(self.flags), "except": list(self.except_)}
        channel = f"{self.key}#{self.nsp}#"
        if len(self.rooms) == 1:
            channel += f"{self.rooms[0]}#"
        return channel.encode(), notepack.encode([EMITTER_UID, packet, opts])

    def request(self, kind: int, **fields: Any) -> tuple[bytes, bytes]:
        body: dict[str, Any] = {"type": kind}
        if kind != _SERVER_SIDE_EMIT:
            body["opts"] = {"rooms": list(self.rooms), "except": list(self.except_)}
        body.update(fields)
        return f"{self.key}-request#{self.nsp}#".encode(), json_dumps(body)

    def server_side(self, event: str, args: tuple[Any, ...]) -> tuple[bytes, bytes]:
        if event in RESERVED_EVENTS:
            raise ValueError(f'"{event}" is a reserved event name: choose another one')
        channel = f"{self.key}-request#{self.nsp}#".encode()
        body = {"uid": EMITTER_UID, "type": _SERVER_SIDE_EMIT, "data": [event, *args]}
        return channel, json_dumps(body)


Op = TypeVar("Op")


class _Operators(Generic[Op]):
    """The chaining half shared by emitters and their operators (each returns a new one)."""

    _target: _Target

    def _with(self, target: _Target) -> Op:
        raise NotImplementedError

    def to(self, room: str | Iterable[str]) -> Op:
        """Also target ``room`` (rooms add up)."""
        t = self._target
        return self._with(replace(t, rooms=tuple(dict.fromkeys(t.rooms + _names(room)))))

    def in_(self, room: str | Iterable[str]) -> Op:
        """Same as :meth:`to`."""
        return self.to(room)

    def except_(self, room: str | Iterable[str]) -> Op:
        """Leave out the sockets in ``room``."""
        t = self._target
        return self._with(replace(t, except_=tuple(dict.fromkeys(t.except_ + _names(room)))))

    @property
    def volatile(self) -> Op:
        """The event may be dropped for clients that are not ready to receive it."""
        t = self._target
        return self._with(replace(t, flags={**t.flags, "volatile": True}))

    def compress(self, compress: bool) -> Op:
        """Node's compress flag (passed on to the servers)."""
        t = self._target
        return self._with(replace(t, flags={**t.flags, "compress": compress}))


class EmitterOperator(_Operators["EmitterOperator"]):
    """A selection of clients of an :class:`Emitter` (from ``to``, ``except_``...)."""

    def __init__(self, emitter: Emitter, target: _Target) -> None:
        self._emitter = emitter
        self._target = target

    def _with(self, target: _Target) -> EmitterOperator:
        return EmitterOperator(self._emitter, target)

    def emit(self, event: str, *args: Any) -> None:
        """Send ``event`` to the selected clients (of every server)."""
        self._emitter._publish(*self._target.event(event, args))

    def send(self, *args: Any) -> None:
        """Emit a ``"message"`` event."""
        self.emit("message", *args)

    def sockets_join(self, room: str | Iterable[str]) -> None:
        """Make the selected sockets join ``room``."""
        self._emitter._publish(*self._target.request(_REMOTE_JOIN, rooms=list(_names(room))))

    def sockets_leave(self, room: str | Iterable[str]) -> None:
        """Make the selected sockets leave ``room``."""
        self._emitter._publish(*self._target.request(_REMOTE_LEAVE, rooms=list(_names(room))))

    def disconnect_sockets(self, close: bool = False) -> None:
        """Disconnect the selected sockets (their whole connection when ``close``)."""
        self._emitter._publish(*self._target.request(_REMOTE_DISCONNECT, close=close))


def _redis_client(redis: Any, asyncio: bool) -> tuple[Any, bool]:
    """The client to publish with, and whether the emitter made it (and so closes it): one
    made from a URL (``redis.asyncio`` for ``asyncio``), or the given one, checked."""
    if not isinstance(redis, str):
        _check_client(redis)
        return redis, False
    try:
        if asyncio:
            import redis.asyncio as redis_py
        else:
            import redis as redis_py  # type: ignore[no-redef]
    except ImportError as exc:  # pragma: no cover - redis is in the dev extra
        raise ImportError("the emitter needs redis-py: pip install turbosio[redis]") from exc
    return redis_py.Redis.from_url(redis), True


class Emitter(EmitterOperator):
    """Publishes to a cluster's clients through Redis, synchronously (see the module doc).

    ``redis``: a URL or a ``redis.Redis`` client (``decode_responses=False``, the default).
    ``key``: the servers' key (``RedisAdapter(key=...)``; Node's ``key`` option).
    """

    def __init__(self, redis: Any = "redis://127.0.0.1:6379", key: str = "socket.io") -> None:
        self._client, self._owns = _redis_client(redis, asyncio=False)
        super().__init__(self, _Target(key, "/"))

    def of(self, nsp: str) -> Emitter:
        """The same emitter for namespace ``nsp`` (sharing its connection)."""
        other = Emitter.__new__(Emitter)
        other._client, other._owns = self._client, False
        EmitterOperator.__init__(other, other, replace(self._target, nsp=_namespace(nsp)))
        return other

    def server_side_emit(self, event: str, *args: Any) -> None:
        """Send ``event`` to every server's ``on_server_side`` handlers (no acknowledgement)."""
        self._publish(*self._target.server_side(event, args))

    def _publish(self, channel: bytes, payload: bytes) -> None:
        self._client.publish(channel, payload)

    def close(self) -> None:
        """Close the Redis connection (when the emitter made it from a URL)."""
        if self._owns:
            self._client.close()

    def __enter__(self) -> Emitter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncEmitterOperator(_Operators["AsyncEmitterOperator"]):
    """A selection of clients of an :class:`AsyncEmitter`."""

    def __init__(self, emitter: AsyncEmitter, target: _Target) -> None:
        self._emitter = emitter
        self._target = target

    def _with(self, target: _Target) -> AsyncEmitterOperator:
        return AsyncEmitterOperator(self._emitter, target)

    async def emit(self, event: str, *args: Any) -> None:
        """Send ``event`` to the selected clients (of every server)."""
        await self._emitter._publish(*self._target.event(event, args))

    async def send(self, *args: Any) -> None:
        """Emit a ``"message"`` event."""
        await self.emit("message", *args)

    async def sockets_join(self, room: str | Iterable[str]) -> None:
        """Make the selected sockets join ``room``."""
        request = self._target.request(_REMOTE_JOIN, rooms=list(_names(room)))
        await self._emitter._publish(*request)

    async def sockets_leave(self, room: str | Iterable[str]) -> None:
        """Make the selected sockets leave ``room``."""
        request = self._target.request(_REMOTE_LEAVE, rooms=list(_names(room)))
        await self._emitter._publish(*request)

    async def disconnect_sockets(self, close: bool = False) -> None:
        """Disconnect the selected sockets (their whole connection when ``close``)."""
        await self._emitter._publish(*self._target.request(_REMOTE_DISCONNECT, close=close))


class AsyncEmitter(AsyncEmitterOperator):
    """:class:`Emitter` for asyncio code: every action is awaited.

    ``redis``: a URL or a ``redis.asyncio.Redis`` client.
    """

    def __init__(self, redis: Any = "redis://127.0.0.1:6379", key: str = "socket.io") -> None:
        self._client, self._owns = _redis_client(redis, asyncio=True)
        super().__init__(self, _Target(key, "/"))

    def of(self, nsp: str) -> AsyncEmitter:
        """The same emitter for namespace ``nsp`` (sharing its connection)."""
        other = AsyncEmitter.__new__(AsyncEmitter)
        other._client, other._owns = self._client, False
        AsyncEmitterOperator.__init__(other, other, replace(self._target, nsp=_namespace(nsp)))
        return other

    async def server_side_emit(self, event: str, *args: Any) -> None:
        """Send ``event`` to every server's ``on_server_side`` handlers (no acknowledgement)."""
        await self._publish(*self._target.server_side(event, args))

    async def _publish(self, channel: bytes, payload: bytes) -> None:
        await self._client.publish(channel, payload)

    async def aclose(self) -> None:
        """Close the Redis connection (when the emitter made it from a URL)."""
        if self._owns:
            await self._client.aclose()

    async def __aenter__(self) -> AsyncEmitter:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
