"""Connection state recovery settings (Node's ``connectionStateRecovery``)."""

from __future__ import annotations

from dataclasses import dataclass

from .reasons import DisconnectReason

__all__ = ["RECOVERABLE_REASONS", "Recovery"]


@dataclass(frozen=True, slots=True)
class Recovery:
    """Let a client that drops for a moment get its session and missed events back.

    ``max_disconnection_duration``: seconds a disconnected socket's session (id, rooms,
    ``data``) and the packets it may miss are kept. ``skip_middlewares``: a recovered socket
    does not go through the middlewares again. ``max_packets``: at most this many packets are
    kept per namespace (the oldest go first; a client whose last offset is older than what is
    kept gets a fresh session).
    """

    max_disconnection_duration: float = 120.0
    skip_middlewares: bool = True
    max_packets: int = 10_000


#: The disconnect reasons after which a session is kept (Node's list): the connection broke or
#: the server went away, as opposed to a deliberate disconnect.
RECOVERABLE_REASONS = frozenset(
    r.value
    for r in (
        DisconnectReason.TRANSPORT_ERROR,
        DisconnectReason.TRANSPORT_CLOSE,
        DisconnectReason.FORCED_CLOSE,
        DisconnectReason.PING_TIMEOUT,
        DisconnectReason.SERVER_SHUTTING_DOWN,
        DisconnectReason.FORCED_SERVER_CLOSE,
    )
)
