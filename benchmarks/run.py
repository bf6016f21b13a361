"""``make bench``: turbosio against Node's socket.io and python-socketio, side by side.

Each server under test is started pinned to CPU 0 (``taskset``), fresh for every scenario; the
load generator (loadgen.py) runs pinned to CPU 1 and speaks the wire protocol itself. Figures
are min / median / max over the repeats of one run, and the table gives turbosio's ratios to
Node and to python-socketio beside the targets of the performance issue.

Servers: ``turbosio`` (the embedded server), ``asgi`` (turbosio's ASGI app under uvicorn),
``node`` (socket.io 4.8 on Node's http server), ``pysio`` (python-socketio 5 under uvicorn),
and ``bare`` (bare_server.py, only to measure the load generator's ceiling).

Every process started here is stopped here, by its PID, whatever happens.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MAIN_PY = ROOT / ".venv" / "bin" / "python"
PEERS_PY = HERE / ".venv-peers" / "bin" / "python"
NODE_DIR = HERE / "node"
RESULTS = HERE / "results"
#: The C load generator of "connect over websocket" (connect_ws.c), built by `make bench`.
CONNECTOR = HERE / ".build" / "connect_ws"

SERVER_CPU = "0"
LOADGEN_CPU = "1"
#: Prefix of every command started (``nice -n N`` with ``--nice N``), set by main().
PREFIX: list[str] = []

UVICORN_FLAGS = [
    "--host",
    "127.0.0.1",
    "--loop",
    "uvloop",
    "--http",
    "httptools",
    "--ws",
    "websockets-sansio",
    "--no-access-log",
    "--log-level",
    "warning",
]

SERVERS = ("turbosio", "asgi", "node", "pysio")
#: The Flask rows (the seed's app): turbosio.flask, and Flask-SocketIO in each of its
#: production modes; the ratio is taken against the better of the two, row by row.
FLASK_SERVERS = ("flask", "fsio-gevent", "fsio-eventlet")
LABELS = {
    "turbosio": "turbosio",
    "asgi": "turbosio ASGI/uvicorn",
    "node": "Node socket.io 4.8",
    "pysio": "python-socketio 5",
    "bare": "bare server",
    "asgi-floor": "uvicorn alone",
    "flask": "turbosio.flask",
    "fsio-gevent": "Flask-SocketIO 5 (gevent)",
    "fsio-eventlet": "Flask-SocketIO 5 (eventlet)",
}


def server_command(name: str, port: int) -> list[str]:
    """The command line that serves the benchmark app of ``name`` on ``port``."""
    apps = str(HERE / "apps")
    if name == "turbosio":
        return [str(MAIN_PY), str(HERE / "apps" / "turbosio_app.py"), str(port)]
    if name == "asgi":
        return [str(MAIN_PY), "-m", "uvicorn", "turbosio_app:app", "--app-dir", apps]
    if name == "pysio":
        return [str(PEERS_PY), "-m", "uvicorn", "pysio_app:app", "--app-dir", apps]
    if name == "asgi-floor":
        return [str(MAIN_PY), "-m", "uvicorn", "bare_asgi:app", "--app-dir", apps]
    if name == "node":
        return ["node", str(NODE_DIR / "server.mjs"), str(port)]
    if name == "bare":
        return [str(MAIN_PY), str(HERE / "bare_server.py"), str(port)]
    if name == "flask":  # the seed's program as written: its port from TURBOSIO_PORT
        return [str(MAIN_PY), str(HERE / "apps" / "flask_seed.py")]
    if name.startswith("fsio-"):
        return [str(PEERS_PY), str(HERE / "apps" / "flask_socketio_seed.py"), str(port)]
    raise ValueError(name)


def server_env(name: str, port: int) -> dict[str, str]:
    """The environment of server ``name``."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if name == "flask":
        env["TURBOSIO_PORT"] = str(port)
    elif name.startswith("fsio-"):
        env["FLASK_SIO_MODE"] = name.removeprefix("fsio-")
        env["PYTHONWARNINGS"] = "ignore"  # eventlet's deprecation notice
    return env


@dataclass
class Scenario:
    """One row of the table."""

    key: str
    title: str
    loadgen: list[str]
    unit: str
    higher_is_better: bool = True
    #: Target ratio turbosio / Node (for lower-is-better figures: at most this ratio).
    node_target: float | None = None
    #: Fresh server per repeat (the loadgen then runs one repeat at a time).
    fresh_per_repeat: bool = False
    calibrate: bool = False
    #: Also measure uvicorn alone (apps/bare_asgi.py): the floor of every ASGI app's figure.
    asgi_floor: bool = False
    #: Loadgen arguments that override the run's timing (slow_reader runs longer).
    timing: list[str] = field(default_factory=list)
    #: A row of the seed's Flask app (run against FLASK_SERVERS), with its target ratio
    #: turbosio.flask / Flask-SocketIO's better mode.
    flask_target: float | None = None


def connector_args() -> list[str]:
    """The loadgen arguments of the connect rows: the C connector when it is built, which the
    calibration against the bare server then uses too; else the Python generator."""
    if os.access(CONNECTOR, os.X_OK):
        return ["--connector", str(CONNECTOR)]
    return ["--python-connector"]


def scenarios(quick: bool) -> list[Scenario]:
    """The scenarios of the performance issue, in table order."""
    return [
        Scenario(
            "echo_w1",
            "echo with ack, 1 in flight",
            ["echo", "--window", "1"],
            "msg/s",
            node_target=1.4,
            calibrate=True,
            asgi_floor=True,
        ),
        Scenario(
            "echo_w16",
            "echo with ack, 16 in flight",
            ["echo", "--window", "16"],
            "msg/s",
            node_target=1.8,
            calibrate=True,
        ),
        Scenario(
            "event_w16",
            "event answered by event, 16 in flight",
            ["event", "--window", "16"],
            "msg/s",
            node_target=1.8,
            calibrate=True,
        ),
        Scenario(
            "bcast_1000",
            "broadcast to a room of 1000",
            ["broadcast", "--clients", "1000", "--window", "4"],
            "deliv/s",
            node_target=1.25,
            calibrate=True,
        ),
        Scenario(
            "bcast_10000",
            "broadcast to a room of 10 000",
            ["broadcast", "--clients", "2000" if quick else "10000", "--window", "4"],
            "deliv/s",
            calibrate=True,
        ),
        Scenario(
            "connect_ws",
            "connect over websocket",
            ["connect_ws", "--clients", "50", *connector_args()],
            "conn/s",
            node_target=2.5,
            calibrate=True,
            asgi_floor=True,
        ),
        Scenario(
            "connect_upgrade",
            "connect by polling, then upgrade",
            ["connect_upgrade", "--clients", "200", *connector_args()],
            "conn/s",
            node_target=2.0,
            calibrate=True,
            asgi_floor=True,
        ),
        Scenario(
            "memory",
            "memory per idle connection",
            ["memory", "--clients", "1000" if quick else "5000"],
            "KiB",
            higher_is_better=False,
            node_target=0.5,
            fresh_per_repeat=True,
            asgi_floor=True,
        ),
        Scenario(
            "polling_echo",
            "polling-only echo with ack",
            ["polling_echo"],
            "msg/s",
            calibrate=True,
            asgi_floor=True,
        ),
        Scenario(
            "latency",
            "p99 latency at 4000 msg/s (echo, 50 clients)",
            ["latency", "--rate", "4000"],
            "ms",
            higher_is_better=False,
            node_target=1.0,
        ),
        Scenario(
            "slow_reader",
            "slow readers: server RSS growth",
            [
                "slow_reader",
                "--clients",
                "50",
                "--slow",
                "10",
                "--payload",
                "4096",
                "--window",
                "8",
                "--rss-cap",
                "512",
            ],
            "MiB",
            higher_is_better=False,
            fresh_per_repeat=True,
            timing=["--duration", "3" if quick else "6"],
        ),
        Scenario(
            "flask_echo",
            "seed app: 1 client, 16 in flight",
            ["seed_echo", "--clients", "1", "--window", "16"],
            "msg/s",
            flask_target=5.0,
        ),
        Scenario(
            "flask_room",
            "seed app: a room of 50, 49 sending (1 in flight each)",
            ["seed_broadcast", "--clients", "50", "--senders", "50", "--window", "1"],
            "deliv/s",
            flask_target=5.0,
        ),
    ]


# -- processes ------------------------------------------------------------------------------


def free_port() -> int:
    """A port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _raise_nofile() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """Wait until something accepts connections on ``port``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on port {port} after {timeout} s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a process this script started (its own process group), by its PID."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


@contextlib.contextmanager
def running_server(name: str, log: Path) -> Iterator[tuple[int, int]]:
    """Start server ``name`` on CPU 0; yield ``(port, pid)``; stop it."""
    port = free_port()
    cmd = [*PREFIX, "taskset", "-c", SERVER_CPU, *server_command(name, port)]
    if name in ("asgi", "pysio", "asgi-floor"):
        cmd += [*UVICORN_FLAGS, "--port", str(port)]
    env = server_env(name, port)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=NODE_DIR if name == "node" else ROOT,
            env=env,
            start_new_session=True,
            preexec_fn=_raise_nofile,
        )
    try:
        wait_listening(port, proc)
        yield port, proc.pid
    finally:
        stop(proc)


def run_loadgen(args: list[str], port: int, pid: int, timing: list[str]) -> dict[str, Any]:
    """Run loadgen.py on CPU 1 and return its JSON result."""
    cmd = [
        *PREFIX, "taskset", "-c", LOADGEN_CPU, str(MAIN_PY), str(HERE / "loadgen.py"), *args,
        "--port", str(port), "--server-pid", str(pid), *timing,
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        out, err = proc.communicate(timeout=360)
    except subprocess.TimeoutExpired:
        stop(proc)
        return {"error": "load generator timed out"}
    finally:
        stop(proc)
    try:
        return dict(json.loads(out.decode().strip().splitlines()[-1]))
    except (IndexError, ValueError):
        return {"error": f"load generator failed: {err.decode()[-300:]}"}


# -- measuring ------------------------------------------------------------------------------


def measure(sc: Scenario, server: str, opts: argparse.Namespace, log: Path) -> dict[str, Any]:
    """Run scenario ``sc`` against ``server``; the loadgen results merged."""
    timing = [
        "--repeats", str(opts.repeats), "--duration", str(opts.duration),
        "--warmup", str(opts.warmup),
        *sc.timing,
    ]  # fmt: skip
    if not sc.fresh_per_repeat:
        with running_server(server, log) as (port, pid):
            return run_loadgen(sc.loadgen, port, pid, timing)
    merged: dict[str, Any] = {"values": [], "windows": [], "runs": []}
    timing[1] = "1"
    for _ in range(opts.repeats):
        with running_server(server, log) as (port, pid):
            result = run_loadgen(sc.loadgen, port, pid, timing)
        if "error" in result:
            return result
        merged["values"] += result["values"]
        merged["runs"].append({k: v for k, v in result.items() if k not in ("values",)})
    return merged


def summary(values: list[float]) -> tuple[float, float, float]:
    """(min, median, max)."""
    return min(values), statistics.median(values), max(values)


def fmt(value: float, unit: str) -> str:
    """A figure in a few characters: 112.6k, 17.4, 0.87."""
    if unit in ("msg/s", "deliv/s", "conn/s") and value >= 1e6:
        return f"{value / 1e6:.2f}M"
    if unit in ("msg/s", "deliv/s", "conn/s") and value >= 1000:
        return f"{value / 1000:.1f}k"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def cell(result: dict[str, Any] | None, unit: str) -> str:
    """``median (min-max)`` of a result, or why there is none."""
    if result is None:
        return "-"
    if "error" in result:
        return "error"
    lo, med, hi = summary(result["values"])
    if lo == hi:
        return fmt(med, unit)
    return f"{fmt(med, unit)} ({fmt(lo, unit)}-{fmt(hi, unit)})"


def median(result: dict[str, Any] | None) -> float | None:
    """The median figure of a result, if it has one."""
    if result is None or "error" in result or not result.get("values"):
        return None
    return float(statistics.median(result["values"]))


def better_by(sc: Scenario, ours: float | None, theirs: float | None) -> float | None:
    """How many times better ``ours`` is (ours/theirs, inverted for lower-is-better)."""
    if ours is None or theirs is None or ours <= 0 or theirs <= 0:
        return None
    return ours / theirs if sc.higher_is_better else theirs / ours


def per_cpu(result: dict[str, Any] | None) -> float | None:
    """The median figure per second of server CPU: the rate the server would reach with the
    whole of its CPU. On a machine shared with other work, where the server does not always
    get its CPU, this is the fairer comparison of CPU-bound throughputs."""
    if result is None or "error" in result or not result.get("windows"):
        return None
    rates = [w["rate"] / w["server_cpu"] for w in result["windows"] if w.get("server_cpu")]
    return float(statistics.median(rates)) if rates else None


def _windows(result: dict[str, Any] | None) -> list[dict[str, Any]]:
    if result is None or "error" in result:
        return []
    return result.get("windows") or [w for r in result.get("runs", []) for w in r["windows"]]


#: The load generator's CPU share above which a row's figure is the generator's as much as
#: the server's.
GENERATOR_BOUND = 0.95


def loadgen_share(result: dict[str, Any] | None) -> float | None:
    """The load generator's median CPU share during the windows of ``result``."""
    windows = _windows(result)
    return statistics.median(w["loadgen_cpu"] for w in windows) if windows else None


def cpu_note(result: dict[str, Any] | None) -> str:
    """Median CPU shares of load generator and server during the windows."""
    windows = _windows(result)
    if not windows:
        return ""
    lg = statistics.median(w["loadgen_cpu"] for w in windows)
    sv = statistics.median(w.get("server_cpu", 0.0) for w in windows)
    other = statistics.median(
        w.get("other_on_server_cpu", 0.0) + w.get("other_on_loadgen_cpu", 0.0) for w in windows
    )
    return f"lg {lg:.0%} / srv {sv:.0%} / other {other:.0%}"


# -- the table ------------------------------------------------------------------------------


def verdict(sc: Scenario, results: dict[str, dict[str, Any]], ceiling: float | None) -> str:
    """Whether the issue's targets are met for this row."""
    t, n, p, a = (median(results.get(k)) for k in ("turbosio", "node", "pysio", "asgi"))
    notes = []
    if sc.key == "slow_reader":
        r = results.get("turbosio")
        if r is None or "error" in r:
            return "?"
        bounded = all(run.get("bounded") for run in r.get("runs", [r]))
        return "met: bounded" if bounded else "MISSED: still growing"
    if sc.node_target is not None and t is not None and n is not None:
        if sc.higher_is_better:
            ok = t / n >= sc.node_target
            if not ok and ceiling is not None and t >= 0.9 * ceiling:
                notes.append(f"at loadgen ceiling ({t / ceiling:.0%})")
            else:
                notes.append(f"{'met' if ok else 'MISSED'} {sc.node_target}x Node")
        else:
            ok = t / n <= sc.node_target
            notes.append(f"{'met' if ok else 'MISSED'} <={sc.node_target}x Node")
    if sc.key != "latency":
        ratio = better_by(sc, t, p)
        if ratio is not None:
            notes.append(f"{'met' if ratio >= 8 else 'MISSED'} 8x py")
        ratio = better_by(sc, a, p)
        if ratio is not None:
            notes.append(f"{'met' if ratio >= 3 else 'MISSED'} asgi 3x py")
    share = loadgen_share(results.get("turbosio"))
    if sc.higher_is_better and share is not None and share >= GENERATOR_BOUND:
        # The generator had no CPU to spare: turbosio's figure is a floor, not its own.
        notes.append(f"GENERATOR-BOUND (lg {share:.0%} in the turbosio run)")
    return ", ".join(notes)


def ratio_text(value: float | None) -> str:
    """A ratio for the table."""
    return "-" if value is None else f"{value:.2f}x"


def render(
    rows: list[tuple[Scenario, dict[str, dict[str, Any]]]], servers: list[str], repeats: int
) -> str:
    """The results table (markdown), with ratios, targets and CPU shares."""
    head = ["scenario", "unit", *(LABELS[s] for s in servers)]
    head += ["t/Node", "t/py", "asgi/py", "t/Node per CPU", "bare (ceiling)", "targets"]
    head += ["CPU (turbosio run)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for sc, results in rows:
        t, n, p, a = (median(results.get(k)) for k in ("turbosio", "node", "pysio", "asgi"))
        bare = median(results.get("bare"))
        cells = [sc.title, sc.unit, *(cell(results.get(s), sc.unit) for s in servers)]
        cells += [
            ratio_text(better_by(sc, t, n)),
            ratio_text(better_by(sc, t, p)),
            ratio_text(better_by(sc, a, p)),
            ratio_text(
                better_by(sc, per_cpu(results.get("turbosio")), per_cpu(results.get("node")))
            )
            if sc.unit.endswith("/s")
            else "-",
            fmt(bare, sc.unit) + " " + cpu_note(results.get("bare")) if bare else "-",
            verdict(sc, results, bare),
            cpu_note(results.get("turbosio")),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        f"Figures: median (min-max) over {repeats} repeat(s). Ratios are how many times better "
        "turbosio is (for KiB, ms and MiB: the other's figure divided by turbosio's). "
        "'lg' / 'srv': CPU share of the load generator / the server during the windows; "
        "'other': what other processes, or the hypervisor (steal), took of the two CPUs "
        "meanwhile (noise). "
        "'t/Node per CPU': the same ratio with each figure divided by its server's CPU share, "
        "the fairer one for CPU-bound rows when 'other' is large."
    )
    return "\n".join(lines)


def render_flask(rows: list[tuple[Scenario, dict[str, dict[str, Any]]]], servers: list[str]) -> str:
    """The table of the seed's Flask app: turbosio.flask against Flask-SocketIO's modes."""
    head = ["seed app (Flask)", "unit", *(LABELS[s] for s in servers)]
    head += ["t/Flask-SocketIO (best mode)", "target", "CPU (turbosio.flask run)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for sc, results in rows:
        ours = median(results.get("flask"))
        theirs = [
            (m, s) for s in servers if s.startswith("fsio-") and (m := median(results.get(s)))
        ]
        best = max(theirs) if theirs else None
        ratio = better_by(sc, ours, best[0]) if best else None
        target = sc.flask_target or 0.0
        verdict_text = "?" if ratio is None else ("met" if ratio >= target else "MISSED")
        lines.append(
            "| "
            + " | ".join(
                [
                    sc.title,
                    sc.unit,
                    *(cell(results.get(s), sc.unit) for s in servers),
                    ratio_text(ratio) + (f" (vs {LABELS[best[1]]})" if best else ""),
                    f"{verdict_text} >={target}x",
                    cpu_note(results.get("flask")),
                ]
            )
            + " |"
        )
    return "\n".join(lines)


def floor_line(sc: Scenario, results: dict[str, dict[str, Any]]) -> str:
    """What uvicorn alone reaches in scenario ``sc``, and the best asgi/py ratio it allows."""
    floor, pysio = median(results.get("asgi-floor")), median(results.get("pysio"))
    line = (
        f"- {sc.key} / uvicorn alone (apps/bare_asgi.py, no Socket.IO work): "
        f"{fmt(floor, sc.unit) + ' ' + sc.unit if floor is not None else '-'}"
    )
    best = better_by(sc, floor, pysio)
    if best is not None:
        line += f"; no ASGI app under uvicorn can be more than {best:.2f}x python-socketio here"
    return line


def extras(rows: list[tuple[Scenario, dict[str, dict[str, Any]]]]) -> str:
    """Details the table leaves out: latency percentiles, slow-reader drops, errors."""
    out = []
    for sc, results in rows:
        for server, r in results.items():
            if "error" in r:
                out.append(f"- {sc.key} / {server}: {r['error']}")
                continue
            if sc.key == "latency":
                p50 = statistics.median(r["p50"])
                p999 = statistics.median(r["p999"])
                rate = statistics.median(r["achieved"])
                out.append(
                    f"- latency / {server}: p50 {p50:.2f} ms, p99.9 {p999:.2f} ms "
                    f"at {rate:.0f} msg/s"
                )
            if sc.key == "slow_reader":
                for run in r.get("runs", []):
                    out.append(
                        f"- slow_reader / {server}: {run['slow']} slow clients, "
                        f"RSS +{run['half_growth_mib']:.0f} MiB at half time, "
                        f"bounded={run['bounded']}, capped={run['capped']}, "
                        f"{run['delivery_rate']:.0f} deliveries/s to the others"
                    )
                    break
            if server == "asgi-floor":
                out.append(floor_line(sc, results))
            if sc.key == "memory":
                for run in r.get("runs", [])[:1]:
                    out.append(
                        f"- memory / {server}: RSS {run['base_rss_mib']:.0f} -> "
                        f"{run['rss_mib']:.0f} MiB"
                    )
            errors = r.get("errors")
            if errors:
                out.append(f"- {sc.key} / {server}: errors {errors}")
    return "\n".join(out)


def check_peers(servers: list[str]) -> list[str]:
    """The servers whose peer installation is present (a loud line for each missing one)."""
    usable = []
    for server in servers:
        missing = None
        if server in ("turbosio", "asgi", "bare", "flask") and not MAIN_PY.exists():
            missing = "the main venv (.venv): run `make install`"
        elif (server == "pysio" or server.startswith("fsio-")) and not PEERS_PY.exists():
            missing = "benchmarks/.venv-peers: run `make bench`"
        elif server == "node" and (
            shutil.which("node") is None or not (NODE_DIR / "node_modules" / "socket.io").exists()
        ):
            missing = "node or benchmarks/node/node_modules: run `make bench`"
        if shutil.which("taskset") is None:
            sys.exit("taskset is missing (util-linux): the servers must be pinned to one CPU")
        if missing:
            print(f"!!! {server}: {missing}; left out", file=sys.stderr)
        else:
            usable.append(server)
    return usable


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description="turbosio vs Node socket.io vs python-socketio")
    parser.add_argument("--quick", action="store_true", help="a short smoke run (~2 minutes)")
    parser.add_argument("--servers", default=",".join(SERVERS + FLASK_SERVERS))
    parser.add_argument("--scenarios", default="", help="comma-separated keys (default: all)")
    parser.add_argument("--no-calibrate", action="store_true")
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--duration", type=float)
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="run servers and load generator at this niceness (e.g. -10, as root, on a machine "
        "shared with other work: fewer of its figures are other people's noise)",
    )
    opts = parser.parse_args()
    if opts.nice:
        PREFIX[:] = ["nice", "-n", str(opts.nice)]
    if os.cpu_count() is None or (os.cpu_count() or 0) < 2:
        sys.exit("make bench needs two CPUs: one for the server, one for the load generator")
    opts.repeats = opts.repeats or (1 if opts.quick else 3)
    opts.duration = opts.duration or (1.0 if opts.quick else 2.0)
    opts.warmup = 0.5 if opts.quick else 1.0
    servers = check_peers([s for s in opts.servers.split(",") if s])
    chosen = [s for s in opts.scenarios.split(",") if s]
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    log = RESULTS / f"servers-{stamp}.log"
    rows: list[tuple[Scenario, dict[str, dict[str, Any]]]] = []
    started = time.monotonic()
    connects = {"connect_ws", "connect_upgrade"}
    if (not chosen or connects & set(chosen)) and not os.access(CONNECTOR, os.X_OK):
        print(
            f"!!! {CONNECTOR.relative_to(ROOT)} is not built (no C compiler for `make bench`?): "
            "the connect rows are measured with the Python load generator, whose own "
            "ceilings (about 16k conn/s over WebSocket, 2.5k by polling then upgrade) may be "
            "the figures",
            file=sys.stderr,
            flush=True,
        )
    for sc in scenarios(opts.quick):
        if chosen and sc.key not in chosen:
            continue
        results: dict[str, dict[str, Any]] = {}
        flask_row = sc.flask_target is not None
        order = [s for s in servers if (s in FLASK_SERVERS) == flask_row]
        if sc.calibrate and not opts.no_calibrate and not opts.quick:
            order.append("bare")
        if sc.asgi_floor and "asgi" in order and not opts.quick:
            order.append("asgi-floor")
        for server in order:
            t0 = time.monotonic()
            results[server] = measure(sc, server, opts, log)
            print(
                f"[{time.monotonic() - started:6.0f}s] {sc.key:16} {server:9} "
                f"{cell(results[server], sc.unit):28} {cpu_note(results[server])}"
                f"  ({time.monotonic() - t0:.0f} s)",
                flush=True,
            )
        rows.append((sc, results))
    main_rows = [r for r in rows if r[0].flask_target is None]
    flask_rows = [r for r in rows if r[0].flask_target is not None]
    tables = []
    if main_rows:
        tables.append(
            render(main_rows, [s for s in servers if s not in FLASK_SERVERS], opts.repeats)
        )
    if flask_rows:
        tables.append(render_flask(flask_rows, [s for s in servers if s in FLASK_SERVERS]))
    table = "\n\n".join(tables)
    details = extras(rows)
    elapsed = time.monotonic() - started
    print()
    print(table)
    if details:
        print()
        print(details)
    print(f"\n{'quick' if opts.quick else 'full'} run, {elapsed / 60:.1f} minutes")
    raw = RESULTS / f"bench-{stamp}.json"
    raw.write_text(json.dumps([{"scenario": sc.key, "results": r} for sc, r in rows], indent=1))
    (RESULTS / f"bench-{stamp}.md").write_text(table + "\n\n" + details + "\n")
    print(f"raw results: {raw.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
