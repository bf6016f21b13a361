"""HTTP/1.1 on real sockets: requests, keep-alive, pipelining, held responses, client errors."""

from __future__ import annotations

import asyncio
import json
import logging
import socket

import pytest
from server_helpers import TIMEOUT, EchoApp, connect, read_eof, read_response

from turbosio.server import Server
from turbosio.server.http import LINGER_BYTES, MAX_HEADER_BYTES, MAX_PIPELINED, MAX_URL_BYTES


async def test_request_is_described_to_the_app(server: Server) -> None:
    reader, writer = await connect(server.port)
    writer.write(
        b"POST /echo/a%20b?x=1&x=2&empty=&sp=a+b HTTP/1.1\r\nHost: h\r\n"
        b"X-Two: a\r\nx-two: b\r\nContent-Length: 5\r\n\r\nhello"
    )
    response = await read_response(reader)
    assert response.status == 200
    assert response.headers["content-length"] == str(len(response.body))
    assert response.headers["content-type"] == "application/json"
    seen = json.loads(response.body)
    assert seen["method"] == "POST"
    assert seen["path"] == "/echo/a b"
    assert seen["query_string"] == "x=1&x=2&empty=&sp=a+b"
    assert seen["query"] == {"x": "1", "empty": "", "sp": "a b"}
    assert seen["headers"]["x-two"] == "a, b"
    assert seen["headers"]["host"] == "h"
    assert seen["body"] == "hello"
    assert seen["client"] == list(writer.get_extra_info("sockname")[:2])
    assert seen["scheme"] == "http"
    writer.close()


async def test_a_fragment_is_not_part_of_the_query(server: Server) -> None:
    """A client should not send one, but one that does gets its query without it."""
    reader, writer = await connect(server.port)
    writer.write(b"GET /echo?x=1&y=2#top HTTP/1.1\r\nHost: h\r\n\r\n")
    seen = json.loads((await read_response(reader)).body)
    assert seen["query_string"] == "x=1&y=2"
    assert seen["query"] == {"x": "1", "y": "2"}
    writer.close()


async def test_recurring_header_values_are_shared_between_requests(
    app: EchoApp, server: Server
) -> None:
    # A session keeps its request: a value every client sends alike (host, user agent) is one
    # string for all of them; a value each client sends its own (a cookie) is not kept.
    for cookie in ("a=1", "a=2", "a=1"):
        reader, writer = await connect(server.port)
        writer.write(
            b"GET /echo HTTP/1.1\r\nHost: example.test\r\nUser-Agent: Browser/1.0 (X11)\r\n"
            b"Cookie: " + cookie.encode() + b"\r\n\r\n"
        )
        assert (await read_response(reader)).status == 200
        writer.close()
    first, second, third = (r.headers for r in app.requests[-3:])
    assert first["host"] == "example.test"
    assert first["host"] is second["host"] is third["host"]
    assert first["user-agent"] is second["user-agent"]
    assert (first["cookie"], second["cookie"], third["cookie"]) == ("a=1", "a=2", "a=1")
    assert first["cookie"] is not third["cookie"]


async def test_keep_alive_serves_several_requests_on_one_connection(server: Server) -> None:
    reader, writer = await connect(server.port)
    for i in range(3):
        writer.write(f"GET /echo?i={i} HTTP/1.1\r\nHost: h\r\n\r\n".encode())
        response = await read_response(reader)
        assert json.loads(response.body)["query"] == {"i": str(i)}
        assert "connection" not in response.headers
    writer.close()


async def test_connection_close_is_honoured(server: Server) -> None:
    reader, writer = await connect(server.port)
    writer.write(b"GET /echo HTTP/1.1\r\nConnection: close\r\n\r\n")
    response = await read_response(reader)
    assert response.status == 200
    assert response.headers["connection"] == "close"
    assert await read_eof(reader) == b""
    writer.close()


async def test_http_1_0_closes_unless_keep_alive_is_asked(server: Server) -> None:
    reader, writer = await connect(server.port)
    writer.write(b"GET /echo HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    response = await read_response(reader)
    assert response.headers["connection"] == "keep-alive"
    writer.write(b"GET /echo HTTP/1.0\r\n\r\n")
    response = await read_response(reader)
    assert response.headers["connection"] == "close"
    assert await read_eof(reader) == b""
    writer.close()


async def test_app_may_ask_to_close(app: EchoApp, server: Server) -> None:
    reader, writer = await connect(server.port)
    writer.write(b"GET /hold HTTP/1.1\r\n\r\n")
    request = await asyncio.wait_for(app.held.get(), 10)
    request.respond(200, [("Connection", "close"), ("Content-Length", "999")], b"bye")
    response = await read_response(reader)
    assert response.headers["content-length"] == "3"  # the app's own value is replaced
    assert response.headers["connection"] == "close"
    assert response.body == b"bye"
    assert await read_eof(reader) == b""
    writer.close()


async def test_pipelined_requests_wait_for_the_held_one(app: EchoApp, server: Server) -> None:
    reader, writer = await connect(server.port)
    writer.write(
        b"GET /hold HTTP/1.1\r\n\r\n"
        b"GET /echo?n=2 HTTP/1.1\r\n\r\n"
        b"POST /echo?n=3 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
    )
    held = await asyncio.wait_for(app.held.get(), 10)
    # The app has not seen the later requests: they wait for the held response.
    assert [r.path for r in app.requests] == ["/hold"]
    held.respond(200, [], b"first")
    first = await read_response(reader)
    second = await read_response(reader)
    third = await read_response(reader)
    assert first.body == b"first"
    assert json.loads(second.body)["query"] == {"n": "2"}
    assert json.loads(third.body)["body"] == "abc"
    writer.close()


async def test_many_pipelined_requests_are_all_answered_in_order(
    app: EchoApp, server: Server
) -> None:
    reader, writer = await connect(server.port)
    count = MAX_PIPELINED * 2  # enough to make the server stop reading for a while
    writer.write(
        b"GET /hold HTTP/1.1\r\n\r\n"
        + b"".join(f"GET /echo?n={i} HTTP/1.1\r\n\r\n".encode() for i in range(count))
    )
    held = await asyncio.wait_for(app.held.get(), 10)
    held.respond(200, [], b"first")
    assert (await read_response(reader)).body == b"first"
    for i in range(count):
        assert json.loads((await read_response(reader)).body)["query"] == {"n": str(i)}
    writer.close()


async def test_header_with_a_line_break_is_refused(app: EchoApp, server: Server) -> None:
    reader, writer = await connect(server.port)
    writer.write(b"GET /hold HTTP/1.1\r\n\r\n")
    held = await asyncio.wait_for(app.held.get(), 10)
    with pytest.raises(ValueError):
        held.respond(200, [("X-Evil", "a\r\nSet-Cookie: x=1")], b"")
    held.respond(200, [("X-Fine", "a")], b"ok")
    response = await read_response(reader)
    assert (response.body, "set-cookie" in response.headers) == (b"ok", False)
    writer.close()


async def test_long_held_response_answered_later(app: EchoApp, server: Server) -> None:
    reader, writer = await connect(server.port)
    writer.write(b"GET /hold HTTP/1.1\r\n\r\n")
    held = await asyncio.wait_for(app.held.get(), 10)
    asyncio.get_running_loop().call_later(0.05, held.respond, 200, [("X-Late", "yes")], b"late")
    response = await read_response(reader)
    assert (response.status, response.headers["x-late"], response.body) == (200, "yes", b"late")
    with pytest.raises(RuntimeError):
        held.respond(200, [], b"again")
    writer.close()


async def test_on_disconnect_fires_when_the_client_goes(app: EchoApp, server: Server) -> None:
    _reader, writer = await connect(server.port)
    writer.write(b"GET /hold HTTP/1.1\r\n\r\n")
    held = await asyncio.wait_for(app.held.get(), 10)
    writer.close()
    gone = await asyncio.wait_for(app.disconnected.get(), 10)
    assert gone is held
    held.respond(200, [], b"too late")  # harmless once the client is gone


async def test_on_disconnect_set_after_the_client_left_fires_at_once(
    app: EchoApp, server: Server
) -> None:
    _reader, writer = await connect(server.port)
    writer.write(b"GET /hold-quietly HTTP/1.1\r\n\r\n")
    held = await asyncio.wait_for(app.held.get(), 10)
    writer.close()
    await writer.wait_closed()
    for _ in range(100):  # until the server has seen the connection go
        if server.connection_count == 0:
            break
        await asyncio.sleep(0.01)
    called: list[bool] = []
    held.on_disconnect(lambda: called.append(True))
    assert called == [True]


async def test_responded_request_does_not_report_a_disconnect(app: EchoApp, server: Server) -> None:
    reader, writer = await connect(server.port)
    writer.write(b"GET /hold HTTP/1.1\r\n\r\n")
    held = await asyncio.wait_for(app.held.get(), 10)
    held.respond(200, [], b"ok")
    await read_response(reader)
    writer.close()
    await asyncio.sleep(0.05)
    assert app.disconnected.empty()


async def test_chunked_request_body(server: Server) -> None:
    reader, writer = await connect(server.port)
    writer.write(b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
    await asyncio.sleep(0.01)
    writer.write(b"6\r\n world\r\n0\r\n\r\n")
    response = await read_response(reader)
    assert json.loads(response.body)["body"] == "hello world"
    writer.close()


async def test_head_gets_headers_without_a_body(server: Server) -> None:
    reader, writer = await connect(server.port)
    writer.write(b"HEAD /echo HTTP/1.1\r\n\r\nGET /nothing HTTP/1.1\r\n\r\n")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    assert int(head.split(b"content-length: ")[1].split(b"\r\n")[0]) > 0
    response = await read_response(reader)  # the next response follows at once
    assert response.status == 404
    writer.close()


async def test_expect_100_continue(server: Server) -> None:
    reader, writer = await connect(server.port)
    writer.write(b"POST /echo HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
    interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    writer.write(b"ok")
    assert json.loads((await read_response(reader)).body)["body"] == "ok"
    writer.close()


async def test_application_error_is_500_and_the_connection_goes_on(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    reader, writer = await connect(server.port)
    with caplog.at_level(logging.ERROR, "turbosio.server"):
        writer.write(b"GET /boom HTTP/1.1\r\n\r\n")
        assert (await read_response(reader)).status == 500
    assert "application" in caplog.text
    writer.write(b"GET /echo HTTP/1.1\r\n\r\n")
    assert (await read_response(reader)).status == 200
    writer.close()


# Client errors: one response, one log line, no traceback, connection closed.


async def _client_error(port: int, data: bytes) -> tuple[int, bytes]:
    reader, writer = await connect(port)
    writer.write(data)
    response = await read_response(reader)
    rest = await read_eof(reader)
    writer.close()
    return response.status, rest


async def test_body_over_the_limit_is_413(server: Server, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, "turbosio.server"):
        status, _ = await _client_error(
            server.port, b"POST /echo HTTP/1.1\r\nContent-Length: 1025\r\n\r\n" + b"x" * 1025
        )
    assert status == 413
    assert len(caplog.records) == 1
    assert caplog.records[0].exc_info is None


async def test_chunked_body_over_the_limit_is_413(server: Server) -> None:
    chunk = b"200\r\n" + b"x" * 512 + b"\r\n"
    status, _ = await _client_error(
        server.port, b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk * 3
    )
    assert status == 413


def _send_in_full_then_read(port: int, parts: list[bytes]) -> bytes:
    """What a plain HTTP client does (a blocking socket, as requests or curl): send the whole
    request, body and all, and only then read the response, until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        for part in parts:
            sock.sendall(part)
        received = b""
        while data := sock.recv(65536):
            received += data
        return received


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_oversized_body_sent_in_full_still_gets_its_413(server: Server, framing: str) -> None:
    # The server answers 413 as soon as it knows the body is too big, while the client is
    # still sending 4 MiB. The lingering close keeps reading (and discarding) them, so the
    # client's sends succeed and it reads the 413; closing at once would reset the connection
    # under the client's sendall, which then never reads the answer.
    chunk, count = b"x" * 65536, 64
    assert len(chunk) * count < LINGER_BYTES
    if framing == "content-length":
        head = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (64 * 65536)
        parts = [head] + [chunk] * count
    else:
        head = b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        parts = [head] + [b"10000\r\n" + chunk + b"\r\n"] * count + [b"0\r\n\r\n"]
    received = await asyncio.to_thread(_send_in_full_then_read, server.port, parts)
    assert received.startswith(b"HTTP/1.1 413 ")
    await _until_no_connections(server)


async def test_lingering_close_is_bounded(server: Server) -> None:
    # A client that keeps sending after its 413 is read for LINGER_BYTES at most, then closed.
    reader, writer = await connect(server.port)
    writer.write(b"POST /echo HTTP/1.1\r\nContent-Length: 999999999\r\n\r\n")
    assert (await read_response(reader)).status == 413
    assert await read_eof(reader) == b""  # our side is shut down after the response
    chunk = b"x" * 65536
    with pytest.raises(ConnectionError):
        for _ in range(4 * LINGER_BYTES // len(chunk)):
            writer.write(chunk)
            await asyncio.wait_for(writer.drain(), TIMEOUT)
    writer.close()
    await _until_no_connections(server)


async def _until_no_connections(server: Server) -> None:
    async with asyncio.timeout(TIMEOUT):
        while server.connection_count:
            await asyncio.sleep(0.02)


async def test_body_at_the_limit_is_accepted(server: Server) -> None:
    reader, writer = await connect(server.port)
    writer.write(b"POST /echo HTTP/1.1\r\nContent-Length: 1024\r\n\r\n" + b"x" * 1024)
    assert (await read_response(reader)).status == 200
    writer.close()


async def test_malformed_request_is_400_with_one_log_line(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, "turbosio.server"):
        status, _ = await _client_error(server.port, b"GET / HTTP/1.1\r\nBad Header\r\n\r\n")
        status2, _ = await _client_error(server.port, b"\x16\x03\x01 not http at all\r\n\r\n")
    assert (status, status2) == (400, 400)
    assert len(caplog.records) == 2
    assert all(r.exc_info is None and r.levelno == logging.INFO for r in caplog.records)


async def test_headers_too_large_is_431(server: Server) -> None:
    big = b"X-Big: " + b"y" * 1000 + b"\r\n"
    count = MAX_HEADER_BYTES // len(big) + 2
    status, _ = await _client_error(server.port, b"GET / HTTP/1.1\r\n" + big * count + b"\r\n")
    assert status == 431


async def test_url_too_long_is_414(server: Server) -> None:
    path = b"/" + b"a" * (MAX_URL_BYTES + 1)
    status, _ = await _client_error(server.port, b"GET " + path + b" HTTP/1.1\r\n\r\n")
    assert status == 414


async def test_error_waits_for_the_response_owed_before_it(app: EchoApp, server: Server) -> None:
    reader, writer = await connect(server.port)
    writer.write(b"GET /hold HTTP/1.1\r\n\r\nNOT HTTP\r\n\r\n")
    held = await asyncio.wait_for(app.held.get(), 10)
    held.respond(200, [], b"owed")
    assert (await read_response(reader)).body == b"owed"
    assert (await read_response(reader)).status == 400
    assert await read_eof(reader) == b""
    writer.close()


async def test_bad_client_does_not_disturb_a_good_one(server: Server) -> None:
    good_reader, good_writer = await connect(server.port)
    bad_reader, bad_writer = await connect(server.port)
    good_writer.write(b"GET /echo?a=1 HTTP/1.1\r\n\r\n")
    bad_writer.write(b"GARBAGE\r\n\r\n")
    assert (await read_response(bad_reader)).status == 400
    assert (await read_response(good_reader)).status == 200
    good_writer.write(b"GET /echo?a=2 HTTP/1.1\r\n\r\n")
    assert json.loads((await read_response(good_reader)).body)["query"] == {"a": "2"}
    good_writer.close()
    bad_writer.close()


async def test_responses_of_one_iteration_leave_in_one_write(app: EchoApp, server: Server) -> None:
    """Two held requests on two connections answered in one go: one write each."""
    conns = [await connect(server.port) for _ in range(2)]
    for _reader, writer in conns:
        writer.write(b"GET /hold HTTP/1.1\r\n\r\n")
    held = [await asyncio.wait_for(app.held.get(), 10) for _ in conns]
    # The request knows its connection; count the writes its transport gets.
    counted = [_count_writes(request) for request in held]
    for request in held:
        request.respond(200, [], b"x")
    for reader, _writer in conns:
        assert (await read_response(reader)).body == b"x"
    assert [c.writes for c in counted] == [1, 1]
    for _reader, writer in conns:
        writer.close()


class _CountingTransport:
    """Wraps a real transport, counting ``write`` calls (instrumentation, not a fake peer)."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self.writes = 0

    def write(self, data: bytes) -> None:
        self.writes += 1
        self._transport.write(data)

    def __getattr__(self, name: str) -> object:
        return getattr(self._transport, name)


def _count_writes(request: object) -> _CountingTransport:
    conn = request._conn  # type: ignore[attr-defined]
    counting = _CountingTransport(conn._transport)
    conn._transport = counting
    return counting


async def test_server_close_closes_idle_keep_alive_connections(app: EchoApp) -> None:
    from turbosio.server import serve

    srv = await serve(app, "127.0.0.1", 0)
    reader, writer = await connect(srv.port)
    writer.write(b"GET /echo HTTP/1.1\r\n\r\n")
    await read_response(reader)
    assert srv.connection_count == 1
    srv.close()
    await asyncio.wait_for(srv.wait_closed(), 10)
    assert await read_eof(reader) == b""
    assert srv.connection_count == 0
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", srv.port), timeout=1).close()
    writer.close()
