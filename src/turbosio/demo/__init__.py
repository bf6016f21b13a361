"""The demo apps: ``turbosio demo`` (``make demo``) serves :func:`create_server`'s chat.

Every ``message`` event a client sends is broadcast to every connected client (the sender
too) as a ``response`` event carrying ``{"msg": data}``; the page at ``/`` sends and shows
them with the official JavaScript client.
"""

from __future__ import annotations

from .chat import INDEX_HTML, create_server

__all__ = ["INDEX_HTML", "create_server"]
