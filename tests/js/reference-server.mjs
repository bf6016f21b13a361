// Node's socket.io 4.8 running the same handlers as tests/interop_app.py.
//
// The interop tests run every scenario against this server too, so the expectations written in
// tests/interop/ are checked against the reference implementation, not only against turbosio.
//
// Usage: node reference-server.mjs [--ping-interval MS] [--ping-timeout MS]
//                                  [--max-http-buffer-size BYTES]
// Listens on 127.0.0.1 with a free port and prints one JSON line {"port": N} when ready.
// Exits when its stdin closes, so a test run that dies does not leave it behind.

import { createServer } from "node:http";
import { Server } from "socket.io";

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(process.argv[i + 1]);
}

const httpServer = createServer();
const io = new Server(httpServer, {
  cors: { origin: "*" },
  pingInterval: option("ping-interval", 25000),
  pingTimeout: option("ping-timeout", 20000),
  maxHttpBufferSize: option("max-http-buffer-size", 1e6),
  transports: ["polling", "websocket"],
});

// socket id -> the reason its "disconnect" handler received, in every namespace.
const reasons = new Map();

function refusal(message, data) {
  const err = new Error(message);
  if (data !== undefined) err.data = data;
  return err;
}

function whoami(socket) {
  return {
    id: socket.id,
    nsp: socket.nsp.name,
    auth: socket.handshake.auth,
    engine: socket.conn.id,
    rooms: [...socket.rooms].sort(),
  };
}

function common(socket) {
  socket.on("disconnect", (reason) => reasons.set(socket.id, reason));
  socket.on("echo", (...args) => {
    const ack = typeof args.at(-1) === "function" ? args.pop() : null;
    if (ack) ack(...args);
  });
  socket.on("whoami", (ack) => ack(whoami(socket)));
  socket.on("kick", (close) => socket.disconnect(close === true));
}

io.on("connection", (socket) => {
  common(socket);

  socket.on("ask", (args) => {
    // server -> client ack: ask the client, report what its callback answered.
    socket.emit("question", ...args, (...answer) => socket.emit("answer", answer));
  });
  socket.on("ask-timeout", () => {
    socket.timeout(300).emit("ignore-me", (err) => {
      socket.emit("timeout-result", err ? err.message : null);
    });
  });
  socket.on("seq", (i) => socket.emit("seq", i));
  socket.on("join", (room, ack) => {
    socket.join(room);
    ack(true);
  });
  socket.on("action", (a, ack) => {
    switch (a.kind) {
      case "io-to":
        io.to(a.room).emit(a.event, a.data);
        break;
      case "io-to-except":
        io.to(a.room).except(a.except).emit(a.event, a.data);
        break;
      case "socket-to":
        socket.to(a.room).emit(a.event, a.data);
        break;
      case "broadcast":
        socket.broadcast.emit(a.event, a.data);
        break;
      case "all":
        io.emit(a.event, a.data);
        break;
    }
    // Packets keep their order on each connection: once a client sees this marker, anything
    // the action above sent it has arrived.
    io.emit("marker", a.marker);
    ack(true);
  });
  socket.on("survey", (room, ack) => {
    io.to(room)
      .timeout(2000)
      .emit("survey", (err, responses) => ack({ error: err ? err.message : null, responses }));
  });
  socket.on("reason-of", async (id, ack) => {
    // The disconnect may be processed a moment after the request that asks about it.
    for (let i = 0; i < 60 && !reasons.has(id); i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    ack(reasons.get(id) ?? null);
  });
});

io.of("/custom").on("connection", common);

// Node refuses a connection from a middleware only; turbosio's app refuses these two from the
// connect handler, which gives the client the same CONNECT_ERROR.
io.of("/refused").use((_socket, next) => {
  next(refusal("refused by handler", { code: 4001, retry: false }));
});
io.of("/refused-plain").use((_socket, next) => next(refusal("plain refusal")));

const guarded = io.of("/guarded");
guarded.use((socket, next) => {
  if (socket.handshake.auth.token === "secret") next();
  else next(refusal("invalid token", { reason: "token mismatch" }));
});
guarded.on("connection", common);

io.of("/catchall").on("connection", (socket) => {
  socket.onAny((event, ...args) => socket.emit("caught", event, args));
});

httpServer.listen(0, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ port: httpServer.address().port }) + "\n");
});

process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
