// Node's socket.io 4.8 with the same handlers as tests/client/peer_app.py: the server the
// Python client's tests connect to, so their expectations are checked against the reference
// implementation too.
//
// Usage: node client-peer.mjs [--port N] [--ping-interval MS] [--ping-timeout MS]
//                             [--cert FILE --key FILE] [--recovery]
// Listens on 127.0.0.1 (port 0: a free one), prints one JSON line {"port": N} when ready, and
// exits when its stdin closes, so a test run that dies does not leave it behind.
// --recovery turns connection state recovery on (connectionStateRecovery: {}).

import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { createServer as createSecureServer } from "node:https";
import { Server } from "socket.io";

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : process.argv[i + 1];
}

const cert = option("cert", null);
const httpServer = cert
  ? createSecureServer({ cert: readFileSync(cert), key: readFileSync(option("key", null)) })
  : createServer();
const io = new Server(httpServer, {
  cors: { origin: "*" },
  pingInterval: Number(option("ping-interval", 25000)),
  pingTimeout: Number(option("ping-timeout", 20000)),
  connectionStateRecovery: process.argv.includes("--recovery") ? {} : undefined,
});

const logs = new Map();
const tries = new Map();

function refusal(message, data) {
  const err = new Error(message);
  err.data = data;
  return err;
}

function common(socket) {
  const ackOf = (args) => (typeof args.at(-1) === "function" ? args.pop() : null);
  socket.on("echo", (...args) => {
    const ack = ackOf(args);
    if (ack) ack(...args);
  });
  socket.on("relay", (event, ...args) => socket.emit(event, ...args));
  socket.on("whoami", (ack) =>
    ack({
      id: socket.id,
      nsp: socket.nsp.name,
      auth: socket.handshake.auth,
      engine: socket.conn.id,
      transport: socket.conn.transport.name,
      header: socket.handshake.headers["x-peer"] ?? null,
      query: socket.handshake.query.peer ?? null,
    }),
  );
  socket.on("ask", (event, ...args) => {
    socket.timeout(5000).emit(event, ...args, (err, ...answer) => {
      if (!err) socket.emit("answer", answer);
    });
  });
  socket.on("kick", () => socket.disconnect());
  socket.on("drop", () => socket.conn.close());
  socket.on("seq", (key, i) => {
    if (!logs.has(key)) logs.set(key, []);
    logs.get(key).push(i);
    socket.emit("seq", i);
  });
  socket.on("log", (key, ack) => ack(logs.get(key) ?? []));
  socket.on("flaky", (key, n, ack) => {
    tries.set(key, (tries.get(key) ?? 0) + 1);
    if (tries.get(key) >= n) ack(tries.get(key)); // earlier tries get no answer
  });
  socket.on("tries", (key, ack) => ack(tries.get(key) ?? 0));
  socket.on("later", (event, delay, ack) => {
    ack(true);
    setTimeout(() => socket.emit(event, delay), delay * 1000);
  });
}

io.on("connection", common);
io.of("/custom").on("connection", common);
io.of("/refused").use((_socket, next) => {
  next(refusal("refused by middleware", { code: 4001, retry: false }));
});
const guarded = io.of("/guarded");
guarded.use((socket, next) => {
  if (socket.handshake.auth.token === "secret") next();
  else next(refusal("invalid token", { reason: "token mismatch" }));
});
guarded.on("connection", common);

httpServer.listen(Number(option("port", 0)), "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ port: httpServer.address().port }) + "\n");
});

process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
