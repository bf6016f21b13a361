"""The turbosio server the interop tests drive with the official JavaScript client.

``tests/js/reference-server.mjs`` implements the same handlers on Node's socket.io 4.8, so
every scenario in ``tests/interop/`` runs against both and the expectations are Node's.

Run directly, it serves the ASGI app under uvicorn on 127.0.0.1 with a free port, prints one
JSON line ``{"port": N}`` when ready and stops when its stdin closes::

    python tests/interop_app.py --profile default
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket as socketlib
import sys
import threading
from typing import Any

import turbosio

#: Server options per profile; the Node reference server gets the same values (in ms).
PROFILES: dict[str, dict[str, float]] = {
    "default": {"ping_interval": 25, "ping_timeout": 20, "max_http_buffer_size": 1_000_000},
    # Pings every 0.2 s: an idle client must stay connected through many of them.
    "heartbeat": {"ping_interval": 0.2, "ping_timeout": 0.2, "max_http_buffer_size": 1_000_000},
    # Small enough that one 30 kB message is too big.
    "small": {"ping_interval": 25, "ping_timeout": 20, "max_http_buffer_size": 10_000},
}


def node_arguments(profile: str) -> list[str]:
    """Command-line options giving reference-server.mjs the same settings as ``profile``."""
    options = PROFILES[profile]
    return [
        "--ping-interval",
        str(round(options["ping_interval"] * 1000)),
        "--ping-timeout",
        str(round(options["ping_timeout"] * 1000)),
        "--max-http-buffer-size",
        str(int(options["max_http_buffer_size"])),
    ]


def build_server(profile: str = "default") -> Any:
    """A turbosio.Server with the interop handlers and the options of ``profile``."""
    options = PROFILES[profile]
    sio = turbosio.Server(
        cors_allowed_origins="*",
        ping_interval=options["ping_interval"],
        ping_timeout=options["ping_timeout"],
        max_http_buffer_size=int(options["max_http_buffer_size"]),
        transports=("polling", "websocket"),
    )
    # socket id -> the reason its "disconnect" handler received, in every namespace.
    reasons: dict[str, str] = {}

    def whoami(socket: Any) -> dict[str, Any]:
        return {
            "id": socket.id,
            "nsp": socket.namespace,
            "auth": socket.handshake.auth,
            # The Engine.IO session id (Node's socket.conn.id), not the socket's id.
            "engine": socket.conn.sid,
            "rooms": sorted(socket.rooms),
        }

    def common(on: Any) -> None:
        @on("disconnect")
        async def disconnect(socket: Any, reason: str) -> None:
            reasons[socket.id] = reason

        @on("echo")
        async def echo(socket: Any, *args: Any) -> tuple[Any, ...]:
            return args

        @on("whoami")
        async def who(socket: Any) -> dict[str, Any]:
            return whoami(socket)

        @on("kick")
        async def kick(socket: Any, close: Any = None) -> None:
            socket.disconnect(close=close is True)

    common(sio.on)

    @sio.on("ask")
    async def ask(socket: Any, args: list[Any]) -> None:
        # server -> client ack: ask the client, report what its callback answered.
        answer = await socket.emit_with_ack("question", *args, timeout=5)
        socket.emit("answer", list(answer) if isinstance(answer, tuple) else [answer])

    @sio.on("ask-timeout")
    async def ask_timeout(socket: Any) -> None:
        try:
            await socket.emit_with_ack("ignore-me", timeout=0.3)
        except turbosio.AckTimeout as exc:
            socket.emit("timeout-result", str(exc))
        else:
            socket.emit("timeout-result", None)

    @sio.on("seq")
    async def seq(socket: Any, i: int) -> None:
        socket.emit("seq", i)

    @sio.on("join")
    async def join(socket: Any, room: str) -> bool:
        socket.join(room)
        return True

    @sio.on("action")
    async def action(socket: Any, a: dict[str, Any]) -> bool:
        kind, event, data = a["kind"], a["event"], a["data"]
        if kind == "io-to":
            sio.to(a["room"]).emit(event, data)
        elif kind == "io-to-except":
            sio.to(a["room"]).except_(a["except"]).emit(event, data)
        elif kind == "socket-to":
            socket.to(a["room"]).emit(event, data)
        elif kind == "broadcast":
            socket.broadcast.emit(event, data)
        elif kind == "all":
            sio.emit(event, data)
        # Packets keep their order on each connection: once a client sees this marker,
        # anything the action above sent it has arrived.
        sio.emit("marker", a["marker"])
        return True

    @sio.on("survey")
    async def survey(socket: Any, room: str) -> dict[str, Any]:
        try:
            responses = await sio.to(room).emit_with_ack("survey", timeout=2)
        except turbosio.AckTimeout as exc:
            return {"error": str(exc), "responses": exc.responses}
        return {"error": None, "responses": responses}

    @sio.on("reason-of")
    async def reason_of(socket: Any, sid: str) -> str | None:
        # The disconnect may be processed a moment after the request that asks about it.
        for _ in range(60):
            if sid in reasons:
                break
            await asyncio.sleep(0.05)
        return reasons.get(sid)

    common(sio.of("/custom").on)

    @sio.of("/refused").on("connect")
    async def refuse(socket: Any, auth: Any) -> None:
        raise turbosio.ConnectionRefused("refused by handler", {"code": 4001, "retry": False})

    @sio.of("/refused-plain").on("connect")
    async def refuse_plain(socket: Any, auth: Any) -> None:
        raise turbosio.ConnectionRefused("plain refusal")

    guarded = sio.of("/guarded")

    async def check_token(socket: Any, auth: Any) -> None:
        if not (isinstance(auth, dict) and auth.get("token") == "secret"):
            raise turbosio.ConnectionRefused("invalid token", {"reason": "token mismatch"})

    guarded.use(check_token)
    common(guarded.on)

    @sio.of("/catchall").on("*")
    async def caught(socket: Any, event: str, *args: Any) -> None:
        socket.emit("caught", event, list(args))

    return sio


def _serve_uvicorn(profile: str) -> None:
    import uvicorn

    sio = build_server(profile)
    sock = socketlib.socket(socketlib.AF_INET, socketlib.SOCK_STREAM)
    sock.setsockopt(socketlib.SOL_SOCKET, socketlib.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    # Listening before the port is printed: a client that is quicker than uvicorn's start
    # waits in the backlog instead of being refused.
    sock.listen(128)
    config = uvicorn.Config(sio.asgi(), log_level="warning", lifespan="off")
    server = uvicorn.Server(config)

    def stop_when_stdin_closes() -> None:
        sys.stdin.read()
        server.should_exit = True

    threading.Thread(target=stop_when_stdin_closes, daemon=True).start()
    print(json.dumps({"port": sock.getsockname()[1]}), flush=True)
    asyncio.run(server.serve(sockets=[sock]))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=sorted(PROFILES), default="default")
    _serve_uvicorn(parser.parse_args().profile)
