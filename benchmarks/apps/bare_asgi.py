"""uvicorn's own floor: an ASGI app that speaks just enough Engine.IO / Socket.IO for the
benchmark's scenarios, and does nothing else.

Over WebSocket it sends a fixed open packet, answers ``40`` with a fixed connect reply and an
``echo`` event with its acknowledgement (the same text with a new prefix, no JSON parsing),
and waits for the close. Over polling it keeps, per session, the replies not yet fetched and
the GET held for them: a handshake gets a fixed open packet with a new sid, a POST of packets
gets ``ok`` (its replies go to the held GET, or wait for the next one), a GET gets what is
waiting or is held. A WebSocket with a polling session's sid upgrades it as the JS client
does: ``2probe`` is answered ``3probe`` and the held GET ends with a noop; ``5`` ends the
session's polling. Whatever a connection or a message costs under it is uvicorn's (its HTTP
parser, its WebSocket implementation, its tasks), which every ASGI app under uvicorn pays:
the benchmark prints it beside the ASGI rows it bounds (``asgi-floor``).
"""

from __future__ import annotations

import asyncio
from typing import Any

_OPEN = (
    '0{"sid":"AAAAAAAAAAAAAAAAAAAA","upgrades":[],"pingInterval":25000,'
    '"pingTimeout":20000,"maxPayload":1000000}'
)
_OPEN_POLLING = (
    '0{"sid":"%d","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,'
    '"maxPayload":1000000}'
)
_CONNECTED = '40{"sid":"BBBBBBBBBBBBBBBBBBBB"}'

#: Polling sessions by sid: the replies waiting for a GET, and the GET held (its future).
_sessions: dict[str, tuple[list[str], list[asyncio.Future[str]]]] = {}
_next_sid = 0


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
    sid = _sid(scope)
    if scope["type"] == "http":
        await _polling(scope, receive, send, sid)
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    if sid:
        await _upgrade(receive, send, sid)
        return
    await send({"type": "websocket.send", "text": _OPEN})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        reply = _reply(message.get("text"))
        if reply is not None:
            await send({"type": "websocket.send", "text": reply})


def _sid(scope: dict[str, Any]) -> str:
    query: bytes = scope.get("query_string", b"")
    return query.partition(b"sid=")[2].partition(b"&")[0].decode()


def _reply(text: str | None) -> str | None:
    """The answer to ``40`` or to ``42<id>["echo",X]`` (``43<id>[X]``); None for the rest."""
    if text is None or not text.startswith("4"):
        return None
    if text == "40":
        return _CONNECTED
    if not text.startswith("42"):
        return None
    i = 2
    while i < len(text) and text[i].isdigit():
        i += 1
    if i == 2 or not text.startswith('["echo",', i):
        return None
    return "43" + text[2:i] + "[" + text[i + 8 :]


async def _respond(send: Any, status: int, body: str) -> None:
    data = body.encode()
    headers = [(b"content-type", b"text/plain; charset=UTF-8")]
    headers.append((b"content-length", str(len(data)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


async def _polling(scope: dict[str, Any], receive: Any, send: Any, sid: str) -> None:
    global _next_sid
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if not sid:
        _next_sid += 1
        _sessions[str(_next_sid)] = ([], [])
        await _respond(send, 200, _OPEN_POLLING % _next_sid)
        return
    session = _sessions.get(sid)
    if session is None:
        await _respond(send, 400, "unknown sid")
        return
    waiting, held = session
    if scope["method"] == "POST":
        for packet in body.decode().split("\x1e"):
            reply = _reply(packet)
            if reply is not None:
                waiting.append(reply)
        if waiting and held:
            held.pop().set_result("\x1e".join(waiting))
            waiting.clear()
        await _respond(send, 200, "ok")
    elif waiting:
        text = "\x1e".join(waiting)
        waiting.clear()
        await _respond(send, 200, text)
    else:
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        held.append(future)
        await _respond(send, 200, await future)


async def _upgrade(receive: Any, send: Any, sid: str) -> None:
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            _sessions.pop(sid, None)
            return
        text = message.get("text")
        if text == "2probe":
            await send({"type": "websocket.send", "text": "3probe"})
            held = _sessions.get(sid, ([], []))[1]
            if held:
                held.pop().set_result("6")
        elif text == "5":
            _sessions.pop(sid, None)
