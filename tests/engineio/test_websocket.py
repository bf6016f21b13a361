"""The WebSocket transport and the polling -> WebSocket upgrade."""

from __future__ import annotations

import asyncio

import pytest

from turbosio.engineio import Engine, SharedMessage

from .fakes import (
    FakeWebSocket,
    FakeWebSocketRequest,
    RecordingHandler,
    handshake,
    poll,
    post,
    q,
    until,
    ws_handshake,
)


@pytest.fixture
def handler() -> RecordingHandler:
    return RecordingHandler(echo=True)


@pytest.fixture
def engine(handler: RecordingHandler) -> Engine:
    return Engine(handler, ping_interval=30, ping_timeout=30, upgrade_timeout=0.05)


async def test_text_and_binary_echo(engine: Engine, handler: RecordingHandler) -> None:
    sid, ws = ws_handshake(engine)
    ws.receive("4hello")
    ws.receive(b"\x01\x02\x03\x04")
    ws.receive("bAQID")  # base64 binary written as text: Node accepts it
    assert handler.messages == [(sid, "hello"), (sid, b"\x01\x02\x03\x04"), (sid, b"\x01\x02\x03")]
    assert ws.take() == ["4hello", b"\x01\x02\x03\x04", b"\x01\x02\x03"]


async def test_writes_go_straight_to_the_socket(engine: Engine) -> None:
    sid, ws = ws_handshake(engine)
    session = engine.sessions[sid]
    shared = SharedMessage("4all")
    session.write("4a")
    session.write_binary(b"\x00")
    session.write_shared(shared)
    assert ws.take() == ["4a", b"\x00", "4all"]
    assert shared.polling is None  # not encoded for polling when nobody polls


@pytest.mark.parametrize("frame", ["abc", "", "9", "bnot base64!"])
async def test_parse_error(engine: Engine, handler: RecordingHandler, frame: str) -> None:
    sid, ws = ws_handshake(engine)
    ws.receive(frame)
    assert handler.reasons(sid) == ["parse error"]
    assert ws.close_code is not None
    assert sid not in engine.sessions


async def test_client_close_packet(engine: Engine, handler: RecordingHandler) -> None:
    sid, ws = ws_handshake(engine)
    ws.receive("1")
    assert handler.reasons(sid) == ["transport close"]
    assert ws.close_code is not None


async def test_ping_from_client(engine: Engine, handler: RecordingHandler) -> None:
    sid, ws = ws_handshake(engine)
    ws.receive("2")
    assert handler.reasons(sid) == ["transport error"]


@pytest.mark.parametrize(
    ("code", "reason"),
    [(1000, "transport close"), (1001, "transport close"), (1005, "transport close"),
     (1006, "transport close"), (1009, "transport error"), (1002, "transport error")],
)  # fmt: skip
async def test_socket_closed(
    engine: Engine, handler: RecordingHandler, code: int, reason: str
) -> None:
    sid, ws = ws_handshake(engine)
    ws.peer_close(code)
    assert handler.reasons(sid) == [reason]
    assert sid not in engine.sessions


async def test_server_close(engine: Engine, handler: RecordingHandler) -> None:
    sid, ws = ws_handshake(engine)
    session = engine.sessions[sid]
    session.write("4last")
    session.close()
    assert ws.take() == ["4last"]  # queued data first, then the close
    assert ws.close_code == 1000
    assert handler.reasons(sid) == ["forced close"]
    await until(lambda: ws.closed)
    assert handler.reasons(sid) == ["forced close"]  # exactly once
    ws.receive("4late")  # a message racing the close is dropped
    assert handler.messages == []


async def test_messages_after_close_are_dropped(engine: Engine, handler: RecordingHandler) -> None:
    sid, ws = ws_handshake(engine)
    engine.sessions[sid].close()
    ws.receive("4x")
    assert handler.messages == []


def _start_upgrade(engine: Engine, sid: str) -> FakeWebSocket:
    req = FakeWebSocketRequest(q(transport="websocket", sid=sid))
    engine.handle_websocket(req)
    assert req.ws is not None, req.response
    return req.ws


async def test_upgrade(engine: Engine, handler: RecordingHandler) -> None:
    sid = handshake(engine)
    session = engine.sessions[sid]
    pending = poll(engine, sid)
    ws = _start_upgrade(engine, sid)
    assert session.upgrading and session.transport == "polling"
    assert not pending.answered  # no noop before the probe
    ws.receive("2probe")
    assert ws.take() == ["3probe"]
    assert pending.text == "6"  # the held poll ends at once so the client can pause
    # Polls during the upgrade window get a noop at once too.
    assert poll(engine, sid).text == "6"
    # Messages still flow over polling until "5".
    assert post(engine, sid, "4via polling").text == "ok"
    assert handler.messages == [(sid, "via polling")]
    ws.receive("5")
    assert session.transport == "websocket" and not session.upgrading
    # What polling had buffered (the echo) now goes over the WebSocket.
    assert ws.take() == ["4via polling"]
    ws.receive("4hello")
    assert ws.take() == ["4hello"]
    # Polling requests for the session are refused from now on.
    assert poll(engine, sid).json() == {"code": 3, "message": "Bad request"}
    assert handler.closed == []
    ws.peer_close(1001)
    assert handler.reasons(sid) == ["transport close"]


async def test_upgrade_with_buffered_binary(engine: Engine) -> None:
    sid = handshake(engine)
    session = engine.sessions[sid]
    ws = _start_upgrade(engine, sid)
    ws.receive("2probe")
    session.write_binary(b"\x01\x02")
    ws.receive("5")
    assert ws.take() == ["3probe", "bAQI="]  # a valid v4 text packet for a binary message


async def test_upgrade_without_probe(engine: Engine) -> None:
    # Node completes on "5" whether or not a probe came first.
    sid = handshake(engine)
    ws = _start_upgrade(engine, sid)
    ws.receive("5")
    assert engine.sessions[sid].transport == "websocket"


async def test_second_websocket_after_upgrade_is_closed(engine: Engine) -> None:
    sid = handshake(engine)
    ws = _start_upgrade(engine, sid)
    ws.receive("2probe")
    ws.receive("5")
    other = _start_upgrade(engine, sid)
    assert other.close_code is not None
    await until(lambda: other.closed)
    ws.take()
    ws.receive("4still here")
    assert ws.take() == ["4still here"]


async def test_second_websocket_while_upgrading_is_closed(engine: Engine) -> None:
    sid = handshake(engine)
    ws = _start_upgrade(engine, sid)
    other = _start_upgrade(engine, sid)
    assert other.close_code is not None
    assert ws.close_code is None


async def test_websocket_upgrade_of_a_websocket_session_is_closed(engine: Engine) -> None:
    sid, _ = ws_handshake(engine)
    other = _start_upgrade(engine, sid)
    assert other.close_code is not None


async def test_other_packet_aborts_the_upgrade(engine: Engine, handler: RecordingHandler) -> None:
    sid = handshake(engine)
    session = engine.sessions[sid]
    ws = _start_upgrade(engine, sid)
    ws.receive("2probe")
    ws.receive("4not yet")
    assert ws.close_code is not None
    assert not session.upgrading and session.transport == "polling"
    assert handler.messages == []
    # The session goes on over polling.
    assert post(engine, sid, "4x").text == "ok"
    assert poll(engine, sid).text == "4x"
    assert handler.closed == []


async def test_upgrade_timeout(engine: Engine, handler: RecordingHandler) -> None:
    sid = handshake(engine)
    session = engine.sessions[sid]
    ws = _start_upgrade(engine, sid)
    ws.receive("2probe")
    await until(lambda: ws.close_code is not None, timeout=1)
    assert not session.upgrading
    assert sid in engine.sessions and handler.closed == []
    await until(lambda: ws.closed)
    # A new attempt may follow.
    ws2 = _start_upgrade(engine, sid)
    ws2.receive("5")
    assert session.transport == "websocket"


async def test_probe_socket_closed_by_client(engine: Engine, handler: RecordingHandler) -> None:
    sid = handshake(engine)
    session = engine.sessions[sid]
    ws = _start_upgrade(engine, sid)
    ws.peer_close(1006)
    assert not session.upgrading
    assert handler.closed == []


async def test_session_close_aborts_the_upgrade(engine: Engine, handler: RecordingHandler) -> None:
    sid = handshake(engine)
    pending = poll(engine, sid)
    ws = _start_upgrade(engine, sid)
    engine.sessions[sid].close()
    assert ws.close_code is not None
    assert pending.text == "1"
    assert handler.reasons(sid) == ["forced close"]


async def test_upgrade_refused_when_upgrades_are_off(handler: RecordingHandler) -> None:
    engine = Engine(handler, allow_upgrades=False)
    sid = handshake(engine)
    ws = _start_upgrade(engine, sid)
    assert ws.close_code is not None
    await asyncio.sleep(0)
    assert engine.sessions[sid].transport == "polling"
