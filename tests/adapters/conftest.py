"""Fixtures of the cluster tests: a real Redis, unique keys, servers, Node peers.

Redis is expected at 127.0.0.1:6379 (``REDIS_URL`` overrides it). When it cannot be reached
the tests that need it are skipped with a loud reason; under ``CI=true`` they fail instead.
Each test uses its own key prefix, so tests never see each other's messages, and checks at
the end that it left no subscription behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import select
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import IO, Any

import pytest

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
STARTUP_TIMEOUT = 30.0


def _redis_missing() -> str | None:
    try:
        import redis
    except ImportError:
        return "the redis package is not installed (make install)"
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        return f"Redis at {REDIS_URL} is unreachable ({exc})"
    finally:
        client.close()
    return None


def skip_or_fail(message: str) -> None:
    """Skip loudly, or fail under CI=true."""
    message = f"!!! {message}; these tests did NOT run"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI=true: this is an error)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The Redis URL; skips (fails under CI=true) when Redis is unreachable."""
    missing = _redis_missing()
    if missing is not None:
        skip_or_fail(missing)
    return REDIS_URL


@pytest.fixture
async def key(redis_url: str) -> AsyncIterator[str]:
    """A key prefix of this test's own; afterwards no channel under it has subscribers."""
    import redis.asyncio

    prefix = "tsio-test-" + secrets.token_hex(6)
    yield prefix
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        channels = await client.pubsub_channels(prefix + "*")
        shards = await client.execute_command("PUBSUB", "SHARDCHANNELS", prefix + "*")
    finally:
        await client.aclose()
    assert channels == [], f"channels left subscribed: {channels}"
    assert shards == [], f"shard channels left subscribed: {shards}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class NodeProcess:
    """A Node script that prints one JSON line when ready, then answers JSON commands read
    from its stdin with one JSON line each; it exits when its stdin closes."""

    def __init__(self, argv: list[str], cwd: Path) -> None:
        self.log: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - kept open with the process
        self.proc = subprocess.Popen(
            argv, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log
        )
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], STARTUP_TIMEOUT)
        line = self.proc.stdout.readline() if ready else b""
        if not line:
            self.stop()
            pytest.fail(f"{argv} did not start:\n{self.stderr()}", pytrace=False)
        self.ready: dict[str, Any] = json.loads(line)
        self._next_id = 0
        self._lock = asyncio.Lock()

    def stderr(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-4000:]

    async def call(self, op: str, *, wait: float = 20, **args: Any) -> Any:
        """Run one command; its result (raises with the script's error if it failed)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        async with self._lock:
            self._next_id += 1
            line = json.dumps({"id": self._next_id, "op": op, **args}) + "\n"
            self.proc.stdin.write(line.encode())
            self.proc.stdin.flush()
            stdout = self.proc.stdout
            answer = await asyncio.wait_for(asyncio.to_thread(stdout.readline), wait)
        if not answer:
            raise AssertionError(f"{op}: the script exited\n{self.stderr()}")
        reply = json.loads(answer)
        if not reply.get("ok"):
            raise AssertionError(f"{op}: {reply.get('error')}\n{self.stderr()}")
        return reply.get("result")

    def stop(self) -> None:
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.log.close()


@pytest.fixture
def node_processes(node: str, js_dir: Path) -> Iterator[list[NodeProcess]]:
    """Node scripts started by a test; all stopped at its end."""
    started: list[NodeProcess] = []
    yield started
    for process in started:
        process.stop()
