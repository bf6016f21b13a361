"""One timer for a whole engine: heartbeats, ping timeouts, upgrade and close timeouts.

A server with 100k sessions must not own 100k timer handles: each costs memory and every
re-arm costs a heap operation in the event loop. Instead every timed thing (an "entry": a
session, an upgrade attempt) sits in a bucket keyed by its deadline quantized to a resolution
``R``, and the engine keeps ONE ``loop.call_at`` handle, armed for the earliest non-empty
bucket. When it fires, every entry in every due bucket gets ``_on_timer(now)``.

Design rules:

* Deadlines are rounded DOWN to their bucket, so a timer fires up to ``R`` early and never
  late: a ping timeout is reported within ``ping_interval + ping_timeout`` of the last sign of
  life, which is what clients (and the official test suite) count on.
* Each entry is in at most one bucket; re-scheduling moves it (a set removal and a set add).
* A bucket emptied by a cancel is left in the heap and skipped when reached (lazy deletion),
  so cancelling never touches the heap or the loop's handle.
* No entries, no handle: an idle engine schedules nothing.
"""

from __future__ import annotations

import asyncio
import heapq
import math
from typing import Protocol

__all__ = ["Scheduler", "TimerEntry", "resolution_for"]

# Marks an entry taken out of a due bucket and not yet called; a cancel or re-schedule by an
# earlier callback of the same round replaces it, and then the entry is not called.
_DUE = -(2**62)


class TimerEntry(Protocol):
    """Something the :class:`Scheduler` can time; it keeps its bucket key in ``_timer_key``."""

    _timer_key: int | None

    def _on_timer(self, now: float) -> None:
        """The entry's deadline has come (``now`` is the loop's time)."""


def resolution_for(ping_interval: float, ping_timeout: float) -> float:
    """The bucket width for an engine: a tenth of the shorter period, within [5 ms, 1 s]."""
    return min(max(min(ping_interval, ping_timeout) / 10.0, 0.005), 1.0)


class Scheduler:
    """Buckets of entries keyed by quantized deadline, driven by one loop timer.

    ``schedule(entry, deadline)`` (re)places an entry, ``cancel(entry)`` removes it. Both are
    O(1) except when a bucket earlier than every other appears, which re-arms the handle.
    """

    __slots__ = ("_armed_key", "_buckets", "_handle", "_heap", "_loop", "_resolution")

    def __init__(self, loop: asyncio.AbstractEventLoop, resolution: float) -> None:
        self._loop = loop
        self._resolution = resolution
        self._buckets: dict[int, set[TimerEntry]] = {}
        # Keys that had a bucket when pushed; stale keys are skipped when popped.
        self._heap: list[int] = []
        self._handle: asyncio.TimerHandle | None = None
        self._armed_key: int | None = None

    @property
    def resolution(self) -> float:
        """The bucket width, in seconds."""
        return self._resolution

    def __len__(self) -> int:
        return sum(len(bucket) for bucket in self._buckets.values())

    @property
    def armed(self) -> bool:
        """Whether the loop timer is set (false when nothing is scheduled and it fired)."""
        return self._handle is not None

    def schedule(self, entry: TimerEntry, deadline: float) -> None:
        """Call ``entry._on_timer`` at ``deadline`` (loop time), rounded down to the bucket."""
        key = math.floor(deadline / self._resolution)
        old = entry._timer_key
        if old == key:
            return
        if old is not None:
            bucket = self._buckets.get(old)
            if bucket is not None:
                bucket.discard(entry)
                if not bucket:
                    del self._buckets[old]
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = set()
            heapq.heappush(self._heap, key)
        bucket.add(entry)
        entry._timer_key = key
        armed = self._armed_key
        if armed is None or key < armed:
            self._arm(key)

    def cancel(self, entry: TimerEntry) -> None:
        """Forget ``entry`` (no effect if it is not scheduled)."""
        key = entry._timer_key
        if key is None:
            return
        entry._timer_key = None
        bucket = self._buckets.get(key)
        if bucket is not None:
            bucket.discard(entry)
            if not bucket:
                del self._buckets[key]

    def close(self) -> None:
        """Drop every entry and the loop timer."""
        for bucket in self._buckets.values():
            for entry in bucket:
                entry._timer_key = None
        self._buckets.clear()
        self._heap.clear()
        if self._handle is not None:
            self._handle.cancel()
        self._handle = None
        self._armed_key = None

    def _arm(self, key: int) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._armed_key = key
        self._handle = self._loop.call_at(key * self._resolution, self._fire)

    def _fire(self) -> None:
        self._handle = None
        self._armed_key = None
        now = self._loop.time()
        current = math.floor(now / self._resolution)
        heap = self._heap
        buckets = self._buckets
        # Detach every due bucket first: entries re-scheduled by their callbacks land in new
        # buckets and wait for the next firing, so a callback can never make this loop spin.
        due: list[set[TimerEntry]] = []
        while heap and heap[0] <= current:
            bucket = buckets.pop(heapq.heappop(heap), None)
            if bucket:
                due.append(bucket)
        for bucket in due:
            for entry in bucket:
                entry._timer_key = _DUE
        for bucket in due:
            for entry in bucket:
                # An earlier callback in this round may have re-scheduled or cancelled it.
                if entry._timer_key == _DUE:
                    entry._timer_key = None
                    entry._on_timer(now)
        # Re-arm for the earliest bucket that still has entries.
        while heap:
            key = heap[0]
            if key in buckets:
                if self._armed_key is None or key < self._armed_key:
                    self._arm(key)
                return
            heapq.heappop(heap)
