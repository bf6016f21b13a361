"""What one client may cost the embedded server: timeouts, sizes, connection count.

A client that is slow or hostile must not hurt the others. The embedded server enforces:

* ``request_timeout``: a request must arrive whole (headers and body) within this many seconds
  of its first byte, or of the connection's opening for the first request. A slow-loris client
  that trickles its headers gets ``408`` and is closed; one that opens a connection and sends
  nothing is closed.
* ``keep_alive_timeout``: an idle keep-alive connection (no request being read, none being
  answered) is closed after this many seconds. A held long-poll is not idle.
* ``max_connections``: past this many open connections (HTTP and WebSocket), a new connection
  gets ``503`` and is closed at once (``None``: no limit but the process's file descriptors).
* ``max_header_size``: request header names and values together past this many bytes: ``431``.
* The outbound buffer: an application option (``turbosio.Server(outbound_high_water=,
  max_outbound_buffer=)``), since the engine bounds what it keeps for polling clients too.
  Past the high-water mark a connection is not *writable* (volatile packets are dropped), past
  the hard limit it is closed with one log line.

Timeouts are checked by one timer per listening server, about four times per smallest
timeout (at most once a second), never by a timer per connection; a deadline is kept to
within that resolution.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DEFAULT_HIGH_WATER",
    "DEFAULT_MAX_OUTBOUND",
    "Limits",
]

#: Default high-water mark of a connection's outbound buffer (bytes): past it, not writable.
DEFAULT_HIGH_WATER = 64 * 1024
#: Default hard limit of a connection's outbound buffer (bytes): past it, the client is closed.
DEFAULT_MAX_OUTBOUND = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """The embedded server's limits (see the module docstring for what each one does).

    Pass one to ``turbosio.Server.run(limits=...)``, ``Server.serve(limits=...)`` or
    :func:`turbosio.server.serve`. Every value is checked here, so a typo fails at start-up.
    """

    request_timeout: float = 30.0
    keep_alive_timeout: float = 60.0
    max_connections: int | None = None
    max_header_size: int = 64 * 1024

    def __post_init__(self) -> None:
        for name in ("request_timeout", "keep_alive_timeout"):
            value = getattr(self, name)
            if not value > 0:
                raise ValueError(f"Limits.{name} must be a positive number of seconds")
        if self.max_connections is not None and self.max_connections < 1:
            raise ValueError("Limits.max_connections must be None or at least 1")
        if self.max_header_size < 1024:
            raise ValueError("Limits.max_header_size must be at least 1024 bytes")

    @property
    def tick(self) -> float:
        """Seconds between two checks of the deadlines."""
        return min(1.0, self.request_timeout / 4, self.keep_alive_timeout / 4)
