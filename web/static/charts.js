// Draws the result charts with Chart.js and its error-bars plugin (both vendored through the pins,
// loaded as UMD globals). Python prepares the numbers and decides which rows are drawn apart
// (app.core.chartdata); this file only hands them to Chart.js.
const charts = {};
let registered = false;

function register() {
  if (registered || typeof Chart === "undefined") return;
  if (typeof ChartErrorBars !== "undefined") {
    Chart.register(ChartErrorBars.BarWithErrorBarsController, ChartErrorBars.BarWithErrorBar);
  }
  registered = true;
}

// Diagonal grey hatching: a row drawn apart (WRONG) can never be mistaken for a coloured bar.
function hatch(color) {
  const tile = document.createElement("canvas");
  tile.width = tile.height = 8;
  const g = tile.getContext("2d");
  g.fillStyle = "#ffffff";
  g.fillRect(0, 0, 8, 8);
  g.strokeStyle = color;
  g.lineWidth = 2;
  g.beginPath();
  g.moveTo(0, 8);
  g.lineTo(8, 0);
  g.moveTo(-2, 2);
  g.lineTo(2, -2);
  g.moveTo(6, 10);
  g.lineTo(10, 6);
  g.stroke();
  return g.createPattern(tile, "repeat");
}

function draw(canvasOrId, config) {
  const canvas = typeof canvasOrId === "string" ? document.getElementById(canvasOrId) : canvasOrId;
  if (!canvas || typeof Chart === "undefined") return;
  const existing = Chart.getChart(canvas);
  if (existing) existing.destroy();
  const chart = new Chart(canvas, {
    ...config,
    options: { animation: false, responsive: true, maintainAspectRatio: true, ...config.options },
  });
  if (typeof canvasOrId === "string") charts[canvasOrId] = chart;
}

function bar(title, unit, bars) {
  const withErrorBars = typeof ChartErrorBars !== "undefined";
  return {
    type: withErrorBars ? "barWithErrorBars" : "bar",
    data: {
      labels: bars.labels,
      datasets: [
        {
          label: `${title} (mean; whiskers: min-max over runs)`,
          // Python's None arrives as undefined: a point without a value draws no bar.
          data: bars.points.map((p) => (p == null ? { y: null } : withErrorBars ? p : { y: p.y })),
          backgroundColor: bars.colors.map((c, i) => (bars.apart[i] ? hatch(c) : c)),
          borderColor: bars.colors,
          borderWidth: bars.apart.map((a) => (a ? 2 : 0)),
          errorBarColor: "#24292f",
          errorBarWhiskerColor: "#24292f",
        },
      ],
    },
    options: {
      plugins: {
        title: { display: true, text: `${title} (${unit})` },
        legend: { display: false },
        subtitle: { display: bars.apart.some(Boolean) || bars.points.some((p) => p === null),
          text: "grey hatched: wrong output; no bar: no result (GPU ERROR, ERROR, unsupported)" },
      },
      scales: { y: { beginAtZero: true } },
    },
  };
}

export function drawCharts(data, targets = ["chart-decode", "chart-ttft", "chart-load", "chart-itl", "chart-memory"]) {
  register();
  const d = data.toJs ? data.toJs({ dict_converter: Object.fromEntries }) : data;
  draw(targets[0], bar("Decode", "tok/s, higher is better", d.decode));
  draw(targets[1], bar("Time to first token", "ms, lower is better", d.ttft));
  draw(targets[2], bar("Load (engine + GPU init)", "s", d.load));
  if (targets[4] && d.memory) draw(targets[4], bar("Memory of each row (its growth of the page: after load to peak)", "MB", d.memory));
  if (targets[5] && d.vs_native) draw(targets[5], bar("Decode speed against native llama.cpp", "x native's tok/s, same test", d.vs_native));
  draw(targets[3], {
    type: "line",
    data: {
      datasets: d.itl.map((s) => ({
        label: s.label, data: s.points, borderColor: s.color, backgroundColor: s.color, pointRadius: 0, borderWidth: 1.5,
        borderDash: s.apart ? [6, 4] : [],
      })),
    },
    options: {
      parsing: false,
      plugins: { title: { display: true, text: "Per-token latency over the first measured run (ms; dashed grey: wrong output)" } },
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

// For tests and automation: what each drawn bar chart shows, per bar (label, value, fill kind).
export function describeCharts() {
  const out = {};
  for (const [id, chart] of Object.entries(charts)) {
    const ds = chart.data.datasets[0];
    out[id] = chart.data.labels.map((label, i) => ({
      label: Array.isArray(label) ? label.join(" ") : String(label),
      value: ds.data[i] == null || ds.data[i].y == null ? null : ds.data[i].y,
      hatched: Array.isArray(ds.backgroundColor) && typeof ds.backgroundColor[i] === "object",
      color: Array.isArray(ds.borderColor) ? ds.borderColor[i] : ds.borderColor,
    }));
  }
  return JSON.stringify(out);
}

// Notebook outputs: <div data-bench-charts="{json}"> placeholders written by a result's _repr_html_.
export function drawChartsIn(root) {
  for (const holder of root.querySelectorAll("[data-bench-charts]")) {
    const data = JSON.parse(holder.dataset.benchCharts);
    if (data.empty) continue;
    const canvases = (data.vs_native ? [0, 1, 2, 3, 4, 5] : [0, 1, 2, 3, 4]).map(() => {
      const box = document.createElement("div");
      const canvas = document.createElement("canvas");
      box.appendChild(canvas);
      holder.appendChild(box);
      return canvas;
    });
    holder.classList.add("charts");
    drawCharts(data, canvases);
  }
}
