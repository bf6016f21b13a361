"""The Redis Streams adapter: a cluster through one Redis stream, with connection state
recovery across servers.

:class:`RedisStreamsAdapter` speaks the wire format of Node's
``@socket.io/redis-streams-adapter`` 0.3.x, so turbosio and Node servers can share one stream::

    sio = turbosio.Server(
        adapter=turbosio.RedisStreamsAdapter("redis://127.0.0.1:6379"),
        connection_state_recovery=turbosio.Recovery(max_disconnection_duration=120),
    )

What travels where (as in Node 0.3.x):

* broadcasts, ``sockets_join``/``sockets_leave`` and ``disconnect_sockets`` are appended to
  the namespace's stream (``XADD ... MAXLEN ~ max_len``) as entries with the fields ``uid``,
  ``nsp``, ``type`` (a decimal string) and ``data`` (JSON, or base64 of msgpack when it holds
  binary). Each server reads each stream it uses with one task (``XREAD BLOCK ... COUNT``,
  from ``$``);
* requests that want answers (broadcasts with acks, ``fetch_sockets``, server-side emits) are
  published, msgpack-encoded, on ``<channel_prefix>#<nsp>#``; answers go to the requester's
  ``<channel_prefix>#<nsp>#<uid>#``; the server count is ``PUBSUB NUMSUB`` of the first;
* with connection state recovery, the stream *is* the history: the offset of an event is the
  id of its stream entry (appended to each kept EVENT, as Node's ``addOffsetIfNecessary``
  does), and a disconnected socket's session is stored at ``<session_key_prefix><pid>`` as
  base64(msgpack({sid, pid, rooms, data})) for ``max_disconnection_duration``. A client that
  reconnects to *any* server of the cluster gets its session back (``GET`` + ``DEL`` in one
  transaction) and the broadcasts of its namespace after its offset that were for its rooms
  (``XRANGE``).

Local delivery: without recovery a broadcast is written to this server's sockets at once and
appended once. With recovery, as in Node, it is written to local sockets when Redis answers the
``XADD`` with the entry id (the offset); the answers come in order, so local order is kept. A
server never delivers an entry it appended itself when it reads it back, so nothing arrives
twice. If the ``XADD`` fails, local sockets still get the event, without an offset.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import re
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import orjson

from ..protocol.socketio import Packet, PacketType
from . import notepack
from .base import BroadcastOptions, NamespaceView
from .cluster import ClusterAdapter, MessageType, decode_options, encode_options, json_dumps
from .memory import InMemoryAdapter
from .recovery import RecoveredSession
from .redis_pubsub import Link, RedisUnavailable

__all__ = ["RedisStreamsAdapter", "RedisStreamsNamespaceAdapter", "RedisUnavailable"]

logger = logging.getLogger("turbosio.redis")

#: Message types whose data may hold binary, sent as base64 msgpack when it does (Node's list).
_MAY_CARRY_BINARY = frozenset(
    (
        MessageType.BROADCAST,
        MessageType.FETCH_SOCKETS_RESPONSE,
        MessageType.SERVER_SIDE_EMIT,
        MessageType.SERVER_SIDE_EMIT_RESPONSE,
        MessageType.BROADCAST_ACK,
    )
)
_OFFSET = re.compile(r"^[0-9]+-[0-9]+$")
#: Node's bound on the XRANGE calls of one restore (entries appended faster than they are read
#: would otherwise keep it going for ever).
_RESTORE_MAX_XRANGE_CALLS = 100
_MAX_QUEUED = 10_000
_BACKOFF_MIN = 0.1
_BACKOFF_MAX = 5.0

OnResult = Callable[[Any], None]


def hash_code(text: str) -> int:
    """Java's ``String.hashCode`` as Node's adapter computes it: over UTF-16 code units,
    wrapped to a signed 32-bit integer after each step."""
    units = text.encode("utf-16-le")
    h = 0
    for i in range(0, len(units), 2):
        h = (h * 31 + (units[i] | units[i + 1] << 8)) & 0xFFFFFFFF
    return h - 0x100000000 if h & 0x80000000 else h


def stream_for(nsp: str, stream_name: str, stream_count: int) -> str:
    """The stream of namespace ``nsp``: ``stream_name``, or ``stream_name-<i>`` with
    ``i = hashCode(nsp) % stream_count`` and JavaScript's ``%`` (the sign of the dividend,
    so a negative hash gives a name such as ``socket.io--1``, exactly as Node names it)."""
    if stream_count == 1:
        return stream_name
    h = hash_code(nsp)
    index = abs(h) % stream_count
    return f"{stream_name}-{-index if h < 0 else index}"


def encode_entry(message: dict[str, Any]) -> dict[str, bytes | str]:
    """The fields of the stream entry of a cluster message (Node's ``encode``)."""
    data = message["data"]
    if message["type"] in _MAY_CARRY_BINARY and notepack.has_binary(data):
        encoded: bytes = base64.b64encode(notepack.encode(data))
    else:
        encoded = json_dumps(data)
    return {
        "uid": message["uid"],
        "nsp": message["nsp"],
        "type": str(message["type"]),
        "data": encoded,
    }


def decode_entry(fields: dict[Any, Any]) -> dict[str, Any] | None:
    """A cluster message from the fields of a stream entry, or None if malformed."""
    try:
        text = {_text(k): v for k, v in fields.items()}
        message: dict[str, Any] = {
            "uid": _text(text.get("uid", b"")),
            "nsp": _text(text["nsp"]),
            "type": int(text["type"]),
        }
        raw = text.get("data")
        if raw:
            raw = raw if isinstance(raw, bytes) else str(raw).encode()
            if raw[:1] == b"{":
                message["data"] = orjson.loads(raw)
            else:
                message["data"] = notepack.decode(base64.b64decode(raw))
    except (KeyError, ValueError, TypeError):
        return None
    return message


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _next_offset(offset: str) -> str:
    # XRANGE's exclusive "(" needs Redis 6.2: the next possible id, as Node computes it.
    ms, _, seq = offset.partition("-")
    return f"{ms}-{int(seq) + 1}"


def _included(rooms: list[str], opts: BroadcastOptions) -> bool:
    # Node's shouldIncludePacket: to any of the session's rooms (or everyone), and none excluded.
    room_set = set(rooms)
    if opts.rooms and room_set.isdisjoint(opts.rooms):
        return False
    return room_set.isdisjoint(opts.except_)


# -- the adapter object given to Server(adapter=...) ---------------------------------------------


class RedisStreamsAdapter:
    """Redis Streams adapter, in the wire format of Node's @socket.io/redis-streams-adapter 0.3.

    ``redis``: a URL (``"redis://127.0.0.1:6379/0"``) or a ``redis.asyncio.Redis`` client made
    with ``decode_responses=False`` (the default). ``stream_name``, ``max_len``,
    ``read_count``, ``stream_count``, ``channel_prefix`` and ``session_key_prefix`` are Node's
    options ``streamName``, ``maxLen``, ``readCount``, ``streamCount``, ``channelPrefix``,
    ``sessionKeyPrefix``; every server of the cluster uses the same values. ``block_time``:
    seconds one ``XREAD`` waits (Node's ``blockTimeInMs``, 5 s). ``request_timeout``: seconds
    to wait for the other servers' answers. ``max_disconnection_duration``: how long a
    session is kept in Redis; by default the server's
    :class:`turbosio.Recovery` ``max_disconnection_duration``.

    Give each :class:`turbosio.Server` its own adapter object: it holds that server's Redis
    connections (one subscribed connection, one blocking reader per stream, one to write).
    """

    def __init__(
        self,
        redis: Any,
        stream_name: str = "socket.io",
        max_len: int = 10_000,
        read_count: int = 100,
        stream_count: int = 1,
        channel_prefix: str = "socket.io",
        session_key_prefix: str = "sio:session:",
        request_timeout: float = 5,
        max_disconnection_duration: float | None = None,
        *,
        block_time: float = 5.0,
    ) -> None:
        if stream_count < 1:
            raise ValueError("stream_count is at least 1")
        self._link = Link(redis)
        self.stream_name = stream_name
        self.max_len = max_len
        self.read_count = read_count
        self.stream_count = stream_count
        self.channel_prefix = channel_prefix
        self.session_key_prefix = session_key_prefix
        self.request_timeout = request_timeout
        self.max_disconnection_duration = max_disconnection_duration
        self.block_time = block_time
        self._adapters: dict[str, RedisStreamsNamespaceAdapter] = {}
        self._readers: dict[str, asyncio.Task[None]] = {}
        self._commands: deque[tuple[tuple[Any, ...], OnResult | None]] = deque()
        self._wake: asyncio.Event | None = None
        self._writer: asyncio.Task[None] | None = None
        self._closing = False
        self._warned = False
        #: Entries and commands dropped because Redis was away or too slow.
        self.dropped = 0

    def __call__(self, nsp: NamespaceView) -> RedisStreamsNamespaceAdapter:
        """The adapter of namespace ``nsp``."""
        return RedisStreamsNamespaceAdapter(nsp, self)

    @property
    def connected(self) -> bool:
        """True while the connection to Redis is up."""
        return self._link.up

    def stream_of(self, nsp: str) -> str:
        """The stream namespace ``nsp`` writes to and reads from."""
        return stream_for(nsp, self.stream_name, self.stream_count)

    # -- starting and stopping ---------------------------------------------------------------

    async def start(self) -> None:
        """Connect to Redis now (``Server.serve`` does it); raises :class:`RedisUnavailable`."""
        await self._link.start()
        self._closing = False
        loop = asyncio.get_running_loop()
        if self._writer is None:
            self._wake = asyncio.Event()
            self._writer = loop.create_task(self._write(), name="turbosio-streams-writer")
            if self._commands:
                self._wake.set()
        for name in self._adapters:
            self._ensure_reader(self.stream_of(name))

    def _start_soon(self) -> None:
        # First use without Server.serve (an ASGI server): connect in the background.
        if self._writer is not None or self._closing:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        task = loop.create_task(self.start())
        task.add_done_callback(_log_failure)

    async def aclose(self) -> None:
        """Write what is queued (a second at most), stop reading, close the connections."""
        self._closing = True
        readers, self._readers = list(self._readers.values()), {}
        for reader in readers:
            reader.cancel()
        for reader in readers:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
        writer, self._writer = self._writer, None
        if writer is not None:
            assert self._wake is not None
            self._wake.set()
            try:
                await asyncio.wait_for(asyncio.shield(writer), 1.0)
            except (asyncio.TimeoutError, Exception):
                writer.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await writer
        self._fail_queued()
        self._wake = None
        await self._link.aclose()

    def _register(self, adapter: RedisStreamsNamespaceAdapter) -> None:
        name = adapter.nsp.name
        if name in self._adapters:
            raise RuntimeError(
                f"this adapter already serves namespace {name!r}: give each Server its own"
            )
        self._adapters[name] = adapter
        self._link.users += 1
        if self._writer is not None:
            self._ensure_reader(self.stream_of(name))

    def _release(self, adapter: RedisStreamsNamespaceAdapter) -> bool:
        # True when no namespace uses the connections any more.
        name = adapter.nsp.name
        if self._adapters.get(name) is not adapter:
            return False
        del self._adapters[name]
        self._link.users -= 1
        stream = self.stream_of(name)
        if all(self.stream_of(n) != stream for n in self._adapters):
            reader = self._readers.pop(stream, None)
            if reader is not None:
                reader.cancel()
        return self._link.users <= 0

    # -- writing -------------------------------------------------------------------------------

    def _command(self, args: tuple[Any, ...], on_result: OnResult | None = None) -> None:
        """Queue one command for the writer; ``on_result`` gets its reply (None on failure)."""
        if self._writer is None:
            self._start_soon()
            if self._closing:
                self.dropped += 1
                if on_result is not None:
                    on_result(None)
                return
        if len(self._commands) >= _MAX_QUEUED:
            self.dropped += 1
            self._warn("Redis is not keeping up: dropping messages to other servers")
            if on_result is not None:
                on_result(None)
            return
        self._commands.append((args, on_result))
        if self._wake is not None:
            self._wake.set()

    def xadd(self, stream: str, fields: dict[str, Any], on_result: OnResult | None = None) -> None:
        """Append an entry to ``stream`` (``MAXLEN ~ max_len``); ``on_result`` gets its id."""
        args: list[Any] = ["XADD", stream, "MAXLEN", "~", self.max_len, "*"]
        for name, value in fields.items():
            args.append(name)
            args.append(value)
        self._command(tuple(args), on_result)

    async def _write(self) -> None:
        assert self._wake is not None
        wake = self._wake
        commands = self._commands
        while True:
            if not commands:
                if self._closing:
                    return
                await wake.wait()
                wake.clear()
                continue
            batch = list(commands)
            commands.clear()
            client = self._link._client
            try:
                if len(batch) == 1:
                    results: list[Any] = [await client.execute_command(*batch[0][0])]
                else:
                    pipe = client.pipeline(transaction=False)
                    for args, _ in batch:
                        pipe.execute_command(*args)
                    results = await pipe.execute(raise_on_error=False)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.dropped += len(batch)
                self._warn(f"a Redis command failed ({exc}): messages to other servers dropped")
                results = [None] * len(batch)
            # Answers come in the order the commands were sent: local delivery keeps that order.
            for (_, on_result), result in zip(batch, results, strict=False):
                if on_result is None:
                    continue
                if isinstance(result, BaseException):
                    result = None
                try:
                    on_result(result)
                except Exception:
                    logger.exception("error delivering a broadcast")

    def _fail_queued(self) -> None:
        queued = list(self._commands)
        self._commands.clear()
        for _, on_result in queued:
            if on_result is not None:
                on_result(None)

    def _warn(self, text: str) -> None:
        if not self._warned:
            self._warned = True
            logger.warning("%s", text)

    # -- reading -------------------------------------------------------------------------------

    def _ensure_reader(self, stream: str) -> None:
        if stream not in self._readers and not self._closing:
            loop = asyncio.get_running_loop()
            self._readers[stream] = loop.create_task(
                self._read(stream), name=f"turbosio-streams-reader-{stream}"
            )

    async def _read(self, stream: str) -> None:
        offset: Any = "$"
        block = max(1, int(self.block_time * 1000))
        delay = _BACKOFF_MIN
        failing = False
        while True:
            client = self._link._client
            try:
                reply = await client.xread({stream: offset}, count=self.read_count, block=block)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._closing:
                    return
                if not failing:
                    failing = True
                    logger.warning("cannot read stream %r from Redis (%s); retrying", stream, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _BACKOFF_MAX)
                continue
            if failing:
                failing = False
                delay = _BACKOFF_MIN
                logger.warning("reading stream %r from Redis again", stream)
            for entry_id, fields in _entries(reply):
                offset = entry_id
                self._dispatch(_text(entry_id), fields)

    def _dispatch(self, entry_id: str, fields: Any) -> None:
        if not isinstance(fields, dict):
            return
        nsp = fields.get(b"nsp", fields.get("nsp"))
        if not nsp:
            return  # Node ignores entries without a namespace
        adapter = self._adapters.get(_text(nsp))
        if adapter is None:
            return
        message = decode_entry(fields)
        if message is None:
            return
        try:
            adapter._on_entry(message, entry_id)
        except Exception:
            logger.exception("error handling a message from Redis")


def _entries(reply: Any) -> list[tuple[Any, Any]]:
    # XREAD answers [[stream, [(id, fields), ...]]] (RESP2) or {stream: [[id, fields]]} (RESP3).
    if not reply:
        return []
    streams = reply.values() if isinstance(reply, dict) else (item[1] for item in reply)
    out: list[tuple[Any, Any]] = []
    for entries in streams:
        for entry in entries:
            out.append((entry[0], entry[1]))
    return out


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("%s", task.exception())


# -- one namespace -------------------------------------------------------------------------------


class RedisStreamsNamespaceAdapter(ClusterAdapter):
    """One namespace's side of a :class:`RedisStreamsAdapter` (made by it, not by hand)."""

    def __init__(self, nsp: NamespaceView, factory: RedisStreamsAdapter) -> None:
        super().__init__(nsp, factory.request_timeout)
        self._factory = factory
        self._link = factory._link
        self._stream = factory.stream_of(nsp.name)
        prefix = factory.channel_prefix
        self._public = f"{prefix}#{nsp.name}#".encode()
        self._private = f"{prefix}#{nsp.name}#{self.uid}#".encode()
        recovery = getattr(getattr(nsp, "server", None), "recovery", None)
        #: Whether events get offsets and sessions are kept (the server's recovery is on).
        self.recovery = recovery is not None
        duration = factory.max_disconnection_duration
        if duration is None:
            duration = recovery.max_disconnection_duration if recovery is not None else 120.0
        self.max_disconnection_duration = duration
        self._closed = False
        factory._register(self)
        self._subscribe()

    # -- lifecycle ---------------------------------------------------------------------------

    def _subscribe(self) -> None:
        self._link.subscribe("channel", self._public, self._on_pubsub)
        self._link.subscribe("channel", self._private, self._on_pubsub)

    async def init(self) -> None:
        """Connect to Redis (raises :class:`RedisUnavailable`); after a close, serve this
        namespace again (a server served anew)."""
        if self._closed:
            self._closed = False
            self._factory._register(self)
            self._subscribe()
        await self._factory.start()

    def _stop(self) -> bool:
        if self._closed:
            return False
        self._closed = True
        self._link.unsubscribe("channel", self._public)
        self._link.unsubscribe("channel", self._private)
        ClusterAdapter.close(self)
        return self._factory._release(self)

    def close(self) -> None:
        """Stop serving this namespace; the connections close (in the background) once no
        namespace uses them."""
        if self._stop():
            with contextlib.suppress(RuntimeError):
                asyncio.get_running_loop().create_task(self._factory.aclose())

    async def aclose(self) -> None:
        """Stop serving this namespace, and close the connections if no namespace uses them."""
        if self._stop():
            await self._factory.aclose()

    # -- the transport -------------------------------------------------------------------------

    def _publish(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        data = message["data"]
        ephemeral = kind in (MessageType.SERVER_SIDE_EMIT, MessageType.FETCH_SOCKETS) or (
            kind == MessageType.BROADCAST and "requestId" in data
        )
        if ephemeral:
            # Requests that want answers go over pub/sub, the whole message in msgpack.
            self._link.publish(self._public, notepack.encode(message))
        else:
            self._factory.xadd(self._stream, encode_entry(message))

    def _publish_response(self, requester_uid: str, response: dict[str, Any]) -> None:
        channel = f"{self._factory.channel_prefix}#{self.nsp.name}#{requester_uid}#".encode()
        self._link.publish(channel, notepack.encode(response))

    async def server_count(self) -> int:
        """Servers subscribed to this namespace (PUBSUB NUMSUB); 1 while Redis is away."""
        count = await self._link.numsub(self._public)
        return count if count else 1

    def _on_pubsub(self, channel: bytes, payload: bytes) -> None:
        try:
            message = notepack.decode(payload)
        except ValueError:
            return
        self._on_message(message)

    # -- broadcasting --------------------------------------------------------------------------

    def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        """Append ``packet`` to the stream; send it to local sockets at once, or, under
        recovery, once Redis gives its offset (the entry id)."""
        if opts.flags.local:
            InMemoryAdapter.broadcast(self, packet, opts)
            return
        message = {
            "type": int(MessageType.BROADCAST),
            "data": {"packet": {"type": 2, "data": packet.data}, "opts": encode_options(opts)},
            "uid": self.uid,
            "nsp": self.nsp.name,
        }
        fields = encode_entry(message)
        if not self.recovery:
            self._factory.xadd(self._stream, fields)
            InMemoryAdapter.broadcast(self, packet, opts)
            return
        # As Node: every non-local broadcast waits for its XADD, so local order is kept.
        self._factory.xadd(
            self._stream, fields, lambda entry_id: self._local(packet, opts, entry_id)
        )

    def _local(self, packet: Packet, opts: BroadcastOptions, offset: Any) -> None:
        if offset is not None and _keeps(packet, opts):
            packet = replace(packet, data=[*packet.data, _text(offset)])
        InMemoryAdapter.broadcast(self, packet, opts)

    def _on_entry(self, message: dict[str, Any], offset: str) -> None:
        """A stream entry of another server (entries of this server were delivered already)."""
        if message.get("uid") == self.uid:
            return
        data = message.get("data")
        if (
            self.recovery
            and message.get("type") == MessageType.BROADCAST
            and isinstance(data, dict)
            and data.get("requestId") is None
        ):
            packet = _packet(data.get("packet"), self.nsp.name)
            if packet is None:
                return
            opts = decode_options(data.get("opts"))
            self._local(packet, opts, offset)
            return
        self._on_message(message)

    # -- connection state recovery -------------------------------------------------------------

    def persist_session(self, sid: str, pid: str, rooms: list[str], data: Any) -> None:
        """Keep a disconnected socket's session in Redis for ``max_disconnection_duration``."""
        session = {"sid": sid, "pid": pid, "rooms": rooms, "data": data}
        try:
            value = base64.b64encode(notepack.encode(session))
        except TypeError:
            logger.warning("the data of socket %s cannot be kept for recovery", sid)
            return
        millis = max(1, int(self.max_disconnection_duration * 1000))
        key = self._factory.session_key_prefix + pid
        self._factory._command(("SET", key, value, "PX", millis))

    async def restore_session(self, pid: str, offset: str) -> RecoveredSession | None:
        """The session of ``pid`` and the broadcasts it missed after ``offset`` (a stream
        entry id); None when the session expired or the offset is no longer in the stream."""
        if not _OFFSET.match(offset):
            return None
        factory = self._factory
        if factory._writer is None:
            return None  # not connected to Redis
        client = self._link._client
        key = factory.session_key_prefix + pid
        pipe = client.pipeline(transaction=True)
        pipe.get(key)
        pipe.delete(key)
        (raw, _), found = await asyncio.gather(
            pipe.execute(), client.xrange(self._stream, offset, offset)
        )
        if not raw or not found:
            return None
        try:
            session = notepack.decode(base64.b64decode(raw))
        except ValueError:
            return None
        if not isinstance(session, dict) or not isinstance(session.get("sid"), str):
            return None
        rooms = [r if isinstance(r, str) else str(r) for r in session.get("rooms") or []]
        missed: list[list[Any]] = []
        name = self.nsp.name
        for _ in range(_RESTORE_MAX_XRANGE_CALLS):
            entries = await client.xrange(self._stream, _next_offset(offset), "+")
            if not entries:
                break
            for entry_id, fields in entries:
                offset = _text(entry_id)
                if _text(fields.get(b"type", b"")) != "3" or _text(fields.get(b"nsp", b"")) != name:
                    continue
                message = decode_entry(fields)
                data = message.get("data") if message is not None else None
                if not isinstance(data, dict) or data.get("requestId") is not None:
                    continue
                packet = _packet(data.get("packet"), name)
                opts = decode_options(data.get("opts"))
                if packet is None or not _keeps(packet, opts) or not _included(rooms, opts):
                    continue
                with_offset = replace(packet, data=[*packet.data, offset])
                missed.append(self.nsp._encode_shared(with_offset))
        return RecoveredSession(session["sid"], pid, rooms, session.get("data"), missed)


def _keeps(packet: Packet, opts: BroadcastOptions) -> bool:
    # Node's addOffsetIfNecessary: events without ack that are not volatile get an offset.
    return packet.type == PacketType.EVENT and packet.id is None and not opts.flags.volatile


def _packet(raw: Any, nsp: str) -> Packet | None:
    if not isinstance(raw, dict) or raw.get("type") not in (2, 5):
        return None
    data = raw.get("data")
    if not isinstance(data, list) or not data:
        return None
    return Packet(PacketType.EVENT, nsp, data)
