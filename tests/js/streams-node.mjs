// Node's side of turbosio's Redis Streams tests: socket.io 4.8 with
// @socket.io/redis-streams-adapter 0.3.1 and connection state recovery, driven by JSON commands.
//
//   node streams-node.mjs --redis URL --key PREFIX
//
// The stream is PREFIX-stream, the channels PREFIX#<nsp>#..., the sessions PREFIX:session:<pid>
// (as tests/adapters/test_redis_streams.py names them). Sockets join the rooms in `auth.rooms`
// and keep `auth.data` as `socket.data`; the server-side event "ask" is answered with
// {from: "node", args}. It prints {"port": N}, then answers one JSON command per stdin line with
// {"id", "ok", "result"} (or "error"); it exits when stdin closes. Binary values travel as
// {"$bin": "<hex>"}. It only acts and reports: the assertions are in tests/adapters/.
import http from "node:http";
import readline from "node:readline";
import { createClient } from "redis";
import { Server } from "socket.io";
import { createAdapter } from "@socket.io/redis-streams-adapter";

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const url = option("--redis", "redis://127.0.0.1:6379");
const key = option("--key", "socket.io");

const fromWire = (value) => {
  if (Array.isArray(value)) return value.map(fromWire);
  if (value && typeof value === "object") {
    if (typeof value.$bin === "string") return Buffer.from(value.$bin, "hex");
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fromWire(v)]));
  }
  return value;
};
const toWire = (value) => {
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) {
    return { $bin: Buffer.from(value).toString("hex") };
  }
  if (value instanceof Set) return [...value].map(toWire);
  if (Array.isArray(value)) return value.map(toWire);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toWire(v)]));
  }
  return value;
};

const client = createClient({ url });
client.on("error", () => {}); // the tests read what the adapter does, not client noise
await client.connect();

const httpServer = http.createServer();
const io = new Server(httpServer, {
  adapter: createAdapter(client, {
    streamName: `${key}-stream`,
    channelPrefix: key,
    sessionKeyPrefix: `${key}:session:`,
    blockTimeInMs: 1000,
  }),
  connectionStateRecovery: { maxDisconnectionDuration: 10000 },
});
for (const name of ["/", "/chat"]) {
  const nsp = io.of(name);
  nsp.on("connection", (socket) => {
    const auth = socket.handshake.auth || {};
    if (!socket.recovered) {
      if (Array.isArray(auth.rooms)) socket.join(auth.rooms);
      socket.data = auth.data || {};
    }
  });
  nsp.on("ask", (...eventArgs) => {
    const ack = eventArgs.pop();
    ack({ from: "node", args: eventArgs });
  });
}
await new Promise((resolve) => httpServer.listen(0, "127.0.0.1", resolve));

const operator = (cmd) => {
  let op = io.of(cmd.nsp || "/");
  if (cmd.to && cmd.to.length) op = op.to(cmd.to);
  if (cmd.except && cmd.except.length) op = op.except(cmd.except);
  return op;
};

const run = async (cmd) => {
  switch (cmd.op) {
    case "emit":
      operator(cmd).emit(cmd.event, ...fromWire(cmd.args || []));
      return null;
    case "fetchSockets": {
      const sockets = await operator(cmd).fetchSockets();
      return sockets.map((s) => ({ id: s.id, rooms: [...s.rooms], data: toWire(s.data) }));
    }
    case "socketsJoin":
      operator(cmd).socketsJoin(cmd.rooms);
      return null;
    case "serverSideEmitWithAck": {
      try {
        const replies = await io.of(cmd.nsp || "/")
          .serverSideEmitWithAck(cmd.event, ...fromWire(cmd.args || []));
        return { replies: toWire(replies) };
      } catch (err) {
        return { error: err.message };
      }
    }
    case "serverCount":
      return await io.of(cmd.nsp || "/").adapter.serverCount();
    default:
      throw new Error(`unknown op ${cmd.op}`);
  }
};

process.stdout.write(JSON.stringify({ port: httpServer.address().port }) + "\n");

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
  io.disconnectSockets(true);
  // io.close() closes the adapters, which stop their readers and subscriber.
  await new Promise((resolve) => io.close(() => resolve()));
  if (client.isOpen) await client.quit();
  process.exit(0);
});
