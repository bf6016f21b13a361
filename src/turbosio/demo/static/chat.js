// The chat page: see turbosio/demo/chat.py for the server side of each event.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const el = demo.element;

  // room name -> { items: [{kind, ...}], unread }
  const rooms = new Map([["general", { items: [], unread: 0 }]]);
  const typers = new Map(); // room -> Set of names typing there
  let current = "general";
  let socket = null;
  let me = "";

  $("join").addEventListener("submit", async (event) => {
    event.preventDefault();
    me = $("name").value.trim();
    if (!me) return;
    $("join-error").textContent = "";
    if (socket) {
      socket.auth = { name: me }; // a second try after a refusal
      socket.connect();
    } else {
      socket = await demo.connect("/chat", { auth: { name: me } });
      wire(socket);
    }
  });

  function wire(socket) {
    socket.on("connect", () => {
      $("join").classList.add("hidden");
      $("chat").classList.remove("hidden");
      // On every (re)connection: back into each room, with its latest messages.
      for (const room of rooms.keys()) join(room);
      $("text").focus();
    });
    socket.on("connect_error", (err) => {
      // Refused by the server (not a network error the client retries): show why.
      if (!socket.active) $("join-error").textContent = err.message;
    });
    socket.on("online", (names) => {
      $("online-count").textContent = `(${names.length})`;
      $("online").replaceChildren(...names.map((name) => el("li", "", name)));
    });
    socket.on("message", (msg) => add(msg.room, { kind: "message", ...msg }));
    socket.on("notice", (n) => add(n.room, { kind: "notice", ...n }));
    socket.on("typing", ({ room, name, typing }) => {
      const names = typers.get(room) || new Set();
      typing ? names.add(name) : names.delete(name);
      typers.set(room, names);
      renderTyping();
    });
  }

  function join(room) {
    // The history replaces what the page showed before the join (after a reconnection, it
    // holds those messages again); what was added since (a message sent before this answer
    // came back, a notice) stays after it.
    const before = new Set(rooms.get(room)?.items || []);
    socket.emit("join", room, (history) => {
      const state = rooms.get(room);
      if (!history || !state) return; // refused, or left before the answer came
      const since = state.items.filter((item) => !before.has(item));
      state.items = history
        .map((msg) => ({ kind: "message", ...msg, status: "delivered" }))
        .concat(since);
      if (room === current) renderMessages();
      renderRooms();
    });
  }

  function add(room, item) {
    const state = rooms.get(room);
    if (!state) return;
    state.items.push(item);
    if (state.items.length > 200) state.items.shift();
    if (room === current) {
      $("messages").appendChild(render(item));
      scrollDown();
    } else {
      state.unread += 1;
      renderRooms();
    }
  }

  function render(item) {
    const li = el("li", item.kind === "notice" ? "notice" : item.name === me ? "mine" : "");
    if (item.kind === "notice") {
      li.textContent = item.text;
      return li;
    }
    li.append(el("span", "meta", demo.clock(item.time)), el("span", "who", item.name));
    li.append(document.createTextNode(item.text));
    if (item.mine) {
      const tick = el("span", "tick " + (item.status || ""), item.status === "delivered" ? "✓" : item.status === "failed" ? "✗ not delivered" : "…");
      tick.title = item.status || "sending";
      li.append(tick);
      item.tick = tick;
    }
    li.dataset.status = item.status || "";
    item.li = li;
    return li;
  }

  function renderMessages() {
    $("room-title").textContent = "# " + current;
    $("messages").replaceChildren(...rooms.get(current).items.map(render));
    scrollDown();
    renderTyping();
  }

  function renderRooms() {
    $("rooms").replaceChildren(
      ...[...rooms.entries()].map(([name, state]) => {
        const li = el("li", name === current ? "active" : "");
        const open = el("button", "room", "# " + name);
        open.type = "button";
        open.onclick = () => {
          stopTyping();
          current = name;
          state.unread = 0;
          renderRooms();
          renderMessages();
        };
        li.append(open);
        if (state.unread) li.append(el("span", "unread", String(state.unread)));
        if (name !== "general") {
          const leave = el("button", "leave", "×");
          leave.type = "button";
          leave.title = "leave " + name;
          leave.setAttribute("aria-label", "leave " + name);
          leave.onclick = () => {
            stopTyping();
            socket.emit("leave", name);
            rooms.delete(name);
            if (current === name) current = "general";
            renderRooms();
            renderMessages();
          };
          li.append(leave);
        }
        return li;
      }),
    );
  }

  function renderTyping() {
    const names = [...(typers.get(current) || [])];
    $("typing").textContent =
      names.length === 0 ? "" : names.length === 1 ? `${names[0]} is typing…` : `${names.join(", ")} are typing…`;
  }

  function scrollDown() {
    const list = $("messages");
    list.scrollTop = list.scrollHeight;
  }

  $("join-room").addEventListener("submit", (event) => {
    event.preventDefault();
    const name = $("room-name").value.trim().split(/\s+/).join(" ").slice(0, 32);
    $("room-name").value = "";
    if (!name) return;
    stopTyping();
    if (!rooms.has(name)) {
      rooms.set(name, { items: [], unread: 0 });
      join(name);
    }
    current = name;
    renderRooms();
    renderMessages();
  });

  // "is typing": say so on the first key, and stop 1.5 s after the last one (or on send, or
  // when switching or leaving rooms), in the room where it started.
  let typingTimer = null;
  let typingRoom = null;
  function stopTyping() {
    if (typingTimer === null) return;
    clearTimeout(typingTimer);
    typingTimer = null;
    socket.emit("typing", { room: typingRoom, typing: false });
  }
  $("text").addEventListener("input", () => {
    if (typingTimer === null) {
      typingRoom = current;
      socket.emit("typing", { room: current, typing: true });
    } else {
      clearTimeout(typingTimer);
    }
    typingTimer = setTimeout(stopTyping, 1500);
  });

  $("send").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("text").value.trim();
    if (!text || !socket) return;
    $("text").value = "";
    stopTyping();
    const item = { kind: "message", mine: true, name: me, text, time: Date.now() / 1000, status: "" };
    add(current, item);
    // The acknowledgement is the server's copy of the message: then it is delivered.
    socket.timeout(5000).emit("message", { room: current, text }, (err, stored) => {
      item.status = err || !stored ? "failed" : "delivered";
      if (stored) item.time = stored.time;
      if (item.li) {
        item.li.dataset.status = item.status;
        item.tick.className = "tick " + item.status;
        item.tick.textContent = item.status === "delivered" ? "✓" : "✗ not delivered";
        item.tick.title = item.status;
      }
    });
  });

  renderRooms();
})();
