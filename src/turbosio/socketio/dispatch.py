"""Running user handlers without a task per message.

An ``async def`` handler's coroutine is driven inline, in the callback that delivered the
packet: most handlers finish without ever suspending, and then no ``asyncio.Task`` is created.
Only a coroutine that really suspends (awaits I/O, a timer, an acknowledgement) is handed to a
task, which resumes it where it stopped. Plain ``def`` event handlers run in the server's
thread pool (:mod:`turbosio.socketio.workers`), so blocking code does not stall other
connections; :func:`call_handler` runs the others in the loop's default executor.

Caveat, written in docs/server.md: until its first suspension an inline coroutine runs outside
any task, so ``asyncio.current_task()`` is ``None`` there and ``asyncio.timeout()`` (which needs
a task) must come after an ``await`` that suspends, or be replaced by ``asyncio.wait_for``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any

__all__ = ["Done", "call_handler", "continue_in_task", "is_async_callable"]

logger = logging.getLogger("turbosio.server")

#: Called once with (result, exception); exactly one of them is meaningful.
Done = Callable[[Any, BaseException | None], None]


def is_async_callable(func: Callable[..., Any]) -> bool:
    """True when calling ``func`` returns a coroutine (``async def`` or such a ``__call__``)."""
    while isinstance(func, partial):
        func = func.func
    if inspect.iscoroutinefunction(func):
        return True
    call = getattr(func, "__call__", None)  # noqa: B004 - objects with an async __call__
    return call is not None and inspect.iscoroutinefunction(call)


async def _resume(coro: Coroutine[Any, Any, Any], waiting: Any) -> Any:
    """Finish driving ``coro`` inside a task, starting from the future it yielded."""
    while True:
        if waiting is None:
            # A bare ``yield`` (asyncio.sleep(0)): give the loop one turn.
            await asyncio.sleep(0)
            exc: BaseException | None = None
        else:
            exc = None
            # The coroutine's own ``await`` marked the future as blocking; a task clears the
            # mark before waiting on it, and so must we (awaiting it again would fail).
            if getattr(waiting, "_asyncio_future_blocking", False):
                waiting._asyncio_future_blocking = False
            try:
                await waiting
            except BaseException as error:
                # The future's own outcome is read by the coroutine from the future; anything
                # else (this task cancelled) is thrown into it.
                if not (isinstance(waiting, asyncio.Future) and waiting.done()):
                    exc = error
        try:
            waiting = coro.send(None) if exc is None else coro.throw(exc)
        except StopIteration as stop:
            return stop.value


def _drive(coro: Coroutine[Any, Any, Any], done: Done | None) -> None:
    try:
        waiting = coro.send(None)
    except StopIteration as stop:
        if done is not None:
            done(stop.value, None)
        return
    except Exception as exc:
        if done is not None:
            done(None, exc)
        else:
            logger.exception("error in handler %s", getattr(coro, "__qualname__", coro))
        return
    continue_in_task(coro, waiting, done)


def continue_in_task(coro: Coroutine[Any, Any, Any], waiting: Any, done: Done | None) -> None:
    """Go on driving ``coro``, whose first step yielded ``waiting``, in a task; report its
    outcome to ``done`` as :func:`call_handler` does."""
    task = asyncio.get_running_loop().create_task(_resume(coro, waiting))
    task.add_done_callback(partial(_task_done, done, coro))


def _task_done(done: Done | None, coro: Any, task: asyncio.Future[Any]) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if done is not None:
        done(None if exc is not None else task.result(), exc)
    elif exc is not None:
        logger.error("error in handler %s", getattr(coro, "__qualname__", coro), exc_info=exc)


def _future_done(done: Done | None, name: str, fut: asyncio.Future[Any]) -> None:
    if fut.cancelled():
        return
    exc = fut.exception()
    if done is not None:
        done(None if exc is not None else fut.result(), exc)
    elif exc is not None:
        logger.error("error in handler %s", name, exc_info=exc)


def call_handler(
    handler: Callable[..., Any], is_async: bool, args: tuple[Any, ...], done: Done | None
) -> None:
    """Call ``handler(*args)``; report its result to ``done`` (if given) when it completes.

    Without ``done`` an exception is logged with its traceback (a bug in the handler, not the
    client's fault). Must be called on the loop's thread.
    """
    if is_async:
        try:
            coro = handler(*args)
        except Exception as exc:
            if done is not None:
                done(None, exc)
            else:
                logger.exception("error in handler %r", handler)
            return
        _drive(coro, done)
        return
    loop = asyncio.get_running_loop()
    fut = loop.run_in_executor(None, partial(handler, *args))
    fut.add_done_callback(partial(_future_done, done, getattr(handler, "__qualname__", "?")))


def spawn(coro: Coroutine[Any, Any, Any]) -> None:
    """Run a coroutine the inline way (a task only if it suspends), logging its failure."""
    _drive(coro, None)
