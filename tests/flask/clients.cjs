// socket.io-client 4.5.4 (the CDN build tutorials use) against a turbosio.flask server.
//
// Usage: node clients.cjs JS_DIR SCENARIO URL [ARGS...]
//   JS_DIR: tests/js, where the pinned npm packages are installed
// Prints one JSON line: {"ok": true, "result": ...} or {"ok": false, "error": "..."}.
// The script only observes; the Python tests decide what is right.

const path = require("path");
const { createRequire } = require("module");

const [jsDir, scenario, url, ...rest] = process.argv.slice(2);
const { io } = createRequire(path.join(jsDir, "package.json"))("socket.io-client-454");

const STEP_MS = 10000;
const sockets = [];

function within(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function open(nsp = "", options = {}) {
  const socket = io.connect(url + nsp, { reconnection: false, forceNew: true, ...options });
  sockets.push(socket);
  return within(
    new Promise((resolve, reject) => {
      socket.once("connect", () => resolve(socket));
      socket.once("connect_error", (err) =>
        options.refusable ? resolve({ refused: { message: err.message, data: err.data ?? null } })
                          : reject(err),
      );
    }),
    STEP_MS,
    `connect to ${nsp || "/"}`,
  );
}

const scenarios = {
  // N clients each send one "message"; every client must see every broadcast "response".
  async broadcast(count = "3", transport = "default") {
    const n = Number(count);
    const options = transport === "default" ? {} : { transports: [transport] };
    const clients = [];
    for (let i = 0; i < n; i++) clients.push(await open("", options));
    const seen = clients.map(() => []);
    const done = clients.map(
      (socket, i) =>
        new Promise((resolve) => {
          socket.on("response", (payload) => {
            seen[i].push(payload);
            if (seen[i].length === n) resolve();
          });
        }),
    );
    clients.forEach((socket, i) => socket.send(`hello from ${i}`));
    await within(Promise.all(done), STEP_MS, "every broadcast at every client");
    return { received: seen, transports: clients.map((s) => s.io.engine.transport.name) };
  },

  // Handlers in the server's tests/flask app: acknowledgements, rooms, refusal, callbacks.
  async features() {
    const refused = await open("", { auth: { token: "wrong" }, refusable: true });
    const a = await open("", { auth: { token: "secret" } });
    const b = await open("", { auth: { token: "secret" } });
    const ask = (socket, event, ...args) =>
      within(new Promise((resolve) => socket.emit(event, ...args, (...r) => resolve(r))), STEP_MS, event);
    const next = (socket, event) =>
      within(new Promise((resolve) => socket.once(event, (...r) => resolve(r))), STEP_MS, event);
    const whoami = await ask(a, "whoami");
    const roomsA = await ask(a, "join", "lobby");
    const news = next(a, "news");
    await ask(b, "to-room", "lobby", "hi lobby");
    const lobbyNews = await news;
    // The server emits "question" with a callback; our answer reaches its callback, which
    // emits "answered" back to us from the handler's context.
    a.on("question", (q, ack) => ack(`answer to ${q}`));
    const answered = next(a, "answered");
    await ask(a, "ask-me", "life");
    const answer = await answered;
    // call(): the server waits for our acknowledgement inside its handler.
    b.on("poll", (q, ack) => ack("yes", q));
    const polled = await ask(b, "call-me", "ready?");
    return {
      refused: refused.refused,
      whoami,
      aId: a.id,
      roomsA,
      lobbyNews,
      answer,
      polled,
    };
  },
};

async function main() {
  if (!(scenario in scenarios)) throw new Error(`unknown scenario ${scenario}`);
  return scenarios[scenario](...rest);
}

main()
  .then((result) => {
    for (const s of sockets) if (s.connected !== undefined) s.disconnect();
    process.stdout.write(JSON.stringify({ ok: true, result }) + "\n");
    process.exit(0);
  })
  .catch((err) => {
    for (const s of sockets) if (s.disconnect) s.disconnect();
    process.stdout.write(JSON.stringify({ ok: false, error: String(err && err.stack || err) }) + "\n");
    process.exit(0);
  });
