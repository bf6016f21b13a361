"""``turbosio.Client``: the synchronous client, for scripts, threads and blocking code.

It is the :class:`~turbosio.AsyncClient` running on an event loop in a background thread. Its
methods block until done (``emit`` until the packet is queued, ``emit_with_ack`` until the
acknowledgement arrives). Handlers run one at a time, in the order their events arrived, in a
second thread of their own, so a handler may block, and may call the client's methods
(``emit_with_ack`` included) without stalling the connection.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Callable, Coroutine, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar, overload

from ..exceptions import Disconnected
from .async_client import AsyncClient, Entry
from .socket import Auth

__all__ = ["Client"]

logger = logging.getLogger("turbosio.client")

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


class _ThreadedClient(AsyncClient):
    """The AsyncClient under a :class:`Client`: plain handlers go to the handler thread."""

    def __init__(self, outer: Client, **options: Any) -> None:
        super().__init__(**options)
        self._outer = outer

    def _run(self, entry: Entry, args: tuple[Any, ...], done: Callable[[Any, Any], None]) -> None:
        func, is_async, _ = entry
        if is_async:
            super()._run(entry, args, done)
            return
        self._outer._submit(func, args, done, asyncio.get_running_loop())


class Client:
    """A synchronous Socket.IO client; the same options and features as
    :class:`~turbosio.AsyncClient`, with blocking methods.

    ``with turbosio.Client() as client:`` disconnects at the end of the block.
    """

    def __init__(
        self,
        *,
        reconnection: bool = True,
        reconnection_attempts: int | None = None,
        reconnection_delay: float = 1.0,
        reconnection_delay_max: float = 5.0,
        randomization_factor: float = 0.5,
        timeout: float = 20.0,
        ack_timeout: float | None = None,
        retries: int = 0,
        max_buffer: int | None = 1000,
        ssl: Any = None,
        ssl_verify: bool = True,
        trust_env: bool = True,
        upgrade: bool = True,
        parser: Any = None,
    ) -> None:
        self._client = _ThreadedClient(
            self,
            reconnection=reconnection,
            reconnection_attempts=reconnection_attempts,
            reconnection_delay=reconnection_delay,
            reconnection_delay_max=reconnection_delay_max,
            randomization_factor=randomization_factor,
            timeout=timeout,
            ack_timeout=ack_timeout,
            retries=retries,
            max_buffer=max_buffer,
            ssl=ssl,
            ssl_verify=ssl_verify,
            trust_env=trust_env,
            upgrade=upgrade,
            parser=parser,
        )
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._local = threading.local()

    def __repr__(self) -> str:
        state = "connected" if self.connected else "disconnected"
        return f"<Client {state} {self._client._namespaces}>"

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.disconnect()

    # -- handlers ----------------------------------------------------------------------------

    @overload
    def on(self, event: str, *, namespace: str = "/") -> Callable[[F], F]: ...

    @overload
    def on(self, event: str, handler: F, namespace: str = "/") -> F: ...

    def on(
        self, event: str, handler: Callable[..., Any] | None = None, namespace: str = "/"
    ) -> Any:
        """Register ``handler`` for ``event`` in ``namespace``; usable as a decorator.

        The same events and arguments as :meth:`AsyncClient.on`; handlers run in the client's
        handler thread, one at a time, in order. What a handler returns is the ack.
        """
        if handler is None:
            return self._client.on(event, namespace=namespace)
        return self._client.on(event, handler, namespace)

    def event(self, func: F) -> F:
        """Decorator: handle the event named like the function, in the main namespace."""
        return self._client.event(func)

    def on_any(self, listener: F, namespace: str = "/") -> F:
        """Call ``listener(event, *args)`` for every incoming event, before its handler."""
        return self._client.on_any(listener, namespace)

    def off_any(self, listener: Callable[..., Any] | None = None, namespace: str = "/") -> None:
        """Remove ``listener`` (every catch-all listener of the namespace when None)."""
        self._client.off_any(listener, namespace)

    # -- connecting --------------------------------------------------------------------------

    def connect(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        auth: Auth = None,
        transports: Sequence[str] | str | None = None,
        namespace: str | None = None,
        namespaces: Sequence[str] | None = None,
        path: str = "/socket.io",
        wait_timeout: float | None = None,
        retry: bool = False,
    ) -> None:
        """Connect and join the namespaces; blocks until they are connected. See
        :meth:`AsyncClient.connect`. Raises :class:`~turbosio.client.ConnectError`."""
        self._start()
        try:
            self._call(
                self._client.connect(
                    url,
                    headers=headers,
                    auth=auth,
                    transports=transports,
                    namespace=namespace,
                    namespaces=namespaces,
                    path=path,
                    wait_timeout=wait_timeout,
                    retry=retry,
                )
            )
        except BaseException:
            self._stop()
            raise

    def disconnect(self) -> None:
        """Leave every namespace and close the connection; blocks until it is closed and the
        handlers already due (``disconnect`` included) have run."""
        if self._loop is None:
            return
        try:
            self._call(self._client.disconnect())
        finally:
            self._stop()

    def wait(self) -> None:
        """Block until the client stops for good (see :meth:`AsyncClient.wait`)."""
        if self._loop is None:
            return
        try:
            self._call(self._client.wait())
        finally:
            self._stop()

    run_forever = wait

    # -- state -------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether every namespace of the last ``connect()`` is connected."""
        return self._client.connected

    @property
    def id(self) -> str | None:
        """The socket id of the first namespace (``None`` while disconnected)."""
        return self._client.id

    def get_sid(self, namespace: str = "/") -> str | None:
        """The socket id in ``namespace``."""
        return self._client.get_sid(namespace)

    @property
    def sid(self) -> str | None:
        """The Engine.IO session id of the connection."""
        return self._client.sid

    @property
    def namespaces(self) -> list[str]:
        """The namespaces connected now."""
        return self._client.namespaces

    @property
    def recovered(self) -> bool:
        """Whether the last reconnection restored the session (connection state recovery)."""
        return self._client.recovered

    @property
    def transport(self) -> str | None:
        """``"polling"`` or ``"websocket"``."""
        return self._client.transport

    # -- emitting ----------------------------------------------------------------------------

    def emit(
        self,
        event: str,
        *args: Any,
        namespace: str | None = None,
        callback: Callable[..., Any] | None = None,
    ) -> None:
        """Send ``event``; returns once it is queued (see :meth:`AsyncClient.emit`).
        ``callback(*ack_args)`` runs in the handler thread."""
        wrapped = None
        if callback is not None:
            cb = callback

            def wrapped(*ack_args: Any) -> None:
                self._submit(cb, ack_args, None, None)

        client = self._client
        self._call_soon(lambda: client.emit(event, *args, namespace=namespace, callback=wrapped))

    def send(self, *args: Any, namespace: str | None = None) -> None:
        """Emit a ``"message"`` event."""
        self.emit("message", *args, namespace=namespace)

    def emit_with_ack(
        self, event: str, *args: Any, namespace: str | None = None, timeout: float | None = None
    ) -> Any:
        """Send ``event`` and block until the acknowledgement (see
        :meth:`AsyncClient.emit_with_ack`)."""
        return self._call(
            self._client.emit_with_ack(event, *args, namespace=namespace, timeout=timeout)
        )

    call = emit_with_ack

    @property
    def volatile(self) -> SyncVolatileEmitter:
        """``client.volatile.emit(...)``: dropped rather than buffered."""
        return SyncVolatileEmitter(self)

    # -- the threads -------------------------------------------------------------------------

    def _start(self) -> None:
        with self._lock:
            if self._loop is not None:
                return
            loop = asyncio.new_event_loop()
            ready = threading.Event()
            thread = threading.Thread(
                target=_run_loop, args=(loop, ready), name="turbosio-client-loop", daemon=True
            )
            thread.start()
            ready.wait()
            self._loop, self._thread = loop, thread
            self._executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="turbosio-client-handlers"
            )

    def _stop(self) -> None:
        with self._lock:
            loop, thread, executor = self._loop, self._thread, self._executor
            self._loop = self._thread = self._executor = None
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
        if executor is not None:
            # From a handler (a handler that disconnects), the handler thread cannot wait for
            # itself; the handlers still due run after it.
            executor.shutdown(wait=not getattr(self._local, "in_handler", False))

    def _check_thread(self) -> asyncio.AbstractEventLoop:
        loop, thread = self._loop, self._thread
        if loop is None:
            raise Disconnected("not connected: call connect() first")
        if thread is threading.current_thread():
            raise RuntimeError(
                "a turbosio.Client method called from its own event loop (an async handler?):"
                " use turbosio.AsyncClient there"
            )
        return loop

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        try:
            loop = self._check_thread()
        except BaseException:
            coro.close()
            raise
        future = asyncio.run_coroutine_threadsafe(coro, loop)
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            raise Disconnected("the client was disconnected") from None

    def _call_soon(self, func: Callable[[], T]) -> T:
        async def call() -> T:
            return func()

        return self._call(call())

    def _submit(
        self,
        func: Callable[..., Any],
        args: tuple[Any, ...],
        done: Callable[[Any, Any], None] | None,
        loop: asyncio.AbstractEventLoop | None,
    ) -> None:
        """Run ``func(*args)`` in the handler thread; ``done(result, exc)`` back on ``loop``."""
        executor = self._executor
        if executor is None:
            return

        def job() -> None:
            self._local.in_handler = True
            result: Any = None
            error: BaseException | None = None
            try:
                result = func(*args)
            except Exception as exc:
                error = exc
            finally:
                self._local.in_handler = False
            if done is None or loop is None:
                if error is not None:
                    logger.error("error in a client handler", exc_info=error)
                return
            try:
                loop.call_soon_threadsafe(done, result, error)
            except RuntimeError:  # the loop is closed: the client was disconnected
                if error is not None:
                    logger.error("error in a client handler", exc_info=error)

        with contextlib.suppress(RuntimeError):  # shut down: the client was disconnected
            executor.submit(job)


class SyncVolatileEmitter:
    """``client.volatile`` of the sync client."""

    __slots__ = ("_client",)

    def __init__(self, client: Client) -> None:
        self._client = client

    def emit(self, event: str, *args: Any, namespace: str | None = None) -> None:
        """Send ``event`` if the transport can take it now; drop it otherwise."""
        inner = self._client._client
        self._client._call_soon(lambda: inner.volatile.emit(event, *args, namespace=namespace))


def _run_loop(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
    asyncio.set_event_loop(loop)
    loop.call_soon(ready.set)
    try:
        loop.run_forever()
        # Stopped: finish what is left (a disconnect in progress, the HTTP session closing).
        tasks = asyncio.all_tasks(loop)
        for task in tasks:
            task.cancel()
        if tasks:
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        asyncio.set_event_loop(None)
        loop.close()
