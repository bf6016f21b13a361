// The dashboard page: see turbosio/demo/dashboard.py. The server pushes `metrics`; the page
// only draws them (chart.js is this demo's own tiny canvas chart).
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const css = getComputedStyle(document.documentElement);
  const accent = css.getPropertyValue("--accent").trim() || "#2f7d6d";
  const charts = {
    connections: new LiveChart($("chart-connections"), { color: accent, integer: true }),
    messages: new LiveChart($("chart-messages"), { color: "#2d6cdf" }),
    cpu: new LiveChart($("chart-cpu"), { color: "#e67e22", unit: "%" }),
    memory: new LiveChart($("chart-memory"), { color: "#8e44ad" }),
  };
  let count = 0;

  function show(sample) {
    for (const key of Object.keys(charts)) $(key).textContent = sample[key] ?? "n/a";
    $("namespaces").replaceChildren(
      ...Object.entries(sample.sockets).map(([nsp, n]) => demo.element("span", "", `${nsp} ${n}`)),
    );
    count += 1;
    $("samples").dataset.count = String(count);
    $("samples").textContent = `last sample ${new Date(sample.time * 1000).toLocaleTimeString()}`;
  }

  demo.connect("/dashboard").then((socket) => {
    socket.on("history", ({ samples }) => {
      for (const key of Object.keys(charts)) charts[key].setData(samples.map((s) => s[key]));
      if (samples.length) show(samples[samples.length - 1]);
    });
    socket.on("metrics", (sample) => {
      for (const key of Object.keys(charts)) charts[key].push(sample[key]);
      show(sample);
    });

    // The round trip, measured by this page once a second with an acknowledged event.
    setInterval(() => {
      if (!socket.connected) return;
      const start = performance.now();
      socket.timeout(5000).emit("ping", (err) => {
        if (!err) $("latency").textContent = (performance.now() - start).toFixed(1);
      });
    }, 1000);

    $("burst").onclick = () => {
      for (let i = 0; i < 1000; i++) socket.emit("ping", i);
    };
    // Usable only from now on: a click before the socket exists would do nothing.
    $("burst").disabled = false;
  });
})();
