// Node reference servers for tests/conformance: the settings of the official protocol test
// suites (docs/engine.io-protocol/v4-test-suite, docs/socket.io-protocol/v5-test-suite).
//
//   node conformance-server.mjs engineio   -> engine.io echo server under /engine.io/
//   node conformance-server.mjs socketio   -> socket.io server under /socket.io/
//
// Listens on 127.0.0.1 with a free port, prints {"port": N} as one line on stdout, and exits
// when its stdin closes (so it never outlives the test run that started it).
import { createServer } from "node:http";
import { Server as EngineServer } from "engine.io";
import { Server as SocketIOServer } from "socket.io";

const mode = process.argv[2];
const httpServer = createServer();

const common = {
  pingInterval: 300,
  pingTimeout: 200,
  maxHttpBufferSize: 1e6,
  cors: { origin: "*" },
};

if (mode === "engineio") {
  const engine = new EngineServer(common);
  engine.attach(httpServer, { path: "/engine.io/" });
  engine.on("connection", (socket) => {
    // echo every message back, text or binary
    socket.on("message", (data) => socket.send(data));
  });
} else if (mode === "socketio") {
  const io = new SocketIOServer(httpServer, { ...common, connectTimeout: 1000 });
  io.on("connection", (socket) => {
    socket.emit("auth", socket.handshake.auth);
    socket.on("message", (...args) => socket.emit("message-back", ...args));
    socket.on("message-with-ack", (...args) => {
      const ack = args.pop();
      ack(...args);
    });
    // socketioxide's extra cases: the server emits the same arguments expecting an ack,
    // then emits whatever the client acknowledged with (no ack expected this time).
    socket.on("emit-with-ack", (...args) => {
      socket.emit("emit-with-ack", ...args, (...reply) => socket.emit("emit-with-ack", ...reply));
    });
  });
  io.of("/custom").on("connection", (socket) => {
    socket.emit("auth", socket.handshake.auth);
  });
} else {
  console.error(`usage: node conformance-server.mjs engineio|socketio (got ${mode})`);
  process.exit(2);
}

httpServer.listen(0, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ port: httpServer.address().port }) + "\n");
});

process.stdin.resume();
process.stdin.on("end", () => process.exit(0));
process.stdin.on("close", () => process.exit(0));
