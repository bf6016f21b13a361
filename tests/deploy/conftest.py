"""Fixtures for the deployment tests: the server as a process, a self-signed certificate,
nginx in front of it, and the official JavaScript client.

Every outside part (openssl, nginx, Node and tests/js/node_modules) is looked for first; when
one is missing the test is skipped with a loud reason, and under CI=true it fails instead.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
APP = HERE / "app.py"
CLIENT = HERE / "client.cjs"
#: Seconds a process may take to start, or a client scenario to finish: far above what it needs.
STARTUP = 20.0


def missing(what: str) -> None:
    """Skip the test loudly, or fail it under CI=true."""
    message = f"!!! {what}: these tests did NOT run"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI=true: this is an error)", pytrace=False)
    pytest.skip(message)


class ServerProcess:
    """``tests/deploy/app.py`` (or another script that serves with ``run``) in a process of
    its own; its log lines are kept."""

    def __init__(self, args: list[str], script: Path = APP) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(script), *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._ready = threading.Event()
        self.port = 0
        self.scheme = "http"
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._ready.wait(STARTUP) or not self.port:
            self.stop()
            raise RuntimeError("the server did not start:\n" + self.log)

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))
            if "turbosio running on " in line:
                url = line.split("turbosio running on ", 1)[1].split()[0]
                self.scheme, _, rest = url.partition("://")
                self.port = int(rest.rsplit(":", 1)[1])
                self._ready.set()
        self._ready.set()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (https with TLS)."""
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def log(self) -> str:
        """Everything the server logged so far."""
        return "\n".join(self.lines)

    def terminate(self, timeout: float = STARTUP) -> int:
        """SIGTERM, then wait for the process to end; returns its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            self.stop()

    def stop(self) -> None:
        """Make sure the process is gone."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._reader.join(5)
        if self.proc.stderr is not None and not self._reader.is_alive():
            self.proc.stderr.close()


@pytest.fixture
def start_server() -> Iterator[Callable[..., ServerProcess]]:
    """``start_server(*args, script=APP)``: app.py (or another server script) with these
    options; stopped after the test."""
    started: list[ServerProcess] = []

    def start(*args: str, script: Path = APP) -> ServerProcess:
        server = ServerProcess(list(args), script)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (and its key), made by the openssl command."""
    if shutil.which("openssl") is None:
        missing("the openssl command is missing")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def js_client(node: str, js_dir: Path) -> Callable[..., Any]:
    """``js_client(scenario, url, options, ca=None)``: run a scenario of client.cjs with the
    official socket.io-client 4.8 and return what it observed (``ca``: a PEM file to trust)."""

    def run(scenario: str, url: str, options: dict[str, Any] | None = None, ca: Any = None) -> Any:
        env = dict(os.environ)
        if ca is not None:
            env["NODE_EXTRA_CA_CERTS"] = str(ca)
        done = subprocess.run(
            [node, str(CLIENT), str(js_dir), scenario, url, json.dumps(options or {})],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        lines = done.stdout.strip().splitlines()
        if not lines:
            raise AssertionError(f"client.cjs printed nothing; stderr:\n{done.stderr}")
        result = json.loads(lines[-1])
        if not result["ok"]:
            raise AssertionError(f"client.cjs {scenario}: {result['error']}\n{done.stderr}")
        return result["result"]

    return run


def wait_for(check: Callable[[], bool], timeout: float = STARTUP) -> bool:
    """Poll ``check`` until it is true or ``timeout`` passes; returns its last answer."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
