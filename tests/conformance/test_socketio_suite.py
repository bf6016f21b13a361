"""The official Socket.IO v5 protocol test suite (docs/socket.io-protocol/v5-test-suite in the
socket.io monorepo), case by case, against a server under /socket.io/ with pingInterval 300 ms,
pingTimeout 200 ms, maxPayload 1e6, connectTimeout 1 s and the suite's handlers: on connect,
emit "auth" with the auth payload (on "/" and "/custom"); "message" -> emit "message-back"
with the same arguments; "message-with-ack" -> ack with the same arguments. Plus socketioxide's
server-side ack cases ("emit-with-ack": the server emits the arguments back expecting an ack,
then emits what the ack carried).

Each test runs against turbosio and against Node's socket.io (see conftest.py)."""

from __future__ import annotations

import json
import re

from . import engine_checks as checks
from .wire import WS, Peer, sio_connect

PH0 = '{"_placeholder":true,"num":0}'
PH1 = '{"_placeholder":true,"num":1}'


async def connect_roundtrip(sock: WS) -> None:
    """The session is carried by ``sock``: a Socket.IO CONNECT is answered over it."""
    await sock.send("40")
    reply = await sock.recv_packet()
    assert isinstance(reply, str) and reply.startswith("40{"), reply
    assert await sock.recv_packet() == '42["auth",{}]'


def assert_connect_reply(data: str | bytes, prefix: str) -> None:
    """A CONNECT reply: ``prefix`` then an object whose only key is a string sid."""
    assert isinstance(data, str) and data.startswith(prefix), data
    handshake = json.loads(data[len(prefix) :])
    assert set(handshake) == {"sid"}, handshake
    assert isinstance(handshake["sid"], str)


# --- the Engine.IO part, repeated under /socket.io/ ---------------------------------------


async def test_polling_handshake_opens_a_session(sio: Peer) -> None:
    await checks.polling_handshake(sio)


async def test_polling_handshake_fails_with_invalid_eio(sio: Peer) -> None:
    await checks.polling_bad_eio(sio)


async def test_polling_handshake_fails_with_invalid_transport(sio: Peer) -> None:
    await checks.polling_bad_transport(sio)


async def test_polling_handshake_fails_with_invalid_method(sio: Peer) -> None:
    await checks.polling_bad_method(sio)


async def test_ws_handshake_opens_a_session(sio: Peer) -> None:
    await checks.ws_handshake(sio)


async def test_ws_handshake_fails_with_invalid_eio(sio: Peer) -> None:
    await checks.ws_bad_eio(sio)


async def test_ws_handshake_fails_with_invalid_transport(sio: Peer) -> None:
    await checks.ws_bad_transport(sio)


async def test_polling_ping_pong(sio: Peer) -> None:
    await checks.polling_ping_pong(sio)


async def test_polling_ping_timeout_closes_the_session(sio: Peer) -> None:
    await checks.polling_ping_timeout(sio)


async def test_ws_ping_pong(sio: Peer) -> None:
    await checks.ws_ping_pong(sio)


async def test_ws_ping_timeout_closes_the_session(sio: Peer) -> None:
    await checks.ws_ping_timeout(sio)


async def test_polling_forceful_close(sio: Peer) -> None:
    await checks.polling_close(sio)


async def test_ws_forceful_close(sio: Peer) -> None:
    await checks.ws_close(sio)


async def test_upgrade_from_polling_to_ws(sio: Peer) -> None:
    await checks.upgrade(sio, connect_roundtrip)


async def test_upgrade_ignores_http_with_same_sid_afterwards(sio: Peer) -> None:
    await checks.upgrade_then_http(sio, connect_roundtrip)


async def test_upgrade_ignores_ws_with_same_sid_afterwards(sio: Peer) -> None:
    await checks.upgrade_then_ws(sio, connect_roundtrip)


async def test_upgrade_noops_every_poll_while_upgrading(sio: Peer) -> None:
    await checks.noop_while_upgrading(sio, connect_roundtrip)


# --- connect ------------------------------------------------------------------------------


async def _connect(peer: Peer, packet: str, reply_prefix: str, auth_event: str) -> WS:
    sock, _ = await peer.ws_open()
    await sock.send(packet)
    assert_connect_reply(await sock.recv_packet(), reply_prefix)
    assert await sock.recv_packet() == auth_event
    return sock


async def test_connect_to_main_namespace(sio: Peer) -> None:
    await _connect(sio, "40", "40", '42["auth",{}]')


async def test_connect_to_main_namespace_with_payload(sio: Peer) -> None:
    await _connect(sio, '40{"token":"123"}', "40", '42["auth",{"token":"123"}]')


async def test_connect_to_custom_namespace(sio: Peer) -> None:
    await _connect(sio, "40/custom,", "40/custom,", '42/custom,["auth",{}]')


async def test_connect_to_custom_namespace_with_payload(sio: Peer) -> None:
    await _connect(
        sio, '40/custom,{"token":"abc"}', "40/custom,", '42/custom,["auth",{"token":"abc"}]'
    )


async def test_connect_to_unknown_namespace_is_refused(sio: Peer) -> None:
    sock, _ = await sio.ws_open()
    await sock.send("40/random")
    assert await sock.recv_packet() == '44/random,{"message":"Invalid namespace"}'


async def test_connect_with_invalid_handshake_closes(sio: Peer) -> None:
    sock, _ = await sio.ws_open()
    await sock.send("4abc")
    await sock.expect_closed()


async def test_no_connect_within_connect_timeout_closes(sio: Peer) -> None:
    sock, _ = await sio.ws_open()
    # pings are answered, so only the missing CONNECT (connectTimeout 1 s) can close it
    await sock.expect_closed(answer_pings=True)


# --- disconnect ---------------------------------------------------------------------------


async def test_disconnect_from_main_namespace(sio: Peer) -> None:
    sock, _ = await sio_connect(sio)
    await sock.send("41")
    # the server answers nothing: the next frame is the heartbeat
    assert await sock.recv() == "2"


async def test_connect_then_disconnect_from_custom_namespace(sio: Peer) -> None:
    sock, _ = await sio_connect(sio)
    assert await sock.recv() == "2"
    await sock.send("3")
    await sock.send("40/custom")
    assert_connect_reply(await sock.recv_packet(), "40/custom,")
    assert await sock.recv_packet() == '42/custom,["auth",{}]'
    await sock.send("41/custom")
    await sock.send('42["message","message to main namespace"]')
    assert await sock.recv_packet() == '42["message-back","message to main namespace"]'


# --- message ------------------------------------------------------------------------------


async def test_plain_text_packet(sio: Peer) -> None:
    sock, _ = await sio_connect(sio)
    await sock.send('42["message",1,"2",{"3":[true]}]')
    assert await sock.recv_packet() == '42["message-back",1,"2",{"3":[true]}]'


async def test_packet_with_binary_attachments(sio: Peer) -> None:
    sock, _ = await sio_connect(sio)
    await sock.send(f'452-["message",{PH0},{PH1}]')
    await sock.send(bytes([1, 2, 3]))
    await sock.send(bytes([4, 5, 6]))
    assert await sock.recv_packets(3) == [
        f'452-["message-back",{PH0},{PH1}]',
        bytes([1, 2, 3]),
        bytes([4, 5, 6]),
    ]


async def test_plain_text_packet_with_ack(sio: Peer) -> None:
    sock, _ = await sio_connect(sio)
    await sock.send('42456["message-with-ack",1,"2",{"3":[false]}]')
    assert await sock.recv_packet() == '43456[1,"2",{"3":[false]}]'


async def test_packet_with_binary_attachments_and_ack(sio: Peer) -> None:
    sock, _ = await sio_connect(sio)
    await sock.send(f'452-789["message-with-ack",{PH0},{PH1}]')
    await sock.send(bytes([1, 2, 3]))
    await sock.send(bytes([4, 5, 6]))
    assert await sock.recv_packets(3) == [
        f"462-789[{PH0},{PH1}]",
        bytes([1, 2, 3]),
        bytes([4, 5, 6]),
    ]


async def test_invalid_format_unknown_packet_type_closes(sio: Peer) -> None:
    sock, _ = await sio_connect(sio)
    await sock.send("4abc")
    await sock.expect_closed()


async def test_invalid_format_payload_closes(sio: Peer) -> None:
    sock, _ = await sio_connect(sio)
    await sock.send("42{}")
    await sock.expect_closed()


async def test_invalid_format_ack_id_closes(sio: Peer) -> None:
    sock, _ = await sio_connect(sio)
    await sock.send('42abc["message-with-ack",1,"2",{"3":[false]}]')
    await sock.expect_closed()


# --- acknowledgements the server asks for (socketioxide's cases) ---------------------------
# Node numbers a namespace's acks with one counter shared by all its sockets, so the id is
# whatever number the server chose; the client must answer with that id.


async def test_server_emit_with_ack(sio: Peer) -> None:
    sock, _ = await sio_connect(sio)
    args = '1,"2",{"3":[true]}'
    await sock.send(f'42["emit-with-ack",{args}]')
    request = await sock.recv_packet()
    assert isinstance(request, str)
    match = re.fullmatch(rf'42(\d+)\["emit-with-ack",{re.escape(args)}\]', request)
    assert match, request
    await sock.send(f"43{match[1]}[{args}]")
    assert await sock.recv_packet() == f'42["emit-with-ack",{args}]'


async def test_server_emit_with_binary_ack(sio: Peer) -> None:
    sock, _ = await sio_connect(sio)
    args = f'{PH0},{PH1},"test"'
    await sock.send(f'452-["emit-with-ack",{args}]')
    await sock.send(bytes([1, 2, 3]))
    await sock.send(bytes([4, 5, 6]))
    request, first, second = await sock.recv_packets(3)
    assert isinstance(request, str)
    match = re.fullmatch(rf'452-(\d+)\["emit-with-ack",{re.escape(args)}\]', request)
    assert match, request
    assert (first, second) == (bytes([1, 2, 3]), bytes([4, 5, 6]))
    await sock.send(f"462-{match[1]}[{args}]")
    await sock.send(bytes([1, 2, 3]))
    await sock.send(bytes([4, 5, 6]))
    assert await sock.recv_packets(3) == [
        f'452-["emit-with-ack",{args}]',
        bytes([1, 2, 3]),
        bytes([4, 5, 6]),
    ]
