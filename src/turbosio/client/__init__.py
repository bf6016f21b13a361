"""turbosio.client: the Socket.IO client, asyncio (:class:`AsyncClient`) and synchronous
(:class:`Client`).

It speaks Engine.IO v4 and Socket.IO v5 over HTTP long-polling and WebSocket (with the
upgrade from one to the other), with the JavaScript client's reconnection, offline buffer,
acknowledgement timeouts and retries. It needs aiohttp: ``pip install 'turbosio[client]'``
(imported only when a client is created). See docs/client.md.

The layers, as in socket.io-client: :mod:`.engine` (one Engine.IO session), :mod:`.manager`
(the connection shared by the namespaces, reconnection), :mod:`.socket` (one namespace),
:mod:`.async_client` and :mod:`.sync` (the public clients).
"""

from __future__ import annotations

from .async_client import AsyncClient
from .backoff import Backoff
from .errors import BufferFull, ConnectError
from .sync import Client

__all__ = ["AsyncClient", "Backoff", "BufferFull", "Client", "ConnectError"]
