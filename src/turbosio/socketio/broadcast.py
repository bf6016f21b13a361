"""Broadcast operators: ``to``, ``in_``, ``except_``, ``volatile``, ``local``, ``timeout``.

Each operator returns a new object; none mutates. ``emit`` encodes the packet once and hands
it to the namespace's adapter, which writes the same bytes to every recipient.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any

from ..adapters.base import BroadcastFlags, BroadcastOptions
from ..exceptions import AckTimeout
from ..protocol.socketio import Packet, PacketType
from .reasons import RESERVED_EVENTS

if TYPE_CHECKING:
    from .namespace import Namespace

__all__ = ["BroadcastOperator", "ack_value", "broadcast_event"]


def ack_value(values: tuple[Any, ...] | list[Any]) -> Any:
    """An acknowledgement's arguments as one value: None, the single value, or a tuple."""
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return tuple(values)


def _expire(done: asyncio.Future[None], responses: list[Any]) -> None:
    if not done.done():
        done.set_exception(AckTimeout(responses=list(responses)))


def _names(room: str | Iterable[str]) -> frozenset[str]:
    return frozenset((room,)) if isinstance(room, str) else frozenset(room)


#: Shared by every plain broadcast (both are immutable).
_NO_FLAGS = BroadcastFlags()
_EVERYONE = BroadcastOptions(flags=_NO_FLAGS)


def broadcast_event(
    nsp: Namespace, event: str, args: tuple[Any, ...], opts: BroadcastOptions = _EVERYONE
) -> None:
    """Send ``event`` with ``args`` to the sockets of ``nsp`` that ``opts`` selects (every
    one by default). Safe to call from another thread (it is then handed to the loop)."""
    server = nsp.server
    if server._foreign_thread():
        server._call_soon_threadsafe(partial(broadcast_event, nsp, event, args, opts))
        return
    if event in RESERVED_EVENTS:
        raise ValueError(f'"{event}" is a reserved event name: choose another one')
    nsp.adapter.broadcast(Packet(PacketType.EVENT, nsp.name, [event, *args]), opts)


class BroadcastOperator:
    """A selection of sockets in one namespace, and what can be done to them."""

    __slots__ = ("_except", "_flags", "_nsp", "_rooms")

    def __init__(
        self,
        nsp: Namespace,
        rooms: frozenset[str] = frozenset(),
        except_: frozenset[str] = frozenset(),
        flags: BroadcastFlags | None = None,
    ) -> None:
        self._nsp = nsp
        self._rooms = rooms
        self._except = except_
        self._flags = flags or _NO_FLAGS

    def _options(self) -> BroadcastOptions:
        if self._flags is _NO_FLAGS and not self._rooms and not self._except:
            return _EVERYONE
        return BroadcastOptions(self._rooms, self._except, self._flags)

    # -- operators (each returns a new object) -----------------------------------------------

    def to(self, room: str | Iterable[str]) -> BroadcastOperator:
        """Also target ``room`` (rooms add up: the union is targeted)."""
        return BroadcastOperator(self._nsp, self._rooms | _names(room), self._except, self._flags)

    def in_(self, room: str | Iterable[str]) -> BroadcastOperator:
        """Same as :meth:`to`."""
        return self.to(room)

    def except_(self, room: str | Iterable[str]) -> BroadcastOperator:
        """Leave out the sockets in ``room`` (a socket id is a room too)."""
        return BroadcastOperator(self._nsp, self._rooms, self._except | _names(room), self._flags)

    @property
    def volatile(self) -> BroadcastOperator:
        """The packet may be dropped for clients that are not ready to receive it."""
        return BroadcastOperator(
            self._nsp, self._rooms, self._except, replace(self._flags, volatile=True)
        )

    @property
    def local(self) -> BroadcastOperator:
        """Only the sockets of this server (matters with a cluster adapter)."""
        return BroadcastOperator(
            self._nsp, self._rooms, self._except, replace(self._flags, local=True)
        )

    def compress(self, compress: bool) -> BroadcastOperator:
        """Kept for Node's API; turbosio does not compress messages yet."""
        return BroadcastOperator(
            self._nsp, self._rooms, self._except, replace(self._flags, compress=compress)
        )

    def timeout(self, seconds: float) -> BroadcastOperator:
        """Wait at most ``seconds`` for acknowledgements in :meth:`emit_with_ack`."""
        return BroadcastOperator(
            self._nsp, self._rooms, self._except, replace(self._flags, timeout=seconds)
        )

    # -- actions -----------------------------------------------------------------------------

    def emit(self, event: str, *args: Any) -> None:
        """Send ``event`` to every selected socket. Safe to call from another thread."""
        broadcast_event(self._nsp, event, args, self._options())

    def send(self, *args: Any) -> None:
        """Emit a ``"message"`` event."""
        self.emit("message", *args)

    async def emit_with_ack(
        self, event: str, *args: Any, timeout: float | None = None
    ) -> list[Any]:
        """Send ``event`` and collect every client's acknowledgement.

        Returns the list of replies (each one value, or a tuple when a client sent several;
        clients of other servers give their first value only, as in Node). The timeout (the
        argument, else the :meth:`timeout` operator; none by default) raises
        :class:`turbosio.AckTimeout` carrying the replies that did arrive.
        """
        if event in RESERVED_EVENTS:
            raise ValueError(f'"{event}" is a reserved event name: choose another one')
        if timeout is None:
            timeout = self._flags.timeout
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        responses: list[Any] = []
        # Complete when every server of the cluster (one without a cluster adapter) has told
        # how many clients it sent the packet to, and that many replies came.
        # [clients expected, servers that reported, servers expected (None: not known yet)]
        expected: list[Any] = [0, 0, None]

        def check() -> None:
            if (
                expected[2] is not None
                and expected[1] >= expected[2]
                and len(responses) >= expected[0]
                and not done.done()
            ):
                done.set_result(None)

        def on_count(count: int) -> None:
            expected[0] += count
            expected[1] += 1
            check()

        def on_ack(*values: Any) -> None:
            responses.append(ack_value(values))
            check()

        nsp = self._nsp
        packet = Packet(PacketType.EVENT, nsp.name, [event, *args], nsp._next_ack_id())
        opts = self._options()
        nsp.adapter.broadcast_with_ack(packet, opts, on_count, on_ack)
        handle = None if timeout is None else loop.call_later(timeout, _expire, done, responses)
        try:
            if opts.flags.local:
                expected[2] = 1
            else:
                expected[2] = await nsp.adapter.server_count()
            check()
            await done
        finally:
            if handle is not None:
                handle.cancel()
        return responses

    def _elsewhere(self, method: Any, *args: Any) -> bool:
        # Called from another thread (a sync handler, a Flask view): hand it to the loop.
        server = self._nsp.server
        if server._foreign_thread():
            server._call_soon_threadsafe(partial(method, *args))
            return True
        return False

    def sockets_join(self, room: str | Iterable[str]) -> None:
        """Make the selected sockets join ``room``. Safe to call from another thread."""
        if not self._elsewhere(self.sockets_join, room):
            self._nsp.adapter.add_sockets(self._options(), _names(room))

    def sockets_leave(self, room: str | Iterable[str]) -> None:
        """Make the selected sockets leave ``room``. Safe to call from another thread."""
        if not self._elsewhere(self.sockets_leave, room):
            self._nsp.adapter.del_sockets(self._options(), _names(room))

    def disconnect_sockets(self, close: bool = False) -> None:
        """Disconnect the selected sockets (their whole connection when ``close``). Safe to
        call from another thread."""
        if not self._elsewhere(self.disconnect_sockets, close):
            self._nsp.adapter.disconnect_sockets(self._options(), close)

    async def fetch_sockets(self) -> list[Any]:
        """The selected sockets: this server's :class:`turbosio.Socket` objects and, with a
        cluster adapter, a :class:`turbosio.RemoteSocket` for each socket of another server."""
        from ..adapters.cluster import SocketDetails
        from .remote import RemoteSocket

        found = await self._nsp.adapter.fetch_sockets(self._options())
        return [
            RemoteSocket(self._nsp, item) if isinstance(item, SocketDetails) else item
            for item in found
        ]
