"""The flusher: when the buffered output of the embedded server's connections is written.

Each ``await asyncio.sleep(0)`` below lets the loop make one turn; the flusher's callbacks and
the test's coroutine take turns in the order they were scheduled.
"""

from __future__ import annotations

import asyncio

from turbosio.server.connection import COALESCE_TURNS, Flusher


class _Conn:
    """Stands in for a connection: records in which of the test's turns it was flushed."""

    def __init__(self, clock: list[int]) -> None:
        self._dirty = True
        self._clock = clock
        self.flushed_at: list[int] = []

    def _flush(self) -> None:
        self._dirty = False
        self.flushed_at.append(self._clock[0])


async def _turns(clock: list[int], count: int) -> None:
    for _ in range(count):
        await asyncio.sleep(0)
        clock[0] += 1


async def test_an_idle_server_flushes_in_the_second_turn() -> None:
    clock = [0]
    flusher = Flusher(asyncio.get_running_loop())
    conn = _Conn(clock)
    flusher.add(conn)  # type: ignore[arg-type]
    await _turns(clock, 1)
    assert conn.flushed_at == []  # the first turn looks for more output
    await _turns(clock, 1)
    assert conn.flushed_at == [1]  # nothing more came: written in the next
    await _turns(clock, 3)
    assert conn.flushed_at == [1]


async def test_while_each_turn_brings_output_the_flush_waits_a_bounded_number_of_turns() -> None:
    clock = [0]
    flusher = Flusher(asyncio.get_running_loop())
    conns = []
    for _ in range(COALESCE_TURNS + 3):
        conn = _Conn(clock)
        conns.append(conn)
        flusher.add(conn)  # type: ignore[arg-type]
        await _turns(clock, 1)
    # One flush wrote the connections of the first COALESCE_TURNS + 1 turns together; the
    # ones that came after it wait for the next flush.
    first = conns[: COALESCE_TURNS + 1]
    assert {c.flushed_at[0] for c in first} == {COALESCE_TURNS}
    assert all(len(c.flushed_at) == 1 for c in first)
    await _turns(clock, COALESCE_TURNS + 2)
    later = conns[COALESCE_TURNS + 1 :]
    assert all(len(c.flushed_at) == 1 and c.flushed_at[0] > COALESCE_TURNS for c in later)
    assert len({c.flushed_at[0] for c in later}) == 1  # those in one flush too


async def test_a_connection_that_fails_to_write_does_not_stop_the_others() -> None:
    clock = [0]
    flusher = Flusher(asyncio.get_running_loop())

    class _Broken(_Conn):
        def _flush(self) -> None:
            raise OSError("gone")

    broken, good = _Broken(clock), _Conn(clock)
    flusher.add(broken)  # type: ignore[arg-type]
    flusher.add(good)  # type: ignore[arg-type]
    await _turns(clock, 2)
    assert good.flushed_at == [1]
    assert broken._dirty is False
