// The quiz page: see turbosio/demo/quiz.py. The server runs the clock and keeps the scores;
// this page only shows what it is told and sends the player's answer.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const el = demo.element;
  let socket = null;
  let question = null; // the question on screen, with `picked` once answered

  $("join").addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = $("name").value.trim();
    if (!name) return;
    $("join-error").textContent = "";
    if (socket) {
      socket.auth = { name };
      socket.connect();
      return;
    }
    socket = await demo.connect("/quiz", { auth: { name } });
    wire();
  });

  function wire() {
    socket.on("connect", () => {
      $("join").classList.add("hidden");
      $("game").classList.remove("hidden");
    });
    socket.on("connect_error", (err) => {
      if (!socket.active) $("join-error").textContent = err.message;
    });
    socket.on("state", ({ running, question: current, left }) => {
      if (current) showQuestion(current, left);
      else if (running) showLobby("A round is on", "The next question comes in a moment.", false);
      else showLobby("Waiting for a round", null, true);
    });
    socket.on("players", renderBoard);
    socket.on("question", (q) => showQuestion(q, q.seconds));
    socket.on("tick", setClock);
    socket.on("reveal", ({ index, correct, players }) => {
      if (!question || question.index !== index) return;
      $("timer").classList.add("stopped"); // time is up at once, even when it was cut short
      setClock(0);
      question.over = true;
      [...$("choices").children].forEach((button, i) => {
        button.disabled = true;
        if (i === correct) button.classList.add("right");
        else if (i === question.picked) button.classList.add("wrong");
      });
      $("choices").dataset.correct = String(correct);
      const mine = players.find((p) => p.id === socket.id);
      $("verdict").textContent =
        question.picked === undefined ? "Time's up." :
        question.picked === correct ? `Right! +${mine ? mine.last : 0}` : "Not this time.";
      renderBoard(players);
    });
    socket.on("over", ({ players }) => {
      renderBoard(players);
      const winner = players[0];
      showLobby(
        "Round over",
        winner ? `${winner.name} wins with ${winner.score} points. Another one?` : "Another one?",
        true,
      );
      $("game").dataset.phase = "over";
    });
  }

  function showLobby(title, text, canStart) {
    question = null;
    $("stage").classList.add("hidden");
    $("lobby").classList.remove("hidden");
    $("lobby-title").textContent = title;
    if (text) $("lobby-text").textContent = text;
    $("start-button").disabled = !canStart;
    $("game").dataset.phase = "lobby";
  }

  function showQuestion(q, left) {
    question = { ...q };
    $("lobby").classList.add("hidden");
    $("stage").classList.remove("hidden");
    $("progress").textContent = `Question ${q.index + 1} of ${q.total} · started by ${q.host}`;
    $("question").textContent = q.text;
    $("verdict").textContent = "";
    delete $("choices").dataset.correct;
    $("choices").replaceChildren(
      ...q.choices.map((choice, i) => {
        const button = el("button", "", choice);
        button.type = "button";
        button.onclick = () => answer(i, button);
        return button;
      }),
    );
    $("game").dataset.phase = "question";
    $("game").dataset.index = String(q.index);
    $("timer").classList.add("stopped");
    setClock(left);
    $("timer").getBoundingClientRect(); // apply the full bar before the countdown animates
    $("timer").classList.remove("stopped");
  }

  function setClock(left) {
    if (!question) return;
    $("seconds").textContent = String(left);
    $("timer").style.width = `${(100 * left) / question.seconds}%`;
  }

  function answer(choice, button) {
    if (!question || question.picked !== undefined || question.over) return;
    question.picked = choice;
    button.classList.add("picked");
    for (const other of $("choices").children) other.disabled = true;
    $("verdict").textContent = "Answer sent…";
    socket.emit("answer", choice, (accepted) => {
      if (question && question.picked === choice && !question.over) {
        $("verdict").textContent = accepted ? "Locked in. Waiting for the others…" : "Too late!";
      }
    });
  }

  function renderBoard(players) {
    $("leaderboard").replaceChildren(
      ...players.map((p) => {
        const li = el("li", p.id === socket.id ? "me" : "");
        li.dataset.name = p.name;
        li.dataset.score = String(p.score);
        li.append(
          el("span", "name", p.name + (p.id === socket.id ? " (you)" : "")),
          el("span", "done", p.answered ? "✓" : ""),
          el("span", "gain", p.last ? `+${p.last}` : ""),
          el("span", "score", String(p.score)),
        );
        return li;
      }),
    );
  }

  $("start").addEventListener("submit", (event) => {
    event.preventDefault();
    $("start-error").textContent = "";
    socket.emit("start", { count: Number($("count").value) }, (reply) => {
      if (!reply.ok) $("start-error").textContent = reply.error;
    });
  });
})();
