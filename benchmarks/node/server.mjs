// The benchmark app on Node's socket.io 4.8: same handlers as apps/turbosio_app.py.
// Usage: node server.mjs PORT
import http from "node:http";
import { Server } from "socket.io";

const port = Number(process.argv[2]);
const httpServer = http.createServer();
const io = new Server(httpServer, { pingInterval: 25000, pingTimeout: 20000 });

io.on("connection", (socket) => {
  socket.on("echo", (data, ack) => ack(data));
  socket.on("req", (data) => socket.emit("res", data));
  socket.on("join", (room, ack) => {
    socket.join(room);
    ack("ok");
  });
  socket.on("bcast", (room, data, ack) => {
    io.to(room).emit("msg", data);
    ack("ok");
  });
});

httpServer.listen(port, "127.0.0.1");
