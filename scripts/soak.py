#!/usr/bin/env python3
"""Soak test: many connections with churn against a turbosio server, for a long time.

    python scripts/soak.py          # 5000 connections, 10 minutes, 4 minutes of warm-up
                                    # (the figures in docs/reliability.md)
    python scripts/soak.py --connections 500 --duration 40 --warmup 20 --ramp 2 \
        --emits 2 --think 0.1 --pause 0.1     # the CI version (tests/deploy/test_soak.py)

The server runs in a child process (this script with ``--serve``) on 127.0.0.1; this process
keeps ``--connections`` WebSocket clients busy: each connects (Engine.IO handshake, Socket.IO
CONNECT), emits ``--emits`` events with acknowledgements and a room broadcast, disconnects,
waits a moment, and starts over, until ``--duration`` seconds have passed. Every 5 s it samples
the server's RSS from /proc.

It passes (exit status 0) when:

* the server's RSS at the end is within ``--rss-tolerance`` (10 %) of its RSS after the
  warm-up (same load, so any growth is a leak);
* once every client has left, the server holds no session, socket or room (no leak);
* no client saw an error (a refused handshake, a missing ack, an unexpected close) and the
  server logged nothing at ERROR or above.

Only 127.0.0.1 is ever contacted; the run is bounded by ``--duration``: a visit still going
then is cut short (no more emits, no think time), so the clients are gone about one round
trip later.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import random
import resource
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, cast

ROOMS = 50


# -- the server (child process) -------------------------------------------------------------------


def serve(ping_interval: float, connect_timeout: float) -> None:
    """The server under test: echo with ack, room broadcasts, and a stats event."""
    import logging

    import turbosio

    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(message)s"
    )
    logging.getLogger("turbosio.server").setLevel(logging.INFO)  # for the "running on" line
    # Finished sessions may be held until their next heartbeat or connect-timeout tick (one
    # scheduler, no timer per session): the RSS is steady once that many have churned.
    sio = turbosio.Server(
        ping_interval=ping_interval, ping_timeout=ping_interval, connect_timeout=connect_timeout
    )

    @sio.on("connect")
    async def connect(socket: turbosio.Socket, auth: Any) -> None:
        if isinstance(auth, dict) and isinstance(auth.get("room"), int):
            socket.join(f"room-{auth['room'] % ROOMS}")

    reasons: Counter[str] = Counter()

    @sio.on("disconnect")
    async def disconnect(socket: turbosio.Socket, reason: str) -> None:
        reasons[reason] += 1

    @sio.on("echo")
    async def echo(socket: turbosio.Socket, *args: Any) -> tuple[Any, ...]:
        return args

    @sio.on("say")
    async def say(socket: turbosio.Socket, room: int, text: str) -> None:
        socket.to(f"room-{room % ROOMS}").emit("said", text)

    @sio.on("stats")
    async def stats(socket: turbosio.Socket) -> dict[str, Any]:
        return {
            "sessions": len(sio.engine.sessions),
            "sockets": len(sio.sockets.sockets),
            "rooms": len(sio.sockets.adapter.rooms),
            "disconnect_reasons": dict(reasons),
        }

    sio.run("127.0.0.1", 0)


# -- a minimal WebSocket client -------------------------------------------------------------------


class Closed(Exception):
    """The server closed the connection."""


def _frame(opcode: int, payload: bytes) -> bytes:
    """A masked client frame."""
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 0xFE)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0xFF)) + n.to_bytes(8, "big")
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    masked = (int.from_bytes(payload, "big") ^ key).to_bytes(n, "big") if n else b""
    return head + mask + masked


class Client(asyncio.Protocol):
    """One WebSocket connection speaking Engine.IO v4 / Socket.IO v5 text packets.

    The frames are parsed as they arrive, in ``data_received``, which answers the server's
    pings ("2" -> "3") there and then, whatever the slot's coroutine is doing (sleeping between
    emits, or waiting for its turn on a starved loop): a ping is never left unanswered behind
    a coroutine that has not read yet. Every other text message goes to a queue that
    :meth:`recv` awaits; the connection's end (a close frame, or the TCP connection lost) is
    queued after them as a :class:`Closed`.
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        loop = asyncio.get_running_loop()
        self._head: asyncio.Future[bytes] | None = loop.create_future()  # the 101, or not
        self._messages: asyncio.Queue[str | Closed] = asyncio.Queue()
        self._lost: asyncio.Future[None] = loop.create_future()
        self._ended = False

    @classmethod
    async def open(cls, port: int, source: str = "127.0.0.1") -> Client:
        loop = asyncio.get_running_loop()
        _, client = await loop.create_connection(cls, "127.0.0.1", port, local_addr=(source, 0))
        assert client.transport is not None and client._head is not None
        key = base64.b64encode(os.urandom(16)).decode()
        client.transport.write(
            (
                "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                f"Sec-WebSocket-Key: {key}\r\n\r\n"
            ).encode()
        )
        try:
            head = await client._head
            if not head.startswith(b"HTTP/1.1 101 "):
                raise Closed(f"handshake refused: {head[:40]!r}")
            opened = await client.recv()
            if not opened.startswith('0{"sid"'):
                raise Closed(f"no open packet: {opened[:40]!r}")
        except BaseException:
            client.drop()
            raise
        return client

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        head = self._head
        if head is not None:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            self._head = None
            if not head.done():
                head.set_result(bytes(buffer[: end + 4]))
            del buffer[: end + 4]
        while len(buffer) >= 2 and not self._ended:
            n = buffer[1] & 0x7F
            start = 2
            if n == 126:
                if len(buffer) < 4:
                    return
                n, start = int.from_bytes(buffer[2:4], "big"), 4
            elif n == 127:
                if len(buffer) < 10:
                    return
                n, start = int.from_bytes(buffer[2:10], "big"), 10
            if len(buffer) < start + n:
                return
            opcode = buffer[0] & 0x0F
            payload = bytes(buffer[start : start + n])
            del buffer[: start + n]
            if opcode == 8:
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                self._end(f"close frame {code} {payload[2:].decode(errors='replace')}")
            elif opcode == 1:
                text = payload.decode()
                if text == "2":
                    assert self.transport is not None
                    self.transport.write(_frame(1, b"3"))
                else:
                    self._messages.put_nowait(text)

    def connection_lost(self, exc: Exception | None) -> None:
        head = self._head
        if head is not None and not head.done():
            head.set_result(b"")  # closed before the handshake's answer
        self._end(f"connection lost{f': {exc}' if exc else ''}")
        if not self._lost.done():
            self._lost.set_result(None)

    def _end(self, why: str) -> None:
        if not self._ended:
            self._ended = True
            self._messages.put_nowait(Closed(why))

    # what the slots use

    def send(self, text: str) -> None:
        assert self.transport is not None
        self.transport.write(_frame(1, text.encode()))

    async def recv(self) -> str:
        """The next text message (pings were answered as they came)."""
        item = await self._messages.get()
        if isinstance(item, Closed):
            self._messages.put_nowait(item)  # and again for any later recv
            raise item
        return item

    async def close(self) -> None:
        assert self.transport is not None
        self.transport.write(_frame(8, b"\x03\xe8"))
        with contextlib.suppress(asyncio.TimeoutError):
            # The server echoes the close and ends the TCP connection.
            await asyncio.wait_for(asyncio.shield(self._lost), 5)
        self.transport.close()

    def drop(self) -> None:
        """Close the TCP connection now (after an error)."""
        if self.transport is not None:
            self.transport.close()


# -- the load -------------------------------------------------------------------------------------


@dataclass
class Totals:
    connects: int = 0
    emits: int = 0
    acks: int = 0
    broadcasts: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    open: int = 0


async def expect(client: Client, prefix: str) -> str:
    """The next message starting with ``prefix``, skipping room broadcasts ('42["said"')."""
    while True:
        text = await asyncio.wait_for(client.recv(), 10)
        if text.startswith(prefix):
            return text
        if not text.startswith('42["said"'):
            raise Closed(f"unexpected {text[:40]!r}")


async def slot(number: int, port: int, args: argparse.Namespace, stop: float, t: Totals) -> None:
    """One connection, over and over: connect, emit, broadcast, disconnect, pause."""
    rng = random.Random(number)
    await asyncio.sleep(rng.uniform(0, args.ramp))
    while time.monotonic() < stop:
        client = None
        try:
            # Sources spread over 127.0.0.1-16: one address's ephemeral ports (about 28,000)
            # would wrap within minutes of churn, onto the server's TIME_WAIT entries.
            source = f"127.0.0.{1 + number % 16}"
            client = await asyncio.wait_for(Client.open(port, source), 10)
            client.send(f'40{{"room":{number}}}')
            await expect(client, "40{")
            t.connects += 1
            t.open += 1
            try:
                for k in range(args.emits):
                    if time.monotonic() >= stop:
                        break  # the run is over: the visit ends here
                    client.send(f'42{k}["echo",{number},"{"x" * args.size}"]')
                    t.emits += 1
                    await expect(client, f"43{k}[")
                    t.acks += 1
                    # Within half a think time either way, and not past the end of the run.
                    # Pings that come meanwhile are answered by the client's data_received, as
                    # a real client's would be.
                    think = rng.uniform(0.5 * args.think, 1.5 * args.think)
                    await asyncio.sleep(min(think, max(0.0, stop - time.monotonic())))
                client.send(f'42["say",{number},"hi"]')
                t.broadcasts += 1
            finally:
                t.open -= 1
            await client.close()
            client = None
        except Exception as exc:  # counted and reported by kind: the run goes on
            t.errors[
                f"{type(exc).__name__}: {str(exc)[:60]}" if str(exc) else type(exc).__name__
            ] += 1
        finally:
            if client is not None:
                client.drop()
        if time.monotonic() < stop:
            await asyncio.sleep(rng.uniform(0.5 * args.pause, 1.5 * args.pause))


def rss(pid: int) -> int:
    """The resident set size of process ``pid``, in bytes."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


async def server_stats(port: int) -> dict[str, Any]:
    client = await Client.open(port)
    client.send("40")
    await expect(client, "40{")
    client.send('420["stats"]')
    reply = await expect(client, "430[")
    await client.close()
    stats: dict[str, Any] = json.loads(reply[3:])[0]
    stats["sessions"] -= 1  # this very connection
    stats["sockets"] -= 1
    stats["rooms"] -= 1  # its own room
    return stats


def _leftovers(stats: dict[str, Any]) -> dict[str, Any]:
    return {k: stats[k] for k in ("sessions", "sockets", "rooms")}


async def load(port: int, pid: int, args: argparse.Namespace) -> dict[str, Any]:
    totals = Totals()
    start = time.monotonic()
    stop = start + args.duration
    tasks = [
        asyncio.ensure_future(slot(i, port, args, stop, totals)) for i in range(args.connections)
    ]
    samples: list[dict[str, Any]] = []
    warm_rss = 0
    while time.monotonic() < stop:
        await asyncio.sleep(min(5.0, max(0.1, stop - time.monotonic())))
        elapsed = time.monotonic() - start
        sample = {
            "t": round(elapsed, 1),
            "rss_mib": round(rss(pid) / 2**20, 1),
            "open": totals.open,
            "connects": totals.connects,
            "acks": totals.acks,
            "errors": sum(totals.errors.values()),
        }
        samples.append(sample)
        if not warm_rss and elapsed >= args.warmup:
            warm_rss = rss(pid)
        print(json.dumps(sample), flush=True)
    end_rss = rss(pid)  # still under load, as after the warm-up
    await asyncio.gather(*tasks)
    # Every client has left: the server must hold nothing of them.
    stats: dict[str, Any] = {}
    for _ in range(50):
        stats = await server_stats(port)
        if not any(_leftovers(stats).values()):
            break
        await asyncio.sleep(0.2)
    elapsed = time.monotonic() - start
    return {
        "connections": args.connections,
        "duration_s": round(elapsed, 1),
        "connects": totals.connects,
        "connects_per_s": round(totals.connects / elapsed),
        "acks": totals.acks,
        "acks_per_s": round(totals.acks / elapsed),
        "broadcasts": totals.broadcasts,
        "client_errors": dict(totals.errors),
        "rss_after_warmup_mib": round(warm_rss / 2**20, 1),
        "rss_end_mib": round(end_rss / 2**20, 1),
        "rss_change_pct": round(100 * (end_rss - warm_rss) / warm_rss, 1) if warm_rss else None,
        "left_on_server": _leftovers(stats),
        "disconnect_reasons": stats.get("disconnect_reasons"),
        "samples": samples,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=5000)
    parser.add_argument("--duration", type=float, default=600, help="seconds (default 600)")
    parser.add_argument("--warmup", type=float, default=240, help="seconds (default 240)")
    parser.add_argument("--ramp", type=float, default=10, help="seconds to open every slot")
    parser.add_argument("--emits", type=int, default=5, help="emits per connection")
    parser.add_argument("--think", type=float, default=10.0, help="mean seconds between emits")
    parser.add_argument("--pause", type=float, default=5.0, help="mean seconds between visits")
    parser.add_argument("--size", type=int, default=100, help="bytes of text per emit")
    parser.add_argument("--rss-tolerance", type=float, default=10.0, help="percent")
    parser.add_argument("--ping-interval", type=float, default=25, help="server's (25)")
    parser.add_argument("--connect-timeout", type=float, default=45, help="server's (45)")
    parser.add_argument("--json", help="write the result here too")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.ping_interval, args.connect_timeout)
        return 0
    if args.warmup >= args.duration:
        parser.error("--warmup must be shorter than --duration")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, max(soft, args.connections + 1000))
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))

    server = subprocess.Popen(
        [
            sys.executable,
            os.path.abspath(__file__),
            "--serve",
            "--ping-interval",
            str(args.ping_interval),
            "--connect-timeout",
            str(args.connect_timeout),
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    log: list[str] = []
    ready = threading.Event()
    port = [0]

    def read_log() -> None:
        assert server.stderr is not None
        for line in server.stderr:
            log.append(line.rstrip("\n"))
            if "turbosio running on " in line:
                port[0] = int(line.split("turbosio running on ")[1].split()[0].rsplit(":", 1)[1])
                ready.set()
        ready.set()

    reader = threading.Thread(target=read_log, daemon=True)
    reader.start()
    try:
        if not ready.wait(30) or not port[0]:
            print("the server did not start:\n" + "\n".join(log), file=sys.stderr)
            return 2
        try:
            import uvloop

            result = uvloop.run(load(port[0], server.pid, args))
        except ImportError:
            result = asyncio.run(load(port[0], server.pid, args))
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
        reader.join(10)
        if server.stderr is not None:
            server.stderr.close()
    server_errors = [line for line in log if line.startswith(("ERROR", "CRITICAL", "Traceback"))]
    result["server_errors"] = server_errors[:20]
    # What the server said about connections it closed or refused (one line each).
    result["server_log"] = dict(
        Counter(line.split(":", 1)[0] + ": " + line.split(": ", 1)[-1][:50] for line in log[1:])
    )
    change = result["rss_change_pct"]
    failures = []
    if change is None or abs(change) > args.rss_tolerance:
        failures.append(f"RSS changed by {change} % after the warm-up")
    if any(result["left_on_server"].values()):
        failures.append(f"left on the server: {result['left_on_server']}")
    if result["client_errors"]:
        failures.append(f"client errors: {result['client_errors']}")
    if server_errors:
        failures.append(f"server errors: {server_errors[:3]}")
    result["passed"] = not failures
    summary = {k: v for k, v in result.items() if k != "samples"}
    print(json.dumps(summary, indent=2))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(result, out, indent=2)
    for failure in failures:
        print("FAILED:", failure, file=sys.stderr)
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
