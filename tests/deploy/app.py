"""The turbosio server of the deployment tests, run as a process of its own (``sio.run``, or
``sio.asgi()`` under uvicorn with ``--asgi``).

The tests start it with the options they check (TLS, trusted proxies, limits, auth), read the
port it bound from its "turbosio running on ..." log line, and talk to it with real clients.
Its memory is measured from /proc, apart from the test process.

Events: ``whoami`` answers what the server knows of the client (address, TLS, transport);
``stats`` answers sessions, disconnect reasons and memory; ``pump`` broadcasts binary chunks to
everyone, waiting every so often for the clients in room "fast" to acknowledge (application
flow control, so only clients that stop reading fall behind).
"""

from __future__ import annotations

import argparse
import logging
import socket
import sys
from collections import Counter
from typing import Any

import turbosio
from turbosio.server import Limits


def _status(field: str) -> int:
    """A memory figure of this process from /proc/self/status, in bytes."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def build(args: argparse.Namespace) -> turbosio.Server:
    """The server, with the handlers described in the module docstring."""

    def allow_request(request: Any) -> bool:
        # The HTTP-level check: refuse before any session exists (403, code 4).
        return request.query.get("ticket") == args.ticket

    sio = turbosio.Server(
        cors_allowed_origins="*",
        path=args.path,
        trusted_proxies=args.trusted_proxies.split(",") if args.trusted_proxies else None,
        allow_request=allow_request if args.ticket else None,
        max_outbound_buffer=args.max_outbound,
    )
    reasons: Counter[str] = Counter()

    @sio.on("connect")
    async def connect(socket: turbosio.Socket, auth: dict[str, Any]) -> None:
        if args.token and auth.get("token") != args.token:
            raise turbosio.ConnectionRefused("invalid token", {"hint": "send auth.token"})
        socket.join(["all", "fast" if auth.get("role") == "fast" else "others"])

    @sio.on("disconnect")
    async def disconnect(socket: turbosio.Socket, reason: str) -> None:
        reasons[reason] += 1

    @sio.on("whoami")
    async def whoami(socket: turbosio.Socket) -> dict[str, Any]:
        request = socket.conn.request
        return {
            "address": socket.handshake.address,
            "secure": socket.handshake.secure,
            "peer": request.client[0] if request.client else None,
            "transport": socket.transport,
            "forwarded_for": request.headers.get("x-forwarded-for"),
        }

    def stats() -> dict[str, Any]:
        return {
            "sessions": len(sio.engine.sessions),
            "sockets": len(sio.sockets.sockets),
            "reasons": dict(reasons),
            "rss": _status("VmRSS"),
            "peak_rss": _status("VmHWM"),
        }

    @sio.on("stats")
    async def on_stats(socket: turbosio.Socket) -> dict[str, Any]:
        return stats()

    @sio.on("pump")
    async def pump(socket: turbosio.Socket, chunks: int, size: int, every: int) -> dict[str, Any]:
        before = stats()
        for i in range(chunks):
            # A new chunk each time, as an application's data would be: a queue that holds
            # references (the ASGI front end's) then costs memory as a queue of copies does.
            data = b"\x5a" * size
            sio.to("all").emit("chunk", i, data)
            if (i + 1) % every == 0:
                await sio.to("fast").timeout(30).emit_with_ack("sync", i)
        await sio.to("fast").timeout(30).emit_with_ack("sync", chunks)
        return {"before": before, "after": stats()}

    return sio


def main() -> None:
    """Parse the options, serve until SIGTERM."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--path", default="/socket.io")
    parser.add_argument("--certfile")
    parser.add_argument("--keyfile")
    parser.add_argument("--trusted-proxies", default="")
    parser.add_argument("--token", default="")
    parser.add_argument("--ticket", default="")
    parser.add_argument("--max-outbound", type=int, default=8 * 1024 * 1024)
    parser.add_argument("--request-timeout", type=float, default=30.0)
    parser.add_argument("--shutdown-timeout", type=float, default=5.0)
    parser.add_argument("--asgi", action="store_true", help="serve sio.asgi() with uvicorn")
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    if args.asgi:
        serve_asgi(build(args), args.port)
        return
    build(args).run(
        "127.0.0.1",
        args.port,
        ssl_certfile=args.certfile,
        ssl_keyfile=args.keyfile,
        limits=Limits(request_timeout=args.request_timeout),
        shutdown_timeout=args.shutdown_timeout,
    )


def serve_asgi(sio: turbosio.Server, port: int) -> None:
    """Serve ``sio.asgi()`` with uvicorn (its defaults, uvloop) until SIGTERM."""
    import uvicorn

    # Bound and listening before the line that gives the port: connections wait in the
    # backlog until uvicorn accepts them.
    sock = socket.socket()
    sock.bind(("127.0.0.1", port))
    sock.listen(1024)
    logging.getLogger("turbosio").info(
        "turbosio running on http://127.0.0.1:%d (uvicorn)", sock.getsockname()[1]
    )
    config = uvicorn.Config(sio.asgi(), log_level="warning")
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
