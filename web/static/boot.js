// Boots Pyodide from this site, installs the `app` wheel with micropip and hands over to Python.
// Everything after the hand-over (environment probe, engines, benchmark, rendering) is Python.
import { loadPyodide } from "../pyodide.mjs";
import { install as installGpuCapture } from "./gpu_capture.js";

// Before anything can create a WebGPU device: every device an engine obtains is watched.
installGpuCapture();

const root = document.documentElement;
const site = JSON.parse(document.getElementById("site-config").textContent);
const statusEl = document.getElementById("status");
const errorEl = document.getElementById("error");

function setStatus(text) {
  statusEl.textContent = text;
}

function showError(err) {
  root.dataset.state = "error";
  setStatus("Error");
  errorEl.hidden = false;
  errorEl.textContent = err && err.message ? err.message : String(err);
  console.error(err);
}

// Python code calls showError too (through the js module) when a later step fails.
globalThis.benchShowError = showError;

async function boot() {
  root.dataset.state = "loading";
  const timings = { boot_start_ms: performance.now() };
  setStatus("Loading Pyodide…");
  const indexURL = new URL("./", location.href).href;
  const pyodide = await loadPyodide({ indexURL });
  timings.pyodide_ready_ms = performance.now();
  setStatus("Installing the app wheel with micropip…");
  await pyodide.loadPackage("micropip", { messageCallback: () => {} });
  const micropip = pyodide.pyimport("micropip");
  await micropip.install(new URL(site.app_wheel, indexURL).href);
  micropip.destroy();
  timings.app_installed_ms = performance.now();
  globalThis.benchPyodide = pyodide;
  const page = pyodide.pyimport(document.body.dataset.pyPage || "app.web.page");
  try {
    await page.boot(site, timings);
  } finally {
    page.destroy();
  }
}

boot().catch(showError);
