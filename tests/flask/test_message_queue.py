"""``message_queue=``: Flask servers sharing broadcasts and rooms through a real Redis, and a
``SocketIO(message_queue=...)`` without an app emitting to their clients from a thread.

Redis is expected at 127.0.0.1:6379 (``REDIS_URL`` overrides it); when it cannot be reached
these tests are skipped with a loud reason, and fail under ``CI=true``. Each test has its own
channel, and checks at its end that nothing is left subscribed under it.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from test_flask_seed import SEED, Program

from conftest import Serve, WireClient
from flask import Flask
from turbosio.adapters.redis import RedisAdapter, RedisUnavailable
from turbosio.flask import SocketIO, emit, join_room
from turbosio.flask.options import DEFAULT_CHANNEL

pytestmark = pytest.mark.timeout(60)

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

Wire = Callable[..., Any]


def _skip_or_fail(message: str) -> None:
    message = f"!!! {message}; the message queue tests did NOT run"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI=true: this is an error)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="module")
def redis_url() -> str:
    """The Redis URL; skips (fails under CI=true) when Redis is unreachable."""
    try:
        import redis
    except ImportError:
        _skip_or_fail("the redis package is not installed (make install)")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        _skip_or_fail(f"Redis at {REDIS_URL} is unreachable ({exc})")
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture
async def channel(redis_url: str) -> AsyncIterator[str]:
    """A channel of this test's own; afterwards no Redis channel under it has subscribers."""
    import redis.asyncio

    name = "tsio-flask-" + secrets.token_hex(6)
    yield name
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        left = await client.pubsub_channels(name + "*")
    finally:
        await client.aclose()
    assert left == [], f"channels left subscribed: {left}"


def chat_app(redis_url: str, channel: str) -> tuple[Flask, SocketIO]:
    """A Flask app on the queue, with the seed's handler and room handlers."""
    app = Flask("turbosio_mq_tests")
    app.config["SECRET_KEY"] = "test secret"
    socketio = SocketIO(app, message_queue=redis_url, channel=channel)

    @socketio.on("message")
    def handle_message(data: Any) -> None:
        # The seed program's handler.
        emit("response", {"msg": data}, broadcast=True)

    @socketio.on("join")
    def on_join(room: str) -> str:
        join_room(room)
        return "joined"

    @socketio.on("to room")
    def to_room(room: str, text: str) -> None:
        emit("in room", text, to=room)

    @socketio.on("others")
    def others(text: str) -> None:
        emit("from another", text, broadcast=True, include_self=False)

    return app, socketio


async def two_servers(redis_url: str, channel: str, serve: Serve) -> list[tuple[SocketIO, str]]:
    """Two Flask apps served on free ports, sharing ``channel``: (socketio, url) for each."""
    servers = []
    for _ in range(2):
        app, socketio = chat_app(redis_url, channel)
        handle = await serve(socketio, app)
        servers.append((socketio, handle.url))
    return servers


async def connect(wire: Wire, url: str) -> tuple[WireClient, str]:
    """A raw client connected to the main namespace, and its sid."""
    client: WireClient = await wire(url)
    reply = await client.connect()
    assert reply.startswith("40{"), reply
    sid: str = orjson.loads(reply[2:])["sid"]
    return client, sid


async def acked(client: WireClient, *data: Any, ack: int = 1) -> list[Any]:
    """Emit with an acknowledgement id and return the server's acknowledgement."""
    await client.emit(*data, ack=ack)
    packet = str(await client.recv())
    assert packet.startswith(f"43{ack}["), packet
    return list(orjson.loads(packet[len(f"43{ack}") :]))


async def events_until(client: WireClient, last: str) -> list[list[Any]]:
    """The events a client receives, up to and including the one named ``last``."""
    seen: list[list[Any]] = []
    while not seen or seen[-1][0] != last:
        seen.append(await client.event())
    return seen


async def test_two_servers_share_broadcasts_and_rooms(
    redis_url: str, channel: str, serve: Serve, wire: Wire
) -> None:
    """A client on each server: the seed's ``emit(..., broadcast=True)`` reaches both,
    ``include_self=False`` leaves the sender out on its own server only, ``to=room`` reaches
    the room's member on the other server and nobody else, ``socketio.emit`` from a
    route-like thread reaches both (only its own server's with ``ignore_queue=True``)."""
    (_, url_a), (sio_b, url_b) = await two_servers(redis_url, channel, serve)
    a, _ = await connect(wire, url_a)
    b, _ = await connect(wire, url_b)

    await a.emit("message", "hi from a")
    assert await a.event() == ["response", {"msg": "hi from a"}]
    assert await b.event() == ["response", {"msg": "hi from a"}]
    await b.emit("message", "hi from b")
    assert await a.event() == ["response", {"msg": "hi from b"}]
    assert await b.event() == ["response", {"msg": "hi from b"}]

    await a.emit("others", "not for a")
    assert await b.event() == ["from another", "not for a"]

    assert await acked(b, "join", "lobby") == ["joined"]
    await a.emit("to room", "lobby", "for the lobby")
    assert await b.event() == ["in room", "for the lobby"]
    await asyncio.to_thread(sio_b.emit, "only here", ignore_queue=True)
    await asyncio.to_thread(sio_b.emit, "to all", 1)
    # a got neither "from another", "in room" nor "only here": its next event is the last.
    assert await a.event() == ["to all", 1]
    assert await b.event() == ["only here"]
    assert await b.event() == ["to all", 1]


async def test_server_acts_on_a_client_of_the_other_server(
    redis_url: str, channel: str, serve: Serve, wire: Wire
) -> None:
    """From server A: enter_room, call (the acknowledgement comes back over Redis), close_room
    and disconnect act on a client connected to server B."""
    (sio_a, _), (_, url_b) = await two_servers(redis_url, channel, serve)
    b, sid_b = await connect(wire, url_b)

    def work() -> Any:  # a Flask route or background task on server A
        sio_a.enter_room(sid_b, "vip")
        sio_a.emit("vip news", "first", to="vip")
        return sio_a.call("question", "ready?", to=sid_b, timeout=10)

    answer = asyncio.ensure_future(asyncio.to_thread(work))
    assert await b.event() == ["vip news", "first"]
    packet = str(await b.recv())
    assert packet.startswith("42") and packet.endswith('["question","ready?"]'), packet
    ack_id = packet[2 : packet.index("[")]
    await b.send(f"43{ack_id}" + orjson.dumps(["yes", "ignored"]).decode())
    # Across servers only the first value of an acknowledgement travels (as in Node).
    assert await answer == "yes"

    def more() -> None:
        sio_a.close_room("vip")
        sio_a.emit("vip news", "after close", to="vip")
        sio_a.emit("marker")
        sio_a.disconnect(sid_b)

    await asyncio.to_thread(more)
    assert await b.event() == ["marker"]
    assert str(await b.recv()) == "41"


async def test_external_emitter_from_a_thread(
    redis_url: str, channel: str, serve: Serve, wire: Wire
) -> None:
    """``SocketIO(message_queue=..., channel=...)`` without an app, used from a thread as a
    Celery worker would: to everyone, to a room, ``skip_sid``, ``send``, rooms, another
    namespace, ``close_room`` and ``disconnect`` reach the clients of a Flask server."""
    app, sio = chat_app(redis_url, channel)

    @sio.on("connect", namespace="/chat")
    def chat_connect() -> None:
        pass

    handle = await serve(sio, app)
    a, sid_a = await connect(wire, handle.url)
    b, sid_b = await connect(wire, handle.url)
    assert (await a.connect("/chat")).startswith("40/chat,{")
    assert await acked(b, "join", "room") == ["joined"]

    def worker() -> None:
        external = SocketIO(message_queue=redis_url, channel=channel)
        external.emit("news", "to all")
        external.emit("news", "to the room", to="room")
        external.emit("news", "skip a", skip_sid=sid_a)
        external.emit("news", "to a", room=sid_a)
        external.emit("news", ({"several": 1}, [2]), to=[sid_a, "room"])
        external.send("hello", to=sid_b)
        external.send({"j": 1}, json=True, to=sid_b)
        external.enter_room(sid_a, "later")
        external.emit("news", "to later", to="later")
        external.leave_room(sid_a, "later")
        external.close_room("room")
        external.emit("news", "nobody", to=["room", "later"])
        external.emit("last")
        external.emit("chat news", b"\x01\x02", namespace="/chat")
        external.disconnect(sid_b)
        external._close_emitter()

    await asyncio.to_thread(worker)
    assert await events_until(a, "last") == [
        ["news", "to all"],
        ["news", "to a"],
        ["news", {"several": 1}, [2]],
        ["news", "to later"],
        ["last"],
    ]
    assert await events_until(b, "last") == [
        ["news", "to all"],
        ["news", "to the room"],
        ["news", "skip a"],
        ["news", {"several": 1}, [2]],
        ["message", "hello"],
        ["json", {"j": 1}],
        ["last"],
    ]
    assert str(await b.recv()) == "41"
    # The binary event on /chat: a placeholder packet, then the attachment.
    header = str(await a.recv())
    assert header.startswith("451-/chat,") and '"chat news"' in header, header
    assert await a.recv() == b"\x01\x02"


async def test_seed_program_in_two_processes(
    redis_url: str, channel: str, tmp_path: Path, wire: Wire
) -> None:
    """The seed program, with ``message_queue`` added, run twice as ``python seed.py``: a
    message sent to one process is broadcast to the clients of both; Ctrl-C stops each
    cleanly (and the channel fixture sees their subscriptions gone)."""
    source = SEED.replace(
        "socketio = SocketIO(app)",
        f"socketio = SocketIO(app, message_queue={redis_url!r}, channel={channel!r})",
    )
    assert source != SEED
    (tmp_path / "seed.py").write_text(source)
    programs = [await Program.start(sys.executable, "seed.py", cwd=tmp_path) for _ in range(2)]
    try:
        clients = [await wire(f"http://127.0.0.1:{p.port}") for p in programs]
        for client in clients:
            assert (await client.connect()).startswith("40{")
        for i, sender in enumerate(clients):
            await sender.emit("message", f"hello from {i}")
            for client in clients:
                assert await client.event() == ["response", {"msg": f"hello from {i}"}]
    finally:
        statuses = [await p.stop() for p in programs]
    for program, status in zip(programs, statuses, strict=True):
        assert status == 0, "".join(program.log)
        assert "Traceback" not in "".join(program.log)


def test_external_emitter_refuses_what_needs_a_server(redis_url: str, channel: str) -> None:
    """Acknowledgements do not come back over the queue, and there are no local clients."""
    external = SocketIO(message_queue=redis_url, channel=channel)
    try:
        with pytest.raises(RuntimeError, match="acknowledgements do not come back"):
            external.emit("news", 1, callback=print)
        with pytest.raises(RuntimeError, match="acknowledgements do not come back"):
            external.send("hi", callback=print)
        with pytest.raises(RuntimeError, match="only publishes"):
            external.call("question", to="some-sid")
        with pytest.raises(RuntimeError, match="only publishes"):
            external.rooms("some-sid")
    finally:
        external._close_emitter()


async def test_default_channel_is_flask_socketios(redis_url: str) -> None:
    """Without ``channel`` the servers use "flask-socketio" (Flask-SocketIO's default), and the
    external emitter publishes in Node's emitter format under that key."""
    import redis.asyncio

    assert DEFAULT_CHANNEL == "flask-socketio"
    app = Flask("turbosio_mq_default")
    sio = SocketIO(app, message_queue=redis_url)
    adapter = sio.server._adapter_factory
    assert isinstance(adapter, RedisAdapter) and adapter.key == "flask-socketio"

    event = "probe-" + secrets.token_hex(4)
    client = redis.asyncio.Redis.from_url(redis_url)
    pubsub = client.pubsub()
    try:
        await pubsub.subscribe("flask-socketio#/#")
        assert (await pubsub.get_message(timeout=5))["type"] == "subscribe"
        external = SocketIO(message_queue=redis_url)
        await asyncio.to_thread(external.emit, event, 1)
        external._close_emitter()
        while True:  # another program may use the default channel too: find ours
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5)
            assert message is not None, "the emitter's message did not arrive"
            if event.encode() in message["data"]:
                break
    finally:
        await pubsub.aclose()
        await client.aclose()


def test_app_factory_forms(redis_url: str, channel: str) -> None:
    """``SocketIO(message_queue=...)`` then ``init_app(app)`` serves (the emitter is
    dropped), as does ``SocketIO()`` then ``init_app(app, message_queue=...)``."""
    later = SocketIO(message_queue=redis_url, channel=channel)
    assert later.server is None and later._emitter is not None
    later.init_app(Flask("turbosio_mq_factory"))
    assert later._emitter is None
    factory = SocketIO()
    factory.init_app(Flask("turbosio_mq_factory2"), message_queue=redis_url, channel=channel)
    for sio in (later, factory):
        adapter = sio.server._adapter_factory
        assert isinstance(adapter, RedisAdapter) and adapter.key == channel


@pytest.mark.parametrize(
    "url",
    ["amqp://guest:secret@127.0.0.1//", "kafka://127.0.0.1:9092", "zmq+tcp://127.0.0.1:5555"],
)
def test_other_queues_are_refused(url: str) -> None:
    """Kafka, ZeroMQ and Kombu URLs are refused, naming what is supported (and no password)."""
    for make in (
        lambda: SocketIO(Flask("x"), message_queue=url),
        lambda: SocketIO(message_queue=url),
    ):
        with pytest.raises(ValueError, match="redis://, rediss:// or unix://") as info:
            make()
        assert "secret" not in str(info.value)


async def test_unreachable_redis_fails_the_start(serve: Serve) -> None:
    """A server whose Redis cannot be reached does not start alone: serve() raises."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once the socket is closed
    app = Flask("turbosio_mq_unreachable")
    sio = SocketIO(app, message_queue=f"redis://127.0.0.1:{port}/0", channel="unused")
    with pytest.raises(RedisUnavailable, match=str(port)):
        await sio.serve(app, host="127.0.0.1", port=0)
