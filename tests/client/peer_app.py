"""The turbosio server the client tests connect to.

``tests/js/client-peer.mjs`` implements the same handlers on Node's socket.io 4.8, so every
client test runs against both and the expectations are Node's behaviour.

Handlers, in the namespaces ``/`` and ``/custom``:

* ``echo(*args)`` acknowledges with its arguments;
* ``relay(event, *args)`` emits ``event`` with ``args`` back to the sender;
* ``whoami()`` acknowledges with ``{id, nsp, auth, engine, transport, header, query}``
  (``header``: the ``x-peer`` request header, ``query``: the ``peer`` query parameter);
* ``ask(event, *args)`` emits ``event`` asking for an acknowledgement, then emits
  ``answer`` with the list of arguments the client's handler acknowledged with;
* ``kick()`` disconnects the socket from the namespace ("io server disconnect");
* ``drop()`` closes the whole connection under the client ("transport close");
* ``seq(key, i)`` appends ``i`` to the log ``key`` and emits ``seq`` with ``i``;
  ``log(key)`` acknowledges with that log;
* ``flaky(key, n)`` acknowledges with the number of tries once it was called ``n`` times
  for ``key`` (earlier tries get no answer); ``tries(key)`` acknowledges with the count;
* ``later(event, delay)`` acknowledges, then emits ``event`` ``delay`` seconds later.

``/refused`` refuses every connection from a middleware with ``("refused by middleware",
{"code": 4001, "retry": False})``; ``/guarded`` accepts ``auth={"token": "secret"}`` only and
refuses others with ``("invalid token", {"reason": "token mismatch"})``.

Run directly, it serves on 127.0.0.1 (``--port``, 0 for a free one), prints one JSON line
``{"port": N}`` when ready and stops when its stdin closes::

    python tests/client/peer_app.py --port 0 --ping-interval 0.3 --ping-timeout 0.3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import sys
import threading
from collections import defaultdict
from typing import Any

import turbosio


def build_server(
    ping_interval: float = 25,
    ping_timeout: float = 20,
    release: asyncio.Event | None = None,
    recovery: bool = False,
) -> turbosio.Server:
    """A turbosio.Server with the client tests' handlers. Unanswered ``flaky`` calls wait
    for ``release`` (set it before the loop closes), or forever."""
    never = release if release is not None else asyncio.Event()
    sio = turbosio.Server(
        cors_allowed_origins="*",
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        connection_state_recovery=turbosio.Recovery() if recovery else None,
    )
    logs: dict[str, list[Any]] = defaultdict(list)
    tries: dict[str, int] = defaultdict(int)

    def common(on: Any) -> None:
        @on("echo")
        async def echo(socket: Any, *args: Any) -> tuple[Any, ...]:
            return args

        @on("relay")
        async def relay(socket: Any, event: str, *args: Any) -> None:
            socket.emit(event, *args)

        @on("whoami")
        async def whoami(socket: Any) -> dict[str, Any]:
            return {
                "id": socket.id,
                "nsp": socket.namespace,
                "auth": socket.handshake.auth,
                "engine": socket.conn.sid,
                "transport": socket.conn.transport,
                "header": socket.handshake.headers.get("x-peer"),
                "query": socket.handshake.query.get("peer"),
            }

        @on("ask")
        async def ask(socket: Any, event: str, *args: Any) -> None:
            answer = await socket.emit_with_ack(event, *args, timeout=5)
            if answer is None:
                answer = []
            elif isinstance(answer, tuple):
                answer = list(answer)
            else:
                answer = [answer]
            socket.emit("answer", answer)

        @on("kick")
        async def kick(socket: Any) -> None:
            socket.disconnect()

        @on("drop")
        async def drop(socket: Any) -> None:
            socket.conn.close()

        @on("seq")
        async def seq(socket: Any, key: str, i: Any) -> None:
            logs[key].append(i)
            socket.emit("seq", i)

        @on("log")
        async def log(socket: Any, key: str) -> list[Any]:
            return logs[key]

        @on("flaky")
        async def flaky(socket: Any, key: str, n: int) -> int | None:
            tries[key] += 1
            if tries[key] < n:
                await never.wait()  # no answer: the client must try again
            return tries[key]

        @on("tries")
        async def count(socket: Any, key: str) -> int:
            return tries[key]

        @on("later")
        async def later(socket: Any, event: str, delay: float) -> bool:
            asyncio.get_running_loop().call_later(delay, lambda: socket.emit(event, delay))
            return True

    common(sio.on)
    common(sio.of("/custom").on)

    async def refuse(socket: Any, auth: Any) -> None:
        raise turbosio.ConnectionRefused("refused by middleware", {"code": 4001, "retry": False})

    sio.of("/refused").use(refuse)

    async def check_token(socket: Any, auth: Any) -> None:
        if not (isinstance(auth, dict) and auth.get("token") == "secret"):
            raise turbosio.ConnectionRefused("invalid token", {"reason": "token mismatch"})

    guarded = sio.of("/guarded")
    guarded.use(check_token)
    common(guarded.on)
    return sio


async def _serve(args: argparse.Namespace) -> None:
    sio = build_server(args.ping_interval, args.ping_timeout, recovery=args.recovery)
    context = None
    if args.cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)
    handle = await sio.serve(host="127.0.0.1", port=args.port, ssl=context)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def wait_for_stdin() -> None:
        sys.stdin.read()
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=wait_for_stdin, daemon=True).start()
    print(json.dumps({"port": handle.port}), flush=True)
    await stop.wait()
    await handle.close(timeout=1)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ping-interval", type=float, default=25)
    parser.add_argument("--ping-timeout", type=float, default=20)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--recovery", action="store_true")
    asyncio.run(_serve(parser.parse_args()))
