"""WebSocket on real sockets: the handshake and echo with the `websockets` client, and every
RFC 6455 rule with raw frames written on a socket."""

from __future__ import annotations

import asyncio
import logging

import pytest
from server_helpers import (
    EchoApp,
    client_frame,
    connect,
    read_eof,
    read_frame,
    read_response,
    upgrade_request,
    ws_connect,
)
from websockets.asyncio.client import connect as ws_client
from websockets.exceptions import ConnectionClosed, InvalidStatus

from turbosio.engineio.io import SharedMessage
from turbosio.server import Server
from turbosio.server import websocket as ws_module
from turbosio.server.frames import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    parse_close,
)


def url(server: Server, path: str = "/ws") -> str:
    return f"ws://127.0.0.1:{server.port}{path}"


async def next_close(app: EchoApp) -> int:
    return await asyncio.wait_for(app.closes.get(), 10)


# With a real client library


async def test_handshake_and_echo(app: EchoApp, server: Server) -> None:
    async with ws_client(url(server), compression=None) as ws:
        assert ws.response is not None
        assert ws.response.headers.get("Sec-WebSocket-Extensions") is None
        await ws.send("héllo")
        assert await ws.recv() == "héllo"
        await ws.send(b"\x00\x01")
        assert await ws.recv() == b"\x00\x01"
        big = "x" * 1000
        await ws.send(big)
        assert await ws.recv() == big
    assert await next_close(app) == 1000
    assert app.handlers[0].close_codes == [1000]


async def test_permessage_deflate_offer_is_declined(server: Server) -> None:
    async with ws_client(url(server)) as ws:  # the client offers permessage-deflate
        assert ws.response is not None
        assert ws.response.headers.get("Sec-WebSocket-Extensions") is None
        await ws.send("plain")
        assert await ws.recv() == "plain"


async def test_fragmented_message_from_the_client(app: EchoApp, server: Server) -> None:
    async with ws_client(url(server), compression=None) as ws:
        await ws.send(iter(["frag", "men", "ted"]))
        assert await ws.recv() == "fragmented"
    assert app.handlers[0].messages == ["fragmented"]


async def test_ping_is_answered(server: Server) -> None:
    async with ws_client(url(server), compression=None) as ws:
        pong = await ws.ping(b"are you there")
        await asyncio.wait_for(pong, 10)


async def test_client_close_code_is_echoed(app: EchoApp, server: Server) -> None:
    ws = await ws_client(url(server), compression=None)
    await ws.close(4001, "done")
    assert ws.close_code == 4001  # the server echoed it
    assert await next_close(app) == 4001


async def test_server_close_after_queued_messages(app: EchoApp, server: Server) -> None:
    async with ws_client(url(server), compression=None) as ws:
        await ws.send("burst:3")
        await ws.send("close:4000")
        assert [await ws.recv() for _ in range(3)] == ["m0", "m1", "m2"]
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
    assert info.value.rcvd is not None
    assert (info.value.rcvd.code, info.value.rcvd.reason) == (4000, "bye")
    assert await next_close(app) == 4000
    assert app.handlers[0].close_codes == [4000]


async def test_message_over_the_limit_is_1009(app: EchoApp, server: Server) -> None:
    async with ws_client(url(server), compression=None) as ws:
        await ws.send("x" * (app.max_message_size + 1))
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
    assert info.value.rcvd is not None
    assert info.value.rcvd.code == 1009
    assert await next_close(app) == 1009


async def test_reject_sends_a_plain_response(app: EchoApp, server: Server) -> None:
    with pytest.raises(InvalidStatus) as info:
        await ws_client(url(server, "/reject"))
    assert info.value.response.status_code == 403
    assert info.value.response.headers["X-Why"] == "test"
    assert info.value.response.body == b"go away"


# Raw frames on a socket


async def test_frames_sent_with_the_handshake_are_not_lost(server: Server) -> None:
    reader, writer = await ws_connect(server.port, first=client_frame(OP_TEXT, b"early"))
    assert await read_frame(reader) == (True, OP_TEXT, b"early")
    writer.close()


async def test_client_that_half_closes_after_its_frames_still_gets_the_answers(
    server: Server,
) -> None:
    """The 101 and the echo, still waiting for the flush when the EOF is read, go out."""
    reader, writer = await connect(server.port)
    writer.write(upgrade_request() + client_frame(OP_TEXT, b"last words"))
    writer.write_eof()
    assert (await read_response(reader)).status == 101
    assert await read_frame(reader) == (True, OP_TEXT, b"last words")
    assert await read_eof(reader) == b""
    writer.close()


async def test_frames_sent_before_a_late_accept_are_kept_in_order(server: Server) -> None:
    reader, writer = await connect(server.port)
    writer.write(upgrade_request("/ws-later") + client_frame(OP_TEXT, b"one"))
    await asyncio.sleep(0.01)  # the app has not accepted yet
    writer.write(client_frame(OP_TEXT, b"two"))
    assert (await read_response(reader)).status == 101
    writer.write(client_frame(OP_TEXT, b"three"))
    for expected in (b"one", b"two", b"three"):
        assert await read_frame(reader) == (True, OP_TEXT, expected)
    writer.close()


async def test_raw_fragments_with_a_ping_between(app: EchoApp, server: Server) -> None:
    reader, writer = await ws_connect(server.port)
    writer.write(client_frame(OP_BINARY, b"ab", fin=False))
    writer.write(client_frame(OP_PING, b"ping!"))
    await asyncio.sleep(0.01)
    writer.write(client_frame(OP_CONTINUATION, b"cd"))
    assert await read_frame(reader) == (True, OP_PONG, b"ping!")
    assert await read_frame(reader) == (True, OP_BINARY, b"abcd")
    writer.close()


async def test_empty_close_is_answered_with_an_empty_close(app: EchoApp, server: Server) -> None:
    reader, writer = await ws_connect(server.port)
    writer.write(client_frame(OP_CLOSE, b""))
    assert await read_frame(reader) == (True, OP_CLOSE, b"")
    assert await read_eof(reader) == b""
    assert await next_close(app) == 1005
    writer.close()


async def test_close_code_is_echoed_then_tcp_closed(app: EchoApp, server: Server) -> None:
    reader, writer = await ws_connect(server.port)
    writer.write(client_frame(OP_CLOSE, (1001).to_bytes(2, "big") + b"going"))
    _, opcode, payload = await read_frame(reader)
    assert (opcode, parse_close(payload)[0]) == (OP_CLOSE, 1001)
    assert await read_eof(reader) == b""
    assert await next_close(app) == 1001
    writer.close()


async def test_our_close_completes_when_the_peer_answers(app: EchoApp, server: Server) -> None:
    reader, writer = await ws_connect(server.port)
    writer.write(client_frame(OP_TEXT, b"close:4002"))
    _, opcode, payload = await read_frame(reader)
    assert (opcode, parse_close(payload)) == (OP_CLOSE, (4002, "bye"))
    # Messages sent after our close frame are not delivered; the close answer completes it.
    writer.write(client_frame(OP_TEXT, b"ignored") + client_frame(OP_CLOSE, payload[:2]))
    assert await read_eof(reader) == b""
    assert await next_close(app) == 4002
    assert app.handlers[0].messages == ["close:4002"]
    writer.close()


async def test_our_close_times_out_without_an_answer(
    app: EchoApp, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ws_module, "CLOSE_TIMEOUT", 0.1)
    reader, writer = await ws_connect(server.port)
    writer.write(client_frame(OP_TEXT, b"close:1000"))
    assert (await read_frame(reader))[1] == OP_CLOSE
    # Never answer: the server drops the connection and reports an abnormal close.
    assert await read_eof(reader) == b""
    assert await next_close(app) == 1006
    writer.close()


async def test_lost_connection_is_1006(app: EchoApp, server: Server) -> None:
    reader, writer = await ws_connect(server.port)
    writer.write(client_frame(OP_TEXT, b"hi"))
    await read_frame(reader)
    writer.transport.abort()
    assert await next_close(app) == 1006
    assert app.handlers[0].close_codes == [1006]


async def _expect_failure(port: int, frames: bytes) -> tuple[int, list[bytes]]:
    """Send ``frames``; return the close code the server sent and the messages before it."""
    reader, writer = await ws_connect(port)
    writer.write(frames)
    echoed = []
    while True:
        _, opcode, payload = await read_frame(reader)
        if opcode == OP_CLOSE:
            break
        echoed.append(payload)
    await read_eof(reader)  # the server drops the TCP connection after its close frame
    writer.close()
    return parse_close(payload)[0], echoed


@pytest.mark.parametrize(
    "bad",
    [
        client_frame(OP_TEXT, b"x", masked=False),
        client_frame(OP_TEXT, b"x", rsv=4),
        client_frame(0x3, b""),
        client_frame(0xB, b""),
        client_frame(OP_PING, b"x" * 126),
        client_frame(OP_PING, b"", fin=False),
        client_frame(OP_CONTINUATION, b"x"),
        client_frame(OP_TEXT, b"a", fin=False) + client_frame(OP_TEXT, b"b"),
        client_frame(OP_CLOSE, (1005).to_bytes(2, "big")),
        client_frame(OP_CLOSE, (2000).to_bytes(2, "big")),
    ],
    ids=[
        "unmasked",
        "rsv",
        "opcode3",
        "opcode11",
        "long-ping",
        "fragmented-ping",
        "lone-continuation",
        "data-inside-fragments",
        "close-1005",
        "close-2000",
    ],
)
async def test_protocol_errors_close_with_1002(
    app: EchoApp, server: Server, bad: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, "turbosio.server"):
        code, echoed = await _expect_failure(server.port, client_frame(OP_TEXT, b"ok") + bad)
    assert code == 1002
    assert echoed == [b"ok"]  # what came before the violation was delivered
    assert await next_close(app) == 1002
    assert len(caplog.records) == 1
    assert caplog.records[0].exc_info is None


async def test_invalid_utf8_closes_with_1007(app: EchoApp, server: Server) -> None:
    code, _ = await _expect_failure(server.port, client_frame(OP_TEXT, b"\xff\xfe"))
    assert code == 1007
    assert await next_close(app) == 1007


async def test_fragments_over_the_limit_close_with_1009(app: EchoApp, server: Server) -> None:
    half = b"x" * (app.max_message_size // 2 + 1)
    frames = client_frame(OP_TEXT, half, fin=False) + client_frame(OP_CONTINUATION, half)
    code, _ = await _expect_failure(server.port, frames)
    assert code == 1009
    assert await next_close(app) == 1009


async def test_handler_error_closes_with_1011(
    app: EchoApp, server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, "turbosio.server"):
        code, _ = await _expect_failure(server.port, client_frame(OP_TEXT, b"boom"))
    assert code == 1011
    assert await next_close(app) == 1011


@pytest.mark.parametrize(
    ("key", "version"),
    [("", "13"), ("dG9vIHNob3J0", "13"), ("not base64!!", "13"), (None, "8")],
    ids=["missing-key", "short-key", "bad-key", "version-8"],
)
async def test_invalid_upgrade_is_400(
    app: EchoApp, server: Server, key: str | None, version: str
) -> None:
    reader, writer = await connect(server.port)
    writer.write(upgrade_request(key=key, version=version))
    assert (await read_response(reader)).status == 400
    assert await read_eof(reader) == b""
    assert app.requests == []
    writer.close()


async def test_upgrade_without_connection_upgrade_is_400(server: Server) -> None:
    reader, writer = await connect(server.port)
    request = upgrade_request().replace(b"Connection: Upgrade", b"Connection: keep-alive")
    writer.write(request)
    assert (await read_response(reader)).status == 400
    writer.close()


async def test_bad_websocket_does_not_disturb_a_good_one(app: EchoApp, server: Server) -> None:
    async with ws_client(url(server), compression=None) as good:
        await _expect_failure(server.port, client_frame(OP_TEXT, b"x", masked=False))
        await good.send("still here")
        assert await good.recv() == "still here"


async def test_output_of_one_iteration_leaves_in_one_write(app: EchoApp, server: Server) -> None:
    """Two connections, several messages each in one loop iteration: one write each."""
    conns = [await ws_connect(server.port) for _ in range(2)]
    for reader, writer in conns:
        writer.write(client_frame(OP_TEXT, b"hi"))
        await read_frame(reader)
    sockets = [handler.ws for handler in app.handlers]
    counting = [_CountingTransport.install(ws) for ws in sockets]
    shared = SharedMessage("shared")
    for ws in sockets:
        ws.send_text("one")
        ws.send_bytes(b"two")
        ws.send_shared(shared)
    assert shared.frame is not None
    frame = shared.frame
    for reader, _writer in conns:
        assert await read_frame(reader) == (True, OP_TEXT, b"one")
        assert await read_frame(reader) == (True, OP_BINARY, b"two")
        assert await read_frame(reader) == (True, OP_TEXT, b"shared")
    assert [c.writes for c in counting] == [1, 1]
    assert shared.frame is frame  # framed once, written to both
    for _reader, writer in conns:
        writer.close()


async def test_send_after_close_is_dropped(app: EchoApp, server: Server) -> None:
    reader, writer = await ws_connect(server.port)
    writer.write(client_frame(OP_TEXT, b"close:1000"))
    assert (await read_frame(reader))[1] == OP_CLOSE
    ws = app.handlers[0].ws
    ws.send_text("late")
    ws.close()  # a second close is a no-op
    writer.write(client_frame(OP_CLOSE, (1000).to_bytes(2, "big")))
    assert await read_eof(reader) == b""
    assert app.handlers[0].close_codes == [1000]
    writer.close()


async def test_server_close_sends_1001(app: EchoApp) -> None:
    from turbosio.server import serve

    srv = await serve(app, "127.0.0.1", 0)
    async with ws_client(url(srv), compression=None) as ws:
        await ws.send("hi")
        await ws.recv()
        srv.close()
        await asyncio.wait_for(srv.wait_closed(), 10)
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
    assert info.value.rcvd is not None
    assert info.value.rcvd.code == 1001
    assert await next_close(app) == 1001


class _CountingTransport:
    """Wraps a real transport, counting ``write`` calls (instrumentation, not a fake peer)."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self.writes = 0

    @classmethod
    def install(cls, ws: object) -> _CountingTransport:
        counting = cls(ws._transport)  # type: ignore[attr-defined]
        ws._transport = counting  # type: ignore[attr-defined]
        return counting

    def write(self, data: bytes) -> None:
        self.writes += 1
        self._transport.write(data)

    def __getattr__(self, name: str) -> object:
        return getattr(self._transport, name)
