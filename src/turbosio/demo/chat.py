"""The demo chat: one event in, broadcast to everyone, and the page that drives it."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..socketio.server import Server

__all__ = ["INDEX_HTML", "create_server"]

#: The demo page, shipped inside the package (so it works from an installed wheel).
INDEX_HTML = Path(str(resources.files("turbosio.demo") / "static" / "index.html"))


def create_server(**options: Any) -> Server:
    """A :class:`turbosio.Server` serving the demo page at ``/`` and its ``message`` handler.

    ``options`` go to the Server (e.g. ``ping_interval=5``). Run it with
    ``create_server().run(port=5000)``, or ``turbosio demo``.
    """
    from ..socketio.server import Server

    options.setdefault("static_files", {"/": INDEX_HTML})
    sio = Server(**options)

    async def message(socket: Any, data: Any = None) -> None:
        # Everyone hears it, the sender included: the page shows what the server saw.
        sio.emit("response", {"msg": data})

    sio.on("message", message)
    return sio
