// Draws the result charts with Chart.js (vendored through the pins; loaded as a UMD global).
// Python prepares the numbers (app.core.chartdata); this file only hands them to Chart.js.
const charts = {};

function draw(canvasOrId, config) {
  const canvas = typeof canvasOrId === "string" ? document.getElementById(canvasOrId) : canvasOrId;
  if (!canvas || typeof Chart === "undefined") return;
  const existing = Chart.getChart(canvas);
  if (existing) existing.destroy();
  const chart = new Chart(canvas, { ...config, options: { animation: false, responsive: true, ...config.options } });
  if (typeof canvasOrId === "string") charts[canvasOrId] = chart;
}

function bar(title, unit, bars) {
  return {
    type: "bar",
    data: {
      labels: bars.labels,
      datasets: [
        { label: `${title} (mean)`, data: bars.mean, backgroundColor: bars.colors },
        { label: "min", data: bars.min, backgroundColor: "rgba(0,0,0,0.12)" },
        { label: "max", data: bars.max, backgroundColor: "rgba(0,0,0,0.25)" },
      ],
    },
    options: { plugins: { title: { display: true, text: `${title} (${unit})` } }, scales: { y: { beginAtZero: true } } },
  };
}

export function drawCharts(data, targets = ["chart-decode", "chart-ttft", "chart-load", "chart-itl"]) {
  const d = data.toJs ? data.toJs({ dict_converter: Object.fromEntries }) : data;
  draw(targets[0], bar("Decode", "tok/s, higher is better", d.decode));
  draw(targets[1], bar("Time to first token", "ms, lower is better", d.ttft));
  draw(targets[2], bar("Load (engine + GPU init)", "s", d.load));
  draw(targets[3], {
    type: "line",
    data: { datasets: d.itl.map((s) => ({ label: s.label, data: s.points, borderColor: s.color, pointRadius: 0, borderWidth: 1.5 })) },
    options: {
      parsing: false,
      plugins: { title: { display: true, text: "Per-token latency over the first measured run (ms)" } },
      scales: { x: { type: "linear", title: { display: true, text: "token index" } }, y: { beginAtZero: true } },
    },
  });
}

export function clearCharts() {
  for (const id of Object.keys(charts)) {
    charts[id].destroy();
    delete charts[id];
  }
}

// Notebook outputs: <div data-bench-charts="{json}"> placeholders written by a result's _repr_html_.
export function drawChartsIn(root) {
  for (const holder of root.querySelectorAll("[data-bench-charts]")) {
    const canvases = [0, 1, 2, 3].map(() => {
      const box = document.createElement("div");
      const canvas = document.createElement("canvas");
      box.appendChild(canvas);
      holder.appendChild(box);
      return canvas;
    });
    holder.classList.add("charts");
    drawCharts(JSON.parse(holder.dataset.benchCharts), canvases);
  }
}
