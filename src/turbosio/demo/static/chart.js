// LiveChart: a tiny line chart on a <canvas> for values that arrive one at a time.
//
//   const chart = new LiveChart(canvas, { color: "#2f7d6d", unit: "%", capacity: 60 });
//   (other options: min, max, and integer: true for counts, whose grid stays on whole numbers)
//   chart.push(42);          // append a value (the oldest drops off past `capacity`)
//   chart.setData([1, 2]);   // replace them all
//
// The canvas's data-peak attribute holds the largest value the chart holds (what a glance at
// the chart tells: a burst shows there for as long as it is on the chart).
//
// The y axis starts at 0 (or `min`) and grows to a round number above the largest value
// shown (or stays at `max` when given). Sharp on high-density screens; redraws itself when the
// canvas changes size. Part of turbosio's demo, MIT licensed like the rest of it.
(function () {
  "use strict";

  // The smallest round number (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 times a power of ten)
  // that is at least `value`: the top of the y axis.
  function niceCeiling(value) {
    if (value <= 0) return 1;
    const power = Math.pow(10, Math.floor(Math.log10(value)));
    for (const step of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) {
      if (step * power >= value) return step * power;
    }
    return 10 * power;
  }

  function formatNumber(value) {
    if (value >= 100 || Number.isInteger(value)) return String(Math.round(value));
    return value.toFixed(value >= 10 ? 1 : 2).replace(/\.?0+$/, "");
  }

  class LiveChart {
    constructor(canvas, options = {}) {
      this.canvas = canvas;
      this.color = options.color || "#2f7d6d";
      this.unit = options.unit || "";
      this.capacity = options.capacity || 60;
      this.min = options.min || 0;
      this.max = options.max;
      this.integer = !!options.integer; // counts: keep the grid lines on whole numbers
      this.values = [];
      this.draw = this.draw.bind(this);
      if (window.ResizeObserver) new ResizeObserver(this.draw).observe(canvas);
      window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", this.draw);
      this.draw();
    }

    push(value) {
      this.values.push(value);
      if (this.values.length > this.capacity) this.values.splice(0, this.values.length - this.capacity);
      this.changed();
    }

    setData(values) {
      this.values = values.slice(-this.capacity);
      this.changed();
    }

    changed() {
      const held = this.values.filter((v) => typeof v === "number" && isFinite(v));
      if (held.length) this.canvas.dataset.peak = String(Math.max(...held));
      else delete this.canvas.dataset.peak;
      this.draw();
    }

    draw() {
      const canvas = this.canvas;
      const ratio = window.devicePixelRatio || 1;
      const width = canvas.clientWidth;
      const height = canvas.clientHeight;
      if (!width || !height) return;
      if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
        canvas.width = Math.round(width * ratio);
        canvas.height = Math.round(height * ratio);
      }
      const ctx = canvas.getContext("2d");
      ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
      ctx.clearRect(0, 0, width, height);

      const style = getComputedStyle(canvas);
      const muted = style.getPropertyValue("--muted").trim() || "#888";
      const line = style.getPropertyValue("--line").trim() || "#ddd";
      const shown = this.values.filter((v) => typeof v === "number" && isFinite(v));
      let top = this.max !== undefined ? this.max : niceCeiling(Math.max(this.min, ...shown) * 1.1);
      if (this.integer) top = Math.max(2, Math.ceil(top / 2) * 2);
      const left = 6, right = 44, upper = 8, lower = 8;
      const plotWidth = width - left - right;
      const plotHeight = height - upper - lower;
      const y = (v) => upper + plotHeight * (1 - (v - this.min) / (top - this.min || 1));
      const x = (i) => left + (plotWidth * i) / Math.max(1, this.capacity - 1);

      // Grid: three lines with their values on the right.
      ctx.font = "11px system-ui, sans-serif";
      ctx.textBaseline = "middle";
      ctx.lineWidth = 1;
      for (let k = 0; k <= 2; k++) {
        const value = this.min + ((top - this.min) * k) / 2;
        const gy = Math.round(y(value)) + 0.5;
        ctx.strokeStyle = line;
        ctx.beginPath();
        ctx.moveTo(left, gy);
        ctx.lineTo(left + plotWidth, gy);
        ctx.stroke();
        ctx.fillStyle = muted;
        ctx.fillText(formatNumber(value) + this.unit, left + plotWidth + 6, gy);
      }
      if (this.values.length === 0) return;

      // The newest value sits at the right edge; older ones go left.
      const offset = this.capacity - this.values.length;
      const points = [];
      this.values.forEach((v, i) => {
        if (typeof v === "number" && isFinite(v)) points.push([x(offset + i), y(Math.min(v, top))]);
      });
      if (points.length === 0) return;
      ctx.beginPath();
      points.forEach(([px, py], i) => (i ? ctx.lineTo(px, py) : ctx.moveTo(px, py)));
      ctx.lineTo(points[points.length - 1][0], y(this.min));
      ctx.lineTo(points[0][0], y(this.min));
      ctx.closePath();
      ctx.fillStyle = this.color + "2a";
      ctx.fill();
      ctx.beginPath();
      points.forEach(([px, py], i) => (i ? ctx.lineTo(px, py) : ctx.moveTo(px, py)));
      ctx.strokeStyle = this.color;
      ctx.lineWidth = 2;
      ctx.lineJoin = "round";
      ctx.stroke();
      const [lx, ly] = points[points.length - 1];
      ctx.beginPath();
      ctx.arc(lx, ly, 3, 0, 2 * Math.PI);
      ctx.fillStyle = this.color;
      ctx.fill();
    }
  }

  window.LiveChart = LiveChart;
})();
