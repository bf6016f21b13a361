"""The seam between the network and the Engine.IO layer.

Two front ends carry HTTP requests and WebSocket connections to the engine: the embedded
server (:mod:`turbosio.server`, the fast path) and the ASGI app (:mod:`turbosio.asgi`). Both
implement the small protocols below; the engine (:class:`turbosio.engineio.Engine`) sees
nothing else of them.

Rules every front end keeps:

* ``Request.respond`` may be called later than the call that handed the request over (a
  long-polling GET is held until there is something to send). It is called at most once.
* Writes never block and never create a task per message: ``WebSocket.send_*`` append to the
  connection's output buffer, and the front end writes everything buffered in one loop
  iteration with one write.
* ``SharedMessage`` lets one encoded packet go to many connections: a front end that frames
  WebSocket messages itself caches the frame in ``SharedMessage.frame`` on first use, so a
  broadcast is framed once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

__all__ = [
    "EngineHandler",
    "EngineSession",
    "Headers",
    "Request",
    "SharedMessage",
    "WebSocket",
    "WebSocketHandler",
    "WebSocketRequest",
]

#: Response headers: a list of (name, value) pairs, names in any case.
Headers = list[tuple[str, str]]


class SharedMessage:
    """One encoded Engine.IO packet sent to many connections.

    ``data`` is the whole Engine.IO packet: a ``str`` for a text packet (type digit included,
    e.g. ``'42["chat","hi"]'``) or ``bytes`` for a binary message packet. ``frame`` is free
    for a front end to cache the packet's WebSocket frame; ``polling`` caches its encoding in
    a polling payload (``'b'`` + base64 for binary).
    """

    __slots__ = ("data", "frame", "polling")

    def __init__(self, data: str | bytes) -> None:
        self.data = data
        self.frame: bytes | None = None
        self.polling: str | None = None


class Request(Protocol):
    """An HTTP request as the engine sees it (headers and whole body already read).

    ``headers`` has lower-case names; a repeated header's values are joined with ", ".
    ``query`` maps each query parameter to its first value (percent-decoded).
    """

    method: str
    path: str
    query_string: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    client: tuple[str, int] | None
    scheme: str

    def respond(self, status: int, headers: Headers, body: bytes) -> None:
        """Send the response. Content-Length is added by the front end."""

    def on_disconnect(self, callback: Callable[[], None] | None) -> None:
        """Call ``callback`` if the client goes away before ``respond`` was called."""


class WebSocketHandler(Protocol):
    """What the engine gives a WebSocket to deliver what arrives."""

    def on_ws_message(self, data: str | bytes) -> None:
        """A whole message: ``str`` for a text message, ``bytes`` for a binary one."""

    def on_ws_close(self, code: int) -> None:
        """The connection is closed (by either side, or lost); called exactly once."""


class WebSocket(Protocol):
    """An accepted WebSocket connection."""

    def set_handler(self, handler: WebSocketHandler) -> None:
        """Route incoming messages and the close to ``handler`` from now on."""

    def send_text(self, data: str) -> None:
        """Queue one text message."""

    def send_bytes(self, data: bytes) -> None:
        """Queue one binary message."""

    def send_shared(self, message: SharedMessage) -> None:
        """Queue one shared message (text if ``message.data`` is ``str``, else binary)."""

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake after what is queued; ``on_ws_close`` follows."""


class WebSocketRequest(Request, Protocol):
    """An HTTP request asking to upgrade to WebSocket; the engine accepts or rejects it."""

    def accept(self, max_message_size: int) -> WebSocket:
        """Complete the handshake (101). Messages over ``max_message_size`` bytes close the
        connection with code 1009."""

    def reject(self, status: int, headers: Headers, body: bytes) -> None:
        """Answer with a plain HTTP response and close the connection."""


class EngineSession(Protocol):
    """One Engine.IO session, as the Socket.IO layer uses it.

    ``write`` takes a whole Engine.IO text packet, type digit included (``"4" + socket.io
    packet`` for a message); ``write_binary`` a binary message packet's payload. Both only
    buffer: the engine sends what one loop iteration wrote together (one WebSocket write, or
    one polling response).
    """

    sid: str
    #: "polling" or "websocket": the transport in use now.
    transport: str
    #: The request that opened the session (headers, query, client address).
    request: Request
    #: Free for the layer above to hang its per-connection state on.
    context: object

    def write(self, packet: str) -> None:
        """Queue one Engine.IO text packet, e.g. ``'42["chat","hi"]'``."""

    def write_binary(self, data: bytes) -> None:
        """Queue one binary message packet."""

    def write_shared(self, message: SharedMessage) -> None:
        """Queue one shared, already encoded packet (see :class:`SharedMessage`)."""

    def close(self, reason: str = "forced close") -> None:
        """Close the session after flushing what is queued; ``engine_close`` follows."""


class EngineHandler(Protocol):
    """The layer above the engine: the only calls the engine makes upward."""

    def engine_open(self, session: EngineSession) -> None:
        """A session was opened (handshake sent)."""

    def engine_message(self, session: EngineSession, data: str | bytes) -> None:
        """A message packet arrived: ``str`` payload (without the ``4``) or ``bytes``."""

    def engine_close(self, session: EngineSession, reason: str) -> None:
        """The session is closed, with an Engine.IO close reason ("transport close", ...)."""
