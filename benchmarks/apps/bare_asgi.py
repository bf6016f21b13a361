"""uvicorn's own floor: an ASGI app that speaks just enough Engine.IO / Socket.IO for the
connect, memory and echo (one message in flight) scenarios, and does nothing else.

It accepts a WebSocket, sends a fixed open packet, answers ``40`` with a fixed connect reply
and an ``echo`` event with its acknowledgement (the same text with a new prefix, no JSON
parsing), and waits for the close. Whatever a connection or a message costs under it is
uvicorn's (its HTTP parser, its WebSocket implementation, its tasks), which every ASGI app
under uvicorn pays: the benchmark prints it beside the ASGI rows it bounds (``asgi-floor``).
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
        text = message.get("text")
        if text == "40":
            await send({"type": "websocket.send", "text": _CONNECTED})
        elif text is not None:
            reply = _ack(text)
            if reply is not None:
                await send({"type": "websocket.send", "text": reply})


def _ack(text: str) -> str | None:
    """The acknowledgement of ``42<id>["echo",X]``: ``43<id>[X]`` (None for anything else)."""
    if not text.startswith("42"):
        return None
    i = 2
    while i < len(text) and text[i].isdigit():
        i += 1
    if i == 2 or not text.startswith('["echo",', i):
        return None
    return "43" + text[2:i] + "[" + text[i + 8 :]
