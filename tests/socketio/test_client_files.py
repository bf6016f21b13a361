"""Serving the JavaScript client bundle (``serve_client``), with Node's headers and answers.

Most tests build a small ``socket.io-client`` package folder of their own, so what is served
is known byte for byte; one serves the real bundle from tests/js when ``make js`` put it there.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import aiohttp
import httpx
import pytest

import turbosio
from turbosio.socketio.client_files import CLIENT_FILES, ENV_VAR, find_client_dir

REAL_DIST = Path(__file__).resolve().parent.parent / "js/node_modules/socket.io-client/dist"


def make_package(root: Path, version: str = "4.8.3") -> Path:
    """A socket.io-client package folder under ``root``; returns its dist/ folder."""
    package = root / "node_modules" / "socket.io-client"
    dist = package / "dist"
    dist.mkdir(parents=True)
    (package / "package.json").write_text(
        json.dumps({"name": "socket.io-client", "version": version})
    )
    for name in CLIENT_FILES:
        (dist / name).write_text(f"/* {name} */ " + "var io = 1;\n" * 200)
    return dist


@pytest.fixture(autouse=True)
def no_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Start every test from an empty directory with no variable, so only what it sets counts.
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)


async def serving(sio: turbosio.Server) -> AsyncIterator[str]:
    handle = await sio.serve(port=0)
    try:
        yield handle.url
    finally:
        await handle.close()


@pytest.fixture
async def dist(tmp_path: Path) -> Path:
    return make_package(tmp_path / "pkg")


@pytest.fixture
async def url(dist: Path) -> AsyncIterator[str]:
    async for url in serving(turbosio.Server(client_dir=dist)):
        yield url


async def get(
    url: str, headers: dict[str, str] | None = None, method: str = "GET"
) -> tuple[int, Mapping[str, str], bytes]:
    async with (
        aiohttp.ClientSession(auto_decompress=False) as http,
        http.request(method, url, headers=headers or {"Accept-Encoding": "identity"}) as resp,
    ):
        return resp.status, resp.headers.copy(), await resp.read()  # case-insensitive


async def test_serves_each_client_file_with_nodes_headers(url: str, dist: Path) -> None:
    for name in sorted(CLIENT_FILES):
        status, headers, body = await get(f"{url}/socket.io/{name}")
        assert status == 200, name
        assert body == (dist / name).read_bytes()
        kind = "json" if name.endswith(".map") else "javascript"
        assert headers["Content-Type"] == f"application/{kind}; charset=utf-8"
        assert headers["Cache-Control"] == "public, max-age=0"
        assert headers["ETag"] == '"4.8.3"'
        assert "Content-Encoding" not in headers


async def test_query_string_is_ignored(url: str, dist: Path) -> None:
    status, _, body = await get(f"{url}/socket.io/socket.io.js?v=1")
    assert status == 200
    assert body == (dist / "socket.io.js").read_bytes()


@pytest.mark.parametrize("etag", ['"4.8.3"', 'W/"4.8.3"'])
async def test_matching_etag_gets_an_empty_304(url: str, etag: str) -> None:
    status, headers, body = await get(f"{url}/socket.io/socket.io.min.js", {"If-None-Match": etag})
    assert (status, body) == (304, b"")
    assert "Content-Type" not in headers


async def test_stale_etag_gets_the_file(url: str) -> None:
    status, _, body = await get(f"{url}/socket.io/socket.io.js", {"If-None-Match": '"4.5.4"'})
    assert status == 200
    assert body


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("gzip, deflate, br", "gzip"),
        ("deflate", "deflate"),
        ("gzip;q=0.5, deflate", "deflate"),
        ("*", "gzip"),
        ("gzip;q=0, identity", None),
        ("br", None),
    ],
)
async def test_compression_follows_accept_encoding(
    url: str, dist: Path, accept: str, expected: str | None
) -> None:
    status, headers, body = await get(f"{url}/socket.io/socket.io.js", {"Accept-Encoding": accept})
    assert status == 200
    assert headers.get("Content-Encoding") == expected
    original = (dist / "socket.io.js").read_bytes()
    if expected == "gzip":
        assert gzip.decompress(body) == original
    elif expected == "deflate":
        assert zlib.decompress(body) == original
    else:
        assert body == original
    if expected is not None:
        assert len(body) < len(original)
        assert headers["Vary"] == "Accept-Encoding"


async def test_head_has_headers_and_no_body(url: str) -> None:
    status, headers, body = await get(f"{url}/socket.io/socket.io.js", method="HEAD")
    assert status == 200
    assert headers["ETag"] == '"4.8.3"'
    assert body == b""


async def test_other_paths_and_methods_still_reach_the_engine(url: str) -> None:
    # The engine's own error answers (a handshake would hold the shutdown for its last poll).
    status, _, body = await get(f"{url}/socket.io/?EIO=3&transport=polling")
    assert status == 400
    assert json.loads(body)["message"] == "Unsupported protocol version"
    # Not a client file: the engine answers, as Node's does (unknown transport).
    status, _, body = await get(f"{url}/socket.io/socket.io.jsx")
    assert status == 400
    assert json.loads(body)["message"] == "Transport unknown"
    status, _, _ = await get(f"{url}/socket.io/socket.io.js", method="POST")
    assert status == 400


async def test_not_found_when_no_client_is_installed() -> None:
    sio = turbosio.Server()
    async for url in serving(sio):
        status, _, body = await get(f"{url}/socket.io/socket.io.js")
        assert (status, body) == (404, b"Not Found")


async def test_serve_client_false_leaves_the_path_to_the_engine(dist: Path) -> None:
    async for url in serving(turbosio.Server(serve_client=False, client_dir=dist)):
        status, _, _ = await get(f"{url}/socket.io/socket.io.js")
        assert status == 400


async def test_custom_path(dist: Path) -> None:
    async for url in serving(turbosio.Server(path="/rt", client_dir=dist)):
        assert (await get(f"{url}/rt/socket.io.js"))[0] == 200
        assert (await get(f"{url}/socket.io/socket.io.js"))[0] == 404


def test_search_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    in_cwd = make_package(tmp_path / "project")
    from_env = make_package(tmp_path / "env")
    explicit = make_package(tmp_path / "explicit")
    monkeypatch.chdir(in_cwd.parent.parent.parent)
    assert find_client_dir() == in_cwd.resolve()
    # From a subdirectory too: the search goes upward.
    sub = tmp_path / "project" / "src" / "app"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    assert find_client_dir() == in_cwd.resolve()
    # The variable may name the package folder or its dist/ folder.
    monkeypatch.setenv(ENV_VAR, str(from_env.parent))
    assert find_client_dir() == from_env.resolve()
    monkeypatch.setenv(ENV_VAR, str(from_env))
    assert find_client_dir() == from_env.resolve()
    assert find_client_dir(explicit) == explicit.resolve()
    assert find_client_dir(explicit.parent) == explicit.resolve()


def test_bad_variable_is_logged_and_the_search_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nowhere"))
    assert find_client_dir() is None
    assert ENV_VAR in caplog.text


def test_bad_client_dir_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"socket\.io-client"):
        turbosio.Server(client_dir=tmp_path)


async def test_etag_without_package_json_is_a_content_hash(tmp_path: Path) -> None:
    dist = make_package(tmp_path)
    (dist.parent / "package.json").unlink()
    async for url in serving(turbosio.Server(client_dir=dist)):
        _, first, _ = await get(f"{url}/socket.io/socket.io.js")
        _, other, _ = await get(f"{url}/socket.io/socket.io.min.js")
        assert first["ETag"].startswith('"') and first["ETag"].endswith('"')
        assert first["ETag"] != other["ETag"]
        status, _, _ = await get(f"{url}/socket.io/socket.io.js", {"If-None-Match": first["ETag"]})
        assert status == 304


async def test_serves_the_real_bundle(node: str) -> None:
    # The `node` fixture: skipped loudly (failed under CI=true) without tests/js/node_modules.
    version = json.loads((REAL_DIST.parent / "package.json").read_text())["version"]
    async for url in serving(turbosio.Server(client_dir=REAL_DIST)):
        status, headers, body = await get(f"{url}/socket.io/socket.io.min.js")
        assert status == 200
        assert headers["ETag"] == f'"{version}"'
        assert body == (REAL_DIST / "socket.io.min.js").read_bytes()
        assert f"Socket.IO v{version}".encode() in body


async def test_served_by_the_asgi_app_too(dist: Path) -> None:
    app = turbosio.Server(client_dir=dist).asgi()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        resp = await http.get("/socket.io/socket.io.min.js", headers={"Accept-Encoding": "gzip"})
        assert resp.status_code == 200
        assert resp.headers["ETag"] == '"4.8.3"'
        assert resp.headers["Content-Encoding"] == "gzip"
        assert resp.content == (dist / "socket.io.min.js").read_bytes()  # httpx decompressed
        resp = await http.get("/socket.io/socket.io.js", headers={"If-None-Match": '"4.8.3"'})
        assert resp.status_code == 304
