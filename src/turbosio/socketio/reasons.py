"""Disconnect reasons and reserved event names: part of the wire contract, Node's strings."""

from __future__ import annotations

from enum import Enum

__all__ = ["RESERVED_EVENTS", "DisconnectReason"]


class DisconnectReason(str, Enum):
    """Why a socket disconnected, with the strings Node's socket.io 4.8 uses."""

    #: The connection's transport had an error.
    TRANSPORT_ERROR = "transport error"
    #: The connection was closed (the client went away, or the network broke).
    TRANSPORT_CLOSE = "transport close"
    #: The connection was closed by the server (e.g. a packet that does not decode).
    FORCED_CLOSE = "forced close"
    #: The client did not answer the server's ping in time.
    PING_TIMEOUT = "ping timeout"
    #: The client sent something the engine could not parse.
    PARSE_ERROR = "parse error"
    #: The server is shutting down.
    SERVER_SHUTTING_DOWN = "server shutting down"
    #: ``socket.disconnect(close=True)`` closed the whole connection.
    FORCED_SERVER_CLOSE = "forced server close"
    #: The client left the namespace (``socket.disconnect()`` on the client).
    CLIENT_NAMESPACE_DISCONNECT = "client namespace disconnect"
    #: The server removed the socket from the namespace (``socket.disconnect()``).
    SERVER_NAMESPACE_DISCONNECT = "server namespace disconnect"

    def __str__(self) -> str:
        return self.value


#: Event names an application may not emit (the client's own lifecycle events).
RESERVED_EVENTS = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}
)
