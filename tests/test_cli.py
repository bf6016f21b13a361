"""The ``turbosio`` command line: argument parsing, the MODULE:ATTR importer, and serving.

Serving tests run ``python -m turbosio`` in a subprocess on port 0, read the URL it logs, talk
to it over HTTP, then stop it with SIGINT and expect a clean exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import turbosio
from turbosio.asgi import ASGIApp
from turbosio.cli import AppLoadError, describe_app, load_app, main

needs_server = pytest.mark.skipif(
    not hasattr(turbosio, "Server"), reason="turbosio.Server is not there yet"
)

STARTUP_TIMEOUT = 30


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m turbosio ARGS`` to completion."""
    return subprocess.run(
        [sys.executable, "-m", "turbosio", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=STARTUP_TIMEOUT,
        check=False,
    )


def write_module(directory: Path, name: str, source: str) -> None:
    (directory / f"{name}.py").write_text(textwrap.dedent(source))


@contextlib.asynccontextmanager
async def serving(*args: str, cwd: Path) -> AsyncIterator[str]:
    """Run ``python -m turbosio ARGS`` until it logs its URL; yield the URL; stop it (SIGINT)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "turbosio",
        *args,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    seen: list[str] = []
    try:
        async with asyncio.timeout(STARTUP_TIMEOUT):
            while True:
                line = (await proc.stdout.readline()).decode()
                if not line:
                    raise AssertionError("the server exited:\n" + "".join(seen))
                seen.append(line)
                found = re.search(r"running on (http://127\.0\.0\.1:\d+)", line, re.IGNORECASE)
                if found:
                    break
        yield found.group(1)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
        async with asyncio.timeout(STARTUP_TIMEOUT):
            rest, _ = await proc.communicate()
    output = "".join(seen) + rest.decode()
    assert proc.returncode == 0, output


@pytest.fixture(autouse=True)
def _restore_imports(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """load_app() puts --app-dir on sys.path and imports there: undo both after each test."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if name.startswith("cli_"):
            del sys.modules[name]


# Arguments.


def test_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"turbosio {turbosio.__version__}"


def test_help_lists_the_commands() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    assert "python -m turbosio" in result.stdout
    assert "run" in result.stdout and "demo" in result.stdout
    run_help = run_cli("run", "--help").stdout
    for option in ("MODULE:ATTR", "--host", "--port", "--app-dir", "--log-level"):
        assert option in run_help


@pytest.mark.parametrize(
    "args",
    [(), ("run",), ("run", "app:sio", "--port", "http"), ("demo", "--log-level", "loud")],
)
def test_bad_usage_exits_2(args: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(list(args))
    assert info.value.code == 2
    assert "usage:" in capsys.readouterr().err


# The importer.


def test_load_app_dotted_attribute(tmp_path: Path) -> None:
    write_module(
        tmp_path,
        "cli_dotted",
        """
        class Holder:
            class Inner:
                value = 42
        """,
    )
    assert load_app("cli_dotted:Holder.Inner.value", str(tmp_path)) == 42


@pytest.mark.parametrize("target", ["nocolon", ":sio", "app:", ""])
def test_malformed_target(target: str) -> None:
    with pytest.raises(AppLoadError, match='Expected "MODULE:ATTR"'):
        load_app(target)


def test_missing_module(tmp_path: Path) -> None:
    result = run_cli("run", "no_such_module_here:app", "--app-dir", str(tmp_path))
    assert result.returncode == 1
    assert 'Error: Could not import module "no_such_module_here"' in result.stderr
    assert str(tmp_path) in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_dependency_of_the_module(tmp_path: Path) -> None:
    write_module(tmp_path, "cli_broken_import", "import no_such_dependency_here\n")
    with pytest.raises(AppLoadError, match=r'Error importing "cli_broken_import".*no_such_dep'):
        load_app("cli_broken_import:app", str(tmp_path))


def test_error_inside_the_module_propagates(tmp_path: Path) -> None:
    write_module(tmp_path, "cli_raises", "raise RuntimeError('bad config')\n")
    with pytest.raises(RuntimeError, match="bad config"):
        load_app("cli_raises:app", str(tmp_path))


def test_missing_attribute(tmp_path: Path) -> None:
    write_module(tmp_path, "cli_no_attr", "sio = None\n")
    result = run_cli("run", "cli_no_attr:nope", cwd=tmp_path)
    assert result.returncode == 1
    assert 'Error: Attribute "nope" not found in module "cli_no_attr".' in result.stderr


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("app = 42\n", "got int 42"),
        ("def app(environ, start_response): ...\n", "got function"),
        ("class app:\n    async def __call__(self, scope, receive, send): ...\n", "class app"),
    ],
)
def test_wrong_type(tmp_path: Path, source: str, found: str) -> None:
    write_module(tmp_path, "cli_wrong_type", source)
    result = run_cli("run", "cli_wrong_type:app", cwd=tmp_path)
    assert result.returncode == 1
    assert "Error: Expected a turbosio.Server, an ASGI app" in result.stderr
    assert found in result.stderr


def test_describe_asgi_apps() -> None:
    async def raw(scope: Any, receive: Any, send: Any) -> None: ...

    from starlette.applications import Starlette

    class EngineApp:
        max_body_size = 10

        def owns(self, path: str) -> bool:
            return False

        def handle_request(self, req: Any) -> None: ...

        def handle_websocket(self, req: Any) -> None: ...

    assert describe_app(raw) == "asgi"
    assert describe_app(Starlette()) == "asgi"
    assert describe_app(ASGIApp(EngineApp())) == "asgi"


def test_flask_app_is_recognised(tmp_path: Path) -> None:
    pytest.importorskip("flask")
    write_module(tmp_path, "cli_flask", "from flask import Flask\napp = Flask(__name__)\n")
    result = run_cli("run", "cli_flask:app", cwd=tmp_path)
    assert result.returncode == 1
    assert "Flask app without a turbosio.flask.SocketIO" in result.stderr


def test_uvicorn_missing_names_the_extra(tmp_path: Path) -> None:
    write_module(tmp_path, "cli_asgi_raw", "async def app(scope, receive, send): ...\n")
    # A None entry in sys.modules makes `import uvicorn` fail as if it were not installed.
    code = (
        "import sys; sys.modules['uvicorn'] = None\n"
        "from turbosio.cli import main\n"
        "raise SystemExit(main(['run', 'cli_asgi_raw:app']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=STARTUP_TIMEOUT,
        check=False,
    )
    assert result.returncode == 1
    assert "uvicorn" in result.stderr
    assert "pip install 'turbosio[asgi]'" in result.stderr


# Serving.

STARLETTE_APP = """
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

async def hello(request):
    return PlainTextResponse("hello from " + request.url.path)

app = Starlette(routes=[Route("/hello", hello)])
"""


async def test_run_serves_an_asgi_app_with_uvicorn(tmp_path: Path) -> None:
    write_module(tmp_path, "cli_starlette", STARLETTE_APP)
    async with (
        serving("run", "cli_starlette:app", "--port", "0", cwd=tmp_path) as url,
        aiohttp.ClientSession() as http,
        http.get(url + "/hello") as resp,
    ):
        assert resp.status == 200
        assert await resp.text() == "hello from /hello"


SERVER_APP = """
import turbosio

sio = turbosio.Server()

@sio.on("echo")
async def echo(socket, *args):
    return args

fastapi_like = sio.asgi()
"""


async def polling_handshake(http: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    async with http.get(url + "/socket.io/?EIO=4&transport=polling") as resp:
        assert resp.status == 200
        body = await resp.text()
    assert body.startswith("0{")
    import json

    handshake: dict[str, Any] = json.loads(body[1:])
    return handshake


@needs_server
async def test_run_serves_a_server(tmp_path: Path) -> None:
    write_module(tmp_path, "cli_server", SERVER_APP)
    async with (
        serving("run", "cli_server:sio", "--port", "0", cwd=tmp_path) as url,
        aiohttp.ClientSession() as http,
    ):
        handshake = await polling_handshake(http, url)
        assert set(handshake) == {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}


@needs_server
async def test_run_serves_a_server_asgi_app(tmp_path: Path) -> None:
    write_module(tmp_path, "cli_server_asgi", SERVER_APP)
    async with (
        serving("run", "cli_server_asgi:fastapi_like", "--port", "0", cwd=tmp_path) as url,
        aiohttp.ClientSession() as http,
    ):
        handshake = await polling_handshake(http, url)
        assert handshake["upgrades"] == ["websocket"]


@needs_server
async def test_run_asgi_stops_held_polls_at_once(tmp_path: Path) -> None:
    """uvicorn waits for open requests before it stops; turbosio run tells the Server first,
    so a held long-poll gets its close packet instead of waiting for the next ping."""
    write_module(tmp_path, "cli_server_shutdown", SERVER_APP)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "turbosio",
        "run",
        "cli_server_shutdown:fastapi_like",
        "--port",
        "0",
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(STARTUP_TIMEOUT):
            while not (
                found := re.search(rb"running on (http://\S+)", await proc.stdout.readline())
            ):
                pass
        url = found.group(1).decode()
        async with aiohttp.ClientSession() as http:
            sid = (await polling_handshake(http, url))["sid"]
            polling = f"{url}/socket.io/?EIO=4&transport=polling&sid={sid}"
            async with http.post(polling, data="40") as resp:
                assert resp.status == 200
            async with http.get(polling) as resp:
                assert (await resp.text()).startswith("40{")
            held = asyncio.ensure_future(http.get(polling))
            await asyncio.sleep(0.3)  # the GET is held: nothing to send until the next ping
            assert not held.done()
            proc.send_signal(signal.SIGINT)
            # The default ping interval is 25 s: an answer within the timeout is the close.
            async with asyncio.timeout(10), await held as resp:
                assert resp.status == 200
                assert await resp.text() == "1"
        async with asyncio.timeout(10):
            await proc.communicate()
        assert proc.returncode == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


@needs_server
async def test_demo_command(tmp_path: Path) -> None:
    async with (
        serving("demo", "--port", "0", cwd=tmp_path) as url,
        aiohttp.ClientSession() as http,
    ):
        async with http.get(url + "/") as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/html")
            assert "turbosio demo" in await resp.text()
        await polling_handshake(http, url)
