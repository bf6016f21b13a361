"""Connection state recovery across servers: two turbosio servers on one Redis stream
(turbosio.RedisStreamsAdapter) behind a test balancer. The official JS client (4.8) is
connected to server A; A goes away; events are sent to the client's id and room from server
B meanwhile; the client reconnects, through the balancer, to B and gets everything back."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio

import turbosio
from turbosio.adapters.redis_streams import RedisStreamsAdapter
from turbosio.socketio import Socket
from turbosio.socketio.recovery import RECOVERABLE_REASONS

from .proxy import CuttingProxy
from .test_js_recovery import COUNT, Run, until

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


async def redis_missing() -> str | None:
    client = redis.asyncio.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        await client.ping()
    except (redis.RedisError, OSError) as exc:
        return f"Redis at {REDIS_URL} is unreachable ({exc})"
    finally:
        await client.aclose()
    return None


@pytest.fixture
async def key() -> AsyncIterator[str]:
    """A prefix of this test's own for the stream, channels and session keys; what is left
    under it is deleted afterwards."""
    missing = await redis_missing()
    if missing is not None:
        # Skip loudly, or fail under CI=true (as every test that needs an outside part).
        message = f"!!! {missing}; these tests did NOT run"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (CI=true: this is an error)", pytrace=False)
        pytest.skip(message)
    prefix = "tsio-test-" + secrets.token_hex(6)
    yield prefix
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    try:
        names = [name async for name in client.scan_iter(match=f"{prefix}*")]
        if names:
            await client.delete(*names)
    finally:
        await client.aclose()


def server(key: str, log: list[tuple[str, str, bool]], name: str) -> turbosio.Server:
    adapter = RedisStreamsAdapter(
        REDIS_URL,
        stream_name=f"{key}-stream",
        channel_prefix=key,
        session_key_prefix=f"{key}:session:",
    )
    sio = turbosio.Server(
        adapter=adapter,
        ping_interval=0.5,
        ping_timeout=0.5,
        connection_state_recovery=turbosio.Recovery(max_disconnection_duration=10),
    )

    @sio.on("connect")
    async def connect(socket: Socket) -> None:
        log.append((name, socket.id, socket.recovered))
        if socket.recovered:
            assert socket.rooms == {socket.id, "room"}, "the rooms came back too"
        else:
            socket.join("room")
            socket.emit("welcome")

    return sio


async def session_keys(key: str) -> list[bytes]:
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    try:
        return [k async for k in client.scan_iter(match=f"{key}:session:*")]
    finally:
        await client.aclose()


@pytest.mark.parametrize(
    ("how", "mode"), [("cut", "websocket"), ("shutdown", "websocket"), ("cut", "polling")]
)
async def test_client_recovers_on_another_server(
    node: str, js_dir: Path, key: str, how: str, mode: str
) -> None:
    log: list[tuple[str, str, bool]] = []
    gone: list[str] = []
    a = server(key, log, "A")
    b = server(key, log, "B")

    @a.on("disconnect")
    async def disconnect(socket: Socket, reason: str) -> None:
        gone.append(reason)

    handle_a = await a.serve(port=0)
    handle_b = await b.serve(port=0)
    balancer = await CuttingProxy(handle_a.port).start()
    proc = await asyncio.create_subprocess_exec(
        node,
        str(js_dir / "recovery-client.mjs"),
        f"http://127.0.0.1:{balancer.port}",
        mode,
        str(COUNT),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        cwd=str(js_dir),
    )
    run = Run(proc)
    a_closed = False
    try:
        first = await run.next("connect")
        assert first["recovered"] is False
        await run.next("welcome")  # the client holds an offset: an entry id of the stream
        sid = first["id"]
        if how == "cut":
            # The network breaks: A sees its client's connection drop, then A goes away.
            balancer.cut()
            await until(lambda: len(gone) == 1)
            assert gone[0] in ("transport close", "transport error", "ping timeout")
        else:
            # A shuts down while its client cannot reach anyone for a moment.
            balancer.cut_off = True
        await handle_a.close(timeout=0.5)
        a_closed = True
        assert len(gone) == 1 and gone[0] in RECOVERABLE_REASONS
        assert len(await session_keys(key)) == 1  # A kept the session in Redis
        # From now on the balancer sends new connections to B.
        balancer.target_port = handle_b.port
        for n in range(COUNT):
            (b.to(sid) if n % 2 else b.to("room")).emit("n", n)
        balancer.restore()
        again = await run.next("connect")
        assert again == {"id": sid, "recovered": True}
        done = await run.next("done")
        assert done["received"] == list(range(COUNT))
        assert len(set(done["offsets"])) == COUNT
        assert log == [("A", sid, False), ("B", sid, True)]
        assert await session_keys(key) == []  # taken by B
    finally:
        await run.stop()
        await balancer.close()
        if not a_closed:
            await handle_a.close(timeout=0.5)
        await handle_b.close(timeout=0.5)


async def test_unknown_offset_gives_a_fresh_session(node: str, js_dir: Path, key: str) -> None:
    """The stream was trimmed past the client's offset (or it is from another cluster):
    the client starts afresh, as in Node."""
    log: list[tuple[str, str, bool]] = []
    sio = server(key, log, "A")
    handle = await sio.serve(port=0)
    adapter = sio.of("/").adapter
    try:
        sio.of("/").adapter.persist_session("sid1", "pid1", ["sid1"], {"x": 1})
        await asyncio.sleep(0.2)
        assert await adapter.restore_session("pid1", "1-0") is None  # no such entry
        assert await adapter.restore_session("pid1", "not-an-offset") is None
        assert await session_keys(key) == []  # taken once, even when it cannot be used
    finally:
        await handle.close(timeout=0.5)
