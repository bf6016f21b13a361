"""The adapter interface: where rooms live and how broadcasts reach sockets.

Each namespace has one adapter. The in-memory adapter (:class:`turbosio.adapters.memory.
InMemoryAdapter`) is the default; cluster adapters (Redis) extend it and forward to other
servers. An adapter reaches sockets only through the narrow :class:`NamespaceView` below,
never through the server object.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..engineio.io import SharedMessage
    from ..protocol.socketio import Packet

__all__ = ["AdapterFactory", "BroadcastFlags", "BroadcastOptions", "NamespaceView", "Recipient"]


@dataclass(frozen=True, slots=True)
class BroadcastFlags:
    """Flags of a broadcast, as Node names them."""

    volatile: bool = False
    local: bool = False
    compress: bool = True
    #: Seconds to wait for acknowledgements (broadcast with ack), or None.
    timeout: float | None = None


@dataclass(frozen=True, slots=True)
class BroadcastOptions:
    """Who a broadcast goes to: the union of ``rooms`` (everyone when empty) minus the sockets
    in any room of ``except_``."""

    rooms: frozenset[str] = frozenset()
    except_: frozenset[str] = frozenset()
    flags: BroadcastFlags = field(default_factory=BroadcastFlags)


class Recipient(Protocol):
    """What an adapter needs of a socket."""

    id: str

    def _deliver(self, messages: list[SharedMessage], volatile: bool = False) -> None: ...

    def _expect_ack(self, ack_id: int, callback: Callable[..., None]) -> None: ...


class NamespaceView(Protocol):
    """What an adapter needs of its namespace."""

    name: str

    @property
    def sockets(self) -> Mapping[str, Any]: ...

    def _encode_shared(self, packet: Packet) -> list[SharedMessage]: ...

    def _next_ack_id(self) -> int: ...


#: Called once per namespace to create its adapter; a class such as InMemoryAdapter fits.
AdapterFactory = Callable[[Any], Any]
