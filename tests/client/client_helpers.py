"""Helpers for the client tests: an event recorder and peer servers in subprocesses."""

from __future__ import annotations

import asyncio
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
JS_SCRIPT = "client-peer.mjs"

#: Waits in these tests are protocol timeouts, not measurements; a slow machine may stretch
#: them with TURBOSIO_TEST_TIMEOUT_FACTOR (as the conformance tests do).
FACTOR = float(os.environ.get("TURBOSIO_TEST_TIMEOUT_FACTOR", "1"))
TIMEOUT = 10.0 * FACTOR
STARTUP_TIMEOUT = 30.0 * FACTOR

#: The transports option of each mode the tests run in.
MODES: dict[str, list[str]] = {
    "polling": ["polling"],
    "websocket": ["websocket"],
    "upgrade": ["polling", "websocket"],
}
#: The transport a connection ends on in each mode.
FINAL = {"polling": "polling", "websocket": "websocket", "upgrade": "websocket"}


class Recorder:
    """Collects what handlers saw, as ``(name, args)``; tests wait for what they expect.

    Safe to feed from the sync client's handler thread as well as from the event loop.
    """

    def __init__(self) -> None:
        self.seen: list[tuple[str, tuple[Any, ...]]] = []
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)

    def record(self, name: str, *args: Any) -> None:
        with self._changed:
            self.seen.append((name, args))
            self._changed.notify_all()

    def handler(self, name: str) -> Any:
        """A handler recording its arguments under ``name``."""

        def handle(*args: Any) -> None:
            self.record(name, *args)

        return handle

    def of(self, name: str) -> list[tuple[Any, ...]]:
        with self._lock:
            return [args for seen, args in self.seen if seen == name]

    def names(self) -> list[str]:
        with self._lock:
            return [name for name, _ in self.seen]

    async def wait(self, name: str, count: int = 1, timeout: float = TIMEOUT) -> list[Any]:
        """The arguments of the first ``count`` ``name`` events, once there are that many."""
        deadline = time.monotonic() + timeout
        while len(self.of(name)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"waited {timeout} s for {count} {name!r}: {self.seen}")
            await asyncio.sleep(0.01)
        return self.of(name)[:count]

    def wait_sync(self, name: str, count: int = 1, timeout: float = TIMEOUT) -> list[Any]:
        """:meth:`wait` for the sync client's tests (no event loop in the test's thread)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len([1 for seen, _ in self.seen if seen == name]) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"waited {timeout} s for {count} {name!r}: {self.seen}")
                self._changed.wait(left)
            return [args for seen, args in self.seen if seen == name][:count]


async def until(predicate: Any, timeout: float = TIMEOUT, what: str = "condition") -> None:
    """Wait until ``predicate()`` is true."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout} s for {what}")
        await asyncio.sleep(0.01)


class PeerProcess:
    """A peer server in a subprocess: ``peer_app.py`` (kind "turbosio") or
    ``client-peer.mjs`` (kind "node"); it prints its port and exits when stdin closes.

    ``kill()`` ends it at once (SIGKILL: no goodbye to the clients), ``start()`` again brings
    it back on the same port, ``pause()``/``resume()`` freeze it (SIGSTOP/SIGCONT).
    """

    def __init__(
        self,
        kind: str,
        node: str | None = None,
        *,
        ping_interval: float | None = None,
        ping_timeout: float | None = None,
        tls: tuple[Path, Path] | None = None,
        recovery: bool = False,
        port: int = 0,
    ) -> None:
        self.kind = kind
        self.node = node
        self.options: list[str] = []
        ms = 1000 if kind == "node" else 1
        if ping_interval is not None:
            self.options += ["--ping-interval", str(round(ping_interval * ms, 3))]
        if ping_timeout is not None:
            self.options += ["--ping-timeout", str(round(ping_timeout * ms, 3))]
        if tls is not None:
            self.options += ["--cert", str(tls[0]), "--key", str(tls[1])]
        if recovery:
            self.options.append("--recovery")
        self.port = port
        self.scheme = "https" if tls is not None else "http"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def start(self) -> PeerProcess:
        """Start (or start again, on the same port once it had one)."""
        assert self.proc is None, "already running"
        if self.kind == "node":
            assert self.node is not None
            argv = [self.node, JS_SCRIPT, "--port", str(self.port), *self.options]
            cwd = ROOT / "tests" / "js"
        else:
            argv = [sys.executable, str(HERE / "peer_app.py"), "--port", str(self.port)]
            argv += self.options
            cwd = ROOT
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - kept as long as the process
        self.proc = subprocess.Popen(
            argv, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log
        )
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], STARTUP_TIMEOUT)
        line = self.proc.stdout.readline() if ready else b""
        if not line:
            error = self.stderr()
            self.stop()
            pytest.fail(f"peer did not start: {argv}\n{error}", pytrace=False)
        self.port = int(json.loads(line)["port"])
        return self

    def stderr(self) -> str:
        if self.log is None:
            return ""
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-4000:]

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """End the process at once; its port is free for :meth:`start` again."""
        proc = self.proc
        if proc is None:
            return
        proc.send_signal(signal.SIGCONT)
        proc.kill()
        proc.wait()
        self._release()

    def stop(self) -> None:
        """Ask the process to exit (stdin closed); kill it if it does not."""
        proc = self.proc
        if proc is None:
            return
        proc.send_signal(signal.SIGCONT)
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        self._release()

    def _release(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            for stream in (proc.stdin, proc.stdout):
                if stream is not None and not stream.closed:
                    stream.close()
        if self.log is not None:
            self.log.close()
            self.log = None


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made by the ``openssl`` command."""
    if shutil.which("openssl") is None:
        message = "!!! openssl not found: the client's TLS tests are skipped"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (CI=true: this is an error)", pytrace=False)
        pytest.skip(message)
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def free_port() -> int:
    """A port nothing listens on now (for a server started later on it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
