// Boots Pyodide from this site with the `app` wheel (from the site's Pyodide lock) and hands over to Python.
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
  // The app wheel and what it needs (jinja2...) are entries of the site's pyodide-lock.json: loadPyodide
  // fetches them while it boots, with no micropip to load and no resolution to run afterwards.
  const pyodide = await loadPyodide({ indexURL, packages: [site.app_package] });
  timings.pyodide_ready_ms = performance.now();
  timings.app_installed_ms = timings.pyodide_ready_ms; // the wheel came with Pyodide
  globalThis.benchPyodide = pyodide;
  const page = pyodide.pyimport(document.body.dataset.pyPage || "app.web.page");
  timings.page_imported_ms = performance.now();
  try {
    await page.boot(site, timings);
  } finally {
    page.destroy();
  }
}

boot().catch(showError);
