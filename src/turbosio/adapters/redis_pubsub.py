"""The Redis connection of the Redis adapters: a tiny publish/subscribe driver.

One :class:`Link` per adapter object (so per server): a redis-py asyncio client to publish
with, and one subscribed connection read by one task. Publishing queues the message and returns;
one writer task sends whatever accumulated, in one pipeline. When the subscribed connection is
lost the reader logs one line, drops messages for other servers meanwhile, reconnects with
backoff, subscribes again and logs one line when it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
from collections import deque
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..protocol.errors import TurbosioError

__all__ = ["Link", "RedisUnavailable"]

logger = logging.getLogger("turbosio.redis")

#: Messages waiting for the writer past this many are dropped (Redis too slow or away).
MAX_QUEUED = 10_000
_BACKOFF_MIN = 0.1
_BACKOFF_MAX = 5.0

Handler = Callable[[bytes, bytes], None]


class RedisUnavailable(TurbosioError, ConnectionError):
    """Redis could not be reached when the server started. Check that Redis runs at the URL
    given to the adapter (``redis-cli -u URL ping``)."""


def _redis_asyncio() -> Any:
    try:
        import redis.asyncio
    except ImportError as exc:  # pragma: no cover - redis is in the dev extra
        raise ImportError(
            "the Redis adapter needs redis-py 5 or newer: pip install turbosio[redis]"
        ) from exc
    return redis.asyncio


def _redact(url: str) -> str:
    # Log where Redis is, not its password.
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}:" if parts.username else ":"
    return urlunsplit(parts._replace(netloc=f"{user}***@{netloc}"))


# -- the connection ---------------------------------------------------------------------------


class Link:
    """A Redis client to publish with and one subscribed connection, shared by the adapters
    of one server: one reader task, one writer task."""

    def __init__(self, source: Any) -> None:
        if isinstance(source, str):
            self._url: str | None = source
            self._client: Any = None
        else:
            kwargs = getattr(getattr(source, "connection_pool", None), "connection_kwargs", {})
            if kwargs.get("decode_responses"):
                raise ValueError(
                    "the Redis adapter reads binary messages: pass a client made with "
                    "decode_responses=False (the default), or a URL"
                )
            self._url = None
            self._client = source
        self._owns_client = self._client is None
        self._channels: dict[bytes, Handler] = {}
        self._patterns: dict[bytes, Handler] = {}
        self._shards: dict[bytes, Handler] = {}
        self._queue: deque[tuple[bool, bytes, bytes]] = deque()
        self._ops: deque[tuple[str, bytes]] = deque()
        self._wake: asyncio.Event | None = None
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._starting: asyncio.Future[None] | None = None
        self._closer: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: int | None = None
        #: "idle" (not started), "starting", "up", "down" (reconnecting) or "closing".
        self._state = "idle"
        self._warned = False
        self.users = 0
        #: Messages dropped because Redis was away or the queue was full.
        self.dropped = 0
        self._dropped_before = 0

    @property
    def where(self) -> str:
        """Where Redis is, for messages."""
        if self._url is not None:
            return _redact(self._url)
        kwargs = getattr(getattr(self._client, "connection_pool", None), "connection_kwargs", {})
        return f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}"

    @property
    def up(self) -> bool:
        """True while subscribed and publishing."""
        return self._state == "up"

    @property
    def _closing(self) -> bool:
        return self._state == "closing"

    # -- subscriptions -----------------------------------------------------------------------

    def subscribe(self, kind: str, name: bytes, handler: Handler) -> None:
        """Listen to channel ``name`` (kind "channel", "pattern" or "shard")."""
        table = self._table(kind)
        known = name in table
        table[name] = handler
        if not known and self._state in ("starting", "up"):
            self._ops.append((kind, name))
            self._poke()

    def unsubscribe(self, kind: str, name: bytes) -> None:
        """Stop listening to ``name``."""
        if self._table(kind).pop(name, None) is not None and self._state in ("starting", "up"):
            self._ops.append(("-" + kind, name))
            self._poke()

    def _table(self, kind: str) -> dict[bytes, Handler]:
        if kind == "channel":
            return self._channels
        if kind == "pattern":
            return self._patterns
        return self._shards

    async def _subscribe_all(self, pubsub: Any) -> int:
        count = 0
        if self._channels:
            await pubsub.subscribe(*self._channels)
            count += len(self._channels)
        if self._patterns:
            await pubsub.psubscribe(*self._patterns)
            count += len(self._patterns)
        if self._shards:
            await pubsub.ssubscribe(*self._shards)
            count += len(self._shards)
        return count

    # -- starting and stopping ---------------------------------------------------------------

    async def start(self) -> None:
        """Connect and subscribe; raises :class:`RedisUnavailable` if Redis cannot be reached."""
        if self._state in ("up", "down"):
            return  # running (or reconnecting by itself)
        if self._starting is None:
            self._state = "starting"
            starting = self._starting = asyncio.get_running_loop().create_future()
            try:
                await self._connect()
            except BaseException as exc:
                self._state = "idle"
                self._queue.clear()
                self._ops.clear()
                starting.set_exception(exc)
                starting.exception()  # marked as retrieved: the caller gets it from here
                raise
            finally:
                self._starting = None
            starting.set_result(None)
            return
        await asyncio.shield(self._starting)

    def start_soon(self) -> None:
        """Start in the background (first use without an explicit start), logging failure."""
        if self._state != "idle":
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        task = loop.create_task(self.start())
        task.add_done_callback(self._started_in_background)

    def _started_in_background(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            logger.error("%s", task.exception())

    async def _connect(self) -> None:
        if self._client is None:
            redis = _redis_asyncio()
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff

            # One immediate retry on a fresh connection covers a pooled connection that went
            # stale while Redis restarted; longer outages are the reader's to handle.
            self._client = redis.Redis.from_url(
                self._url, retry=Retry(NoBackoff(), 1), socket_connect_timeout=5
            )
        pubsub = None
        try:
            await self._client.ping()
            pubsub = self._client.pubsub()
            expected = await self._subscribe_all(pubsub)
            # Wait for the confirmations, so that whoever awaited start() is really listening.
            while expected > 0:
                message = await pubsub.get_message(timeout=5)
                if message is None:
                    raise TimeoutError("Redis did not confirm the subscriptions")
                if message["type"] in ("subscribe", "psubscribe", "ssubscribe"):
                    expected -= 1
                else:
                    self._dispatch(message)
        except (OSError, TimeoutError, asyncio.TimeoutError, _redis_error()) as exc:
            if pubsub is not None:
                await _close_pubsub(pubsub)
            raise RedisUnavailable(f"cannot reach Redis at {self.where}: {exc}") from exc
        self._pubsub = pubsub
        self._state = "up"
        self._warned = False
        self._wake = asyncio.Event()
        loop = self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self._reader = loop.create_task(self._read(), name="turbosio-redis-reader")
        self._writer = loop.create_task(self._write(), name="turbosio-redis-writer")
        if self._queue or self._ops:
            self._wake.set()

    def close_soon(self) -> None:
        """:meth:`aclose` in the background (from code that cannot await)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._closer = loop.create_task(self.aclose())

    async def aclose(self) -> None:
        """Send what is queued (a second at most), then close the connections."""
        if self._state == "idle":
            return
        self._state = "closing"
        writer, reader = self._writer, self._reader
        self._writer = self._reader = None
        if writer is not None:
            assert self._wake is not None
            self._wake.set()
            try:
                await asyncio.wait_for(asyncio.shield(writer), 1.0)
            except (asyncio.TimeoutError, Exception):
                writer.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await writer
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            await _close_pubsub(pubsub)
        if self._owns_client and self._client is not None:
            client, self._client = self._client, None
            with contextlib.suppress(Exception):
                await (getattr(client, "aclose", None) or client.close)()  # redis-py 5.0.0: close
        self._queue.clear()
        self._ops.clear()
        self._wake = None
        self._loop = None
        self._thread = None
        self._state = "idle"

    # -- publishing --------------------------------------------------------------------------

    def publish(self, channel: bytes, payload: bytes, sharded: bool = False) -> None:
        """Queue one message for the writer (dropped while Redis is away)."""
        if self._thread is not None and threading.get_ident() != self._thread:
            # From another thread: the queue and the writer's event belong to the loop.
            assert self._loop is not None
            self._loop.call_soon_threadsafe(self.publish, channel, payload, sharded)
            return
        state = self._state
        if state != "up":
            if state == "idle":
                self.start_soon()  # first use: keep it for when the connection is up
            elif state != "starting":
                self.dropped += 1  # reconnecting or closing: other servers miss this one
                return
        if len(self._queue) >= MAX_QUEUED:
            self.dropped += 1
            if not self._warned:
                self._warned = True
                logger.warning("Redis is not keeping up: dropping messages to other servers")
            return
        self._queue.append((sharded, channel, payload))
        self._poke()

    def _poke(self) -> None:
        wake = self._wake
        if wake is not None:
            wake.set()

    async def _write(self) -> None:
        assert self._wake is not None
        wake = self._wake
        queue = self._queue
        while True:
            if not queue and not self._ops:
                if self._closing:
                    return
                await wake.wait()
                wake.clear()
                continue
            if self._ops:
                await self._apply_ops()
            if not queue:
                continue
            batch = list(queue)
            queue.clear()
            try:
                if len(batch) == 1:
                    sharded, channel, payload = batch[0]
                    await self._client.execute_command(
                        "SPUBLISH" if sharded else "PUBLISH", channel, payload
                    )
                else:
                    pipe = self._client.pipeline(transaction=False)
                    for sharded, channel, payload in batch:
                        pipe.execute_command("SPUBLISH" if sharded else "PUBLISH", channel, payload)
                    await pipe.execute()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.dropped += len(batch)
                self._failed(exc)

    async def _apply_ops(self) -> None:
        pubsub = self._pubsub
        while self._ops:
            op, name = self._ops.popleft()
            if pubsub is None or self._state != "up":
                continue  # the reconnection subscribes from the tables
            try:
                if op == "channel":
                    await pubsub.subscribe(name)
                elif op == "pattern":
                    await pubsub.psubscribe(name)
                elif op == "shard":
                    await pubsub.ssubscribe(name)
                elif op == "-channel":
                    await pubsub.unsubscribe(name)
                elif op == "-pattern":
                    await pubsub.punsubscribe(name)
                else:
                    await pubsub.sunsubscribe(name)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._failed(exc)

    # -- reading -----------------------------------------------------------------------------

    async def _read(self) -> None:
        while True:
            pubsub = self._pubsub
            try:
                message = await pubsub.get_message(timeout=None)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._closing:
                    return
                self._lost(exc)
                await self._reconnect()
                continue
            if message is not None:
                self._dispatch(message)

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "pmessage":
            handler = self._patterns.get(message["pattern"])
        elif kind == "message":
            handler = self._channels.get(message["channel"])
        elif kind == "smessage":
            handler = self._shards.get(message["channel"])
        else:
            return
        if handler is not None:
            try:
                handler(message["channel"], message["data"])
            except Exception:
                logger.exception("error handling a message from Redis")

    def _lost(self, exc: BaseException) -> None:
        if self._state == "up":
            logger.warning(
                "lost the connection to Redis at %s (%s); local delivery goes on, reconnecting",
                self.where,
                exc or type(exc).__name__,
            )
            self._state = "down"
            self._dropped_before = self.dropped

    def _failed(self, exc: BaseException) -> None:
        # A command failed. Only the reader decides that the connection is lost, reconnects
        # and says so; other errors (a command Redis refuses) are logged once.
        if isinstance(exc, _connection_errors()):
            return
        if self._state == "up" and not self._warned:
            self._warned = True
            logger.warning("a Redis command failed (%s): messages to other servers dropped", exc)

    async def _reconnect(self) -> None:
        delay = _BACKOFF_MIN
        old, self._pubsub = self._pubsub, None
        if old is not None:
            await _close_pubsub(old)
        self._queue.clear()
        self._ops.clear()
        while not self._closing:
            await asyncio.sleep(delay * (0.5 + random.random()))  # jitter: not all in step
            delay = min(delay * 2, _BACKOFF_MAX)
            pubsub = self._client.pubsub()
            try:
                await self._client.ping()
                await self._subscribe_all(pubsub)
            except asyncio.CancelledError:
                await _close_pubsub(pubsub)
                raise
            except Exception:
                await _close_pubsub(pubsub)
                continue
            self._pubsub = pubsub
            self._state = "up"
            self._warned = False
            logger.warning(
                "reconnected to Redis at %s (%d messages to other servers were dropped)",
                self.where,
                self.dropped - self._dropped_before,
            )
            return

    # -- queries -----------------------------------------------------------------------------

    async def numsub(self, channel: bytes, sharded: bool = False) -> int | None:
        """Subscribers of ``channel`` (PUBSUB NUMSUB/SHARDNUMSUB), or None if Redis is away."""
        if self._state != "up":
            return None
        try:
            reply = await self._client.execute_command(
                "PUBSUB", "SHARDNUMSUB" if sharded else "NUMSUB", channel
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._failed(exc)
            return None
        # redis-py may give [name, n] or [(name, n)], depending on its version.
        if reply and isinstance(reply[0], (list, tuple)):
            reply = reply[0]
        try:
            return int(reply[1])
        except (IndexError, TypeError, ValueError):
            return None


def _redis_error() -> type[Exception]:
    from redis.exceptions import RedisError

    return RedisError


def _connection_errors() -> tuple[type[BaseException], ...]:
    from redis.exceptions import ConnectionError, TimeoutError

    return (ConnectionError, TimeoutError, OSError, asyncio.TimeoutError)


async def _close_pubsub(pubsub: Any) -> None:
    close = getattr(pubsub, "aclose", None) or pubsub.reset
    with contextlib.suppress(Exception):
        await close()
