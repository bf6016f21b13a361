"""turbosio: a fast Socket.IO server and client for Python.

The official JavaScript client (socket.io-client 4.x) connects to :class:`Server` unchanged.
"""

from __future__ import annotations

from .adapters import InMemoryAdapter
from .client import AsyncClient, BufferFull, Client, ConnectError
from .exceptions import AckTimeout, ConnectionRefused, DecodeError, Disconnected, TurbosioError
from .socketio import (
    BroadcastOperator,
    DisconnectReason,
    Handshake,
    Namespace,
    Recovery,
    Server,
    ServerHandle,
    Socket,
)

__version__ = "0.1.0"

__all__ = [
    "AckTimeout",
    "AsyncClient",
    "BroadcastOperator",
    "BufferFull",
    "Client",
    "ConnectError",
    "ConnectionRefused",
    "DecodeError",
    "DisconnectReason",
    "Disconnected",
    "Handshake",
    "InMemoryAdapter",
    "Namespace",
    "Recovery",
    "Server",
    "ServerHandle",
    "Socket",
    "TurbosioError",
    "__version__",
]
