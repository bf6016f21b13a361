"""The polling -> WebSocket upgrade: a probing WebSocket until it takes the session over.

The client, already talking over polling, opens a WebSocket with the session's sid and sends
``2probe``; we answer ``3probe`` and end the pending poll with a noop (``6``) so the client
can pause polling; the client then sends ``5`` and the WebSocket carries the session from
then on, starting with whatever polling had buffered. Any other packet on the probing
socket, its close, the session's close, or ``upgrade_timeout`` without ``5`` abandons the
attempt (the probing socket is closed; the session goes on over polling).

Where Node sends the noop on a 100 ms interval after the probe, we answer the pending poll
at once and every later poll of the upgrade window too (with a noop when nothing is
buffered): the client sees the same packets, sooner.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..protocol.engineio import PROBE_PING, PROBE_PONG, UPGRADE
from .io import WebSocket

if TYPE_CHECKING:
    from .session import Session

__all__ = ["Upgrade"]


class Upgrade:
    """One upgrade attempt: the probing WebSocket's handler and its timeout entry."""

    __slots__ = ("_timer_key", "probed", "session", "ws")

    def __init__(self, session: Session, ws: WebSocket) -> None:
        self.session = session
        self.ws = ws
        #: Whether "2probe" was answered (polls of the session are then ended with a noop).
        self.probed = False
        self._timer_key: int | None = None
        session._upgrade = self
        ws.set_handler(self)
        engine = session.engine
        engine._scheduler.schedule(self, engine._loop.time() + engine.upgrade_timeout)

    def on_ws_message(self, data: str | bytes) -> None:
        """A packet on the probing socket: "2probe", then "5"; anything else aborts."""
        if self.session._upgrade is not self:
            return  # abandoned; the socket is closing
        if data == PROBE_PING:
            self.ws.send_text(PROBE_PONG)
            self.probed = True
            self.session._on_probe()
        elif isinstance(data, str) and data[:1] == UPGRADE:
            self._detach()
            self.session._upgraded(self.ws)
        else:
            self.abort()

    def on_ws_close(self, code: int) -> None:
        """The probing socket went away: the session stays on polling."""
        self._detach()

    def _on_timer(self, now: float) -> None:
        # upgrade_timeout passed without "5".
        self.abort()

    def abort(self) -> None:
        """Give up the upgrade and close the probing socket."""
        if self.session._upgrade is self:
            self._detach()
            self.ws.close()

    def _detach(self) -> None:
        session = self.session
        session.engine._scheduler.cancel(self)
        if session._upgrade is self:
            session._upgrade = None
