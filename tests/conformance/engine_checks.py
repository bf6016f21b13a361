"""The Engine.IO checks both official suites make (the Socket.IO suite repeats them under
/socket.io/): handshake, heartbeat, close and upgrade. Each takes a :class:`Peer`; the upgrade
checks also take ``roundtrip``, which proves a WebSocket carries the session after the upgrade
(an echo on the Engine.IO server, a Socket.IO CONNECT on the Socket.IO server)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

from .wire import MAX_PAYLOAD, PING_INTERVAL_MS, PING_TIMEOUT_MS, WS, Peer

Roundtrip = Callable[[WS], Awaitable[None]]

HANDSHAKE_KEYS = {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}
UNKNOWN_SID = {"code": 1, "message": "Session ID unknown"}


def check_open_packet(text: str, upgrades: list[str]) -> str:
    """Assert an open packet carries exactly the handshake keys and the suite's settings;
    return the sid."""
    assert text.startswith("0"), text
    value = json.loads(text[1:])
    assert set(value) == HANDSHAKE_KEYS, value
    assert isinstance(value["sid"], str) and value["sid"], value
    assert value["upgrades"] == upgrades
    assert value["pingInterval"] == PING_INTERVAL_MS
    assert value["pingTimeout"] == PING_TIMEOUT_MS
    assert value["maxPayload"] == MAX_PAYLOAD
    return str(value["sid"])


async def assert_session_gone(peer: Peer, sid: str) -> None:
    """A poll on a closed (or never opened) session is refused: 400, code 1."""
    reply = await peer.get(peer.poll_query(sid))
    assert reply.status == 400, reply
    assert reply.json() == UNKNOWN_SID


async def assert_ws_not_opened(peer: Peer, query: str) -> None:
    """A WebSocket request that must not open a session: it is either refused with 400 or
    closed without an open packet. (Node 6.6 completes the upgrade for a bad EIO and then
    writes a raw 400 into the socket; for a bad transport it refuses before the upgrade.)"""
    try:
        sock = await peer.ws(query)
    except Exception as exc:  # aiohttp.WSServerHandshakeError
        assert getattr(exc, "status", None) == 400, repr(exc)
        return
    seen = await sock.expect_closed()
    assert not any(isinstance(m, str) and m.startswith("0") for m in seen), seen


# --- handshake ----------------------------------------------------------------------------


async def polling_handshake(peer: Peer) -> None:
    """successfully opens a session (HTTP long-polling)"""
    reply = await peer.get("EIO=4&transport=polling")
    assert reply.status == 200
    assert reply.headers["content-type"] == "text/plain; charset=UTF-8"
    check_open_packet(reply.text, ["websocket"])


async def polling_bad_eio(peer: Peer) -> None:
    """fails with an invalid 'EIO' query parameter (HTTP long-polling)"""
    for query in ("transport=polling", "EIO=abc&transport=polling"):
        reply = await peer.get(query)
        assert reply.status == 400, query
        assert reply.json() == {"code": 5, "message": "Unsupported protocol version"}


async def polling_bad_transport(peer: Peer) -> None:
    """fails with an invalid 'transport' query parameter (HTTP long-polling)"""
    for query in ("EIO=4", "EIO=4&transport=abc"):
        reply = await peer.get(query)
        assert reply.status == 400, query
        assert reply.json() == {"code": 0, "message": "Transport unknown"}


async def polling_bad_method(peer: Peer) -> None:
    """fails with an invalid request method (a handshake must be a GET)"""
    for method in ("POST", "PUT"):
        reply = await peer.request(method, "EIO=4&transport=polling")
        assert reply.status == 400, method
        assert reply.json() == {"code": 2, "message": "Bad handshake method"}


async def ws_handshake(peer: Peer) -> None:
    """successfully opens a session (WebSocket): no upgrades offered"""
    sock = await peer.ws("EIO=4&transport=websocket")
    first = await sock.recv()
    assert isinstance(first, str)
    check_open_packet(first, [])
    await sock.close()


async def ws_bad_eio(peer: Peer) -> None:
    """fails with an invalid 'EIO' query parameter (WebSocket)"""
    await assert_ws_not_opened(peer, "transport=websocket")
    await assert_ws_not_opened(peer, "EIO=abc&transport=websocket")


async def ws_bad_transport(peer: Peer) -> None:
    """fails with an invalid 'transport' query parameter (WebSocket)"""
    await assert_ws_not_opened(peer, "EIO=4")
    await assert_ws_not_opened(peer, "EIO=4&transport=abc")


# --- heartbeat ----------------------------------------------------------------------------


async def polling_ping_pong(peer: Peer) -> None:
    """sends ping/pong packets (HTTP long-polling): three rounds"""
    sid = await peer.open_polling()
    for _ in range(3):
        poll = await peer.get(peer.poll_query(sid))
        assert poll.status == 200
        assert poll.text == "2"
        push = await peer.post(peer.poll_query(sid), "3")
        assert push.status == 200
        assert push.text == "ok"


async def polling_ping_timeout(peer: Peer) -> None:
    """closes the session upon ping timeout (HTTP long-polling)"""
    sid = await peer.open_polling()
    # pingInterval + pingTimeout, and a little more so a busy machine does not decide it
    await asyncio.sleep((PING_INTERVAL_MS + PING_TIMEOUT_MS) / 1000 + 0.1)
    await assert_session_gone(peer, sid)


async def ws_ping_pong(peer: Peer) -> None:
    """sends ping/pong packets (WebSocket): three rounds"""
    sock, _ = await peer.ws_open()
    for _ in range(3):
        assert await sock.recv() == "2"
        await sock.send("3")
    await sock.close()


async def ws_ping_timeout(peer: Peer) -> None:
    """closes the session upon ping timeout (WebSocket): one unanswered ping, then the close"""
    sock, _ = await peer.ws_open()
    seen = await sock.expect_closed()
    assert seen == ["2"]


# --- close --------------------------------------------------------------------------------


async def polling_close(peer: Peer) -> None:
    """forcefully closes the session (HTTP long-polling): a close packet ends the pending poll
    with a noop and the session"""
    sid = await peer.open_polling()
    poll = asyncio.ensure_future(peer.get(peer.poll_query(sid)))
    # let the poll become the pending one before the close arrives
    await asyncio.sleep(0.05)
    push = await peer.post(peer.poll_query(sid), "1")
    assert push.status == 200
    assert push.text == "ok"
    reply = await poll
    assert reply.status == 200
    assert reply.text == "6"
    await assert_session_gone(peer, sid)


async def ws_close(peer: Peer) -> None:
    """forcefully closes the session (WebSocket)

    As in the official suite, pings are left unanswered while waiting. Node 6.6 ignores a close
    packet that arrives over WebSocket and ends such a session through the heartbeat; a server
    that closes at once passes too."""
    sock, _ = await peer.ws_open()
    await sock.send("1")
    await sock.expect_closed()


# --- upgrade ------------------------------------------------------------------------------


async def _probe(peer: Peer, sid: str) -> WS:
    sock = await peer.ws(f"EIO=4&transport=websocket&sid={sid}")
    await sock.send("2probe")
    assert await sock.recv() == "3probe"
    return sock


async def upgrade(peer: Peer, roundtrip: Roundtrip) -> None:
    """successfully upgrades from HTTP long-polling to WebSocket: probe, the poll is ended
    with a noop, upgrade, and the WebSocket carries the session"""
    sid = await peer.open_polling()
    sock = await _probe(peer, sid)
    poll = await peer.get(peer.poll_query(sid))
    assert poll.status == 200
    assert poll.text == "6"
    await sock.send("5")
    await roundtrip(sock)


async def upgrade_then_http(peer: Peer, roundtrip: Roundtrip) -> None:
    """ignores HTTP requests with same sid after upgrade"""
    sid = await peer.open_polling()
    sock = await _probe(peer, sid)
    await sock.send("5")
    # the roundtrip proves the upgrade is complete before the poll is made
    await roundtrip(sock)
    poll = await peer.get(peer.poll_query(sid))
    assert poll.status == 400
    assert poll.json() == {"code": 3, "message": "Bad request"}


async def upgrade_then_ws(peer: Peer, roundtrip: Roundtrip) -> None:
    """ignores WebSocket connection with same sid after upgrade; the first one keeps working"""
    sid = await peer.open_polling()
    sock = await _probe(peer, sid)
    await sock.send("5")
    await assert_ws_not_opened(peer, f"EIO=4&transport=websocket&sid={sid}")
    await roundtrip(sock)


async def noop_while_upgrading(peer: Peer, roundtrip: Roundtrip) -> None:
    """(socketioxide) answers every poll made while an upgrade is pending with a noop.

    Node starts the noops once the probe is answered, and its heartbeat goes on meanwhile: a
    poll may carry the ping instead, which is answered over HTTP as a client would."""
    sid = await peer.open_polling()
    sock = await _probe(peer, sid)
    noops = 0
    for _ in range(10):
        poll = await peer.get(peer.poll_query(sid))
        assert poll.status == 200
        packets = poll.text.split("\x1e")
        assert set(packets) <= {"6", "2"}, packets
        if "2" in packets:
            assert (await peer.post(peer.poll_query(sid), "3")).status == 200
        noops += packets.count("6")
        if noops >= 5:
            break
    assert noops >= 5
    await sock.send("5")
    await roundtrip(sock)
