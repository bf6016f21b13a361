"""HTTP long-polling: held GETs, batching, POST payloads, and the ways a session ends."""

from __future__ import annotations

import asyncio

import pytest

from turbosio.engineio import Engine, SharedMessage

from .fakes import FakeRequest, RecordingHandler, handshake, poll, post, q, until


@pytest.fixture
def handler() -> RecordingHandler:
    return RecordingHandler(echo=True)


@pytest.fixture
def engine(handler: RecordingHandler) -> Engine:
    # Long heartbeats: these tests must not see pings.
    return Engine(handler, ping_interval=30, ping_timeout=30)


async def test_post_then_poll(engine: Engine, handler: RecordingHandler) -> None:
    sid = handshake(engine)
    push = post(engine, sid, "4hello")
    assert push.status == 200
    assert push.text == "ok"
    assert push.header("Content-Type") == "text/html"
    assert handler.messages == [(sid, "hello")]
    get = poll(engine, sid)
    assert get.status == 200
    assert get.header("Content-Type") == "text/plain; charset=UTF-8"
    assert get.text == "4hello"


@pytest.mark.parametrize("payload", ["4test1\x1e4test2\x1e4test3", "4hello\x1ebAQIDBA=="])
async def test_payload_echo(engine: Engine, handler: RecordingHandler, payload: str) -> None:
    sid = handshake(engine)
    assert post(engine, sid, payload).text == "ok"
    assert poll(engine, sid).text == payload
    if "b" in payload:
        assert handler.messages[-1] == (sid, b"\x01\x02\x03\x04")


async def test_long_poll_is_held_until_a_write(engine: Engine) -> None:
    sid = handshake(engine)
    session = engine.sessions[sid]
    get = poll(engine, sid)
    await asyncio.sleep(0.01)
    assert not get.answered
    session.write("4one")
    assert not get.answered  # answered once per loop turn, not per write
    session.write("4two")
    session.write_binary(b"\xff\x00")
    await until(lambda: get.answered)
    assert get.text == "4one\x1e4two\x1eb/wA="


async def test_one_response_per_loop_turn(engine: Engine) -> None:
    sids = [handshake(engine) for _ in range(3)]
    gets = [poll(engine, sid) for sid in sids]
    for _ in range(2):
        for sid in sids:
            engine.sessions[sid].write("4x")
    await asyncio.sleep(0)
    assert all(get.text == "4x\x1e4x" for get in gets)


async def test_shared_message_encoded_once(engine: Engine) -> None:
    sids = [handshake(engine) for _ in range(2)]
    text = SharedMessage('42["chat","hi"]')
    binary = SharedMessage(b"\x01\x02")
    for sid in sids:
        engine.sessions[sid].write_shared(text)
        engine.sessions[sid].write_shared(binary)
    assert binary.polling == "bAQI="
    assert text.polling == '42["chat","hi"]'
    for sid in sids:
        assert poll(engine, sid).text == '42["chat","hi"]\x1ebAQI='


async def test_buffered_writes_go_to_the_next_poll(engine: Engine) -> None:
    sid = handshake(engine)
    engine.sessions[sid].write("4early")
    await asyncio.sleep(0)
    get = poll(engine, sid)
    assert get.text == "4early"  # answered at once: something was waiting


async def test_duplicate_poll_closes_the_session(engine: Engine, handler: RecordingHandler) -> None:
    sid = handshake(engine)
    first = poll(engine, sid)
    second = poll(engine, sid)
    assert second.status == 400
    assert first.status == 200 and first.text == "1"
    assert handler.reasons(sid) == ["transport error"]
    assert poll(engine, sid).json() == {"code": 1, "message": "Session ID unknown"}


async def test_cancelled_poll_closes_the_session(engine: Engine, handler: RecordingHandler) -> None:
    sid = handshake(engine)
    get = poll(engine, sid)
    get.disconnect()
    assert handler.reasons(sid) == ["transport error"]
    assert sid not in engine.sessions
    assert poll(engine, sid).status == 400


async def test_invalid_payload_is_a_parse_error(engine: Engine, handler: RecordingHandler) -> None:
    sid = handshake(engine)
    pending = poll(engine, sid)
    push = post(engine, sid, "4ok\x1eabc\x1e4never")
    # Node answers the POST "ok" and closes the session (checked against engine.io 6.6).
    assert (push.status, push.text) == (200, "ok")
    # Packets before the bad one are handled, as Node's decodePayload does; none after it.
    assert handler.messages == [(sid, "ok")]
    assert handler.reasons(sid) == ["parse error"]
    assert pending.text == "1"
    assert poll(engine, sid).status == 400


@pytest.mark.parametrize("body", ["", "bnot base64!", "9"])
async def test_other_parse_errors(engine: Engine, handler: RecordingHandler, body: str) -> None:
    sid = handshake(engine)
    push = post(engine, sid, body)
    assert (push.status, push.text) == (200, "ok")
    assert handler.reasons(sid) == ["parse error"]
    assert poll(engine, sid).status == 400


async def test_binary_content_type_is_refused(engine: Engine, handler: RecordingHandler) -> None:
    sid = handshake(engine)
    push = post(engine, sid, b"\x01\x02\x03", {"Content-Type": "application/octet-stream"})
    assert push.status == 400
    assert handler.reasons(sid) == ["transport error"]
    assert not handler.messages


async def test_post_over_the_size_limit() -> None:
    handler = RecordingHandler()
    engine = Engine(handler, max_http_buffer_size=10)
    sid = handshake(engine)
    push = post(engine, sid, "4" + "x" * 10)
    assert push.status == 413
    assert not handler.messages
    assert post(engine, sid, "4" + "x" * 9).text == "ok"
    assert handler.messages == [(sid, "x" * 9)]


async def test_close_packet_from_the_client(engine: Engine, handler: RecordingHandler) -> None:
    sid = handshake(engine)
    pending = poll(engine, sid)
    push = post(engine, sid, "1")
    assert push.text == "ok"
    assert pending.text == "6"  # Node ends the held poll with a noop
    assert handler.reasons(sid) == ["transport close"]
    assert poll(engine, sid).status == 400


async def test_packets_after_close_are_ignored(engine: Engine, handler: RecordingHandler) -> None:
    sid = handshake(engine)
    assert post(engine, sid, "4a\x1e1\x1e4b").text == "ok"
    assert handler.messages == [(sid, "a")]
    assert handler.reasons(sid) == ["transport close"]


async def test_ping_from_the_client_is_an_error(engine: Engine, handler: RecordingHandler) -> None:
    sid = handshake(engine)
    pending = poll(engine, sid)
    assert post(engine, sid, "2").text == "ok"
    assert handler.reasons(sid) == ["transport error"]  # invalid heartbeat direction
    assert pending.text == "1"


async def test_noop_open_and_upgrade_packets_are_ignored(
    engine: Engine, handler: RecordingHandler
) -> None:
    sid = handshake(engine)
    assert post(engine, sid, "6\x1e0\x1e5\x1e4x").text == "ok"
    assert handler.messages == [(sid, "x")]
    assert sid in engine.sessions


async def test_server_close_with_a_pending_poll(engine: Engine, handler: RecordingHandler) -> None:
    sid = handshake(engine)
    session = engine.sessions[sid]
    pending = poll(engine, sid)
    session.close()
    assert pending.text == "1"
    assert handler.reasons(sid) == ["forced close"]


async def test_server_close_flushes_the_buffer_before_the_close_packet(
    engine: Engine, handler: RecordingHandler
) -> None:
    sid = handshake(engine)
    session = engine.sessions[sid]
    pending = poll(engine, sid)
    session.write("4bye")
    session.close()
    # What was buffered goes first, the close packet with the next poll (as Node: the JS
    # client must see "4bye" before "1", in another payload).
    assert pending.text == "4bye"
    assert handler.closed == []
    assert poll(engine, sid).text == "1"
    assert handler.reasons(sid) == ["forced close"]
    assert session.closed
    session.write("4dropped")  # no effect, no error
    session.close()
    assert handler.reasons(sid) == ["forced close"]


async def test_server_close_waits_for_the_next_poll(
    engine: Engine, handler: RecordingHandler
) -> None:
    sid = handshake(engine)
    session = engine.sessions[sid]
    session.write("4bye")
    session.close("server shutting down")
    session.write("4late")  # closing: dropped, as Node does
    assert handler.closed == []
    assert post(engine, sid, "4ignored").text == "ok"  # closing: packets are not delivered
    assert handler.messages == []
    assert poll(engine, sid).text == "4bye"
    assert handler.closed == []
    assert poll(engine, sid).text == "1"
    assert handler.reasons(sid) == ["server shutting down"]
    assert poll(engine, sid).status == 400


async def test_server_close_gives_up_without_a_poll(handler: RecordingHandler) -> None:
    engine = Engine(handler, ping_interval=0.03, ping_timeout=0.02)
    sid = handshake(engine)
    engine.sessions[sid].close()
    await until(lambda: handler.closed)
    assert handler.reasons(sid) == ["forced close"]
    assert not engine.sessions


async def test_request_on_another_transport_is_a_bad_request(engine: Engine) -> None:
    sid = handshake(engine)
    req = FakeRequest("GET", q(transport="websocket", sid=sid))
    engine.handle_request(req)
    assert req.json() == {"code": 3, "message": "Bad request"}


async def test_handler_errors_are_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(RecordingHandler):
        def engine_message(self, session: object, data: str | bytes) -> None:
            raise RuntimeError("handler bug")

    handler = Broken()
    engine = Engine(handler)
    sid = handshake(engine)
    assert post(engine, sid, "4a\x1e4b").text == "ok"
    assert [r.exc_info[1].args for r in caplog.records if r.exc_info] == [("handler bug",)] * 2
    assert sid in engine.sessions
