"""Class-based namespaces: a class whose ``on_<event>`` methods handle a namespace's events."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .extension import SocketIO

__all__ = ["Namespace"]


class Namespace:
    """The handlers of one namespace as methods: event ``my_event`` goes to ``on_my_event``,
    connections to ``on_connect(self[, auth])``, departures to ``on_disconnect(self[,
    reason])``. Register an instance with ``socketio.on_namespace(MyNamespace("/chat"))``.

    Events without a method are ignored (and not acknowledged). A decorator handler of the
    same event and namespace (``@socketio.on``) takes precedence over the method. Override
    :meth:`trigger_event` to route events yourself; it then receives every event.
    """

    def __init__(self, namespace: str | None = None) -> None:
        name = namespace or "/"
        #: The namespace's name, e.g. ``"/chat"``.
        self.namespace = name if name == "*" or name.startswith("/") else "/" + name
        #: The :class:`turbosio.flask.SocketIO` this namespace is registered with.
        self.socketio: SocketIO = None  # type: ignore[assignment]  # set by on_namespace

    def _set_socketio(self, socketio: SocketIO) -> None:
        self.socketio = socketio

    # -- dispatch (used by SocketIO) -------------------------------------------------------------

    def _overrides_trigger(self) -> bool:
        return type(self).trigger_event is not Namespace.trigger_event

    def _event_names(self) -> set[str]:
        return {
            name[3:]
            for name, _ in inspect.getmembers(type(self), callable)
            if name.startswith("on_") and len(name) > 3
        }

    def _catches_all(self) -> bool:
        return self._overrides_trigger()

    def _handler(self, event: str) -> Callable[..., Any] | None:
        if self._overrides_trigger():
            return _Trigger(self, event)
        handler: Callable[..., Any] | None = getattr(self, "on_" + event, None)
        return handler

    def trigger_event(self, event: str, *args: Any) -> Any:
        """Call the method of ``event`` (``on_<event>``) with ``args``; runs inside the
        client's Flask contexts. Override it to dispatch events another way."""
        handler = getattr(self, "on_" + (event or ""), None)
        if handler is None:
            return None
        return handler(*args)

    # -- helpers defaulting to this namespace -------------------------------------------------

    def emit(
        self,
        event: str,
        data: Any = None,
        room: str | None = None,
        include_self: bool = True,
        namespace: str | None = None,
        callback: Callable[..., Any] | None = None,
    ) -> None:
        """``socketio.emit`` in this namespace (to everyone, or to ``room``)."""
        self.socketio.emit(
            event,
            data,
            room=room,
            include_self=include_self,
            namespace=namespace or self.namespace,
            callback=callback,
        )

    def send(
        self,
        data: Any,
        room: str | None = None,
        include_self: bool = True,
        namespace: str | None = None,
        callback: Callable[..., Any] | None = None,
    ) -> None:
        """``socketio.send`` in this namespace."""
        self.socketio.send(
            data,
            room=room,
            include_self=include_self,
            namespace=namespace or self.namespace,
            callback=callback,
        )

    def call(
        self,
        event: str,
        data: Any = None,
        to: str | None = None,
        sid: str | None = None,
        namespace: str | None = None,
        timeout: float = 60,
    ) -> Any:
        """``socketio.call`` in this namespace: emit to one client, wait for its answer."""
        return self.socketio.call(
            event, data, to=to or sid, namespace=namespace or self.namespace, timeout=timeout
        )

    def enter_room(self, sid: str, room: str, namespace: str | None = None) -> None:
        """Put client ``sid`` in ``room``."""
        self.socketio.enter_room(sid, room, namespace=namespace or self.namespace)

    def leave_room(self, sid: str, room: str, namespace: str | None = None) -> None:
        """Take client ``sid`` out of ``room``."""
        self.socketio.leave_room(sid, room, namespace=namespace or self.namespace)

    def close_room(self, room: str, namespace: str | None = None) -> None:
        """Take every client out of ``room``."""
        self.socketio.close_room(room, namespace=namespace or self.namespace)

    def rooms(self, sid: str, namespace: str | None = None) -> list[str]:
        """The rooms client ``sid`` is in."""
        return self.socketio.rooms(sid, namespace=namespace or self.namespace)

    def disconnect(self, sid: str, namespace: str | None = None) -> None:
        """Disconnect client ``sid``."""
        self.socketio.disconnect(sid, namespace=namespace or self.namespace)


class _Trigger:
    """``trigger_event`` bound to one event, for a namespace that overrides it."""

    __slots__ = ("event", "namespace")

    def __init__(self, namespace: Namespace, event: str) -> None:
        self.namespace = namespace
        self.event = event

    def __call__(self, *args: Any) -> Any:
        return self.namespace.trigger_event(self.event, *args)
