"""The embedded HTTP/1.1 + WebSocket server: a plain asyncio Protocol on uvloop.

It serves an :class:`App`: the application routes requests by path itself and answers
WebSocket upgrades; the server knows nothing of Engine.IO. :func:`serve` starts it inside a
running loop, :func:`run` runs it as a program until SIGINT/SIGTERM. Frames are built and
parsed by the pure functions of :mod:`turbosio.server.frames`.
"""

from __future__ import annotations

from .http import App, HttpRequest, HttpWebSocketRequest
from .limits import Limits
from .runner import Server, run, serve, ssl_context
from .websocket import WebSocketConnection

__all__ = [
    "App",
    "HttpRequest",
    "HttpWebSocketRequest",
    "Limits",
    "Server",
    "WebSocketConnection",
    "run",
    "serve",
    "ssl_context",
]
