// Runs Node's own socket.io parsers over packets given on stdin, for the interop tests.
// Run with tests/js as the working directory: the parsers are loaded from its node_modules.
//
//   node parsers.cjs <json|msgpack> <encode|decode>   < input.json   > output.json
//
// encode: input is a list of packets, output a list of encoded-message lists.
// decode: input is a list of message lists (one packet each), output a list of packets
//         (or {"error": message}).
// Values cross as JSON, with tags for what JSON cannot hold: {"$b": base64} a Buffer,
// {"$ab": base64} an ArrayBuffer-backed Uint8Array, {"$undefined": 1}, {"$date": millis}.
"use strict";

const path = require("path");
const load = require("module").createRequire(path.join(process.cwd(), "package.json"));

const [format, mode] = process.argv.slice(2);
const parser = load(format === "json" ? "socket.io-parser" : "socket.io-msgpack-parser");

function revive(value) {
  if (Array.isArray(value)) return value.map(revive);
  if (value && typeof value === "object") {
    if ("$b" in value) return Buffer.from(value.$b, "base64");
    if ("$ab" in value) return new Uint8Array(Buffer.from(value.$ab, "base64"));
    if ("$undefined" in value) return undefined;
    if ("$date" in value) return new Date(value.$date);
    const out = {};
    for (const key of Object.keys(value)) out[key] = revive(value[key]);
    return out;
  }
  return value;
}

function tag(value) {
  if (value === undefined) return { $undefined: 1 };
  if (Buffer.isBuffer(value)) return { $b: value.toString("base64") };
  if (value instanceof ArrayBuffer) return { $ab: Buffer.from(value).toString("base64") };
  if (value instanceof Date) return { $date: value.getTime() };
  if (Array.isArray(value)) return value.map(tag);
  if (value && typeof value === "object") {
    const out = {};
    for (const key of Object.keys(value)) out[key] = tag(value[key]);
    return out;
  }
  return value;
}

const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const output = [];
if (mode === "encode") {
  const encoder = new parser.Encoder();
  for (const packet of input) {
    output.push(encoder.encode(revive(packet)).map(tag));
  }
} else {
  for (const messages of input) {
    const decoder = new parser.Decoder();
    let decoded = null;
    decoder.on("decoded", (packet) => {
      decoded = packet;
    });
    try {
      for (const message of messages) decoder.add(revive(message));
      output.push(decoded === null ? { error: "incomplete" } : tag(decoded));
    } catch (err) {
      output.push({ error: String(err.message) });
    }
  }
}
process.stdout.write(JSON.stringify(output));
