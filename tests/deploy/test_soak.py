"""The soak script's short version (scripts/soak.py): 500 connections with fast churn (about
a thousand connects a second) for 40 s.

The full run (5000 connections, 10 minutes) is not part of the test run; its figures are in
docs/reliability.md. This one checks the same things on a smaller scale: the server's RSS at
the end within 10 % of its RSS after the warm-up, nothing left on the server once the clients
are gone, no error on either side.
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
    assert result["acks"] >= 2 * result["connects"]
    assert result["left_on_server"] == {"sessions": 0, "sockets": 0, "rooms": 0}
    assert result["client_errors"] == {} and result["server_errors"] == []
    assert abs(result["rss_change_pct"]) <= 10
