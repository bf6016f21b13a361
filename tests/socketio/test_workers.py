"""turbosio.socketio.workers.Workers: the thread pool that runs plain ``def`` handlers."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from turbosio.socketio.workers import Workers


async def _call(workers: Workers, func: Any, *args: Any) -> tuple[Any, BaseException | None]:
    fut: asyncio.Future[tuple[Any, BaseException | None]] = (
        asyncio.get_running_loop().create_future()
    )
    workers.call(func, args, lambda r, e: fut.set_result((r, e)))
    return await asyncio.wait_for(fut, 10)


async def test_call_runs_in_a_worker_and_reports_on_the_loop() -> None:
    workers = Workers(4)
    loop_thread = threading.get_ident()
    seen: list[int] = []

    def work(x: int) -> int:
        seen.append(threading.get_ident())
        return x * 2

    result, exc = await _call(workers, work, 21)
    assert (result, exc) == (42, None)
    assert seen and seen[0] != loop_thread
    workers.shutdown()


async def test_an_exception_reaches_done() -> None:
    workers = Workers(2)

    def fail() -> None:
        raise ValueError("boom")

    result, exc = await _call(workers, fail)
    assert result is None and isinstance(exc, ValueError) and str(exc) == "boom"
    workers.shutdown()


async def test_results_come_back_in_the_order_of_the_calls() -> None:
    workers = Workers(1)
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    order: list[int] = []

    def record(i: int, result: Any, exc: BaseException | None) -> None:
        order.append(result)
        if len(order) == 500:
            done.set_result(None)

    for i in range(500):
        workers.call(lambda v: v, (i,), lambda r, e, i=i: record(i, r, e))
    await asyncio.wait_for(done, 10)
    assert order == list(range(500))
    workers.shutdown()


async def test_a_blocked_call_does_not_hold_up_the_next_ones() -> None:
    workers = Workers(4, stall=0.01)
    release = threading.Event()

    def blocked() -> str:
        release.wait(10)
        return "late"

    first = asyncio.ensure_future(_call(workers, blocked))
    await asyncio.sleep(0.05)  # the first worker is now stuck in blocked()
    result, _ = await _call(workers, lambda: "quick")
    assert result == "quick"
    assert not first.done()
    release.set()
    assert (await first) == ("late", None)
    workers.shutdown()


async def test_no_more_threads_than_max_workers() -> None:
    workers = Workers(2, stall=0.005)
    lock = threading.Lock()
    running = [0, 0]  # now, most at once
    release = threading.Event()

    def blocked() -> None:
        with lock:
            running[0] += 1
            running[1] = max(running[1], running[0])
        release.wait(10)
        with lock:
            running[0] -= 1

    calls = [asyncio.ensure_future(_call(workers, blocked)) for _ in range(5)]
    await asyncio.sleep(0.2)
    assert running[1] == 2
    assert sum(call.done() for call in calls) == 0
    release.set()
    await asyncio.gather(*calls)
    assert running[1] == 2
    assert len(workers._threads) == 2
    workers.shutdown()


async def test_post_from_a_thread_runs_in_order_with_results() -> None:
    workers = Workers(2)
    loop = asyncio.get_running_loop()
    events: list[str] = []
    finished = loop.create_future()

    def handler() -> str:
        # What a handler posts (an emit) reaches the loop before its own result.
        workers.post(lambda: events.append("posted 1"), loop)
        workers.post(lambda: events.append("posted 2"), loop)
        return "result"

    workers.call(handler, (), lambda r, e: (events.append(r), finished.set_result(None)))
    await asyncio.wait_for(finished, 10)
    assert events == ["posted 1", "posted 2", "result"]
    workers.shutdown()


async def test_executor_interface() -> None:
    workers = Workers(2)
    loop = asyncio.get_running_loop()
    assert await loop.run_in_executor(workers, pow, 2, 10) == 1024
    outside: list[Any] = []

    def from_thread() -> None:
        outside.append(workers.submit(lambda a, b=0: a + b, 1, b=2).result(10))

    thread = threading.Thread(target=from_thread)
    thread.start()
    await asyncio.to_thread(thread.join, 10)
    assert outside == [3]
    workers.shutdown()


def test_shutdown_runs_what_is_queued_then_refuses() -> None:
    workers = Workers(1)
    gate = threading.Event()
    futures = [workers.submit(gate.wait, 10)] + [workers.submit(lambda i=i: i) for i in range(5)]
    gate.set()
    workers.shutdown(wait=True)
    assert [f.result(0) for f in futures] == [True, 0, 1, 2, 3, 4]
    assert all(not t.is_alive() for t in workers._threads)
    with pytest.raises(RuntimeError):
        workers.submit(print)


def test_shutdown_can_cancel_what_is_queued() -> None:
    workers = Workers(1)
    gate = threading.Event()
    started = threading.Event()

    def first_call() -> bool:
        started.set()
        return gate.wait(10)

    first = workers.submit(first_call)
    assert started.wait(10)
    queued = [workers.submit(lambda: 1) for _ in range(3)]
    workers.shutdown(wait=False, cancel_futures=True)
    gate.set()
    assert first.result(10) is True
    assert all(f.cancelled() for f in queued)
    for thread in workers._threads:
        thread.join(10)
        assert not thread.is_alive()
