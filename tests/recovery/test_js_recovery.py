"""Connection state recovery with the official JavaScript client (4.8), whose TCP connection
the test cuts: every event sent meanwhile arrives once, in order, after it reconnects."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import turbosio
from turbosio.socketio import Socket

from .proxy import CuttingProxy

COUNT = 100


class Run:
    """The Node client process and what it prints."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    async def next(self, key: str, timeout: float = 20) -> Any:
        assert self.proc.stdout is not None
        while True:
            line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
            if not line:
                raise AssertionError(f"the client exited before {key!r}")
            item = json.loads(line)
            if "timeout" in item:
                raise AssertionError(f"the client timed out: {item}")
            if key in item:
                return item[key]

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
        await self.proc.wait()


@pytest.fixture
async def setup(node: str, js_dir: Path) -> AsyncIterator[tuple[turbosio.Server, Any, Any]]:
    sio = turbosio.Server(
        ping_interval=0.5,
        ping_timeout=0.5,
        connection_state_recovery=turbosio.Recovery(max_disconnection_duration=1.5),
    )
    handle = await sio.serve(port=0)
    proxy = await CuttingProxy(handle.port).start()

    async def start(mode: str) -> Run:
        proc = await asyncio.create_subprocess_exec(
            node,
            str(js_dir / "recovery-client.mjs"),
            f"http://127.0.0.1:{proxy.port}",
            mode,
            str(COUNT),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=str(js_dir),
        )
        return Run(proc)

    yield sio, proxy, start
    await proxy.close()
    await handle.close(timeout=0.5)


async def until(predicate: Any, timeout: float = 10) -> None:
    for _ in range(int(timeout / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


@pytest.mark.parametrize("mode", ["websocket", "polling", "both"])
async def test_events_sent_during_a_cut_arrive_once_in_order(
    setup: tuple[turbosio.Server, CuttingProxy, Any], mode: str
) -> None:
    sio, proxy, start = setup
    server_side: list[tuple[str, bool]] = []
    gone: list[str] = []

    @sio.on("connect")
    async def connect(socket: Socket) -> None:
        server_side.append((socket.id, socket.recovered))
        if not socket.recovered:
            socket.join("room")
            socket.emit("welcome")

    @sio.on("disconnect")
    async def disconnect(socket: Socket, reason: str) -> None:
        gone.append(reason)

    run = await start(mode)
    try:
        first = await run.next("connect")
        assert first["recovered"] is False
        await run.next("welcome")  # the client now holds an offset
        if mode == "both":
            await until(
                lambda: all(s.conn.transport == "websocket" for s in sio.sockets.sockets.values())
            )
        proxy.cut()
        await until(lambda: len(gone) == 1)
        assert gone[0] in ("transport close", "transport error", "ping timeout")
        sid = first["id"]
        for n in range(COUNT):
            (sio.to(sid) if n % 2 else sio.to("room")).emit("n", n)
        proxy.restore()
        again = await run.next("connect")
        assert again == {"id": sid, "recovered": True}
        done = await run.next("done")
        assert done["received"] == list(range(COUNT))
        assert len(set(done["offsets"])) == COUNT
        assert server_side == [(sid, False), (sid, True)]
    finally:
        await run.stop()


async def test_after_the_maximum_duration_the_client_gets_a_fresh_session(
    setup: tuple[turbosio.Server, CuttingProxy, Any],
) -> None:
    sio, proxy, start = setup
    gone: list[str] = []

    @sio.on("connect")
    async def connect(socket: Socket) -> None:
        socket.emit("welcome")

    @sio.on("disconnect")
    async def disconnect(socket: Socket, reason: str) -> None:
        gone.append(reason)

    run = await start("websocket")
    try:
        first = await run.next("connect")
        await run.next("welcome")
        proxy.cut()
        await until(lambda: len(gone) == 1)
        await asyncio.sleep(2.0)  # past max_disconnection_duration (1.5 s)
        proxy.restore()
        again = await run.next("connect")
        assert again["recovered"] is False
        assert again["id"] != first["id"]
    finally:
        await run.stop()
