"""Packet logging on demand: every Engine.IO packet of a session, at DEBUG on
``turbosio.packets``.

Sessions opened while that logger is enabled for DEBUG are :class:`LoggedSession` objects,
which log each packet in (``<``) and out (``>``) with the session id; the others are plain
sessions and pay nothing for the feature. So enable it before the clients you want to watch
connect::

    logging.getLogger("turbosio.packets").setLevel(logging.DEBUG)

Text packets longer than :data:`MAX_SHOWN` characters are cut; binary packets are shown by
size. Lines look like ``Sl3bTJ8f... > 42["chat","hi"]``.
"""

from __future__ import annotations

import logging

from .io import SharedMessage
from .session import Session

__all__ = ["MAX_SHOWN", "LoggedSession", "packet_logger"]

#: The logger packets go to.
packet_logger = logging.getLogger("turbosio.packets")

#: Characters of a text packet shown in a log line.
MAX_SHOWN = 300


def _shown(data: str | bytes) -> str:
    if isinstance(data, bytes):
        return f"<binary, {len(data)} bytes>"
    if len(data) > MAX_SHOWN:
        return f"{data[:MAX_SHOWN]}... ({len(data)} characters)"
    return data


class LoggedSession(Session):
    """A :class:`~turbosio.engineio.session.Session` that logs every packet it carries."""

    __slots__ = ()

    def write(self, packet: str) -> None:
        """Log, then queue one text packet."""
        packet_logger.debug("%s > %s", self.sid, _shown(packet))
        super().write(packet)

    def write_binary(self, data: bytes) -> None:
        """Log, then queue one binary packet."""
        packet_logger.debug("%s > %s", self.sid, _shown(data))
        super().write_binary(data)

    def write_shared(self, message: SharedMessage) -> None:
        """Log, then queue one shared packet."""
        packet_logger.debug("%s > %s", self.sid, _shown(message.data))
        super().write_shared(message)

    def on_ws_message(self, data: str | bytes) -> None:
        """Log, then handle a WebSocket message."""
        packet_logger.debug("%s < %s", self.sid, _shown(data))
        super().on_ws_message(data)

    def _on_text(self, data: str) -> bool:
        if self._ws is None:  # a polling packet (WebSocket ones were logged on arrival)
            packet_logger.debug("%s < %s", self.sid, _shown(data))
        return super()._on_text(data)
