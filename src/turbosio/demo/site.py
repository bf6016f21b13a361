"""The demo site: one server, four demos, each in its own namespace and module.

``create_server()`` serves the pages (``/``, ``/chat``, ``/quiz``, ``/whiteboard``,
``/dashboard``) and their scripts and styles (``/static/``) from this package, and attaches
each demo's handlers. The official JavaScript client is served by the Server itself at
``/socket.io/socket.io.js`` when an npm ``socket.io-client`` is found (``make demo`` arranges
it); otherwise the pages load it from the CDN.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from ..socketio import Server
from . import chat, dashboard, quiz, whiteboard

__all__ = ["PAGES", "STATIC_DIR", "create_server"]

#: The pages, scripts and styles, shipped inside the package (so an installed wheel has them).
STATIC_DIR = Path(str(resources.files("turbosio.demo") / "static"))

#: URL path -> page file in :data:`STATIC_DIR`.
PAGES = {
    "/": "index.html",
    "/chat": "chat.html",
    "/quiz": "quiz.html",
    "/whiteboard": "whiteboard.html",
    "/dashboard": "dashboard.html",
}


def create_server(
    *,
    question_seconds: float = 15,
    reveal_seconds: float = 4,
    metrics_interval: float = 1.0,
    **options: Any,
) -> Server:
    """A :class:`turbosio.Server` serving the demo site.

    ``question_seconds`` and ``reveal_seconds`` time the quiz, ``metrics_interval`` the
    dashboard's samples; ``options`` go to the Server (e.g. ``ping_interval=5``). Run it with
    ``create_server().run(port=5000)``, or ``turbosio demo``.
    """
    static: dict[str, str | Path] = {path: STATIC_DIR / name for path, name in PAGES.items()}
    static["/static/"] = STATIC_DIR
    options.setdefault("static_files", static)
    sio = Server(**options)
    watched = [
        chat.attach(sio),
        quiz.attach(sio, question_seconds=question_seconds, reveal_seconds=reveal_seconds),
        whiteboard.attach(sio),
    ]
    dashboard.attach(sio, watch=watched, interval=metrics_interval)
    return sio
