"""The Engine.IO v4 server layer: sessions, handshake, heartbeat, polling and WebSocket.

:class:`Engine` is what a front end (:mod:`turbosio.server`, :mod:`turbosio.asgi`) calls; the
Socket.IO layer sees only :class:`~turbosio.engineio.io.EngineSession` objects and implements
:class:`~turbosio.engineio.io.EngineHandler`.
"""

from __future__ import annotations

from .engine import ERROR_MESSAGES, Engine
from .io import (
    EngineHandler,
    EngineSession,
    Headers,
    Request,
    SharedMessage,
    WebSocket,
    WebSocketHandler,
    WebSocketRequest,
)
from .session import Session

__all__ = [
    "ERROR_MESSAGES",
    "Engine",
    "EngineHandler",
    "EngineSession",
    "Headers",
    "Request",
    "Session",
    "SharedMessage",
    "WebSocket",
    "WebSocketHandler",
    "WebSocketRequest",
]
