// The official socket.io-client 4.8 in the deployment tests (through nginx, over HTTPS, ...).
//
// Usage: node client.cjs JS_DIR SCENARIO URL OPTIONS_JSON
//   JS_DIR: tests/js, where the pinned npm packages are installed
//   OPTIONS_JSON: socket.io-client options, plus "waitUpgrade" (wait for the WebSocket upgrade)
// Prints one JSON line at the end: {"ok": true, "result": ...} or {"ok": false, "error": "..."};
// the "reconnect" scenario prints {"event": ...} lines on the way. The script only observes;
// the Python tests decide what is right. Trust a self-signed certificate with
// NODE_EXTRA_CA_CERTS.

const path = require("path");
const { createRequire } = require("module");

const [jsDir, scenario, url, optionsJson] = process.argv.slice(2);
const { io } = createRequire(path.join(jsDir, "package.json"))("socket.io-client");
const { waitUpgrade, ...options } = JSON.parse(optionsJson || "{}");

const STEP_MS = 15000;

function within(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function connected(socket) {
  return within(
    new Promise((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("connect_error", reject);
    }),
    STEP_MS,
    "connect",
  );
}

function upgraded(socket) {
  const engine = socket.io.engine;
  if (engine.transport.name === "websocket") return Promise.resolve();
  return within(new Promise((resolve) => engine.once("upgrade", resolve)), STEP_MS, "upgrade");
}

const scenarios = {
  // Connect, (wait for the upgrade), ask the server who we are.
  async whoami() {
    const socket = io(url, { reconnection: false, forceNew: true, ...options });
    // The transport the connection opened with: the upgrade may finish before "connect".
    const first = socket.io.engine ? socket.io.engine.transport.name : null;
    try {
      await connected(socket);
      if (waitUpgrade) await upgraded(socket);
      const whoami = await within(socket.emitWithAck("whoami"), STEP_MS, "whoami ack");
      return { whoami, first, transport: socket.io.engine.transport.name, id: socket.id };
    } finally {
      socket.disconnect();
    }
  },

  // Log in over HTTP first (options.login: the login URL), then connect with the session
  // cookie it set, as a browser would; report who the server says we are.
  async cookie() {
    const { login, ...rest } = options;
    let cookie = "";
    if (login) {
      const response = await fetch(login);
      cookie = (response.headers.get("set-cookie") || "").split(";")[0];
    }
    const socket = io(url, {
      reconnection: false,
      forceNew: true,
      extraHeaders: cookie ? { Cookie: cookie } : {},
      ...rest,
    });
    try {
      const welcome = new Promise((resolve) => socket.once("welcome", resolve));
      try {
        await connected(socket);
      } catch (err) {
        return { connected: false, message: err.message };
      }
      const whoami = await within(socket.emitWithAck("whoami"), STEP_MS, "whoami ack");
      return { connected: true, welcome: await within(welcome, STEP_MS, "welcome"), whoami };
    } finally {
      socket.disconnect();
    }
  },

  // Expect the connection to be refused; report how.
  async refused() {
    const socket = io(url, { reconnection: false, forceNew: true, ...options });
    try {
      await connected(socket);
      return { connected: true };
    } catch (err) {
      return {
        connected: false,
        message: err.message,
        data: err.data ?? null,
        description: typeof err.description === "number" ? err.description : null,
      };
    } finally {
      socket.disconnect();
    }
  },

  // Stay connected with reconnection on; report each disconnect and reconnect as it happens.
  async reconnect() {
    const socket = io(url, {
      forceNew: true,
      reconnectionDelay: 100,
      reconnectionDelayMax: 500,
      randomizationFactor: 0,
      ...options,
    });
    const ids = [];
    const reasons = [];
    await connected(socket);
    ids.push(socket.id);
    console.log(JSON.stringify({ event: "connected", id: socket.id }));
    await within(
      new Promise((resolve) => {
        socket.once("disconnect", (reason) => {
          reasons.push(reason);
          console.log(JSON.stringify({ event: "disconnect", reason }));
          resolve();
        });
      }),
      60000,
      "disconnect",
    );
    await within(new Promise((resolve) => socket.once("connect", resolve)), 60000, "reconnect");
    ids.push(socket.id);
    const whoami = await within(socket.emitWithAck("whoami"), STEP_MS, "whoami ack");
    socket.disconnect();
    return { ids, reasons, whoami };
  },
};

scenarios[scenario]()
  .then((result) => {
    console.log(JSON.stringify({ ok: true, result }));
    process.exit(0);
  })
  .catch((err) => {
    console.log(JSON.stringify({ ok: false, error: String(err && err.stack ? err.stack : err) }));
    process.exit(0);
  });
