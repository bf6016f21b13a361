"""The demo site in real Chromium: two pages per demo, what one does shows in the other.

Every test runs twice: with the client's default transports (polling, then the upgrade to
WebSocket) and with ``transports: ["polling"]`` (the pages read ``?transport=polling``). The
pages load the official client served by turbosio itself. Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from .conftest import OpenPage, screenshot

pytestmark = pytest.mark.asyncio(loop_scope="package")

try:
    from playwright.async_api import expect
except ImportError:  # the browser fixture skips (or fails under CI) with the reason
    expect = None  # type: ignore[assignment]
else:
    # Waits, not timings: generous for a busy two-core machine.
    expect.set_options(timeout=15_000)


async def connected(page: Any, transport: str) -> None:
    """Wait until the page's client is connected over the transport it should end on."""
    final = "polling" if transport == "polling" else "websocket"
    await expect(page.locator("#status")).to_have_attribute("data-transport", final)
    assert await page.evaluate("document.documentElement.dataset.client") == "local"


async def enter(page: Any, name: str, transport: str, ready: str) -> None:
    await page.fill("#name", name)
    await page.press("#name", "Enter")
    await expect(page.locator(ready)).to_be_visible()
    await connected(page, transport)


async def test_index_links_every_demo(open_page: OpenPage, transport: str) -> None:
    page = await open_page("/")
    await expect(page.locator("h1")).to_have_text("turbosio demo")
    suffix = "" if transport == "default" else "?transport=polling"
    for path in ("/chat", "/quiz", "/whiteboard", "/dashboard"):
        # The navigation keeps the transport the visitor asked for.
        await expect(page.locator(f"main a.card[href^='{path}']")).to_have_attribute(
            "href", path + suffix
        )
    await expect(page.locator("#client-source")).to_have_text("/socket.io/socket.io.js")
    await page.click("main a.card[href^='/whiteboard']")
    await expect(page).to_have_url(re.compile(r"/whiteboard"))
    await connected(page, transport)
    if transport == "default":
        await page.go_back()
        await expect(page.locator("h1")).to_have_text("turbosio demo")
        await screenshot(page, "index")


async def test_chat(open_page: OpenPage, transport: str) -> None:
    alice, bob = await open_page("/chat"), await open_page("/chat")
    await enter(alice, "alice", transport, "#chat")
    await enter(bob, "bob", transport, "#chat")
    for page in (alice, bob):
        await expect(page.locator("#online li")).to_have_text(["alice", "bob"])

    # A message reaches the room, and its acknowledgement marks it delivered for the sender.
    await alice.fill("#text", "hello from alice")
    await alice.press("#text", "Enter")
    await expect(bob.locator("#messages li", has_text="hello from alice")).to_be_visible()
    mine = alice.locator("#messages li.mine", has_text="hello from alice")
    await expect(mine).to_have_attribute("data-status", "delivered")

    # "is typing" shows on the other page while bob types, and goes when he sends.
    await bob.type("#text", "hi alice, how")
    await expect(alice.locator("#typing")).to_have_text("bob is typing…")
    await bob.press("#text", "Enter")
    await expect(alice.locator("#typing")).to_have_text("")
    await expect(alice.locator("#messages li", has_text="hi alice, how")).to_be_visible()

    # Rooms: bob joins #python; alice (not in it) does not get its messages.
    await bob.fill("#room-name", "python")
    await bob.press("#room-name", "Enter")
    await expect(bob.locator("#room-title")).to_have_text("# python")
    await bob.fill("#text", "anyone into asyncio?")
    await bob.press("#text", "Enter")
    await expect(bob.locator("#messages li.mine", has_text="asyncio")).to_have_attribute(
        "data-status", "delivered"
    )
    await alice.fill("#room-name", "python")
    await alice.press("#room-name", "Enter")
    # Joining brings the room's last messages (its history).
    await expect(alice.locator("#messages li", has_text="anyone into asyncio?")).to_be_visible()
    await expect(bob.locator("#messages li.notice", has_text="alice joined")).to_be_visible()
    await alice.fill("#text", "me! and turbosio")
    await alice.press("#text", "Enter")
    await expect(bob.locator("#messages li", has_text="me! and turbosio")).to_be_visible()

    # A third visitor arrives late: #general's history and the online list include everyone.
    carol = await open_page("/chat")
    await enter(carol, "carol", transport, "#chat")
    await expect(carol.locator("#messages li", has_text="hello from alice")).to_be_visible()
    await expect(carol.locator("#messages li", has_text="hi alice, how")).to_be_visible()
    await expect(alice.locator("#online li")).to_have_text(["alice", "bob", "carol"])

    # alice starts typing in #python: bob sees it, carol (in #general only) does not.
    await alice.type("#text", "gotta go")
    await expect(bob.locator("#typing")).to_have_text("alice is typing…")
    assert await carol.text_content("#typing") == ""
    if transport == "default":
        await screenshot(bob, "chat")

    # Leaving: alice leaves #python, and bob's page says so (and that she stopped typing).
    await alice.click("#rooms button.leave[aria-label='leave python']")
    await expect(bob.locator("#messages li.notice", has_text="alice left")).to_be_visible()
    await expect(bob.locator("#typing")).to_have_text("")
    await expect(alice.locator("#room-title")).to_have_text("# general")
    # A visitor who leaves drops off everyone's online list.
    await carol.close(run_before_unload=True)  # the visitor closes the tab
    await expect(alice.locator("#online li")).to_have_text(["alice", "bob"])


async def test_chat_message_sent_before_the_join_answer(
    open_page: OpenPage, transport: str
) -> None:
    # A message typed into a room the page has just joined, before the server's answer to the
    # join (the room's history) is back: the history must not wipe it, and its acknowledgement
    # still marks it delivered. Both forms are submitted in one task, so the answer cannot
    # have arrived in between.
    room = f"early-{transport}"  # a room of its own: the server keeps a room's history
    dave = await open_page("/chat")
    await enter(dave, "dave", transport, "#chat")
    await dave.evaluate(
        """(room) => {
            document.getElementById("room-name").value = room;
            document.getElementById("join-room").requestSubmit();
            document.getElementById("text").value = "first words";
            document.getElementById("send").requestSubmit();
        }""",
        room,
    )
    await expect(dave.locator("#room-title")).to_have_text("# " + room)
    mine = dave.locator("#messages li.mine", has_text="first words")
    await expect(mine).to_have_attribute("data-status", "delivered")
    # The message is in the room's history on the server too: a second visitor sees it.
    erin = await open_page("/chat")
    await enter(erin, "erin", transport, "#chat")
    await erin.fill("#room-name", room)
    await erin.press("#room-name", "Enter")
    await expect(erin.locator("#messages li", has_text="first words")).to_be_visible()


async def leaderboard(page: Any) -> list[tuple[str, int]]:
    rows = page.locator("#leaderboard li")
    return [
        (str(await row.get_attribute("data-name")), int(str(await row.get_attribute("data-score"))))
        for row in await rows.all()
    ]


async def test_quiz(open_page: OpenPage, transport: str) -> None:
    alice, bob = await open_page("/quiz"), await open_page("/quiz")
    await enter(alice, "alice", transport, "#game")
    await enter(bob, "bob", transport, "#game")
    for page in (alice, bob):
        await expect(page.locator("#leaderboard li")).to_have_count(2)

    await alice.select_option("#count", "3")
    await alice.click("#start-button")
    scores = {"alice": 0, "bob": 0}
    for index in range(3):
        for page in (alice, bob):
            await expect(page.locator("#game")).to_have_attribute("data-phase", "question")
            await expect(page.locator("#game")).to_have_attribute("data-index", str(index))
        # Both pages show the same question with the same clock, pushed by the server.
        assert await alice.text_content("#question") == await bob.text_content("#question")
        if index == 0:
            await expect(alice.locator("#seconds")).to_have_text("20")
            # The countdown comes from the server: both pages tick down together.
            await expect(alice.locator("#seconds")).not_to_have_text("20")
            ticked = await alice.text_content("#seconds")
            await expect(bob.locator("#seconds")).to_have_text(str(ticked))
        await alice.click("#choices button >> nth=0")
        # bob sees alice's answer land on the leaderboard before he answers.
        await expect(bob.locator("#leaderboard li[data-name='alice'] .done")).to_have_text("✓")
        await bob.click("#choices button >> nth=1")
        # Everyone answered: the right answer is revealed at once on both pages.
        for page in (alice, bob):
            await expect(page.locator("#choices")).to_have_attribute(
                "data-correct", re.compile(r"\d")
            )
        correct = int(str(await alice.get_attribute("#choices", "data-correct")))
        assert await bob.get_attribute("#choices", "data-correct") == str(correct)
        board = await leaderboard(alice)
        await expect(bob.locator("#leaderboard li")).to_have_count(2)
        assert await leaderboard(bob) == board  # the scores agree on every page
        new = dict(board)
        for name, choice in (("alice", 0), ("bob", 1)):
            gained = new[name] - scores[name]
            if choice == correct:
                assert 500 <= gained <= 1000, (name, gained)
            else:
                assert gained == 0, (name, gained)
        scores = new
        if index == 1 and transport == "default":
            await screenshot(bob, "quiz")

    for page in (alice, bob):
        await expect(page.locator("#game")).to_have_attribute("data-phase", "over")
        await expect(page.locator("#lobby-title")).to_have_text("Round over")
    assert await leaderboard(alice) == await leaderboard(bob)
    assert dict(await leaderboard(alice)) == scores


async def painted_pixels(page: Any) -> int:
    """How many pixels of the page's canvas are drawn on."""
    count: int = await page.evaluate(
        """() => {
            const canvas = document.getElementById("board");
            const { width, height } = canvas;
            const data = canvas.getContext("2d").getImageData(0, 0, width, height).data;
            let n = 0;
            for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n++;
            return n;
        }"""
    )
    return count


async def draw(page: Any, points: list[tuple[float, float]], color: int = 0) -> None:
    """Draw through ``points`` (fractions of the canvas) with the mouse, in colour ``color``."""
    await page.click(f"#swatches button >> nth={color}")
    box = await page.locator("#board").bounding_box()
    assert box is not None
    at = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in points]
    await page.mouse.move(*at[0])
    await page.mouse.down()
    for x, y in at[1:]:
        await page.mouse.move(x, y, steps=4)
    await page.mouse.up()


async def test_whiteboard(open_page: OpenPage, transport: str) -> None:
    alice, bob = await open_page("/whiteboard"), await open_page("/whiteboard")
    for page in (alice, bob):
        await connected(page, transport)
    await expect(alice.locator("#people")).to_have_text("2 people drawing")
    assert await painted_pixels(bob) == 0

    # A house, drawn on alice's page, appears stroke for stroke on bob's.
    await draw(alice, [(0.2, 0.8), (0.2, 0.45), (0.45, 0.45), (0.45, 0.8), (0.2, 0.8)], 0)
    await draw(alice, [(0.17, 0.47), (0.325, 0.2), (0.48, 0.47)], 3)
    await draw(bob, [(0.6, 0.75), (0.7, 0.5), (0.8, 0.75), (0.9, 0.5)], 2)
    drawn = await alice.get_attribute("#board", "data-segments")
    assert drawn is not None and int(drawn) > 20
    await expect(bob.locator("#board")).to_have_attribute("data-segments", drawn)
    assert await painted_pixels(bob) > 500

    # A page that opens later gets the whole drawing.
    carol = await open_page("/whiteboard")
    await connected(carol, transport)
    await expect(carol.locator("#board")).to_have_attribute("data-segments", drawn)
    assert await painted_pixels(carol) > 500
    if transport == "default":
        await screenshot(carol, "whiteboard")

    # Clear wipes it for everyone.
    await bob.click("#clear")
    for page in (alice, bob, carol):
        await expect(page.locator("#board")).to_have_attribute("data-segments", "0")
        assert await painted_pixels(page) == 0


async def number(page: Any, element: str) -> float:
    text = await page.text_content(element)
    return float(str(text))


async def test_dashboard(open_page: OpenPage, transport: str) -> None:
    first = await open_page("/dashboard")
    await connected(first, transport)
    samples = first.locator("#samples")
    await expect(samples).not_to_have_attribute("data-count", "0")
    await expect(first.locator("#connections")).to_have_text("1")
    memory = await number(first, "#memory")
    assert memory > 1  # MiB resident: a real measure of the process

    # A second page is a second connection: the first page's number moves.
    second = await open_page("/dashboard")
    await connected(second, transport)
    await expect(first.locator("#connections")).to_have_text("2")
    await expect(second.locator("#connections")).to_have_text("2")
    await expect(first.locator("#namespaces")).to_contain_text("/dashboard 2")

    # A burst of events from the second page shows in the first page's message rate. The
    # button is enabled once the page's socket exists (a click before would send nothing).
    # The rate shows the burst for one sample only (a quarter second here), which a check of
    # the number could miss: the chart holds it for 60 samples, and its peak says so.
    await expect(second.locator("#burst")).to_be_enabled()
    await second.click("#burst")
    peak = first.locator("#chart-messages")
    await expect(peak).to_have_attribute("data-peak", re.compile(r"^[1-9]\d{2,}"))
    before = int(str(await samples.get_attribute("data-count")))
    await expect(samples).not_to_have_attribute("data-count", str(before))
    await expect(first.locator("#latency")).to_have_text(re.compile(r"^\d+(\.\d)?$"))
    if transport == "default":
        # Let the charts fill up a little (a sample every 0.25 s here) for the picture.
        await expect(samples).to_have_attribute("data-count", re.compile(r"^(2[4-9]|[3-9]\d)"))
        await screenshot(first, "dashboard")

    # The second page leaves: the count goes back down.
    await second.close(run_before_unload=True)  # the visitor closes the tab
    await expect(first.locator("#connections")).to_have_text("1")
