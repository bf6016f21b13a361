"""Cluster benchmark: a broadcast to 1000 clients spread over two servers sharing a Redis.

Two turbosio servers with ``turbosio.RedisAdapter``, then two Node socket.io 4.8 servers with
``@socket.io/redis-adapter`` 8.3, in the same run, on the same Redis (127.0.0.1:6379, or
``REDIS_URL``): 500 receivers on each server join one room; one sender on the first server
broadcasts to the room (``bcast``, 100-byte JSON). The loop is closed across Redis: a receiver
on the *second* server triggers the next broadcast for each one it gets, with ``--window``
broadcasts in flight, so the rate is what the whole cluster sustains, not what the first
server can queue. The figure is messages delivered to receivers per second, over both servers.

    python benchmarks/cluster.py [--clients 1000] [--window 8] [--duration 2] [--repeats 3]

It needs Redis, Node and tests/js/node_modules (``make js``). The load generator (from
``benchmarks/loadgen.py``) runs in this process; servers, Redis and the generator share the
machine's CPUs, so compare the two rows of one run, not runs on different machines. Every
process it starts is stopped by its PID at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadgen import Meter, frame, json_payload, ws_connect, ws_connect_many  # noqa: E402

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

SERVER_APP = """
import sys
import turbosio
from turbosio.adapters.redis import RedisAdapter

port, url, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
sio = turbosio.Server(adapter=RedisAdapter(url, key=key))


@sio.on("join")
async def join(socket, room):
    socket.join(room)
    return "ok"


@sio.on("bcast")
async def bcast(socket, room, data):
    sio.to(room).emit("msg", data)
    return "ok"


sio.run(host="127.0.0.1", port=port)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def wait_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return
    raise RuntimeError("server did not start")


def start(kind: str, port: int, key: str) -> subprocess.Popen[bytes]:
    import turbosio.adapters.redis  # noqa: F401 - fail here, not in the child, if missing

    if kind == "turbosio":
        argv = [sys.executable, "-c", SERVER_APP, str(port), REDIS_URL, key]
        cwd = ROOT
    else:
        argv = ["node", "cluster-bench-server.mjs", str(port), REDIS_URL, key]
        cwd = ROOT / "tests" / "js"
    return subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL)


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    key = "tsio-bench-" + secrets.token_hex(4)
    ports = [free_port(), free_port()]
    procs = [start(kind, port, key) for port in ports]
    clients: list[Any] = []
    try:
        for port, proc in zip(ports, procs, strict=True):
            await wait_port(port, proc)
        half = args.clients // 2
        for port in ports:
            clients += await ws_connect_many("127.0.0.1", port, half, room="bench")
        meter = Meter(None)
        payload = json_payload(100)
        message = frame(f'421["bcast","bench",{payload}]')
        sender = await ws_connect("127.0.0.1", ports[0])
        write = sender.transport.write  # type: ignore[union-attr]
        sender.on_frames = lambda count: None  # its acks

        def counted(count: int) -> None:
            meter.count += count

        def far(count: int) -> None:
            meter.count += count
            write(message * count)  # one more broadcast for each that crossed

        for client in clients:
            client.on_frames = counted
        clients[-1].on_frames = far  # a receiver on the second server closes the loop
        write(message * args.window)
        await asyncio.sleep(args.warmup)
        rates = []
        cpu0 = [cpu_seconds(p.pid) for p in procs]
        t0 = time.perf_counter()
        for _ in range(args.repeats):
            rates.append(await meter.measure(args.duration))
        elapsed = time.perf_counter() - t0
        cpu = [(cpu_seconds(p.pid) - c) / elapsed for p, c in zip(procs, cpu0, strict=True)]
        clients.append(sender)
        return {
            "kind": kind,
            "values": rates,
            "median": statistics.median(rates),
            "server_cpu": cpu,
            "loadgen_cpu": statistics.median(w["loadgen_cpu"] for w in meter.windows),
            "receivers": len(clients) - 1,
        }
    finally:
        for client in clients:
            client.reset()
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def main(args: argparse.Namespace) -> None:
    rows = [await measure(kind, args) for kind in ("turbosio", "node")]
    print(json.dumps(rows) if args.json else "")
    if args.json:
        return
    print(
        f"broadcast to {args.clients} clients over two servers sharing Redis "
        f"(window {args.window}, {args.repeats} x {args.duration}s)"
    )
    print(f"{'servers':<28} {'deliveries/s (median, min-max)':<34} server CPU   generator CPU")
    for row in rows:
        name = (
            "2 x turbosio + RedisAdapter"
            if row["kind"] == "turbosio"
            else ("2 x Node + redis-adapter")
        )
        values = row["values"]
        cpu = " + ".join(f"{c:.0%}" for c in row["server_cpu"])
        print(
            f"{name:<28} {row['median']:>10,.0f} ({min(values):,.0f}-{max(values):,.0f})"
            f"{'':<8} {cpu:<12} {row['loadgen_cpu']:.0%}"
        )
    print(f"ratio turbosio / Node: {rows[0]['median'] / rows[1]['median']:.2f}")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--clients", type=int, default=1000)
    p.add_argument("--window", type=int, default=8)
    p.add_argument("--duration", type=float, default=2.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--json", action="store_true")
    return p.parse_args()


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover
        pass
    asyncio.run(main(parse_args()))
