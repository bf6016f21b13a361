"""A closed connection is freed by reference counting: nothing of the server's is left for the
cyclic garbage collector, whose passes cost every connection time on a busy server."""

from __future__ import annotations

import asyncio
import gc
from collections import Counter
from collections.abc import Iterator

import pytest

import turbosio
from turbosio.socketio import Socket

from .rawclient import RawClient


@pytest.fixture
def saved_garbage() -> Iterator[list[object]]:
    """The collector off, and what it would free kept in ``gc.garbage`` for inspection."""
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        yield gc.garbage
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
        gc.collect()


def _ours(garbage: list[object]) -> Counter[str]:
    return Counter(
        type(o).__qualname__ for o in garbage if type(o).__module__.startswith("turbosio.")
    )


async def test_closed_connections_leave_no_cycles(saved_garbage: list[object]) -> None:
    sio = turbosio.Server()
    joined: list[Socket] = []

    @sio.on("connect")
    async def connect(socket: Socket) -> None:
        joined.append(socket)

    @sio.on("echo")
    async def echo(socket: Socket, data: object) -> object:
        return data

    handle = await sio.serve(port=0)
    try:
        gc.collect()
        saved_garbage.clear()
        for _ in range(5):
            client = await RawClient.open(handle.url)
            assert (await client.connect()).startswith("40")
            await client.send('421["echo","hi"]')
            assert await client.recv() == '431["hi"]'
            await client.close()
        for _ in range(200):  # until the server has seen every close
            if all(not s.connected for s in joined):
                break
            await asyncio.sleep(0.01)
        assert len(joined) == 5 and all(not s.connected for s in joined)
        joined.clear()
        gc.collect()
        assert _ours(saved_garbage) == Counter()
    finally:
        await handle.close()
