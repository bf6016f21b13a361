"""The chat demo (namespace ``/chat``, page ``/chat``).

A visitor connects with a nickname (``auth={"name": ...}``; without one the connection is
refused), joins and leaves rooms, and talks in them:

* ``join(room)`` answers with the room's last messages; ``leave(room)`` answers ``True``.
  Both tell the room with a ``notice``.
* ``message({room, text})`` goes to everyone else in the room; its acknowledgement (the stored
  message, with its id and time) is how the sender's page marks it delivered.
* ``typing({room, typing})`` is volatile: a lost "is typing" costs nothing, so it is dropped
  rather than queued for a client that is not ready.
* ``online``: the sorted nicknames of everyone connected, sent to all on every arrival and
  departure.
"""

from __future__ import annotations

import itertools
import time
from collections import defaultdict, deque
from typing import TYPE_CHECKING, Any

from ..exceptions import ConnectionRefused

if TYPE_CHECKING:
    from ..socketio import Namespace, Server, Socket

__all__ = ["attach"]

MAX_NAME = 24
MAX_ROOM = 32
MAX_TEXT = 500


def _clean(value: Any, limit: int) -> str:
    """A one-line, trimmed string of at most ``limit`` characters ("" if not a string)."""
    return " ".join(value.split())[:limit] if isinstance(value, str) else ""


def attach(sio: Server, history_size: int = 50) -> Namespace:
    """Add the chat's handlers to ``sio`` (namespace ``/chat``); returns the namespace."""
    chat = sio.of("/chat")
    history: defaultdict[str, deque[dict[str, Any]]] = defaultdict(
        lambda: deque(maxlen=history_size)
    )
    ids = itertools.count(1)

    def notice(socket: Socket, room: str, text: str) -> None:
        # To the others in the room: the page of `socket` shows its own joins and leaves.
        socket.to(room).emit("notice", {"room": room, "text": text, "time": time.time()})

    def send_online() -> None:
        names = sorted(s.data["name"] for s in chat.sockets.values() if "name" in s.data)
        chat.emit("online", names)

    @chat.on("connect")
    async def connect(socket: Socket, auth: dict[str, Any]) -> None:
        name = _clean(auth.get("name"), MAX_NAME)
        if not name:
            raise ConnectionRefused("pick a nickname first")
        socket.data["name"] = name
        send_online()

    @chat.on("join")
    async def join(socket: Socket, room: Any) -> list[dict[str, Any]] | None:
        room = _clean(room, MAX_ROOM)
        if not room:
            return None
        socket.join(room)
        notice(socket, room, f"{socket.data['name']} joined")
        return list(history[room])

    @chat.on("leave")
    async def leave(socket: Socket, room: Any) -> bool:
        room = _clean(room, MAX_ROOM)
        if room not in socket.rooms or room == socket.id:
            return False
        socket.leave(room)
        notice(socket, room, f"{socket.data['name']} left")
        return True

    @chat.on("message")
    async def message(socket: Socket, data: Any) -> dict[str, Any] | None:
        if not isinstance(data, dict):
            return None
        room, text = data.get("room"), _clean(data.get("text"), MAX_TEXT)
        if room not in socket.rooms or not text:
            return None  # a null acknowledgement: the page shows the message as not delivered
        msg = {
            "id": next(ids),
            "room": room,
            "name": socket.data["name"],
            "text": text,
            "time": time.time(),
        }
        history[room].append(msg)
        socket.to(room).emit("message", msg)
        return msg

    @chat.on("typing")
    async def typing(socket: Socket, data: Any) -> None:
        if isinstance(data, dict) and data.get("room") in socket.rooms:
            room, busy = data["room"], bool(data.get("typing"))
            update = {"room": room, "name": socket.data["name"], "typing": busy}
            socket.to(room).volatile.emit("typing", update)

    @chat.on("disconnecting")
    async def disconnecting(socket: Socket, reason: str) -> None:
        # Still in its rooms here (not any more in "disconnect"): say goodbye in each.
        for room in socket.rooms - {socket.id}:
            socket.to(room).volatile.emit(
                "typing", {"room": room, "name": socket.data.get("name"), "typing": False}
            )
            notice(socket, room, f"{socket.data.get('name')} left")

    @chat.on("disconnect")
    async def disconnect(socket: Socket, reason: str) -> None:
        send_online()

    return chat
