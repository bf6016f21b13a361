"""The official Engine.IO v4 protocol test suite (docs/engine.io-protocol/v4-test-suite in the
socket.io monorepo), case by case, against an echo server under /engine.io/ with pingInterval
300 ms, pingTimeout 200 ms, maxPayload 1e6; plus socketioxide's "noop while upgrading" case.

Each test runs against turbosio and against Node's engine.io (see conftest.py)."""

from __future__ import annotations

import asyncio

from . import engine_checks as checks
from .wire import WS, Peer


async def echo_roundtrip(sock: WS) -> None:
    """The session is carried by ``sock``: a message comes straight back."""
    await sock.send("4hello")
    assert await sock.recv_packet() == "4hello"


# --- handshake ----------------------------------------------------------------------------


async def test_polling_handshake_opens_a_session(eio: Peer) -> None:
    await checks.polling_handshake(eio)


async def test_polling_handshake_fails_with_invalid_eio(eio: Peer) -> None:
    await checks.polling_bad_eio(eio)


async def test_polling_handshake_fails_with_invalid_transport(eio: Peer) -> None:
    await checks.polling_bad_transport(eio)


async def test_polling_handshake_fails_with_invalid_method(eio: Peer) -> None:
    await checks.polling_bad_method(eio)


async def test_ws_handshake_opens_a_session(eio: Peer) -> None:
    await checks.ws_handshake(eio)


async def test_ws_handshake_fails_with_invalid_eio(eio: Peer) -> None:
    await checks.ws_bad_eio(eio)


async def test_ws_handshake_fails_with_invalid_transport(eio: Peer) -> None:
    await checks.ws_bad_transport(eio)


# --- message: HTTP long-polling -----------------------------------------------------------


async def _push_then_poll(peer: Peer, payload: str) -> str:
    sid = await peer.open_polling()
    push = await peer.post(peer.poll_query(sid), payload)
    assert push.status == 200
    assert push.text == "ok"
    assert push.headers["content-type"] == "text/html"
    poll = await peer.get(peer.poll_query(sid))
    assert poll.status == 200
    return poll.text


async def test_polling_one_plain_text_packet(eio: Peer) -> None:
    assert await _push_then_poll(eio, "4hello") == "4hello"


async def test_polling_several_plain_text_packets(eio: Peer) -> None:
    payload = "4test1\x1e4test2\x1e4test3"
    assert await _push_then_poll(eio, payload) == payload


async def test_polling_plain_text_and_binary_packets(eio: Peer) -> None:
    payload = "4hello\x1ebAQIDBA=="
    assert await _push_then_poll(eio, payload) == payload


async def test_polling_invalid_packet_closes_the_session(eio: Peer) -> None:
    sid = await eio.open_polling()
    # the suite accepts a 400 or a reset connection; Node 6.6 answers 200 "ok" and then
    # closes the session, which is what the next poll checks
    try:
        push = await eio.post(eio.poll_query(sid), "abc")
    except OSError:
        pass
    else:
        assert push.status in (200, 400), push
    await checks.assert_session_gone(eio, sid)


async def test_polling_duplicate_poll_closes_the_session(eio: Peer) -> None:
    sid = await eio.open_polling()
    first = asyncio.ensure_future(eio.get(eio.poll_query(sid)))
    # the suite waits 5 ms; a little longer keeps the order of arrival certain on a busy machine
    await asyncio.sleep(0.05)
    second = await eio.get(eio.poll_query(sid) + "&t=burst")
    # Node answers 400; the suite also allows 500
    assert second.status in (400, 500)
    reply = await first
    assert reply.status == 200
    assert reply.text == "1"
    await checks.assert_session_gone(eio, sid)


async def test_polling_cancelled_poll_closes_the_session(eio: Peer) -> None:
    sid = await eio.open_polling()
    pending = await eio.hold_get(eio.poll_query(sid))
    # let the server take the poll before it is aborted (the suite waits 5 ms)
    await asyncio.sleep(0.05)
    pending.close()
    await pending.wait_closed()
    poll = await eio.get(eio.poll_query(sid))
    # 400 either way: "Session ID unknown" once the server saw the abort, or (if this poll got
    # there first) a duplicate poll, which closes the session too
    assert poll.status == 400
    await checks.assert_session_gone(eio, sid)


# --- message: WebSocket -------------------------------------------------------------------


async def test_ws_plain_text_packet(eio: Peer) -> None:
    sock, _ = await eio.ws_open()
    await sock.send("4hello")
    assert await sock.recv_packet() == "4hello"


async def test_ws_binary_packet(eio: Peer) -> None:
    sock, _ = await eio.ws_open()
    await sock.send(bytes([1, 2, 3, 4]))
    assert await sock.recv_packet() == bytes([1, 2, 3, 4])


async def test_ws_invalid_packet_closes_the_session(eio: Peer) -> None:
    sock, _ = await eio.ws_open()
    await sock.send("abc")
    await sock.expect_closed()


# --- heartbeat ----------------------------------------------------------------------------


async def test_polling_ping_pong(eio: Peer) -> None:
    await checks.polling_ping_pong(eio)


async def test_polling_ping_timeout_closes_the_session(eio: Peer) -> None:
    await checks.polling_ping_timeout(eio)


async def test_ws_ping_pong(eio: Peer) -> None:
    await checks.ws_ping_pong(eio)


async def test_ws_ping_timeout_closes_the_session(eio: Peer) -> None:
    await checks.ws_ping_timeout(eio)


# --- close --------------------------------------------------------------------------------


async def test_polling_forceful_close(eio: Peer) -> None:
    await checks.polling_close(eio)


async def test_ws_forceful_close(eio: Peer) -> None:
    await checks.ws_close(eio)


# --- upgrade ------------------------------------------------------------------------------


async def test_upgrade_from_polling_to_ws(eio: Peer) -> None:
    await checks.upgrade(eio, echo_roundtrip)


async def test_upgrade_ignores_http_with_same_sid_afterwards(eio: Peer) -> None:
    await checks.upgrade_then_http(eio, echo_roundtrip)


async def test_upgrade_ignores_ws_with_same_sid_afterwards(eio: Peer) -> None:
    await checks.upgrade_then_ws(eio, echo_roundtrip)


async def test_upgrade_noops_every_poll_while_upgrading(eio: Peer) -> None:
    await checks.noop_while_upgrading(eio, echo_roundtrip)
