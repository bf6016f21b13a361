"""The live quiz demo (namespace ``/quiz``, page ``/quiz``).

Players connect with a nickname (``auth={"name": ...}``). Any player can ``start`` a round
(``{"count": 3..10}``) when none is running; the server then drives it, pushing to everyone:

* ``question`` ``{index, total, text, choices, seconds, host}``, then a ``tick`` with the
  seconds left every second: the countdown lives on the server, so every page shows the same;
* ``reveal`` ``{index, correct, players}`` when time is up or everyone has answered;
* ``over`` ``{players}`` after the last question.

``answer(choice)`` counts once per question: a right answer scores 500 points plus up to 500
more for speed. ``players`` (the leaderboard, best first) goes to everyone whenever it changes,
so scores update live on every page. A page that arrives mid-round gets the current ``state``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any

from ..exceptions import ConnectionRefused

if TYPE_CHECKING:
    from ..socketio import Namespace, Server, Socket

__all__ = ["QUESTIONS", "attach"]

#: The question bank, shipped beside this module: ``{"text", "choices", "answer"}`` each,
#: ``answer`` being the index of the right choice.
QUESTIONS: list[dict[str, Any]] = json.loads(
    resources.files("turbosio.demo").joinpath("questions.json").read_text(encoding="utf-8")
)

POINTS = 500

logger = logging.getLogger("turbosio.demo")


@dataclass
class Player:
    """One connected player."""

    name: str
    score: int = 0
    #: The choice made for the current question (None: not answered yet).
    choice: int | None = None
    #: Points earned on the last revealed question.
    last: int | None = None
    #: Seconds left on the clock when the answer came (for the speed bonus).
    left: float = 0.0


@dataclass
class Game:
    """The one game this demo runs, shared by every player."""

    players: dict[str, Player] = field(default_factory=dict)
    round: asyncio.Task[None] | None = None
    host: str = ""
    question: dict[str, Any] | None = None
    deadline: float = 0.0
    everyone_answered: asyncio.Event = field(default_factory=asyncio.Event)

    def leaderboard(self) -> list[dict[str, Any]]:
        """The players, best score first, as the pages show them."""
        ranked = sorted(self.players.items(), key=lambda item: (-item[1].score, item[1].name))
        return [
            {
                "id": sid,
                "name": p.name,
                "score": p.score,
                "last": p.last,
                "answered": p.choice is not None,
            }
            for sid, p in ranked
        ]

    def check_everyone_answered(self) -> None:
        if (
            self.question
            and self.players
            and all(p.choice is not None for p in self.players.values())
        ):
            self.everyone_answered.set()


def attach(sio: Server, question_seconds: float = 15, reveal_seconds: float = 4) -> Namespace:
    """Add the quiz's handlers to ``sio`` (namespace ``/quiz``); returns the namespace.

    ``question_seconds`` is the time to answer a question, ``reveal_seconds`` the pause on
    the right answer before the next one.
    """
    quiz = sio.of("/quiz")
    game = Game()

    def loop_time() -> float:
        return asyncio.get_running_loop().time()

    def send_players() -> None:
        quiz.emit("players", game.leaderboard())

    async def play_round(count: int) -> None:
        questions = random.sample(QUESTIONS, count)
        for player in game.players.values():
            player.score, player.last = 0, None
        for index, item in enumerate(questions):
            text, choices, correct = item["text"], item["choices"], item["answer"]
            for player in game.players.values():
                player.choice = None
            game.everyone_answered.clear()
            game.deadline = loop_time() + question_seconds
            game.question = {
                "index": index,
                "total": count,
                "text": text,
                "choices": choices,
                "seconds": question_seconds,
                "host": game.host,
            }
            quiz.emit("question", game.question)
            send_players()
            # The countdown: one tick a second, cut short when everyone has answered.
            while (left := game.deadline - loop_time()) > 0:
                try:
                    await asyncio.wait_for(game.everyone_answered.wait(), min(1.0, left))
                    break
                except asyncio.TimeoutError:
                    quiz.emit("tick", max(0, round(game.deadline - loop_time())))
            for player in game.players.values():
                right = player.choice == correct
                player.last = (
                    POINTS + round(POINTS * player.left / question_seconds) if right else 0
                )
                player.score += player.last
            game.question = None
            quiz.emit("reveal", {"index": index, "correct": correct, "players": game.leaderboard()})
            await asyncio.sleep(reveal_seconds)
        quiz.emit("over", {"players": game.leaderboard()})

    def round_done(task: asyncio.Task[None]) -> None:
        game.round, game.question = None, None
        if not task.cancelled() and task.exception() is not None:
            logger.error("the quiz round failed", exc_info=task.exception())
            quiz.emit("over", {"players": game.leaderboard()})

    @quiz.on("connect")
    async def connect(socket: Socket, auth: dict[str, Any]) -> None:
        name = " ".join(str(auth.get("name", "")).split())[:24]
        if not name:
            raise ConnectionRefused("pick a nickname first")
        game.players[socket.id] = Player(name)
        socket.emit(
            "state",
            {
                "running": game.round is not None,
                "question": game.question,
                "left": max(0, round(game.deadline - loop_time())),
            },
        )
        send_players()

    @quiz.on("start")
    async def start(socket: Socket, options: Any = None) -> dict[str, Any]:
        if game.round is not None:
            return {"ok": False, "error": "a round is already running"}
        count = options.get("count", 5) if isinstance(options, dict) else 5
        count = max(1, min(len(QUESTIONS), int(count) if isinstance(count, int) else 5))
        game.host = game.players[socket.id].name
        game.round = asyncio.get_running_loop().create_task(play_round(count))
        game.round.add_done_callback(round_done)
        return {"ok": True}

    @quiz.on("answer")
    async def answer(socket: Socket, choice: Any) -> bool:
        player = game.players.get(socket.id)
        if game.question is None or player is None or player.choice is not None:
            return False
        if not isinstance(choice, int) or not 0 <= choice < len(game.question["choices"]):
            return False
        player.choice, player.left = choice, max(0.0, game.deadline - loop_time())
        send_players()
        game.check_everyone_answered()
        return True

    @quiz.on("disconnect")
    async def disconnect(socket: Socket, reason: str) -> None:
        game.players.pop(socket.id, None)
        send_players()
        if not game.players and game.round is not None:
            game.round.cancel()  # nobody left to play: stop the clock
        else:
            game.check_everyone_answered()

    return quiz
