"""The demo site without a browser: its pages and assets, and each demo's events on the wire.

What a page does in the browser is tested in test_browser.py; here the server side of each
demo is checked packet by packet (with the small client in wire.py), quickly and exactly.
"""

from __future__ import annotations

import asyncio
import re
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from turbosio.demo import INDEX_HTML, PAGES, STATIC_DIR, create_server
from turbosio.demo.dashboard import memory_mib

from .wire import WireClient

DEMOS_DOC = Path(__file__).resolve().parent.parent.parent / "docs" / "demos.md"


@pytest.fixture
async def url() -> AsyncIterator[str]:
    sio = create_server(question_seconds=2, reveal_seconds=0.1, metrics_interval=0.1)
    handle = await sio.serve(host="127.0.0.1", port=0)
    try:
        yield handle.url
    finally:
        await handle.close(timeout=2)


def test_pages_and_assets_ship_in_the_package() -> None:
    assert INDEX_HTML == STATIC_DIR / "index.html"
    for name in PAGES.values():
        page = (STATIC_DIR / name).read_text(encoding="utf-8")
        # Every local script and stylesheet a page names is there.
        for asset in re.findall(r'(?:src|href)="/static/([^"]+)"', page):
            assert (STATIC_DIR / asset).is_file(), f"{name} needs {asset}"
        assert '<script src="/static/client.js">' in page
    loader = (STATIC_DIR / "client.js").read_text(encoding="utf-8")
    # The client comes from the server when it serves one, else from the CDN build.
    assert '"/socket.io/socket.io.js"' in loader
    assert '"https://cdn.socket.io/4.5.4/socket.io.min.js"' in loader


def test_doc_excerpts_are_the_code() -> None:
    """docs/demos.md shows the demos' code: every excerpt is found, line for line, in a module."""
    modules = [
        textwrap.dedent(path.read_text(encoding="utf-8")).splitlines()
        for path in (STATIC_DIR.parent).glob("*.py")
    ]
    stripped = [[line.strip() for line in lines] for lines in modules]
    blocks = re.findall(r"```python\n(.*?)```", DEMOS_DOC.read_text(encoding="utf-8"), re.S)
    excerpts = [block for block in blocks if "import " not in block]  # the rest are usage
    assert len(excerpts) >= 5
    for block in excerpts:
        lines = [line.strip() for line in block.strip().splitlines()]
        found = any(
            module[i : i + len(lines)] == lines
            for module in stripped
            for i in range(len(module) - len(lines) + 1)
        )
        assert found, f"docs/demos.md shows code no demo module has:\n{block}"


async def test_pages_and_assets_are_served(url: str) -> None:
    async with aiohttp.ClientSession() as http:
        for path, name in PAGES.items():
            async with http.get(url + path) as resp:
                assert resp.status == 200, path
                assert resp.headers["Content-Type"].startswith("text/html")
                assert await resp.read() == (STATIC_DIR / name).read_bytes()
        for asset, kind in [("site.css", "text/css"), ("chart.js", "javascript")]:
            async with http.get(f"{url}/static/{asset}") as resp:
                assert resp.status == 200
                assert kind in resp.headers["Content-Type"]


async def test_create_server_passes_options() -> None:
    sio = create_server(path="/rt")
    handle = await sio.serve(host="127.0.0.1", port=0)
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(handle.url + "/rt/?EIO=3&transport=polling") as resp,
        ):
            assert resp.status == 400  # the engine is at /rt, and answers as Node does
            assert (await resp.json())["message"] == "Unsupported protocol version"
    finally:
        await handle.close()


# -- chat -----------------------------------------------------------------------------------


async def test_chat_needs_a_nickname(url: str) -> None:
    with pytest.raises(ConnectionRefusedError, match="pick a nickname first"):
        await WireClient.connect(url, "/chat", {"name": "   "})


async def test_chat_rooms_history_acks_and_typing(url: str) -> None:
    alice = await WireClient.connect(url, "/chat", {"name": "alice"})
    assert await alice.event("online") == [["alice"]]
    bob = await WireClient.connect(url, "/chat", {"name": " bob\n"})
    assert await bob.event("online") == [["alice", "bob"]]
    assert await alice.event("online") == [["alice", "bob"]]

    assert await alice.call("join", "general") == []
    assert await bob.call("join", "general") == []
    assert (await alice.event("notice"))[0]["text"] == "bob joined"

    # The acknowledgement is the stored message; the others in the room get the same.
    stored = await alice.call("message", {"room": "general", "text": "  hello\nbob "})
    assert stored["text"] == "hello bob"
    assert (stored["name"], stored["room"]) == ("alice", "general")
    assert await bob.event("message") == [stored]
    # Not in a room: no delivery, a null acknowledgement.
    assert await alice.call("message", {"room": "python", "text": "hi"}) is None

    await bob.emit("typing", {"room": "general", "typing": True})
    assert await alice.event("typing") == [{"room": "general", "name": "bob", "typing": True}]

    # Rooms keep their last messages for whoever joins later.
    carol = await WireClient.connect(url, "/chat", {"name": "carol"})
    assert await carol.call("join", "general") == [stored]
    assert await carol.call("leave", "general") is True
    assert (await alice.event("notice"))[0]["text"] == "carol joined"
    assert (await alice.event("notice"))[0]["text"] == "carol left"
    assert await carol.call("leave", "general") is False

    await bob.close()
    assert (await alice.event("notice"))[0]["text"] == "bob left"
    online = await alice.event("online")
    while online != [["alice", "carol"]]:  # carol's arrival came first
        online = await alice.event("online")
    await alice.close()
    await carol.close()


# -- quiz -----------------------------------------------------------------------------------


async def test_quiz_round(url: str) -> None:
    alice = await WireClient.connect(url, "/quiz", {"name": "alice"})
    state = await alice.event("state")
    assert state == [{"running": False, "question": None, "left": 0}]
    bob = await WireClient.connect(url, "/quiz", {"name": "bob"})

    assert await alice.call("start", {"count": 2}) == {"ok": True}
    assert await bob.call("start", {"count": 2}) == {
        "ok": False,
        "error": "a round is already running",
    }
    for index in range(2):
        [question] = await alice.event("question")
        assert await bob.event("question") == [question]
        assert question["index"] == index and question["total"] == 2
        assert question["host"] == "alice" and len(question["choices"]) == 4
        assert await alice.call("answer", 0) is True
        assert await alice.call("answer", 1) is False  # once per question
        if index == 0:
            # Both answered: the reveal comes at once, before the 2 s clock runs out.
            assert await bob.call("answer", 1) is True
        [reveal] = await alice.event("reveal")
        assert await bob.event("reveal") == [reveal]
        assert reveal["index"] == index
        scores = {p["name"]: p for p in reveal["players"]}
        for name, choice in (("alice", 0), ("bob", 1)):
            last = scores[name]["last"]
            if index == 1 and name == "bob":
                assert last == 0  # bob let the clock run out
            elif choice == reveal["correct"]:
                assert 500 <= last <= 1000
            else:
                assert last == 0
        assert [p["score"] for p in reveal["players"]] == sorted(
            (p["score"] for p in reveal["players"]), reverse=True
        )
    [over] = await alice.event("over")
    assert await bob.event("over") == [over]
    assert over["players"] == reveal["players"]
    assert await alice.call("start", {"count": 1}) == {"ok": True}  # a new round may start
    await alice.close()
    await bob.close()


async def test_quiz_late_player_gets_the_current_question(url: str) -> None:
    alice = await WireClient.connect(url, "/quiz", {"name": "alice"})
    assert await alice.call("start", {"count": 1}) == {"ok": True}
    [question] = await alice.event("question")
    bob = await WireClient.connect(url, "/quiz", {"name": "bob"})
    [state] = await bob.event("state")
    assert state["running"] is True
    assert state["question"] == question
    await alice.close()
    await bob.close()


# -- whiteboard -----------------------------------------------------------------------------


async def test_whiteboard_draw_history_clear(url: str) -> None:
    alice = await WireClient.connect(url, "/whiteboard")
    assert await alice.event("history") == [[]]
    bob = await WireClient.connect(url, "/whiteboard")
    assert await bob.event("people") == [2]
    good = [0.1, 0.2, 0.3, 0.4, "#2f7d6d", 0.006]
    bad = [
        [0.1, 0.2, 0.3, 1.5, "#2f7d6d", 0.006],  # off the canvas
        [0.1, 0.2, 0.3, 0.4, "red; x", 0.006],  # not a colour
        [0.1, 0.2, 0.3, 0.4, "#2f7d6d", 5],  # too wide
        "nonsense",
    ]
    await alice.emit("draw", [good, *bad])
    assert await bob.event("draw") == [[good]]
    assert await alice.nothing_more("draw")  # the sender drew it already
    carol = await WireClient.connect(url, "/whiteboard")
    assert await carol.event("history") == [[good]]
    await bob.emit("clear")
    for client in (alice, bob, carol):
        assert await client.event("clear") == []
    dave = await WireClient.connect(url, "/whiteboard")
    assert await dave.event("history") == [[]]
    for client in (alice, bob, carol, dave):
        await client.close()


# -- dashboard ------------------------------------------------------------------------------


async def test_dashboard_pushes_metrics(url: str) -> None:
    watcher = await WireClient.connect(url, "/dashboard")
    assert await watcher.event("history") == [{"interval": 0.1, "samples": []}]
    [sample] = await watcher.event("metrics")
    assert set(sample) == {"time", "connections", "sockets", "messages", "cpu", "memory"}
    assert sample["connections"] == 1
    assert sample["sockets"] == {"/chat": 0, "/quiz": 0, "/whiteboard": 0, "/dashboard": 1}
    assert sample["memory"] > 1
    # Events in the watched namespaces move the message rate.
    chatter = await WireClient.connect(url, "/chat", {"name": "chatter"})
    for _ in range(20):
        await chatter.emit("typing", {"room": "nowhere", "typing": True})
    assert await watcher.call("ping") > 0
    while True:
        [sample] = await watcher.event("metrics")
        if sample["messages"] > 0:
            break
    assert sample["connections"] == 2
    await chatter.close()
    # A late page gets the samples so far.
    late = await WireClient.connect(url, "/dashboard")
    [history] = await late.event("history")
    assert len(history["samples"]) >= 2
    await late.close()
    await watcher.close()


async def test_dashboard_stops_measuring_when_nobody_watches(url: str) -> None:
    watcher = await WireClient.connect(url, "/dashboard")
    await watcher.event("metrics")
    await watcher.close()
    await asyncio.sleep(0.3)
    late = await WireClient.connect(url, "/dashboard")
    [history] = await late.event("history")
    # No sample was taken while nobody was connected: the newest is from before.
    assert history["samples"]
    newest = history["samples"][-1]["time"]
    [fresh] = await late.event("metrics")
    assert fresh["time"] - newest >= 0.3
    await late.close()


def test_memory_is_measured() -> None:
    memory = memory_mib()
    assert memory is not None and 1 < memory < 100_000
