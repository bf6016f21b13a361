"""The benchmark app on turbosio: the same four handlers every server under test runs.

``echo`` acknowledges with its argument, ``req`` answers with a ``res`` event, ``join`` puts
the socket in a room, ``bcast`` sends ``msg`` to a room and acknowledges. Run directly for the
embedded server (``python turbosio_app.py PORT``), or serve ``app`` with uvicorn.
"""

from __future__ import annotations

import sys
from typing import Any

import turbosio

sio = turbosio.Server(ping_interval=25, ping_timeout=20)


@sio.on("echo")
async def echo(socket: turbosio.Socket, data: Any) -> Any:
    """Acknowledge with the payload."""
    return data


@sio.on("req")
async def req(socket: turbosio.Socket, data: Any) -> None:
    """Answer with an event."""
    socket.emit("res", data)


@sio.on("join")
async def join(socket: turbosio.Socket, room: str) -> str:
    """Join ``room``."""
    socket.join(room)
    return "ok"


@sio.on("bcast")
async def bcast(socket: turbosio.Socket, room: str, data: Any) -> str:
    """Send ``data`` to everyone in ``room``."""
    sio.to(room).emit("msg", data)
    return "ok"


app = sio.asgi()

if __name__ == "__main__":
    sio.run(host="127.0.0.1", port=int(sys.argv[1]))
