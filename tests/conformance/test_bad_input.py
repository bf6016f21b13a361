"""Bad input: malformed packets, wrong transport, unknown sid, oversized bodies and frames,
garbage, text that is not UTF-8, deeply nested JSON, too many binary attachments.

Each case gets Node's answer (engine.io 6.6 / socket.io 4.8: every expectation here also runs
against Node's reference server), and a well-behaved client connected to the same server
before the bad input keeps exchanging messages afterwards."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiohttp
import pytest

from .engine_checks import UNKNOWN_SID, assert_session_gone, assert_ws_not_opened
from .wire import MAX_PAYLOAD, WAIT, WS, Peer, sio_connect

BAD_REQUEST = {"code": 3, "message": "Bad request"}
UNKNOWN_TRANSPORT = {"code": 0, "message": "Transport unknown"}


class GoodClient:
    """A well-behaved WebSocket client that answers every ping in the background and, when
    asked, proves the server still serves it (an echo, or a Socket.IO event and its reply)."""

    def __init__(self, peer: Peer, sock: WS, message: Callable[[int], tuple[str, str]]) -> None:
        self._sock = sock
        self._message = message
        self._rounds = 0
        self._inbox: asyncio.Queue[str | bytes | None] = asyncio.Queue()
        peer.track(asyncio.ensure_future(self._read()))

    @classmethod
    async def engine(cls, peer: Peer) -> GoodClient:
        """An Engine.IO session on the echo server."""
        sock, _ = await peer.ws_open()
        return cls(peer, sock, lambda n: (f"4still here {n}", f"4still here {n}"))

    @classmethod
    async def socketio(cls, peer: Peer) -> GoodClient:
        """A Socket.IO connection to the main namespace."""
        sock, _ = await sio_connect(peer)
        return cls(
            peer,
            sock,
            lambda n: (f'42["message","still here",{n}]', f'42["message-back","still here",{n}]'),
        )

    async def _read(self) -> None:
        while True:
            try:
                data = await self._sock.recv(timeout=3600)
            except AssertionError:
                await self._inbox.put(None)
                return
            if data == "2":
                await self._sock.send("3")
            else:
                await self._inbox.put(data)

    async def check(self) -> None:
        """Two round trips, each answered in order."""
        for _ in range(2):
            self._rounds += 1
            sent, expected = self._message(self._rounds)
            await self._sock.send(sent)
            got = await asyncio.wait_for(self._inbox.get(), WAIT)
            assert got is not None, "the well-behaved client was disconnected"
            assert got == expected


async def push_then_poll(peer: Peer, sid: str, body: str) -> str:
    """POST ``body`` (must be accepted), then return what the next poll carries."""
    push = await peer.post(peer.poll_query(sid), body)
    assert (push.status, push.text) == (200, "ok")
    poll = await peer.get(peer.poll_query(sid))
    assert poll.status == 200
    return poll.text


# --- Engine.IO: malformed packets ---------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    ["abc", "9hello", "", "\x1e", "4hello\x1e", "2", "2probe"],
    ids=[
        "garbage",
        "unknown-type",
        "empty",
        "empty-packets",
        "trailing-separator",
        "ping",
        "probe",
    ],
)
async def test_polling_malformed_payload_closes_the_session(eio: Peer, body: str) -> None:
    # A client ping is a protocol error too in v4 ("invalid heartbeat direction").
    good = await GoodClient.engine(eio)
    sid = await eio.open_polling()
    push = await eio.post(eio.poll_query(sid), body)
    # Node acknowledges the POST, then closes the session
    assert (push.status, push.text) == (200, "ok")
    await assert_session_gone(eio, sid)
    await good.check()


@pytest.mark.parametrize(
    "frame", ["abc", "", "9", "2probe"], ids=["garbage", "empty", "unknown-type", "probe"]
)
async def test_ws_malformed_packet_closes_the_connection(eio: Peer, frame: str) -> None:
    good = await GoodClient.engine(eio)
    sock, _ = await eio.ws_open()
    await sock.send(frame)
    await sock.expect_closed()
    await good.check()


async def test_ws_packets_out_of_place_are_ignored(eio: Peer) -> None:
    # open, unsolicited pong, upgrade and noop packets on an open WebSocket session: no answer,
    # no close; the session goes on
    good = await GoodClient.engine(eio)
    sock, _ = await eio.ws_open()
    for frame in ("0", "3", "5", "6"):
        await sock.send(frame)
    await sock.send("4after")
    assert await sock.recv_packet() == "4after"
    await good.check()


# --- Engine.IO: wrong transport -----------------------------------------------------------


async def test_get_websocket_transport_without_upgrade(eio: Peer) -> None:
    good = await GoodClient.engine(eio)
    reply = await eio.get("EIO=4&transport=websocket")
    assert reply.status == 400
    assert reply.json() == BAD_REQUEST
    await good.check()


async def test_http_webtransport_is_unknown(eio: Peer) -> None:
    good = await GoodClient.engine(eio)
    reply = await eio.get("EIO=4&transport=webtransport")
    assert reply.status == 400
    assert reply.json() == UNKNOWN_TRANSPORT
    await good.check()


async def test_polling_session_refuses_other_transport(eio: Peer) -> None:
    good = await GoodClient.engine(eio)
    sid = await eio.open_polling()
    reply = await eio.post(f"EIO=4&transport=websocket&sid={sid}", "4hi")
    assert reply.status == 400
    assert reply.json() == BAD_REQUEST
    # the session itself is untouched
    assert await push_then_poll(eio, sid, "4hello") == "4hello"
    await good.check()


async def test_ws_session_refuses_polling(eio: Peer) -> None:
    good = await GoodClient.engine(eio)
    sock, handshake = await eio.ws_open()
    query = eio.poll_query(handshake["sid"])
    get = await eio.get(query)
    assert get.status == 400
    assert get.json() == BAD_REQUEST
    post = await eio.post(query, "4hi")
    assert post.status == 400
    assert post.json() == BAD_REQUEST
    await sock.send("4hello")
    assert await sock.recv_packet() == "4hello"
    await good.check()


async def test_ws_upgrade_with_polling_transport_is_not_opened(eio: Peer) -> None:
    good = await GoodClient.engine(eio)
    await assert_ws_not_opened(eio, "EIO=4&transport=polling")
    await good.check()


# --- Engine.IO: unknown sid ---------------------------------------------------------------


async def test_unknown_sid_over_http(eio: Peer) -> None:
    good = await GoodClient.engine(eio)
    query = eio.poll_query("no-such-session")
    get = await eio.get(query)
    assert get.status == 400
    assert get.json() == UNKNOWN_SID
    post = await eio.post(query, "4hi")
    assert post.status == 400
    assert post.json() == UNKNOWN_SID
    await good.check()


async def test_unknown_sid_over_websocket(eio: Peer) -> None:
    good = await GoodClient.engine(eio)
    reply = await eio.raw_upgrade("EIO=4&transport=websocket&sid=no-such-session")
    assert reply.status == 400
    assert reply.headers["content-type"] == "text/html"
    assert reply.body == b"Session ID unknown"
    await good.check()


# --- Engine.IO: oversized bodies and frames -----------------------------------------------


async def test_polling_post_over_max_payload_is_413(eio: Peer) -> None:
    good = await GoodClient.engine(eio)
    sid = await eio.open_polling()
    reply = await eio.post(eio.poll_query(sid), "4" + "a" * MAX_PAYLOAD)
    assert reply.status == 413
    assert reply.body == b""
    # Node keeps the session: the next, smaller POST goes through
    assert await push_then_poll(eio, sid, "4hello") == "4hello"
    await good.check()


async def test_polling_post_of_exactly_max_payload_is_accepted(eio: Peer) -> None:
    good = await GoodClient.engine(eio)
    sid = await eio.open_polling()
    payload = "4" + "a" * (MAX_PAYLOAD - 1)
    assert await push_then_poll(eio, sid, payload) == payload
    await good.check()


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
async def test_ws_frame_over_max_payload_closes_with_1009(eio: Peer, binary: bool) -> None:
    good = await GoodClient.engine(eio)
    sock, _ = await eio.ws_open()
    await sock.send(b"x" * (MAX_PAYLOAD + 1) if binary else "4" + "x" * MAX_PAYLOAD)
    await sock.expect_closed()
    assert sock.close_code == 1009
    await good.check()


async def test_ws_frame_of_exactly_max_payload_is_accepted(eio: Peer) -> None:
    good = await GoodClient.engine(eio)
    sock, _ = await eio.ws_open()
    payload = "4" + "x" * (MAX_PAYLOAD - 1)
    await sock.send(payload)
    assert await sock.recv_packet() == payload
    await good.check()


# --- Engine.IO: garbage -------------------------------------------------------------------


async def test_polling_post_of_random_bytes_closes_the_session(eio: Peer) -> None:
    good = await GoodClient.engine(eio)
    sid = await eio.open_polling()
    push = await eio.post(eio.poll_query(sid), bytes(range(256)))
    assert (push.status, push.text) == (200, "ok")
    await assert_session_gone(eio, sid)
    await good.check()


async def test_polling_post_as_octet_stream_is_refused(eio: Peer) -> None:
    # v4 polling payloads are text: a binary content type is refused and ends the session
    good = await GoodClient.engine(eio)
    sid = await eio.open_polling()
    push = await eio.post(
        eio.poll_query(sid), b"4hello", {"Content-Type": "application/octet-stream"}
    )
    assert push.status == 400
    assert push.body == b""
    await assert_session_gone(eio, sid)
    await good.check()


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
async def test_other_methods_on_a_session_are_500(eio: Peer, method: str) -> None:
    good = await GoodClient.engine(eio)
    sid = await eio.open_polling()
    reply = await eio.request(method, eio.poll_query(sid))
    assert reply.status == 500
    assert reply.body == b""
    # the session survives
    assert await push_then_poll(eio, sid, "4hello") == "4hello"
    await good.check()


# --- Engine.IO: text that is not UTF-8 ----------------------------------------------------


async def test_polling_post_not_utf8_is_decoded_with_replacement(eio: Peer) -> None:
    good = await GoodClient.engine(eio)
    sid = await eio.open_polling()
    push = await eio.post(eio.poll_query(sid), b"4a\xff\xfeb\xc3")
    assert (push.status, push.text) == (200, "ok")
    poll = await eio.get(eio.poll_query(sid))
    assert poll.status == 200
    assert poll.text == "4a\ufffd\ufffdb\ufffd"
    await good.check()


async def test_ws_text_frame_not_utf8_closes_with_1007(eio: Peer) -> None:
    good = await GoodClient.engine(eio)
    sock, _ = await eio.ws_open()
    await sock.send_frame(b"4a\xff\xfe", aiohttp.WSMsgType.TEXT)
    await sock.expect_closed()
    assert sock.close_code == 1007
    await good.check()


# --- Socket.IO: malformed packets ---------------------------------------------------------

MALFORMED_SOCKETIO = {
    "unknown-type": '47["message"]',
    "truncated-json": '42["message",',
    "empty-event": "42[]",
    "event-object": '42{"a":1}',
    "reserved-connect": '42["connect"]',
    "reserved-disconnecting": '42["disconnecting"]',
    "disconnect-with-payload": "41{}",
    "ack-not-array": '431{"a":1}',
    "namespace-without-comma": '42/custom["message"]',
    "connect-error-from-client": '44{"message":"x"}',
    "connect-twice": "40",
    "namespace-not-connected": '42/custom,["message","x"]',
    "attachments-negative": '45-1-["message"]',
    "attachments-not-a-number": '45abc-["message"]',
}


@pytest.mark.parametrize(
    "packet", list(MALFORMED_SOCKETIO.values()), ids=list(MALFORMED_SOCKETIO.keys())
)
async def test_malformed_socketio_packet_closes_the_connection(sio: Peer, packet: str) -> None:
    good = await GoodClient.socketio(sio)
    sock, _ = await sio_connect(sio)
    await sock.send(packet)
    await sock.expect_closed()
    await good.check()


async def test_text_where_an_attachment_is_due_closes(sio: Peer) -> None:
    good = await GoodClient.socketio(sio)
    sock, _ = await sio_connect(sio)
    await sock.send('451-["message",{"_placeholder":true,"num":0}]')
    await sock.send('42["message","x"]')
    await sock.expect_closed()
    await good.check()


async def test_binary_frame_without_a_binary_packet_closes(sio: Peer) -> None:
    good = await GoodClient.socketio(sio)
    sock, _ = await sio_connect(sio)
    await sock.send(b"\x01\x02")
    await sock.expect_closed()
    await good.check()


async def test_placeholder_out_of_range_closes(sio: Peer) -> None:
    good = await GoodClient.socketio(sio)
    sock, _ = await sio_connect(sio)
    await sock.send('451-["message",{"_placeholder":true,"num":5}]')
    await sock.send(b"x")
    await sock.expect_closed()
    await good.check()


# --- Socket.IO: too many attachments ------------------------------------------------------


def _placeholders(count: int) -> str:
    return ",".join(f'{{"_placeholder":true,"num":{i}}}' for i in range(count))


async def test_more_than_ten_attachments_closes(sio: Peer) -> None:
    # Node's parser allows 10 attachments per packet; the header alone decides
    good = await GoodClient.socketio(sio)
    sock, _ = await sio_connect(sio)
    await sock.send(f'4511-["message",{_placeholders(11)}]')
    await sock.expect_closed()
    await good.check()


async def test_ten_attachments_are_accepted(sio: Peer) -> None:
    good = await GoodClient.socketio(sio)
    sock, _ = await sio_connect(sio)
    await sock.send(f'4510-["message",{_placeholders(10)}]')
    attachments = [bytes([i]) * (i + 1) for i in range(10)]
    for attachment in attachments:
        await sock.send(attachment)
    assert await sock.recv_packets(11) == [
        f'4510-["message-back",{_placeholders(10)}]',
        *attachments,
    ]
    await good.check()


# --- Socket.IO: deeply nested JSON --------------------------------------------------------


async def test_deeply_nested_arguments_are_echoed(sio: Peer) -> None:
    depth = 1000
    nested = "[" * depth + "]" * depth
    good = await GoodClient.socketio(sio)
    sock, _ = await sio_connect(sio)
    await sock.send(f'42["message",{nested}]')
    assert await sock.recv_packet() == f'42["message-back",{nested}]'
    await good.check()


async def test_very_deeply_nested_event_nobody_handles_is_ignored(sio: Peer) -> None:
    # 100,000 levels (200 kB): Node parses it, finds no handler and carries on
    depth = 100_000
    good = await GoodClient.socketio(sio)
    sock, _ = await sio_connect(sio)
    await sock.send('42["nobody-listens",' + "[" * depth + "]" * depth + "]")
    await sock.send('42["message","after"]')
    assert await sock.recv_packet() == '42["message-back","after"]'
    await good.check()


# --- the helper itself: it notices a disconnection ----------------------------------------------


async def test_good_client_notices_its_own_disconnection(eio: Peer) -> None:
    good = await GoodClient.engine(eio)
    await good._sock.send("abc")  # a malformed packet: the server drops this client
    with pytest.raises(AssertionError, match="disconnected"):
        await good.check()
