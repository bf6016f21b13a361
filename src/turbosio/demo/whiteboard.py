"""The collaborative whiteboard demo (namespace ``/whiteboard``, page ``/whiteboard``).

A page sends what its pen drew as ``draw`` events, each a batch of line segments
``[x0, y0, x1, y1, color, width]`` with coordinates from 0 to 1 (so canvases of any size agree);
the server keeps them and passes each batch on to every other page. A page that connects gets
the whole drawing as ``history``. ``clear`` empties it for everyone. ``people`` tells every
page how many are drawing.
"""

from __future__ import annotations

import re
from collections import deque
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..socketio import Namespace, Server, Socket

__all__ = ["attach"]

_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
#: Segments in one ``draw`` event at most: a page sends one batch per animation frame.
MAX_BATCH = 500


def _segment(item: Any) -> list[Any] | None:
    """``item`` as a valid segment, or None: what one page sends, all the others draw."""
    if not isinstance(item, list) or len(item) != 6:
        return None
    *coords, color, width = item
    if not all(isinstance(c, (int, float)) and 0 <= c <= 1 for c in coords):
        return None
    if not isinstance(color, str) or not _COLOR.fullmatch(color):
        return None
    if not isinstance(width, (int, float)) or not 0 < width <= 0.1:
        return None
    return item


def attach(sio: Server, max_segments: int = 50_000) -> Namespace:
    """Add the whiteboard's handlers to ``sio`` (namespace ``/whiteboard``).

    The drawing keeps its last ``max_segments`` segments. Returns the namespace.
    """
    board = sio.of("/whiteboard")
    drawing: deque[list[Any]] = deque(maxlen=max_segments)

    @board.on("connect")
    async def connect(socket: Socket) -> None:
        socket.emit("history", list(drawing))
        board.emit("people", len(board.sockets))

    @board.on("draw")
    async def draw(socket: Socket, batch: Any) -> None:
        if not isinstance(batch, list):
            return
        segments = [s for s in map(_segment, batch[:MAX_BATCH]) if s is not None]
        if segments:
            drawing.extend(segments)
            socket.broadcast.emit("draw", segments)  # the sender has drawn them already

    @board.on("clear")
    async def clear(socket: Socket) -> None:
        drawing.clear()
        board.emit("clear")

    @board.on("disconnect")
    async def disconnect(socket: Socket) -> None:
        board.emit("people", len(board.sockets))

    return board
