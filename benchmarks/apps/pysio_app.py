"""The benchmark app on python-socketio (ASGI, served by uvicorn): same handlers as
turbosio_app.py."""

from __future__ import annotations

from typing import Any

import socketio

sio = socketio.AsyncServer(async_mode="asgi", ping_interval=25, ping_timeout=20)


@sio.on("echo")
async def echo(sid: str, data: Any) -> Any:
    """Acknowledge with the payload."""
    return data


@sio.on("req")
async def req(sid: str, data: Any) -> None:
    """Answer with an event."""
    await sio.emit("res", data, to=sid)


@sio.on("join")
async def join(sid: str, room: str) -> str:
    """Join ``room``."""
    await sio.enter_room(sid, room)
    return "ok"


@sio.on("bcast")
async def bcast(sid: str, room: str, data: Any) -> str:
    """Send ``data`` to everyone in ``room``."""
    await sio.emit("msg", data, room=room)
    return "ok"


app = socketio.ASGIApp(sio)
