"""The live dashboard demo (namespace ``/dashboard``, page ``/dashboard``).

While at least one dashboard page is open, the server measures itself every ``interval``
seconds and pushes a ``metrics`` sample to every dashboard page:

``{time, connections, sockets: {namespace: count}, messages, cpu, memory}``

``connections`` counts Engine.IO sessions (one per browser tab, whatever the namespaces),
``messages`` the events per second received in the watched namespaces, ``cpu`` the process's
CPU use in percent of one core and ``memory`` its resident size in MiB. A page that connects
first gets the samples so far (``history``) so its charts start full. ``ping`` answers at once:
the page uses it to measure its round trip and to send bursts that move the message rate.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..socketio import Namespace, Server, Socket

__all__ = ["attach", "memory_mib"]

#: Samples kept for the pages' charts.
HISTORY = 120


def memory_mib() -> float | None:
    """The process's resident memory in MiB (its peak where the current size is unknown)."""
    try:
        with open("/proc/self/statm", "rb") as statm:  # Linux: current resident pages
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError, AttributeError):
        pass
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # ru_maxrss is in KiB on Linux and in bytes on macOS.
    return peak / 2**20 if os.uname().sysname == "Darwin" else peak / 2**10


def attach(sio: Server, watch: Iterable[Namespace] = (), interval: float = 1.0) -> Namespace:
    """Add the dashboard's handlers to ``sio`` (namespace ``/dashboard``).

    ``watch``: the namespaces whose incoming events are counted and whose sockets are shown
    (the dashboard's own always are). Returns the namespace.
    """
    dashboard = sio.of("/dashboard")
    watched = [*watch, dashboard]
    samples: deque[dict[str, Any]] = deque(maxlen=HISTORY)
    received = 0
    ticker: asyncio.Task[None] | None = None

    async def count(socket: Socket, event: str, *args: Any) -> None:
        nonlocal received
        received += 1

    for nsp in watched:
        nsp.on_any(count)

    async def measure() -> None:
        nonlocal received
        wall, cpu = time.monotonic(), time.process_time()
        while True:
            await asyncio.sleep(interval)
            now_wall, now_cpu = time.monotonic(), time.process_time()
            elapsed = now_wall - wall or interval
            memory = memory_mib()
            sample = {
                "time": time.time(),
                "connections": len(sio.engine.sessions),
                "sockets": {nsp.name: len(nsp.sockets) for nsp in watched},
                "messages": round(received / elapsed, 1),
                "cpu": round(100 * (now_cpu - cpu) / elapsed, 1),
                "memory": None if memory is None else round(memory, 1),
            }
            wall, cpu, received = now_wall, now_cpu, 0
            samples.append(sample)
            dashboard.emit("metrics", sample)

    @dashboard.on("connect")
    async def connect(socket: Socket) -> None:
        nonlocal ticker
        socket.emit("history", {"interval": interval, "samples": list(samples)})
        if ticker is None:
            # Measuring costs a little: only while someone is watching.
            ticker = asyncio.get_running_loop().create_task(measure())

    @dashboard.on("ping")
    async def ping(socket: Socket, *args: Any) -> float:
        return time.time()

    @dashboard.on("disconnect")
    async def disconnect(socket: Socket) -> None:
        nonlocal ticker
        if not dashboard.sockets and ticker is not None:
            ticker.cancel()
            ticker = None

    return dashboard
