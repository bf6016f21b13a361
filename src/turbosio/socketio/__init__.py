"""The Socket.IO layer: Server, Namespace, Socket, broadcast operators."""

from __future__ import annotations

from .broadcast import BroadcastOperator
from .namespace import Namespace, ParentNamespace
from .reasons import RESERVED_EVENTS, DisconnectReason
from .recovery import Recovery
from .server import Server, ServerHandle
from .socket import Handshake, Socket

__all__ = [
    "RESERVED_EVENTS",
    "BroadcastOperator",
    "DisconnectReason",
    "Handshake",
    "Namespace",
    "ParentNamespace",
    "Recovery",
    "Server",
    "ServerHandle",
    "Socket",
]
