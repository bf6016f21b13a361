"""Threads for blocking handlers (plain ``def``), fed from the event loop in batches.

``loop.run_in_executor`` with a ``ThreadPoolExecutor`` costs, per call, a concurrent future
chained to an asyncio future, a wake-up of an idle worker (so on a busy server every call
lands on another thread, and the threads fight over the GIL), and one ``call_soon_threadsafe``
back. For a handler that takes microseconds that is most of its cost.

:class:`Workers` keeps one queue: a call from the loop wakes a worker only when no worker is
running; a running worker takes the next call as soon as it is done with one, so under load
one thread drains the queue in order while the loop keeps reading. Results go back to the loop
in batches: one ``call_soon_threadsafe`` per batch, which calls each ``done(result, exc)``.

A handler that blocks (I/O, ``time.sleep``, waiting for an acknowledgement) does not hold up
the calls behind it for long: while calls are waiting, the loop looks every
:attr:`Workers.stall` seconds, and if no call has finished since it last looked it wakes (or
starts) another worker, up to ``max_workers``.

It is also a :class:`concurrent.futures.Executor` (``submit`` from any thread, ``shutdown``), so
``loop.run_in_executor`` and WSGI apps can share it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import Any

from .dispatch import Done

__all__ = ["Workers"]

logger = logging.getLogger("turbosio.server")

# (function, args, done, errors only, future): done is called on the loop (with errors only:
# only when the call raised); future is set on the worker.
_Job = tuple[
    Callable[..., Any],
    tuple[Any, ...],
    "Done | None",
    bool,
    "concurrent.futures.Future[Any] | None",
]


class Workers(concurrent.futures.Executor):
    """A thread pool for blocking calls made from an event loop (see the module's text).

    ``max_workers`` bounds the threads (started on demand); ``stall`` is how long the queue may
    go without any call finishing before another worker is woken.
    """

    def __init__(
        self, max_workers: int = 64, name: str = "turbosio-worker", stall: float = 0.005
    ) -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self.max_workers = max_workers
        self.name = name
        self.stall = stall
        self._mu = threading.Lock()
        self._jobs: deque[_Job] = deque()
        self._parked: list[threading.Lock] = []  # one held lock per parked worker
        self._threads: list[threading.Thread] = []
        self._running = 0  # workers not parked
        self._finished = 0  # calls finished so far (progress, for the stall check)
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._results: deque[tuple[Done, Any, BaseException | None]] = deque()
        self._drain_due = False
        self._watch: asyncio.TimerHandle | None = None

    # -- from the loop -----------------------------------------------------------------------

    def call(
        self,
        func: Callable[..., Any],
        args: tuple[Any, ...],
        done: Done | None,
        errors_only: bool = False,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        """Run ``func(*args)`` in a worker; then ``done(result, exc)`` on this loop (with
        ``errors_only``: only if it raised, saving the trip back for the usual outcome).

        Must be called on the loop's thread, which is ``loop`` if given (saving a getpid()
        system call that asking asyncio costs on Python 3.11). Without ``done`` an exception
        is logged.
        """
        if loop is None:
            loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop = loop
            self._drain_due = False
            self._watch = None
        self._put((func, args, done, errors_only, None), loop)

    async def run(self, func: Callable[..., Any], *args: Any) -> Any:
        """``await`` form of :meth:`call`: the result of ``func(*args)`` run in a worker."""
        fut = asyncio.get_running_loop().create_future()
        self.call(func, args, partial(_settle, fut))
        return await fut

    def _put(self, job: _Job, loop: asyncio.AbstractEventLoop | None) -> None:
        with self._mu:
            if self._closed:
                raise RuntimeError("cannot schedule new calls after shutdown")
            self._jobs.append(job)
            if loop is None:
                # From another thread (no loop to watch from): as a thread pool does.
                if self._running < len(self._jobs):
                    self._wake()
                return
            if self._running == 0:
                # Nobody is draining the queue: a worker starts once the loop has done with
                # what it is doing now (a whole read of messages, say) rather than at once,
                # when it would only wait for the GIL the loop holds.
                self._running += 1
                loop.call_soon(self._wake_reserved)
                return
        if self._watch is None:
            self._watch = loop.call_later(self.stall, self._check, self._finished)

    def _wake_reserved(self) -> None:
        with self._mu:
            self._running -= 1
            self._wake()

    def _check(self, seen: int) -> None:
        """Calls are waiting: if none finished since the last look, wake another worker."""
        self._watch = None
        with self._mu:
            if not self._jobs or self._closed:
                return
            if self._finished == seen and self._running < self.max_workers:
                self._wake()
        loop = self._loop
        if loop is not None and not loop.is_closed():
            self._watch = loop.call_later(self.stall, self._check, self._finished)

    def _wake(self) -> None:
        """Wake a parked worker or start one (``_mu`` held)."""
        if self._parked:
            self._running += 1
            self._parked.pop().release()
        elif len(self._threads) < self.max_workers:
            self._running += 1
            gate = threading.Lock()
            gate.acquire()
            thread = threading.Thread(
                target=self._work,
                args=(gate,),
                name=f"{self.name}-{len(self._threads)}",
                daemon=True,
            )
            self._threads.append(thread)
            thread.start()

    def _drain(self) -> None:
        """On the loop: hand the finished calls their results."""
        self._drain_due = False
        results = self._results
        while results:
            done, result, exc = results.popleft()
            try:
                done(result, exc)
            except Exception:
                logger.exception("error while completing a handler call")

    # -- in a worker -------------------------------------------------------------------------

    def _work(self, gate: threading.Lock) -> None:
        mu = self._mu
        jobs = self._jobs
        while True:
            with mu:
                if jobs:
                    job: _Job | None = jobs.popleft()
                else:
                    job = None
                    self._running -= 1
                    if self._closed:
                        return
                    self._parked.append(gate)
            if job is None:
                gate.acquire()  # parked until _wake (or shutdown) releases it
                continue
            func, args, done, errors_only, future = job
            if future is not None:
                if future.set_running_or_notify_cancel():
                    try:
                        value = func(*args)
                    except BaseException as exc:
                        future.set_exception(exc)
                    else:
                        future.set_result(value)
                    del future
            else:
                try:
                    outcome: tuple[Any, BaseException | None] = (func(*args), None)
                except BaseException as exc:
                    outcome = (None, exc)
                if done is not None and (outcome[1] is not None or not errors_only):
                    self._deliver(done, *outcome)
                elif outcome[1] is not None:
                    logger.error(
                        "error in handler %s",
                        getattr(func, "__qualname__", func),
                        exc_info=outcome[1],
                    )
            del job, func, args, done
            self._finished += 1

    def post(self, callback: Callable[[], Any], loop: asyncio.AbstractEventLoop) -> None:
        """Call ``callback()`` on ``loop``, from any thread, in order with the results of the
        calls (one FIFO): what a handler posts runs before its own result is handed over."""
        if loop is not self._loop:
            self._loop = loop
            self._drain_due = False
        self._deliver(_call, callback, None)

    def _deliver(self, done: Done, result: Any, exc: BaseException | None) -> None:
        self._results.append((done, result, exc))
        if self._drain_due:
            return
        self._drain_due = True
        loop = self._loop
        if loop is None:
            return
        try:
            loop.call_soon_threadsafe(self._drain)
        except RuntimeError:  # the loop is closed: nobody is left to tell
            self._results.clear()

    # -- concurrent.futures.Executor ---------------------------------------------------------

    def submit(
        self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[Any]:
        """Run ``fn(*args, **kwargs)`` in a worker; from any thread."""
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        call: Callable[..., Any] = (lambda: fn(*args, **kwargs)) if kwargs else fn
        loop = self._loop
        on_loop = False
        if loop is not None:
            try:
                on_loop = asyncio.get_running_loop() is loop
            except RuntimeError:
                on_loop = False
        self._put((call, () if kwargs else args, None, False, future), loop if on_loop else None)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Refuse new calls; the queued ones still run (unless ``cancel_futures``); with
        ``wait``, return once every worker has finished."""
        with self._mu:
            self._closed = True
            if cancel_futures:
                while self._jobs:
                    future = self._jobs.popleft()[4]
                    if future is not None:
                        future.cancel()
            parked, self._parked = self._parked, []
            self._running += len(parked)  # woken to drain what is queued, then to leave
            threads = list(self._threads)
        for gate in parked:
            gate.release()
        if wait:
            for thread in threads:
                if thread is not threading.current_thread():
                    thread.join()


def _call(callback: Callable[[], Any], _unused: BaseException | None) -> None:
    callback()


def _settle(fut: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if fut.done():
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(result)
