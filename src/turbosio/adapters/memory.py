"""The in-memory adapter: rooms of one process, broadcasts encoded once.

Rooms are two dicts, room -> set of socket ids and socket id -> set of rooms, so joining,
leaving and disconnecting touch only the rooms concerned, never all rooms. A broadcast is
encoded (and, by the embedded server, framed) once, then the same bytes go to every recipient.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ..protocol.socketio import Packet
from .base import BroadcastOptions, NamespaceView

__all__ = ["InMemoryAdapter"]


class InMemoryAdapter:
    """Rooms and broadcasts within one process (the default adapter)."""

    def __init__(self, nsp: NamespaceView) -> None:
        self.nsp = nsp
        #: room -> socket ids
        self.rooms: dict[str, set[str]] = {}
        #: socket id -> rooms
        self.sids: dict[str, set[str]] = {}

    # -- membership ------------------------------------------------------------------------

    def add_all(self, sid: str, rooms: Iterable[str]) -> None:
        """Put socket ``sid`` in each of ``rooms``."""
        mine = self.sids.get(sid)
        if mine is None:
            mine = self.sids[sid] = set()
        for room in rooms:
            mine.add(room)
            members = self.rooms.get(room)
            if members is None:
                self.rooms[room] = {sid}
            else:
                members.add(sid)

    def delete(self, sid: str, room: str) -> None:
        """Take socket ``sid`` out of ``room``."""
        mine = self.sids.get(sid)
        if mine is not None:
            mine.discard(room)
        self._leave(sid, room)

    def delete_all(self, sid: str) -> None:
        """Take socket ``sid`` out of every room (it disconnected)."""
        mine = self.sids.pop(sid, None)
        if mine:
            for room in mine:
                self._leave(sid, room)

    def _leave(self, sid: str, room: str) -> None:
        members = self.rooms.get(room)
        if members is not None:
            members.discard(sid)
            if not members:
                del self.rooms[room]

    def socket_rooms(self, sid: str) -> set[str]:
        """The rooms socket ``sid`` is in (the live set: copy it before changing rooms)."""
        return self.sids.get(sid) or set()

    # -- selecting sockets -------------------------------------------------------------------

    def _select(self, opts: BroadcastOptions) -> Iterator[Any]:
        sockets = self.nsp.sockets
        excluded: set[str] = set()
        for room in opts.except_:
            members = self.rooms.get(room)
            if members:
                excluded |= members
        if not opts.rooms:
            for sid, socket in list(sockets.items()):
                if sid not in excluded:
                    yield socket
            return
        if len(opts.rooms) == 1:
            (room,) = opts.rooms
            for sid in list(self.rooms.get(room, ())):
                if sid not in excluded:
                    socket = sockets.get(sid)
                    if socket is not None:
                        yield socket
            return
        seen: set[str] = set()
        for room in opts.rooms:
            for sid in list(self.rooms.get(room, ())):
                if sid in seen or sid in excluded:
                    continue
                seen.add(sid)
                socket = sockets.get(sid)
                if socket is not None:
                    yield socket

    def sockets(self, rooms: Iterable[str] = ()) -> set[str]:
        """Ids of the connected sockets in any of ``rooms`` (all sockets when empty)."""
        return {s.id for s in self._select(BroadcastOptions(rooms=frozenset(rooms)))}

    # -- broadcasting ------------------------------------------------------------------------

    def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        """Send ``packet`` to every selected socket, encoded once.

        A volatile packet skips the sockets whose connection is not writable (a slow reader,
        a polling client between two polls), as Node's ``volatile`` does.
        """
        messages = self.nsp._encode_shared(packet)
        if opts.flags.volatile:
            for socket in self._select(opts):
                socket._deliver(messages, True)
            return
        if not opts.rooms and not opts.except_:
            # Everyone in the namespace: no room to look up, no one to leave out.
            for socket in list(self.nsp.sockets.values()):
                socket._deliver(messages)
            return
        for socket in self._select(opts):
            socket._deliver(messages)

    def broadcast_with_ack(
        self,
        packet: Packet,
        opts: BroadcastOptions,
        client_count: Callable[[int], None],
        ack: Callable[[list[Any]], None],
    ) -> None:
        """Send ``packet`` (which carries an ack id) and route each client's reply to ``ack``.

        ``client_count`` is called once with the number of sockets the packet went to.
        """
        assert packet.id is not None
        messages = self.nsp._encode_shared(packet)
        count = 0
        for socket in self._select(opts):
            socket._expect_ack(packet.id, ack)
            socket._deliver(messages)
            count += 1
        client_count(count)

    # -- operations on selected sockets --------------------------------------------------------

    def add_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        """Make the selected sockets join ``rooms``."""
        rooms = list(rooms)
        for socket in list(self._select(opts)):
            self.add_all(socket.id, rooms)

    def del_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        """Make the selected sockets leave ``rooms``."""
        rooms = list(rooms)
        for socket in list(self._select(opts)):
            for room in rooms:
                self.delete(socket.id, room)

    def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None:
        """Disconnect the selected sockets (and their whole connection when ``close``)."""
        for socket in list(self._select(opts)):
            socket.disconnect(close)

    async def fetch_sockets(self, opts: BroadcastOptions) -> list[Any]:
        """The selected sockets."""
        return list(self._select(opts))

    async def server_count(self) -> int:
        """How many servers share this adapter (1: only this one)."""
        return 1

    def close(self) -> None:
        """Release what the adapter holds (nothing, in memory)."""
