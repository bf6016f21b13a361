"""The soak script's short version (scripts/soak.py): 500 connections with fast churn (about
a thousand connects a second) for 40 s.

The full run (5000 connections, 10 minutes) is not part of the test run; its figures are in
docs/reliability.md. This one checks the same things on a smaller scale: the server's RSS at
the end within 10 % of its RSS after the warm-up, nothing left on the server once the clients
are gone, no error on either side. A second run checks that the load generator's clients
answer the server's pings while their slots wait.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "soak.py"


def test_short_soak(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    done = subprocess.run(
        [
            sys.executable, str(SCRIPT), "--connections", "500", "--duration", "40",
            "--warmup", "20", "--ramp", "2", "--emits", "2", "--think", "0.1",
            "--pause", "0.1", "--json", str(out),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["passed"]
    assert result["connects"] > 5000  # churn: every slot came back again and again
    # Two acks a visit, but for the last visit of each of the 500 slots, cut short at the end.
    assert result["acks"] >= 2 * (result["connects"] - 500)
    assert result["left_on_server"] == {"sessions": 0, "sockets": 0, "rooms": 0}
    assert result["client_errors"] == {} and result["server_errors"] == []
    assert abs(result["rss_change_pct"]) <= 10


def test_clients_answer_pings_while_their_slots_wait(tmp_path: Path) -> None:
    # Pings every 0.5 s, 0.5 s to answer, and 1.5 to 4.5 s between a slot's emits: a client
    # that answered pings only when its slot's coroutine read (the soak client before it was
    # an asyncio.Protocol) is closed with "ping timeout" in every think time. This one answers
    # in data_received, so no session ends that way. (The memory check is the other test's.)
    out = tmp_path / "soak.json"
    done = subprocess.run(
        [
            sys.executable, str(SCRIPT), "--connections", "50", "--duration", "12",
            "--warmup", "6", "--ramp", "1", "--emits", "2", "--think", "3", "--pause", "0.2",
            "--ping-interval", "0.5", "--rss-tolerance", "100", "--json", str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["acks"] >= 2 * 50  # every slot went through its think times
    # A visit still going at the end is cut short, not finished: think times of up to 4.5 s
    # made the run last up to about 9 s beyond its 12 before.
    assert result["duration_s"] < 12 + 4
    assert result["client_errors"] == {}
    assert "ping timeout" not in result["disconnect_reasons"]
