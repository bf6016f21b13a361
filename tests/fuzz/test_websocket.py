"""Fuzzing the WebSocket entry of the running server: a session is opened over WebSocket, then
random frames carry random Engine.IO and Socket.IO packets (well-formed, truncated, nested,
binary, for namespaces that exist or not), raw frame garbage, or both.

Every example: the server answers or closes within HANG seconds once the client closes (no
hang), logs nothing at ERROR (no crash), and still answers a normal handshake afterwards.
"""

from __future__ import annotations

import base64
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import FuzzServer, exchange, healthy
from .test_frames import frames

FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def masked(opcode: int, payload: bytes) -> bytes:
    """A valid client frame."""
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        length = bytes((0x80 | n,))
    elif n < 65536:
        length = bytes((0x80 | 126,)) + n.to_bytes(2, "big")
    else:
        length = bytes((0x80 | 127,)) + n.to_bytes(8, "big")
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes((0x80 | opcode,)) + length + mask + body


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=10,
)
_namespace = st.sampled_from(["", "/admin,", "/nope,", "/,", "admin,", "/admin"])
_ack = st.sampled_from(["", "1", "42", "007", "-1", "99999999999999999999"])


@st.composite
def socketio_packets(draw: st.DrawFn) -> str:
    """Socket.IO packets as a client would send them, and near misses."""
    kind = draw(st.sampled_from("0123456789"))
    attachments = draw(st.sampled_from(["", "1-", "0-", "2-", "-", "x-"])) if kind in "56" else ""
    body = draw(st.sampled_from(["", "[]", '["echo"]', '["join","r"]', '{"token":"ok"}']))
    if draw(st.booleans()):
        import orjson

        try:
            body = orjson.dumps(draw(_json)).decode()
        except (TypeError, orjson.JSONEncodeError):
            body = "[]"
        if draw(st.booleans()):
            body = '["echo",' + body + "]"
    text = kind + attachments + draw(_namespace) + draw(_ack) + body
    cut = draw(st.integers(0, len(text)))
    return text if draw(st.booleans()) else text[:cut]


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    """One frame: an Engine.IO packet carrying (mostly) a Socket.IO packet, or garbage."""
    choice = draw(st.integers(0, 9))
    if choice <= 5:
        return masked(1, ("4" + draw(socketio_packets())).encode())
    if choice == 6:
        engine = draw(st.sampled_from(["2", "3", "1", "5", "6", "0", "2probe", "b", "x", ""]))
        return masked(1, engine.encode())
    if choice == 7:
        data = draw(st.binary(max_size=64))
        return masked(2, data) if draw(st.booleans()) else masked(1, b"b" + base64.b64encode(data))
    if choice == 8:
        return masked(draw(st.sampled_from([9, 10])), draw(st.binary(max_size=20)))
    return draw(frames())


def _upgrade_request() -> bytes:
    key = base64.b64encode(os.urandom(16))
    return (
        b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n"
        b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        b"Sec-WebSocket-Key: " + key + b"\r\n\r\n"
    )


@FUZZ
@given(st.lists(messages(), max_size=10), st.booleans())
def test_random_frames_and_packets(
    fuzz_server: FuzzServer, sent: list[bytes], close_frame: bool
) -> None:
    # The whole conversation goes in one write after the upgrade request: the server takes
    # the frames that follow the handshake as the session's first messages.
    data = _upgrade_request() + b"".join(sent)
    if close_frame:
        data += masked(8, (1000).to_bytes(2, "big"))
    reply = exchange(fuzz_server.port, data)
    assert reply.startswith(b"HTTP/1.1 101 "), reply[:200]
    healthy(fuzz_server)


@FUZZ
@given(st.lists(st.lists(st.sampled_from(['40', '40/admin,{"token":"ok"}', '421["echo",1]',
                                          '42["join","a"]', "41", "2", "3"]), max_size=5),
                min_size=1, max_size=4))  # fmt: skip
def test_packets_over_polling(fuzz_server: FuzzServer, posts: list[list[str]]) -> None:
    reply = exchange(
        fuzz_server.port, b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    sid = reply.split(b'"sid":"', 1)[1].split(b'"', 1)[0].decode()
    for items in posts:
        body = "\x1e".join(items).encode()
        request = (
            f"POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\n"
            f"Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        answer = exchange(fuzz_server.port, request)
        assert answer.startswith((b"HTTP/1.1 200 ", b"HTTP/1.1 400 ")), answer[:200]
    healthy(fuzz_server)
