"""``run()`` as a program runs it: a child process serving until SIGTERM, then shutting down."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

from server_helpers import TIMEOUT, client_frame, read_frame, read_response, ws_connect

from turbosio.server.frames import OP_CLOSE, OP_TEXT, parse_close

HERE = Path(__file__).parent
SRC = HERE.parent.parent / "src"

PROGRAM = """
import asyncio, logging, sys
sys.path[:0] = [{here!r}, {src!r}]
from server_helpers import EchoApp
from turbosio.server import run

logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s %(message)s")

async def on_startup():
    print("startup", flush=True)

async def on_shutdown():
    print("shutdown begins", flush=True)
    await asyncio.sleep(0.05)
    print("shutdown ends", flush=True)

run(EchoApp(), "127.0.0.1", 0, on_startup=on_startup, on_shutdown=on_shutdown)
print("returned", flush=True)
"""


async def test_run_serves_until_sigterm_then_shuts_down(tmp_path: Path) -> None:
    script = tmp_path / "serve_echo.py"
    script.write_text(PROGRAM.format(here=str(HERE), src=str(SRC)))
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    assert child.stderr is not None and child.stdout is not None
    try:
        line = (await asyncio.wait_for(child.stderr.readline(), TIMEOUT)).decode()
        match = re.fullmatch(
            r"turbosio\.server turbosio running on http://127\.0\.0\.1:(\d+) "
            r"\(Press CTRL\+C to quit\)\n",
            line,
        )
        assert match, line
        port = int(match.group(1))
        assert await child.stdout.readline() == b"startup\n"

        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /echo HTTP/1.1\r\n\r\n")
        assert (await read_response(reader)).status == 200
        ws_reader, ws_writer = await ws_connect(port)
        ws_writer.write(client_frame(OP_TEXT, b"hello"))
        assert await read_frame(ws_reader) == (True, OP_TEXT, b"hello")

        child.send_signal(signal.SIGTERM)
        # The WebSocket is told the server is going away, after the app's shutdown hook.
        _, opcode, payload = await read_frame(ws_reader)
        assert (opcode, parse_close(payload)[0]) == (OP_CLOSE, 1001)
        assert await asyncio.wait_for(reader.read(), TIMEOUT) == b""
        writer.close()
        ws_writer.close()

        out, err = await asyncio.wait_for(child.communicate(), TIMEOUT)
        assert out.decode().splitlines() == ["shutdown begins", "shutdown ends", "returned"]
        assert "Traceback" not in err.decode()
        assert child.returncode == 0
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
