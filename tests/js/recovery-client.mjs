// The official socket.io-client (4.8) through a connection that the test breaks.
// Usage: node recovery-client.mjs URL TRANSPORTS(polling|websocket|both) COUNT
// Prints one JSON line per thing seen: {"connect":{id,recovered}}, {"welcome":true},
// and finally {"done":{"received":[...], "offsets":[...]}} once COUNT "n" events arrived.
import { io } from "socket.io-client";

const [url, mode, countText] = process.argv.slice(2);
const count = Number(countText);
const transports =
  mode === "polling" ? ["polling"] : mode === "websocket" ? ["websocket"] : ["polling", "websocket"];
const socket = io(url, {
  transports,
  reconnectionDelay: 100,
  reconnectionDelayMax: 300,
  randomizationFactor: 0,
});
const received = [];
const offsets = [];
const say = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

socket.on("connect", () => say({ connect: { id: socket.id, recovered: socket.recovered } }));
socket.on("welcome", () => say({ welcome: true }));
socket.on("n", (n, offset) => {
  received.push(n);
  offsets.push(offset);
  if (received.length === count) {
    say({ done: { received, offsets } });
    socket.close();
    process.exit(0);
  }
});
process.stdin.on("end", () => process.exit(1));
process.stdin.resume();
setTimeout(() => {
  say({ timeout: { received } });
  process.exit(2);
}, 30000);
