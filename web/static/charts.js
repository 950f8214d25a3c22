// Draws the result charts with Chart.js (vendored through the pins; loaded as a UMD global).
// Python prepares the numbers (app.core.chartdata); this file only hands them to Chart.js.
const charts = {};

function draw(canvasId, config) {
  const canvas = document.getElementById(canvasId);
  if (!canvas || typeof Chart === "undefined") return;
  if (charts[canvasId]) charts[canvasId].destroy();
  charts[canvasId] = new Chart(canvas, { ...config, options: { animation: false, responsive: true, ...config.options } });
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

export function drawCharts(data) {
  const d = data.toJs ? data.toJs({ dict_converter: Object.fromEntries }) : data;
  draw("chart-decode", bar("Decode", "tok/s, higher is better", d.decode));
  draw("chart-ttft", bar("Time to first token", "ms, lower is better", d.ttft));
  draw("chart-load", bar("Load (engine + GPU init)", "s", d.load));
  draw("chart-itl", {
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
