"""The docs stay true to the code: every Python example parses, and the README's quick start
runs and behaves as the README says (refusal, room broadcast, acknowledgement)."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TIMEOUT = 10


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), re.DOTALL)


def test_every_doc_is_there() -> None:
    names = {path.name for path in DOCS}
    expected = {"asgi.md", "cli.md", "development.md", "index.md", "protocol.md", "server.md"}
    assert expected <= names


@pytest.mark.parametrize("path", DOCS, ids=lambda path: path.name)
def test_python_examples_parse(path: Path) -> None:
    for number, block in enumerate(python_blocks(path)):
        # Examples may await at top level, as in a REPL started with `python -m asyncio`.
        compile(block, f"{path.name} example {number}", "exec", ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


@pytest.mark.parametrize("path", DOCS, ids=lambda path: path.name)
def test_links_between_docs_resolve(path: Path) -> None:
    for target in re.findall(r"\]\(([^)#:]+\.md)\)", path.read_text(encoding="utf-8")):
        assert (path.parent / target).is_file(), f"{path.name} links to missing {target}"


async def next_packet(ws: aiohttp.ClientWebSocketResponse) -> str:
    """The next Engine.IO packet that is not a ping (pings are answered)."""
    while True:
        packet = await ws.receive_str(timeout=TIMEOUT)
        if packet != "2":
            return packet
        await ws.send_str("3")


async def open_ws(http: aiohttp.ClientSession, url: str) -> aiohttp.ClientWebSocketResponse:
    ws = await http.ws_connect(
        url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    )
    assert (await next_packet(ws)).startswith("0{")
    return ws


async def test_readme_quick_start_runs() -> None:
    quick_start = python_blocks(ROOT / "README.md")[0]
    namespace: dict[str, Any] = {"__name__": "readme_quick_start"}  # not "__main__": no run()
    exec(compile(quick_start, "README.md quick start", "exec"), namespace)
    sio = namespace["sio"]
    handle = await sio.serve(host="127.0.0.1", port=0)
    try:
        async with aiohttp.ClientSession() as http:
            refused = await open_ws(http, handle.url)
            await refused.send_str('40{"token":"wrong"}')
            assert await next_packet(refused) == '44{"message":"bad token"}'

            alice = await open_ws(http, handle.url)
            await alice.send_str('40{"token":"let me in"}')
            assert (await next_packet(alice)).startswith('40{"sid":')
            bob = await open_ws(http, handle.url)
            await bob.send_str('40{"token":"let me in"}')
            assert (await next_packet(bob)).startswith('40{"sid":')

            await alice.send_str('421["chat","hello"]')
            assert await next_packet(alice) == '431["ok"]'  # the ack (the room broadcast skips her)
            assert json.loads((await next_packet(bob))[2:]) == ["chat", "hello"]
            for ws in (refused, alice, bob):
                await ws.close()
    finally:
        await handle.close()
