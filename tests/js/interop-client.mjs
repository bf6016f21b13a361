// Runs one interop scenario with the official socket.io-client and prints what it observed.
//
// Usage: node interop-client.mjs SCENARIO URL VERSION MODE
//   VERSION: "4.8" (socket.io-client 4.8.3) or "4.5.4"
//   MODE:    "polling" | "websocket" | "upgrade" (polling first, then upgrade to websocket)
//
// Prints exactly one JSON line on stdout: {"ok": true, "scenario", "transport", "result"} or
// {"ok": false, "error"}. The script only observes; the Python tests decide what is right.
// Binary values are printed as {"$bin": "<hex>"} so the tests can compare them exactly.

const [scenario, url, version, mode] = process.argv.slice(2);

const clients = {
  4.8: () => import("socket.io-client"),
  "4.5.4": () => import("socket.io-client-454"),
};
const transportsFor = {
  polling: ["polling"],
  websocket: ["websocket"],
  upgrade: ["polling", "websocket"],
};

// How long one step may wait; far above what a working server needs.
const STEP_MS = 5000;

let io;
const sockets = [];

function plain(value) {
  if (Buffer.isBuffer(value)) return { $bin: value.toString("hex") };
  if (value instanceof ArrayBuffer) return { $bin: Buffer.from(value).toString("hex") };
  if (ArrayBuffer.isView(value)) {
    return { $bin: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("hex") };
  }
  if (Array.isArray(value)) return value.map(plain);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  return value === undefined ? null : value;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function within(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Open a socket on `nsp`; resolves once it is connected. A refusal (connect_error) rejects,
 * unless `refusable`, then it resolves with the error's message and data.
 */
async function open(nsp = "/", options = {}, refusable = false) {
  const socket = io(url + nsp, {
    transports: transportsFor[mode],
    reconnection: false,
    ...options,
  });
  sockets.push(socket);
  const outcome = await within(
    new Promise((resolve) => {
      socket.once("connect", () => resolve({ connected: true }));
      socket.once("connect_error", (err) =>
        resolve({
          connected: false,
          error: { message: err.message, data: plain(err.data) },
        }),
      );
    }),
    STEP_MS,
    `connect to ${nsp}`,
  );
  if (!outcome.connected && !refusable) {
    throw new Error(`connect to ${nsp} refused: ${JSON.stringify(outcome.error)}`);
  }
  return { socket, ...outcome };
}

/** Emit with an acknowledgement callback (4.5.4 has no emitWithAck); resolves to its args. */
function ask(socket, event, ...args) {
  return within(
    new Promise((resolve) => socket.emit(event, ...args, (...reply) => resolve(plain(reply)))),
    STEP_MS,
    `ack of ${event}`,
  );
}

function nextEvent(socket, event) {
  return within(
    new Promise((resolve) => socket.once(event, (...args) => resolve(plain(args)))),
    STEP_MS,
    `event ${event}`,
  );
}

/** Resolves once the socket's engine runs over websocket (only meaningful in upgrade mode). */
async function upgraded(socket) {
  const engine = socket.io.engine;
  if (mode !== "upgrade" || engine.transport.name === "websocket") return;
  await within(
    new Promise((resolve) => engine.once("upgrade", resolve)),
    STEP_MS,
    "upgrade to websocket",
  );
}

/** Records every event a socket receives, in order, as [event, ...args]. */
function recorder(socket) {
  const seen = [];
  const waiters = [];
  socket.onAny((event, ...args) => {
    seen.push([event, ...plain(args)]);
    for (const w of [...waiters]) {
      if (w.test(event, args)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  });
  return {
    seen,
    until(test, what) {
      if (seen.some(([event, ...args]) => test(event, args))) return Promise.resolve();
      return within(new Promise((resolve) => waiters.push({ test, resolve })), STEP_MS, what);
    },
  };
}

const random = () => Math.random().toString(36).slice(2, 10);

const scenarios = {
  async "ack-client"() {
    const { socket } = await open();
    return {
      several: await ask(socket, "echo", 1, "two", { three: [3, null, true] }),
      one: await ask(socket, "echo", "hello"),
      none: await ask(socket, "echo"),
    };
  },

  async "ack-server"() {
    const { socket } = await open();
    // "one" asks for a single answer value, anything else for several.
    socket.on("question", (...args) => {
      const ack = args.pop();
      if (args[0] === "one") ack({ answered: args });
      else ack("answered", ...args);
    });
    socket.on("ignore-me", () => {});
    const answers = [];
    for (const args of [["one", 1], ["several", { n: 2 }, [3]]]) {
      const answer = nextEvent(socket, "answer");
      socket.emit("ask", args);
      answers.push(await answer);
    }
    const timeout = nextEvent(socket, "timeout-result");
    socket.emit("ask-timeout");
    return { single: answers[0], several: answers[1], timeout: await timeout };
  },

  async binary() {
    const { socket } = await open();
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const payload = {
      name: "blob",
      data: Buffer.from([1, 2, 3]),
      nested: { list: [Buffer.from([4, 5]), "x", { deep: all }] },
    };
    const echoed = await ask(socket, "echo", payload, [Buffer.from("ab"), 7]);
    // server -> client event with binary, answered by a binary ack from the client, which
    // the server sends back in a binary event.
    socket.on("question", (...args) => {
      const ack = args.pop();
      ack("answered", { got: args, extra: Buffer.from([0xff, 0x00]) });
    });
    const answer = nextEvent(socket, "answer");
    socket.emit("ask", ["several", { file: Buffer.from([9, 8, 7]) }, [Buffer.from([6])]]);
    return { echoed, answer: await answer };
  },

  async order() {
    const { socket } = await open();
    const count = 500;
    const received = [];
    const done = within(
      new Promise((resolve) => {
        socket.on("seq", (i) => {
          received.push(i);
          if (received.length === count) resolve();
        });
      }),
      15000,
      `${count} seq events`,
    ).catch(() => {});
    for (let i = 0; i < count; i++) socket.emit("seq", i);
    await done;
    return { received };
  },

  async rooms() {
    const names = ["A", "B", "C"];
    const peers = {};
    for (const name of names) {
      const { socket } = await open("/", { forceNew: true });
      peers[name] = { socket, log: recorder(socket) };
      socket.on("survey", (ack) => ack(name));
    }
    const room = `room-${random()}`;
    const vip = `vip-${random()}`;
    await ask(peers.A.socket, "join", room);
    await ask(peers.B.socket, "join", room);
    await ask(peers.B.socket, "join", vip);
    let marker = 0;
    const act = async (by, action) => {
      marker += 1;
      const m = marker;
      await ask(peers[by].socket, "action", { ...action, event: "news", marker: m });
      const marked = (ev, args) => ev === "marker" && args[0] === m;
      await Promise.all(names.map((n) => peers[n].log.until(marked, `marker ${m} at ${n}`)));
    };
    await act("C", { kind: "io-to", room, data: "io.to(room)" });
    await act("C", { kind: "io-to-except", room, except: vip, data: "io.to(room).except(vip)" });
    await act("A", { kind: "socket-to", room, data: "socket.to(room) from A" });
    await act("A", { kind: "broadcast", data: "socket.broadcast from A" });
    const survey = await ask(peers.C.socket, "survey", room);
    const news = Object.fromEntries(
      names.map((n) => [n, peers[n].log.seen.filter(([ev]) => ev === "news").map(([, d]) => d)]),
    );
    return { news, survey: survey[0] };
  },

  async refused() {
    const withData = await open("/refused", {}, true);
    const withoutData = await open("/refused-plain", {}, true);
    const badToken = await open("/guarded", { auth: { token: "wrong" } }, true);
    const unknown = await open("/nope", {}, true);
    // The refusals leave the connection usable for the main namespace.
    const main = await open("/");
    const echo = await ask(main.socket, "echo", "still usable");
    const strip = ({ connected, error }) => ({ connected, error: error ?? null });
    return {
      handler: strip(withData),
      handlerPlain: strip(withoutData),
      middleware: strip(badToken),
      unknown: strip(unknown),
      echo,
    };
  },

  async accepted() {
    const auth = { token: "secret", user: "ana", n: [1, 2] };
    const { socket, connected } = await open("/guarded", { auth });
    const [me] = await ask(socket, "whoami");
    return { connected, whoami: me, socketId: socket.id };
  },

  async multiplex() {
    const opens = [];
    const main = await open("/");
    main.socket.io.on("open", () => opens.push(Date.now()));
    const custom = await open("/custom");
    const [a] = await ask(main.socket, "whoami");
    const [b] = await ask(custom.socket, "whoami");
    return {
      sameManager: main.socket.io === custom.socket.io,
      clientEngineId: main.socket.io.engine.id,
      main: a,
      custom: b,
      extraOpens: opens.length,
    };
  },

  async "server-disconnect"() {
    const main = await open("/");
    const custom = await open("/custom");
    const customId = custom.socket.id;
    const customGone = nextEvent(custom.socket, "disconnect");
    custom.socket.emit("kick", false);
    const customReason = (await customGone)[0];
    const [serverCustomReason] = await ask(main.socket, "reason-of", customId);
    const mainConnectedAfterCustom = main.socket.connected;

    const mainId = main.socket.id;
    const mainGone = nextEvent(main.socket, "disconnect");
    main.socket.emit("kick", true);
    const mainReason = (await mainGone)[0];
    const probe = await open("/", { forceNew: true });
    const [serverMainReason] = await ask(probe.socket, "reason-of", mainId);
    return {
      customReason,
      serverCustomReason,
      mainConnectedAfterCustom,
      mainReason,
      serverMainReason,
      mainActive: main.socket.active,
    };
  },

  async "client-disconnect"() {
    const main = await open("/");
    const custom = await open("/custom");
    const customId = custom.socket.id;
    const customGone = nextEvent(custom.socket, "disconnect");
    custom.socket.disconnect();
    const customReason = (await customGone)[0];
    const [serverCustomReason] = await ask(main.socket, "reason-of", customId);

    const mainId = main.socket.id;
    const mainGone = nextEvent(main.socket, "disconnect");
    main.socket.disconnect();
    const mainReason = (await mainGone)[0];
    const probe = await open("/", { forceNew: true });
    const [serverMainReason] = await ask(probe.socket, "reason-of", mainId);
    return { customReason, serverCustomReason, mainReason, serverMainReason };
  },

  async heartbeat() {
    const { socket } = await open();
    let pings = 0;
    const disconnects = [];
    socket.io.on("ping", () => (pings += 1));
    socket.on("disconnect", (reason) => disconnects.push(reason));
    await sleep(1500);
    const echo = await ask(socket, "echo", "alive");
    return { pings, disconnects: [...disconnects], connected: socket.connected, echo };
  },

  async oversize() {
    const victim = await open("/", { forceNew: true });
    const bystander = await open("/", { forceNew: true });
    // In upgrade mode the big message must go over the websocket, not the last poll.
    await upgraded(victim.socket);
    await upgraded(bystander.socket);
    const log = recorder(bystander.socket);
    const victimTransport = victim.socket.io.engine.transport.name;
    const gone = nextEvent(victim.socket, "disconnect");
    let victimAck = null;
    victim.socket.emit("echo", "x".repeat(30000), () => (victimAck = "acked"));
    const victimReason = (await gone)[0];

    await ask(bystander.socket, "action", { kind: "all", event: "news", data: "after", marker: 1 });
    await log.until((ev, args) => ev === "marker" && args[0] === 1, "marker at bystander");
    const echo = await ask(bystander.socket, "echo", "still", "here");
    return {
      victimTransport,
      victimReason,
      victimAck,
      victimConnected: victim.socket.connected,
      bystanderNews: log.seen.filter(([ev]) => ev === "news").map(([, d]) => d),
      bystanderEcho: echo,
      bystanderConnected: bystander.socket.connected,
    };
  },

  async "catch-all"() {
    const { socket } = await open("/catchall");
    const log = recorder(socket);
    socket.emit("alpha", 1, "two");
    socket.emit("beta", { x: [1, 2] }, Buffer.from([5, 6]));
    socket.emit("gamma");
    await log.until(
      () => log.seen.filter(([ev]) => ev === "caught").length >= 3,
      "three caught events",
    );
    return { received: [...log.seen] };
  },
};

async function main() {
  if (!(scenario in scenarios)) throw new Error(`unknown scenario ${scenario}`);
  if (!(version in clients)) throw new Error(`unknown client version ${version}`);
  if (!(mode in transportsFor)) throw new Error(`unknown transport mode ${mode}`);
  ({ io } = await clients[version]());
  const result = await scenarios[scenario]();
  // The transport of the first connection still open; in upgrade mode after the upgrade.
  const first = sockets.find((s) => s.io.engine && s.io.engine.readyState === "open");
  let transport = null;
  if (first) {
    await upgraded(first).catch(() => {});
    transport = first.io.engine.transport.name;
  }
  return { ok: true, scenario, version, mode, transport, result };
}

let report;
try {
  report = await main();
} catch (err) {
  report = { ok: false, scenario, version, mode, error: String(err && err.stack ? err.stack : err) };
}
for (const socket of sockets) socket.disconnect();
process.stdout.write(JSON.stringify(report) + "\n");
process.exit(0);
