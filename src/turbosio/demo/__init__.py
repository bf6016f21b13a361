"""The demo site: ``turbosio demo`` (``make demo``) serves :func:`create_server`'s site.

An index at ``/`` links four demos, each a page and a short module that is also the
documentation's example (docs/demos.md):

* :mod:`~turbosio.demo.chat`: nicknames, rooms, history, "is typing", delivery acks;
* :mod:`~turbosio.demo.quiz`: a live quiz whose clock and scores the server drives;
* :mod:`~turbosio.demo.whiteboard`: a canvas every open page draws on together;
* :mod:`~turbosio.demo.dashboard`: the server's own metrics, pushed every second.
"""

from __future__ import annotations

from .site import PAGES, STATIC_DIR, create_server

#: The index page (kept for callers of the first, one-page demo).
INDEX_HTML = STATIC_DIR / "index.html"

__all__ = ["INDEX_HTML", "PAGES", "STATIC_DIR", "create_server"]
