"""Handlers driven inline: results, suspensions, errors, thread-pool handlers."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from turbosio.socketio.dispatch import call_handler, is_async_callable


async def test_a_coroutine_that_never_suspends_completes_inline() -> None:
    results: list[Any] = []

    async def handler(x: int) -> int:
        return x * 2

    call_handler(handler, True, (21,), lambda r, e: results.append((r, e)))
    # No loop turn needed: no task was created.
    assert results == [(42, None)]


async def test_a_suspending_coroutine_resumes_in_a_task() -> None:
    results: list[Any] = []
    waiter: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    finished = asyncio.Event()

    async def handler() -> int:
        value = await waiter
        await asyncio.sleep(0)  # a bare yield
        await asyncio.sleep(0.01)
        return value + 1

    def done(r: Any, e: BaseException | None) -> None:
        results.append((r, e))
        finished.set()

    call_handler(handler, True, (), done)
    assert results == []
    waiter.set_result(1)
    await asyncio.wait_for(finished.wait(), 5)
    assert results == [(2, None)]


async def test_a_pending_executor_future_is_awaited_correctly() -> None:
    results: list[Any] = []
    finished = asyncio.Event()
    gate = threading.Event()

    async def handler() -> str:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, lambda: (gate.wait(5), "slow")[1])

    def done(r: Any, e: BaseException | None) -> None:
        results.append((r, e))
        finished.set()

    call_handler(handler, True, (), done)
    await asyncio.sleep(0.05)
    gate.set()
    await asyncio.wait_for(finished.wait(), 5)
    assert results == [("slow", None)]


async def test_exceptions_reach_done_inline_and_after_suspension() -> None:
    results: list[Any] = []
    finished = asyncio.Event()

    async def fails_now() -> None:
        raise KeyError("now")

    async def fails_later() -> None:
        await asyncio.sleep(0.01)
        raise KeyError("later")

    def done(r: Any, e: BaseException | None) -> None:
        results.append(repr(e))
        if len(results) == 2:
            finished.set()

    call_handler(fails_now, True, (), done)
    call_handler(fails_later, True, (), done)
    await asyncio.wait_for(finished.wait(), 5)
    assert results == ["KeyError('now')", "KeyError('later')"]


async def test_an_exception_of_an_awaited_future_is_raised_inside_the_handler() -> None:
    results: list[Any] = []
    finished = asyncio.Event()
    waiter: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def handler() -> str:
        try:
            await waiter
        except ValueError as exc:
            return f"caught {exc}"
        return "no"

    def done(r: Any, e: BaseException | None) -> None:
        results.append(r)
        finished.set()

    call_handler(handler, True, (), done)
    waiter.set_exception(ValueError("boom"))
    await asyncio.wait_for(finished.wait(), 5)
    assert results == ["caught boom"]


async def test_sync_handlers_run_in_a_thread() -> None:
    results: list[Any] = []
    finished = asyncio.Event()

    def handler(x: int) -> tuple[int, int]:
        return x, threading.get_ident()

    def done(r: Any, e: BaseException | None) -> None:
        results.append(r)
        finished.set()

    call_handler(handler, False, (7,), done)
    await asyncio.wait_for(finished.wait(), 5)
    assert results[0][0] == 7
    assert results[0][1] != threading.get_ident()


@pytest.mark.parametrize(
    ("func", "expected"),
    [
        (lambda: None, False),
        (test_sync_handlers_run_in_a_thread, True),
    ],
)
def test_is_async_callable(func: Any, expected: bool) -> None:
    assert is_async_callable(func) is expected

    class Callable:
        async def __call__(self) -> None:
            return None

    assert is_async_callable(Callable())
