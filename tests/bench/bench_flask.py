"""Micro-benchmark of one event through the Flask-SocketIO API (``turbosio.flask``).

The seed app's handler, ``emit("response", {"msg": data}, broadcast=True)``, run inline
(``async_handlers=False``) on an in-memory engine session: what is measured is the Flask
side of an event (its request context, built from the connection's, pushed and popped, and
the context function ``emit``) on top of the core dispatch of ``bench_dispatch.py``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from flask import Flask
from turbosio.flask import SocketIO, emit

from .bench_dispatch import PAYLOAD, MemorySession


def test_seed_handler_broadcast(benchmark: Any) -> None:
    """``42["message",{...}]`` in, ``42["response",{"msg":{...}}]`` out to everyone."""
    app = Flask(__name__)
    socketio = SocketIO(app, async_handlers=False)

    @socketio.on("message")
    def handle_message(data: Any) -> None:
        emit("response", {"msg": data}, broadcast=True)

    sio = socketio.server
    message = '2["message",' + PAYLOAD + "]"

    async def main() -> None:
        # On a running loop, as under the server (a connection's join timer needs one).
        sio._bind_loop()
        session = MemorySession("s1")
        sio.engine_open(session)
        sio.engine_message(session, "0")
        assert session.sent and session.sent[0].startswith("40{"), session.sent
        session.sent.clear()

        def one() -> None:
            sio.engine_message(session, message)
            session.sent.clear()

        benchmark(one)
        sio.engine_message(session, message)
        assert session.sent == ['42["response",{"msg":' + PAYLOAD + "}]"]

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
