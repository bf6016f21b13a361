"""Connection state recovery in memory: the sessions of disconnected sockets and the packets
they may have missed.

As Node's ``SessionAwareAdapter``: every EVENT broadcast without an ack id that is not volatile
gets an offset appended as its last argument and is kept, encoded, for
``max_disconnection_duration``; a socket that disconnects for a recoverable reason leaves its
session (id, private id, rooms, data). A client that reconnects with its private id and the last
offset it received gets its session back and the packets sent to its rooms since that offset.

Unlike Node, offsets are numbered (``"<boot>-<n>"``), so finding the client's offset is an index
computation rather than a scan, and the history is bounded by ``max_packets`` as well as by time.
Memory: one small tuple per kept packet plus its encoded text (shared with what was sent),
so roughly ``max_packets * (average packet size + 100 bytes)`` at most.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import deque
from dataclasses import dataclass, replace
from itertools import islice
from typing import Any

from ..engineio.io import SharedMessage
from ..protocol.socketio import Packet, PacketType
from .base import BroadcastOptions, NamespaceView
from .memory import InMemoryAdapter

__all__ = ["RecoveredSession", "SessionAwareAdapter"]


@dataclass(slots=True)
class RecoveredSession:
    """What a reconnecting client gets back."""

    sid: str
    pid: str
    rooms: list[str]
    data: Any
    #: The encoded packets the socket missed, oldest first.
    missed: list[list[SharedMessage]]


class SessionAwareAdapter(InMemoryAdapter):
    """The in-memory adapter, keeping what connection state recovery needs."""

    def __init__(
        self,
        nsp: NamespaceView,
        max_disconnection_duration: float = 120.0,
        max_packets: int = 10_000,
    ) -> None:
        super().__init__(nsp)
        self.max_disconnection_duration = max_disconnection_duration
        self.max_packets = max_packets
        self._boot = secrets.token_hex(4)
        self._seq = 0
        # (seq, emitted_at, rooms, except, messages), oldest first.
        self._packets: deque[
            tuple[int, float, frozenset[str], frozenset[str], list[SharedMessage]]
        ] = deque()
        # pid -> (disconnected_at, sid, rooms, data)
        self._sessions: dict[str, tuple[float, str, list[str], Any]] = {}
        self._sweeper: asyncio.TimerHandle | None = None

    # -- storing ---------------------------------------------------------------------------

    def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        """Broadcast, keeping EVENT packets without ack that are not volatile (with an offset)."""
        if packet.type != PacketType.EVENT or packet.id is not None or opts.flags.volatile:
            super().broadcast(packet, opts)
            return
        self._seq += 1
        offset = f"{self._boot}-{self._seq}"
        packet = replace(packet, data=[*packet.data, offset])
        messages = self.nsp._encode_shared(packet)
        packets = self._packets
        packets.append((self._seq, time.monotonic(), opts.rooms, opts.except_, messages))
        if len(packets) > self.max_packets:
            packets.popleft()
        self._ensure_sweeper()
        for socket in self._select(opts):
            socket._deliver(messages)

    def persist_session(self, sid: str, pid: str, rooms: list[str], data: Any) -> None:
        """Keep a disconnected socket's session for ``max_disconnection_duration``."""
        self._sessions[pid] = (time.monotonic(), sid, rooms, data)
        self._ensure_sweeper()

    # -- restoring -------------------------------------------------------------------------

    def restore_session(self, pid: str, offset: str) -> RecoveredSession | None:
        """The session of ``pid`` and what it missed after ``offset``; None if it cannot be
        restored (unknown or expired session, offset unknown or too old)."""
        entry = self._sessions.pop(pid, None)
        if entry is None:
            return None
        disconnected_at, sid, rooms, data = entry
        if disconnected_at + self.max_disconnection_duration < time.monotonic():
            return None
        boot, _, number = offset.partition("-")
        if boot != self._boot or not number.isdigit():
            return None
        seq = int(number)
        packets = self._packets
        first = packets[0][0] if packets else self._seq + 1
        if seq > self._seq or seq < first - 1:
            # Not ours, or older than the history we keep: what was missed cannot be told.
            return None
        start = seq - first + 1
        room_set = set(rooms)
        missed: list[list[SharedMessage]] = []
        for _, _, to, except_, messages in islice(packets, start, None):
            if (not to or not room_set.isdisjoint(to)) and room_set.isdisjoint(except_):
                missed.append(messages)
        return RecoveredSession(sid, pid, rooms, data, missed)

    # -- expiry ------------------------------------------------------------------------------

    def _ensure_sweeper(self) -> None:
        if self._sweeper is None:
            period = min(60.0, max(self.max_disconnection_duration / 2, 0.05))
            self._sweeper = asyncio.get_running_loop().call_later(period, self._sweep)

    def _sweep(self) -> None:
        self._sweeper = None
        threshold = time.monotonic() - self.max_disconnection_duration
        for pid in [p for p, s in self._sessions.items() if s[0] < threshold]:
            del self._sessions[pid]
        packets = self._packets
        while packets and packets[0][1] < threshold:
            packets.popleft()
        if self._sessions or packets:
            self._ensure_sweeper()

    def close(self) -> None:
        """Stop the expiry timer and drop what is kept."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        self._sessions.clear()
        self._packets.clear()
