"""Engine-wide behaviour: the public names, close_all, shutdown."""

from __future__ import annotations

import asyncio

import turbosio.engineio
from turbosio.engineio import Engine, Session

from .fakes import (
    FakeRequest,
    FakeWebSocketRequest,
    RecordingHandler,
    handshake,
    poll,
    q,
    ws_handshake,
)


def test_public_names() -> None:
    for name in turbosio.engineio.__all__:
        assert getattr(turbosio.engineio, name) is not None
    assert {"Engine", "Session", "EngineHandler", "EngineSession"} <= set(turbosio.engineio.__all__)


async def test_session_is_an_engine_session() -> None:
    handler = RecordingHandler()
    engine = Engine(handler)
    sid = handshake(engine)
    session = engine.sessions[sid]
    assert isinstance(session, Session)
    assert not hasattr(session, "__dict__")  # __slots__: small per-connection memory
    session.context = {"anything": 1}
    assert session.context == {"anything": 1}


async def test_close_all() -> None:
    handler = RecordingHandler()
    engine = Engine(handler)
    polling_sid = handshake(engine)
    idle_sid = handshake(engine)
    ws_sid, ws = ws_handshake(engine)
    pending = poll(engine, polling_sid)
    engine.sessions[idle_sid].write("4lost")
    engine.close_all()
    assert not engine.sessions
    assert pending.text == "1"
    assert ws.close_code is not None
    assert sorted(handler.closed) == sorted(
        [(polling_sid, "forced close"), (idle_sid, "forced close"), (ws_sid, "forced close")]
    )
    # New sessions are still welcome after close_all.
    handshake(engine)


async def test_shutdown_is_graceful() -> None:
    handler = RecordingHandler()
    engine = Engine(handler)
    ws_sid, ws = ws_handshake(engine)
    idle_sid = handshake(engine)
    engine.sessions[ws_sid].write("4bye")
    engine.sessions[idle_sid].write("4bye")
    task = asyncio.ensure_future(engine.shutdown("server shutting down", timeout=5))
    await asyncio.sleep(0.01)
    assert ws.take() == ["4bye"] and ws.close_code is not None
    assert not task.done()  # waiting for the polling client to fetch its last payload
    # New handshakes are refused meanwhile.
    refused = FakeRequest("GET", q(transport="polling"))
    engine.handle_request(refused)
    assert refused.status == 503
    refused_ws = FakeWebSocketRequest(q(transport="websocket"))
    engine.handle_websocket(refused_ws)
    assert refused_ws.ws is None and refused_ws.status == 503
    assert poll(engine, idle_sid).text == "4bye"
    assert poll(engine, idle_sid).text == "1"
    await asyncio.wait_for(task, 1)
    assert not engine.sessions
    assert set(handler.closed) == {(ws_sid, "server shutting down"),
                                   (idle_sid, "server shutting down")}  # fmt: skip


async def test_shutdown_timeout() -> None:
    handler = RecordingHandler()
    engine = Engine(handler)
    sid = handshake(engine)
    await asyncio.wait_for(engine.shutdown(timeout=0.02), 1)
    assert handler.reasons(sid) == ["forced close"]
    assert not engine.sessions


async def test_shutdown_refuses_pending_async_handshakes() -> None:
    gate = asyncio.Event()

    async def allow(req: object) -> bool:
        await gate.wait()
        return True

    engine = Engine(RecordingHandler(), allow_request=allow)
    req = FakeRequest("GET", q(transport="polling"))
    engine.handle_request(req)
    await asyncio.sleep(0)
    await engine.shutdown(timeout=0.1)
    await asyncio.sleep(0)
    assert req.status == 403
    assert not engine.sessions


def test_engine_moves_to_a_new_loop() -> None:
    handler = RecordingHandler(echo=True)
    engine = Engine(handler)
    old: list[str] = []

    async def open_one() -> None:
        old.append(handshake(engine))

    async def shut_down() -> None:
        await engine.shutdown(timeout=0)

    async def serve_again() -> None:
        # Sessions of a finished loop are gone, and an old shutdown does not refuse anyone.
        sid = handshake(engine)
        assert list(engine.sessions) == [sid]
        get = poll(engine, sid)
        engine.sessions[sid].write("4y")
        await asyncio.sleep(0)
        assert get.text == "4y"

    asyncio.run(open_one())
    asyncio.run(serve_again())
    asyncio.run(shut_down())
    asyncio.run(serve_again())
    assert old and old[0] not in engine.sessions
