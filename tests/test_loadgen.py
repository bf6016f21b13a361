"""The load generator of ``make bench`` (benchmarks/loadgen.py) in its connect scenarios
(``connect_ws``, and ``connect_upgrade``: by polling, then upgrade), with either generator: the
Python one, or the C connector (benchmarks/connect_ws.c), built here with ``cc`` into a
temporary directory.

Each run is short (a window of half a second): against the benchmark app on turbosio, against a
server that answers every request with a 404 (every attempt an error, counted), and, for the C
connector alone, against scripted servers that split their answers, ping in between, and (over
polling) answer in chunks.
Without a C compiler the connector's tests are skipped with a loud reason; under ``CI=true``
they fail instead.

Also: the bare server (benchmarks/bare_server.py) takes the polling scenarios, so run.py can
measure the generator's ceiling there, and run.py's verdict marks a row whose generator was
out of CPU.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
#: Seconds a process may take to start or to finish: far above what it needs.
TIMEOUT = 30.0


def _import(name: str, filename: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, BENCH / filename)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


loadgen = _import("bench_loadgen", "loadgen.py")
bench_run = _import("bench_run", "run.py")


@pytest.fixture(scope="module")
def connector(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """connect_ws.c built with ``cc`` (warnings are errors); skipped (failed under CI=true)
    without a C compiler."""
    cc = shutil.which("cc")
    if cc is None:
        message = "!!! no C compiler (`cc`): the C connector of connect_ws is NOT tested"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (CI=true: this is an error)", pytrace=False)
        pytest.skip(message)
    binary = tmp_path_factory.mktemp("connector") / "connect_ws"
    source = BENCH / "connect_ws.c"
    build = subprocess.run(
        [cc, "-O2", "-Wall", "-Wextra", "-Werror", "-std=gnu11", "-o", str(binary), str(source)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert build.returncode == 0, build.stderr
    return binary


@pytest.fixture(params=["c", "python"])
def generator(request: pytest.FixtureRequest) -> tuple[str, list[str]]:
    """Which generator makes the connections, and the loadgen options that choose it."""
    if request.param == "c":
        return "c", ["--connector", str(request.getfixturevalue("connector"))]
    return "python", ["--python-connector"]


@pytest.fixture(scope="module")
def bench_server() -> Iterator[tuple[int, int]]:
    """benchmarks/apps/turbosio_app.py in a process of its own, as run.py starts it (without
    the CPU pinning); yields ``(port, pid)``."""
    with _serve(
        lambda port: [sys.executable, str(BENCH / "apps" / "turbosio_app.py"), str(port)]
    ) as server:
        yield server


@pytest.fixture(scope="module")
def floor_server() -> Iterator[tuple[int, int]]:
    """benchmarks/apps/bare_asgi.py under uvicorn, as run.py starts "asgi-floor"."""
    pytest.importorskip("uvicorn")
    with _serve(
        lambda port: [
            sys.executable,
            "-m",
            "uvicorn",
            "bare_asgi:app",
            "--app-dir",
            str(BENCH / "apps"),
            "--log-level",
            "warning",
            "--port",
            str(port),
        ]
    ) as server:
        yield server


@pytest.fixture(scope="module")
def bare_server() -> Iterator[tuple[int, int]]:
    """benchmarks/bare_server.py, against which run.py measures the load generator's ceiling."""
    with _serve(lambda port: [sys.executable, str(BENCH / "bare_server.py"), str(port)]) as server:
        yield server


@contextlib.contextmanager
def _serve(command: Any) -> Iterator[tuple[int, int]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(command(port), stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + TIMEOUT
        while True:
            assert proc.poll() is None, f"the server exited with {proc.returncode}"
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            assert time.monotonic() < deadline, f"nothing listening on port {port}"
            time.sleep(0.05)
        yield port, proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def run_loadgen(port: int, *options: str, scenario: str = "connect_ws") -> dict[str, Any]:
    """Run one of loadgen.py's scenarios (connect_ws by default) briefly; its JSON result."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(BENCH / "loadgen.py"), scenario, "--port", str(port),
        "--duration", "0.5", "--repeats", "1", "--warmup", "0.2", *options,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    assert proc.returncode == 0, err.decode()
    result: dict[str, Any] = json.loads(out.decode().splitlines()[-1])
    assert "error" not in result, (result, err.decode()[-2000:])
    return result


CONNECTS = ["connect_ws", "connect_upgrade"]


@pytest.mark.parametrize("scenario", CONNECTS)
async def test_connect_against_turbosio(
    bench_server: tuple[int, int], generator: tuple[str, list[str]], scenario: str
) -> None:
    name, options = generator
    port, pid = bench_server
    result = await run_loadgen(
        port, "--server-pid", str(pid), "--clients", "10", *options, scenario=scenario
    )
    assert result["generator"] == name
    assert result["errors"] == {}
    assert len(result["values"]) == 1 and result["values"][0] > 0
    window = result["windows"][0]
    assert window["loadgen_cpu"] > 0 and window["server_cpu"] > 0


async def test_uvicorn_floor_app_takes_the_connect_scenario(
    floor_server: tuple[int, int],
) -> None:
    """The bare ASGI app whose figures bound every ASGI app's answers as the benchmark's
    clients expect (open packet, then its reply to 40)."""
    port, pid = floor_server
    result = await run_loadgen(
        port, "--server-pid", str(pid), "--clients", "4", "--python-connector"
    )
    assert result["errors"] == {}
    assert result["values"][0] > 0


async def test_uvicorn_floor_app_takes_the_echo_scenario(floor_server: tuple[int, int]) -> None:
    """The bare ASGI app acknowledges the echo scenario's events as the benchmark app does,
    so run.py can measure uvicorn's own floor for that row too."""
    port, pid = floor_server
    result = await run_loadgen(
        port, "--server-pid", str(pid), "--clients", "4", "--window", "1", scenario="echo"
    )
    assert result["values"][0] > 0


@pytest.mark.parametrize("scenario", ["polling_echo", "connect_upgrade"])
async def test_uvicorn_floor_app_takes_the_polling_scenarios(
    floor_server: tuple[int, int], scenario: str, generator: tuple[str, list[str]]
) -> None:
    """The bare ASGI app answers the polling rows as the benchmark app does (handshake, POSTed
    packets, held GETs, the upgrade's probe), so run.py can measure uvicorn's floor there."""
    port, pid = floor_server
    result = await run_loadgen(
        port, "--server-pid", str(pid), "--clients", "4", *generator[1], scenario=scenario
    )
    assert not result["errors"], result["errors"]
    assert result["values"][0] > 0


@pytest.mark.parametrize("scenario", ["polling_echo", "connect_upgrade"])
async def test_bare_server_takes_the_polling_scenarios(
    bare_server: tuple[int, int], scenario: str, generator: tuple[str, list[str]]
) -> None:
    """The bare server answers the polling rows as the benchmark app does (handshake, POSTed
    packets, held GETs, the upgrade's probe), so run.py can measure their ceiling too."""
    port, pid = bare_server
    result = await run_loadgen(
        port, "--server-pid", str(pid), "--clients", "4", *generator[1], scenario=scenario
    )
    assert not result["errors"], result["errors"]
    assert result["values"][0] > 0


def _result(value: float, loadgen_cpu: float) -> dict[str, Any]:
    window = {"rate": value, "loadgen_cpu": loadgen_cpu, "server_cpu": 0.9}
    return {"values": [value] * 3, "windows": [window] * 3}


def test_verdict_says_when_the_generator_is_the_limit() -> None:
    """A row whose generator had no CPU to spare in the turbosio run says so beside the
    targets: turbosio's figure there is the generator's ceiling, not the server's."""
    (upgrade,) = [sc for sc in bench_run.scenarios(False) if sc.key == "connect_upgrade"]
    results = {"node": _result(500, 0.4), "pysio": _result(300, 0.3)}
    results["turbosio"] = _result(1800, 0.96)
    bound = bench_run.verdict(upgrade, results, 2300.0)
    assert "met 2.0x Node" in bound and "MISSED 8x py" in bound
    assert "GENERATOR-BOUND (lg 96% in the turbosio run)" in bound
    results["turbosio"] = _result(1800, 0.80)
    assert "GENERATOR-BOUND" not in bench_run.verdict(upgrade, results, 2300.0)


async def _answer_404(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A plain HTTP server's answer to the upgrade request or the polling handshake: not
    found."""
    try:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


@pytest.mark.parametrize("scenario", CONNECTS)
async def test_connect_counts_errors(generator: tuple[str, list[str]], scenario: str) -> None:
    server = await asyncio.start_server(_answer_404, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        result = await run_loadgen(port, "--clients", "4", *generator[1], scenario=scenario)
    finally:
        server.close()
        await server.wait_closed()
    assert result["values"] == [0]
    errors = result["errors"]
    assert sum(errors.values()) > 0
    if generator[0] == "c":
        assert set(errors) == {"status"}, errors
    else:
        assert all("404" in kind for kind in errors), errors


async def test_meter_counts_the_cpu_of_its_children() -> None:
    """The connector's CPU is the load generator's: a busy child counts in ``loadgen_cpu``."""
    child = await asyncio.create_subprocess_exec(sys.executable, "-c", "while True: pass")
    try:
        meter = loadgen.Meter(None)
        meter.children.append(child.pid)
        await asyncio.sleep(0.1)
        await meter.measure(0.5)
    finally:
        child.kill()
        await child.wait()
    assert meter.windows[0]["loadgen_cpu"] > 0.3


# -- the connector against a scripted server ------------------------------------------------


def _server_frame(text: bytes) -> bytes:
    """An unmasked text frame, as a server sends it."""
    if len(text) < 126:
        return bytes((0x81, len(text))) + text
    return bytes((0x81, 126)) + len(text).to_bytes(2, "big") + text


async def _client_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """The next frame from the client: ``(first byte, unmasked payload)``; it must be masked."""
    first, second = await reader.readexactly(2)
    assert second & 0x80, "a client frame must be masked"
    mask = await reader.readexactly(4)
    data = await reader.readexactly(second & 0x7F)
    return first, bytes(b ^ mask[i % 4] for i, b in enumerate(data))


async def _dribble(writer: asyncio.StreamWriter, data: bytes, piece: int) -> None:
    """Write ``data`` in pieces of ``piece`` bytes, a moment apart: separate TCP segments."""
    for i in range(0, len(data), piece):
        writer.write(data[i : i + piece])
        await writer.drain()
        await asyncio.sleep(0.002)


async def _run_connector(connector: Path, port: int, *options: str, until: int) -> list[str]:
    """Run the connector against ``port`` until it has counted ``until`` connections; its
    count lines (it must exit cleanly)."""
    proc = await asyncio.create_subprocess_exec(
        str(connector), "--port", str(port), "--interval", "20", *options,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stdin is not None
    lines: list[str] = []

    async def until_counted() -> None:
        assert proc.stdout is not None
        while not lines or int(lines[-1].split()[0]) < until:
            line = await proc.stdout.readline()
            assert line, "the connector exited"
            lines.append(line.decode())

    try:
        await asyncio.wait_for(until_counted(), 10)
    finally:
        proc.stdin.close()  # the end of its input stops it
        rest, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    assert proc.returncode == 0, err.decode()
    return lines + rest.decode().splitlines()


async def test_connector_reads_split_answers_and_answers_pings(connector: Path) -> None:
    """The head, the open packet and the "40" arrive in pieces (7 bytes, or 3), a ping comes
    in between: the connector answers it with a masked "3" and still counts every connection."""
    handshakes: list[str] = []

    async def scripted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n")
            await _dribble(
                writer,
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
                + _server_frame(b'0{"sid":"abc","upgrades":[],"pingInterval":25000}'),
                7,
            )
            assert await _client_frame(reader) == (0x81, b"40")
            writer.write(_server_frame(b"2"))  # an Engine.IO ping
            assert await _client_frame(reader) == (0x81, b"3")
            await _dribble(writer, _server_frame(b'40{"sid":"def"}'), 3)
            handshakes.append("ok")
            # The connector drops the connection with a reset.
            await reader.read()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the reset, or the connector stopped at the end of the test
        except Exception as exc:  # reported by the test, after the run
            handshakes.append(f"{type(exc).__name__}: {exc}")
        finally:
            writer.close()

    server = await asyncio.start_server(scripted, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        lines = await _run_connector(connector, port, "--clients", "3", until=6)
    finally:
        server.close()
        await server.wait_closed()
    assert [h for h in handshakes if h != "ok"] == []
    assert all(len(line.split()) == 1 for line in lines), lines  # no error of any kind
    assert int(lines[-1]) >= 6


def _chunked(body: bytes, piece: int) -> bytes:
    """``body`` as a chunked HTTP/1.1 response (chunks of ``piece`` bytes), as uvicorn sends."""
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(body[i : i + piece]), body[i : i + piece])
        for i in range(0, len(body), piece)
    )
    return b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"


def _sized(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


async def test_connector_upgrades_as_the_javascript_client_does(connector: Path) -> None:
    """--upgrade, against a scripted server: the handshake answer (chunked, in pieces) gives
    the sid; "40" is POSTed; a first GET brings no "40" and the connector asks again; it holds
    one more GET while its WebSocket (with the sid) probes, and only once the probe is answered
    and the held GET ended does it send "5" and close the WebSocket cleanly."""
    seen: list[str] = []
    sessions: dict[bytes, asyncio.Future[None]] = {}
    counter = iter(range(1_000_000))

    async def polling(
        head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        assert head.startswith(b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\n"), head
        sid = b"s%d" % next(counter)
        probed = sessions[sid] = asyncio.get_running_loop().create_future()
        opening = b'0{"sid":"%s","upgrades":["websocket"],"pingInterval":25000}' % sid
        await _dribble(writer, _chunked(opening, 20), 9)
        query = b"/socket.io/?EIO=4&transport=polling&sid=" + sid + b" HTTP/1.1\r\n"
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"POST " + query) and b"Content-Length: 2\r\n" in head, head
        assert await reader.readexactly(2) == b"40"
        writer.write(_sized(b"ok"))
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"GET " + query)
        writer.write(_chunked(b"6", 1))  # not the "40" yet: the connector asks again
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"GET " + query)
        writer.write(_sized(b'2\x1e40{"sid":"x"}'))
        # The held GET: answered once the probe has come on the WebSocket.
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"GET " + query)
        await probed
        await _dribble(writer, _sized(b"6"), 5)
        await reader.read()  # the connector drops it with a reset

    async def websocket(
        head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        prefix = b"GET /socket.io/?EIO=4&transport=websocket&sid="
        assert head.startswith(prefix), head
        sid = head[len(prefix) : head.index(b" ", len(prefix))]
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
        )
        assert await _client_frame(reader) == (0x81, b"2probe")
        await _dribble(writer, _server_frame(b"2") + _server_frame(b"3probe"), 4)
        assert await _client_frame(reader) == (0x81, b"3")  # the pong
        with pytest.raises(asyncio.TimeoutError):  # no "5" while the GET is held
            await asyncio.wait_for(reader.readexactly(1), 0.05)
        sessions.pop(sid).set_result(None)  # now the held GET ends
        assert await _client_frame(reader) == (0x81, b"5")
        assert await reader.read() == b""  # a clean end of the stream, not a reset
        seen.append("ok")

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            if b"transport=websocket" in head:
                await websocket(head, reader, writer)
            else:
                await polling(head, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # a reset, or the connector stopped at the end of the test
        except Exception as exc:  # reported by the test, after the run
            seen.append(f"{type(exc).__name__}: {exc}")
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        lines = await _run_connector(connector, port, "--upgrade", "--clients", "3", until=6)
    finally:
        server.close()
        await server.wait_closed()
    assert [s for s in seen if s != "ok"] == []
    assert len(seen) >= 6
    assert all(len(line.split()) == 1 for line in lines), lines  # no error of any kind
    assert int(lines[-1]) >= 6
