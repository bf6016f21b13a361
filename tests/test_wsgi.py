"""turbosio.wsgi: WSGI environs from requests, whole responses from WSGI apps, and a WSGI
app beside a turbosio.Server on the embedded server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
import pytest

import turbosio
from turbosio.server import serve
from turbosio.wsgi import WSGIMount, build_environ, call_wsgi


class FakeRequest:
    """The fields of a turbosio.engineio.io.Request that build_environ reads."""

    def __init__(self, **fields: Any) -> None:
        self.method = "GET"
        self.path = "/"
        self.query_string = ""
        self.headers: dict[str, str] = {}
        self.body = b""
        self.client: tuple[str, int] | None = ("10.0.0.7", 5555)
        self.scheme = "http"
        self.__dict__.update(fields)


def test_environ_fields() -> None:
    environ = build_environ(
        FakeRequest(  # type: ignore[arg-type]
            method="POST",
            path="/caf\u00e9/x",
            query_string="a=1&b=%20",
            headers={
                "host": "example.test:8080",
                "content-type": "text/plain",
                "content-length": "5",
                "x-forwarded-for": "1.2.3.4",
                "x_forwarded_for": "spoofed",
                "cookie": "session=abc",
            },
            body=b"hello",
        )
    )
    assert environ["REQUEST_METHOD"] == "POST"
    # PEP 3333: the path's UTF-8 bytes, decoded as latin-1.
    assert environ["PATH_INFO"] == "/caf\u00e9/x".encode().decode("latin-1")
    assert environ["QUERY_STRING"] == "a=1&b=%20"
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == ("example.test", "8080")
    assert environ["CONTENT_TYPE"] == "text/plain"
    assert environ["CONTENT_LENGTH"] == "5"
    assert environ["HTTP_X_FORWARDED_FOR"] == "1.2.3.4"  # the underscore twin is left out
    assert environ["HTTP_COOKIE"] == "session=abc"
    assert "HTTP_CONTENT_TYPE" not in environ
    assert (environ["REMOTE_ADDR"], environ["REMOTE_PORT"]) == ("10.0.0.7", "5555")
    assert environ["wsgi.input"].read() == b"hello"
    assert environ["wsgi.url_scheme"] == "http"
    assert environ["wsgi.version"] == (1, 0)


@pytest.mark.parametrize(
    ("host", "scheme", "expected"),
    [
        ("", "https", ("localhost", "443")),
        ("example.test", "http", ("example.test", "80")),
        ("[::1]:9000", "http", ("[::1]", "9000")),
        ("[::1]", "wss", ("[::1]", "443")),
    ],
)
def test_environ_server_name(host: str, scheme: str, expected: tuple[str, str]) -> None:
    headers = {"host": host} if host else {}
    environ = build_environ(FakeRequest(headers=headers, scheme=scheme))  # type: ignore[arg-type]
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == expected
    assert environ["wsgi.url_scheme"] == ("https" if scheme in ("https", "wss") else "http")


def environ_for(path: str = "/") -> dict[str, Any]:
    return build_environ(FakeRequest(path=path))  # type: ignore[arg-type]


def test_call_wsgi_collects_the_response() -> None:
    closed: list[bool] = []

    class Body:
        def __iter__(self) -> Iterator[bytes]:
            yield b"two "
            yield b""
            yield b"parts"

        def close(self) -> None:
            closed.append(True)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        write = start_response("201 Created", [("X-One", "1")])
        write(b"written, ")
        return Body()

    assert call_wsgi(app, environ_for()) == (201, [("X-One", "1")], b"written, two parts")
    assert closed == [True]


def test_call_wsgi_turns_errors_into_500(caplog: pytest.LogCaptureFixture) -> None:
    def broken(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        raise RuntimeError("broken app")

    def silent(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        return [b"never started"]

    assert call_wsgi(broken, environ_for("/a"))[0] == 500
    assert call_wsgi(silent, environ_for("/b"))[0] == 500
    assert "broken app" in caplog.text
    assert "/a" in caplog.text and "/b" in caplog.text


def test_call_wsgi_error_page_replaces_a_started_response() -> None:
    """start_response may be called again with exc_info before any body went out."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        start_response("200 OK", [])
        try:
            raise ValueError("late")
        except ValueError:
            import sys

            start_response("500 Oops", [("X-Error", "1")], sys.exc_info())
        return [b"error page"]

    assert call_wsgi(app, environ_for()) == (500, [("X-Error", "1")], b"error page")


def plain_wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """A WSGI app without a framework: echoes what it was asked."""
    body = environ["wsgi.input"].read()
    text = f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']} {len(body)}".encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [text]


async def test_mount_serves_the_wsgi_app_beside_socketio() -> None:
    """Paths of the Socket.IO server go to it, every other path to the WSGI app; bodies too
    big for Socket.IO may still go to the WSGI app."""
    sio = turbosio.Server(max_http_buffer_size=1000)
    mount = WSGIMount(sio, plain_wsgi)
    listener = await serve(mount, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{listener.port}"
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(url + "/hello") as resp:
                assert await resp.text() == "GET /hello 0"
            async with http.post(url + "/upload", data=b"x" * 50_000) as resp:
                assert await resp.text() == "POST /upload 50000"
            async with http.head(url + "/hello") as resp:
                assert resp.status == 200 and await resp.read() == b""
            async with http.get(url + "/socket.io/?EIO=4&transport=polling") as resp:
                handshake = await resp.text()
                assert handshake.startswith('0{"sid":')
            async with http.ws_connect(
                url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
            ) as ws:
                assert (await ws.receive_str(timeout=5)).startswith('0{"sid":')
    finally:
        listener.close()
        await sio.shutdown(0.5)
        await listener.wait_closed()
        mount.executor.shutdown(wait=True)


async def test_mount_answers_500_for_an_invalid_header() -> None:
    def bad_header(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response("200 OK", [("X-Bad", "a\r\nInjected: yes")])
        return [b"body"]

    sio = turbosio.Server()
    mount = WSGIMount(sio, bad_header, access_log=None)
    listener = await serve(mount, "127.0.0.1", 0)
    try:
        url = f"http://127.0.0.1:{listener.port}/"
        async with aiohttp.ClientSession() as http, http.get(url) as resp:
            assert resp.status == 500
            assert "Injected" not in resp.headers
    finally:
        listener.close()
        await sio.shutdown(0.5)
        await listener.wait_closed()
        mount.executor.shutdown(wait=True)


def test_mount_limits() -> None:
    sio = turbosio.Server(max_http_buffer_size=1000)
    mount = WSGIMount(sio, plain_wsgi, max_body_size=5_000_000)
    default = WSGIMount(sio, plain_wsgi)
    assert mount.max_body_size == 5_000_000
    assert default.max_body_size == 16 * 1024 * 1024
    assert mount.owns("/anything")
    mount.executor.shutdown()
    default.executor.shutdown()
