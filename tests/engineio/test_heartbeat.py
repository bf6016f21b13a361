"""The engine-wide timer (heartbeat.py) and the heartbeat it drives: ping, pong, ping timeout."""

from __future__ import annotations

import asyncio
import math

import pytest

from turbosio.engineio import Engine
from turbosio.engineio.heartbeat import Scheduler, resolution_for

from .fakes import RecordingHandler, handshake, poll, post, until, ws_handshake

PING_INTERVAL = 0.05
PING_TIMEOUT = 0.05


class Entry:
    def __init__(self, log: list[tuple[str, float]], name: str) -> None:
        self._timer_key: int | None = None
        self.log = log
        self.name = name

    def _on_timer(self, now: float) -> None:
        self.log.append((self.name, now))


def test_resolution() -> None:
    assert resolution_for(25, 20) == 1.0
    assert resolution_for(0.3, 0.2) == pytest.approx(0.02)
    assert resolution_for(0.01, 0.01) == 0.005


async def test_scheduler_fires_early_never_late() -> None:
    loop = asyncio.get_running_loop()
    scheduler = Scheduler(loop, 0.01)
    log: list[tuple[str, float]] = []
    start = loop.time()
    deadlines = {"a": start + 0.035, "b": start + 0.02, "c": start + 0.037}
    for name, deadline in deadlines.items():
        scheduler.schedule(Entry(log, name), deadline)
    assert len(scheduler) == 3
    await until(lambda: len(log) == 3)
    assert log[0][0] == "b"
    for name, fired in log:
        # Rounded down to the bucket: at most one resolution early.
        assert fired >= math.floor(deadlines[name] / 0.01) * 0.01 - 1e-9
    assert not scheduler.armed  # nothing left: no timer handle


async def test_scheduler_reschedule_and_cancel() -> None:
    loop = asyncio.get_running_loop()
    scheduler = Scheduler(loop, 0.005)
    log: list[tuple[str, float]] = []
    a, b, c = Entry(log, "a"), Entry(log, "b"), Entry(log, "c")
    now = loop.time()
    scheduler.schedule(a, now + 0.01)
    scheduler.schedule(b, now + 0.01)
    scheduler.schedule(c, now + 0.01)
    scheduler.cancel(b)
    scheduler.schedule(c, now + 0.03)  # moved later
    scheduler.cancel(b)  # twice is fine
    await until(lambda: log)
    assert [n for n, _ in log] == ["a"]
    await until(lambda: len(log) == 2)
    assert [n for n, _ in log] == ["a", "c"]
    assert len(scheduler) == 0 and not scheduler.armed


async def test_scheduler_one_handle() -> None:
    loop = asyncio.get_running_loop()
    scheduler = Scheduler(loop, 0.005)
    log: list[tuple[str, float]] = []
    now = loop.time()
    for i in range(100):
        scheduler.schedule(Entry(log, str(i)), now + 0.01 + i * 0.0001)
    # All hundred share a few buckets and the scheduler owns one loop timer.
    assert len(scheduler._buckets) <= 4
    assert scheduler.armed
    await until(lambda: len(log) == 100)


async def test_callback_cancelling_a_peer_in_the_same_bucket() -> None:
    loop = asyncio.get_running_loop()
    scheduler = Scheduler(loop, 0.005)
    log: list[tuple[str, float]] = []
    victim = Entry(log, "victim")

    class Killer(Entry):
        def _on_timer(self, now: float) -> None:
            super()._on_timer(now)
            scheduler.cancel(victim)

    killer = Killer(log, "killer")
    deadline = loop.time() + 0.01
    scheduler.schedule(killer, deadline)
    scheduler.schedule(victim, deadline)
    await until(lambda: log)
    await asyncio.sleep(0.02)
    names = [n for n, _ in log]
    # Set order decides who runs first; the victim never runs after being cancelled.
    assert names in (["killer"], ["victim", "killer"])


@pytest.fixture
def handler() -> RecordingHandler:
    return RecordingHandler()


@pytest.fixture
def engine(handler: RecordingHandler) -> Engine:
    return Engine(handler, ping_interval=PING_INTERVAL, ping_timeout=PING_TIMEOUT)


async def test_polling_ping_pong(engine: Engine, handler: RecordingHandler) -> None:
    sid = handshake(engine)
    for _ in range(3):
        get = poll(engine, sid)
        await until(lambda get=get: get.answered)  # type: ignore[misc]
        assert get.text == "2"
        assert post(engine, sid, "3").text == "ok"
    assert handler.closed == []


async def test_websocket_ping_pong(engine: Engine, handler: RecordingHandler) -> None:
    _, ws = ws_handshake(engine)
    for _ in range(3):
        await until(lambda: ws.sent)
        assert ws.take() == ["2"]
        ws.receive("3")
    assert handler.closed == []


async def test_polling_ping_timeout(engine: Engine, handler: RecordingHandler) -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    sid = handshake(engine)
    pending = poll(engine, sid)
    await until(lambda: pending.answered)
    assert pending.text == "2"
    await until(lambda: handler.closed)
    assert handler.reasons(sid) == ["ping timeout"]
    # Never later than the protocol allows (the scheduler rounds deadlines down).
    assert loop.time() - start < PING_INTERVAL + PING_TIMEOUT + 0.04
    assert poll(engine, sid).status == 400


async def test_polling_ping_timeout_without_a_poll(
    engine: Engine, handler: RecordingHandler
) -> None:
    sid = handshake(engine)
    await asyncio.sleep(PING_INTERVAL + PING_TIMEOUT)
    await until(lambda: handler.closed)
    assert handler.reasons(sid) == ["ping timeout"]
    assert sid not in engine.sessions


async def test_websocket_ping_timeout(engine: Engine, handler: RecordingHandler) -> None:
    sid, ws = ws_handshake(engine)
    await until(lambda: ws.close_code is not None)
    assert ws.take() == ["2"]
    assert handler.reasons(sid) == ["ping timeout"]


async def test_heartbeat_survives_an_upgrade(engine: Engine, handler: RecordingHandler) -> None:
    from .fakes import FakeWebSocketRequest, q

    sid = handshake(engine)
    req = FakeWebSocketRequest(q(transport="websocket", sid=sid))
    engine.handle_websocket(req)
    ws = req.ws
    assert ws is not None
    ws.receive("2probe")
    ws.receive("5")
    ws.take()
    for _ in range(2):
        await until(lambda: ws.sent)
        assert ws.take() == ["2"]
        ws.receive("3")
    assert handler.closed == []


async def test_engine_timer_is_idle_without_sessions(engine: Engine) -> None:
    sid, ws = ws_handshake(engine)
    assert engine._scheduler.armed
    engine.sessions[sid].close()
    await asyncio.sleep(PING_INTERVAL + 0.02)
    assert not engine._scheduler.armed
    assert ws.take() == []
