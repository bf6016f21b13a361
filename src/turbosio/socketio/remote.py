"""Sockets of other servers, as ``fetch_sockets()`` returns them with a cluster adapter."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .broadcast import BroadcastOperator

if TYPE_CHECKING:
    from ..adapters.cluster import SocketDetails
    from .namespace import Namespace

__all__ = ["RemoteSocket", "handshake_from_dict"]

_FIELDS = ("headers", "query", "auth", "address", "time", "issued", "url", "secure", "xdomain")


def handshake_from_dict(raw: Mapping[str, Any]) -> Any:
    """A :class:`turbosio.Handshake` from Node's handshake object (unknown keys in ``extra``)."""
    from .socket import Handshake

    def mapping(value: Any) -> dict[str, Any]:
        return dict(value) if isinstance(value, Mapping) else {}

    issued = raw.get("issued")
    return Handshake(
        headers=mapping(raw.get("headers")),
        query=mapping(raw.get("query")),
        auth=mapping(raw.get("auth")),
        address=str(raw.get("address") or ""),
        time=str(raw.get("time") or ""),
        issued=int(issued) if isinstance(issued, (int, float)) else 0,
        url=str(raw.get("url") or ""),
        secure=bool(raw.get("secure")),
        xdomain=bool(raw.get("xdomain")),
        extra={k: v for k, v in raw.items() if k not in _FIELDS},
    )


class RemoteSocket:
    """A socket connected to another server of the cluster (Node's ``RemoteSocket``).

    ``id``, ``handshake``, ``rooms`` and ``data`` are what that server reported when
    ``fetch_sockets()`` asked (a snapshot); ``emit``, ``join``, ``leave`` and ``disconnect``
    travel through the adapter to the server that holds the socket.
    """

    __slots__ = ("_nsp", "_timeout", "data", "handshake", "id", "rooms")

    def __init__(self, nsp: Namespace, details: SocketDetails, timeout: float | None = None):
        self._nsp = nsp
        self._timeout = timeout
        #: The socket's id.
        self.id: str = details.id
        #: Its handshake, as its server saw it.
        self.handshake = handshake_from_dict(details.handshake)
        #: Its rooms when fetched (its own id included).
        self.rooms: set[str] = set(details.rooms)
        #: Its ``socket.data`` when fetched (JSON values).
        self.data: Any = details.data

    def __repr__(self) -> str:
        return f"<RemoteSocket {self.id} {self._nsp.name}>"

    @property
    def namespace(self) -> str:
        """The namespace's name."""
        return self._nsp.name

    def _operator(self) -> BroadcastOperator:
        return BroadcastOperator(self._nsp, frozenset((self.id,)))

    def timeout(self, seconds: float) -> RemoteSocket:
        """The same socket, with ``seconds`` as the default timeout of :meth:`emit_with_ack`."""
        clone = RemoteSocket.__new__(RemoteSocket)
        clone._nsp = self._nsp
        clone._timeout = seconds
        clone.id, clone.handshake, clone.rooms, clone.data = (
            self.id,
            self.handshake,
            self.rooms,
            self.data,
        )
        return clone

    def emit(self, event: str, *args: Any) -> None:
        """Send ``event`` to this socket."""
        self._operator().emit(event, *args)

    async def emit_with_ack(self, event: str, *args: Any, timeout: float | None = None) -> Any:
        """Send ``event`` and wait for the client's acknowledgement (its first argument, as
        Node forwards it between servers; ``None`` if the socket is gone).

        Raises :class:`turbosio.AckTimeout` after ``timeout`` seconds (or the :meth:`timeout`
        given before).
        """
        if timeout is None:
            timeout = self._timeout
        replies = await self._operator().emit_with_ack(event, *args, timeout=timeout)
        return replies[0] if replies else None

    def join(self, room: str | Iterable[str]) -> None:
        """Make this socket join ``room``."""
        self._operator().sockets_join(room)

    def leave(self, room: str) -> None:
        """Make this socket leave ``room``."""
        self._operator().sockets_leave(room)

    def disconnect(self, close: bool = False) -> None:
        """Disconnect this socket (its whole connection when ``close``)."""
        self._operator().disconnect_sockets(close)
