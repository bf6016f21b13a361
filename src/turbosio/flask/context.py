"""The context functions: ``emit``, ``send``, ``call``, rooms and ``disconnect`` inside a handler.

They find the :class:`~turbosio.flask.SocketIO` through ``current_app`` and the client through
``request.sid`` and ``request.namespace``, so they work in Socket.IO handlers (and in code they
call); elsewhere use the methods of the ``SocketIO`` object.
"""

from __future__ import annotations

from typing import Any

import flask

from .extension import SocketIO, _norm, current_client

__all__ = ["call", "close_room", "disconnect", "emit", "join_room", "leave_room", "rooms", "send"]


def _context() -> tuple[SocketIO, str, str]:
    """The SocketIO, ``request.sid`` and ``request.namespace`` of the event being handled."""
    client = current_client()
    if client is not None:
        # The handler's own record: cheaper than three lookups through Flask's proxies.
        return client.socketio, client.sid, client.namespace
    request: Any = flask.request
    if not hasattr(request, "sid"):
        raise RuntimeError(
            "this function needs a Socket.IO handler's context (request.sid); outside one, "
            "use the SocketIO object's method (socketio.emit(...), ...)"
        )
    socketio: SocketIO = flask.current_app.extensions["socketio"]
    return socketio, request.sid, request.namespace


def emit(event: str, *args: Any, **kwargs: Any) -> None:
    """Emit ``event`` from a handler: to the client that sent the event being handled,
    in its namespace, unless told otherwise.

    ``broadcast=True`` sends to every client of the namespace (the sender too, unless
    ``include_self=False``); ``to=`` (or ``room=``) sends to a room or a sid; ``skip_sid``
    leaves clients out; ``namespace`` picks another namespace; ``callback`` is called with the
    client's acknowledgement. A single tuple argument is sent as several arguments.
    """
    socketio, sid, current_namespace = _context()
    namespace = kwargs.pop("namespace", None)
    namespace = _norm(namespace) if namespace else current_namespace
    broadcast = kwargs.pop("broadcast", False)
    to = kwargs.pop("to", None) or kwargs.pop("room", None)
    kwargs.pop("room", None)
    if to is None and not broadcast:
        to = sid
    if kwargs:
        socketio.emit(event, *args, namespace=namespace, to=to, **kwargs)
    else:
        # The usual call: no other option, so none to read again.
        socketio._emit(event, args, namespace, to, True, None, None, False)


def send(message: Any, **kwargs: Any) -> None:
    """Send a ``"message"`` event (``"json"`` with ``json=True``) from a handler; the other
    keyword arguments are :func:`emit`'s."""
    socketio, sid, current_namespace = _context()
    json = kwargs.pop("json", False)
    namespace = kwargs.pop("namespace", None) or current_namespace
    broadcast = kwargs.pop("broadcast", False)
    to = kwargs.pop("to", None) or kwargs.pop("room", None)
    kwargs.pop("room", None)
    if to is None and not broadcast:
        to = sid
    socketio.send(message, json=json, namespace=namespace, to=to, **kwargs)


def call(event: str, *args: Any, **kwargs: Any) -> Any:
    """Emit ``event`` to the client being handled (or ``to=sid``) and wait for its
    acknowledgement; ``timeout`` seconds (60) then :class:`turbosio.AckTimeout`."""
    socketio, sid, current_namespace = _context()
    namespace = kwargs.pop("namespace", None) or current_namespace
    to = kwargs.pop("to", None) or kwargs.pop("room", None) or sid
    return socketio.call(event, *args, namespace=namespace, to=to, **kwargs)


def join_room(room: str, sid: str | None = None, namespace: str | None = None) -> None:
    """Put the client being handled (or ``sid``) in ``room``."""
    socketio, current_sid, current_namespace = _context()
    socketio.enter_room(sid or current_sid, room, namespace or current_namespace)


def leave_room(room: str, sid: str | None = None, namespace: str | None = None) -> None:
    """Take the client being handled (or ``sid``) out of ``room``."""
    socketio, current_sid, current_namespace = _context()
    socketio.leave_room(sid or current_sid, room, namespace or current_namespace)


def close_room(room: str, namespace: str | None = None) -> None:
    """Take every client out of ``room`` (in the namespace being handled)."""
    socketio, _, current_namespace = _context()
    socketio.close_room(room, namespace or current_namespace)


def rooms(sid: str | None = None, namespace: str | None = None) -> list[str]:
    """The rooms of the client being handled (or ``sid``), its own room included."""
    socketio, current_sid, current_namespace = _context()
    return socketio.rooms(sid or current_sid, namespace or current_namespace)


def disconnect(sid: str | None = None, namespace: str | None = None, silent: bool = False) -> None:
    """Disconnect the client being handled (or ``sid``) from the namespace; its
    ``disconnect`` handler runs with reason ``SocketIO.reason.SERVER_DISCONNECT``.
    (``silent`` is accepted for Flask-SocketIO's sake and does nothing.)"""
    socketio, current_sid, current_namespace = _context()
    socketio.disconnect(sid or current_sid, namespace or current_namespace)
