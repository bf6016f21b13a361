"""turbosio.flask: the Flask-SocketIO API on turbosio, so a Flask app moves over by changing
one import (``from flask_socketio import ...`` becomes ``from turbosio.flask import ...``).

Handlers are plain functions run in a thread pool with Flask's app and request contexts
(``request.sid``, ``request.namespace``, ``request.event``, ``session``); ``socketio.run(app)``
serves the app's routes and Socket.IO on one port with turbosio's embedded server. Needs the
``flask`` extra: ``pip install 'turbosio[flask]'``. The migration guide is docs/flask.md.
"""

from __future__ import annotations

try:
    import flask as _flask  # noqa: F401 - only to fail early with the right message
except ImportError as exc:  # pragma: no cover - the extra is installed in development
    raise ImportError("turbosio.flask needs Flask: pip install 'turbosio[flask]'") from exc

from .context import call, close_room, disconnect, emit, join_room, leave_room, rooms, send
from .extension import ConnectionRefusedError, FlaskServerHandle, SocketIO
from .namespace import Namespace
from .testing import SocketIOTestClient

__all__ = [
    "ConnectionRefusedError",
    "FlaskServerHandle",
    "Namespace",
    "SocketIO",
    "SocketIOTestClient",
    "call",
    "close_room",
    "disconnect",
    "emit",
    "join_room",
    "leave_room",
    "rooms",
    "send",
]
