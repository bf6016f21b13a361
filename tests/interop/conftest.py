"""The interop harness: servers under test, client matrix, and the scenario runner.

Each test is one scenario of tests/js/interop-client.mjs, run with the official
socket.io-client (4.8.3 and 4.5.4) over polling only, websocket only and polling+upgrade,
against three servers:

* "node": Node's socket.io 4.8 (tests/js/reference-server.mjs), proving the expectations;
* "turbosio": our embedded server, in the test's event loop;
* "turbosio-uvicorn": our ASGI app under uvicorn in a subprocess, for the tests decorated with
  ``uvicorn_too`` in the test module (a subset: the ASGI front end shares everything above the
  transports with the embedded server). Select them with ``-m uvicorn``, not ``-k``.

Scenarios that need other server settings name a profile from ``interop_app.PROFILES``.
"""

from __future__ import annotations

import asyncio
import json
import select
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from interop_app import build_server, node_arguments

TESTS_DIR = Path(__file__).resolve().parent.parent
CLIENT_SCRIPT = "interop-client.mjs"
SERVER_SCRIPT = "reference-server.mjs"

VERSIONS = ("4.8", "4.5.4")
MODES = ("polling", "websocket", "upgrade")
#: The transport a connection must end on in each mode.
FINAL_TRANSPORT = {"polling": "polling", "websocket": "websocket", "upgrade": "websocket"}

#: A scenario takes a few seconds at most; this only stops a hung run.
SCRIPT_TIMEOUT = 60.0
STARTUP_TIMEOUT = 30.0

Runner = Callable[..., Awaitable[dict[str, Any]]]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize every interop test over the servers and the client matrix."""
    if "server_kind" in metafunc.fixturenames:
        kinds = [pytest.param("node"), pytest.param("turbosio")]
        if getattr(metafunc.function, "interop_asgi_subset", False):
            kinds.append(pytest.param("turbosio-uvicorn", marks=pytest.mark.uvicorn))
        metafunc.parametrize("server_kind", kinds)
    if "client" in metafunc.fixturenames:
        clients = [(version, mode) for version in VERSIONS for mode in MODES]
        metafunc.parametrize("client", clients, ids=[f"{v}-{m}" for v, m in clients])


class _Process:
    """A server in a subprocess that prints {"port": N} when ready and exits on stdin EOF."""

    def __init__(self, argv: list[str], cwd: Path) -> None:
        # Lives as long as the server: its stderr, shown when a scenario fails.
        self.log: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        self.proc = subprocess.Popen(
            argv, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log
        )
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], STARTUP_TIMEOUT)
        line = self.proc.stdout.readline() if ready else b""
        if not line:
            self.stop()
            pytest.fail(f"server did not start: {argv}\n{self.stderr()}", pytrace=False)
        self.port = int(json.loads(line)["port"])

    def stderr(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-4000:]

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.log.close()


class _Pool:
    """Subprocess servers started on first use and shared by the whole run."""

    def __init__(self, node: str, js_dir: Path) -> None:
        self.node = node
        self.js_dir = js_dir
        self.running: dict[tuple[str, str], _Process] = {}

    def get(self, kind: str, profile: str) -> _Process:
        key = (kind, profile)
        if key not in self.running:
            if kind == "node":
                argv = [self.node, SERVER_SCRIPT, *node_arguments(profile)]
                self.running[key] = _Process(argv, self.js_dir)
            else:
                argv = [sys.executable, str(TESTS_DIR / "interop_app.py"), "--profile", profile]
                self.running[key] = _Process(argv, TESTS_DIR.parent)
        return self.running[key]

    def close(self) -> None:
        for process in self.running.values():
            process.stop()


@pytest.fixture(scope="session")
def server_pool(node: str, js_dir: Path) -> Iterator[_Pool]:
    """The Node reference servers and uvicorn servers, one per profile."""
    pool = _Pool(node, js_dir)
    yield pool
    pool.close()


@pytest.fixture
async def interop(
    server_kind: str, client: tuple[str, str], node: str, js_dir: Path, server_pool: _Pool
) -> AsyncIterator[Runner]:
    """``await interop(scenario, profile="default")``: run one scenario, return its result.

    Fails the test when the script reports an error or the connection did not end on the
    transport the mode asks for.
    """
    version, mode = client
    handles: list[Any] = []

    async def run(scenario: str, profile: str = "default") -> dict[str, Any]:
        server_log = None
        if server_kind == "turbosio":
            handle = await build_server(profile).serve(host="127.0.0.1", port=0)
            handles.append(handle)
            port = handle.port
        else:
            kind = "node" if server_kind == "node" else "uvicorn"
            process = server_pool.get(kind, profile)
            port, server_log = process.port, process
        url = f"http://127.0.0.1:{port}"
        proc = await asyncio.create_subprocess_exec(
            node,
            CLIENT_SCRIPT,
            scenario,
            url,
            version,
            mode,
            cwd=js_dir,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), SCRIPT_TIMEOUT)
        except asyncio.TimeoutError:
            proc.kill()
            out, err = await proc.communicate()
        lines = out.decode().strip().splitlines()
        report = json.loads(lines[-1]) if lines else {"ok": False, "error": "no output"}
        if not report["ok"]:
            details = f"\n--- client stderr:\n{err.decode(errors='replace')[-4000:]}"
            if server_log is not None:
                details += f"\n--- server stderr:\n{server_log.stderr()}"
            pytest.fail(f"{scenario} on {server_kind}: {report['error']}{details}", pytrace=False)
        assert report["transport"] == FINAL_TRANSPORT[mode], f"ended on {report['transport']}"
        result: dict[str, Any] = report["result"]
        return result

    yield run
    for handle in handles:
        await handle.close()
