"""turbosio.Client, the synchronous client: the same features, blocking calls, handlers in a
thread of their own. Against our server and Node's (both in subprocesses: the test's thread
has no event loop to serve from), on each transport."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
from client_helpers import FINAL, TIMEOUT, PeerProcess, Recorder

import turbosio
from turbosio.client import Client, ConnectError


def wait_until(predicate: Any, what: str) -> None:
    event = threading.Event()
    for _ in range(int(TIMEOUT / 0.01)):
        if predicate():
            return
        event.wait(0.01)
    raise AssertionError(f"waited {TIMEOUT} s for {what}")


def test_sync_client(shared_peer: PeerProcess, transports: list[str], mode: str) -> None:
    """connect, acks, binary, server events, handler return values as acks, handlers in the
    handler thread (where they may block on the client), disconnect with its reason."""
    client = Client()
    seen = Recorder()
    threads: set[str] = set()

    @client.on("connect")
    def connected() -> None:
        threads.add(threading.current_thread().name)
        seen.record("connect")

    @client.on("question")
    def question(*args: Any) -> tuple[Any, ...]:
        threads.add(threading.current_thread().name)
        # A handler may wait on the client: the connection goes on in its own thread.
        echoed = client.emit_with_ack("echo", "from a handler", timeout=5)
        return ("answered", echoed, *args)

    client.on("answer", seen.handler("answer"))
    client.on("disconnect", seen.handler("disconnect"))
    client.on("*", seen.handler("*"))
    client.connect(shared_peer.url, transports=transports, auth={"token": "t"})
    assert client.connected
    wait_until(lambda: client.transport == FINAL[mode], "the final transport")
    who = client.emit_with_ack("whoami")
    assert (who["id"], who["auth"], who["engine"]) == (client.id, {"token": "t"}, client.sid)
    assert client.emit_with_ack("echo", b"\x01\x02", {"n": [1]}) == (b"\x01\x02", {"n": [1]})
    got: list[Any] = []
    done = threading.Event()
    client.emit("echo", "cb", callback=lambda *args: (got.append(args), done.set()))
    assert done.wait(TIMEOUT) and got == [("cb",)]
    client.emit("ask", "question", 7)
    assert seen.wait_sync("answer") == [(["answered", "from a handler", 7],)]
    client.emit("relay", "surprise", b"\xff")
    assert seen.wait_sync("*") == [("surprise", b"\xff")]
    with pytest.raises(turbosio.AckTimeout):
        client.emit_with_ack("flaky", uuid.uuid4().hex, 99, timeout=0.1)
    client.disconnect()
    # disconnect() returns once the handlers due have run.
    assert seen.of("disconnect") == [("io client disconnect",)]
    assert seen.of("connect") == [()]
    assert len(threads) == 1 and threads.pop().startswith("turbosio-client-handlers")
    assert not client.connected
    with pytest.raises(turbosio.Disconnected):
        client.emit("echo")


def test_sync_reconnects_then_waits_for_the_end(
    shared_peer: PeerProcess, transports: list[str]
) -> None:
    """The sync client reconnects by itself after a lost connection and flushes what was
    emitted meanwhile; wait() returns once the server disconnects it."""
    client = Client(reconnection_delay=0.05, reconnection_delay_max=0.2)
    seen = Recorder()
    log = uuid.uuid4().hex

    @client.on("disconnect")
    def gone(reason: str) -> None:
        seen.record("disconnect", reason)
        if reason == "transport close":
            for i in range(3):
                client.emit("seq", log, i)

    client.on("connect", seen.handler("connect"))
    client.on("reconnect", seen.handler("reconnect"))
    with client:
        client.connect(shared_peer.url, transports=transports)
        client.emit("drop")
        seen.wait_sync("reconnect")
        seen.wait_sync("connect", 2)
        wait_until(lambda: client.emit_with_ack("log", log) == [0, 1, 2], "the buffered emits")
        client.emit("kick")
        client.wait()
        assert seen.of("disconnect")[-1] == ("io server disconnect",)
        assert not client.connected


def test_sync_connect_errors(shared_peer: PeerProcess, transports: list[str]) -> None:
    """A refused namespace raises ConnectError with the server's message and data; the
    client can connect again afterwards."""
    with Client() as client:
        with pytest.raises(ConnectError) as refused:
            client.connect(shared_peer.url, namespace="/refused", transports=transports)
        assert refused.value.message == "refused by middleware"
        assert refused.value.data == {"code": 4001, "retry": False}
        client.connect(shared_peer.url, namespaces=["/", "/custom"], transports=transports)
        assert sorted(client.namespaces) == ["/", "/custom"]
        custom = client.emit_with_ack("whoami", namespace="/custom")
        assert custom["id"] == client.get_sid("/custom") and custom["engine"] == client.sid
