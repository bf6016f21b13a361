// The cluster benchmark's Node server: socket.io 4.8 with @socket.io/redis-adapter 8.3 and the
// same handlers as benchmarks/node/server.mjs (join a room, broadcast to a room with an ack).
// Usage: node cluster-bench-server.mjs PORT REDIS_URL KEY   (run by benchmarks/cluster.py)
import http from "node:http";
import { createClient } from "redis";
import { Server } from "socket.io";
import { createAdapter } from "@socket.io/redis-adapter";

const [port, url, key] = [Number(process.argv[2]), process.argv[3], process.argv[4]];
const pub = createClient({ url });
const sub = pub.duplicate();
await Promise.all([pub.connect(), sub.connect()]);
const httpServer = http.createServer();
const io = new Server(httpServer, {
  pingInterval: 25000,
  pingTimeout: 20000,
  adapter: createAdapter(pub, sub, { key }),
});

io.on("connection", (socket) => {
  socket.on("join", (room, ack) => {
    socket.join(room);
    ack("ok");
  });
  socket.on("bcast", (room, data, ack) => {
    io.to(room).emit("msg", data);
    ack("ok");
  });
});

httpServer.listen(port, "127.0.0.1", () => process.stdout.write("ready\n"));
process.on("SIGTERM", async () => {
  io.close();
  await Promise.allSettled([pub.quit(), sub.quit()]);
  process.exit(0);
});
