// What every demo page shares: loading the official client, connecting, the status line.
//
// The client comes from this server (turbosio serves the npm socket.io-client's build at
// /socket.io/socket.io.js when it is installed, as `make demo` arranges), or else from the
// CDN. `?transport=polling` (or `websocket`) in the page's address picks the transports,
// which the navigation links keep.
(function () {
  "use strict";

  const SOURCES = ["/socket.io/socket.io.js", "https://cdn.socket.io/4.5.4/socket.io.min.js"];
  const params = new URLSearchParams(location.search);
  const transport = params.get("transport");
  let loading = null;

  function loadScript(sources) {
    return new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = sources[0];
      script.onload = () => resolve(sources[0]);
      script.onerror = () => {
        script.remove();
        if (sources.length > 1) {
          loadScript(sources.slice(1)).then(resolve, reject);
        } else {
          reject(new Error("could not load the Socket.IO client"));
        }
      };
      document.head.appendChild(script);
    });
  }

  function loadClient() {
    if (!loading) {
      loading = loadScript(SOURCES).then((source) => {
        document.documentElement.dataset.client = source.startsWith("/") ? "local" : "cdn";
        const where = document.getElementById("client-source");
        if (where) where.textContent = source;
        return window.io;
      });
    }
    return loading;
  }

  function setStatus(text, online, name) {
    const line = document.getElementById("status");
    if (!line) return;
    line.textContent = text;
    line.classList.toggle("online", online);
    line.dataset.transport = name || "";
  }

  // Show whether the socket is connected, and over which transport (it changes on upgrade).
  function trackStatus(socket) {
    const engine = socket.io;
    const show = () => {
      const name = engine.engine && engine.engine.transport ? engine.engine.transport.name : "";
      setStatus(`connected · ${name}`, true, name);
    };
    socket.on("connect", () => {
      show();
      engine.engine.once("upgrade", show);
    });
    socket.on("disconnect", (reason) => setStatus(`disconnected (${reason})`, false));
    socket.on("connect_error", (err) => setStatus(`cannot connect: ${err.message}`, false));
    engine.on("reconnect_attempt", (n) => setStatus(`reconnecting (attempt ${n})…`, false));
  }

  // Keep ?transport=… on the navigation links, and mark the current page.
  function fixLinks() {
    for (const link of document.querySelectorAll("a[data-keep-query]")) {
      const url = new URL(link.getAttribute("href"), location.href);
      if (transport) url.searchParams.set("transport", transport);
      link.href = url.pathname + url.search;
      if (url.pathname === location.pathname) link.setAttribute("aria-current", "page");
    }
    const mode = document.getElementById("transport-mode");
    if (mode) mode.textContent = transport ? `${transport} only` : "polling, then WebSocket";
  }

  window.demo = {
    /** Load the client library (once); resolves to `io`. */
    loadClient,

    /** The transports this page asked for (undefined: the client's default). */
    transports: transport ? [transport] : undefined,

    /** Connect to `namespace` with the official client; resolves to the socket. */
    async connect(namespace, options = {}) {
      const io = await loadClient();
      // Say goodbye when the tab closes, so the others see this visitor leave at once (a
      // long-polling client could otherwise be missed until the heartbeat times out).
      const settings = { closeOnBeforeunload: true, ...options };
      // Only when asked: the client copies an undefined option over its own default.
      if (this.transports) settings.transports = this.transports;
      const socket = io(namespace, settings);
      trackStatus(socket);
      return socket;
    },

    /** Format a server time (seconds since the epoch) as hh:mm. */
    clock(seconds) {
      return new Date(seconds * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    },

    /** A new element with a class and text (textContent: what others type is never HTML). */
    element(tag, className, text) {
      const el = document.createElement(tag);
      if (className) el.className = className;
      if (text !== undefined) el.textContent = text;
      return el;
    },
  };

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", fixLinks);
  } else {
    fixLinks();
  }
})();
