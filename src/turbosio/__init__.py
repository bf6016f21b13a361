"""turbosio: a fast Socket.IO server and client for Python.

The official JavaScript client (socket.io-client 4.x) connects to :class:`Server` unchanged.
"""

from __future__ import annotations

from .adapters import InMemoryAdapter
from .adapters.cluster import RequestTimeout
from .adapters.redis import RedisAdapter, RedisUnavailable, ShardedRedisAdapter
from .adapters.redis_streams import RedisStreamsAdapter
from .client import AsyncClient, BufferFull, Client, ConnectError
from .emitter import AsyncEmitter, Emitter
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
from .socketio.remote import RemoteSocket

__version__ = "0.1.0"

__all__ = [
    "AckTimeout",
    "AsyncClient",
    "AsyncEmitter",
    "BroadcastOperator",
    "BufferFull",
    "Client",
    "ConnectError",
    "ConnectionRefused",
    "DecodeError",
    "DisconnectReason",
    "Disconnected",
    "Emitter",
    "Handshake",
    "InMemoryAdapter",
    "Namespace",
    "Recovery",
    "RedisAdapter",
    "RedisStreamsAdapter",
    "RedisUnavailable",
    "RemoteSocket",
    "RequestTimeout",
    "Server",
    "ServerHandle",
    "ShardedRedisAdapter",
    "Socket",
    "TurbosioError",
    "__version__",
]
