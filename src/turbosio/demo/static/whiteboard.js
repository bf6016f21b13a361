// The whiteboard page: see turbosio/demo/whiteboard.py.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const COLORS = ["#1d2327", "#2f7d6d", "#2d6cdf", "#c0392b", "#e67e22", "#8e44ad"];
  const canvas = $("board");
  const ctx = canvas.getContext("2d");
  let segments = []; // every segment drawn so far: [x0, y0, x1, y1, color, width], 0..1
  let color = COLORS[0];
  let outbox = []; // this page's segments not sent yet (one event per animation frame)
  let socket = null;

  // Colour buttons.
  for (const c of COLORS) {
    const button = document.createElement("button");
    button.type = "button";
    button.style.background = c;
    button.setAttribute("aria-label", "colour " + c);
    button.setAttribute("aria-pressed", String(c === color));
    button.onclick = () => {
      color = c;
      for (const b of $("swatches").children) b.setAttribute("aria-pressed", String(b === button));
    };
    $("swatches").append(button);
  }

  function resize() {
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(canvas.clientWidth * ratio);
    canvas.height = Math.round(canvas.clientHeight * ratio);
    redraw();
  }

  function stroke(s) {
    const [x0, y0, x1, y1, c, w] = s;
    const W = canvas.width, H = canvas.height;
    ctx.strokeStyle = c;
    ctx.lineWidth = Math.max(1, w * W);
    ctx.lineCap = "round";
    ctx.beginPath();
    ctx.moveTo(x0 * W, y0 * H);
    ctx.lineTo(x1 * W, y1 * H);
    ctx.stroke();
  }

  function redraw() {
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    segments.forEach(stroke);
    canvas.dataset.segments = String(segments.length);
  }

  function addSegments(list) {
    for (const s of list) {
      segments.push(s);
      stroke(s);
    }
    canvas.dataset.segments = String(segments.length);
  }

  // Drawing: each pointer move adds one segment, drawn here at once and sent in batches.
  let last = null;
  const point = (event) => {
    const box = canvas.getBoundingClientRect();
    const clamp = (v) => Math.min(1, Math.max(0, v));
    return [
      +clamp((event.clientX - box.left) / box.width).toFixed(4),
      +clamp((event.clientY - box.top) / box.height).toFixed(4),
    ];
  };
  canvas.addEventListener("pointerdown", (event) => {
    canvas.setPointerCapture(event.pointerId);
    last = point(event);
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!last) return;
    const next = point(event);
    const s = [...last, ...next, color, Number($("width").value)];
    last = next;
    addSegments([s]);
    if (outbox.length === 0) requestAnimationFrame(flush);
    outbox.push(s);
  });
  const stop = () => (last = null);
  canvas.addEventListener("pointerup", stop);
  canvas.addEventListener("pointercancel", stop);

  function flush() {
    if (socket && socket.connected && outbox.length) socket.emit("draw", outbox);
    outbox = [];
  }

  $("clear").onclick = () => socket && socket.emit("clear");

  new ResizeObserver(resize).observe(canvas);

  demo.connect("/whiteboard").then((s) => {
    socket = s;
    // A new page (or one back after a disconnection) gets the whole drawing.
    socket.on("history", (all) => {
      segments = all;
      redraw();
    });
    socket.on("draw", addSegments);
    socket.on("clear", () => {
      segments = [];
      redraw();
    });
    socket.on("people", (n) => ($("people").textContent = n === 1 ? "only you here" : `${n} people drawing`));
  });
})();
