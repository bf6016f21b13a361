"""The load generator: speaks Engine.IO v4 / Socket.IO v5 frames directly, one scenario a run.

Written for speed on one core (uvloop, plain ``asyncio.Protocol``s, no client library):

* every frame it sends is built and masked once, at start-up (the server must unmask whatever
  the mask; the ack ids repeat, which servers only echo back);
* a read is walked frame header by frame header without decoding the payloads (they are
  counted; only pings, the handshake and the latency scenario look inside), and whatever a read
  calls for goes out in one ``write`` (``frame * n``);
* connection scenarios drop the TCP connection with a reset once done, so no TIME_WAIT piles up.

The connections of ``connect_ws`` and ``connect_upgrade`` are made by a C program,
``connect_ws.c`` (built by ``make bench`` into ``benchmarks/.build``), when it is there: this
Python code tops out near 16k connections per second over WebSocket and 2.5k by polling then
upgrade on its CPU, less than a fast server takes. It runs as a child of this
process, on the same CPU, and its CPU time counts as the load generator's. ``--connector PATH``
names it, ``--python-connector`` makes the connections here whatever is built.

It prints one JSON object: the scenario's figures per repeat (``values``), the load
generator's and the server's CPU share during each window (from /proc, with ``--server-pid``),
and scenario-specific extras. ``run.py`` starts it pinned to its own CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import resource
import socket
import struct
import sys
import time
from typing import Any

_MASK = b"\x37\xfa\x21\x3d"
_CLK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")
_LINGER_RESET = struct.pack("ii", 1, 0)
_EIO = "/socket.io/?EIO=4&transport="
#: Where ``make bench`` builds connect_ws.c, the C load generator of the connect scenarios.
CONNECTOR = os.path.join(os.path.dirname(os.path.abspath(__file__)), ".build", "connect_ws")


def _mask(payload: bytes) -> bytes:
    n = len(payload)
    repeated = (_MASK * ((n + 3) >> 2))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(repeated, "little")).to_bytes(
        n, "little"
    )


def frame(text: str | bytes, opcode: int = 1) -> bytes:
    """A masked client frame carrying ``text``."""
    payload = text.encode() if isinstance(text, str) else text
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    return head + _MASK + _mask(payload)


def json_payload(size: int) -> str:
    """A JSON object of exactly ``size`` bytes."""
    base = '{"user":"bench","seq":12345,"text":""}'
    return base[:-2] + "a" * max(0, size - len(base)) + '"}'


_PONG = frame("3")
_CLOSE = frame(b"\x03\xe8", opcode=8)


# -- process figures from /proc -------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by process ``pid``."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLK


def cpu_busy(cpus: tuple[int, ...] = (0, 1)) -> list[float]:
    """Seconds each CPU in ``cpus`` spent running processes (user, nice, system) so far, plus
    the time a hypervisor gave the CPU to someone else (steal), from /proc/stat. Interrupt
    time is left out: it is mostly the kernel's network work for the measured processes
    themselves, not other people's."""
    busy = {}
    with open("/proc/stat", "rb") as f:
        for line in f:
            if line[:3] == b"cpu" and line[3:4].isdigit():
                name, *ticks = line.split()
                values = [int(t) for t in ticks[:8]]
                busy[int(name[3:])] = (values[0] + values[1] + values[2] + values[7]) / _CLK
    return [busy.get(cpu, 0.0) for cpu in cpus]


def rss_bytes(pid: int) -> int:
    """Resident set size of process ``pid``."""
    with open(f"/proc/{pid}/statm", "rb") as f:
        return int(f.read().split()[1]) * _PAGE


class Meter:
    """Counts events and measures windows: rate, and the CPU share of both processes."""

    def __init__(self, server_pid: int | None) -> None:
        self.count = 0
        self.server_pid = server_pid
        self.windows: list[dict[str, float]] = []
        #: Processes generating load for this one (the C connector): their CPU is the load
        #: generator's too.
        self.children: list[int] = []

    def loadgen_cpu(self) -> float:
        """CPU seconds used so far by the load generator: this process and its children."""
        return cpu_seconds(os.getpid()) + sum(cpu_seconds(pid) for pid in self.children)

    async def measure(self, seconds: float) -> float:
        """Count events for ``seconds``; record and return the rate per second."""
        c0, t0 = self.count, time.perf_counter()
        l0 = self.loadgen_cpu()
        s0 = cpu_seconds(self.server_pid) if self.server_pid else 0.0
        b0 = cpu_busy()
        await asyncio.sleep(seconds)
        c1, t1 = self.count, time.perf_counter()
        elapsed = t1 - t0
        window = {
            "rate": (c1 - c0) / elapsed,
            "loadgen_cpu": (self.loadgen_cpu() - l0) / elapsed,
        }
        if self.server_pid:
            window["server_cpu"] = (cpu_seconds(self.server_pid) - s0) / elapsed
            # What other processes took from the two CPUs (other people's work on a shared
            # machine): the figures of a window where this is large are not to be trusted.
            busy = [(b - a) / elapsed for a, b in zip(b0, cpu_busy(), strict=True)]
            window["other_on_server_cpu"] = max(busy[0] - window["server_cpu"], 0.0)
            window["other_on_loadgen_cpu"] = max(busy[1] - window["loadgen_cpu"], 0.0)
        self.windows.append(window)
        return window["rate"]


# -- a WebSocket client ---------------------------------------------------------------------


class WsClient(asyncio.Protocol):
    """One Socket.IO client over WebSocket.

    ``ready`` resolves once the namespace is joined (or, with ``probe``, once the probe
    answer came). Afterwards every text frame but a ping goes to :meth:`on_frames` as a count.
    """

    def __init__(self, host: str, port: int, query: str = "", probe: bool = False) -> None:
        self.request = (
            f"GET {_EIO}websocket{query} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        # 0: waiting for the 101, 1: for the open packet, 2: for "40", 3: running;
        # 4: probing an upgrade (waiting for "3probe").
        self.state = 0
        self.probe = probe
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed = False
        self.on_frames = _ignore
        self.on_text: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self.request)  # type: ignore[attr-defined]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.transport = None
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("connection lost during the handshake"))

    def send(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)

    def reset(self) -> None:
        """Drop the connection with a TCP reset (no TIME_WAIT left behind)."""
        transport = self.transport
        if transport is not None:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
            transport.abort()

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        if self.state == 0:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buf = buf
                return
            if not buf.startswith(b"HTTP/1.1 101"):
                self.ready.set_exception(ConnectionError(buf[: buf.find(b"\r\n")].decode()))
                self.reset()
                return
            self.state = 4 if self.probe else 1
            if self.probe:
                self.send(frame("2probe"))
            buf = buf[end + 4 :]
        pos = 0
        end = len(buf)
        count = 0
        while end - pos >= 2:
            length = buf[pos + 1]
            if length < 126:
                start = pos + 2
            elif length == 126:
                if end - pos < 4:
                    break
                length = (buf[pos + 2] << 8) | buf[pos + 3]
                start = pos + 4
            else:
                if end - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                start = pos + 10
            stop = start + length
            if stop > end:
                break
            first = buf[pos]
            pos = stop
            if first != 0x81:
                if first == 0x88:
                    self.reset()
                    return
                continue  # binary or control frames: not used by the scenarios
            if length == 1 and buf[start] == 0x32:  # an Engine.IO ping
                self.send(_PONG)
                continue
            if self.state == 3:
                if self.on_text is not None:
                    self.on_text(buf[start:stop])
                count += 1
            else:
                self._handshake(buf[start:stop])
        self.buf = buf[pos:] if pos < end else b""
        if count:
            self.on_frames(count)

    def _handshake(self, payload: bytes) -> None:
        if self.state == 1 and payload[:1] == b"0":
            self.state = 2
            self.send(frame("40"))
        elif (self.state == 2 and payload[:2] == b"40") or (
            self.state == 4 and payload == b"3probe"
        ):
            self.state = 3
            self.ready.set_result(None)
        elif payload[:2] == b"44" or self.state == 4:
            self.ready.set_exception(ConnectionError(payload.decode()))
            self.reset()


def _ignore(count: int) -> None:
    pass


async def ws_connect(host: str, port: int, query: str = "", probe: bool = False) -> WsClient:
    """Open a WebSocket client and wait until it is connected to the main namespace."""
    loop = asyncio.get_running_loop()
    _, client = await loop.create_connection(lambda: WsClient(host, port, query, probe), host, port)
    await client.ready
    return client


async def ws_connect_many(
    host: str, port: int, n: int, concurrency: int = 64, room: str | None = None
) -> list[WsClient]:
    """Connect ``n`` clients (at most ``concurrency`` handshakes at once), each joining
    ``room`` if given."""
    clients: list[WsClient] = []
    queue = iter(range(n))
    join = frame(f'420["join","{room}"]') if room else b""

    async def connect() -> WsClient:
        # A server may drop a handshake under the load of thousands of them (python-socketio
        # at 10 000 clients does): try again a few times before giving up on the scenario.
        for attempt in range(5):
            try:
                return await ws_connect(host, port)
            except (ConnectionError, OSError):
                if attempt == 4:
                    raise
                await asyncio.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")

    async def worker() -> None:
        for _ in queue:
            client = await connect()
            if room:
                done = asyncio.get_running_loop().create_future()

                def joined(count: int, done: asyncio.Future[None] = done) -> None:
                    if not done.done():
                        done.set_result(None)

                client.on_frames = joined
                client.send(join)
                await done
                client.on_frames = _ignore
            clients.append(client)

    await asyncio.gather(*(worker() for _ in range(min(concurrency, n))))
    return clients


# -- a minimal HTTP/1.1 client (keep-alive, one request at a time) ---------------------------


class HttpClient(asyncio.Protocol):
    """A keep-alive HTTP/1.1 connection for the polling transport."""

    def __init__(self, host: str, port: int) -> None:
        self.host = f"{host}:{port}".encode()
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("HTTP connection lost"))

    def request(self, method: str, target: str, body: bytes = b"") -> asyncio.Future[Any]:
        """Send a request; the future resolves to ``(status, body)``."""
        fut = self.waiter = self.loop.create_future()
        head = f"{method} {target} HTTP/1.1\r\nHost: ".encode() + self.host + b"\r\n"
        if method == "POST":
            head += b"Content-Type: text/plain;charset=UTF-8\r\nContent-Length: %d\r\n" % len(body)
        assert self.transport is not None
        self.transport.write(head + b"\r\n" + body)
        return fut

    def data_received(self, data: bytes) -> None:
        self.buf += data
        buf = self.buf
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = buf[:end].lower()
        status = int(buf[9:12])
        i = head.find(b"content-length:")
        if i >= 0:
            j = head.find(b"\r\n", i)
            length = int(head[i + 15 : j if j >= 0 else len(head)])
            if len(buf) - end - 4 < length:
                return
            body = buf[end + 4 : end + 4 + length]
            self.buf = buf[end + 4 + length :]
        elif b"transfer-encoding: chunked" in head:
            whole, rest = _dechunk(buf[end + 4 :])
            if whole is None:
                return
            body, self.buf = whole, rest
        else:
            body, self.buf = b"", buf[end + 4 :]
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result((status, body))

    def reset(self) -> None:
        """Drop the connection with a TCP reset."""
        transport = self.transport
        if transport is not None:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
            transport.abort()


def _dechunk(data: bytes) -> tuple[bytes | None, bytes]:
    out: list[bytes] = []
    pos = 0
    while True:
        eol = data.find(b"\r\n", pos)
        if eol < 0:
            return None, data
        size = int(data[pos:eol].split(b";")[0], 16)
        if len(data) < eol + 2 + size + 2:
            return None, data
        if size == 0:
            return b"".join(out), data[eol + 4 :]
        out.append(data[eol + 2 : eol + 2 + size])
        pos = eol + 2 + size + 2


async def http_open(host: str, port: int) -> HttpClient:
    """Open a keep-alive HTTP connection."""
    _, client = await asyncio.get_running_loop().create_connection(
        lambda: HttpClient(host, port), host, port
    )
    return client


async def polling_connect(host: str, port: int, http: HttpClient) -> str:
    """Open an Engine.IO session over polling and join the main namespace; returns the sid."""
    status, body = await http.request("GET", _EIO + "polling")
    if status != 200 or body[:1] != b"0":
        raise ConnectionError(f"polling handshake: {status} {body[:80]!r}")
    sid = json.loads(body[1:].split(b"\x1e")[0])["sid"]
    query = f"{_EIO}polling&sid={sid}"
    status, body = await http.request("POST", query, b"40")
    if status != 200:
        raise ConnectionError(f"POST 40: {status}")
    while True:
        status, body = await http.request("GET", query)
        if status != 200:
            raise ConnectionError(f"GET after 40: {status}")
        if any(p[:2] == b"40" for p in body.split(b"\x1e")):
            return str(sid)


# -- scenarios ------------------------------------------------------------------------------


async def windows(meter: Meter, args: argparse.Namespace) -> list[float]:
    await asyncio.sleep(args.warmup)
    return [await meter.measure(args.duration) for _ in range(args.repeats)]


async def scenario_echo(
    args: argparse.Namespace, meter: Meter, event: bool, name: str = ""
) -> dict[str, Any]:
    """Each client keeps ``window`` messages in flight: acked echoes, or events answered by
    events (``name``: the event sent, ``req`` by default); the figure is answers received per
    second."""
    payload = json_payload(args.payload)
    message = frame(f'42["{name or "req"}",{payload}]' if event else f'421["echo",{payload}]')
    clients = await ws_connect_many(args.host, args.port, args.clients)

    def sender(client: WsClient) -> Any:
        write = client.transport.write  # type: ignore[union-attr]

        def on_frames(count: int) -> None:
            meter.count += count
            write(message * count)

        return on_frames

    for client in clients:
        client.on_frames = sender(client)
        client.send(message * args.window)
    values = await windows(meter, args)
    return {"values": values, "unit": "msg/s"}


async def scenario_broadcast(args: argparse.Namespace, meter: Meter) -> dict[str, Any]:
    """``clients`` receivers in one room; one sender keeps ``window`` broadcasts in flight.
    The figure is messages delivered to the receivers per second."""
    payload = json_payload(args.payload)
    receivers = await ws_connect_many(args.host, args.port, args.clients, room="bench")

    def received(count: int) -> None:
        meter.count += count

    for client in receivers:
        client.on_frames = received
    sender = await ws_connect(args.host, args.port)
    message = frame(f'421["bcast","bench",{payload}]')
    write = sender.transport.write  # type: ignore[union-attr]
    sender.on_frames = lambda count: write(message * count)
    sender.send(message * args.window)
    values = await windows(meter, args)
    return {"values": values, "unit": "deliveries/s", "receivers": len(receivers)}


async def scenario_seed_broadcast(args: argparse.Namespace, meter: Meter) -> dict[str, Any]:
    """The seed's Flask app: every ``message`` is broadcast to all as ``response``.

    ``senders`` of the ``clients`` take turns sending, ``senders * window`` messages in flight:
    whenever the last client (a receiver that never sends) gets a copy, the next sender in turn
    sends one more. The figure is copies delivered per second to all the clients.
    """
    payload = json_payload(args.payload)
    message = frame(f'42["message",{payload}]')
    clients = await ws_connect_many(args.host, args.port, args.clients)
    senders = [c.transport.write for c in clients[: min(args.senders, args.clients - 1)]]  # type: ignore[union-attr]
    turn = [0]

    def received(count: int) -> None:
        meter.count += count

    def watcher(count: int) -> None:
        meter.count += count
        i = turn[0]
        n = len(senders)
        for _ in range(count):
            senders[i](message)
            i = i + 1 if i + 1 < n else 0
        turn[0] = i

    for client in clients[:-1]:
        client.on_frames = received
    clients[-1].on_frames = watcher
    for write in senders:
        write(message * args.window)
    values = await windows(meter, args)
    return {"values": values, "unit": "deliveries/s", "receivers": args.clients}


async def scenario_connect(args: argparse.Namespace, meter: Meter, upgrade: bool) -> dict[str, Any]:
    """``clients`` loops, each connecting (WebSocket, or polling then upgrade), joining the
    main namespace and dropping the connection, again and again. The figure is connections
    per second; errors are counted apart."""
    if args.connector:
        return await scenario_connect_c(args, meter, upgrade)
    host, port = args.host, args.port
    stop = False
    errors = collections.Counter[str]()
    upgrade_frame = frame("5")

    async def one_ws() -> None:
        client = await ws_connect(host, port)
        client.reset()

    async def one_upgrade() -> None:
        http = await http_open(host, port)
        try:
            sid = await polling_connect(host, port, http)
            # As the JS client: a GET is pending while the WebSocket probes; the server ends
            # it (noop) after the probe, and then the client sends the upgrade packet.
            poll = http.request("GET", f"{_EIO}polling&sid={sid}")
            ws = await ws_connect(host, port, f"&sid={sid}", probe=True)
            await poll
            ws.send(upgrade_frame)
            # A clean close after the "5" keeps it ahead of the end of the connection.
            assert ws.transport is not None
            ws.transport.close()
        finally:
            http.reset()

    one = one_upgrade if upgrade else one_ws

    async def loop() -> None:
        while not stop:
            try:
                await one()
                meter.count += 1
            except (ConnectionError, OSError, ValueError) as exc:
                errors[type(exc).__name__ + ": " + str(exc)[:60]] += 1
                await asyncio.sleep(0.01)

    tasks = [asyncio.create_task(loop()) for _ in range(args.clients)]
    values = await windows(meter, args)
    stop = True
    await asyncio.wait(tasks, timeout=5)
    return {"values": values, "unit": "conn/s", "errors": dict(errors), "generator": "python"}


async def scenario_connect_c(
    args: argparse.Namespace, meter: Meter, upgrade: bool
) -> dict[str, Any]:
    """``connect_ws`` or (``upgrade``) ``connect_upgrade`` with the connections made by the C
    connector (connect_ws.c): the same ``clients`` loops, at a fraction of the CPU per
    connection. It prints its cumulative counts every 10 ms (``COUNT KIND=N ...``); they go
    into the meter, whose windows measure the rate as for every scenario, with the
    connector's CPU counted as the load generator's."""
    proc = await asyncio.create_subprocess_exec(
        args.connector,
        "--host", args.host, "--port", str(args.port), "--clients", str(args.clients),
        # Counts 10 ms apart: a window's two ends are each at most 10 ms stale.
        "--interval", "10",
        *(["--upgrade"] if upgrade else []),
        # It exits when its stdin ends: when this process does, however that happens.
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    errors: dict[str, int] = {}

    async def read_counts() -> None:
        assert proc.stdout is not None
        async for line in proc.stdout:
            count, *kinds = line.split()
            meter.count = int(count)
            for kind in kinds:
                name, _, n = kind.partition(b"=")
                errors[name.decode()] = int(n)

    meter.children.append(proc.pid)
    reader = asyncio.create_task(read_counts())
    measuring = asyncio.create_task(windows(meter, args))
    try:
        await asyncio.wait((reader, measuring), return_when=asyncio.FIRST_COMPLETED)
        if not measuring.done():  # its output ended (or could not be read): it is gone
            reader.result()
            raise RuntimeError(f"the connector exited early, status {await proc.wait()}")
        values = measuring.result()
    finally:
        meter.children.remove(proc.pid)
        measuring.cancel()
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()  # SIGTERM to its PID
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()
        await asyncio.wait_for(reader, 5)  # the rest of its output, to its end
    return {"values": values, "unit": "conn/s", "errors": errors, "generator": "c"}


async def scenario_memory(args: argparse.Namespace, meter: Meter) -> dict[str, Any]:
    """RSS of the server per idle connection: ``clients`` WebSocket clients connected beyond
    a first 50 (which warm the server up), measured after a settle time."""
    assert args.server_pid, "--server-pid is required"
    values = []
    warm = await ws_connect_many(args.host, args.port, 50)
    await asyncio.sleep(args.warmup)
    base = rss_bytes(args.server_pid)
    t0 = time.perf_counter()
    clients = await ws_connect_many(args.host, args.port, args.clients)
    connect_time = time.perf_counter() - t0
    await asyncio.sleep(max(1.0, args.warmup))
    after = rss_bytes(args.server_pid)
    values.append((after - base) / len(clients) / 1024)
    for client in clients + warm:
        client.reset()
    return {
        "values": values,
        "unit": "KiB/conn",
        "base_rss_mib": base / 2**20,
        "rss_mib": after / 2**20,
        "connect_rate": len(clients) / connect_time,
    }


async def scenario_polling_echo(args: argparse.Namespace, meter: Meter) -> dict[str, Any]:
    """Polling-only clients (one connection for GETs, one for POSTs, as a browser does), one
    acked echo in flight each; the figure is acks received per second."""
    host, port = args.host, args.port
    payload = json_payload(args.payload)
    message = f'421["echo",{payload}]'.encode()
    stop = False

    async def client() -> None:
        get_conn = await http_open(host, port)
        post_conn = await http_open(host, port)
        sid = await polling_connect(host, port, get_conn)
        query = f"{_EIO}polling&sid={sid}"
        pong = False
        try:
            while not stop:
                body = message + b"\x1e3" if pong else message
                pong = False
                posted = post_conn.request("POST", query, body)
                acked = False
                while not acked:
                    status, got = await get_conn.request("GET", query)
                    if status != 200:
                        raise ConnectionError(f"GET: {status}")
                    for packet in got.split(b"\x1e"):
                        if packet[:2] == b"43":
                            acked = True
                            meter.count += 1
                        elif packet == b"2":
                            pong = True
                        elif packet == b"1":
                            raise ConnectionError("session closed by the server")
                status, _ = await posted
                if status != 200:
                    raise ConnectionError(f"POST: {status}")
        finally:
            get_conn.reset()
            post_conn.reset()

    tasks = [asyncio.create_task(client()) for _ in range(args.clients)]
    values = await windows(meter, args)
    stop = True
    done, _ = await asyncio.wait(tasks, timeout=5)
    failures = [str(t.exception()) for t in done if t.exception() is not None]
    return {"values": values, "unit": "msg/s", "errors": failures[:3]}


async def scenario_latency(args: argparse.Namespace, meter: Meter) -> dict[str, Any]:
    """Acked echoes at a fixed offered load (``rate`` per second over all clients, open loop:
    a late answer never delays the next send). The figure is the p99 round trip in ms, per
    repeat; p50 and p99.9 are reported beside it."""
    payload = json_payload(args.payload)
    message = frame(f'421["echo",{payload}]')
    clients = await ws_connect_many(args.host, args.port, args.clients)
    sent: list[collections.deque[float]] = [collections.deque() for _ in clients]
    samples: list[float] = []
    perf = time.perf_counter

    def receiver(queue: collections.deque[float]) -> Any:
        def on_frames(count: int) -> None:
            now = perf()
            for _ in range(count):
                if queue:
                    samples.append(now - queue.popleft())
            meter.count += count

        return on_frames

    for client, queue in zip(clients, sent, strict=True):
        client.on_frames = receiver(queue)
    stop = False
    writes = [c.transport.write for c in clients]  # type: ignore[union-attr]

    async def pacer() -> None:
        start = perf()
        total = 0
        n = len(clients)
        while not stop:
            due = int((perf() - start) * args.rate)
            while total < due:
                i = total % n
                sent[i].append(perf())
                writes[i](message)
                total += 1
            await asyncio.sleep(0.001)

    task = asyncio.create_task(pacer())
    await asyncio.sleep(args.warmup)
    p50s, p99s, p999s, rates = [], [], [], []
    for _ in range(args.repeats):
        samples.clear()
        rates.append(await meter.measure(args.duration))
        ordered = sorted(samples)
        if not ordered:
            ordered = [float("inf")]

        def pct(q: float, ordered: list[float] = ordered) -> float:
            return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

        p50s.append(pct(0.50))
        p99s.append(pct(0.99))
        p999s.append(pct(0.999))
    stop = True
    await task
    return {"values": p99s, "unit": "ms", "p50": p50s, "p999": p999s, "achieved": rates}


async def scenario_slow_reader(args: argparse.Namespace, meter: Meter) -> dict[str, Any]:
    """``slow`` clients stop reading while ``clients`` others in the same room are broadcast
    to (``payload``-byte messages, ``window`` broadcasts in flight). The server's RSS is
    sampled; the run stops early once it grew past ``rss_cap`` MiB (unbounded growth).
    The figure is the RSS growth in MiB. (Whether the server dropped a slow client is not
    seen here: a client that does not read does not learn it either.)"""
    assert args.server_pid, "--server-pid is required"
    payload = json_payload(args.payload)
    readers = await ws_connect_many(args.host, args.port, args.clients, room="bench")
    slow = await ws_connect_many(args.host, args.port, args.slow, room="bench")

    def received(count: int) -> None:
        meter.count += count

    for client in readers:
        client.on_frames = received
    for client in slow:
        assert client.transport is not None
        client.transport.pause_reading()
    base = rss_bytes(args.server_pid)
    sender = await ws_connect(args.host, args.port)
    message = frame(f'421["bcast","bench",{payload}]')
    write = sender.transport.write  # type: ignore[union-attr]
    sender.on_frames = lambda count: write(message * count)
    sender.send(message * args.window)
    peak = base
    capped = False
    t0 = time.perf_counter()
    c0 = meter.count
    deadline = t0 + args.duration * args.repeats
    half_peak = None
    while time.perf_counter() < deadline:
        await asyncio.sleep(0.1)
        rss = rss_bytes(args.server_pid)
        peak = max(peak, rss)
        if half_peak is None and time.perf_counter() - t0 >= (deadline - t0) / 2:
            half_peak = peak
        if rss - base > args.rss_cap * 2**20:
            capped = True
            break
    elapsed = time.perf_counter() - t0
    growth = (peak - base) / 2**20
    half_growth = ((half_peak or peak) - base) / 2**20
    # Bounded: what the second half of the run added is small beside the first half's growth
    # (a server that keeps buffering for readers that do not read grows all the way).
    bounded = not capped and growth - half_growth <= 0.25 * half_growth + 16
    sender.reset()
    for client in readers + slow:
        client.reset()
    return {
        "values": [growth],
        "unit": "MiB",
        "capped": capped,
        "bounded": bounded,
        "half_growth_mib": half_growth,
        "seconds": elapsed,
        "slow": len(slow),
        "delivery_rate": (meter.count - c0) / elapsed,
        "base_rss_mib": base / 2**20,
    }


SCENARIOS = {
    "echo": lambda a, m: scenario_echo(a, m, event=False),
    "event": lambda a, m: scenario_echo(a, m, event=True),
    "broadcast": scenario_broadcast,
    "seed_echo": lambda a, m: scenario_echo(a, m, event=True, name="message"),
    "seed_broadcast": scenario_seed_broadcast,
    "connect_ws": lambda a, m: scenario_connect(a, m, upgrade=False),
    "connect_upgrade": lambda a, m: scenario_connect(a, m, upgrade=True),
    "memory": scenario_memory,
    "polling_echo": scenario_polling_echo,
    "latency": scenario_latency,
    "slow_reader": scenario_slow_reader,
}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    meter = Meter(args.server_pid)
    result = await SCENARIOS[args.scenario](args, meter)
    result["windows"] = meter.windows
    result["scenario"] = args.scenario
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("scenario", choices=sorted(SCENARIOS))
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--server-pid", type=int, default=0)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--window", type=int, default=1, help="messages in flight per client")
    p.add_argument("--payload", type=int, default=100, help="JSON payload size in bytes")
    p.add_argument("--duration", type=float, default=2.0, help="seconds per measured window")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--warmup", type=float, default=1.0)
    p.add_argument("--rate", type=float, default=10000, help="latency: offered msg/s")
    p.add_argument("--senders", type=int, default=1, help="seed_broadcast: clients sending")
    p.add_argument("--slow", type=int, default=10, help="slow_reader: clients that stop reading")
    p.add_argument("--rss-cap", type=float, default=1024, help="slow_reader: stop past this MiB")
    p.add_argument(
        "--connector",
        help="connect_ws, connect_upgrade: the C connector to make the connections "
        f"(default: {CONNECTOR} "
        "when it is built)",
    )
    p.add_argument(
        "--python-connector",
        action="store_true",
        help="connect_ws, connect_upgrade: make the connections in Python, even if the C "
        "connector is built",
    )
    args = p.parse_args(argv)
    if args.python_connector:
        args.connector = None
    elif args.connector:
        if not os.access(args.connector, os.X_OK):
            p.error(f"--connector {args.connector}: not an executable file")
    elif os.access(CONNECTOR, os.X_OK):
        args.connector = CONNECTOR
    return args


if __name__ == "__main__":
    args = parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    import uvloop

    try:
        out = uvloop.run(asyncio.wait_for(main(args), timeout=300))
    except Exception as exc:  # one line for run.py's table, not a traceback
        out = {"scenario": args.scenario, "error": f"{type(exc).__name__}: {exc}"}
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
