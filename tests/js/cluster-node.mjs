// Node's side of turbosio's cluster tests: socket.io 4.8 with @socket.io/redis-adapter 8.3,
// the @socket.io/redis-emitter 5.1 and notepack.io, driven by JSON commands.
//
//   node cluster-node.mjs --redis URL --key PREFIX [--server classic|sharded] [--mode dynamic]
//
// With --server it runs a socket.io server on 127.0.0.1 (free port) whose sockets join the
// rooms in `auth.rooms` and keep `auth.data` as `socket.data`; it listens to the server-side
// events "hello" and "ask" (answering {from: "node", args}). It prints one line,
// {"port": N} (port null without --server), then reads one JSON command per line from stdin
// and answers each with {"id", "ok", "result"} or {"id", "ok": false, "error"}; it exits when
// stdin closes. Binary values travel as {"$bin": "<hex>"} both ways. It only acts and reports:
// the assertions are in tests/adapters/.
import http from "node:http";
import readline from "node:readline";
import { createClient } from "redis";
import { Server } from "socket.io";
import { createAdapter, createShardedAdapter } from "@socket.io/redis-adapter";
import { Emitter } from "@socket.io/redis-emitter";
import notepack from "notepack.io";

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const url = option("--redis", "redis://127.0.0.1:6379");
const key = option("--key", "socket.io");
const kind = option("--server", null);
const mode = option("--mode", "dynamic");

const fromWire = (value) => {
  if (Array.isArray(value)) return value.map(fromWire);
  if (value && typeof value === "object") {
    if (typeof value.$bin === "string") return Buffer.from(value.$bin, "hex");
    if (value.$undefined === true) return undefined;
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fromWire(v)]));
  }
  return value;
};
const toWire = (value) => {
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) {
    return { $bin: Buffer.from(value).toString("hex") };
  }
  if (value instanceof ArrayBuffer) return { $bin: Buffer.from(value).toString("hex") };
  if (value instanceof Error) return { $error: value.message };
  if (value instanceof Set) return [...value].map(toWire);
  if (Array.isArray(value)) return value.map(toWire);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toWire(v)]));
  }
  return value;
};

const clients = [];
const newClient = async () => {
  const client = createClient({ url });
  client.on("error", () => {}); // the tests read what the adapter does, not client noise
  await client.connect();
  clients.push(client);
  return client;
};

const emitterClient = await newClient();
const emitter = new Emitter(emitterClient, { key });

let io = null;
let httpServer = null;
const received = [];
if (kind) {
  const pub = await newClient();
  const sub = pub.duplicate();
  sub.on("error", () => {});
  await sub.connect();
  clients.push(sub);
  const adapter =
    kind === "sharded"
      ? createShardedAdapter(pub, sub, { channelPrefix: key, subscriptionMode: mode })
      : createAdapter(pub, sub, { key, requestsTimeout: 3000 });
  httpServer = http.createServer();
  io = new Server(httpServer, { adapter });
  for (const name of ["/", "/chat"]) {
    const nsp = io.of(name);
    nsp.on("connection", (socket) => {
      const auth = socket.handshake.auth || {};
      if (Array.isArray(auth.rooms)) socket.join(auth.rooms);
      socket.data = auth.data || {};
    });
    for (const event of ["hello", "ask"]) {
      nsp.on(event, (...eventArgs) => {
        const last = eventArgs[eventArgs.length - 1];
        const ack = typeof last === "function" ? eventArgs.pop() : null;
        received.push({ nsp: name, event, args: toWire(eventArgs), ack: ack !== null });
        if (ack) ack({ from: "node", args: eventArgs });
      });
    }
  }
  await new Promise((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
}

const operator = (cmd) => {
  let op = io.of(cmd.nsp || "/");
  if (cmd.to && cmd.to.length) op = op.to(cmd.to);
  if (cmd.except && cmd.except.length) op = op.except(cmd.except);
  if (cmd.volatile) op = op.volatile;
  if (cmd.local) op = op.local;
  return op;
};

const describe = (socket) => ({
  id: socket.id,
  rooms: [...socket.rooms],
  data: toWire(socket.data),
  auth: toWire(socket.handshake.auth),
  address: socket.handshake.address,
  local: typeof socket.conn === "object" && socket.conn !== null,
});

const SAMPLES = {
  broadcast: () => [
    "abcdef",
    { type: 2, data: ["ev", 1, "two", Buffer.from([1, 2, 3]), { a: [true, null] }], nsp: "/" },
    { rooms: ["room1"], except: ["x"], flags: {} },
  ],
  numbers: () => [0, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 40, -1, -32, -33,
    -128, -129, -32768, -32769, -(2 ** 31), -(2 ** 31) - 1, -(2 ** 40), 1.5, -0.25, 1e-300],
  strings: () => ["", "a", "x".repeat(31), "x".repeat(32), "x".repeat(255), "x".repeat(256),
    "y".repeat(65536), "é", "日本語", "emoji 😀"],
  containers: () => [[], [1, [2, [3]]], new Array(16).fill(0), {}, { b: 1, a: 2 },
    Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`k${i}`, i]))],
  binary: () => [Buffer.alloc(0), Buffer.from([0, 255]), Buffer.alloc(256, 7),
    Buffer.alloc(65536, 9)],
  special: () => [null, true, false, { keep: null, drop: undefined }, [undefined]],
  date: () => [new Date(0), new Date(1700000000000), new Date(1700000000123)],
};

const run = async (cmd) => {
  switch (cmd.op) {
    case "emit":
      operator(cmd).emit(cmd.event, ...fromWire(cmd.args || []));
      return null;
    case "emitWithAck": {
      try {
        const replies = await operator(cmd).timeout(cmd.timeout).emitWithAck(cmd.event,
          ...fromWire(cmd.args || []));
        return { replies: toWire(replies) };
      } catch (err) {
        return { error: err.message };
      }
    }
    case "fetchSockets": {
      const sockets = await operator(cmd).fetchSockets();
      return sockets.map(describe);
    }
    case "remoteEmitWithAck": {
      const sockets = await io.of(cmd.nsp || "/").fetchSockets();
      const socket = sockets.find((s) => s.id === cmd.sid);
      if (!socket) return { missing: true };
      const reply = await socket.timeout(cmd.timeout).emitWithAck(cmd.event,
        ...fromWire(cmd.args || []));
      return { reply: toWire(reply) };
    }
    case "remoteJoin": {
      const sockets = await io.of(cmd.nsp || "/").fetchSockets();
      const socket = sockets.find((s) => s.id === cmd.sid);
      socket.join(cmd.room);
      return null;
    }
    case "socketsJoin":
      operator(cmd).socketsJoin(cmd.rooms);
      return null;
    case "socketsLeave":
      operator(cmd).socketsLeave(cmd.rooms);
      return null;
    case "disconnectSockets":
      operator(cmd).disconnectSockets(!!cmd.close);
      return null;
    case "serverSideEmit":
      io.of(cmd.nsp || "/").serverSideEmit(cmd.event, ...fromWire(cmd.args || []));
      return null;
    case "serverSideEmitWithAck": {
      try {
        // The adapter's requestsTimeout (3 s here) bounds the wait.
        const replies = await io.of(cmd.nsp || "/")
          .serverSideEmitWithAck(cmd.event, ...fromWire(cmd.args || []));
        return { replies: toWire(replies) };
      } catch (err) {
        return { error: err.message };
      }
    }
    case "received": {
      const copy = received.splice(0, received.length);
      return copy;
    }
    case "serverCount":
      return await io.of(cmd.nsp || "/").adapter.serverCount();
    case "rooms":
      return [...io.of(cmd.nsp || "/").adapter.rooms.keys()];
    case "emitter": {
      let e = cmd.nsp ? emitter.of(cmd.nsp) : emitter;
      if (cmd.action === "serverSideEmit") {
        e.serverSideEmit(cmd.event, ...fromWire(cmd.args || []));
        return null;
      }
      if (cmd.to && cmd.to.length) e = e.to(cmd.to);
      if (cmd.except && cmd.except.length) e = e.except(cmd.except);
      if (cmd.volatile) e = e.volatile;
      if (cmd.action === "emit") e.emit(cmd.event, ...fromWire(cmd.args || []));
      else if (cmd.action === "socketsJoin") e.socketsJoin(cmd.rooms);
      else if (cmd.action === "socketsLeave") e.socketsLeave(cmd.rooms);
      else if (cmd.action === "disconnectSockets") e.disconnectSockets(!!cmd.close);
      else throw new Error(`unknown emitter action ${cmd.action}`);
      return null;
    }
    case "notepack": {
      const out = {};
      for (const [name, make] of Object.entries(SAMPLES)) {
        out[name] = make().map((value) => notepack.encode(value).toString("hex"));
      }
      return out;
    }
    case "decode": {
      // What notepack makes of bytes turbosio encoded.
      return cmd.hex.map((hex) => {
        const value = notepack.decode(Buffer.from(hex, "hex"));
        return toWire(value instanceof Date ? { $date: value.getTime() } : value);
      });
    }
    default:
      throw new Error(`unknown op ${cmd.op}`);
  }
};

process.stdout.write(JSON.stringify({ port: httpServer ? httpServer.address().port : null }) + "\n");

const lines = readline.createInterface({ input: process.stdin });
const pending = [];
lines.on("line", (line) => {
  if (!line.trim()) return;
  const cmd = JSON.parse(line);
  pending.push(
    run(cmd).then(
      (result) => process.stdout.write(JSON.stringify({ id: cmd.id, ok: true, result }) + "\n"),
      (err) => process.stdout.write(
        JSON.stringify({ id: cmd.id, ok: false, error: String(err && err.stack) }) + "\n"),
    ),
  );
});
lines.on("close", async () => {
  await Promise.allSettled(pending);
  if (io) {
    io.disconnectSockets(true);
    await new Promise((resolve) => io.close(() => resolve()));
  }
  await Promise.allSettled(clients.map((c) => (c.isOpen ? c.quit() : null)));
  process.exit(0);
});
