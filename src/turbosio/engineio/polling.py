"""HTTP long-polling requests on an existing session: GET (receive) and POST (send).

A GET is held until the session has something to send: the buffer, a ping, a noop while
upgrading, or the close packet. One GET at a time: a second one while the first is held is a
client bug, answered 400, and the session ends with "transport error" (the held GET gets the
close packet ``1``), as in Node.

A POST carries a payload of packets separated by ``\\x1e``. Its packets are handled in order
until one does not decode (the session then ends with "parse error" and the POST gets 400),
and it is answered ``ok`` (``text/html``, as Node does to keep old browsers from offering a
download). Binary bodies (``application/octet-stream``) are not Engine.IO v4: 400 and
"transport error". A body over ``max_http_buffer_size`` gets 413 (the front end normally
refuses it before we see it).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from ..protocol.engineio import CLOSE, NOOP, SEPARATOR
from .io import Request
from .session import _CLOSED, _CLOSING, _OPEN

if TYPE_CHECKING:
    from .session import Session

__all__ = ["handle_poll", "handle_post"]

_OK_HEADERS = (("Content-Type", "text/html"), ("Cache-Control", "no-store"))


def handle_poll(session: Session, req: Request) -> None:
    """A GET on a polling session: answer now if there is something to send, else hold it."""
    engine = session.engine
    if session._poll is not None:
        engine._respond(req, 400, [], b"")
        session._finish("transport error")
        return
    session._poll = req
    if session._state == _CLOSING:
        # A graceful close was waiting for this poll: deliver what is left, or else the close
        # packet (never both in one payload: see Session.close).
        if not session._buffer:
            session._buffer.append(CLOSE)
            session._flush_poll()
            session._finish(session._close_reason)
        else:
            session._flush_poll()
        return
    if session._buffer:
        session._flush_poll()
        return
    upgrade = session._upgrade
    if upgrade is not None and upgrade.probed:
        # The client is switching to WebSocket: end this poll so it can pause polling.
        session._poll = None
        engine._respond_poll(req, NOOP)
        return
    req.on_disconnect(partial(session._on_poll_gone, req))


def handle_post(session: Session, req: Request) -> None:
    """A POST on a polling session: decode and dispatch its packets, answer ``ok``."""
    engine = session.engine
    content_type = req.headers.get("content-type", "")
    if (
        not content_type.startswith("text/plain")  # what every client sends, as a quick test
        and content_type.split(";", 1)[0].strip().lower() == "application/octet-stream"
    ):
        engine._respond(req, 400, [], b"")
        session._finish("transport error")
        return
    body = req.body
    if len(body) > engine.max_http_buffer_size:
        engine._respond(req, 413, [], b"")
        return
    # As Node's setEncoding("utf8"): invalid sequences become U+FFFD rather than an error.
    text = body.decode("utf-8", "replace")
    if session._state == _OPEN:
        on_text = session._on_text
        for item in text.split(SEPARATOR):
            # A packet that does not decode closes the session ("parse error"); Node still
            # answers the POST with "ok".
            if not on_text(item) or session._state == _CLOSED:
                break
    engine._respond(req, 200, list(_OK_HEADERS), b"ok")
