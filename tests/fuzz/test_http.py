"""Fuzzing the HTTP entry of the running server: random bytes and random requests (methods,
paths, queries, headers, bodies, real and made-up session ids) on fresh connections.

Every example: the server answers or closes within HANG seconds (no hang), logs nothing at
ERROR (no crash), and still answers a normal handshake afterwards.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import FuzzServer, exchange, healthy

FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_tokens = st.sampled_from(
    [
        b"GET ", b"POST ", b"OPTIONS ", b"HTTP/1.1", b"HTTP/1.0", b"\r\n", b"\r\n\r\n", b": ",
        b"/socket.io/", b"?EIO=4&transport=polling", b"&transport=websocket", b"&sid=",
        b"Content-Length: ", b"Transfer-Encoding: chunked", b"Upgrade: websocket",
        b"Connection: Upgrade", b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", b"0\r\n\r\n",
        b"Expect: 100-continue", b"\x00", b"\xff", b"%", b"%00", b"\x1e", b"40", b"42[", b"1",
    ]
)  # fmt: skip
_garbage = st.lists(_tokens | st.binary(max_size=12), max_size=30).map(b"".join)


@FUZZ
@given(_garbage)
def test_random_bytes(fuzz_server: FuzzServer, data: bytes) -> None:
    exchange(fuzz_server.port, data)
    healthy(fuzz_server)


def _open_session(server: FuzzServer) -> str:
    reply = exchange(
        server.port, b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    found = re.search(rb'"sid":"([^"]+)"', reply)
    assert found, reply[:200]
    return found.group(1).decode()


_text = st.text(st.characters(codec="utf-8"), max_size=30)
_payload_items = st.sampled_from(
    ["40", "41", "42[\"echo\",1]", "421[\"echo\",\"x\"]", "2", "3", "1", "5", "6", "4", "b", "bAAA",
     "40/admin,", '40/admin,{"token":"ok"}', "451-[\"echo\",{\"_placeholder\":true,\"num\":0}]",
     "43", "44", "0", "2probe", "42[]", "42[1]", '42["join","r"]', "4" + "[" * 2000]
) | _text  # fmt: skip


@st.composite
def requests(draw: st.DrawFn, sid: str) -> bytes:
    method = draw(st.sampled_from(["GET", "POST", "OPTIONS", "HEAD", "PUT", "DELETE", "G\x00T"]))
    path = draw(st.sampled_from(["/socket.io/", "/socket.io", "/", "/socket.io/x/y", "/%2e%2e/"]))
    query = {
        "EIO": draw(st.sampled_from(["4", "3", "5", "x", None])),
        "transport": draw(st.sampled_from(["polling", "websocket", "flashsocket", "", None])),
        "sid": draw(st.sampled_from([sid, sid[:-1] + "A", "", "x" * 100, None])),
        "t": draw(st.one_of(st.none(), _text)),
        "j": draw(st.sampled_from([None, "0", "x"])),
    }
    target = path + "?" + "&".join(f"{k}={quote(v)}" for k, v in query.items() if v is not None)
    headers = [("Host", "127.0.0.1"), ("Connection", "close")]
    for name, values in (
        ("Origin", ["http://allowed.example", "http://evil.example", "null", "\x7f", "*"]),
        ("Content-Type", ["text/plain;charset=UTF-8", "application/octet-stream", "x/y"]),
        ("Upgrade", ["websocket", "h2c"]),
        ("Access-Control-Request-Headers", ["x-a, x-b", ""]),
        ("Cookie", ["io=abc", "a=b; io="]),
        ("User-Agent", ["Mozilla/4.0 (compatible; MSIE 8.0; Trident/4.0)"]),
    ):
        if draw(st.booleans()):
            headers.append((name, draw(st.sampled_from(values))))
    items = draw(st.lists(_payload_items, max_size=6))
    body = "\x1e".join(items).encode("utf-8", "surrogatepass")
    if draw(st.booleans()):
        body = draw(st.binary(max_size=200))
    if body or method == "POST":
        length = len(body) + draw(st.sampled_from([0, 0, 0, -1, 5]))
        headers.append(("Content-Length", str(max(length, 0))))
    head = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
    return head.encode("utf-8", "surrogatepass") + b"\r\n" + body


@FUZZ
@given(st.data())
def test_random_requests(fuzz_server: FuzzServer, data: st.DataObject) -> None:
    sid = _open_session(fuzz_server)
    request = data.draw(requests(sid))
    reply = exchange(fuzz_server.port, request)
    # An answer, when there is one, is a well-formed HTTP/1.1 response.
    if reply:
        assert re.match(rb"HTTP/1\.1 \d{3} ", reply), reply[:200]
    healthy(fuzz_server)
