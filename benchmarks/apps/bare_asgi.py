"""uvicorn's own floor: an ASGI app that speaks just enough Engine.IO / Socket.IO for the
connect and memory scenarios, and does nothing else.

It accepts a WebSocket, sends a fixed open packet, answers ``40`` with a fixed connect reply,
and waits for the close. Whatever a connection costs under it is uvicorn's (its HTTP parser,
its WebSocket implementation, its tasks), which every ASGI app under uvicorn pays: the
benchmark prints it beside the ASGI rows it bounds (``asgi-floor``).
"""

from __future__ import annotations

from typing import Any

_OPEN = (
    '0{"sid":"AAAAAAAAAAAAAAAAAAAA","upgrades":[],"pingInterval":25000,'
    '"pingTimeout":20000,"maxPayload":1000000}'
)
_CONNECTED = '40{"sid":"BBBBBBBBBBBBBBBBBBBB"}'


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The ASGI entry point."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "websocket":
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": _OPEN})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") == "40":
            await send({"type": "websocket.send", "text": _CONNECTED})
