"""``socketio.test_client(app)``: an in-process Socket.IO client for tests.

Nothing is mocked above the transport: the client encodes real Socket.IO packets, hands them
to the :class:`turbosio.Server` through an in-memory Engine.IO session (an implementation of
:class:`turbosio.engineio.io.EngineSession`), and decodes what the server writes back. The
server runs on an event loop in a background thread (one per process, started on first use);
each call of the test client runs its part on that loop and returns when it is done. As in
Flask-SocketIO, creating a test client makes the handlers run synchronously (as with
``async_handlers=False``), so a call returns once the handlers it caused have finished.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import secrets
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from ..engineio.io import Headers, Request, SharedMessage
from ..exceptions import DecodeError
from ..protocol.socketio import Packet, PacketType
from . import runner

if TYPE_CHECKING:
    import flask

    from .extension import SocketIO

__all__ = ["SocketIOTestClient"]

#: Seconds one test-client call may take before it is reported as stuck.
CALL_TIMEOUT = 30.0


class _TestLoop:
    """The event loop the test clients' servers run on, in a daemon thread."""

    _lock = threading.Lock()
    _instance: _TestLoop | None = None

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self._run, name="turbosio-flask-test-loop", daemon=True
        )
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    @classmethod
    def get(cls) -> _TestLoop:
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def call(self, func: Callable[..., Any], *args: Any) -> Any:
        """Run ``func(*args)`` on the loop, wait, and return its result (or raise)."""
        if threading.current_thread() is self.thread:
            return func(*args)
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def run() -> None:
            # The answer waits one loop turn, so that what ``func`` scheduled with call_soon
            # (an always_connect handler, a background emit) is done when the call returns.
            try:
                result = func(*args)
            except BaseException as exc:
                self.loop.call_soon(future.set_exception, exc)
            else:
                self.loop.call_soon(future.set_result, result)

        self.loop.call_soon_threadsafe(run)
        try:
            return future.result(CALL_TIMEOUT)
        except concurrent.futures.TimeoutError:
            raise RuntimeError(
                f"the test client's call did not finish within {CALL_TIMEOUT:.0f} s "
                "(a handler blocked, waiting for something only another call can give?)"
            ) from None


class _MemoryRequest:
    """The request that opened an in-memory session (a ``turbosio.engineio.io.Request``)."""

    def __init__(self, path: str, query_string: str, headers: dict[str, str]) -> None:
        self.method = "GET"
        self.path = path
        self.query_string = query_string
        query: dict[str, str] = {}
        for name, value in parse_qsl(query_string, keep_blank_values=True):
            query.setdefault(name, value)
        self.query: Mapping[str, str] = query
        self.headers: Mapping[str, str] = headers
        self.body = b""
        self.client: tuple[str, int] | None = ("127.0.0.1", 0)
        self.scheme = "http"

    def respond(self, status: int, headers: Headers, body: bytes) -> None:
        """Nothing to answer: the session was opened in memory."""

    def on_disconnect(self, callback: Callable[[], None] | None) -> None:
        """An in-memory client never goes away by itself."""


class _MemorySession:
    """An Engine.IO session in memory (a ``turbosio.engineio.io.EngineSession``): what the
    server writes is decoded at once by the test client."""

    def __init__(self, client: SocketIOTestClient, request: _MemoryRequest) -> None:
        self.sid = secrets.token_urlsafe(15)
        self.transport = "websocket"
        self.request: Request = request
        self.context: object = None
        self.closed = False
        self._client = client

    def write(self, packet: str) -> None:
        """One Engine.IO text packet: a message ("4...") goes to the client's decoder."""
        if not self.closed and packet[:1] == "4":
            self._client._feed(packet[1:])

    def write_binary(self, data: bytes) -> None:
        """One binary message: an attachment of the packet being decoded."""
        if not self.closed:
            self._client._feed(data)

    def write_shared(self, message: SharedMessage) -> None:
        """A broadcast packet."""
        data = message.data
        if isinstance(data, str):
            self.write(data)
        else:
            self.write_binary(data)

    def close(self, reason: str = "forced close") -> None:
        """The server closes the connection: every namespace is disconnected."""
        if self.closed:
            return
        self.closed = True
        self._client._closed()
        self._client.socketio.server.engine_close(self, reason)


class SocketIOTestClient:
    """A Socket.IO client in the same process, for tests (Flask-SocketIO's test client).

    It connects to ``namespace`` when created. ``query_string``, ``headers`` and ``auth`` go
    into the connection request and the CONNECT packet; with ``flask_test_client``, the
    cookies of that Flask test client (its session) go too.
    """

    def __init__(
        self,
        app: flask.Flask,
        socketio: SocketIO,
        namespace: str | None = None,
        query_string: str | None = None,
        headers: dict[str, str] | None = None,
        auth: dict[str, Any] | None = None,
        flask_test_client: Any = None,
    ) -> None:
        self.app = app
        self.socketio = socketio
        self.flask_test_client = flask_test_client
        #: namespace -> connected?
        self.connected: dict[str, bool] = {}
        #: Events received and not yet taken by :meth:`get_received`.
        self.queue: list[dict[str, Any]] = []
        self.callback_counter = 0
        self._acks: dict[int, list[Any]] = {}
        self._session: _MemorySession | None = None
        socketio._app_or_raise(app)
        server = socketio.server
        self._decoder = server.parser.decoder(max_attachments=server.max_attachments)
        self._loop = _TestLoop.get()
        # As Flask-SocketIO does: handlers run synchronously, so calls return when done.
        socketio._async_handlers = False
        socketio._sync_core()
        self._loop.call(runner.bind, socketio)
        self.connect(namespace=namespace, query_string=query_string, headers=headers, auth=auth)

    # -- the server's side ------------------------------------------------------------------

    def _feed(self, data: str | bytes) -> None:
        try:
            packet = self._decoder.feed(data)
        except DecodeError as exc:  # pragma: no cover - the server encodes what we decode
            raise AssertionError(f"the server sent a packet that does not decode: {exc}") from exc
        if packet is not None:
            self._on_packet(packet)

    def _on_packet(self, packet: Packet) -> None:
        namespace = packet.namespace or "/"
        kind = packet.type
        if kind == PacketType.EVENT or kind == PacketType.BINARY_EVENT:
            data = packet.data
            name = data[0]
            if name in ("message", "json"):
                args: Any = data[1] if len(data) > 1 else None
            else:
                args = data[1:]
            self.queue.append({"name": name, "args": args, "namespace": namespace})
        elif kind == PacketType.ACK or kind == PacketType.BINARY_ACK:
            if packet.id is not None:
                self._acks[packet.id] = list(packet.data)
        elif kind == PacketType.CONNECT:
            self.connected[namespace] = True
        elif kind == PacketType.CONNECT_ERROR or kind == PacketType.DISCONNECT:
            self.connected[namespace] = False

    def _closed(self) -> None:
        for namespace in self.connected:
            self.connected[namespace] = False

    def _send(self, packet: Packet) -> None:
        session = self._session
        assert session is not None
        server = self.socketio.server
        for item in server.parser.encode(packet):
            if not session.closed:
                server.engine_message(session, item)

    # -- the API -------------------------------------------------------------------------------

    def is_connected(self, namespace: str | None = None) -> bool:
        """True when ``namespace`` ("/" by default) is connected."""
        return self.connected.get(namespace or "/", False)

    def connect(
        self,
        namespace: str | None = None,
        query_string: str | None = None,
        headers: dict[str, str] | None = None,
        auth: dict[str, Any] | None = None,
    ) -> None:
        """Connect to ``namespace`` ("/" by default); :meth:`is_connected` tells if the
        server accepted. Called by the constructor; call it again for other namespaces."""
        namespace = namespace or "/"
        if self._session is None or self._session.closed:
            self._session = _MemorySession(self, self._request(query_string, headers))
            self._loop.call(self.socketio.server.engine_open, self._session)
        self.connected[namespace] = False
        self._loop.call(self._send, Packet(PacketType.CONNECT, namespace, auth))

    def _request(self, query_string: str | None, headers: dict[str, str] | None) -> _MemoryRequest:
        path = self.socketio.server.path + "/"
        query = "EIO=4&transport=websocket"
        if query_string:
            query += "&" + query_string.lstrip("?")
        lowered = {"host": "localhost"}
        for name, value in (headers or {}).items():
            lowered[name.lower()] = value
        cookie = self._cookies(path)
        if cookie:
            lowered["cookie"] = cookie
        return _MemoryRequest(path, query, lowered)

    def _cookies(self, path: str) -> str | None:
        client = self.flask_test_client
        if client is None:
            return None
        from werkzeug.test import EnvironBuilder

        environ = EnvironBuilder(path=path, base_url="http://localhost/").get_environ()
        add = getattr(client, "_add_cookies_to_wsgi", None)
        if add is not None:
            add(environ)
        else:  # pragma: no cover - Werkzeug < 2.3
            client.cookie_jar.inject_wsgi(environ)
        cookie: str | None = environ.get("HTTP_COOKIE")
        return cookie

    def disconnect(self, namespace: str | None = None) -> None:
        """Leave ``namespace`` ("/" by default); raises RuntimeError if not connected."""
        namespace = namespace or "/"
        if not self.is_connected(namespace):
            raise RuntimeError("not connected")
        self._loop.call(self._send, Packet(PacketType.DISCONNECT, namespace))
        self.connected.pop(namespace, None)

    def emit(self, event: str, *args: Any, **kwargs: Any) -> Any:
        """Emit ``event`` with ``args`` to the server (``namespace=`` to pick one).

        With ``callback=True`` the server is asked for an acknowledgement, and what it
        answered is returned: the single value, or a list when it sent several (or none).
        """
        namespace = kwargs.pop("namespace", None) or "/"
        callback = kwargs.pop("callback", False)
        if kwargs:
            raise TypeError(f"emit() got unexpected keyword argument(s) {', '.join(kwargs)}")
        if not self.is_connected(namespace):
            raise RuntimeError("not connected")
        ack_id = None
        if callback:
            self.callback_counter += 1
            ack_id = self.callback_counter
        self._loop.call(self._send, Packet(PacketType.EVENT, namespace, [event, *args], ack_id))
        if ack_id is None:
            return None
        answer = self._loop.call(self._acks.pop, ack_id, None)
        if answer is None:
            return None
        return answer[0] if len(answer) == 1 else answer

    def send(
        self,
        data: Any,
        json: bool = False,
        callback: bool = False,
        namespace: str | None = None,
    ) -> Any:
        """Send a ``"message"`` event (``"json"`` with ``json=True``); see :meth:`emit`."""
        return self.emit(
            "json" if json else "message", data, callback=callback, namespace=namespace
        )

    def get_received(self, namespace: str | None = None) -> list[dict[str, Any]]:
        """The events received in ``namespace`` since the last call, oldest first, each as
        ``{"name": event, "args": [...], "namespace": ns}`` (for ``"message"`` and
        ``"json"`` events ``args`` is the single value). Raises RuntimeError if the namespace
        is not connected."""
        namespace = namespace or "/"
        if not self.is_connected(namespace):
            raise RuntimeError("not connected")
        return list(self._loop.call(self._take, namespace))

    def _take(self, namespace: str) -> list[dict[str, Any]]:
        mine = [item for item in self.queue if item["namespace"] == namespace]
        self.queue = [item for item in self.queue if item["namespace"] != namespace]
        return mine
