"""The seed's example program, exactly as written with only the import changed, run as a
subprocess (``python seed.py`` and ``turbosio run seed:app``), with three official
socket.io-client 4.5.4 clients: every client receives every broadcast."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from conftest import NodeRunner
from flask import Flask
from turbosio.flask.options import default_port

pytestmark = pytest.mark.timeout(90)

#: The issue's program; the only change from Flask-SocketIO's is the import line.
SEED = """\
from flask import Flask
from turbosio.flask import SocketIO, emit

app = Flask(__name__)
socketio = SocketIO(app)

@socketio.on('message')
def handle_message(data):
    emit('response', {'msg': data}, broadcast=True)

if __name__ == '__main__':
    socketio.run(app)
"""

STARTED = re.compile(r"running on http://127\.0\.0\.1:(\d+)")


class Program:
    """A server program in a subprocess; ``port`` is read from its startup line."""

    def __init__(self, proc: asyncio.subprocess.Process, port: int, log: list[str]) -> None:
        self.proc = proc
        self.port = port
        self.log = log

    @classmethod
    async def start(cls, *argv: str, cwd: Path) -> Program:
        # TURBOSIO_PORT=0 only changes the default port (5000) that the program left to
        # socketio.run, so that the test binds a free port.
        env = {**os.environ, "TURBOSIO_PORT": "0", "PYTHONUNBUFFERED": "1"}
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        assert proc.stdout is not None
        log: list[str] = []
        while True:
            line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
            if not line:
                pytest.fail("the program exited before serving:\n" + "".join(log), pytrace=False)
            log.append(line)
            found = STARTED.search(line)
            if found:
                return cls(proc, int(found.group(1)), log)

    async def stop(self) -> int:
        """Ctrl-C, as a user would; returns the exit status."""
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(self.proc.wait(), 15)
            except asyncio.TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        assert self.proc.stdout is not None
        self.log.append((await self.proc.stdout.read()).decode())
        return self.proc.returncode or 0


@pytest.fixture
async def seed_dir(tmp_path: Path) -> AsyncIterator[Path]:
    (tmp_path / "seed.py").write_text(SEED)
    yield tmp_path


async def check_broadcast(program: Program, js_clients: NodeRunner) -> None:
    url = f"http://127.0.0.1:{program.port}"
    result = await js_clients("broadcast", url, "3", "default")
    expected = [{"msg": f"hello from {i}"} for i in range(3)]
    assert len(result["received"]) == 3
    for received in result["received"]:
        assert sorted(received, key=lambda m: m["msg"]) == expected
    assert result["transports"] == ["websocket"] * 3


@pytest.mark.js
async def test_seed_program_as_written(seed_dir: Path, js_clients: NodeRunner) -> None:
    program = await Program.start(sys.executable, "seed.py", cwd=seed_dir)
    try:
        await check_broadcast(program, js_clients)
    finally:
        status = await program.stop()
    assert status == 0, "".join(program.log)
    assert "Traceback" not in "".join(program.log)


@pytest.mark.js
async def test_seed_program_with_turbosio_run(seed_dir: Path, js_clients: NodeRunner) -> None:
    program = await Program.start(
        sys.executable, "-m", "turbosio", "run", "seed:app", "--port", "0", cwd=seed_dir
    )
    try:
        await check_broadcast(program, js_clients)
    finally:
        status = await program.stop()
    assert status == 0, "".join(program.log)


def test_default_port_is_5000(monkeypatch: pytest.MonkeyPatch) -> None:
    """socketio.run(app) serves on port 5000 unless told otherwise."""
    monkeypatch.delenv("TURBOSIO_PORT", raising=False)
    app = Flask("ports")
    assert default_port(app) == 5000
    app.config["SERVER_NAME"] = "example.test:8123"
    assert default_port(app) == 8123
    monkeypatch.setenv("TURBOSIO_PORT", "0")
    assert default_port(app) == 0


def test_turbosio_run_serves_an_app_or_its_socketio(monkeypatch: pytest.MonkeyPatch) -> None:
    """`turbosio run` takes the Flask app or its SocketIO, and runs it without a reloader."""
    from turbosio import cli
    from turbosio.flask import SocketIO

    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(SocketIO, "run", lambda self, app, **kw: calls.append((self, app, kw)))
    app = Flask("cli_target")
    socketio = SocketIO(app)
    cli.serve(app, "127.0.0.1", 6001)
    cli.serve(socketio, "127.0.0.1", 6002)
    options = {"host": "127.0.0.1", "use_reloader": False}
    assert calls == [
        (socketio, app, {**options, "port": 6001}),
        (socketio, app, {**options, "port": 6002}),
    ]
